"""The credential cache: an answer is reused until it expires, found or not, and stays bounded."""

from __future__ import annotations

import asyncio

from omnichannel.kit.ttl_cache import TTLCache


class Loader:
    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self) -> str | None:
        self.calls += 1
        return None if self.calls % 2 == 0 else f"answer {self.calls}"


async def test_an_answer_is_reused_until_it_expires() -> None:
    cache: TTLCache[str, str | None] = TTLCache(ttl=0.2)
    load = Loader()
    assert await cache.get("k", load) == "answer 1"
    assert await cache.get("k", load) == "answer 1"
    assert load.calls == 1
    await asyncio.sleep(0.3)
    # Expired: asked again, and "not found" is remembered like any answer.
    assert await cache.get("k", load) is None
    assert await cache.get("k", load) is None
    assert load.calls == 2


async def test_keys_are_separate_and_the_cache_stays_bounded() -> None:
    cache: TTLCache[int, str | None] = TTLCache(ttl=60, max_entries=3)
    load = Loader()
    for key in range(10):  # a flood of made-up keys
        await cache.get(key, load)
    assert load.calls == 10
    assert len(cache._entries) <= 3
