"""Consent changes and erasures that race each other, on both databases: PostgreSQL runs them
at once, SQLite one after the other, and both must end the same."""

from __future__ import annotations

import asyncio

import httpx
import orjson
import pytest
from sqlalchemy import func, select

from omnichannel.events.models import Event, Source
from omnichannel.kit import jobs
from omnichannel.profiles import service
from omnichannel.profiles.models import Consent
from omnichannel.profiles.schemas import ConsentIn
from tests.helpers import app_platform, basic, drain

pytestmark = pytest.mark.usefixtures("backend")
WITHDRAW = {"consents": [{"channel": "email", "purpose": "marketing", "granted": False}]}


async def customer(client: httpx.AsyncClient, key: str, user_id: str = "u1") -> str:
    body = {"batch": [{"type": "identify", "userId": user_id, "traits": {"email": "a@b.co"}}]}
    assert (await client.post("/v1/batch", auth=basic(key), content=orjson.dumps(body))).is_success
    await drain(client)
    platform = app_platform(client)
    async with platform.rt.db.read() as session:
        query = select(Event.profile_id).where(Event.user_id == user_id)
        profile_id = (await session.execute(query)).scalar_one()
    assert profile_id
    return str(profile_id)


async def test_first_consent_changes_at_once_make_one_system_source(
    app_client: httpx.AsyncClient, web_key: str, admin: dict[str, str]
) -> None:
    """Each first change made the API's source: two at once made two, and every profile read
    failed from then on (a subquery of more than one row), for every customer."""
    profiles = [await customer(app_client, web_key, f"u{n}") for n in range(6)]
    answers = await asyncio.gather(
        *(
            app_client.put(f"/v1/profiles/{p}/consents", json=WITHDRAW, headers=admin)
            for p in profiles
        )
    )
    assert [a.status_code for a in answers] == [200] * 6
    async with app_platform(app_client).rt.db.read() as session:
        systems = select(func.count()).select_from(Source).where(Source.is_system)
        assert (await session.execute(systems)).scalar_one() == 1
    read = await app_client.get(f"/v1/profiles/{profiles[0]}", headers=admin)
    assert read.status_code == 200


async def test_an_erasure_waits_for_a_consent_change_in_flight(
    app_client: httpx.AsyncClient, web_key: str, admin: dict[str, str]
) -> None:
    """A consent change that had begun when the erasure job started committed after it: the
    person's consent and its event stayed, on a profile erased."""
    platform = app_platform(app_client)
    rt = platform.rt
    profile_id = await customer(app_client, web_key)
    async with rt.db.write() as session:
        job = await service.request_erasure(rt, session, profile_id)
    payload = {"job_id": job.id, "profile_id": profile_id, "members": []}
    async with rt.db.write() as session:
        consent = ConsentIn(channel="email", purpose="marketing", granted=False)
        await service.set_consents(rt, session, profile_id, [consent], "token:ops")
        erasing = asyncio.create_task(service.erase(rt, payload))
        await asyncio.sleep(0.3)  # the job has started, and waits for the change
        assert not erasing.done()
    await erasing
    async with rt.db.read() as session:
        left = select(func.count()).select_from(Event).where(Event.profile_id == profile_id)
        assert (await session.execute(left)).scalar_one() == 0
        consents = select(func.count()).select_from(Consent)
        assert (await session.execute(consents)).scalar_one() == 0
    after = await app_client.put(
        f"/v1/profiles/{profile_id}/consents", json=WITHDRAW, headers=admin
    )
    assert after.status_code == 404


async def test_erasure_asked_at_once_is_one_job(
    app_client: httpx.AsyncClient, web_key: str, admin: dict[str, str]
) -> None:
    profile_id = await customer(app_client, web_key)
    asked = await asyncio.gather(
        *(app_client.delete(f"/v1/profiles/{profile_id}", headers=admin) for _ in range(4))
    )
    assert [a.status_code for a in asked] == [202] * 4
    assert len({a.json()["id"] for a in asked}) == 1
    await drain(app_client)
    # Asked once more after it ran (a retry, or another server's request that waited its turn
    # until then): the job that erased it, not a 404 that reads "there was no such customer".
    again = await app_client.delete(f"/v1/profiles/{profile_id}", headers=admin)
    assert again.status_code == 202, again.text
    assert (again.json()["id"], again.json()["status"]) == (asked[0].json()["id"], "done")
    unknown = await app_client.delete("/v1/profiles/no-such-profile", headers=admin)
    assert unknown.status_code == 404


async def test_an_erasure_run_again_keeps_what_it_did(
    app_client: httpx.AsyncClient, web_key: str
) -> None:
    """A worker killed after the erasure committed, before its outbox row was marked done, runs
    it again once the row's lease ends: that run overwrote the job's result with zeros."""
    rt = app_platform(app_client).rt
    profile_id = await customer(app_client, web_key)
    async with rt.db.write() as session:
        job = await service.request_erasure(rt, session, profile_id)
    payload = {"job_id": job.id, "profile_id": profile_id, "members": []}
    for _ in "12":
        await service.erase(rt, payload)
    async with rt.db.read() as session:
        done = await jobs.get_job(session, job.id)
    assert done is not None and done.status == "done"
    assert done.result == {"profiles": 1, "events": 1, "identifiers_suppressed": 2}


async def test_consent_changes_of_one_customer_at_once_all_land(
    app_client: httpx.AsyncClient, web_key: str, admin: dict[str, str]
) -> None:
    """Each change claims the profile (its version): one that found it claimed by another was a
    500, though run again it succeeds."""
    profile_id = await customer(app_client, web_key)
    channels = ("email", "sms", "push", "telegram", "whatsapp", "viber")
    answers = await asyncio.gather(
        *(
            app_client.put(
                f"/v1/profiles/{profile_id}/consents",
                json={"consents": [{"channel": channel, "granted": True}]},
                headers=admin,
            )
            for channel in channels
        )
    )
    assert [a.status_code for a in answers] == [200] * len(channels)
    view = await app_client.get(f"/v1/profiles/{profile_id}", headers=admin)
    assert {c["channel"] for c in view.json()["consents"]} == set(channels)
