"""The outbox and due-row claiming: effects after commit, retries with backoff, no double claims."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from omnichannel.config import Settings
from omnichannel.kit.clock import FrozenClock
from omnichannel.kit.due import claim_due
from omnichannel.kit.outbox import OutboxRow, OutboxRunner, enqueue, outbox
from omnichannel.kit.runtime import Runtime
from omnichannel.platform import Platform
from tests.helpers import START


async def rows(platform: Platform) -> list[OutboxRow]:
    async with platform.rt.db.read() as session:
        return list(
            (await session.execute(select(OutboxRow).order_by(OutboxRow.created_at))).scalars()
        )


async def test_effect_runs_once_after_commit_and_key_dedups(platform: Platform) -> None:
    seen: list[dict[str, Any]] = []

    async def handler(rt: Runtime, payload: dict[str, Any]) -> None:
        seen.append(payload)

    async with platform.rt.db.write() as session:
        await enqueue(platform.rt, session, "t", {"n": 1}, key="only-once")
        await enqueue(platform.rt, session, "t", {"n": 2}, key="only-once")
    with pytest.raises(RuntimeError):
        async with platform.rt.db.write() as session:
            await enqueue(platform.rt, session, "t", {"n": 3})
            raise RuntimeError("the change failed, so its effect must not happen")
    runner = OutboxRunner(platform.rt, {"t": handler})
    assert await runner.run_due() == 1
    assert await runner.run_due() == 0
    assert seen == [{"n": 1}]
    assert [(r.status, r.attempts) for r in await rows(platform)] == [("done", 1)]


async def test_failures_back_off_then_park_as_dead(platform: Platform, clock: FrozenClock) -> None:
    async def broken(rt: Runtime, payload: dict[str, Any]) -> None:
        raise ConnectionError("provider down")

    async with platform.rt.db.write() as session:
        await enqueue(platform.rt, session, "t", {})
    runner = OutboxRunner(platform.rt, {"t": broken}, max_attempts=3)
    assert await runner.run_due() == 1
    assert await runner.run_due() == 0  # not due again until the backoff has passed
    clock.advance(timedelta(seconds=2))
    assert await runner.run_due() == 1
    clock.advance(timedelta(seconds=4))
    assert await runner.run_due() == 1
    [row] = await rows(platform)
    assert (row.status, row.attempts) == ("dead", 3)
    assert "provider down" in (row.last_error or "")


async def test_a_claim_whose_worker_died_comes_due_after_the_lease(
    platform: Platform, clock: FrozenClock
) -> None:
    async with platform.rt.db.write() as session:
        await enqueue(platform.rt, session, "t", {})
    lease = timedelta(minutes=5)
    async with platform.rt.db.write() as session:
        claimed = await claim_due(
            session,
            outbox,
            now=clock.now(),
            lease=lease,
            limit=10,
            skip_locked=platform.rt.db.concurrent_writers,
        )
    assert len(claimed) == 1
    # The claimer "dies" here. Until the lease runs out nobody else gets the row; then one does.
    async with platform.rt.db.write() as session:
        assert (
            await claim_due(
                session, outbox, now=clock.now(), lease=lease, limit=10, skip_locked=False
            )
            == []
        )
    clock.advance(lease + timedelta(seconds=1))
    async with platform.rt.db.write() as session:
        assert (
            len(
                await claim_due(
                    session, outbox, now=clock.now(), lease=lease, limit=10, skip_locked=False
                )
            )
            == 1
        )


async def test_concurrent_claimers_never_share_a_row(settings: Settings) -> None:
    platforms = [Platform(settings, FrozenClock(START)) for _ in range(3)]
    try:
        rt = platforms[0].rt
        async with rt.db.write() as session:
            for i in range(60):
                await enqueue(rt, session, "t", {"i": i})

        async def claim_all(p: Platform) -> list[str]:
            mine: list[str] = []
            while True:
                async with p.rt.db.write() as session:
                    got = await claim_due(
                        session,
                        outbox,
                        now=p.rt.clock.now(),
                        lease=timedelta(minutes=1),
                        limit=7,
                        skip_locked=p.rt.db.concurrent_writers,
                    )
                if not got:
                    return mine
                mine += [r.id for r in got]

        results = await asyncio.gather(*(claim_all(p) for p in platforms))
        every = [i for r in results for i in r]
        assert len(every) == len(set(every)) == 60
    finally:
        for p in platforms:
            await p.close()


async def test_a_long_effect_keeps_its_lease_so_no_other_runner_takes_it(
    platform: Platform, clock: FrozenClock
) -> None:
    """The lease is short, so a dead worker's rows come due soon; a live one running a long
    effect renews it, and another runner does not run the effect a second time meanwhile."""
    lease = timedelta(seconds=30)
    runs: list[int] = []
    other_took: list[int] = []

    async def long_effect(rt: Runtime, payload: dict[str, Any]) -> None:
        runs.append(payload["n"])
        if len(runs) == 1:
            clock.advance(lease * 2)  # the effect outlives its first lease
            await asyncio.sleep(0.3)  # several renewals (every 0.05 s here)
            other_took.append(await other.run_due())

    async with platform.rt.db.write() as session:
        await enqueue(platform.rt, session, "t", {"n": 1})
        await enqueue(platform.rt, session, "t", {"n": 2}, due_at=START + timedelta(seconds=-1))
    runner = OutboxRunner(platform.rt, {"t": long_effect}, lease=lease, renew_every=0.05)
    other = OutboxRunner(platform.rt, {"t": long_effect}, lease=lease, renew_every=0.05)
    assert await runner.run_due() == 2
    # Neither the row running nor the one claimed with it and waiting its turn went to the other.
    assert other_took == [0]
    assert sorted(runs) == [1, 2]
    assert [r.status for r in await rows(platform)] == ["done", "done"]
    clock.advance(lease * 3)
    assert await other.run_due() == 0  # done rows stay done
