"""How the API's refusals appear in the OpenAPI document: the ``Problem`` schema (the RFC 9457
problem+json every error is answered with, ``errors.problem_response``) and ``problems()``, the
``responses`` a route declares for the refusals it may answer."""

from __future__ import annotations

from typing import Any

from omnichannel.errors import PROBLEM_BASE, PROBLEM_MEDIA_TYPE

SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An error, as RFC 9457 problem details.",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "description": f"which problem: {PROBLEM_BASE}<slug>"},
        "title": {"type": "string", "description": "the same for every problem of its type"},
        "status": {"type": "integer", "description": "the HTTP status"},
        "detail": {"type": "string", "description": "what is wrong, and what to do about it"},
        "errors": {
            "type": "array",
            "description": "each field at fault, as `a[0].b`",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}
REF = {"$ref": "#/components/schemas/Problem"}
DESCRIPTIONS = {
    400: "The request is not valid: `detail` says why, `errors` names each field.",
    401: "No credential, or one that is unknown or revoked; `WWW-Authenticate` says what to send.",
    403: "The API token's role may not do this.",
    404: "Nothing has that id or identifier.",
    409: "It conflicts with the current state (a merge already split).",
    413: "The body, or an event in it, or the batch's count of events is over its limit.",
    415: "The body's `Content-Encoding` is not taken: send gzip or none.",
    503: "The database is unavailable (or not ready): the problem says why; retry shortly.",
}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses`` for a route that may answer these statuses, each as problem+json."""
    return {
        status: {
            "description": DESCRIPTIONS[status],
            "content": {PROBLEM_MEDIA_TYPE: {"schema": REF}},
        }
        for status in statuses
    }
