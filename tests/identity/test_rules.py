"""Identifier normalisation and blocked values."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from omnichannel.config import Settings
from omnichannel.identity.rules import Identifier, MergeRules, alias_candidates, extract, without

RULES = MergeRules(Settings(default_region="UA"))


@pytest.mark.parametrize(
    ("type_", "raw", "expected"),
    [
        ("email", "  Ann@Example.COM ", "ann@example.com"),
        ("email", "not-an-email", None),
        ("phone", "067 123 45 67", "+380671234567"),
        ("phone", "+380 (67) 123-45-67", "+380671234567"),
        ("phone", "380671234567", "+380671234567"),
        ("phone", "+44 20 7946 0958", "+442079460958"),
        ("phone", "12", None),
        # Possible lengths but no real number: typed by many people, they must join no one.
        ("phone", "0000000000", None),
        ("phone", "000 000 00 00", None),
        ("phone", "1234567", None),
        ("phone", "1111111111", None),
        ("user_id", "  u-42 ", "u-42"),
        ("user_id", 42, "42"),
        ("user_id", "", None),
        ("user_id", True, None),
        ("anonymous_id", "x" * 256, None),
    ],
)
def test_normalise(type_: str, raw: object, expected: str | None) -> None:
    found = RULES.normalise(type_, raw)
    assert (found.value if found else None) == expected


@pytest.mark.parametrize(
    "blocked", ["0", "0000-0000", "-1", "null", "NULL", "anonymous", "undefined", "", "  "]
)
def test_blocked_values_are_not_identifiers(blocked: str) -> None:
    assert RULES.normalise("user_id", blocked) is None
    assert RULES.normalise("anonymous_id", blocked) is None


def test_blocked_values_are_added_to_the_defaults() -> None:
    rules = MergeRules(Settings(identity_blocked_values=[r"^guest$"]))
    assert rules.normalise("user_id", "guest") is None
    assert rules.normalise("user_id", "null") is None  # a list of one's own keeps the defaults
    assert rules.normalise("user_id", "undefined") is None


def test_limits_are_laid_over_the_defaults_and_a_user_id_stays_alone() -> None:
    rules = MergeRules(Settings(identity_limits={"email": 1}))
    assert (rules.limit("user_id"), rules.limit("email"), rules.limit("phone")) == (1, 1, 5)
    with pytest.raises(ValidationError, match="never merge"):
        Settings(identity_limits={"user_id": 2})


def test_extract_takes_every_identifier_a_message_carries() -> None:
    message = {
        "type": "identify",
        "userId": "u1",
        "anonymousId": "a1",
        "traits": {"email": "A@B.CO", "phone": "067 123 45 67", "telegramId": "555"},
        "context": {
            "traits": {"loyalty_card": "LC-1"},
            "externalIds": [
                {"id": "C-9", "type": "shopifyCustomerId", "collection": "users"},
                {"id": "ig1", "type": "instagram_id"},
                {"id": "x", "type": "bad type!"},
            ],
            "device": {"id": "dev-1", "token": "push-abc"},
        },
    }
    found = {(i.type, i.value) for i in extract(message, RULES)}
    assert found == {
        ("user_id", "u1"),
        ("anonymous_id", "a1"),
        ("email", "a@b.co"),
        ("phone", "+380671234567"),
        ("telegram_id", "555"),
        ("loyalty_card", "LC-1"),
        ("shopify_customer_id", "C-9"),
        ("instagram_id", "ig1"),
        ("device_id", "dev-1"),
        ("push_token", "push-abc"),
    }


@pytest.mark.parametrize(
    ("spelt", "type_"),
    [
        ("shopifyCustomerId", "shopify_customer_id"),
        # Split before each capital, as it always was: identifiers are stored under it.
        ("shopifyCustomerID", "shopify_customer_i_d"),
        ("md5hash", "md5hash"),
        ("CRM-ID", "crm_id"),  # dropped before, with a 200: read by its words
        ("android.idfa", "android_idfa"),  # as Segment's mobile SDKs name theirs
        ("loyalty card", "loyalty_card"),
        ("utm2Source", "utm2_source"),
        ("telegramId", "telegram_id"),
        ("user_id", "user_id"),
        ("número", None),  # not one of the letters a type is written in
        ("1cId", "1c_id"),  # the ERP of Ukrainian and Russian retail
        ("1C-ID", "1_c_id"),
        ("2024", None),  # a type names something
        ("bad type!", None),
    ],
)
def test_a_type_is_read_as_people_spell_it(spelt: str, type_: str | None) -> None:
    assert RULES.normalise_type(spelt) == type_


def test_external_ids_never_carry_a_user_id_or_an_anonymous_id() -> None:
    """Those come from userId and anonymousId alone: a CRM's account id typed "User ID" made
    two customers' events carry a second user id, and the limit dropped their own."""
    spellings = ("user_id", "userId", "User ID", "user-id", "anonymousId", "anonymous id")
    message = {
        "type": "identify",
        "userId": "d1",
        "context": {"externalIds": [{"id": "acct-1", "type": t} for t in spellings]},
    }
    assert [(i.type, i.value) for i in extract(message, RULES)] == [("user_id", "d1")]


def test_a_lookup_names_a_type_as_an_event_may_carry_it() -> None:
    assert RULES.lookup_type("phoneNumber") == "phone"  # a trait's name
    assert RULES.lookup_type("telegramId") == "telegram_id"
    assert RULES.lookup_type("shopifyCustomerID") == RULES.normalise_type("shopifyCustomerID")


def test_a_groups_traits_are_the_groups_not_the_persons_identifiers() -> None:
    message = {
        "type": "group",
        "userId": "emp1",
        "groupId": "corp",
        "traits": {"name": "Corp", "email": "billing@corp.com", "phone": "+380441234567"},
        "context": {"traits": {"email": "alice@corp.com"}},  # the person's, as in any call
    }
    found = {(i.type, i.value) for i in extract(message, RULES)}
    assert found == {("user_id", "emp1"), ("email", "alice@corp.com")}


def test_without_takes_out_the_erased_identifiers_and_only_them() -> None:
    message = {
        "type": "identify",
        "userId": "gone",
        "anonymousId": "fresh",
        "traits": {"email": "Gone@X.co", "name": "Gone"},
        "context": {
            "traits": {"phoneNumber": "067 123 45 67"},
            "externalIds": [{"id": "C-9", "type": "shopifyCustomerId"}],
            "device": {"id": "dev-1"},
        },
    }
    erased = {"user_id:gone", "email:gone@x.co", "phone:+380671234567", "shopify_customer_id:C-9"}
    kept = without(message, RULES, erased)
    assert {(i.type, i.value) for i in extract(kept, RULES)} == {
        ("anonymous_id", "fresh"),
        ("device_id", "dev-1"),
    }
    assert kept["traits"] == {"name": "Gone"} and "userId" not in kept
    assert message["userId"] == "gone"  # a copy: the message itself is left as it was
    alias = {"type": "alias", "userId": "new", "previousId": "gone"}
    assert without(alias, RULES, erased) == {"type": "alias", "userId": "new"}


def test_alias_previous_id_may_be_a_user_or_anonymous_id() -> None:
    message = {"type": "alias", "userId": "u1", "previousId": "p1"}
    assert alias_candidates(message, RULES) == [
        Identifier("user_id", "p1"),
        Identifier("anonymous_id", "p1"),
    ]
    assert alias_candidates({"type": "track", "previousId": "p1"}, RULES) == []


def test_priority_puts_user_id_first_and_custom_types_after_known() -> None:
    idents = [
        Identifier("anonymous_id", "a"),
        Identifier("zeta_id", "z"),
        Identifier("email", "e@x.co"),
        Identifier("user_id", "u"),
    ]
    ranked = [i.type for i in sorted(idents, key=RULES.rank)]
    assert ranked == ["user_id", "email", "anonymous_id", "zeta_id"]
