"""Domain events: plain dataclasses handed to handlers listed in one explicit registry.

Handlers run inside the publisher's transaction, so what they write commits or rolls back with
the change that caused it. Anything that talks to the outside world is written to the outbox
instead and runs after commit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

if TYPE_CHECKING:
    from omnichannel.kit.runtime import Runtime

Handler = Callable[["Runtime", AsyncSession, Any], Awaitable[None]]


class Bus:
    def __init__(self, handlers: dict[type, list[Handler]] | None = None) -> None:
        self._handlers: dict[type, list[Handler]] = handlers or {}

    def subscribe(self, event_type: type, handler: Handler) -> None:
        self._handlers.setdefault(event_type, []).append(handler)

    async def publish(self, rt: Runtime, session: AsyncSession, event: object) -> None:
        for handler in self._handlers.get(type(event), ()):
            await handler(rt, session, event)
