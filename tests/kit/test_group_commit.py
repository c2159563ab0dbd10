"""Group commit: callers are answered after the commit they share; a cancelled one harms none."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.exc import DBAPIError

from omnichannel.kit.group_commit import GroupCommit
from omnichannel.platform import Platform


async def test_group_commit_survives_a_cancelled_caller(platform: Platform) -> None:
    """A caller that goes away mid-flush neither loses its rows nor strands the others."""
    written: list[int] = []

    async def write(session: object, items: list[int]) -> None:
        await asyncio.sleep(0.05)  # a slow commit, so the callers pile up behind it
        written.extend(items)

    log: GroupCommit[int] = GroupCommit(platform.rt.db, write)  # type: ignore[arg-type]
    first = asyncio.create_task(log.submit([1]))
    await asyncio.sleep(0.01)
    others = [asyncio.create_task(log.submit([n])) for n in (2, 3)]
    first.cancel()
    await asyncio.wait_for(asyncio.gather(*others), 5)
    with pytest.raises(asyncio.CancelledError):
        await first
    assert sorted(written) == [1, 2, 3]


async def test_callers_arriving_within_the_linger_share_one_transaction(
    platform: Platform,
) -> None:
    groups: list[list[int]] = []

    async def write(session: object, items: list[int]) -> None:
        groups.append(items)

    log: GroupCommit[int] = GroupCommit(platform.rt.db, write, linger=0.2)  # type: ignore[arg-type]
    first = asyncio.create_task(log.submit([1]))
    await asyncio.sleep(0)  # the flush has started and is lingering
    await asyncio.gather(first, log.submit([2]), log.submit([3]))
    assert groups == [[1, 2, 3]]


async def test_a_caller_whose_rows_fail_fails_alone(platform: Platform) -> None:
    """A shared transaction that fails is written again caller by caller: only the caller whose
    rows the database refused hears of it, and every other caller's rows land."""
    written: list[int] = []
    failed: list[list[int]] = []

    async def write(session: object, items: list[int]) -> None:
        await asyncio.sleep(0.02)  # the callers pile up behind the first flush
        if 13 in items:
            raise ValueError("refused by the database")
        written.extend(items)

    log: GroupCommit[int] = GroupCommit(platform.rt.db, write, on_failure=failed.append)  # type: ignore[arg-type]
    first = asyncio.create_task(log.submit([0]))
    await asyncio.sleep(0)
    callers = [asyncio.create_task(log.submit([n])) for n in (1, 13, 2)]
    outcomes = await asyncio.gather(first, *callers, return_exceptions=True)
    assert outcomes[:2] == [None, None] and outcomes[3] is None
    assert isinstance(outcomes[2], ValueError)
    assert sorted(written) == [0, 1, 2]
    assert failed == [[1, 13, 2], [13]]  # the shared transaction, then 13's own


async def test_a_lone_caller_that_fails_is_told_so_and_not_written_behind_its_back(
    platform: Platform,
) -> None:
    """A lone caller's failed transaction was tried once more after it had heard of the failure:
    a transient failure then committed rows it was told had failed, and the answer's clash
    killed the flush, so a caller queued behind it waited for ever."""
    attempts: list[list[int]] = []

    async def write(session: object, items: list[int]) -> None:
        attempts.append(items)
        if len(attempts) == 1:
            await asyncio.sleep(0.02)  # the second caller queues behind the failing flush
            raise ConnectionError("the database went away")

    log: GroupCommit[int] = GroupCommit(platform.rt.db, write)  # type: ignore[arg-type]
    first = asyncio.create_task(log.submit([1]))
    await asyncio.sleep(0)
    second = asyncio.create_task(log.submit([2]))
    with pytest.raises(ConnectionError):
        await first
    await asyncio.wait_for(second, 5)
    assert attempts == [[1], [2]]


async def test_a_caller_whose_transaction_lost_a_race_is_run_again_before_it_hears(
    platform: Platform,
) -> None:
    """A deadlock with another process (PostgreSQL's 40P01) is no one's fault: answered, it was
    a 503 (a dropped connection before the driver's errors were translated)."""
    attempts: list[list[int]] = []

    class Deadlock(Exception):
        sqlstate = "40P01"

    async def write(session: object, items: list[int]) -> None:
        attempts.append(items)
        if len(attempts) == 1:
            raise DBAPIError("UPDATE identities …", None, Deadlock("deadlock detected"))

    log: GroupCommit[int] = GroupCommit(platform.rt.db, write)  # type: ignore[arg-type]
    await asyncio.wait_for(log.submit([1]), 5)
    assert attempts == [[1], [1]]
