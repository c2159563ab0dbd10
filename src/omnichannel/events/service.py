"""Ingestion: turn Segment-spec calls into rows of the event log, durably, once.

``accept`` validates each message on its own (a batch answers per event), resolves its time and
channel, and ``store`` appends the good ones in one transaction. The HTTP answer is sent only
after that commit: identity resolution runs later (``events.tasks``) and can't lose what was
acknowledged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from omnichannel.errors import field_error
from omnichannel.events import repository as repo
from omnichannel.events.models import PENDING, SOURCE_KINDS
from omnichannel.events.schemas import Alias, Group, Page, Screen, Track, as_utc, event_time
from omnichannel.events.schemas import validate as validate_message
from omnichannel.events.sources import SourceInfo
from omnichannel.identity.rules import MergeRules, alias_candidates, extract
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


class Ingestor:
    def __init__(self, rt: Runtime, rules: MergeRules) -> None:
        self.rt, self.rules = rt, rules
        self.max_event_bytes = rt.settings.max_event_bytes
        self._log = GroupCommit(rt.db, self._append)

    def accept(
        self,
        source: SourceInfo,
        messages: list[Any],
        *,
        received_at: datetime,
        batch_sent_at: datetime | None = None,
        batch_context: dict[str, Any] | None = None,
        measure_size: bool = True,
    ) -> tuple[list[dict[str, Any]], list[Verdict]]:
        """Validate messages into event rows; returns the rows and a verdict for every message."""
        rows: list[dict[str, Any]] = []
        verdicts: list[Verdict] = []
        for index, raw in enumerate(messages):
            row, errors = self._row(
                source, raw, received_at, batch_sent_at, batch_context, measure_size
            )
            verdicts.append(Verdict(index, row["message_id"] if row else None, errors))
            if row is not None:
                rows.append(row)
        return rows, verdicts

    def _row(
        self,
        source: SourceInfo,
        raw: Any,
        received_at: datetime,
        batch_sent_at: datetime | None,
        batch_context: dict[str, Any] | None,
        measure_size: bool,
    ) -> tuple[dict[str, Any] | None, list[dict[str, str]]]:
        if not isinstance(raw, dict):
            return None, [field_error("", "each event must be a JSON object")]
        if measure_size and len(orjson.dumps(raw)) > self.max_event_bytes:
            return None, [field_error("", f"the event is over {self.max_event_bytes} bytes")]
        if batch_context and "context" not in raw:
            raw = {**raw, "context": batch_context}
        message, errors = validate_message(raw)
        if message is None:
            return None, errors
        if not extract(raw, self.rules) and not alias_candidates(raw, self.rules):
            field = "userId" if message.userId is not None else "anonymousId"
            return None, [
                field_error(field, "no usable identifier: the ids are empty or blocked values")
            ]
        channel = source.kind
        context = message.context or {}
        wanted = context.get("channel")
        if wanted is not None:
            if wanted not in SOURCE_KINDS:
                return None, [
                    field_error("context.channel", f"must be one of {', '.join(SOURCE_KINDS)}")
                ]
            channel = wanted
        message_id = message.messageId or new_id()
        name: str | None = None
        if isinstance(message, Track):
            name = message.event
        elif isinstance(message, Page | Screen):
            name = message.name
        elif isinstance(message, Group):
            name = message.groupId
        elif isinstance(message, Alias):
            name = message.previousId
        return {
            "source_id": source.id,
            "message_id": message_id,
            "type": message.type,
            "name": name,
            "channel": channel,
            "user_id": message.userId,
            "anonymous_id": message.anonymousId,
            "timestamp": event_time(message, received_at, batch_sent_at),
            "received_at": received_at,
            "payload": raw if message.messageId else {**raw, "messageId": message_id},
            "profile_id": None,
            "status": PENDING,
        }, []

    async def store(self, rows: list[dict[str, Any]]) -> None:
        """Append rows to the log; returns once they are committed (group commit, see kit)."""
        if rows:
            await self._log.submit(rows)

    async def _append(self, session: AsyncSession, rows: list[dict[str, Any]]) -> None:
        await repo.insert_events(self.rt.db, session, rows)


def batch_sent_at(body: dict[str, Any]) -> datetime | None:
    """A batch's own sentAt applies to every message in it that has none."""
    value = body.get("sentAt")
    if not isinstance(value, str):
        return None
    try:
        return as_utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        return None
