"""An event that can never be processed is set aside alone; the backlog behind it goes on."""

from __future__ import annotations

import pytest
from sqlalchemy import func, insert, select

from omnichannel.events import repository as repo
from omnichannel.events.models import FAILED, PENDING, RESOLVED, Event
from omnichannel.platform import Platform
from tests.events.test_resolve_at_ingest import send, web_source
from tests.helpers import START, drain

pytestmark = pytest.mark.usefixtures("backend")


async def by_status(platform: Platform) -> dict[int, int]:
    async with platform.rt.db.read() as session:
        rows = await session.execute(select(Event.status, func.count()).group_by(Event.status))
        return {status: count for status, count in rows}


async def test_a_row_that_cannot_be_processed_holds_back_nothing(platform: Platform) -> None:
    source = await web_source(platform)
    async with platform.rt.db.write() as session:  # a row no release of ours writes, first
        row = {"source_id": source.id, "message_id": "corrupt", "type": "track", "name": "E",
               "channel": "web", "timestamp": START, "received_at": START, "payload": [1, 2],
               "status": PENDING}  # fmt: skip
        await session.execute(insert(Event).values(row))
    messages = [{"type": "track", "anonymousId": f"v{n}", "event": "Viewed"} for n in range(9)]
    assert await send(platform, source, *messages) == 9
    await drain(platform)
    assert await by_status(platform) == {RESOLVED: 9, FAILED: 1}
    async with platform.rt.db.write() as session:
        assert await repo.retry_failed(session) == 1  # `omni events retry`
    assert await by_status(platform) == {RESOLVED: 9, PENDING: 1}
    await drain(platform)
    assert await by_status(platform) == {RESOLVED: 9, FAILED: 1}  # kept, set aside again
