"""The key that signs session cookies: ``OMNI_SECRET_KEY``, else one generated once and shared.

A generated key is kept in ``console_settings`` so sessions survive a restart and every
``omni serve`` process behind a load balancer signs and checks cookies with the same key. The
first process to start inserts it; a racing second insert is ignored and both read the winner.
"""

from __future__ import annotations

import secrets

from sqlalchemy import select

from omnichannel.console.models import ConsoleSetting
from omnichannel.kit.orm import table_of
from omnichannel.kit.runtime import Runtime

SECRET_KEY = "session_secret"


async def session_secret(rt: Runtime) -> str:
    configured = rt.settings.secret_key
    if configured is not None:
        return configured.get_secret_value()
    table = table_of(ConsoleSetting)
    async with rt.db.write() as session:
        row = {"key": SECRET_KEY, "value": secrets.token_urlsafe(48), "created_at": rt.clock.now()}
        await session.execute(rt.db.insert(table).values(row).on_conflict_do_nothing())
        query = select(table.c.value).where(table.c.key == SECRET_KEY)
        return str((await session.execute(query)).scalar_one())
