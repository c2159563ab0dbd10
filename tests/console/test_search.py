"""Customer search: exact identifiers in any format, name/e-mail/phone prefixes, and the index
kept in step with merges, splits and erasure."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from omnichannel.console.pages.customers import SEARCH_HITS
from omnichannel.identity import service as identity
from omnichannel.profiles import search, service
from omnichannel.profiles.search import query_terms, terms_of
from tests.console.support import make_user, signed_in_token
from tests.helpers import app_platform, basic, count_rows, drain, make_source

pytestmark = pytest.mark.usefixtures("backend")


async def send(client: httpx.AsyncClient, key: str, *messages: dict[str, Any]) -> None:
    for message in messages:  # one batch each, so a later one can merge earlier profiles
        body = orjson.dumps({"batch": [message]})
        response = await client.post("/v1/batch", auth=basic(key), content=body)
        assert response.status_code == 200, response.text
        await drain(client)


async def find(client: httpx.AsyncClient, text: str) -> list[search.Hit]:
    platform = app_platform(client)
    async with platform.rt.db.read() as session:
        return await search.search(session, platform.rules, text)


ANN = {
    "type": "identify",
    "userId": "u1",
    "traits": {
        "firstName": "Ann",
        "lastName": "Kovalenko",
        "email": "Ann.K@Example.com",
        "phone": "067 123 45 67",
        "loyalty_card": "290000000042",
    },
}


def test_terms_are_normalised_as_identifiers_are(app_client: httpx.AsyncClient) -> None:
    rules = app_platform(app_client).rules
    assert terms_of(ANN["traits"], rules) == {
        "ann",
        "kovalenko",
        "ann kovalenko",
        "ann.k@example.com",
        "380671234567",
    }
    assert query_terms("  Ann   KOV ", rules) == ["ann kov"]
    assert query_terms("+38 (067) 123", rules) == ["38067123"]
    # As people at home write it (OMNI_DEFAULT_REGION UA: trunk prefix 0, country code 380).
    assert query_terms("(067) 814", rules) == ["067814", "38067814"]


async def test_found_by_any_identifier_and_by_name_email_or_phone(
    app_client: httpx.AsyncClient,
) -> None:
    key = await make_source(app_platform(app_client))
    await send(app_client, key, ANN, {"type": "identify", "userId": "u2", "traits": {"name": "Bo"}})
    for text, matched in [
        ("ANN.K@example.COM", "email"),
        ("+380 67 123 4567", "phone"),
        ("0671234567", "phone"),
        ("067 123", "name/e-mail/phone"),
        ("u1", "user_id"),
        ("290000000042", "loyalty_card"),
        ("ann", "name/e-mail/phone"),
        ("Kovalenko", "name/e-mail/phone"),
        ("ann kov", "name/e-mail/phone"),
        ("ann.k@", "name/e-mail/phone"),
        ("38067123", "name/e-mail/phone"),
    ]:
        hits = await find(app_client, text)
        assert [(h.name, h.matched) for h in hits] == [("Ann Kovalenko", matched)], text
    assert [h.name for h in await find(app_client, "b")] == ["Bo"]
    assert await find(app_client, "zed") == []
    assert await find(app_client, "   ") == []
    assert await find(app_client, "a\x00b") == []  # PostgreSQL takes no NUL, even to compare


async def test_a_profile_id_finds_the_live_profile(app_client: httpx.AsyncClient) -> None:
    key = await make_source(app_platform(app_client))
    await send(app_client, key, ANN)
    (hit,) = await find(app_client, "u1")
    assert [(h.profile_id, h.matched) for h in await find(app_client, hit.profile_id)] == [
        (hit.profile_id, "profile id")
    ]


async def test_merge_moves_terms_and_split_rebuilds_them(app_client: httpx.AsyncClient) -> None:
    platform = app_platform(app_client)
    key = await make_source(platform)
    await send(
        app_client,
        key,
        ANN,
        {"type": "identify", "anonymousId": "v1", "traits": {"name": "Visitor Vera"}},
        {"type": "identify", "userId": "u1", "anonymousId": "v1"},  # the visitor signs in
    )
    (ann,) = await find(app_client, "ann")
    assert [h.profile_id for h in await find(app_client, "vera")] == [ann.profile_id]
    async with platform.rt.db.write() as session:
        merge = await identity.split(platform.rt, session, ann.profile_id, None)
    assert [h.profile_id for h in await find(app_client, "vera")] == [merge.loser_id]
    assert [h.profile_id for h in await find(app_client, "ann")] == [ann.profile_id]


async def test_an_erased_profile_is_not_found(app_client: httpx.AsyncClient) -> None:
    platform = app_platform(app_client)
    key = await make_source(platform)
    await send(app_client, key, ANN)
    (ann,) = await find(app_client, "ann")
    async with platform.rt.db.write() as session:
        await service.request_erasure(platform.rt, session, ann.profile_id)
    await drain(app_client)
    assert await find(app_client, "ann") == []
    async with platform.rt.db.write() as session:
        await search.forget(session, [ann.profile_id])
    assert await count_rows(platform, "profile_search") == 0


async def test_the_page_says_when_there_are_more_matches_than_it_shows(
    app_client: httpx.AsyncClient,
) -> None:
    key = await make_source(app_platform(app_client))
    namesakes = [
        {"type": "identify", "userId": f"ann{n}", "traits": {"name": f"Ann {n:02}"}}
        for n in range(SEARCH_HITS + 1)
    ]
    body = orjson.dumps({"batch": namesakes})
    assert (await app_client.post("/v1/batch", auth=basic(key), content=body)).status_code == 200
    await drain(app_client)
    await make_user(app_platform(app_client), "bo", "agent")
    await signed_in_token(app_client, "bo")
    page = (await app_client.get("/console/customers", params={"q": "ann"})).text
    assert page.count("/console/customers/") == SEARCH_HITS and "there are more" in page
    page = (await app_client.get("/console/customers", params={"q": "ann 1"})).text
    assert page.count("/console/customers/") == 10 and "there are more" not in page
