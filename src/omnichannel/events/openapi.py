"""What the ingestion routes take, for the OpenAPI document: they read their body themselves
(``events.api``: the raw bytes, gzip or not, parsed by orjson, for speed), so FastAPI cannot
see it.

The message shapes are those of the pydantic models that validate each message
(``events.schemas``), as JSON Schema under their own names (``SCHEMAS``, which
``apidocs.openapi`` adds to the document's components); ``one_call`` and ``batch`` are the routes'
``openapi_extra``, with an example each. Nothing here is used to read a request.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

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


def _ref(type_: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{MODELS[type_].__name__}"}


def _shape(type_: str) -> dict[str, Any]:
    """The message as a call sends it: ``type`` required only in a batch (the path says it)."""
    schema = MODELS[type_].model_json_schema()
    required = [name for name in schema.pop("required", []) if name != "type"]
    if required:
        schema["required"] = required
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
        "context": {"type": "object", "description": "for each message that has no `context`"},
        "sentAt": {
            "type": "string",
            "format": "date-time",
            "description": "for each message that has no `sentAt` (clock-skew correction)",
        },
        "writeKey": WRITE_KEY,
    },
    "additionalProperties": True,
}
SCHEMAS: dict[str, dict[str, Any]] = {
    **{model.__name__: _shape(type_) for type_, model in MODELS.items()},
    "Batch": BATCH,
}


def _body(description: str, schema: dict[str, Any], example: dict[str, Any]) -> dict[str, Any]:
    content = {"application/json": {"schema": schema, "example": example}}
    return {"requestBody": {"required": True, "description": description, "content": content}}


def one_call(type_: str) -> dict[str, Any]:
    return _body(
        f"The `{type_}` message, 32 KB at most (`OMNI_MAX_EVENT_BYTES`). {ENCODING}",
        _ref(type_),
        EXAMPLES[type_],
    )


def batch() -> dict[str, Any]:
    example = {"batch": [EXAMPLES["identify"] | {"type": "identify"},
                         EXAMPLES["track"] | {"type": "track"}]}  # fmt: skip
    return _body(
        '`{"batch": [...]}`: up to 2,500 messages (`OMNI_MAX_BATCH_EVENTS`) and 500 KB '
        f"(`OMNI_MAX_BATCH_BYTES`). {ENCODING}",
        {"$ref": "#/components/schemas/Batch"},
        example,
    )
