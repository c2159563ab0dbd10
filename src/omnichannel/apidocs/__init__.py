"""The API's own documentation: the OpenAPI document at ``/openapi.json`` and the pages that show
it, ``/docs`` (Swagger UI) and ``/redoc``, served with nothing fetched from elsewhere."""

from __future__ import annotations

from fastapi import FastAPI

from omnichannel.apidocs import openapi, pages


def install(app: FastAPI) -> None:
    """Serve the documentation pages on ``app`` (made with ``docs_url=None, redoc_url=None``)
    and its OpenAPI document as the app answers."""
    openapi.install(app)
    pages.install(app)
