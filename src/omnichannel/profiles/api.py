"""Profile routes (API token as Bearer): read, lookup, timeline, consents, merges, split, GDPR."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from omnichannel.apidocs.problems import problems
from omnichannel.auth.service import ANY_ROLE, Principal, require
from omnichannel.errors import NotFound
from omnichannel.events.models import SOURCE_KINDS
from omnichannel.events.schemas import MESSAGE_TYPES, UTCTime
from omnichannel.identity import service as identity
from omnichannel.kit import jobs
from omnichannel.kit.races import retrying
from omnichannel.platform import Platform, get_platform
from omnichannel.profiles import service
from omnichannel.profiles.export import response as export_response
from omnichannel.profiles.schemas import (
    ConsentsIn,
    JobOut,
    MergeOut,
    ProfileOut,
    SplitIn,
    TimelinePage,
)

# Every route takes a token, reads an id (or identifier) that may be unknown, and may be sent
# something invalid; those whose role may fall short add their 403.
router = APIRouter(prefix="/v1", tags=["profiles"], responses=problems(400, 401, 404))
MAY_REFUSE_THE_ROLE = problems(403)
# A consent change that lost a race with a merge of the profile, or with another change of it,
# is run again this many times in all before the client hears of it.
CHANGE_ATTEMPTS = 5


def any_of(values: tuple[str, ...]) -> dict[str, Any]:
    """A list filter's values, for the OpenAPI document (the route refuses others with a 400
    naming them, ``errors.refuse_unknown``)."""
    return {"items": {"type": "string", "enum": list(values)}}


@router.get("/profiles/lookup", response_model=ProfileOut)
async def lookup(
    type: str = Query(description="identifier type: email, phone, user_id, anonymous_id, …"),
    value: str = Query(min_length=1, max_length=255),
    platform: Platform = Depends(get_platform),
    _: Principal = Depends(ANY_ROLE),
) -> Any:
    """The profile holding an identifier, normalised as events are (emails lower-cased, E.164)."""
    async with platform.rt.db.read() as session:
        # view() follows the merge chain itself, so the identifier's holder is enough here.
        found = await identity.holder(session, platform.rules, type, value)
        if found is None:
            raise NotFound(f"No profile has {type} '{value}'.")
        return await service.view(session, found)


@router.get("/profiles/{profile_id}", response_model=ProfileOut)
async def get_profile(
    profile_id: str, platform: Platform = Depends(get_platform), _: Principal = Depends(ANY_ROLE)
) -> Any:
    """A profile; the id of a merged-away profile answers with the profile it was merged into."""
    async with platform.rt.db.read() as session:
        return await service.view(session, profile_id)


@router.get("/profiles/{profile_id}/timeline", response_model=TimelinePage)
async def timeline(
    profile_id: str,
    limit: int = Query(50, ge=1, le=500),
    cursor: str | None = None,
    channel: list[str] = Query(default=[], json_schema_extra=any_of(SOURCE_KINDS)),
    type: list[str] = Query(default=[], json_schema_extra=any_of(MESSAGE_TYPES)),
    since: UTCTime | None = Query(None, description="ISO 8601 (without a zone, UTC), or Unix time"),
    until: UTCTime | None = Query(None, description="ISO 8601 (without a zone, UTC), or Unix time"),
    platform: Platform = Depends(get_platform),
    _: Principal = Depends(ANY_ROLE),
) -> Any:
    """Events of the profile and every profile merged into it, newest first."""
    async with platform.rt.db.read() as session:
        items, next_cursor = await service.timeline(
            session,
            profile_id,
            limit=limit,
            cursor=cursor,
            channels=channel,
            types=type,
            since=since,
            until=until,
        )
    return {"items": items, "next_cursor": next_cursor}


@router.put(
    "/profiles/{profile_id}/consents", response_model=ProfileOut, responses=MAY_REFUSE_THE_ROLE
)
async def put_consents(
    profile_id: str,
    body: ConsentsIn,
    platform: Platform = Depends(get_platform),
    who: Principal = Depends(require("marketer", "agent")),
) -> Any:
    """Grant or withdraw consents; recorded in the timeline as who changed what."""
    rt = platform.rt

    async def change() -> str:
        async with rt.db.write() as session:
            return await service.set_consents(
                rt, session, profile_id, body.consents, f"token:{who.name}"
            )

    root = await retrying(change, CHANGE_ATTEMPTS)  # a merge or another change got there first
    async with rt.db.read() as session:
        return await service.view(session, root)


@router.get("/profiles/{profile_id}/merges", response_model=list[MergeOut])
async def merges(
    profile_id: str, platform: Platform = Depends(get_platform), _: Principal = Depends(ANY_ROLE)
) -> Any:
    """The merge history (audit trail) of the profile and everything merged into it."""
    async with platform.rt.db.read() as session:
        return await service.merges(session, profile_id)


@router.post("/profiles/{profile_id}/split", response_model=MergeOut, responses=problems(403, 409))
async def split(
    profile_id: str,
    body: SplitIn | None = None,
    platform: Platform = Depends(get_platform),
    _: Principal = Depends(require()),
) -> Any:
    """Undo a merge: of a merged-away id, its own; of a live id, ``merge_id`` or the latest."""
    rt = platform.rt
    async with rt.db.write() as session:
        return await identity.split(rt, session, profile_id, body.merge_id if body else None)


@router.get("/profiles/{profile_id}/export", responses=MAY_REFUSE_THE_ROLE)
async def export(
    profile_id: str, platform: Platform = Depends(get_platform), _: Principal = Depends(require())
) -> Any:
    """GDPR access: everything held about the person, as one JSON document (streamed: its
    events come last, a thousand at a time)."""
    return await export_response(platform, profile_id)


@router.delete(
    "/profiles/{profile_id}",
    response_model=JobOut,
    status_code=202,
    responses=MAY_REFUSE_THE_ROLE,
)
async def erase(
    profile_id: str, platform: Platform = Depends(get_platform), _: Principal = Depends(require())
) -> Any:
    """GDPR erasure: events, traits and identifiers go; the identifiers are suppressed for good."""
    rt = platform.rt
    async with rt.db.write() as session:
        job = await service.request_erasure(rt, session, profile_id)
    platform.work_waiting.set()
    return job


@router.get("/jobs/{job_id}", response_model=JobOut)
async def get_job(
    job_id: str, platform: Platform = Depends(get_platform), _: Principal = Depends(ANY_ROLE)
) -> Any:
    """A job the API started, to poll: a GDPR erasure (``kind`` ``erase``, ``subject`` the
    profile id), whose id ``DELETE /v1/profiles/{profile_id}`` answers with. ``status`` is
    ``queued`` until the worker has run it, then ``done``, with ``finished_at`` and a ``result``
    counting what went (``profiles``, ``events``, ``identifiers_suppressed``)."""
    async with platform.rt.db.read() as session:
        job = await jobs.get_job(session, job_id)
    if job is None:
        raise NotFound(f"No job {job_id}.")
    return job
