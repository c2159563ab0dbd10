"""Ingestion: turn Segment-spec calls into rows of the event log, durably, once.

``accept`` validates each message on its own (a batch answers per event), resolves its time,
channel and identifiers, and ``store`` appends the good ones in one transaction. The HTTP answer
is sent only after that commit. An event whose identifiers all belong to one known profile is
resolved in that same transaction (``identity.resolve_known``, from the owners this process
remembers: ``identity.cache``) and published at once; the rest stay pending for the worker
(``events.tasks``), which can't lose what was acknowledged.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from omnichannel.errors import field_error
from omnichannel.events import repository as repo
from omnichannel.events.domain import EventsResolved, ResolvedEvent
from omnichannel.events.metrics import INGESTED, PROCESSED
from omnichannel.events.models import PENDING, RESOLVED, SOURCE_KINDS, name_of
from omnichannel.events.schemas import (
    NUL_ERROR,
    Alias,
    UTCTime,
    event_time,
    nul_field,
)
from omnichannel.events.schemas import validate as validate_message
from omnichannel.events.sources import SourceInfo
from omnichannel.identity import service as identity
from omnichannel.identity.cache import OwnerCache
from omnichannel.identity.rules import (
    MAX_EXTERNAL_IDS,
    Identifier,
    MergeRules,
    alias_candidates,
    extract,
)
from omnichannel.kit.group_commit import GroupCommit
from omnichannel.kit.ids import new_id
from omnichannel.kit.runtime import Runtime


@dataclass
class Verdict:
    """What happened to one message of a call."""

    index: int
    message_id: str | None
    errors: list[dict[str, str]]

    @property
    def accepted(self) -> bool:
        return not self.errors

    def as_json(self) -> dict[str, Any]:
        if self.accepted:
            return {"index": self.index, "status": "accepted", "messageId": self.message_id}
        return {"index": self.index, "status": "rejected", "errors": self.errors}


@dataclass(slots=True)
class NewEvent:
    """An accepted message: its row for the log and the identifiers it carries, normalised once."""

    row: dict[str, Any]
    # The message as stored; the row holds it serialised, done here rather than in the log's
    # insert, which runs while every other writer waits (kit.group_commit).
    payload: dict[str, Any]
    identifiers: list[Identifier]
    alias_of: list[Identifier]
    # Set by ``store``: resolved in the ingestion transaction, nothing left for the worker.
    resolved: bool = False
    # Set by ``store``: a new row of the log (not a retry of a message already there).
    stored: bool = False

    @property
    def message_id(self) -> str:
        return str(self.row["message_id"])


def writes_profile(type_: str, payload: dict[str, Any]) -> bool:
    """Whether an event writes to its profile (traits, consents), not only to the log."""
    return type_ == "identify" and bool(payload.get("traits"))


class Ingestor:
    def __init__(self, rt: Runtime, rules: MergeRules) -> None:
        self.rt, self.rules = rt, rules
        self.max_event_bytes = rt.settings.max_event_bytes
        self._owners = OwnerCache(rt.settings.identity_cache_size)
        self._log = GroupCommit(
            rt.db, self._append, linger=rt.settings.ingest_linger_seconds, on_failure=self._failed
        )

    def accept(
        self,
        source: SourceInfo,
        messages: list[Any],
        *,
        received_at: datetime,
        batch_sent_at: datetime | None = None,
        batch_context: dict[str, Any] | None = None,
        measure_size: bool = True,
    ) -> tuple[list[NewEvent], list[Verdict]]:
        """Validate messages into events; returns the good ones and a verdict for every message."""
        accepted: list[NewEvent] = []
        verdicts: list[Verdict] = []
        for index, raw in enumerate(messages):
            new, errors = self._event(
                source, raw, received_at, batch_sent_at, batch_context, measure_size
            )
            verdicts.append(Verdict(index, new.message_id if new else None, errors))
            if new is not None:
                accepted.append(new)
        return accepted, verdicts

    def _event(
        self,
        source: SourceInfo,
        raw: Any,
        received_at: datetime,
        batch_sent_at: datetime | None,
        batch_context: dict[str, Any] | None,
        measure_size: bool,
    ) -> tuple[NewEvent | None, list[dict[str, str]]]:
        if not isinstance(raw, dict):
            return None, [field_error("", "each event must be a JSON object")]
        sent, document = raw, orjson.dumps(raw)
        if measure_size and len(document) > self.max_event_bytes:
            return None, [field_error("", f"the event is over {self.max_event_bytes} bytes")]
        # JSON writes a NUL as \u0000: only a message with that text needs the full walk.
        if b"\\u0000" in document and (field := nul_field(raw)) is not None:
            return None, [field_error(field, NUL_ERROR)]
        if batch_context and "context" not in raw:
            raw = {**raw, "context": batch_context}
        message, errors = validate_message(raw)
        if message is None:
            return None, errors
        context = message.context or {}
        external = context.get("externalIds")
        if isinstance(external, list) and len(external) > MAX_EXTERNAL_IDS:
            return None, [field_error("context.externalIds", f"over {MAX_EXTERNAL_IDS} entries")]
        identifiers, alias_of = extract(raw, self.rules), alias_candidates(raw, self.rules)
        if isinstance(message, Alias) and not alias_of:
            return None, [field_error("previousId", "a blocked value: it joins no one")]
        if not identifiers and not alias_of:
            field = "userId" if message.userId is not None else "anonymousId"
            return None, [
                field_error(field, "no usable identifier: the ids are empty or blocked values")
            ]
        channel = source.kind
        wanted = context.get("channel")
        if wanted is not None:
            if wanted not in SOURCE_KINDS:
                return None, [
                    field_error("context.channel", f"must be one of {', '.join(SOURCE_KINDS)}")
                ]
            channel = wanted
        message_id = message.messageId or new_id()
        payload = raw if message.messageId else {**raw, "messageId": message_id}
        row: dict[str, Any] = {
            "source_id": source.id,
            "message_id": message_id,
            "type": message.type,
            "name": name_of(raw),
            "channel": channel,
            "user_id": message.userId,
            "anonymous_id": message.anonymousId,
            "timestamp": event_time(message, received_at, batch_sent_at),
            "received_at": received_at,
            # Serialised once: the size check above did it, unless the message was added to.
            "payload": orjson.Fragment(document if payload is sent else orjson.dumps(payload)),
            "profile_id": None,
            "status": PENDING,
        }
        return NewEvent(row, payload, identifiers, alias_of), []

    async def store(self, accepted: list[NewEvent]) -> int:
        """Append events to the log; returns once they are committed (group commit, see kit),
        with how many of them wait for the worker."""
        if not accepted:
            return 0
        await self._log.submit(accepted)
        # One call is one source; the demo's loader stores several sources' events at once.
        stored = Counter(new.row["source_id"] for new in accepted if new.stored)
        for source_id, count in stored.items():
            INGESTED.labels(source_id).inc(count)
        # A known customer's events, resolved at once.
        PROCESSED.labels("resolved").inc(sum(new.stored and new.resolved for new in accepted))
        return sum(not new.resolved for new in accepted)

    def _failed(self, accepted: list[NewEvent]) -> None:
        """A transaction appending these events rolled back; they may be written again."""
        # Its last-seen times, which the cache was told of, did not land.
        self._owners.forget()
        for new in accepted:  # resolved and stored in the transaction that did not commit
            new.row.update(profile_id=None, status=PENDING)
            new.resolved = new.stored = False

    async def _append(self, session: AsyncSession, accepted: list[NewEvent]) -> None:
        items = [
            identity.Item(
                event_id=n,
                identifiers=new.identifiers,
                alias_of=new.alias_of,
                at=new.row["timestamp"],
                source_id=new.row["source_id"],
                writes_profile=writes_profile(new.row["type"], new.payload),
            )
            for n, new in enumerate(accepted)
        ]
        known, sightings = await identity.resolve_known(self.rt, session, items, self._owners)
        for n, profile_id in known.items():
            accepted[n].row.update(profile_id=profile_id, status=RESOLVED)
        ids = await repo.insert_events(session, [new.row for new in accepted])
        added = dict(ids)  # a message sent twice in one flush is one row, stored once
        for new in accepted:
            new.stored = added.pop((new.row["source_id"], new.row["message_id"]), None) is not None
        fanout = []
        for n, profile_id in known.items():
            if accepted[n].stored:
                sightings.saw(items[n])
            row = accepted[n].row
            # pop: a message sent twice in one flush is stored once and published once; one
            # already in the log was not inserted again and has no id here.
            event_id = ids.pop((row["source_id"], row["message_id"]), None)
            if event_id is not None:
                fanout.append(
                    ResolvedEvent(
                        event_id,
                        profile_id,
                        row["type"],
                        row["channel"],
                        row["source_id"],
                        row["timestamp"],
                        accepted[n].payload,
                    )
                )
        if fanout:
            await self.rt.bus.publish(self.rt, session, EventsResolved(fanout))
        moved = await identity.record_seen(self.rt, session, sightings)  # last: identity.service
        self._owners.seen(moved)
        for n in known:
            accepted[n].resolved = True


def batch_sent_at(body: dict[str, Any]) -> datetime | None:
    """A batch's own sentAt applies to every message in it that has none; read as a message's
    own is (``2026-12-01t10:00:00z`` too), and ignored if it cannot be."""
    value = body.get("sentAt")
    if not isinstance(value, str):
        return None
    try:
        return SENT_AT.validate_python(value)
    except ValidationError:
        return None


SENT_AT: TypeAdapter[datetime] = TypeAdapter(UTCTime)
