"""The API's own documentation: the OpenAPI document at ``/openapi.json`` and the pages that show
it, ``/docs`` (Swagger UI) and ``/redoc``, served with nothing fetched from elsewhere."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI

from omnichannel.apidocs import openapi, pages


def install(app: FastAPI, schemas: Mapping[str, dict[str, Any]]) -> None:
    """Serve the documentation pages on ``app`` (made with ``docs_url=None, redoc_url=None``)
    and its OpenAPI document as the app answers, with ``schemas`` (those that routes refer to
    from their ``openapi_extra``) among its components."""
    openapi.install(app, schemas)
    pages.install(app)
