"""GDPR access: everything held about a person, as one JSON document, streamed.

The document is the profile as the API shows it, its merges, the search terms that find it, and
every event in full, last. The events go out a page of ``PAGE`` at a time, each serialised and
sent before the next is read, so a customer with years of events is never held in memory whole
(30,000 events were 28 MB of JSON and ~85 MB of the server's memory built at once), and the
event loop serves other calls between pages. All of it is read in one read transaction, held
until the last page is sent: one consistent picture.

JSON through ``pydantic_core.to_json``, as FastAPI serialises the API's other answers (times
in UTC with a ``Z``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from pydantic_core import to_json
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import StreamingResponse

from omnichannel.events import history
from omnichannel.identity import service as identity
from omnichannel.platform import Platform
from omnichannel.profiles import search
from omnichannel.profiles.schemas import ConsentOut, IdentityOut, MergeOut
from omnichannel.profiles.service import live_id, view

PAGE = 1000


async def head(session: AsyncSession, profile_id: str) -> dict[str, Any]:
    """Everything but the events (NotFound for no such profile)."""
    data = await view(session, profile_id)
    members = [data["id"], *data["merged_ids"]]
    data["merges"] = await identity.merges_of(session, members)
    data["search_terms"] = await search.held_terms(session, members)
    for field, schema in (
        ("identities", IdentityOut),
        ("consents", ConsentOut),
        ("merges", MergeOut),
    ):
        data[field] = [schema.model_validate(row).model_dump() for row in data[field]]
    for merge in data["merges"]:
        if merge["loser_id"] not in members:  # split off: what it moved is the other person's
            merge["identities"], merge["trigger"] = [], ""
    return data


async def chunks(session: AsyncSession, data: dict[str, Any]) -> AsyncIterator[bytes]:
    """The document: ``data`` (``head``'s), then ``"events"``, a page at a time."""
    members = [data["id"], *data["merged_ids"]]
    yield to_json(data)[:-1] + b',"events":['
    cursor: str | None = None
    first = True
    while True:
        page, cursor = await history.timeline(
            session, members, limit=PAGE, cursor=cursor, full=True
        )
        if page:
            yield (b"" if first else b",") + to_json(page)[1:-1]  # the list's items
            first = False
        if cursor is None:
            break
    yield b"]}"


async def response(
    platform: Platform, profile_id: str, headers: dict[str, str] | None = None
) -> StreamingResponse:
    """The document as an HTTP answer: an unknown profile is a 404 before anything is sent. The
    read transaction is the body's own, opened when the first chunk is asked for and closed
    after the last (or when the client goes away), so none is left open by a client that
    leaves before the body starts. A profile erased in between ends the answer unfinished,
    which an HTTP client reports as an error, not as a shorter document."""
    async with platform.rt.db.read() as session:
        await live_id(session, profile_id)

    async def body() -> AsyncIterator[bytes]:
        async with platform.rt.db.read() as session:
            async for chunk in chunks(session, await head(session, profile_id)):
                yield chunk

    return StreamingResponse(body(), media_type="application/json", headers=headers)
