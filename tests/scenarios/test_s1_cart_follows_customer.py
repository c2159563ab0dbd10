"""S1 — the cart follows the customer (web → app), as far as the platform reaches today.

Steps 1-3 and the profile side of 4-5: the app finds the same customer the web knew, with the web
cart's lines in the timeline. The cart itself (and the order) arrive with the commerce module.
"""

from __future__ import annotations

from datetime import timedelta

import httpx
import orjson
import pytest

from tests.helpers import START, basic, drain

pytestmark = pytest.mark.usefixtures("backend")


def at(minutes: int) -> str:
    """``minutes`` into the hour before the tests' clock: every call has happened when sent."""
    return (START - timedelta(hours=1) + timedelta(minutes=minutes)).isoformat()


async def call(client: httpx.AsyncClient, key: str, path: str, body: dict[str, object]) -> None:
    response = await client.post(path, auth=basic(key), content=orjson.dumps(body))
    assert response.status_code == 200, response.text


async def test_s1_web_visitor_continues_in_the_app(
    app_client: httpx.AsyncClient, web_key: str, app_key: str, admin: dict[str, str]
) -> None:
    # 1. Web: anonymous a1 views product P and adds two of P to a cart.
    product = {"product_id": "P", "sku": "P-FAUCET-01", "price": 249900, "currency": "UAH"}
    await call(
        app_client, web_key, "/v1/page", {"anonymousId": "a1", "name": "P", "timestamp": at(0)}
    )
    await call(
        app_client,
        web_key,
        "/v1/track",
        {"anonymousId": "a1", "event": "Product Viewed", "properties": product, "timestamp": at(1)},
    )
    await call(
        app_client,
        web_key,
        "/v1/track",
        {
            "anonymousId": "a1",
            "event": "Product Added",
            "properties": {**product, "quantity": 2, "cart_id": "c-1"},
            "timestamp": at(2),
        },
    )
    # 2. Web: a1 identifies as u1 with an email.
    await call(
        app_client,
        web_key,
        "/v1/identify",
        {
            "anonymousId": "a1",
            "userId": "u1",
            "traits": {"email": "ann@example.com"},
            "timestamp": at(3),
        },
    )
    # 3. App: the phone's anonymous d9 identifies as u1.
    await call(
        app_client,
        app_key,
        "/v1/identify",
        {"anonymousId": "d9", "userId": "u1", "timestamp": at(60)},
    )
    await drain(app_client)

    # 4. The app asks for the customer by its own device id: the same person the web knew.
    by_device = await app_client.get(
        "/v1/profiles/lookup", params={"type": "anonymous_id", "value": "d9"}, headers=admin
    )
    by_email = await app_client.get(
        "/v1/profiles/lookup", params={"type": "email", "value": "ann@example.com"}, headers=admin
    )
    profile = by_device.json()
    assert by_device.status_code == by_email.status_code == 200
    assert profile["id"] == by_email.json()["id"]
    assert {(i["type"], i["value"]) for i in profile["identities"]} == {
        ("anonymous_id", "a1"),
        ("anonymous_id", "d9"),
        ("user_id", "u1"),
        ("email", "ann@example.com"),
    }
    timeline = (
        await app_client.get(f"/v1/profiles/{profile['id']}/timeline", headers=admin)
    ).json()["items"]
    added = [e for e in timeline if e["event"] == "Product Added"]
    assert added and added[0]["properties"]["quantity"] == 2 and added[0]["channel"] == "web"

    # 5. The timeline shows web and app events in time order, with their channels.
    assert [(e["type"], e["channel"]) for e in reversed(timeline)] == [
        ("page", "web"),
        ("track", "web"),
        ("track", "web"),
        ("identify", "web"),
        ("identify", "app"),
    ]
    assert profile["computed"]["last_channel"] == "app"
    assert set(profile["computed"]["channels"]) == {"web", "app"}
