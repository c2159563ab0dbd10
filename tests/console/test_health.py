"""Source health: accepted traffic from the log, refused calls kept bounded with their reasons."""

from __future__ import annotations

from datetime import timedelta

import httpx
import orjson
import pytest

from omnichannel.events import health
from omnichannel.events.sources import list_sources
from omnichannel.kit.clock import FrozenClock
from tests.console.support import make_user, signed_in_token
from tests.helpers import START, app_platform, basic, count_rows, make_source

pytestmark = pytest.mark.usefixtures("backend")


async def test_refused_calls_are_kept_bounded_and_counted_per_day(
    app_client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    platform = app_platform(app_client)
    await make_source(platform)
    async with platform.rt.db.read() as session:
        (source,) = await list_sources(session)
    for n in range(health.KEEP + 5):
        errors = [{"field": "event", "message": f"Field required {n}"}]
        await health.record_rejection(platform.rt, source.id, errors, events=2)
    clock.advance(timedelta(days=1))
    await health.record_rejection(platform.rt, source.id, [{"field": "", "message": "bad"}])
    assert await count_rows(platform, "source_rejections") == health.KEEP
    async with platform.rt.db.read() as session:
        today = await health.health(session, source.id, clock.now(), recent=3)
        yesterday = await health.health(session, source.id, START)
    assert today.rejected_today == 1 and yesterday.rejected_today == 2 * (health.KEEP + 5)
    assert [r.errors[0]["message"] for r in today.recent_rejections] == [
        "bad",
        f"Field required {health.KEEP + 4}",
        f"Field required {health.KEEP + 3}",
    ]


async def test_health_page_shows_traffic_and_refusals(app_client: httpx.AsyncClient) -> None:
    platform = app_platform(app_client)
    key = await make_source(platform, "web", "Web shop")
    async with platform.rt.db.read() as session:
        (source,) = await list_sources(session)
    body = orjson.dumps({"batch": [{"type": "page", "anonymousId": "a"}] * 1})
    assert (await app_client.post("/v1/batch", auth=basic(key), content=body)).status_code == 200
    await health.record_rejection(
        platform.rt, source.id, [{"field": "userId", "message": "either userId or anonymousId"}]
    )
    await make_user(platform, "mia", "marketer")
    await signed_in_token(app_client, "mia")
    page = await app_client.get(f"/console/sources/{source.id}")
    assert page.status_code == 200
    assert "2026-11-01 09:00 UTC" in page.text  # the last event received
    assert "<code>userId</code>: either userId or anonymousId" in page.text
    listing = await app_client.get("/console/sources")
    assert "Web shop" in listing.text
