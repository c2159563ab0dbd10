"""Lost races: the failures that mean another transaction got there first, and retrying them.

On PostgreSQL, concurrent transactions can fail one another in ways that are no one's bug: a
version check finding that another transaction changed what this one read (``LostRace``), a
deadlock (40P01), a serialization failure (40001), the clash of two new identical keys (23505).
Run again, such a transaction succeeds; answered as a 500 or a 503, it would send the work back
to a client that did nothing wrong.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, IntegrityError

log = logging.getLogger(__name__)
T = TypeVar("T")

# PostgreSQL: deadlock_detected and serialization_failure are "try again", not bugs.
RETRYABLE_SQLSTATES = ("40P01", "40001")


class LostRace(Exception):
    """Another transaction changed what this one read first (a version check); run it again."""


def lost_race(exc: Exception) -> bool:
    if isinstance(exc, LostRace | IntegrityError):
        return True
    if isinstance(exc, DBAPIError):
        code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
        return code in RETRYABLE_SQLSTATES or "deadlock" in str(exc).lower()
    return False


async def retrying(work: Callable[[], Awaitable[T]], attempts: int) -> T:
    """``work()`` (a whole transaction), run again after a lost race, up to ``attempts`` times;
    a short random pause between tries keeps two racers from meeting again."""
    for attempt in range(1, attempts):
        try:
            return await work()
        except Exception as exc:
            if not lost_race(exc):
                raise
            log.debug("lost a race (%s), retrying", type(exc).__name__)
            await asyncio.sleep(random.uniform(0, 0.01 * attempt))
    return await work()
