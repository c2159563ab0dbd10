"""Sign-in's defences: the limiter's memory bound, and the cost of a flood of attempts."""

from __future__ import annotations

import asyncio
import threading

import pytest

from omnichannel.console.ratelimit import MAX_KEYS, SlidingWindow
from omnichannel.console.users import authenticate
from omnichannel.platform import Platform
from tests.console.support import PASSWORD, make_user


def test_a_spray_of_names_does_not_forget_who_is_locked_out() -> None:
    """It used to forget every count once 10,000 names had failed: an attacker with ~500
    addresses unlocked the admin they were guessing."""
    now = [0.0]
    window = SlidingWindow(5, 900, clock=lambda: now[0])
    for _ in range(5):
        window.hit("admin")
    assert window.retry_after("admin") > 0
    for n in range(3 * MAX_KEYS):
        window.hit(f"spray-{n}")
    assert window.retry_after("admin") > 0
    assert len(window._hits) <= MAX_KEYS  # and memory stays bounded
    now[0] += 901
    assert window.retry_after("admin") == 0


@pytest.mark.usefixtures("backend")
async def test_sign_ins_at_once_hash_one_at_a_time(platform: Platform) -> None:
    """Each attempt is ~0.25 s of Argon2: at once, they took every core from ingestion."""
    await make_user(platform, "ann", "admin")
    hashing: list[int] = []
    done = asyncio.Event()

    async def watch() -> None:
        while not done.is_set():
            hashing.append(sum(t.name.startswith("argon2") for t in threading.enumerate()))
            await asyncio.sleep(0.005)

    async def attempt(password: str) -> bool:
        async with platform.rt.db.read() as session:
            return await authenticate(session, "ann", password) is not None

    watcher = asyncio.create_task(watch())
    answers = await asyncio.gather(*(attempt(p) for p in [PASSWORD, "wrong one!", PASSWORD] * 2))
    done.set()
    await watcher
    assert answers == [True, False, True] * 2
    assert max(hashing) == 1
