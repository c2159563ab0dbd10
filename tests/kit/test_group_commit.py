"""Group commit: callers are answered after the commit they share; a cancelled one harms none."""

from __future__ import annotations

import asyncio

import pytest

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
