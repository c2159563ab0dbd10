"""Identifiers and merge rules: what counts as an identifier, how it is normalised, what is blocked.

Phone numbers go through Google's libphonenumber port (``phonenumbers``) to E.164 with the
configured default region, because "+380 67 123 4567", "067 123 45 67" and "380671234567" are the
same customer.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import phonenumbers

from omnichannel.config import Settings

# The identifier types the platform knows; anything else arrives as a custom type via externalIds.
KNOWN_TYPES = (
    "user_id",
    "anonymous_id",
    "email",
    "phone",
    "device_id",
    "push_token",
    "telegram_id",
    "whatsapp_id",
    "instagram_id",
    "messenger_id",
    "viber_id",
    "loyalty_card",
    "pos_customer_id",
)
# Traits that are identifiers when they appear in traits or context.traits.
TRAIT_IDENTIFIERS = {t: t for t in KNOWN_TYPES if t not in ("user_id", "anonymous_id")}
TRAIT_IDENTIFIERS |= {
    "phoneNumber": "phone",
    "deviceId": "device_id",
    "pushToken": "push_token",
    "telegramId": "telegram_id",
    "whatsappId": "whatsapp_id",
    "instagramId": "instagram_id",
    "messengerId": "messenger_id",
    "viberId": "viber_id",
    "loyaltyCard": "loyalty_card",
    "posCustomerId": "pos_customer_id",
}
# Letters, digits and underscores, a letter among them, 40 at most: a type may start with a digit
# (Ukrainian and Russian retailers' ERP is 1C, so "1c_id").
CUSTOM_TYPE = re.compile(r"^(?=[0-9_]*[a-z])[a-z0-9][a-z0-9_]{0,39}$")
# The types only ``userId`` and ``anonymousId`` set: an ``externalIds`` entry read as one (a
# CRM's "userID") would put a second user id on the event, and the limit then drops one of them.
TOP_LEVEL_TYPES = ("user_id", "anonymous_id")
# A type written with separators: Segment's dotted "android.idfa", "CRM-ID", "loyalty card".
SEPARATED = re.compile(r"[A-Za-z0-9_]+(?:[.\- ]+[A-Za-z0-9_]+)+")
# Their words: an acronym ("CRM") is one word, digits stay with theirs.
TYPE_WORDS = re.compile(r"[A-Z]+(?![a-z])[0-9]*|[A-Z]?[a-z]+[0-9]*|[0-9]+")
MAX_VALUE_LENGTH = 255
# An event's ``context.externalIds`` entries: more is refused (a 400). Each may be a type of
# its own, which no per-type limit bounds, and hundreds of them made one event's resolution
# take the server's time.
MAX_EXTERNAL_IDS = 50


@dataclass(frozen=True, slots=True)
class Identifier:
    type: str
    value: str
    # "type:value", the graph's lookup key; computed once (resolution reads it many times).
    key: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", f"{self.type}:{self.value}")


class MergeRules:
    """Priority, per-type limits and blocked values, compiled once from the settings."""

    def __init__(self, settings: Settings) -> None:
        self.priority = {t: i for i, t in enumerate(settings.identity_priority)}
        self.limits = dict(settings.identity_limits)
        self.default_limit = settings.identity_default_limit
        self.max_per_profile = settings.identity_max_per_profile
        self.region = settings.default_region
        self._blocked = re.compile(
            "|".join(f"(?:{p})" for p in settings.identity_blocked_values), re.IGNORECASE
        )

    def limit(self, type_: str) -> int:
        return self.limits.get(type_, self.default_limit)

    def rank(self, ident: Identifier) -> tuple[int, str, str]:
        """Sort key: configured priority first, then unlisted types by name; value breaks ties."""
        return (self.priority.get(ident.type, len(self.priority)), ident.type, ident.value)

    def normalise(self, type_: str, raw: Any) -> Identifier | None:
        """The identifier in canonical form, or None when it is empty, malformed or blocked."""
        if raw is None or isinstance(raw, bool | dict | list):
            return None
        value = str(raw).strip()
        if type_ == "email":
            value = value.lower()
            if "@" not in value[1:-1]:
                return None
        elif type_ == "phone":
            value = self._phone(value) or ""
        if not value or len(value) > MAX_VALUE_LENGTH or self._blocked.fullmatch(value):
            return None
        return Identifier(type_, value)

    def normalise_type(self, raw: Any) -> str | None:
        """An identifier type in snake_case (``shopifyCustomerId`` → ``shopify_customer_id``),
        or None when it is not one.

        camelCase is split before each capital (``shopifyCustomerID`` → ``…_i_d``), as it
        always was: identifiers are stored under these names, and another reading would leave
        them behind. A type with separators, which was not taken before, is read by its words
        (``CRM-ID`` → ``crm_id``)."""
        if not isinstance(raw, str):
            return None
        raw = raw.strip()
        if SEPARATED.fullmatch(raw):
            type_ = "_".join(TYPE_WORDS.findall(raw)).lower()
        else:
            type_ = re.sub(r"(?<!^)(?=[A-Z])", "_", raw).lower()
        return type_ if CUSTOM_TYPE.match(type_) else None

    def lookup_type(self, raw: Any) -> str | None:
        """A type as a lookup names it: as an event would carry it, a trait's name included
        (``phoneNumber`` is a phone)."""
        if isinstance(raw, str) and raw.strip() in TRAIT_IDENTIFIERS:
            return TRAIT_IDENTIFIERS[raw.strip()]
        return self.normalise_type(raw)

    def _phone(self, value: str) -> str | None:
        try:
            number = phonenumbers.parse(value, self.region)
        except phonenumbers.NumberParseException:
            return None
        # Valid, not merely possible: "0000000000" has a possible length, and a junk number that
        # many people type would join them all into one profile.
        if not phonenumbers.is_valid_number(number):
            return None
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _places(
    message: dict[str, Any], rules: MergeRules
) -> Iterator[tuple[dict[str, Any], str, str]]:
    """Where a message carries identifiers: (the object holding one, its field, its type).

    userId, anonymousId, identifier traits in ``traits`` (but a group's, which are the group's)
    and ``context.traits``, ``context.externalIds`` (custom types allowed) and the device in
    ``context.device``. An alias's ``previousId`` is not here: its type is only known at
    resolution (see ``alias_candidates`` and the resolver)."""
    yield message, "userId", "user_id"
    yield message, "anonymousId", "anonymous_id"
    context = message.get("context")
    context = context if isinstance(context, dict) else {}
    # A group call's traits describe the group (the company's email, its phone), not the person:
    # taken as identifiers, they would join every colleague into one profile.
    own_traits = message.get("traits") if message.get("type") != "group" else None
    for traits in (own_traits, context.get("traits")):
        if isinstance(traits, dict):
            for name, type_ in TRAIT_IDENTIFIERS.items():
                if name in traits:
                    yield traits, name, type_
    external = context.get("externalIds")
    if isinstance(external, list):
        for item in external:
            if isinstance(item, dict):
                custom = rules.normalise_type(item.get("type"))
                if custom and custom not in TOP_LEVEL_TYPES:
                    yield item, "id", custom
    device = context.get("device")
    if isinstance(device, dict):
        yield device, "id", "device_id"
        yield device, "token", "push_token"


def extract(message: dict[str, Any], rules: MergeRules) -> list[Identifier]:
    """Every identifier a Segment message carries (``_places``), normalised, blocked ones left
    out, each once."""
    unique: dict[str, Identifier] = {}
    for holder, field_name, type_ in _places(message, rules):
        ident = rules.normalise(type_, holder.get(field_name))
        if ident is not None:
            unique.setdefault(ident.key, ident)
    return list(unique.values())


def without(message: dict[str, Any], rules: MergeRules, keys: set[str]) -> dict[str, Any]:
    """A copy of the message with every identifier whose key is in ``keys`` taken out (an alias's
    ``previousId`` too): what is kept of an event that carried erased, suppressed identifiers."""
    kept: dict[str, Any] = orjson.loads(orjson.dumps(message))
    for holder, field_name, type_ in list(_places(kept, rules)):
        ident = rules.normalise(type_, holder.get(field_name))
        if ident is not None and ident.key in keys:
            del holder[field_name]
    if any(i.key in keys for i in alias_candidates(kept, rules)):
        del kept["previousId"]
    return kept


def alias_candidates(message: dict[str, Any], rules: MergeRules) -> list[Identifier]:
    """What an alias's previousId may be: a former user id, else an anonymous id."""
    if message.get("type") != "alias":
        return []
    return [
        ident
        for type_ in ("user_id", "anonymous_id")
        if (ident := rules.normalise(type_, message.get("previousId"))) is not None
    ]
