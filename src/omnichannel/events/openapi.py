"""What the ingestion routes take and answer, for the OpenAPI document: they read their body
themselves (``events.api``: the raw bytes, gzip or not, parsed by orjson, for speed) and build
their answer by hand, so FastAPI can see neither.

The message shapes are those of the pydantic models that validate each message
(``events.schemas``), as JSON Schema under their own names (``SCHEMAS``, which
``apidocs.openapi`` adds to the document's components), with the answers (``Accepted``,
``Verdicts``); ``one_call`` and ``batch`` are the routes' ``openapi_extra``, with an example
each. Nothing here is used to read a request or to answer one.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from omnichannel.apidocs import problems
from omnichannel.events.schemas import Alias, Group, Identify, Page, Screen, Track

MODELS: dict[str, type[BaseModel]] = {
    "identify": Identify, "track": Track, "page": Page, "screen": Screen, "group": Group,
    "alias": Alias,
}  # fmt: skip
WRITE_KEY = {"type": "string", "description": "the write key, if not the Basic-auth user name"}
ONE = {"userId": "cust-7"}
EXAMPLES: dict[str, dict[str, Any]] = {
    "identify": ONE | {"traits": {"email": "olena@example.com", "firstName": "Olena"}},
    "track": ONE | {"event": "Order Completed",
                    "properties": {"order_id": "L-1", "revenue": 2899, "currency": "UAH"}},
    "page": {"anonymousId": "v-1", "name": "Catalog", "properties": {"path": "/catalog"}},
    "screen": ONE | {"name": "Cart"},
    "group": ONE | {"groupId": "acme", "traits": {"name": "Acme"}},
    "alias": ONE | {"previousId": "v-1"},
}  # fmt: skip
ENCODING = "It may be gzip-compressed (`Content-Encoding: gzip`)."


def _named(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _ref(type_: str) -> dict[str, str]:
    return _named(MODELS[type_].__name__)


def _shape(type_: str) -> dict[str, Any]:
    """The message as a call sends it: ``type`` required only in a batch (the path says it)."""
    schema = MODELS[type_].model_json_schema()
    required = [name for name in schema.pop("required", []) if name != "type"]
    if required:
        schema["required"] = required
    for field in schema["properties"].values():
        field.pop("title", None)  # pydantic's, from the name: "Messageid"
    schema["properties"]["type"]["description"] = (
        f"required in a batch; on `/v1/{type_}` the path says it"
    )
    schema["properties"]["writeKey"] = WRITE_KEY
    who = "`userId`, the id `previousId` becomes," if type_ == "alias" else (
        "`userId` or `anonymousId`")  # fmt: skip
    schema["description"] = (
        f"A Segment `{type_}` message. {who} is required; any other field is kept as sent."
    )
    return schema


BATCH: dict[str, Any] = {
    "title": "Batch",
    "description": "Messages of any type, each with its `type`; each is judged on its own.",
    "type": "object",
    "required": ["batch"],
    "properties": {
        "batch": {
            "type": "array",
            "items": {"oneOf": [{"allOf": [_ref(t), {"required": ["type"]}]} for t in MODELS]},
        },
        # Any value: one that is not an object, or not a time, is ignored, never the batch's
        # ruin (a 400 would lose every event in it, and an SDK does not send it again).
        "context": {
            "description": "an object, for each message that has no `context` (else ignored)"
        },
        "sentAt": {
            "description": "an ISO 8601 time, for each message that has no `sentAt` "
            "(clock-skew correction); one that cannot be read is ignored",
        },
        "writeKey": WRITE_KEY,
    },
    "additionalProperties": True,
}
MESSAGE_ID = {"type": "string", "description": "the message's `messageId`, or the one given it"}
ACCEPTED: dict[str, Any] = {
    "title": "Accepted",
    "description": "The message is stored (or was already: a retry is stored once).",
    "type": "object",
    "required": ["success", "messageId"],
    "properties": {"success": {"const": True}, "messageId": MESSAGE_ID},
}
VERDICTS: dict[str, Any] = {
    "title": "Verdicts",
    "description": "What became of each message: the accepted ones are stored, even when others "
    "are rejected (when none is acceptable, the answer is a 400).",
    "type": "object",
    "required": ["success", "accepted", "rejected", "results"],
    "properties": {
        "success": {"type": "boolean", "description": "whether every message was accepted"},
        "accepted": {"type": "integer"},
        "rejected": {"type": "integer"},
        "results": {
            "type": "array",
            "description": "one per message, in the batch's order",
            "items": {
                "type": "object",
                "required": ["index", "status"],
                "properties": {
                    "index": {"type": "integer", "description": "its place in the batch"},
                    "status": {"enum": ["accepted", "rejected"]},
                    "messageId": MESSAGE_ID | {"description": "of an accepted message"},
                    "errors": {
                        "type": "array",
                        "description": "of a rejected message: each field at fault",
                        "items": problems.SCHEMA["properties"]["errors"]["items"],
                    },
                },
            },
        },
    },
}
SCHEMAS: dict[str, dict[str, Any]] = {
    **{model.__name__: _shape(type_) for type_, model in MODELS.items()},
    "Batch": BATCH,
    "Accepted": ACCEPTED,
    "Verdicts": VERDICTS,
}


def _body(
    description: str, schema: dict[str, Any], example: dict[str, Any], answer: str
) -> dict[str, Any]:
    content = {"application/json": {"schema": schema, "example": example}}
    answered = {"content": {"application/json": {"schema": _named(answer)}}}
    return {
        "requestBody": {"required": True, "description": description, "content": content},
        "responses": {"200": answered},
    }


def one_call(type_: str) -> dict[str, Any]:
    return _body(
        f"The `{type_}` message, 32 KB at most (`OMNI_MAX_EVENT_BYTES`). {ENCODING}",
        _ref(type_),
        EXAMPLES[type_],
        "Accepted",
    )


def batch() -> dict[str, Any]:
    example = {"batch": [EXAMPLES["identify"] | {"type": "identify"},
                         EXAMPLES["track"] | {"type": "track"}]}  # fmt: skip
    return _body(
        '`{"batch": [...]}`: up to 2,500 messages (`OMNI_MAX_BATCH_EVENTS`) and 500 KB '
        f"(`OMNI_MAX_BATCH_BYTES`). {ENCODING}",
        _named("Batch"),
        example,
        "Verdicts",
    )
