"""The profile API: unified view, lookup, timeline, consents, merges and split, GDPR, access."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import insert, select, text

from omnichannel.events import repository as events_repo
from omnichannel.events.models import DISCARDED, FAILED, SYSTEM_SOURCE, Event
from omnichannel.kit.clock import FrozenClock
from omnichannel.profiles.export import PAGE
from omnichannel.profiles.search_models import SearchTerm
from tests.helpers import (
    START,
    app_platform,
    basic,
    drain,
    make_source,
    make_token,
    table_counts,
)

pytestmark = pytest.mark.usefixtures("backend")


async def send(client: httpx.AsyncClient, key: str, *messages: dict[str, object]) -> None:
    body = {"batch": list(messages)}
    response = await client.post("/v1/batch", auth=basic(key), content=orjson.dumps(body))
    assert response.status_code == 200 and response.json()["success"], response.text
    await drain(client)


async def lookup(client: httpx.AsyncClient, admin: dict[str, str], type_: str, value: str) -> dict:
    response = await client.get(
        "/v1/profiles/lookup", params={"type": type_, "value": value}, headers=admin
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def assert_unknown(
    client: httpx.AsyncClient, admin: dict[str, str], *identifiers: tuple[str, str]
) -> None:
    """No profile holds any of these (type, value) identifiers."""
    for type_, value in identifiers:
        response = await client.get(
            "/v1/profiles/lookup", params={"type": type_, "value": value}, headers=admin
        )
        assert response.status_code == 404, (type_, value, response.text)


async def search_terms(client: httpx.AsyncClient) -> set[str]:
    async with app_platform(client).rt.db.read() as session:
        return set((await session.execute(select(SearchTerm.term))).scalars())


def at(minutes: int) -> str:
    """A time ``minutes`` into the hour before the tests' clock: no event is dated after its
    arrival (one that is is taken at its arrival)."""
    return (START - timedelta(hours=1) + timedelta(minutes=minutes)).isoformat()


async def test_profile_shows_identities_traits_consents_and_basics(
    app_client: httpx.AsyncClient, web_key: str, app_key: str, admin: dict[str, str]
) -> None:
    await send(
        app_client,
        web_key,
        {"type": "page", "anonymousId": "a1", "name": "Home", "timestamp": at(1)},
        {
            "type": "identify",
            "anonymousId": "a1",
            "userId": "u1",
            "timestamp": at(2),
            "traits": {
                "email": "Ann@Example.com",
                "name": "Ann",
                # A channel PUT …/consents would refuse is not a consent from an event either.
                "consents": {"email": {"marketing": True}, "sms": False, "pigeon": True},
            },
        },
    )
    await send(
        app_client,
        app_key,
        {"type": "identify", "userId": "u1", "timestamp": at(1), "traits": {"name": "Old name"}},
        {"type": "track", "userId": "u1", "event": "App Opened", "timestamp": at(3)},
    )
    profile = await lookup(app_client, admin, "email", " ANN@example.com")
    assert {(i["type"], i["value"]) for i in profile["identities"]} == {
        ("anonymous_id", "a1"),
        ("user_id", "u1"),
        ("email", "ann@example.com"),
    }
    # Last write wins by event time, not by arrival: the app's older name does not win.
    assert profile["traits"] == {"email": "Ann@Example.com", "name": "Ann"}
    assert {(c["channel"], c["purpose"], c["granted"]) for c in profile["consents"]} == {
        ("email", "marketing", True),
        ("sms", "marketing", False),
    }
    computed = profile["computed"]
    assert computed["events_total"] == 4
    assert computed["last_channel"] == "app"
    assert computed["channels"][0] in ("web", "app") and set(computed["channels"]) == {"web", "app"}
    assert computed["event_counts"] == {"page": 1, "identify": 2, "track": 1}
    assert computed["first_seen"].startswith(at(1)[:16])


async def test_lookup_of_unknown_identifier_is_404_and_bad_type_400(
    app_client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    missing = await app_client.get(
        "/v1/profiles/lookup", params={"type": "email", "value": "nobody@x.co"}, headers=admin
    )
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    bad = await app_client.get(
        "/v1/profiles/lookup", params={"type": "Bad Type!", "value": "x"}, headers=admin
    )
    assert bad.status_code == 400
    unknown = await app_client.get("/v1/profiles/nope", headers=admin)
    assert unknown.status_code == 404


async def test_the_timeline_shows_a_groups_id_and_an_alias_previous_id(
    app_client: httpx.AsyncClient, web_key: str, admin: dict[str, str]
) -> None:
    company = "company-" + "x" * 240  # longer than the log's name column keeps
    await send(
        app_client,
        web_key,
        {"type": "group", "userId": "u1", "groupId": company, "timestamp": at(1)},
        {"type": "alias", "userId": "u1", "previousId": "visitor-7", "timestamp": at(2)},
    )
    profile = await lookup(app_client, admin, "user_id", "u1")
    page = await app_client.get(f"/v1/profiles/{profile['id']}/timeline", headers=admin)
    assert [(e["type"], e["group_id"], e["previous_id"]) for e in page.json()["items"]] == [
        ("alias", None, "visitor-7"),
        ("group", company, None),
    ]


async def test_lookup_takes_a_type_spelt_as_events_spell_it(
    app_client: httpx.AsyncClient, web_key: str, admin: dict[str, str]
) -> None:
    await send(
        app_client,
        web_key,
        {"type": "identify", "userId": "u1",
         "traits": {"telegramId": "555", "phoneNumber": "067 123 45 67"},
         "context": {"externalIds": [{"id": "C-9", "type": "shopifyCustomerId"}]}},
    )  # fmt: skip
    found = {
        (await lookup(app_client, admin, type_, value))["id"]
        for type_, value in (("telegramId", "555"), ("telegram_id", "555"),
                             ("phoneNumber", "0671234567"), ("phone", "+380671234567"),
                             ("shopifyCustomerId", "C-9"), ("shopify_customer_id", "C-9"))
    }  # fmt: skip
    assert len(found) == 1


async def test_timeline_spans_merged_profiles_newest_first_with_cursor(
    app_client: httpx.AsyncClient, web_key: str, app_key: str, admin: dict[str, str]
) -> None:
    await send(
        app_client,
        web_key,
        *[
            {"type": "track", "anonymousId": "a1", "event": f"Web {i}", "timestamp": at(i)}
            for i in range(5)
        ],
    )
    await send(
        app_client,
        app_key,
        {"type": "track", "anonymousId": "d9", "event": "App", "timestamp": at(10)},
        {"type": "identify", "anonymousId": "d9", "userId": "u1", "timestamp": at(11)},
    )
    await send(
        app_client,
        web_key,
        {"type": "identify", "anonymousId": "a1", "userId": "u1", "timestamp": at(12)},
    )
    profile = await lookup(app_client, admin, "user_id", "u1")
    assert len(profile["merged_ids"]) == 1
    seen, cursor = [], None
    while True:
        params: dict[str, object] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = (
            await app_client.get(
                f"/v1/profiles/{profile['id']}/timeline", params=params, headers=admin
            )
        ).json()
        seen.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    stamps = [e["timestamp"] for e in seen]
    assert stamps == sorted(stamps, reverse=True)
    assert len(seen) == 8
    assert [e["channel"] for e in seen[:4]] == ["web", "app", "app", "web"]
    first = seen[-1]
    assert (first["type"], first["event"], first["source"]) == ("track", "Web 0", "Web")
    filtered = (
        await app_client.get(
            f"/v1/profiles/{profile['id']}/timeline",
            params={"channel": "app", "type": "track"},
            headers=admin,
        )
    ).json()
    assert [e["event"] for e in filtered["items"]] == ["App"]
    # Garbage, and cursors made up to look like ours: a list of the wrong shape, a time
    # without a zone, an id past any integer column.
    # And a time that UTC cannot hold, and JSON's true for an id (a 500 both, once).
    made_up = [["notadate", 1], [1, 2], [None, None], ["2024-01-01", 5], [START.isoformat(), 2**70],
               ["0001-01-01T00:00:00+14:00", 1], [START.isoformat(), True]]  # fmt: skip
    for cursor in ["garbage", *(made_cursor(key) for key in made_up)]:
        bad = await app_client.get(
            f"/v1/profiles/{profile['id']}/timeline", params={"cursor": cursor}, headers=admin
        )
        assert bad.status_code == 400, (cursor, bad.text)
        assert bad.json()["errors"][0]["field"] == "cursor"


def made_cursor(key: list[Any]) -> str:
    """A cursor as ours are made (base64 of a JSON list), of any key, even one orjson refuses."""
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


async def test_merged_id_answers_with_the_survivor(
    app_client: httpx.AsyncClient, web_key: str, admin: dict[str, str]
) -> None:
    await send(app_client, web_key, {"type": "track", "anonymousId": "a1", "event": "E"})
    anonymous = await lookup(app_client, admin, "anonymous_id", "a1")
    await send(app_client, web_key, {"type": "track", "userId": "u1", "event": "E"})
    await send(app_client, web_key, {"type": "identify", "userId": "u1", "anonymousId": "a1"})
    survivor = await lookup(app_client, admin, "user_id", "u1")
    again = (await app_client.get(f"/v1/profiles/{anonymous['id']}", headers=admin)).json()
    assert again["id"] == survivor["id"] != anonymous["id"]
    assert anonymous["id"] in again["merged_ids"]


async def test_split_by_api_undoes_the_merge_and_rebuilds_traits(
    app_client: httpx.AsyncClient, web_key: str, admin: dict[str, str]
) -> None:
    await send(
        app_client,
        web_key,
        {"type": "identify", "anonymousId": "a1", "timestamp": at(1), "traits": {"city": "Lviv"}},
        {"type": "identify", "userId": "u1", "timestamp": at(0), "traits": {"city": "Kyiv"}},
    )
    await send(app_client, web_key, {"type": "alias", "userId": "u1", "previousId": "a1"})
    merged = await lookup(app_client, admin, "user_id", "u1")
    assert merged["traits"]["city"] == "Lviv"
    merges = (await app_client.get(f"/v1/profiles/{merged['id']}/merges", headers=admin)).json()
    assert len(merges) == 1
    response = await app_client.post(f"/v1/profiles/{merged['id']}/split", headers=admin)
    assert response.status_code == 200, response.text
    assert response.json()["split_at"] is not None
    user = await lookup(app_client, admin, "user_id", "u1")
    anonymous = await lookup(app_client, admin, "anonymous_id", "a1")
    assert user["id"] != anonymous["id"]
    assert (user["traits"]["city"], anonymous["traits"]["city"]) == ("Kyiv", "Lviv")
    again = await app_client.post(
        f"/v1/profiles/{merged['id']}/split", json={"merge_id": merges[0]["id"]}, headers=admin
    )
    assert again.status_code == 409
    nothing = await app_client.post(f"/v1/profiles/{user['id']}/split", headers=admin)
    assert nothing.status_code == 404


async def test_a_split_is_not_stopped_by_an_event_with_a_null_context(
    app_client: httpx.AsyncClient, web_key: str, admin: dict[str, str]
) -> None:
    """``"context": null`` is a message without one; in the split's handler it was a 500, every
    time, so whoever joined two customers could make it impossible to undo."""
    await send(app_client, web_key, {"type": "track", "anonymousId": "a1", "event": "Viewed"})
    await send(
        app_client, web_key, {"type": "identify", "userId": "u1", "traits": {"email": "o@x.ua"}}
    )
    await send(
        app_client,
        web_key,
        {"type": "identify", "anonymousId": "a1", "traits": {"email": "o@x.ua"}},
    )
    await send(
        app_client, web_key, {"type": "track", "anonymousId": "a1", "event": "E", "context": None}
    )
    merged = await lookup(app_client, admin, "user_id", "u1")
    assert merged["merged_ids"]
    response = await app_client.post(f"/v1/profiles/{merged['id']}/split", headers=admin)
    assert response.status_code == 200, response.text


async def test_a_split_gives_back_the_events_made_while_merged(
    app_client: httpx.AsyncClient, web_key: str, admin: dict[str, str]
) -> None:
    """A wrong link merges Bruno into Alice; Bruno goes on shopping on his device, and gives a
    new e-mail there; an agent records his consent. Undone, his order, his new traits, the new
    e-mail and the consent are his again; the event that made the link stays with Alice, and so
    does the phone she gave meanwhile."""
    await send(
        app_client,
        web_key,
        {"type": "identify", "userId": "ua", "traits": {"name": "Alice"}, "timestamp": at(0)},
        {"type": "identify", "anonymousId": "bdev9", "timestamp": at(1),
         "traits": {"email": "bruno@b.co", "name": "Bruno"}},
    )  # fmt: skip
    bruno = await lookup(app_client, admin, "anonymous_id", "bdev9")
    await send(app_client, web_key, {"type": "identify", "userId": "ua", "anonymousId": "bdev9",
                                     "timestamp": at(2)})  # fmt: skip
    clock = app_platform(app_client).rt.clock
    assert isinstance(clock, FrozenClock)
    clock.advance(timedelta(seconds=30))  # what comes now, the graph takes in after the merge
    await send(
        app_client,
        web_key,
        {"type": "identify", "anonymousId": "bdev9", "timestamp": at(3),
         "traits": {"name": "Bruno Brown", "city": "Lviv"}},
        {"type": "track", "anonymousId": "bdev9", "event": "Order Completed", "timestamp": at(4)},
        {"type": "identify", "anonymousId": "bdev9", "timestamp": at(5),
         "traits": {"email": "bruno.new@b.co"}, "context": {"device": {"id": "bphone"}}},
        {"type": "identify", "userId": "ua", "timestamp": at(6),
         "traits": {"phone": "+380501112233"}},
    )  # fmt: skip
    consent = {"consents": [{"channel": "sms", "purpose": "marketing", "granted": False}]}
    put = await app_client.put(f"/v1/profiles/{bruno['id']}/consents", json=consent, headers=admin)
    assert put.status_code == 200, put.text
    split = await app_client.post(f"/v1/profiles/{bruno['id']}/split", headers=admin)
    assert split.status_code == 200, split.text
    alice = await lookup(app_client, admin, "user_id", "ua")
    bruno = await lookup(app_client, admin, "anonymous_id", "bdev9")
    assert alice["traits"] == {"name": "Alice", "phone": "+380501112233"}
    assert bruno["traits"] == {"name": "Bruno Brown", "city": "Lviv", "email": "bruno.new@b.co"}
    for type_, value in (("email", "bruno.new@b.co"), ("device_id", "bphone")):
        assert (await lookup(app_client, admin, type_, value))["id"] == bruno["id"]
    assert (await lookup(app_client, admin, "phone", "+380501112233"))["id"] == alice["id"]
    assert [(c["channel"], c["granted"]) for c in bruno["consents"]] == [("sms", False)]
    assert alice["consents"] == []

    async def events_of(profile: dict[str, Any]) -> list[tuple[str, str | None]]:
        page = await app_client.get(f"/v1/profiles/{profile['id']}/timeline", headers=admin)
        return [(e["channel"], e.get("event")) for e in page.json()["items"]]

    assert await events_of(bruno) == [("server", None), ("web", None), ("web", "Order Completed"),
                                      ("web", None), ("web", None)]  # fmt: skip
    assert await events_of(alice) == [("web", None)] * 3
    assert bruno["computed"]["event_counts"] == {"identify": 3, "track": 1}
    # Alice's GDPR export names none of Bruno's identifiers in the merge it keeps a trace of;
    # once Bruno is erased, neither does the event that made the link.
    export = (await app_client.get(f"/v1/profiles/{alice['id']}/export", headers=admin)).json()
    assert [(m["identities"], m["trigger"]) for m in export["merges"]] == [([], "")]
    erase = await app_client.delete(f"/v1/profiles/{bruno['id']}", headers=admin)
    await drain(app_client)
    job = (await app_client.get(f"/v1/jobs/{erase.json()['id']}", headers=admin)).json()
    assert job["result"] == {"profiles": 1, "events": 5, "identifiers_suppressed": 4}
    export = (await app_client.get(f"/v1/profiles/{alice['id']}/export", headers=admin)).json()
    assert "bdev9" not in orjson.dumps(export).decode()  # a "v": in no id or time
    link = next(
        e
        for e in export["events"]
        if e["type"] == "identify" and e["timestamp"] == at(2).replace("+00:00", "Z")
    )
    assert link["payload"]["userId"] == "ua" and "anonymousId" not in link["payload"]


async def test_a_split_tells_what_came_while_merged_by_the_servers_clock(
    app_client: httpx.AsyncClient, web_key: str, admin: dict[str, str]
) -> None:
    """Told by the events' own times, a link imported days late made Alice's e-mail look new,
    and the split gave it to Bruno; Bruno's e-mail from his tablet's offline queue, dated before
    the link, looked old and stayed with Alice."""
    clock = app_platform(app_client).rt.clock
    assert isinstance(clock, FrozenClock)
    await send(
        app_client,
        web_key,
        {"type": "identify", "userId": "ua", "traits": {"email": "alice@a.co"}, "timestamp": at(0)},
        {"type": "page", "anonymousId": "bdev9", "timestamp": at(1)},
    )
    bruno = await lookup(app_client, admin, "anonymous_id", "bdev9")
    clock.advance(timedelta(minutes=5))
    days_ago = START - timedelta(days=3)
    await send(app_client, web_key, {"type": "identify", "userId": "ua", "anonymousId": "bdev9",
                                     "timestamp": days_ago.isoformat()})  # fmt: skip
    clock.advance(timedelta(minutes=5))
    await send(
        app_client,
        web_key,
        # Alice, on Bruno's tablet, signed out, gives her own e-mail, held since before the link.
        {"type": "identify", "anonymousId": "bdev9", "traits": {"email": "alice@a.co"},
         "timestamp": at(12)},
        # The tablet's offline queue: an e-mail Bruno gave before the link was made.
        {"type": "identify", "anonymousId": "bdev9", "traits": {"email": "bruno@b.co"},
         "timestamp": (days_ago - timedelta(hours=1)).isoformat()},
    )  # fmt: skip
    split = await app_client.post(f"/v1/profiles/{bruno['id']}/split", headers=admin)
    assert split.status_code == 200, split.text
    alice = await lookup(app_client, admin, "user_id", "ua")
    assert (await lookup(app_client, admin, "email", "alice@a.co"))["id"] == alice["id"]
    assert (await lookup(app_client, admin, "email", "bruno@b.co"))["id"] == bruno["id"]


async def test_a_split_gives_back_what_came_after_the_merge_in_its_own_batch(
    app_client: httpx.AsyncClient, web_key: str, admin: dict[str, str]
) -> None:
    """The link and the other person's e-mail in one batch: taken in at the same moment as the
    merge, the e-mail stayed on the survivor. Within a transaction, the log's order tells."""
    await send(
        app_client,
        web_key,
        {"type": "page", "anonymousId": "bdev9", "timestamp": at(0)},
        {"type": "page", "userId": "ua", "timestamp": at(0)},
    )
    bruno = await lookup(app_client, admin, "anonymous_id", "bdev9")
    await send(
        app_client,
        web_key,
        {"type": "identify", "userId": "ua", "anonymousId": "bdev9", "timestamp": at(1)},
        {"type": "identify", "anonymousId": "bdev9", "traits": {"email": "bruno@b.co"},
         "timestamp": at(2)},
    )  # fmt: skip
    split = await app_client.post(f"/v1/profiles/{bruno['id']}/split", headers=admin)
    assert split.status_code == 200, split.text
    assert (await lookup(app_client, admin, "email", "bruno@b.co"))["id"] == bruno["id"]


async def test_a_merge_deeper_in_a_chain_splits_from_the_live_profile(
    app_client: httpx.AsyncClient, web_key: str, admin: dict[str, str]
) -> None:
    """P2 merged into P1, then P1 into P4: the live P4 lists both merges, and either can be
    undone from it, as the console's Split buttons there do."""
    await send(
        app_client,
        web_key,
        {"type": "identify", "anonymousId": "p1", "traits": {"email": "e@z.co"}},
        {"type": "identify", "anonymousId": "p2"},
        {"type": "identify", "userId": "u4"},
    )
    p2 = await lookup(app_client, admin, "anonymous_id", "p2")
    await send(
        app_client,
        web_key,
        {"type": "identify", "anonymousId": "p2", "traits": {"email": "e@z.co"}},
    )
    await send(
        app_client, web_key, {"type": "identify", "userId": "u4", "traits": {"email": "e@z.co"}}
    )
    p4 = await lookup(app_client, admin, "user_id", "u4")
    merges = (await app_client.get(f"/v1/profiles/{p4['id']}/merges", headers=admin)).json()
    inner = next(m for m in merges if m["loser_id"] == p2["id"])
    split = await app_client.post(
        f"/v1/profiles/{p4['id']}/split", json={"merge_id": inner["id"]}, headers=admin
    )
    assert split.status_code == 200, split.text
    assert (await lookup(app_client, admin, "anonymous_id", "p2"))["id"] == p2["id"]
    assert (await lookup(app_client, admin, "anonymous_id", "p1"))["id"] == p4["id"]


async def test_timeline_takes_times_without_a_zone_as_utc_and_refuses_unknown_names(
    app_client: httpx.AsyncClient, web_key: str, admin: dict[str, str]
) -> None:
    await send(
        app_client,
        web_key,
        *[
            {"type": "track", "userId": "u1", "event": f"E{i}", "timestamp": at(i)}
            for i in range(5)
        ],
    )
    profile = await lookup(app_client, admin, "user_id", "u1")
    since = datetime.fromisoformat(at(2)).replace(tzinfo=None).isoformat()
    events = {}
    for name, params in {
        "naive": {"since": since},
        "utc": {"since": since + "Z"},
        "dates": {"since": START.date().isoformat(), "until": "2100-01-01"},
        "unix": {"since": str(int(datetime.fromisoformat(at(2)).timestamp()))},
    }.items():
        page = await app_client.get(
            f"/v1/profiles/{profile['id']}/timeline", params=params, headers=admin
        )
        assert page.status_code == 200, page.text
        events[name] = [e["event"] for e in page.json()["items"]]
    assert events == {
        "naive": ["E4", "E3", "E2"],
        "utc": ["E4", "E3", "E2"],
        "dates": ["E4", "E3", "E2", "E1", "E0"],
        "unix": ["E4", "E3", "E2"],
    }
    for field in ("type", "channel"):
        bogus = await app_client.get(
            f"/v1/profiles/{profile['id']}/timeline", params={field: "bogus"}, headers=admin
        )
        assert bogus.status_code == 400
        assert bogus.json()["errors"][0]["field"] == field
    # In year 0 once in UTC: a 400 naming the filter, not a server error.
    for field, value in (("until", "0001-01-01T00:00:00+01:00"), ("since", "tomorrow")):
        bogus = await app_client.get(
            f"/v1/profiles/{profile['id']}/timeline", params={field: value}, headers=admin
        )
        assert bogus.status_code == 400, bogus.text
        assert bogus.json()["errors"][0]["field"] == field


async def test_consents_put_is_applied_and_recorded_in_the_timeline(
    app_client: httpx.AsyncClient, web_key: str
) -> None:
    platform = app_platform(app_client)
    agent = await make_token(platform, "agent")
    await send(
        app_client,
        web_key,
        {"type": "identify", "userId": "u1", "traits": {"consents": {"email": True}}},
    )
    profile = await lookup(app_client, agent, "user_id", "u1")
    assert isinstance(platform.rt.clock, FrozenClock)
    platform.rt.clock.advance(timedelta(minutes=5))
    body = {"consents": [{"channel": "email", "purpose": "marketing", "granted": False}]}
    response = await app_client.put(
        f"/v1/profiles/{profile['id']}/consents", json=body, headers=agent
    )
    assert response.status_code == 200, response.text
    assert [(c["channel"], c["granted"]) for c in response.json()["consents"]] == [("email", False)]
    timeline = (
        await app_client.get(f"/v1/profiles/{profile['id']}/timeline", headers=agent)
    ).json()
    assert timeline["items"][0]["channel"] == "server"
    assert timeline["items"][0]["traits"] == {"consents": {"email": {"marketing": False}}}
    assert timeline["items"][0]["actor"].startswith("token:")  # who changed it
    # An agent's change is not the customer's activity: the basics stay the customer's own.
    computed = response.json()["computed"]
    assert (computed["events_total"], computed["channels"]) == (1, ["web"])
    assert computed["last_seen"] == computed["first_seen"]
    bad = await app_client.put(
        f"/v1/profiles/{profile['id']}/consents",
        json={"consents": [{"channel": "pigeon", "granted": True}]},
        headers=agent,
    )
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "consents[0].channel"
    for loose in ("no", 1, None):  # a record of consent is a JSON boolean or nothing
        vague = await app_client.put(
            f"/v1/profiles/{profile['id']}/consents",
            json={"consents": [{"channel": "email", "granted": loose}]},
            headers=agent,
        )
        assert vague.status_code == 400, vague.text
        assert vague.json()["errors"][0]["field"] == "consents[0].granted"


async def test_an_event_an_older_release_took_with_text_for_traits_reads_back(
    app_client: httpx.AsyncClient, web_key: str, admin: dict[str, str]
) -> None:
    """Ingestion refuses such an event now; one already in the log made its customer's
    timeline a 500."""
    await send(app_client, web_key, {"type": "track", "userId": "u1", "event": "E"})
    platform = app_platform(app_client)
    async with platform.rt.db.write() as session:
        [event] = (await session.execute(select(Event))).scalars()
        event.payload = {**event.payload, "traits": "x", "properties": [1]}
    profile = await lookup(app_client, admin, "user_id", "u1")
    answer = await app_client.get(f"/v1/profiles/{profile['id']}/timeline", headers=admin)
    assert answer.status_code == 200, answer.text
    assert [(e["traits"], e["properties"]) for e in answer.json()["items"]] == [({}, {})]


async def test_a_body_over_a_megabyte_is_a_413_on_every_other_route(
    app_client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    """Read whole before the token was even checked, 300 MB bodies filled the memory."""
    read: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        for n in range(1000):
            read.append(n)
            yield b" " * 65536

    for body in (chunks(), b" " * (1024 * 1024 + 1)):
        answer = await app_client.post("/v1/profiles/p/split", content=body, headers=admin)
        assert answer.status_code == 413, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
    assert len(read) < 40  # 1 MB is 16 of them


async def test_only_the_apis_own_changes_name_who_made_them(
    app_client: httpx.AsyncClient, web_key: str, admin: dict[str, str]
) -> None:
    """A write key is public: an event saying ``context.actor`` is "token:crm" was shown as a
    consent change the CRM made."""
    forged = {"type": "identify", "userId": "u1", "context": {"actor": "token:crm"},
              "traits": {"consents": {"email": True}}}  # fmt: skip
    await send(app_client, web_key, forged)
    profile = await lookup(app_client, admin, "user_id", "u1")
    timeline = (
        await app_client.get(f"/v1/profiles/{profile['id']}/timeline", headers=admin)
    ).json()
    assert [(e["source"], e["actor"]) for e in timeline["items"]] == [("Web", None)]


async def test_an_event_dated_ahead_does_not_outrank_what_comes_after_it(
    app_client: httpx.AsyncClient, web_key: str, admin: dict[str, str]
) -> None:
    """A grant dated 23 hours ahead (a write key is public; or a till's clock) beat the
    customer's own opt-out a minute later, and a till's city two hours ahead beat the one the
    customer typed on the web: last write wins went by times after the event's arrival."""
    clock = app_platform(app_client).rt.clock
    assert isinstance(clock, FrozenClock)
    ahead = {"type": "identify", "userId": "u1", "timestamp": at(60 + 23 * 60),
             "traits": {"city": "Lviv", "consents": {"email": True}}}  # fmt: skip
    await send(app_client, web_key, ahead)
    clock.advance(timedelta(minutes=1))
    now = {"type": "identify", "userId": "u1", "timestamp": clock.now().isoformat(),
           "traits": {"city": "Kyiv", "consents": {"email": False}}}  # fmt: skip
    await send(app_client, web_key, now)
    profile = await lookup(app_client, admin, "user_id", "u1")
    assert profile["traits"]["city"] == "Kyiv"
    assert [(c["channel"], c["granted"]) for c in profile["consents"]] == [("email", False)]
    assert profile["computed"]["last_seen"] == clock.now().isoformat().replace("+00:00", "Z")


async def test_a_consent_put_is_the_last_word_over_an_event_dated_ahead(
    app_client: httpx.AsyncClient, web_key: str
) -> None:
    """A till sends its local time with no zone, read as UTC two hours ahead; an agent then
    records the customer's withdrawal. It applies, and is not answered 200 and lost. The other
    consent the agent sets, which the web set on time, is dated now, not pulled ahead with it:
    the customer's own opt-in a minute later stands."""
    platform = app_platform(app_client)
    clock = platform.rt.clock
    assert isinstance(clock, FrozenClock)
    agent = await make_token(platform, "agent")
    ahead = (clock.now() + timedelta(hours=2)).isoformat()
    await send(
        app_client,
        web_key,
        {"type": "identify", "userId": "u1", "timestamp": ahead,
         "traits": {"consents": {"email": True, "push": True}}},
        {"type": "identify", "userId": "u1", "traits": {"consents": {"sms": True}}},
    )  # fmt: skip
    profile = await lookup(app_client, agent, "user_id", "u1")
    body = {"consents": [{"channel": channel, "purpose": "marketing", "granted": False}
                         for channel in ("email", "sms")]}  # fmt: skip
    response = await app_client.put(
        f"/v1/profiles/{profile['id']}/consents", json=body, headers=agent
    )
    assert response.status_code == 200, response.text
    granted = {c["channel"]: c["granted"] for c in response.json()["consents"]}
    assert granted == {"email": False, "sms": False, "push": True}
    clock.advance(timedelta(minutes=1))
    await send(
        app_client,
        web_key,
        {"type": "identify", "userId": "u1", "traits": {"consents": {"sms": True}}},
    )
    again = await lookup(app_client, agent, "user_id", "u1")
    assert {c["channel"]: c["granted"] for c in again["consents"]}["sms"] is True


async def test_a_source_named_as_the_apis_own_is_a_touchpoint_like_any_other(
    app_client: httpx.AsyncClient,
) -> None:
    """The API's own changes have a source marked as such. A source someone names as it, before
    the first change or after, is a touchpoint: found by name, its events counted as the API's
    changes, and a second one made every profile read a 503 on PostgreSQL."""
    platform = app_platform(app_client)
    agent = await make_token(platform, "agent")
    body = {"consents": [{"channel": "email", "purpose": "marketing", "granted": False}]}
    sources = []
    for event in ("Paid", "Paid again"):
        sources.append(await make_source(platform, "pos", SYSTEM_SOURCE))
        await send(app_client, sources[-1], {"type": "track", "userId": "u1", "event": event})
        profile = await lookup(app_client, agent, "user_id", "u1")
        url = f"/v1/profiles/{profile['id']}/consents"
        assert (await app_client.put(url, json=body, headers=agent)).status_code == 200
    profile = await lookup(app_client, agent, "user_id", "u1")
    assert (profile["computed"]["events_total"], profile["computed"]["channels"]) == (2, ["pos"])
    timeline = await app_client.get(f"/v1/profiles/{profile['id']}/timeline", headers=agent)
    items = timeline.json()["items"]
    assert [item["channel"] for item in items] == ["server", "pos", "server", "pos"]
    async with platform.rt.db.read() as session:  # both POS sources, and the API's own
        assert len(set((await session.execute(select(Event.source_id))).scalars())) == 3


async def test_export_holds_everything_and_erase_forgets_for_good(
    app_client: httpx.AsyncClient, web_key: str, admin: dict[str, str]
) -> None:
    await send(
        app_client,
        web_key,
        {"type": "identify", "anonymousId": "a1", "traits": {"email": "gone@x.co"}},
        {"type": "identify", "userId": "u1", "anonymousId": "a1", "traits": {"name": "Gone"}},
        {"type": "track", "userId": "u1", "event": "Order Completed", "properties": {"revenue": 5}},
        {"type": "identify", "userId": "u2", "traits": {"name": "Stays"}},
    )
    profile = await lookup(app_client, admin, "user_id", "u1")
    export = (await app_client.get(f"/v1/profiles/{profile['id']}/export", headers=admin)).json()
    assert len(export["events"]) == 3
    assert export["events"][0]["payload"]["properties"] == {"revenue": 5}
    assert {i["value"] for i in export["identities"]} == {"a1", "u1", "gone@x.co"}
    taken_in = {i["value"]: i["created_by_event"] for i in export["identities"]}
    first = min(e["id"] for e in export["events"])
    assert taken_in == {"a1": first, "gone@x.co": first, "u1": first + 1}
    assert export["search_terms"] == ["gone", "gone@x.co"]  # what finds them in the console
    erase = await app_client.delete(f"/v1/profiles/{profile['id']}", headers=admin)
    assert erase.status_code == 202
    job = erase.json()
    assert job["status"] == "queued"
    await drain(app_client)
    done = (await app_client.get(f"/v1/jobs/{job['id']}", headers=admin)).json()
    assert done["status"] == "done"
    assert done["result"] == {"profiles": 1, "events": 3, "identifiers_suppressed": 3}
    gone = await app_client.get(f"/v1/profiles/{profile['id']}", headers=admin)
    assert gone.status_code == 404
    # The erased identifiers don't come back: a new event carrying only them is dropped,
    # and one that also carries a new identifier keeps only the new one. But the erased user
    # id is the person's account: their app's next identify, with a new e-mail and device, is
    # theirs and dropped whole, or it would start a profile with their name again.
    await send(
        app_client,
        web_key,
        {"type": "track", "userId": "u1", "event": "Came back"},
        {"type": "identify", "anonymousId": "fresh", "traits": {"email": "gone@x.co"}},
        {
            "type": "identify",
            "userId": "u1",
            "traits": {"email": "new@x.co", "name": "Gone"},
            "context": {"device": {"id": "phone-9"}},
        },
    )
    await assert_unknown(
        app_client, admin, ("user_id", "u1"), ("email", "new@x.co"), ("device_id", "phone-9")
    )
    fresh = await lookup(app_client, admin, "anonymous_id", "fresh")
    assert [i["type"] for i in fresh["identities"]] == ["anonymous_id"]
    assert "email" not in fresh["traits"]  # not even as a trait, nor searchable
    counts = await table_counts(app_platform(app_client))
    assert counts["profiles"] == 2  # u2 and the fresh visitor
    # Nor do they stay in the log: the events of u1 keep only their message id.
    async with app_platform(app_client).rt.db.read() as session:
        rows = (await session.execute(select(Event).order_by(Event.id.desc()).limit(3))).scalars()
        identified, identify, came_back = list(rows)
    for own in (came_back, identified):
        assert (own.user_id, own.name, set(own.payload)) == (None, None, {"type", "messageId"})
    assert identify.payload["traits"] == {} and identify.anonymous_id == "fresh"
    assert "gone@x.co" not in await search_terms(app_client)
    # An alias from the erased anonymous id: read as a user id instead, it would come back.
    await send(app_client, web_key, {"type": "alias", "userId": "z9", "previousId": "a1"})
    await assert_unknown(app_client, admin, ("user_id", "a1"), ("anonymous_id", "a1"))
    new = await lookup(app_client, admin, "user_id", "z9")
    assert [(i["type"], i["value"]) for i in new["identities"]] == [("user_id", "z9")]
    async with app_platform(app_client).rt.db.read() as session:
        alias = (await session.execute(select(Event).where(Event.type == "alias"))).scalar_one()
    assert (alias.name, "previousId" in alias.payload) == (None, False)  # its name was "a1"


async def test_an_export_streams_every_event_a_page_at_a_time(
    app_client: httpx.AsyncClient, web_key: str, admin: dict[str, str]
) -> None:
    """More events than a page: one valid document, each event once, newest first."""
    many = [{"type": "track", "userId": "u1", "event": f"E{n}", "timestamp": at(0)}
            for n in range(PAGE * 2 + 5)]  # fmt: skip
    await send(app_client, web_key, *many)
    profile = await lookup(app_client, admin, "user_id", "u1")
    answer = await app_client.get(f"/v1/profiles/{profile['id']}/export", headers=admin)
    assert answer.headers["content-type"] == "application/json"
    document = orjson.loads(answer.content)
    assert [e["event"] for e in document["events"]] == [f"E{n}" for n in reversed(range(len(many)))]
    assert document["id"] == profile["id"] and document["identities"][0]["value"] == "u1"
    unknown = await app_client.get("/v1/profiles/nobody/export", headers=admin)
    assert unknown.status_code == 404


async def test_an_erasure_takes_what_a_merge_joined_before_it_ran(
    app_client: httpx.AsyncClient, web_key: str, admin: dict[str, str]
) -> None:
    """Ann asks to be erased; before the job runs, an identify of another customer record
    brings her email, and her profile is merged into it. The job erases the person as the graph
    now holds her: that profile too. Asked twice, it is one job."""
    await send(
        app_client,
        web_key,
        {"type": "identify", "anonymousId": "x1", "traits": {"email": "ann@z.co", "name": "Anna"}},
        {"type": "identify", "userId": "c1", "traits": {"name": "Carl"}},
    )
    ann = await lookup(app_client, admin, "anonymous_id", "x1")
    asked = [await app_client.delete(f"/v1/profiles/{ann['id']}", headers=admin) for _ in "12"]
    assert [a.status_code for a in asked] == [202, 202]
    assert asked[0].json()["id"] == asked[1].json()["id"]
    merging = {"batch": [{"type": "identify", "userId": "c1", "traits": {"email": "ann@z.co"}}]}
    assert (await app_client.post("/v1/batch", auth=basic(web_key), json=merging)).is_success
    await drain(app_client)  # the merge first, then the erasure
    job = (await app_client.get(f"/v1/jobs/{asked[0].json()['id']}", headers=admin)).json()
    assert job["status"] == "done"
    assert job["result"]["profiles"] == 2
    await assert_unknown(
        app_client, admin, ("email", "ann@z.co"), ("anonymous_id", "x1"), ("user_id", "c1")
    )
    assert not {"ann@z.co", "anna", "carl"} & await search_terms(app_client)


async def test_an_erasure_named_through_a_merge_keeps_both_parts_after_a_split(
    app_client: httpx.AsyncClient, web_key: str, admin: dict[str, str]
) -> None:
    """Erasing a merged-away profile erases the person it was part of; a split made before the
    job ran does not leave the part that was asked for behind."""
    await send(
        app_client,
        web_key,
        {"type": "identify", "anonymousId": "b1", "traits": {"email": "bea@z.co"}},
        {"type": "identify", "userId": "a1", "traits": {"name": "Ada"}},
    )
    bea = await lookup(app_client, admin, "anonymous_id", "b1")
    await send(app_client, web_key, {"type": "identify", "userId": "a1", "anonymousId": "b1"})
    asked = await app_client.delete(f"/v1/profiles/{bea['id']}", headers=admin)
    assert asked.status_code == 202
    split = await app_client.post(f"/v1/profiles/{bea['id']}/split", headers=admin)
    assert split.status_code == 200, split.text
    await drain(app_client)
    job = (await app_client.get(f"/v1/jobs/{asked.json()['id']}", headers=admin)).json()
    assert (job["status"], job["result"]["profiles"]) == ("done", 2)
    await assert_unknown(
        app_client, admin, ("email", "bea@z.co"), ("anonymous_id", "b1"), ("user_id", "a1")
    )


async def test_an_erasure_reaches_the_set_aside_events_by_what_they_carry(
    app_client: httpx.AsyncClient, web_key: str, admin: dict[str, str]
) -> None:
    """Set aside (processing them failed), events wait for `omni events retry` with no profile."""
    identify = {"type": "identify", "userId": "u1", "traits": {"email": "g@x.co"}}
    await send(app_client, web_key, identify)
    profile = await lookup(app_client, admin, "user_id", "u1")
    platform = app_platform(app_client)
    async with platform.rt.db.read() as session:
        source_id = (await session.execute(select(Event.source_id))).scalars().first()
    aside = {
        "theirs": {"type": "track", "userId": "u1", "event": "Order Completed"},
        "shared": {"type": "identify", "anonymousId": "v7", "traits": {"email": "g@x.co"}},
        "other": {"type": "identify", "anonymousId": "v8", "traits": {"email": "o@x.co"}},
        "corrupt": [1, 2],
    }
    async with platform.rt.db.write() as session:
        for message_id, payload in aside.items():
            if isinstance(payload, dict):
                payload |= {"messageId": message_id}
            row = {"source_id": source_id, "message_id": message_id, "type": "track",
                   "channel": "web", "timestamp": START, "received_at": START,
                   "payload": payload, "status": FAILED}  # fmt: skip
            await session.execute(insert(Event).values(row))
    await app_client.delete(f"/v1/profiles/{profile['id']}", headers=admin)
    await drain(app_client)
    async with platform.rt.db.read() as session:
        rows = await session.execute(select(Event.message_id, Event.status, Event.payload))
        left = {message_id: (status, payload) for message_id, status, payload in rows}
    assert left == {
        "theirs": (DISCARDED, {"type": "track", "messageId": "theirs"}),
        "shared": (FAILED, {"type": "identify", "anonymousId": "v7", "traits": {},
                            "messageId": "shared"}),
        "other": (FAILED, aside["other"]),
        "corrupt": (FAILED, [1, 2]),
    }  # fmt: skip


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_an_erasure_leaves_nothing_in_sqlites_wal(
    app_client: httpx.AsyncClient, web_key: str, admin: dict[str, str], database_url: str
) -> None:
    """The rows deleted stay in the WAL as old page versions until it is emptied."""
    identify = {"type": "identify", "userId": "u1", "traits": {"email": "wal.person@x.co"}}
    await send(app_client, web_key, identify)
    profile = await lookup(app_client, admin, "user_id", "u1")
    database = Path(database_url.removeprefix("sqlite+aiosqlite:///"))
    wal = database.with_name(database.name + "-wal")
    assert holds(wal, b"wal.person@x.co")
    await app_client.delete(f"/v1/profiles/{profile['id']}", headers=admin)
    await drain(app_client)
    assert not holds(wal, b"wal.person@x.co") and not holds(database, b"wal.person@x.co")


def holds(path: Path, text: bytes) -> bool:
    return text in path.read_bytes()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_an_erasure_that_fails_every_attempt_is_a_failed_job_asked_for_again(
    app_client: httpx.AsyncClient, web_key: str, admin: dict[str, str]
) -> None:
    """Not ``queued`` for ever: the company would read it as pending, when it will never run."""
    await send(app_client, web_key, {"type": "identify", "userId": "u1", "traits": {"a": 1}})
    profile = await lookup(app_client, admin, "user_id", "u1")
    platform = app_platform(app_client)
    refuse = (
        "CREATE TRIGGER refuse BEFORE DELETE ON profile_traits BEGIN SELECT RAISE(ABORT, 'no'); END"
    )
    async with platform.rt.db.write() as session:
        await session.execute(text(refuse))
    asked = await app_client.delete(f"/v1/profiles/{profile['id']}", headers=admin)
    clock = platform.rt.clock
    assert isinstance(clock, FrozenClock)
    for _ in range(8):  # every attempt, each after its back-off
        await drain(app_client)
        clock.advance(timedelta(minutes=10))
    job = (await app_client.get(f"/v1/jobs/{asked.json()['id']}", headers=admin)).json()
    assert job["status"] == "failed" and "ask for it again" in job["result"]["error"], job
    assert (await lookup(app_client, admin, "user_id", "u1"))["traits"] == {"a": 1}  # all kept
    async with platform.rt.db.write() as session:
        await session.execute(text("DROP TRIGGER refuse"))
    again = await app_client.delete(f"/v1/profiles/{profile['id']}", headers=admin)
    assert again.status_code == 202 and again.json()["id"] != job["id"]
    await drain(app_client)
    job = (await app_client.get(f"/v1/jobs/{again.json()['id']}", headers=admin)).json()
    assert job["status"] == "done"


async def test_an_erasure_follows_no_part_split_off_into_someone_it_joined_since(
    app_client: httpx.AsyncClient, web_key: str, admin: dict[str, str]
) -> None:
    """Petro's tablet was wrongly merged into Olena. She asks to be erased; before the job runs,
    the tablet is split off, and Petro signs in on it. The job erases Olena and the tablet's
    part as it was, not Petro's account, which it joined since."""
    await send(
        app_client,
        web_key,
        {"type": "identify", "userId": "u-petro", "traits": {"email": "petro@example.com"}},
        {"type": "track", "userId": "u-petro", "event": "Order Completed"},
        {"type": "identify", "userId": "u-olena", "anonymousId": "anon-olena",
         "traits": {"email": "olena@example.com"}},
        {"type": "track", "anonymousId": "anon-shared", "event": "Product Viewed"},
    )  # fmt: skip
    tablet = await lookup(app_client, admin, "anonymous_id", "anon-shared")
    link = {"type": "track", "userId": "u-olena", "anonymousId": "anon-shared", "event": "Saw"}
    await send(app_client, web_key, link)
    olena = await lookup(app_client, admin, "user_id", "u-olena")
    assert olena["merged_ids"] == [tablet["id"]]
    asked = await app_client.delete(f"/v1/profiles/{olena['id']}", headers=admin)
    assert asked.status_code == 202
    split = await app_client.post(f"/v1/profiles/{tablet['id']}/split", headers=admin)
    assert split.status_code == 200, split.text
    sign_in = {"batch": [{"type": "identify", "userId": "u-petro", "anonymousId": "anon-shared"}]}
    assert (await app_client.post("/v1/batch", auth=basic(web_key), json=sign_in)).is_success
    await drain(app_client)  # the sign-in first, then the erasure
    job = (await app_client.get(f"/v1/jobs/{asked.json()['id']}", headers=admin)).json()
    assert (job["status"], job["result"]["profiles"]) == ("done", 2)
    petro = await lookup(app_client, admin, "user_id", "u-petro")
    assert petro["traits"] == {"email": "petro@example.com"}
    assert petro["computed"]["event_counts"]["track"] == 1  # his order
    assert (await lookup(app_client, admin, "email", "petro@example.com"))["id"] == petro["id"]
    await assert_unknown(app_client, admin, ("user_id", "u-olena"), ("email", "olena@example.com"))


async def test_an_erasure_follows_the_part_not_split_off_into_whom_it_joined_since(
    app_client: httpx.AsyncClient, web_key: str, admin: dict[str, str]
) -> None:
    """Olena asks to be erased; before the job runs, a tablet is split off her, and her own
    profile then merges into a record that has her work e-mail. Her part is followed there and
    erased with it; the tablet's part is erased, and followed nowhere."""
    await send(
        app_client,
        web_key,
        {"type": "identify", "anonymousId": "anon-x", "traits": {"email": "olena@work.com"}},
        {"type": "identify", "userId": "u-olena", "anonymousId": "anon-olena",
         "traits": {"email": "olena@home.com", "firstName": "Olena"}},
        {"type": "track", "anonymousId": "anon-shared", "event": "Product Viewed"},
    )  # fmt: skip
    tablet = await lookup(app_client, admin, "anonymous_id", "anon-shared")
    link = {"type": "track", "userId": "u-olena", "anonymousId": "anon-shared", "event": "Saw"}
    await send(app_client, web_key, link)
    olena = await lookup(app_client, admin, "user_id", "u-olena")
    asked = await app_client.delete(f"/v1/profiles/{olena['id']}", headers=admin)
    split = await app_client.post(f"/v1/profiles/{tablet['id']}/split", headers=admin)
    assert split.status_code == 200, split.text
    joins = {"batch": [{"type": "identify", "anonymousId": "anon-olena",
                        "traits": {"email": "olena@work.com"}}]}  # fmt: skip
    assert (await app_client.post("/v1/batch", auth=basic(web_key), json=joins)).is_success
    await drain(app_client)  # the merge into the work record first, then the erasure
    job = (await app_client.get(f"/v1/jobs/{asked.json()['id']}", headers=admin)).json()
    assert job["status"] == "done", job
    await assert_unknown(app_client, admin, ("user_id", "u-olena"), ("email", "olena@home.com"),
                         ("anonymous_id", "anon-olena"), ("email", "olena@work.com"),
                         ("anonymous_id", "anon-x"), ("anonymous_id", "anon-shared"))  # fmt: skip
    assert not {"olena", "olena@home.com", "olena@work.com"} & await search_terms(app_client)


async def test_an_erasure_takes_the_erased_identifiers_out_of_the_other_profiles_traits(
    app_client: httpx.AsyncClient, web_key: str, admin: dict[str, str]
) -> None:
    """The identify that linked Olena to Bea carried both their details, and stays Olena's after
    the split; once Bea is erased, her phone is neither Olena's trait nor a term that finds her."""
    await send(
        app_client,
        web_key,
        {"type": "identify", "anonymousId": "dev-a", "traits": {"email": "olena@example.com"}},
        {"type": "identify", "anonymousId": "dev-b", "traits": {"phone": "+380501112233"}},
    )
    bea = await lookup(app_client, admin, "anonymous_id", "dev-b")
    await send(app_client, web_key, {"type": "identify", "userId": "olena-1", "traits": {
        "email": "olena@example.com", "phone": "050 111 22 33"}})  # fmt: skip
    olena = await lookup(app_client, admin, "email", "olena@example.com")
    split = await app_client.post(f"/v1/profiles/{olena['id']}/split", headers=admin)
    assert split.status_code == 200, split.text
    assert (await lookup(app_client, admin, "user_id", "olena-1"))["id"] == olena["id"]
    assert "380501112233" in await search_terms(app_client)
    erase = await app_client.delete(f"/v1/profiles/{bea['id']}", headers=admin)
    assert erase.status_code == 202, erase.text
    await drain(app_client)
    olena = await lookup(app_client, admin, "user_id", "olena-1")
    assert olena["traits"] == {"email": "olena@example.com"}
    export = (await app_client.get(f"/v1/profiles/{olena['id']}/export", headers=admin)).json()
    assert "111 22 33" not in orjson.dumps(export).decode()
    assert not {t for t in await search_terms(app_client) if "111" in t}


@pytest.mark.parametrize(
    ("role", "method", "path", "status"),
    [
        (None, "GET", "/v1/profiles/x", 401),
        ("agent", "POST", "/v1/profiles/x/split", 403),
        ("marketer", "DELETE", "/v1/profiles/x", 403),
        ("store", "GET", "/v1/profiles/x/export", 403),
        ("store", "PUT", "/v1/profiles/x/consents", 403),
        ("store", "GET", "/v1/profiles/x", 404),
    ],
)
async def test_roles_are_enforced(
    app_client: httpx.AsyncClient, role: str | None, method: str, path: str, status: int
) -> None:
    headers = await make_token(app_platform(app_client), role) if role else {}
    body = {"consents": [{"channel": "email", "granted": True}]} if method == "PUT" else None
    response = await app_client.request(method, path, headers=headers, json=body)
    assert response.status_code == status, response.text


async def test_a_nul_in_an_id_is_the_clients_error_not_an_outage(
    app_client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    """PostgreSQL refuses a NUL even to compare: a 4xx to fix, not a 503 to retry."""
    for path in ("/v1/profiles/a%00b", "/v1/profiles/a%00b/timeline"):
        response = await app_client.get(path, headers=admin)
        assert response.status_code in (400, 404), response.text


async def test_unknown_token_is_401(app_client: httpx.AsyncClient) -> None:
    response = await app_client.get("/v1/profiles/x", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")  # what to send instead
    mixed_up = await app_client.get("/v1/profiles/x", headers={"Authorization": "Bearer wk_x"})
    assert mixed_up.status_code == 401
    assert mixed_up.json()["detail"].startswith("That is a source's write key")


async def test_traits_of_every_json_type_read_back(
    app_client: httpx.AsyncClient, web_key: str, admin: dict[str, str]
) -> None:
    traits = {
        "logins": 215,
        "ltv": 1999.5,
        "vip": True,
        "nickname": None,
        "zip": "01001",
        "tags": ["a", 1],
        "address": {"city": "Lviv", "floor": 3},
    }
    await send(app_client, web_key, {"type": "identify", "userId": "u1", "traits": traits})
    profile = await lookup(app_client, admin, "user_id", "u1")
    assert profile["traits"] == traits


async def test_an_erasure_deletes_events_a_bounded_number_at_a_time(
    app_client: httpx.AsyncClient, web_key: str, admin: dict[str, str]
) -> None:
    """Each statement deletes at most ``per_statement`` events, so a customer with years of
    events does not outlast the statement timeout; every one goes, and no one else's."""
    await send(app_client, web_key, *[{"type": "track", "userId": "u1", "event": f"E{n}"}
                                      for n in range(7)])  # fmt: skip
    await send(app_client, web_key, {"type": "track", "userId": "u2", "event": "Other"})
    profile = await lookup(app_client, admin, "user_id", "u1")
    platform = app_platform(app_client)
    async with platform.rt.db.write() as session:
        deleted = await events_repo.delete_for_profiles(session, [profile["id"]], per_statement=3)
    assert deleted == 7
    assert (await table_counts(platform))["events"] == 1
