"""Sources: every touchpoint system (a web shop, an app, a store's POS…) and its write key.

Write keys are stored as SHA-256 hashes and looked up through a short-lived in-process cache
(``kit.ttl_cache``), so the ingestion hot path does not hit the database to authenticate each
call.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from omnichannel.errors import InvalidRequest, NotFound, Unauthorized, field_error
from omnichannel.events import repository as repo
from omnichannel.events.models import SOURCE_KINDS, SYSTEM_SOURCE, Source
from omnichannel.kit.ids import API_TOKEN_PREFIX, WRITE_KEY_PREFIX, digest, new_id, new_secret
from omnichannel.kit.orm import table_of
from omnichannel.kit.runtime import Runtime
from omnichannel.kit.ttl_cache import TTLCache


@dataclass(frozen=True)
class SourceInfo:
    id: str
    name: str
    kind: str
    disabled: bool = False


class SourceDisabled(Unauthorized):
    """401 for the write key of a disabled source: said as such, so that whoever looks at a
    till that stopped sending learns why and what undoes it."""

    def __init__(self, source: SourceInfo) -> None:
        super().__init__(
            f"This write key's source, '{source.name}', is disabled, so its calls are refused. "
            f"`omni sources enable {source.id}` enables it again."
        )
        self.source = source


async def create_source(
    rt: Runtime, session: AsyncSession, kind: str, name: str
) -> tuple[Source, str]:
    """A new source and its write key (returned once, never stored in clear)."""
    if kind not in SOURCE_KINDS:
        raise InvalidRequest(
            f"Unknown source kind '{kind}'; use one of: {', '.join(SOURCE_KINDS)}.",
            errors=[field_error("kind", "unknown kind")],
        )
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidRequest(
            "A source needs a name of 1-100 characters.", errors=[field_error("name", "length")]
        )
    if not name.isprintable():  # a NUL or a line break would garble every list it is shown in
        raise InvalidRequest(
            "A source's name must be printable text (no control characters).",
            errors=[field_error("name", "control characters")],
        )
    values, write_key = _new_source(rt, kind, name)
    source = Source(**values)
    session.add(source)
    await session.flush()
    return source, write_key


def _new_source(
    rt: Runtime, kind: str, name: str, *, is_system: bool = False
) -> tuple[dict[str, Any], str]:
    """A source's row and its write key."""
    write_key = new_secret(WRITE_KEY_PREFIX)
    values = {
        "id": new_id(),
        "name": name,
        "kind": kind,
        "write_key_hash": digest(write_key),
        "write_key_hint": write_key[:7],
        "created_at": rt.clock.now(),
        "is_system": is_system,
    }
    return values, write_key


async def list_sources(session: AsyncSession) -> list[Source]:
    return await repo.list_sources(session)


async def set_source_disabled(
    rt: Runtime, session: AsyncSession, source_id: str, disabled: bool
) -> tuple[Source, bool]:
    """Disable a source (its write key is refused, within ``source_cache_seconds`` on running
    servers; its events stay) or enable it again. Returns it, and whether this call changed it."""
    source = await session.get(Source, source_id)
    if source is None:
        raise NotFound(f"No source {source_id}; `omni sources list` shows them.")
    if source.is_system:
        raise InvalidRequest(
            "That is the API's own source, of the changes made through the API (consents): no "
            "one holds its write key, and it is not disabled."
        )
    if (source.disabled_at is not None) == disabled:
        return source, False
    source.disabled_at = rt.clock.now() if disabled else None
    return source, True


async def system_source(rt: Runtime, session: AsyncSession) -> Source:
    """The source of changes made through the API itself (consent updates, …), made on first
    use. It is the row marked ``is_system``, never a source found by its name: anyone may call
    a source of theirs the same, and its events then counted as the API's."""
    found = await repo.system_source(session)
    if found is None:
        values, _ = _new_source(rt, "server", SYSTEM_SOURCE, is_system=True)  # a key no one has
        # A first update on another process may be making it too: the unique index keeps one.
        statement = rt.db.insert(table_of(Source)).values(values)
        await session.execute(
            statement.on_conflict_do_nothing(
                index_elements=["is_system"], index_where=text("is_system")
            )
        )
        found = await repo.system_source(session)
    assert found is not None  # made here, or by the update it raced with
    return found


class SourceCache:
    """write key → source, remembered for ``source_cache_seconds`` (a disabled source stops
    that soon)."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._cache: TTLCache[str, SourceInfo | None] = TTLCache(rt.settings.source_cache_seconds)
        self._disabled_noted: dict[str, datetime] = {}

    def note_disabled_call(self, source_id: str) -> bool:
        """Whether to record this call of a disabled source among its refused calls: one a
        second at most per process. A leaked key, disabled, may go on being sent in a flood,
        and each record is a write transaction (on SQLite, the one writer's)."""
        now = self.rt.clock.now()
        last = self._disabled_noted.get(source_id)
        if last is not None and now - last < timedelta(seconds=1):
            return False
        self._disabled_noted[source_id] = now
        return True

    async def authenticate(self, write_key: str | None) -> SourceInfo:
        if not write_key:
            raise Unauthorized(
                "No write key: send it as the Basic-auth user name (or `writeKey` in a JSON "
                "body, `?writeKey=` on a GET). `omni sources create` makes one."
            )
        key_hash = digest(write_key)
        info = await self._cache.get(key_hash, lambda: self._load(key_hash))
        if info is None:
            if write_key.startswith(API_TOKEN_PREFIX):
                raise Unauthorized(
                    "That is an API token, for the profile API (`Authorization: Bearer …`), "
                    "not a source's write key (`omni sources list`)."
                )
            raise Unauthorized(
                "Unknown write key. Check the key, or create a source with `omni sources create`."
            )
        if info.disabled:
            raise SourceDisabled(info)
        return info

    async def _load(self, key_hash: str) -> SourceInfo | None:
        async with self.rt.db.read() as session:
            source = await repo.source_by_key_hash(session, key_hash)
        if source is None:
            return None
        return SourceInfo(source.id, source.name, source.kind, source.disabled_at is not None)
