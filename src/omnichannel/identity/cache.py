"""Who holds an identifier, remembered in process: ingestion's owner lookups without a query.

Ingestion asks, for every event, which profile holds each of its identifiers
(``service.resolve_known``). A returning customer's answer rarely changes, and the lookup was
the second-largest statement of ingestion on PostgreSQL (16 µs an event of the database's CPU,
bench/README.md). So each ingesting process keeps the owners it has read, up to
``OMNI_IDENTITY_CACHE_SIZE`` identifiers, and asks the database only for the others.

An identifier changes hands only in three ways: a merge moves the loser's identifiers to the
survivor, a split moves some back, an erasure deletes them. Each notes the profiles it took
identifiers from or gave them to in ``identity_owner_changes``, in its own transaction
(``repository.record_owner_changes``). Before using what it remembers, a lookup reads the notes
made since its last read, in the caller's transaction, and drops every identifier it holds on a
profile named there. So it answers what the identities table would have answered at that moment;
an identifier it has not seen yet is read from the table, and a missing one is never remembered
(it may be written any moment). Dropping by profile, rather than marking profiles as changed and
checking on use, keeps what the process holds bounded by its capacity however many merges it
reads about. With nothing remembered no note matters, so such a read only moves the cursor on.

The notes are kept ``OWNER_CHANGES_KEPT``; a process that read none for half that time forgets
everything, so it never misses one that was pruned. Hand-written rather than ``functools`` or
``cachetools``: the entries must be dropped by the profile they point at, in bulk, and what is
evicted when full matters less than that (the older half goes).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from itertools import islice

from sqlalchemy.ext.asyncio import AsyncSession

from omnichannel.identity import repository as repo
from omnichannel.identity.models import OWNER_CHANGES_KEPT
from omnichannel.identity.repository import Owner, Sighting


class OwnerCache:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._owners: dict[str, Owner] = {}  # key -> its owner as read, oldest first
        self._keys: dict[str, set[str]] = {}  # profile id -> the keys remembered on it
        self._cursor = 0
        self._last_read: datetime | None = None

    async def owners(
        self, session: AsyncSession, keys: Sequence[str], now: datetime
    ) -> list[Owner]:
        """The holder of each of ``keys`` the graph knows, as of this transaction."""
        if not self.capacity:
            return await repo.identities_by_key(session, keys)
        await self._read_notes(session, now)
        found: list[Owner] = []
        wanted: list[str] = []
        for key in keys:
            owner = self._owners.get(key)
            if owner is not None:
                found.append(owner)
            else:
                wanted.append(key)
        if wanted:
            fetched = await repo.identities_by_key(session, wanted)
            self._remember(fetched)
            found += fetched
        return found

    def __contains__(self, key: str) -> bool:
        return key in self._owners

    def __len__(self) -> int:
        return len(self._owners)

    def seen(self, moved: Sequence[Sighting]) -> None:
        """Times the caller wrote (``record_seen``), so that the next event compares with them."""
        for sighting in moved:
            owner = self._owners.get(sighting.key)
            if owner is not None:
                self._owners[sighting.key] = owner._replace(
                    last_seen=max(owner.last_seen, sighting.newest),
                    first_seen=min(owner.first_seen, sighting.earliest),
                )

    def forget(self) -> None:
        """Drop everything: after a failed transaction, whose last-seen times did not land."""
        self._owners.clear()
        self._keys.clear()

    async def _read_notes(self, session: AsyncSession, now: datetime) -> None:
        if self._last_read is not None and now - self._last_read > OWNER_CHANGES_KEPT / 2:
            self.forget()  # notes it has not read may be pruned by now
        self._last_read = now
        if not self._owners:
            self._cursor = await repo.owner_changes_cursor(session)
            return
        self._cursor, changed = await repo.owner_changes(session, self._cursor)
        for profile_id in changed:
            for key in self._keys.pop(profile_id, ()):
                del self._owners[key]

    def _remember(self, fetched: Sequence[Owner]) -> None:
        if len(self._owners) + len(fetched) > self.capacity:
            for key in list(islice(self._owners, len(self._owners) // 2 + len(fetched))):
                owner = self._owners.pop(key)
                keys = self._keys[owner.profile_id]
                keys.discard(key)
                if not keys:
                    del self._keys[owner.profile_id]
        for owner in fetched:
            self._owners[owner.key] = owner
            self._keys.setdefault(owner.profile_id, set()).add(owner.key)
