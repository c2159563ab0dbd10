"""Answers remembered for a few seconds: credentials checked on every request.

Write keys and API tokens are checked on every call, and reading one from the database costs a
transaction (about 0.9 ms through the async driver on the 2-core bench machine, a tenth of a
whole profile read). Remembering the answer, found or not, for ``ttl`` seconds removes that.
The price: a source disabled or a token revoked in another process keeps working here for up to
``ttl`` seconds.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TTLCache(Generic[K, V]):
    def __init__(self, ttl: float, *, max_entries: int = 10_000) -> None:
        self.ttl, self.max_entries = ttl, max_entries
        self._entries: dict[K, tuple[float, V]] = {}

    async def get(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        """The remembered answer for ``key``, or ``load()``'s (then remembered)."""
        entry = self._entries.get(key)
        if entry is not None and entry[0] >= time.monotonic():
            return entry[1]
        value = await load()
        if len(self._entries) >= self.max_entries:
            # Unknown keys are remembered too; a flood of made-up ones must not grow memory.
            self._entries.clear()
        self._entries[key] = (time.monotonic() + self.ttl, value)
        return value
