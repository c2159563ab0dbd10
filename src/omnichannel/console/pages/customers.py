"""Customers: search, the 360 view, its timeline (filters, paging), split, GDPR export and erase.

Everything is read and changed through the profiles and identity services; this module only
shapes their answers for the page.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Form, Query, Request
from starlette.responses import Response

from omnichannel.console.responses import is_htmx, redirect
from omnichannel.console.security import Viewer, csrf, role, viewer
from omnichannel.console.templating import render
from omnichannel.errors import NotFound, refuse_unknown
from omnichannel.events.models import SOURCE_KINDS, Source
from omnichannel.events.schemas import MESSAGE_TYPES
from omnichannel.events.sources import list_sources
from omnichannel.identity import service as identity
from omnichannel.platform import Platform, get_platform
from omnichannel.profiles import service
from omnichannel.profiles.export import response as export_response
from omnichannel.profiles.search import search

router = APIRouter()
PAGE = 25
SEARCH_LENGTH = 200
SEARCH_HITS = 20
PERIODS = {"24h": timedelta(days=1), "7d": timedelta(days=7), "30d": timedelta(days=30)}
PERIODS |= {"90d": timedelta(days=90), "365d": timedelta(days=365)}


@router.get("/customers")
async def customers(
    request: Request,
    q: str = Query(""),
    who: Viewer = Depends(viewer),
    platform: Platform = Depends(get_platform),
) -> Response:
    q = q[:SEARCH_LENGTH]  # as the box allows (maxlength); a longer link searches its start
    async with platform.rt.db.read() as session:
        hits = await search(session, platform.rules, q, limit=SEARCH_HITS + 1)
    name = "customers/_results.html" if is_htmx(request) else "customers/search.html"
    context = {"viewer": who, "q": q, "hits": hits[:SEARCH_HITS], "search_length": SEARCH_LENGTH}
    context["more"] = len(hits) > SEARCH_HITS  # one more asked for, to know there are more
    return render(request, name, context)


def _channels(identities: list[Any], sources: dict[str, Source]) -> dict[str, list[Any]]:
    """Identifiers grouped by the channel of the source that first sent each."""
    grouped: dict[str, list[Any]] = defaultdict(list)
    for ident in identities:
        source = sources.get(ident.source_id or "")
        grouped[source.kind if source else "unknown"].append(ident)
    return dict(sorted(grouped.items()))


@router.get("/customers/{profile_id}")
async def profile(
    request: Request,
    profile_id: str,
    who: Viewer = Depends(viewer),
    platform: Platform = Depends(get_platform),
) -> Response:
    async with platform.rt.db.read() as session:
        try:
            data = await service.view(session, profile_id)
        except NotFound as exc:  # the API's words point at its lookup route
            raise NotFound(
                f"No customer {profile_id}: never here, or erased. Search on the Customers page."
            ) from exc
        items, cursor = await service.timeline(
            session, data["id"], limit=PAGE, cursor=None, channels=[], types=[], since=None,
            until=None,
        )  # fmt: skip
        merges = await service.merges(session, data["id"])
        sources = {s.id: s for s in await list_sources(session)}
    context = {
        "viewer": who,
        "p": data,
        "channels": _channels(data["identities"], sources),
        "sources": sources,
        "items": items,
        "cursor": cursor,
        "filters": {"channel": "", "type": "", "period": ""},
        "merges": list(reversed(merges)),
        "kinds": SOURCE_KINDS,
        "types": MESSAGE_TYPES,
        "periods": list(PERIODS),
    }
    return render(request, "customers/profile.html", context)


@router.get("/customers/{profile_id}/timeline")
async def timeline(
    request: Request,
    profile_id: str,
    channel: str = Query("", max_length=20),
    type: str = Query("", max_length=10),
    period: str = Query("", max_length=5),
    cursor: str | None = Query(None, max_length=200),
    who: Viewer = Depends(viewer),
    platform: Platform = Depends(get_platform),
) -> Response:
    """Rows of the timeline (an HTMX fragment): filtered, and paged by cursor."""
    since: datetime | None = None
    if period:
        refuse_unknown("period", [period], list(PERIODS))
        since = platform.rt.clock.now() - PERIODS[period]
    async with platform.rt.db.read() as session:
        items, next_cursor = await service.timeline(
            session,
            profile_id,
            limit=PAGE,
            cursor=cursor or None,
            channels=[channel] if channel else [],
            types=[type] if type else [],
            since=since,
            until=None,
        )
    filters = {"channel": channel, "type": type, "period": period}
    context = {"viewer": who, "items": items, "cursor": next_cursor, "filters": filters}
    context["profile_id"] = profile_id
    return render(request, "customers/_timeline_rows.html", context)


@router.post("/customers/{profile_id}/split", dependencies=[Depends(csrf)])
async def split(
    request: Request,
    profile_id: str,
    merge_id: str = Form(max_length=36),
    _: Viewer = role(),
    platform: Platform = Depends(get_platform),
) -> Response:
    """Undo one merge (admin); the page then shows the survivor, the split-off profile linked."""
    rt = platform.rt
    async with rt.db.write() as session:
        merge = await identity.split(rt, session, profile_id, merge_id)
    return redirect(request, f"/console/customers/{profile_id}?split={merge.loser_id}")


@router.get("/customers/{profile_id}/export")
async def export(
    profile_id: str, who: Viewer = role(), platform: Platform = Depends(get_platform)
) -> Response:
    """GDPR access (admin): the very document ``GET /v1/profiles/{id}/export`` answers."""
    download = {"Content-Disposition": f'attachment; filename="profile-{profile_id}.json"'}
    return await export_response(platform, profile_id, download)


@router.post("/customers/{profile_id}/erase", dependencies=[Depends(csrf)])
async def erase(
    request: Request,
    profile_id: str,
    who: Viewer = role(),
    platform: Platform = Depends(get_platform),
) -> Response:
    """GDPR erasure (admin): queued as a job; the worker deletes and suppresses."""
    rt = platform.rt
    async with rt.db.write() as session:
        job = await service.request_erasure(rt, session, profile_id)
    platform.work_waiting.set()
    return render(request, "customers/erased.html", {"viewer": who, "job": job})
