"""The event processor: resolve accepted events to profiles and fan them out.

It takes the events ingestion left pending: those bringing an identifier the graph lacks,
joining profiles, or aliasing (a known customer's event is resolved as it is stored; see
``events.service``).

Each batch is one transaction: claim pending events (``FOR UPDATE SKIP LOCKED`` on PostgreSQL,
so two workers never take the same rows), resolve their identities, mark them resolved, publish
``EventsResolved`` to the modules that react. A worker killed anywhere in between leaves the batch
pending for the next one: nothing acknowledged is lost, nothing is processed twice. A batch that
lost a race with another worker (``StaleGraph``, a unique-key clash, a deadlock) is retried; one
that fails on an event's own data is split until that event is found, and it alone is set aside.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from sqlalchemy.exc import InterfaceError, OperationalError

from omnichannel.events import repository as repo
from omnichannel.events.domain import EventsResolved, ResolvedEvent
from omnichannel.events.metrics import PROCESSED
from omnichannel.events.models import DISCARDED, RESOLVED, message_id_only
from omnichannel.events.service import writes_profile
from omnichannel.identity import service as identity
from omnichannel.identity.rules import MergeRules, alias_candidates, extract, without
from omnichannel.kit.races import lost_race, retrying
from omnichannel.kit.runtime import Runtime

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 20


async def process_pending(rt: Runtime, rules: MergeRules, limit: int | None = None) -> int:
    """Process one batch of pending events; returns how many were processed (0: none waiting).

    A batch that fails for another reason than a race, while the database itself answers, may
    hold one event that can never be processed (a row no release of ours wrote, say): smaller
    batches find it, and it alone is set aside (``FAILED``, kept whole, logged), so the events
    after it are not held back."""
    limit = limit or rt.settings.worker_batch_size
    while True:
        claimed: list[int] = []
        try:
            return await retrying(partial(_process_batch, rt, rules, limit, claimed), MAX_ATTEMPTS)
        except Exception as exc:
            if lost_race(exc) or not _may_be_the_data(exc) or not await rt.db.answers():
                raise  # a race lost too often, or the database itself: the caller backs off
            if limit > 1:
                limit //= 2
                continue
            await _set_aside(rt, claimed, exc)
            return len(claimed)


def _may_be_the_data(exc: Exception) -> bool:
    """Whether an event's own data may be what failed, not the database (down, locked, out of
    resources) or the connection to it."""
    if isinstance(exc, OSError | TimeoutError | OperationalError | InterfaceError):
        return False  # sqlite3's "database is locked" is an OperationalError
    orig = getattr(exc, "orig", exc)
    code = str(getattr(orig, "sqlstate", None) or "")
    return not code.startswith(("08", "53", "55", "57"))  # connection, resources, locks, shutdown


async def _set_aside(rt: Runtime, claimed: list[int], exc: Exception) -> None:
    """The event that failed alone leaves the backlog, kept as it came (``omni events retry``)."""
    async with rt.db.write() as session:
        await repo.set_aside(session, claimed)
    PROCESSED.labels("set_aside").inc(len(claimed))
    log.error("event %s set aside: processing it fails on its own (%r)", claimed, exc)


async def _process_batch(rt: Runtime, rules: MergeRules, limit: int, claimed: list[int]) -> int:
    async with rt.db.write() as session:
        rows = await repo.claim_pending(session, limit, rt.db.concurrent_writers)
        if not rows:
            return 0
        claimed[:] = [row.id for row in rows]
        items = [
            identity.Item(
                event_id=row.id,
                identifiers=extract(row.payload, rules),
                alias_of=alias_candidates(row.payload, rules),
                at=row.timestamp,
                source_id=row.source_id,
                writes_profile=writes_profile(row.type, row.payload),
            )
            for row in rows
        ]
        resolved, sightings, erased = await identity.resolve_batch(rt, session, rules, items)
        updates: list[tuple[int, str | None, int]] = []
        scrubbed: list[tuple[int, dict[str, Any]]] = []
        fanout = []
        for row, item in zip(rows, items, strict=True):
            result, payload = resolved[row.id], row.payload
            if erased and any(i.key in erased for i in (*item.identifiers, *item.alias_of)):
                # Nothing of an erased person is kept: an event of theirs alone keeps only its
                # message id (a retry stays a duplicate); one also of someone else, the rest.
                payload = (
                    without(payload, rules, erased)
                    if result is not None
                    else message_id_only(row.type, payload)
                )
                scrubbed.append((row.id, payload))
            if result is None:
                updates.append((row.id, None, DISCARDED))
                continue
            updates.append((row.id, result.profile_id, RESOLVED))
            fanout.append(
                ResolvedEvent(
                    row.id,
                    result.canonical_id,
                    row.type,
                    row.channel,
                    row.source_id,
                    row.timestamp,
                    payload,
                )
            )
        await repo.mark_processed(session, updates)
        await repo.replace_payloads(session, scrubbed)
        await rt.bus.publish(rt, session, EventsResolved(fanout))
        await identity.record_seen(rt, session, sightings)  # last: see identity.service
    # Counted once committed: a batch rolled back and retried is not counted twice.
    PROCESSED.labels("resolved").inc(len(fanout))
    PROCESSED.labels("discarded").inc(len(rows) - len(fanout))
    return len(rows)
