"""Sign-in rate limits: sliding windows of failed attempts per user name and per client address.

In-process and in memory: each ``omni serve`` process counts on its own, so N processes allow up
to N times the limit. That still turns an online password guess from thousands a minute into a
handful; a shared store can replace ``SlidingWindow`` if that is ever not enough.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

MAX_KEYS = 10_000


class SlidingWindow:
    """At most ``limit`` hits per key in any ``seconds``-long window."""

    def __init__(
        self, limit: int, seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit, self.seconds, self.clock = limit, seconds, clock
        self._hits: dict[str, deque[float]] = {}

    def _recent(self, key: str) -> deque[float]:
        hits = self._hits.get(key)
        if hits is None:
            return deque()
        horizon = self.clock() - self.seconds
        while hits and hits[0] <= horizon:
            hits.popleft()
        if not hits:
            del self._hits[key]
        return hits

    def retry_after(self, key: str) -> float:
        """Seconds until ``key`` may try again; 0 when it may now."""
        hits = self._recent(key)
        if len(hits) < self.limit:
            return 0.0
        return hits[0] + self.seconds - self.clock()

    def hit(self, key: str) -> None:
        if len(self._hits) >= MAX_KEYS and key not in self._hits:
            self._make_room()
        self._hits.setdefault(key, deque()).append(self.clock())

    def _make_room(self) -> None:
        """Bounded memory under a spray of user names, without forgetting who is locked out:
        forgetting everything unlocked an admin under attack once 10,000 other names had
        failed. Keys short of the limit go first (the most they lose is a few counted
        failures); only if every key is locked out do the oldest half go."""
        for key in list(self._hits):
            if len(self._recent(key)) < self.limit:
                self._hits.pop(key, None)
        if len(self._hits) >= MAX_KEYS:
            for key in list(self._hits)[: MAX_KEYS // 2]:
                del self._hits[key]

    def reset(self, key: str) -> None:
        self._hits.pop(key, None)

    def unhit(self, key: str) -> None:
        """Take back the latest hit of ``key`` (an attempt counted in advance that succeeded)."""
        hits = self._hits.get(key)
        if hits:
            hits.pop()


class LoginLimiter:
    """5 failures per user name and 20 per address in 15 minutes, then wait.

    An attempt counts as a failure from the moment it is let through, before its password is
    checked: checked after, a burst of sign-ins sent at once all passed the limit before any
    of their (slow, one at a time) password checks had failed. One that succeeds is taken
    back from its address's count, and ends its user name's."""

    def __init__(self, per_user: int = 5, per_address: int = 20, seconds: float = 900) -> None:
        self.users = SlidingWindow(per_user, seconds)
        self.addresses = SlidingWindow(per_address, seconds)

    def attempt(self, username: str, address: str) -> float:
        """Seconds to wait (nothing counted then), or 0: the attempt is counted, go on."""
        wait = max(self.users.retry_after(username), self.addresses.retry_after(address))
        if wait <= 0:
            self.users.hit(username)
            self.addresses.hit(address)
        return wait

    def succeeded(self, username: str, address: str) -> None:
        self.users.reset(username)
        self.addresses.unhit(address)
