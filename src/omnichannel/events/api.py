"""Segment Tracking API routes: identify, track, page, screen, group, alias and batch.

Existing Segment and RudderStack SDKs work unchanged: the write key is the Basic-auth user (or
``writeKey`` in the body), every path an SDK posts to is taken (analytics.js's ``/v1/t`` and
``/v1/b``, analytics-java's ``/v1/import/``), and an SDK pointed at us as its CDN (Segment's) or
its control plane (RudderStack's ``/sourceConfig``) gets settings that send its calls here.
Unlike Segment, which answers 200 to nearly anything, bad input gets a real 400 that names the
field, and an unknown key a 401; a batch with some bad events answers 200 with a verdict per
event and keeps the good ones.

These are the busiest routes of the platform, so ``IngestionEdge`` serves them straight from
ASGI, ahead of the framework: Starlette's router tries route patterns one by one and FastAPI
solves dependencies and wraps every call in exception middleware, which together cost about as
much CPU as the rest of a ``/v1/track`` call (see bench/README.md). FastAPI
keeps the very same endpoints registered, for the OpenAPI document at ``/docs``, where they
declare the write key as HTTP Basic (``writeKey``, through FastAPI's ``HTTPBasic``: it only
names the scheme, as FastAPI never runs these routes). Errors are the same problem+json either
way (``errors.problem_response``).

Browsers on the shop's own domain post here cross-origin, as analytics.js does to Segment, so
these routes (and only these: the profile API is not for browsers) answer CORS, through
Starlette's ``CORSMiddleware`` (origins: ``OMNI_INGESTION_CORS_ORIGINS``, any by default, since
write keys are public by design).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import gzip
import re
import zlib
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Query, Request, Security
from fastapi.security import HTTPBasic
from sqlalchemy.exc import DBAPIError
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from omnichannel.apidocs.problems import problems
from omnichannel.body_limit import TooLarge, read_at_most
from omnichannel.errors import (
    InvalidJSON,
    InvalidRequest,
    PayloadTooLarge,
    Problem,
    Unauthorized,
    UnsupportedEncoding,
    database_problem,
    field_error,
    http_problem,
    problem_response,
)
from omnichannel.events import openapi
from omnichannel.events.health import record_rejection
from omnichannel.events.metrics import REFUSED, REQUESTS
from omnichannel.events.schemas import MESSAGE_TYPES, NUL_ERROR, nul_field
from omnichannel.events.service import batch_sent_at
from omnichannel.events.sources import SourceDisabled, SourceInfo
from omnichannel.platform import Platform, get_platform

router = APIRouter(prefix="/v1", tags=["ingestion"])
# Outside /v1, where RudderStack's control plane serves it.
rudderstack_router = APIRouter(tags=["ingestion"])
Endpoint = Callable[[Request, Platform], Awaitable[Response]]
# The write key as /docs's Authorize sends it, and as Segment's SDKs do: the Basic-auth user name.
WRITE_KEY = HTTPBasic(
    scheme_name="writeKey",
    description="A source's write key as the Basic-auth user name, the password empty "
    "(as Segment's SDKs send it); a `writeKey` field in the body is taken too.",
    auto_error=False,
)
BY_WRITE_KEY = [Security(WRITE_KEY)]
INGESTION_PROBLEMS = problems(400, 401, 413, 415, 503)


RUDDERSTACK_HEADERS = ["AnonymousId", "SentAt"]


class IngestionEdge:
    """Serves the ingestion routes (with CORS) from ASGI; every other path goes on to FastAPI."""

    def __init__(self, app: ASGIApp, origins: list[str]) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            self._serve,
            allow_origins=origins,
            allow_methods=["POST", "GET"],
            # Authorization carries the write key (Basic); it must be named, a * doesn't cover it.
            # RudderStack's JavaScript SDK sends AnonymousId and SentAt headers besides.
            allow_headers=[
                "Authorization",
                "Content-Type",
                "Content-Encoding",
                *RUDDERSTACK_HEADERS,
            ],
            max_age=86400,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # SDKs differ on a trailing slash (analytics-java posts to ``/v1/import/``).
        path = scope["path"].rstrip("/") if scope["type"] == "http" else ""
        if path in ENDPOINTS or path == SOURCE_CONFIG_PATH or SETTINGS_PATH.fullmatch(path):
            if path != scope["path"]:  # a copy only for the rare trailing slash
                scope = {**scope, "path": path}
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self._answer(scope, receive)
        REQUESTS.labels(response.status_code).inc()
        await response(scope, receive, send)

    async def _answer(self, scope: Scope, receive: Receive) -> Response:
        path = scope["path"]
        if path in ENDPOINTS:
            endpoint, method = ENDPOINTS[path], "POST"
        else:
            endpoint, method = source_config if path == SOURCE_CONFIG_PATH else sdk_settings, "GET"
        if scope["method"] != method:
            response = problem_response(http_problem(405, "Method Not Allowed"))
            response.headers["Allow"] = method
            return response
        platform: Platform = scope["app"].state.platform
        try:
            return await endpoint(Request(scope, receive), platform)
        except Problem as problem:
            return problem_response(problem)
        # The same answer FastAPI's handlers give (errors.install_handlers).
        except (DBAPIError, ConnectionError, TimeoutError) as exc:
            return problem_response(database_problem(exc))


def _json(body: dict[str, Any], status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


async def _read_body(request: Request, limit: int) -> dict[str, Any]:
    encoding = request.headers.get("content-encoding", "").lower()
    if encoding not in ("", "identity", "gzip"):
        raise UnsupportedEncoding(f"Content-Encoding '{encoding}' is not taken; send gzip or none.")
    try:
        # Compressed, a body within the limit may grow a little (deflate's worst case).
        raw = await read_at_most(
            request, limit + limit // 100 + 1024 if encoding == "gzip" else limit
        )
    except TooLarge as exc:
        raise PayloadTooLarge(
            f"The body is over {limit} bytes, the limit here.",
            errors=[field_error("", f"over {limit} bytes")],
        ) from exc
    if encoding == "gzip":
        try:
            raw = zlib.decompressobj(wbits=31).decompress(raw, limit + 1)
        except (zlib.error, gzip.BadGzipFile) as exc:
            raise InvalidRequest("The body says gzip but is not valid gzip.") from exc
    if len(raw) > limit:
        raise PayloadTooLarge(
            f"The body is {len(raw)} bytes; the limit here is {limit} bytes.",
            errors=[field_error("", f"over {limit} bytes")],
        )
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidJSON(f"The body is not valid JSON: {exc}.") from exc
    if not isinstance(body, dict):
        raise InvalidRequest(
            "The body must be a JSON object.", errors=[field_error("", "not an object")]
        )
    return body


async def _body_of(request: Request, platform: Platform, limit: int) -> dict[str, Any]:
    """The body, read; one that cannot be read (not JSON, too large, bad gzip) is still counted
    among the source's refused calls when its write key came in the header, since a broken
    integration sending such bodies is what the console's source page is there to show."""
    try:
        return await _read_body(request, limit)
    except Problem as problem:
        with contextlib.suppress(Unauthorized):
            source = await platform.sources.authenticate(_write_key(request, {}))
            errors = problem.errors or [field_error("", problem.detail)]
            await record_rejection(platform.rt, source.id, errors)
        raise


def _write_key(request: Request, body: dict[str, Any]) -> str | None:
    key = body.get("writeKey")
    if "writeKey" in body and not isinstance(key, str):
        raise InvalidRequest(
            "writeKey must be text: the source's write key.",
            errors=[field_error("writeKey", "not a string")],
        )
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "bearer" and "writeKey" not in body:
        raise Unauthorized(
            "A write key goes as the Basic-auth user name (`curl -u WRITE_KEY: …`), not as a "
            "Bearer token; a Bearer token is for the profile API."
        )
    if scheme.lower() == "basic" and credentials:
        try:
            user, _, _ = base64.b64decode(credentials).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            user = ""
        if user:
            return user
    return key


async def _source(platform: Platform, write_key: str | None) -> SourceInfo:
    """The write key's source. A disabled one's calls are counted among its refused calls too:
    its page in the console is where someone looks for why a till stopped sending."""
    try:
        return await platform.sources.authenticate(write_key)
    except SourceDisabled as refused:
        if platform.sources.note_disabled_call(refused.source.id):
            errors = [field_error("writeKey", "the source is disabled")]
            await record_rejection(platform.rt, refused.source.id, errors)
        else:
            REFUSED.labels(refused.source.id).inc()
        raise


async def _ingest_one(request: Request, platform: Platform, *, type_: str) -> Response:
    settings = platform.settings
    received_at = platform.rt.clock.now()
    body = await _body_of(request, platform, settings.max_event_bytes)
    source = await _source(platform, _write_key(request, body))
    body.pop("writeKey", None)
    body["type"] = type_
    accepted, verdicts = platform.ingestor.accept(
        source, [body], received_at=received_at, measure_size=False
    )
    if not accepted:
        errors = verdicts[0].errors
        await record_rejection(platform.rt, source.id, errors)
        raise InvalidRequest(
            "; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors
        )
    if await platform.ingestor.store(accepted):
        platform.work_waiting.set()
    return _json({"success": True, "messageId": accepted[0].message_id})


def _malformed_batch(body: dict[str, Any], max_events: int) -> Problem | None:
    """What is wrong with the batch as a whole, if anything (its events are judged one by one)."""
    messages = body.get("batch")
    if not isinstance(messages, list):
        return InvalidRequest(
            "`batch` must be a list of events.",
            errors=[field_error("batch", "missing or not a list")],
        )
    if len(messages) > max_events:
        return PayloadTooLarge(
            f"The batch has {len(messages)} events; the limit is {max_events}.",
            errors=[field_error("batch", f"over {max_events} events")],
        )
    if (field := nul_field(body.get("context"), "context")) is not None:  # every event's
        return InvalidRequest(f"{field} {NUL_ERROR}.", errors=[field_error(field, NUL_ERROR)])
    return None


async def _ingest_batch(request: Request, platform: Platform) -> Response:
    settings = platform.settings
    received_at: datetime = platform.rt.clock.now()
    body = await _body_of(request, platform, settings.max_batch_bytes)
    source = await _source(platform, _write_key(request, body))
    if (refused := _malformed_batch(body, settings.max_batch_events)) is not None:
        await record_rejection(platform.rt, source.id, refused.errors)
        raise refused
    messages: list[Any] = body["batch"]
    context = body.get("context")
    accepted, verdicts = platform.ingestor.accept(
        source,
        messages,
        received_at=received_at,
        batch_sent_at=batch_sent_at(body),
        batch_context=context if isinstance(context, dict) else None,
    )
    rejected = [v for v in verdicts if not v.accepted]
    if rejected:
        errors = [
            field_error(f"batch[{v.index}].{e['field']}".rstrip("."), e["message"])
            for v in rejected
            for e in v.errors
        ]
        await record_rejection(platform.rt, source.id, errors, events=len(rejected))
        if not accepted:
            raise InvalidRequest("No event in the batch is acceptable.", errors=errors)
    if await platform.ingestor.store(accepted):
        platform.work_waiting.set()
    return _json(
        {
            "success": not rejected,
            "accepted": len(accepted),
            "rejected": len(rejected),
            "results": [v.as_json() for v in verdicts],
        }
    )


ENDPOINTS: dict[str, Endpoint] = {
    **{f"/v1/{type_}": partial(_ingest_one, type_=type_) for type_ in MESSAGE_TYPES},
    "/v1/batch": _ingest_batch,
}
# The paths Segment's own SDKs post to besides those: analytics.js (``@segment/analytics-next``)
# posts each call to ``/v1/`` plus the type's first letter, and a batch to ``/v1/b``;
# analytics-java and Segment's importers post batches to ``/v1/import``.
ENDPOINTS |= {f"/v1/{type_[0]}": ENDPOINTS[f"/v1/{type_}"] for type_ in MESSAGE_TYPES}
ENDPOINTS |= {"/v1/b": _ingest_batch, "/v1/import": _ingest_batch}

# Where Segment's SDKs fetch a source's settings when pointed at our host as their CDN too
# (analytics.js ``cdnURL``, the mobile SDKs' ``cdnHost``).
SETTINGS_PATH = re.compile(r"/v1/projects/([^/]+)/settings")


async def sdk_settings(request: Request, platform: Platform) -> Response:
    """A source's SDK settings, as Segment's CDN serves them: they send their calls back here.

    Only what the SDKs need is filled in: the Segment.io destination with this host as its API
    host, and no SDK telemetry (which would go to Segment). No tracking plan: analytics.js would
    fetch the code that applies one from its CDN, which is us, and we serve no such code."""
    # The path IngestionEdge matched: ``request.url``, parsed again from it, drops a tab or a
    # newline an id may hold once decoded (``/v1/projects/%09/settings`` was a 500).
    match = SETTINGS_PATH.fullmatch(request.scope["path"])
    assert match is not None  # IngestionEdge routes only matching paths here
    write_key = match.group(1)
    await platform.sources.authenticate(write_key)
    settings = {
        "integrations": {
            "Segment.io": {
                "apiKey": write_key,
                "apiHost": f"{request.url.netloc}/v1",
                "protocol": request.url.scheme,
            }
        },
        "metrics": {"sampleRate": 0},
    }
    return _sdk_config(settings)


# Where RudderStack's JavaScript SDK fetches its source's configuration (its ``configUrl``).
SOURCE_CONFIG_PATH = "/sourceConfig"


async def source_config(request: Request, platform: Platform) -> Response:
    """A source's configuration as RudderStack's control plane serves it to its JavaScript SDK:
    the SDK then sends to the data plane URL it was loaded with, which is us. No device-mode
    destinations, and the SDK's error and metrics reports (which would go to RudderStack) off.
    The write key comes as the ``writeKey`` parameter or the Basic-auth user."""
    write_key = _write_key(request, dict(request.query_params))  # ?writeKey=, as a body has it
    source = await platform.sources.authenticate(write_key)
    off = {"enabled": False}
    config: dict[str, Any] = {
        "source": {
            "id": source.id,
            "name": source.name,
            "writeKey": write_key,
            "enabled": True,
            "workspaceId": "omnichannel",
            "config": {"statsCollection": {"errors": off, "metrics": off}},
            "destinations": [],
        }
    }
    return _sdk_config(config)


def _sdk_config(body: dict[str, Any]) -> Response:
    """An SDK's configuration: SDKs load it on every page view, so let browsers keep it a minute.
    Private: it names the host the request came to, which a shared cache that keys on the path
    alone would serve to everyone after one request with a forged ``Host``."""
    response = _json(body)
    response.headers["Cache-Control"] = "private, max-age=60"
    return response


def _documented(endpoint: Endpoint, name: str, doc: str) -> Any:
    """The route FastAPI lists in the OpenAPI document; ``IngestionEdge`` serves the path."""

    async def route(request: Request, platform: Platform = Depends(get_platform)) -> Response:
        return await endpoint(request, platform)

    route.__name__, route.__doc__ = name, doc
    return route


for _type in MESSAGE_TYPES:
    _doc = f"Segment `{_type}` call: write key as Basic-auth user. Also at `/v1/{_type[0]}`."
    router.add_api_route(
        f"/{_type}",
        _documented(ENDPOINTS[f"/v1/{_type}"], _type, _doc),
        methods=["POST"],
        dependencies=BY_WRITE_KEY,
        responses=INGESTION_PROBLEMS,
        openapi_extra=openapi.one_call(_type),
    )
router.add_api_route(
    "/batch",
    _documented(
        _ingest_batch,
        "batch",
        "Up to 2,500 events (500 KB) in one call; 200 with a verdict per event. "
        "Also at `/v1/b` and `/v1/import`.",
    ),
    methods=["POST"],
    dependencies=BY_WRITE_KEY,
    responses=INGESTION_PROBLEMS,
    openapi_extra=openapi.batch(),
)


@rudderstack_router.get(
    "/sourceConfig",
    dependencies=BY_WRITE_KEY,
    openapi_extra={"security": [{}]},  # or none, with the key as ?writeKey=
    responses=problems(401),
)
async def rudderstack_source_config(
    request: Request,
    platform: Platform = Depends(get_platform),
    _: str | None = Query(None, alias="writeKey", description="the write key, if not as Basic"),
) -> Response:
    """A source's configuration, as RudderStack's control plane serves it to its JavaScript SDK
    (write key as ``?writeKey=`` or Basic-auth user), with no destinations: the SDK sends here."""
    return await source_config(request, platform)


@router.get("/projects/{write_key}/settings", responses=problems(401))
async def settings_for_sdks(
    write_key: str, request: Request, platform: Platform = Depends(get_platform)
) -> Response:
    """A source's SDK settings, as Segment's CDN serves them, pointing the SDK's calls here."""
    return await sdk_settings(request, platform)
