"""The customer pages in-process: timeline fragments (filters, cursor paging), export, erase."""

from __future__ import annotations

import re

import httpx
import orjson
import pytest

from omnichannel.identity.service import lookup
from tests.console.support import make_user, signed_in_token
from tests.helpers import app_platform, basic, drain, make_source, make_token

pytestmark = pytest.mark.usefixtures("backend")


async def _customer(client: httpx.AsyncClient, events: int) -> str:
    platform = app_platform(client)
    web, pos = await make_source(platform, "web"), await make_source(platform, "pos")
    batch = [{"type": "identify", "userId": "u1", "traits": {"email": "ann@example.com"}}]
    batch += [{"type": "track", "userId": "u1", "event": f"Viewed {n}"} for n in range(events)]
    for key, body in ((web, batch), (pos, [{"type": "track", "userId": "u1", "event": "Paid"}])):
        response = await client.post(
            "/v1/batch", auth=basic(key), content=orjson.dumps({"batch": body})
        )
        assert response.status_code == 200
    await drain(client)
    async with platform.rt.db.read() as session:
        found = await lookup(session, platform.rules, "user_id", "u1")
    assert found
    return found


async def test_timeline_pages_by_cursor_and_filters(app_client: httpx.AsyncClient) -> None:
    profile_id = await _customer(app_client, 30)
    await make_user(app_platform(app_client), "ann", "agent")
    await signed_in_token(app_client, "ann")
    view = await app_client.get(f"/console/customers/{profile_id}")
    assert view.text.count('<tr class="event"') == 25 and "Load more" in view.text
    more = re.search(r'hx-get="([^"]+cursor=[^"]+)"', view.text)
    assert more
    rest = await app_client.get(more[1].replace("&amp;", "&"), headers={"HX-Request": "true"})
    assert rest.text.count('<tr class="event"') == 7 and "Load more" not in rest.text
    url = f"/console/customers/{profile_id}/timeline"
    pos = await app_client.get(url, params={"channel": "pos"})
    assert pos.text.count('<tr class="event"') == 1 and "Paid" in pos.text
    identify = await app_client.get(url, params={"type": "identify", "period": "24h"})
    assert identify.text.count('<tr class="event"') == 1
    none = await app_client.get(url, params={"channel": "sms"})
    assert "No events match these filters" in none.text
    for field, typo in (("channel", "posx"), ("type", "Track"), ("period", "7days")):
        refused = await app_client.get(url, params={field: typo})  # a hand-edited link
        assert refused.status_code == 400 and f"Unknown {field} {typo}" in refused.text
        assert "text/html" in refused.headers["content-type"]
    long = await app_client.get("/console/customers", params={"q": "x" * 500})
    assert long.status_code == 200 and 'maxlength="200"' in long.text  # a page, not raw JSON


async def test_admin_exports_and_erases_a_customer(app_client: httpx.AsyncClient) -> None:
    profile_id = await _customer(app_client, 2)
    await make_user(app_platform(app_client), "ann", "admin")
    token = await signed_in_token(app_client, "ann")
    export = await app_client.get(f"/console/customers/{profile_id}/export")
    assert export.status_code == 200 and "attachment" in export.headers["content-disposition"]
    data = export.json()
    assert data["id"] == profile_id and len(data["events"]) == 4
    api = await app_client.get(
        f"/v1/profiles/{profile_id}/export",
        headers=await make_token(app_platform(app_client)),
    )
    assert data == api.json()  # the very document the API answers, times written alike
    erase = await app_client.post(
        f"/console/customers/{profile_id}/erase", data={"csrf_token": token}
    )
    assert erase.status_code == 200 and "Erasure queued" in erase.text
    await drain(app_client)
    gone = await app_client.get(f"/console/customers/{profile_id}")
    assert gone.status_code == 404 and "never here, or erased" in gone.text
    assert "No customer matches" in (await app_client.get("/console/customers?q=ann")).text
