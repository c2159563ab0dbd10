"""The OpenAPI document as the app answers: FastAPI's, less the 422 it lists but never sends,
plus the schemas that FastAPI cannot know of.

FastAPI puts a 422 ``HTTPValidationError`` on every operation with parameters or a body; this app
answers invalid input as a 400 problem+json instead (``errors.install_handlers``), which the
routes declare with the other refusals they may answer (``apidocs.problems``). So the 422s go,
with their two schemas, and the ``Problem`` schema that those declarations refer to is added,
with the schemas that routes refer to from their ``openapi_extra`` (the ingestion routes' bodies,
``events.openapi``). Built once, on the first request for it, as FastAPI's own is.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI

from omnichannel.apidocs import problems

UNSENT_SCHEMAS = ("HTTPValidationError", "ValidationError")


def as_answered(document: dict[str, Any], extra: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """``document`` (FastAPI's) changed in place to say what the app answers, with the schemas
    in ``extra``."""
    for item in document["paths"].values():
        for operation in item.values():
            responses = operation.get("responses", {})
            responses.pop("422", None)
            operation["responses"] = dict(sorted(responses.items()))  # the router's come first
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for name in UNSENT_SCHEMAS:
        schemas.pop(name, None)
    for name, schema in {"Problem": problems.SCHEMA, **extra}.items():
        assert name not in schemas, f"two schemas named {name}"
        schemas[name] = copy.deepcopy(schema)
    return document


def install(app: FastAPI, schemas: Mapping[str, dict[str, Any]]) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = as_answered(FastAPI.openapi(app), schemas)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
