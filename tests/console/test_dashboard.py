"""The dashboard's figures: the customers' own events of the last days, today's included."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from omnichannel.console.metrics import figures
from tests.helpers import START, app_platform, basic, drain

pytestmark = pytest.mark.usefixtures("backend")


async def test_an_event_dated_tomorrow_counts_on_its_arrival_and_an_agents_change_on_none(
    app_client: httpx.AsyncClient, web_key: str, admin: dict[str, str]
) -> None:
    """A fast device clock dates an event ahead: it is taken at its arrival, today (it once
    belonged to no day shown, and had to not break the page). A consent an agent set through
    the API is not the customer's activity."""
    batch = {
        "batch": [
            {"type": "track", "userId": "u1", "event": "Today", "timestamp": START.isoformat()},
            {"type": "track", "userId": "u1", "event": "Fast clock",
             "timestamp": (START + timedelta(hours=20)).isoformat()},
        ]
    }  # fmt: skip
    assert (await app_client.post("/v1/batch", json=batch, auth=basic(web_key))).is_success
    await drain(app_client)
    profile = await app_client.get("/v1/profiles/lookup?type=user_id&value=u1", headers=admin)
    consent = {"consents": [{"channel": "email", "purpose": "marketing", "granted": False}]}
    put = await app_client.put(
        f"/v1/profiles/{profile.json()['id']}/consents", json=consent, headers=admin
    )
    assert put.status_code == 200, put.text
    async with app_platform(app_client).rt.db.read() as session:
        shown = await figures(session, START, days=7)
    assert shown.days[-1] == START.date().isoformat()
    assert shown.events == {"web": [0, 0, 0, 0, 0, 0, 2]}
    assert shown.active == {"web": 1}
    assert (shown.new[-1], shown.returning[-1]) == (1, 0)
