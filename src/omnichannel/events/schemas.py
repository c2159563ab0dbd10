"""The Segment Tracking API message shapes, validated with pydantic.

Only what the platform relies on is checked (types, ids, timestamps, the fields each call
requires); everything else a client sends is kept as sent (``extra="allow"``), as Segment does.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
    model_validator,
)

from omnichannel.errors import field_error

MESSAGE_TYPES = ("identify", "track", "page", "screen", "group", "alias")
NUL_ERROR = "contains a NUL character (\\u0000), which cannot be stored"


def nul_field(value: Any, path: str = "") -> str | None:
    """The first field (a dotted path) whose name or text holds a NUL character, or None.

    PostgreSQL's text and jsonb cannot hold one, so such a message is refused on every backend
    alike, naming the field, instead of failing the transaction it would be written in."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            if "\x00" in str(key):
                return here.replace("\x00", "\\u0000")
            if (found := nul_field(item, here)) is not None:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            if (found := nul_field(item, f"{path}[{i}]")) is not None:
                return found
    return None


def _id_text(value: Any) -> Any:
    # Segment's libraries accept numeric ids and send them as numbers.
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


# RudderStack's JavaScript SDK sends an anonymous visitor's userId as "": no id, not a bad one.
NoId = Literal[""]


def _empty_is_none(value: Any) -> Any:
    return None if value == "" else value


# The length is the string's own constraint (checked after ``_id_text``), so its error reads
# "String should have at least 1 character". The OpenAPI document says what a client may send:
# the text, or a number.
IdString = Annotated[str, StringConstraints(min_length=1, max_length=255)]
IdText = Annotated[
    IdString, BeforeValidator(_id_text, json_schema_input_type=IdString | int | float)
]
OptionalId = Annotated[
    IdText | None,
    BeforeValidator(_empty_is_none, json_schema_input_type=IdString | int | float | NoId | None),
]
MessageIdString = Annotated[str, StringConstraints(min_length=1, max_length=100)]
MessageId = Annotated[
    MessageIdString,
    BeforeValidator(_id_text, json_schema_input_type=MessageIdString | int | float),
]
Object = dict[str, Any]


def as_utc(moment: datetime | None) -> datetime | None:
    """The moment in UTC (without a zone it is UTC already); ValueError if UTC cannot hold it
    (``0001-01-01T00:00:00+01:00`` is in year 0)."""
    if moment is None:
        return None
    try:
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("is out of the range of times") from exc


# A time of an event or a filter: ISO 8601, read as UTC, refused (a 400) when out of range. A
# number is Unix time, as pydantic reads it (seconds, or milliseconds past 2e10); the OpenAPI
# document says both.
UTCTime = Annotated[
    datetime,
    AfterValidator(as_utc),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "format": "date-time"},
                {"type": "number", "description": "Unix time: seconds, or milliseconds"},
            ]
        },
        mode="validation",
    ),
]


class _Message(BaseModel):
    model_config = ConfigDict(extra="allow")

    messageId: MessageId | None = None
    userId: OptionalId = None
    anonymousId: OptionalId = None
    timestamp: UTCTime | None = None
    originalTimestamp: UTCTime | None = None
    sentAt: UTCTime | None = None
    context: Object | None = None
    integrations: Object | None = None
    # Objects on every call, where any call carries them: a track's "traits" read as text
    # made its customer's timeline fail.
    traits: Object | None = None
    properties: Object | None = None

    @model_validator(mode="after")
    def _someone(self) -> _Message:
        if self.userId is None and self.anonymousId is None:
            raise ValueError("either userId or anonymousId is required")
        return self


class Identify(_Message):
    type: Literal["identify"]


class Track(_Message):
    type: Literal["track"]
    event: str = Field(min_length=1, max_length=200)


class Page(_Message):
    type: Literal["page"]
    name: str | None = Field(default=None, max_length=200)
    category: str | None = None


class Screen(_Message):
    type: Literal["screen"]
    name: str | None = Field(default=None, max_length=200)
    category: str | None = None


class Group(_Message):
    type: Literal["group"]
    groupId: IdText


class Alias(_Message):
    type: Literal["alias"]
    previousId: IdText

    @model_validator(mode="after")
    def _user(self) -> Alias:
        if self.userId is None:
            raise ValueError("alias needs the userId the previousId becomes")
        return self


Message = Identify | Track | Page | Screen | Group | Alias
_adapter: TypeAdapter[Message] = TypeAdapter(Annotated[Message, Field(discriminator="type")])


def validate(raw: dict[str, Any]) -> tuple[Message | None, list[dict[str, str]]]:
    """The message, or the field errors that make it unacceptable."""
    try:
        return _adapter.validate_python(raw), []
    except ValidationError as exc:
        return None, [_field_error(err) for err in exc.errors(include_url=False)]


def _field_error(err: Any) -> dict[str, str]:
    if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
        return field_error("type", f"must be one of {', '.join(MESSAGE_TYPES)}")
    loc = [str(p) for p in err["loc"]][1:]  # the first part is the union tag
    message = str(err["msg"]).removeprefix("Value error, ")
    if not loc:
        loc = ["previousId" if "alias" in message else "userId"]
    return field_error(".".join(loc), message)


def event_time(message: Message, received_at: datetime, batch_sent_at: datetime | None) -> datetime:
    """Segment's clock-skew correction: ``receivedAt - (sentAt - originalTimestamp)``.

    The client's clock may be wrong, but the gap between when the event happened and when it was
    sent is measured on that one clock, so it is right; the server's receivedAt anchors it.
    Nothing happens after it arrives: a time still after receivedAt (a till's local time read
    as UTC, hours ahead, or a device whose clock says 2031, with no sentAt to correct it) is
    taken as receivedAt. Kept, it outranked every later change by last-write-wins: the
    customer's own opt-out an hour later lost to a grant dated a day ahead, and their last seen
    stayed in the future. The payload keeps the time as sent.
    """
    original = message.originalTimestamp or message.timestamp
    sent = message.sentAt or batch_sent_at
    if original is None:
        return received_at
    try:
        happened = original if sent is None else received_at - (sent - original)
    except OverflowError:  # sent thousands of years after it happened: no clock to trust
        return received_at
    return min(happened, received_at)
