"""Segment Tracking API: what is accepted, what is refused with which 4xx, and that a refusal
writes nothing."""

from __future__ import annotations

import asyncio
import gzip
import threading
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import httpx
import orjson
import pytest
from sqlalchemy import select

from omnichannel.config import Settings
from omnichannel.events.models import Event
from omnichannel.events.sources import list_sources, set_source_disabled
from omnichannel.kit.clock import FrozenClock
from tests.helpers import (
    START,
    app_platform,
    basic,
    count_rows,
    drain,
    nothing_but,
    table_counts,
)

pytestmark = pytest.mark.usefixtures("backend")


async def post(client: httpx.AsyncClient, path: str, key: str, body: object) -> httpx.Response:
    return await client.post(path, auth=basic(key), content=orjson.dumps(body))


@pytest.mark.parametrize("short", [False, True], ids=["path", "analytics-js-path"])
@pytest.mark.parametrize("call", ["identify", "track", "page", "screen", "group", "alias"])
async def test_every_call_is_accepted_and_logged(
    app_client: httpx.AsyncClient, web_key: str, call: str, short: bool
) -> None:
    """At ``/v1/track`` and the like, and at ``/v1/t`` and the like, where analytics.js posts."""
    body = {
        "identify": {"userId": "u1", "traits": {"email": "a@b.co"}},
        "track": {"userId": "u1", "event": "Order Completed", "properties": {"revenue": 1000}},
        "page": {"userId": "u1", "name": "Home"},
        "screen": {"userId": "u1", "name": "Cart"},
        "group": {"userId": "u1", "groupId": "acme"},
        "alias": {"userId": "u1", "previousId": "anon-1"},
    }[call]
    path = f"/v1/{call[0] if short else call}"
    response = await post(app_client, path, web_key, {**body, "messageId": f"m-{call}"})
    assert response.status_code == 200, response.text
    assert response.json() == {"success": True, "messageId": f"m-{call}"}
    async with app_platform(app_client).rt.db.read() as session:
        logged = (await session.execute(select(Event.type))).scalars().all()
    assert logged == [call]


@pytest.mark.parametrize(
    "call",
    [
        {"type": "group", "userId": "u1", "groupId": "g" * 255},
        {"type": "alias", "userId": "u1", "previousId": "p" * 255},
    ],
    ids=["group", "alias"],
)
async def test_the_longest_ids_allowed_are_kept(
    app_client: httpx.AsyncClient, web_key: str, call: dict[str, str]
) -> None:
    """A group's id or an alias's previous id may be 255 characters; the log's label column holds
    200 of them on both databases alike, and the payload the whole id."""
    response = await post(app_client, f"/v1/{call['type']}", web_key, call)
    assert response.status_code == 200, response.text
    async with app_platform(app_client).rt.db.read() as session:
        name, payload = (await session.execute(select(Event.name, Event.payload))).one()
    long_id = call.get("groupId") or call["previousId"]
    assert (name, payload.get("groupId") or payload["previousId"]) == (long_id[:200], long_id)


async def test_a_body_over_the_limit_is_not_read_to_its_end(
    app_client: httpx.AsyncClient, web_key: str
) -> None:
    """The whole body used to be read first: 500 MB posts, no write key needed, filled the
    server's memory. Sent chunked (no Content-Length), it is refused at the limit; declared
    over it, before any of it is read."""
    read: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        for n in range(1000):  # 64 MB, were it all read
            read.append(n)
            yield b" " * 65536

    answer = await app_client.post("/v1/batch", auth=basic(web_key), content=chunks())
    assert answer.status_code == 400
    assert answer.json()["type"].endswith("/payload-too-large")
    assert len(read) < 20  # 500 KB is 8 of them
    declared = await app_client.post(
        "/v1/track", auth=basic(web_key), content=b"{}", headers={"Content-Length": "99999999"}
    )
    assert declared.status_code == 400
    assert declared.json()["type"].endswith("/payload-too-large")


async def test_fifty_external_ids_each_its_own_type_become_identities(
    app_client: httpx.AsyncClient, web_key: str
) -> None:
    """The most an event may carry (one more is a 400, in the refusals above)."""
    external = [{"type": f"system{n}", "id": f"x-{n}"} for n in range(50)]
    call = {"userId": "u1", "event": "E", "context": {"externalIds": external}}
    assert (await post(app_client, "/v1/track", web_key, call)).status_code == 200
    await drain(app_client)
    counts = await table_counts(app_platform(app_client))
    assert counts["identities"] == 51


@pytest.mark.parametrize("path", ["/v1/batch", "/v1/b", "/v1/import/", "/v1/batch/"])
async def test_a_batch_is_taken_where_each_sdk_posts_it(
    app_client: httpx.AsyncClient, web_key: str, path: str
) -> None:
    """``/v1/b``: analytics.js with batching delivery; ``/v1/import``: analytics-java."""
    batch = [
        {"type": "identify", "userId": "u1", "traits": {"email": "a@b.co"}},
        {"type": "track", "userId": "u1", "event": "Viewed"},
    ]
    response = await post(app_client, path, web_key, {"batch": batch})
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 2


async def test_sdks_get_settings_that_send_their_calls_here(
    app_client: httpx.AsyncClient, web_key: str
) -> None:
    """What Segment's CDN answers an SDK, from our host: analytics.js ``cdnURL``, ``cdnHost``."""
    path = f"/v1/projects/{web_key}/settings"
    response = await app_client.get(path, headers={"Origin": "https://shop.example.com"})
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == "*"
    segment = response.json()["integrations"]["Segment.io"]
    assert segment == {"apiKey": web_key, "apiHost": "omni.test/v1", "protocol": "http"}
    assert response.json()["metrics"] == {"sampleRate": 0}  # no telemetry to Segment
    # A browser may keep it; a shared cache may not (it names the host the request came to).
    assert response.headers["cache-control"] == "private, max-age=60"

    # A tab (%09), once decoded, was dropped from the URL read again from the path: a 500.
    for unknown_key in ("nope", "%09", "a%0Ab"):
        unknown = await app_client.get(f"/v1/projects/{unknown_key}/settings")
        assert unknown.status_code == 401, unknown_key
        assert unknown.headers["content-type"] == "application/problem+json"
    assert (await app_client.post(path)).status_code == 405


async def test_browsers_on_other_origins_may_send_events(
    app_client: httpx.AsyncClient, web_key: str
) -> None:
    shop = "https://shop.example.com"
    preflight = await app_client.options(
        "/v1/batch",
        headers={
            "Origin": shop,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    # analytics.js: text/plain with the key in the body, which needs no preflight.
    body = {"writeKey": web_key, "userId": "u1", "event": "Viewed"}
    response = await app_client.post(
        "/v1/track",
        headers={"Origin": shop, "Content-Type": "text/plain"},
        content=orjson.dumps(body),
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"


async def test_only_ingestion_answers_cors(
    app_client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    response = await app_client.get(
        "/v1/profiles/lookup",
        params={"type": "email", "value": "a@b.co"},
        headers={**admin, "Origin": "https://shop.example.com"},
    )
    assert response.status_code == 404
    assert "access-control-allow-origin" not in response.headers


async def test_write_key_in_body_is_accepted(app_client: httpx.AsyncClient, web_key: str) -> None:
    response = await app_client.post(
        "/v1/track", content=orjson.dumps({"writeKey": web_key, "userId": "u1", "event": "E"})
    )
    assert response.status_code == 200


@pytest.mark.parametrize("value", [5, None, ["wk"], {"key": "wk"}])
async def test_a_write_key_in_the_body_that_is_not_text_is_a_400(
    app_client: httpx.AsyncClient, web_key: str, value: object
) -> None:
    """Even beside a good key in the header: the body is not what the client meant to send."""
    body = orjson.dumps(
        {"batch": [{"type": "track", "userId": "u", "event": "E"}], "writeKey": value}
    )
    response = await app_client.post("/v1/batch", content=body, auth=basic(web_key))
    assert response.status_code == 400
    assert response.json()["errors"] == [{"field": "writeKey", "message": "not a string"}]
    assert nothing_but(await table_counts(app_platform(app_client)), sources=1) == {}


async def test_gzip_body_is_accepted(app_client: httpx.AsyncClient, web_key: str) -> None:
    body = gzip.compress(orjson.dumps({"batch": [{"type": "track", "userId": "u", "event": "E"}]}))
    response = await app_client.post(
        "/v1/batch", auth=basic(web_key), content=body, headers={"Content-Encoding": "gzip"}
    )
    assert response.status_code == 200
    assert response.json()["accepted"] == 1


async def test_a_body_in_an_encoding_not_taken_is_a_415(
    app_client: httpx.AsyncClient, web_key: str
) -> None:
    response = await app_client.post(
        "/v1/track",
        auth=basic(web_key),
        content=orjson.dumps({"userId": "u1", "event": "E"}),
        headers={"Content-Encoding": "br"},
    )
    assert response.status_code == 415
    assert "gzip" in response.json()["detail"]
    counts = await table_counts(app_platform(app_client))
    assert nothing_but(counts, sources=1, source_rejections=1, source_rejection_days=1) == {}


async def test_duplicate_message_id_is_stored_once(
    app_client: httpx.AsyncClient, web_key: str
) -> None:
    body = {"userId": "u1", "event": "Order Completed", "messageId": "retry-me"}
    for _ in range(3):
        assert (await post(app_client, "/v1/track", web_key, body)).status_code == 200
    batch = {"batch": [{**body, "type": "track"}, {**body, "type": "track"}]}
    assert (await post(app_client, "/v1/batch", web_key, batch)).status_code == 200
    await drain(app_client)
    counts = await table_counts(app_platform(app_client))
    assert counts["events"] == 1
    assert counts["profiles"] == 1


async def test_a_retry_not_stored_again_moves_no_first_or_last_seen(
    app_client: httpx.AsyncClient, web_key: str, admin: dict[str, str]
) -> None:
    """A retried messageId with other times (an SDK rebuilding it, or someone else): it was not
    stored, yet a known customer's identifier took its times as first and last seen."""
    times = [START - timedelta(days=days) for days in (200, 400, 10)]
    for at in times:
        body = {"userId": "u1", "event": "E", "messageId": "m-1", "timestamp": at.isoformat()}
        assert (await post(app_client, "/v1/track", web_key, body)).status_code == 200
        await drain(app_client)
    profile = (
        await app_client.get("/v1/profiles/lookup?type=user_id&value=u1", headers=admin)
    ).json()
    [identity] = profile["identities"]
    stored = times[0].isoformat().replace("+00:00", "Z")
    assert (identity["first_seen"], identity["last_seen"]) == (stored, stored)


async def test_same_message_id_from_two_sources_is_two_events(
    app_client: httpx.AsyncClient, web_key: str, app_key: str
) -> None:
    body = {"userId": "u1", "event": "E", "messageId": "same"}
    await post(app_client, "/v1/track", web_key, body)
    await post(app_client, "/v1/track", app_key, body)
    assert (await table_counts(app_platform(app_client)))["events"] == 2


BAD_SINGLE = [
    pytest.param(b"{not json", 400, "invalid-json", "", id="bad-json"),
    pytest.param(b"[1, 2]", 400, "invalid-request", "", id="not-an-object"),
    pytest.param(b'{"event": "E"}', 400, "invalid-request", "userId", id="no-ids"),
    pytest.param(
        b'{"userId": "u", "event": ""}', 400, "invalid-request", "event", id="empty-event"
    ),
    pytest.param(b'{"userId": "u"}', 400, "invalid-request", "event", id="no-event-name"),
    pytest.param(b'{"userId": "", "event": "E"}', 400, "invalid-request", "userId", id="empty-ids"),
    pytest.param(
        b'{"userId": "u", "event": "E", "timestamp": "0001-01-01T00:00:00+01:00"}',
        400,
        "invalid-request",
        "timestamp",
        id="timestamp-before-year-1-in-utc",
    ),
    pytest.param(
        b'{"userId": "u", "event": "E", "originalTimestamp": "9999-12-31T23:59:59-01:00"}',
        400,
        "invalid-request",
        "originalTimestamp",
        id="timestamp-after-year-9999-in-utc",
    ),
    pytest.param(
        b'{"userId": "u", "event": "E", "timestamp": "yesterday"}',
        400,
        "invalid-request",
        "timestamp",
        id="bad-timestamp",
    ),
    pytest.param(
        b'{"userId": "u", "event": "E", "messageId": "' + b"m" * 101 + b'"}',
        400,
        "invalid-request",
        "messageId",
        id="long-message-id",
    ),
    pytest.param(
        b'{"userId": "u", "event": "E", "properties": [1]}',
        400,
        "invalid-request",
        "properties",
        id="properties-not-object",
    ),
    pytest.param(  # kept as sent, it made the customer's timeline a 500
        b'{"userId": "u", "event": "E", "traits": "x"}',
        400,
        "invalid-request",
        "traits",
        id="traits-not-object",
    ),
    pytest.param(
        b'{"userId": "u", "event": "E", "context": {"externalIds": ['
        + b",".join(b'{"type": "t%d", "id": "x"}' % n for n in range(51))
        + b"]}}",
        400,
        "invalid-request",
        "context.externalIds",
        id="over-50-external-ids",
    ),
    pytest.param(
        b'{"userId": "null", "event": "E"}', 400, "invalid-request", "userId", id="blocked-user"
    ),
    pytest.param(
        b'{"anonymousId": "00000000", "event": "E"}',
        400,
        "invalid-request",
        "anonymousId",
        id="blocked-anonymous",
    ),
    pytest.param(
        b'{"userId": "u", "event": "E", "context": {"channel": "pigeon"}}',
        400,
        "invalid-request",
        "context.channel",
        id="unknown-channel",
    ),
    pytest.param(
        b'{"userId": "u", "event": "E", "properties": {"x": "' + b"a" * 33_000 + b'"}}',
        400,
        "payload-too-large",
        "",
        id="event-over-32kb",
    ),
]


@pytest.mark.parametrize(("body", "status", "slug", "field"), BAD_SINGLE)
async def test_bad_track_is_refused_and_writes_nothing(
    app_client: httpx.AsyncClient, web_key: str, body: bytes, status: int, slug: str, field: str
) -> None:
    response = await app_client.post("/v1/track", auth=basic(web_key), content=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"].endswith("/" + slug)
    assert problem["status"] == status
    if field:
        assert field in [e["field"] for e in problem["errors"]], problem
    await drain(app_client)
    counts = await table_counts(app_platform(app_client))
    # Only the source's health log notes the refusal (for the console); no data is written. A
    # body that could not even be read counts too: the write key came in the header.
    expected = {"source_rejections": 1, "source_rejection_days": 1}
    assert nothing_but(counts, sources=1, **expected) == {}


async def test_an_alias_from_a_blocked_value_is_refused(
    app_client: httpx.AsyncClient, web_key: str
) -> None:
    body = {"userId": "u1", "previousId": "anonymous"}
    response = await post(app_client, "/v1/alias", web_key, body)
    assert response.status_code == 400, response.text
    assert [e["field"] for e in response.json()["errors"]] == ["previousId"]
    assert (await table_counts(app_platform(app_client)))["events"] == 0


async def test_a_nul_character_is_refused_naming_the_field(
    app_client: httpx.AsyncClient, web_key: str
) -> None:
    """PostgreSQL cannot store a NUL; refused alike everywhere, and never a 500 for the batch."""
    refused = await post(app_client, "/v1/track", web_key, {"anonymousId": "n1", "event": "A\x00B"})
    assert refused.status_code == 400, refused.text
    assert refused.json()["errors"][0]["field"] == "event"
    batch = [
        {"type": "track", "anonymousId": "n1", "event": "Viewed", "properties": {"sku": "S\x00"}},
        {"type": "track", "anonymousId": "n1", "event": "Viewed", "properties": {"a\x00": 1}},
        {"type": "track", "anonymousId": "n1", "event": "Viewed", "properties": {"sku": "\\u0000"}},
    ]
    response = await post(app_client, "/v1/batch", web_key, {"batch": batch})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["errors"][0]["field"] if r.get("errors") else None for r in results] == [
        "properties.sku",
        "properties.a\\u0000",
        None,  # the six characters \u0000 are text like any other
    ]
    context = await post(
        app_client, "/v1/batch", web_key, {"batch": batch[2:], "context": {"ip": "\x00"}}
    )
    assert context.status_code == 400
    assert context.json()["errors"][0]["field"] == "context.ip"
    async with app_platform(app_client).rt.db.read() as session:
        stored = (await session.execute(select(Event.payload))).scalars().all()
    assert [p["properties"] for p in stored] == [{"sku": "\\u0000"}]


async def test_alias_needs_previous_id(app_client: httpx.AsyncClient, web_key: str) -> None:
    response = await post(app_client, "/v1/alias", web_key, {"userId": "u1"})
    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["previousId"]


@pytest.mark.parametrize(
    ("auth", "detail"),
    [
        (None, "No write key"),
        (httpx.BasicAuth("wk_nope", ""), "Unknown write key"),
        # The other credential, or the right one sent the other way: told which it is.
        (httpx.BasicAuth("omni_x", ""), "That is an API token"),
        ({"Authorization": "Bearer wk_x"}, "A write key goes as the Basic-auth user name"),
    ],
)
async def test_unknown_or_missing_write_key_is_401(
    app_client: httpx.AsyncClient,
    web_key: str,
    auth: httpx.BasicAuth | dict[str, str] | None,
    detail: str,
) -> None:
    body = orjson.dumps({"userId": "u", "event": "E"})
    if isinstance(auth, dict):
        response = await app_client.post("/v1/track", headers=auth, content=body)
    else:
        response = await app_client.post("/v1/track", auth=auth, content=body)
    assert response.status_code == 401
    assert response.json()["detail"].startswith(detail)
    assert "Basic" in response.headers["www-authenticate"]
    assert nothing_but(await table_counts(app_platform(app_client)), sources=1) == {}


async def test_batch_with_some_bad_events_keeps_the_good(
    app_client: httpx.AsyncClient, web_key: str
) -> None:
    batch = [
        {"type": "track", "userId": "u1", "event": "Good"},
        {"type": "track", "event": "No ids"},
        {"type": "launch", "userId": "u1"},
        "not an object",
        {"type": "identify", "anonymousId": "a1", "traits": {"name": "Ann"}},
    ]
    response = await post(app_client, "/v1/batch", web_key, {"batch": batch})
    assert response.status_code == 200
    body = response.json()
    assert (body["success"], body["accepted"], body["rejected"]) == (False, 2, 3)
    statuses = [r["status"] for r in body["results"]]
    assert statuses == ["accepted", "rejected", "rejected", "rejected", "accepted"]
    assert body["results"][1]["errors"] == [
        {"field": "userId", "message": "either userId or anonymousId is required"}
    ]
    assert body["results"][2]["errors"][0]["field"] == "type"
    assert (await table_counts(app_platform(app_client)))["events"] == 2


BAD_BATCH = [
    pytest.param({"batch": "nope"}, "invalid-request", id="batch-not-list"),
    pytest.param({"events": []}, "invalid-request", id="no-batch"),
    pytest.param(
        {"batch": [{"type": "track", "userId": "u", "event": "E"}] * 2501},
        "payload-too-large",
        id="over-2500-events",
    ),
    pytest.param(
        {"batch": [{"type": "track", "userId": "u", "event": "E" * 200}] * 2400},
        "payload-too-large",
        id="over-500kb",
    ),
    pytest.param({"batch": [{"type": "track", "event": "E"}]}, "invalid-request", id="all-bad"),
]


@pytest.mark.parametrize(("body", "slug"), BAD_BATCH)
async def test_bad_batch_is_refused_and_writes_nothing(
    app_client: httpx.AsyncClient, web_key: str, body: dict[str, object], slug: str
) -> None:
    response = await post(app_client, "/v1/batch", web_key, body)
    assert response.status_code == 400, response.text
    assert response.json()["type"].endswith("/" + slug)
    counts = await table_counts(app_platform(app_client))
    # Every refused call of a known source is noted for the console, whatever was wrong.
    noted = {"source_rejections": 1, "source_rejection_days": 1}
    assert nothing_but(counts, sources=1, **noted) == {}


async def test_all_bad_batch_names_each_event_field(
    app_client: httpx.AsyncClient, web_key: str
) -> None:
    body = {"batch": [{"type": "track", "userId": "u"}, {"type": "page"}]}
    response = await post(app_client, "/v1/batch", web_key, body)
    fields = [e["field"] for e in response.json()["errors"]]
    assert fields == ["batch[0].event", "batch[1].userId"]


async def test_clock_skew_is_corrected_as_segment_does(
    app_client: httpx.AsyncClient, web_key: str, admin: dict[str, str]
) -> None:
    # The phone's clock is 1 hour fast; the event happened 10 minutes before it was sent.
    phone_now = START + timedelta(hours=1)
    body = {
        "userId": "u1",
        "event": "Cart Viewed",
        "timestamp": (phone_now - timedelta(minutes=10)).isoformat(),
        "sentAt": phone_now.isoformat(),
    }
    await post(app_client, "/v1/track", web_key, body)
    await drain(app_client)
    profile = (
        await app_client.get("/v1/profiles/lookup?type=user_id&value=u1", headers=admin)
    ).json()
    timeline = (
        await app_client.get(f"/v1/profiles/{profile['id']}/timeline", headers=admin)
    ).json()
    assert timeline["items"][0]["timestamp"] == (START - timedelta(minutes=10)).isoformat().replace(
        "+00:00", "Z"
    )


async def test_a_batchs_sent_at_is_read_as_a_messages_own(
    app_client: httpx.AsyncClient, web_key: str, admin: dict[str, str]
) -> None:
    """ISO 8601 allows a lower-case t and z; a message's sentAt took them and the batch's did
    not, so its events kept the fast clock's time."""
    phone_now = START + timedelta(hours=1)
    event = {"type": "track", "userId": "u1", "event": "Cart Viewed",
             "timestamp": (phone_now - timedelta(minutes=10)).isoformat()}  # fmt: skip
    sent_at = phone_now.strftime("%Y-%m-%dt%H:%M:%Sz")
    await post(app_client, "/v1/batch", web_key, {"batch": [event], "sentAt": sent_at})
    await drain(app_client)
    profile = await app_client.get("/v1/profiles/lookup?type=user_id&value=u1", headers=admin)
    timeline = await app_client.get(f"/v1/profiles/{profile.json()['id']}/timeline", headers=admin)
    corrected = (START - timedelta(minutes=10)).isoformat().replace("+00:00", "Z")
    assert timeline.json()["items"][0]["timestamp"] == corrected


async def test_times_out_of_range_are_a_verdict_and_absurd_skew_is_no_correction(
    app_client: httpx.AsyncClient, web_key: str, admin: dict[str, str]
) -> None:
    """In a batch, a time UTC cannot hold is that event's verdict; the others are kept. A sentAt
    thousands of years after the event leaves no clock to trust: it is taken at its arrival."""
    body = {
        "batch": [
            {"type": "track", "userId": "u1", "event": "E",
             "timestamp": "9999-12-31T23:59:59-01:00"},
            {"type": "track", "userId": "u1", "event": "E",
             "originalTimestamp": "2024-01-01T00:00:00Z", "sentAt": "9999-12-31T00:00:00Z"},
            {"type": "track", "userId": "", "anonymousId": "rudder-visitor", "event": "E"},
        ]
    }  # fmt: skip
    answer = await post(app_client, "/v1/batch", web_key, body)
    assert answer.status_code == 200, answer.text
    verdicts = answer.json()["results"]
    assert [v["status"] for v in verdicts] == ["rejected", "accepted", "accepted"]
    assert verdicts[0]["errors"][0]["field"] == "timestamp"
    await drain(app_client)
    profile = (
        await app_client.get("/v1/profiles/lookup?type=user_id&value=u1", headers=admin)
    ).json()
    assert profile["computed"]["last_seen"] == START.isoformat().replace("+00:00", "Z")
    visitor = await app_client.get(
        "/v1/profiles/lookup?type=anonymous_id&value=rudder-visitor", headers=admin
    )
    assert [i["type"] for i in visitor.json()["identities"]] == ["anonymous_id"]


async def test_a_time_ahead_of_the_arrival_is_taken_as_the_arrival(
    app_client: httpx.AsyncClient, web_key: str, admin: dict[str, str]
) -> None:
    """A device whose clock says 2031 and sends no sentAt: the event is kept, at its arrival,
    so the customer's last seen is not held five years ahead. So is a till's time two hours
    ahead (its local time read as UTC): kept, it outranked the customer's next changes."""
    ahead = (START + timedelta(days=1800)).isoformat()
    soon = (START + timedelta(hours=2)).isoformat()
    await post(app_client, "/v1/track", web_key, {"userId": "u1", "event": "E", "timestamp": ahead})
    await post(app_client, "/v1/track", web_key, {"userId": "u2", "event": "E", "timestamp": soon})
    await drain(app_client)
    profiles = {}
    for user, expected in (("u1", START.isoformat()), ("u2", START.isoformat())):
        profile = (
            await app_client.get(f"/v1/profiles/lookup?type=user_id&value={user}", headers=admin)
        ).json()
        assert profile["computed"]["last_seen"] == expected.replace("+00:00", "Z")
        identity = next(i for i in profile["identities"] if i["type"] == "user_id")
        assert identity["last_seen"] == expected.replace("+00:00", "Z")
        profiles[user] = profile["id"]
    export = (await app_client.get(f"/v1/profiles/{profiles['u1']}/export", headers=admin)).json()
    assert export["events"][0]["payload"]["timestamp"] == ahead  # the time as sent is kept


async def test_without_timestamp_the_receive_time_is_used(
    app_client: httpx.AsyncClient, web_key: str, admin: dict[str, str]
) -> None:
    await post(app_client, "/v1/track", web_key, {"userId": "u1", "event": "E"})
    await drain(app_client)
    profile = (
        await app_client.get("/v1/profiles/lookup?type=user_id&value=u1", headers=admin)
    ).json()
    assert profile["computed"]["last_seen"] == START.isoformat().replace("+00:00", "Z")


async def test_channel_is_the_source_kind_unless_the_event_names_one(
    app_client: httpx.AsyncClient, web_key: str, admin: dict[str, str]
) -> None:
    await post(app_client, "/v1/track", web_key, {"userId": "u1", "event": "Web"})
    await post(
        app_client,
        "/v1/track",
        web_key,
        {"userId": "u1", "event": "Kiosk", "context": {"channel": "pos"}},
    )
    await drain(app_client)
    profile = (
        await app_client.get("/v1/profiles/lookup?type=user_id&value=u1", headers=admin)
    ).json()
    assert profile["computed"]["channel_counts"] == {"web": 1, "pos": 1}


async def test_database_down_is_a_503_to_retry_and_nothing_is_acknowledged(
    app_client: httpx.AsyncClient, web_key: str, backend: str
) -> None:
    platform = app_platform(app_client)
    await platform.sources.authenticate(web_key)  # cached, so only the write can fail
    await platform.rt.db.dispose()
    broken = "sqlite+aiosqlite:////nonexistent/dir/omni.db"
    if backend == "postgresql":
        broken = "postgresql+asyncpg://postgres@127.0.0.1:1/nowhere"
    # Point the running platform at a database that cannot be reached.
    platform.rt.db.__init__(platform.settings.model_copy(update={"database_url": broken}))
    response = await post(app_client, "/v1/track", web_key, {"userId": "u", "event": "E"})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json()["type"].endswith("/unavailable")
    # aiosqlite stops the thread of a connection that failed to open without waiting for it,
    # and that thread reports to this test's event loop: let it finish before the loop closes.
    for thread in threading.enumerate():
        if thread.name.endswith("(_connection_worker_thread)"):
            await asyncio.to_thread(thread.join, 5)


async def test_a_database_that_stops_answering_is_a_503_in_bounded_time(
    app_client: httpx.AsyncClient, web_key: str, backend: str, settings: Settings
) -> None:
    """A lock another session holds (or a hung proxy, a partition): calls, /readyz and shutdown
    waited as long as the database did; now a statement waits at most
    ``OMNI_DATABASE_STATEMENT_TIMEOUT_SECONDS``, and then the call is a 503 to retry."""
    if backend != "postgresql":
        pytest.skip("SQLite's wait for another writer is its busy timeout")
    platform = app_platform(app_client)
    await platform.sources.authenticate(web_key)
    await platform.rt.db.dispose()
    platform.rt.db.__init__(settings.model_copy(update={"database_statement_timeout_seconds": 1}))
    holder = await asyncpg.connect(settings.database_url.replace("+asyncpg", ""))
    try:
        async with holder.transaction():
            await holder.execute("LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
            call = post(app_client, "/v1/track", web_key, {"userId": "u", "event": "E"})
            # Generous: the point is that it ends (it waited for the lock for ever before).
            response = await asyncio.wait_for(call, 30)
            assert response.status_code == 503, response.text
        again = await post(app_client, "/v1/track", web_key, {"userId": "u", "event": "E"})
        assert again.status_code == 200, again.text  # the lock gone, the pool serves again
    finally:
        await holder.close()
    assert (await table_counts(platform))["events"] == 1


async def test_ingestion_paths_take_only_post(app_client: httpx.AsyncClient) -> None:
    response = await app_client.get("/v1/track")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.headers["content-type"] == "application/problem+json"


async def test_the_openapi_document_lists_every_ingestion_route(
    app_client: httpx.AsyncClient,
) -> None:
    paths = (await app_client.get("/openapi.json")).json()["paths"]
    for name in ("identify", "track", "page", "screen", "group", "alias", "batch"):
        assert "post" in paths[f"/v1/{name}"], name
    assert "get" in paths["/v1/projects/{write_key}/settings"]


async def test_the_log_keeps_what_ingestion_added_to_a_message(
    app_client: httpx.AsyncClient, web_key: str
) -> None:
    """A batch's own context and a generated messageId are part of the stored message, not
    only of what the client sent (the log's payload is serialised at validation)."""
    batch = {
        "batch": [
            {"type": "track", "userId": "u1", "event": "Plain", "messageId": "given"},
            {"type": "track", "userId": "u1", "event": "No id"},
        ],
        "context": {"channel": "pos"},
    }
    answer = await post(app_client, "/v1/batch", web_key, batch)
    generated = answer.json()["results"][1]["messageId"]
    async with app_platform(app_client).rt.db.read() as session:
        stored = dict((await session.execute(select(Event.message_id, Event.payload))).all())
    assert stored["given"] == {**batch["batch"][0], "context": {"channel": "pos"}}
    assert stored[generated] == {
        **batch["batch"][1],
        "context": {"channel": "pos"},
        "messageId": generated,
    }


async def test_a_disabled_sources_flood_is_noted_once_a_second(
    app_client: httpx.AsyncClient, web_key: str
) -> None:
    """A leaked key, disabled, may keep coming; each note of it is a write transaction."""
    platform = app_platform(app_client)
    async with platform.rt.db.write() as session:
        [source] = await list_sources(session)
        await set_source_disabled(platform.rt, session, source.id, True)
    track = orjson.dumps({"anonymousId": "v1", "event": "Viewed"})
    for _ in range(3):
        answer = await app_client.post("/v1/track", auth=basic(web_key), content=track)
        assert answer.status_code == 401
    assert await count_rows(platform, "source_rejections") == 1
    clock = platform.rt.clock
    assert isinstance(clock, FrozenClock)
    clock.advance(timedelta(seconds=2))
    assert (
        await app_client.post("/v1/track", auth=basic(web_key), content=track)
    ).status_code == 401
    assert await count_rows(platform, "source_rejections") == 2
