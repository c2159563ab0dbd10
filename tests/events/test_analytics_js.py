"""Segment's own browser SDK, analytics.js (``@segment/analytics-next``), sends to us unchanged.

The SDK is the published npm build (``tests/events/sdk``, ``make vendor-sdk``), run in Debian's
Chromium on a page of another origin than the API's, configured exactly as the README says: only
the host and the write key change, or only the CDN's host, so that the SDK takes its settings
from us. It posts each call to ``/v1/`` plus the type's first letter (``/v1/p``, ``/v1/t``, …)
and, with its batching delivery, to ``/v1/b``; the events must land on the customer's one
profile. A real server (the ``live`` fixture: a subprocess, embedded worker on) over SQLite: the
paths are the subject here, and every storage path behind them runs on both databases elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Response

from tests.live import Live

pytestmark = pytest.mark.slow
SDK = Path(__file__).parent / "sdk" / "analytics-next.umd.js"

# One call of each kind a browser makes, after loading the SDK as a test case says.
SHOPPER = """async ([settings, options, email]) => {
    const [analytics] = await AnalyticsNext.AnalyticsBrowser.load(settings, options);
    await analytics.page('Cart');
    await analytics.track('Product Added', { sku: 'SKU-1', price: 19.5 });
    await analytics.identify('user-' + email, { email });
    await analytics.group('acme', { name: 'Acme' });
    await analytics.alias('user-' + email);
    return analytics.user().anonymousId();
}"""
CALLS = {"/v1/p", "/v1/t", "/v1/i", "/v1/g", "/v1/a"}


def readme_recipe(live: Live, **delivery: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The README's settings: Segment.io's API host and the write key, given inline."""
    write_key = live.keys["web"]
    inline = {"integrations": {"Segment.io": {"apiKey": write_key}}}
    host = {"apiHost": live.url.removeprefix("http://") + "/v1", "protocol": "http", **delivery}
    return (
        {"writeKey": write_key, "cdnSettings": inline},
        {"integrations": {"Segment.io": host}},
    )


def our_cdn(live: Live) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only the CDN changed: the SDK fetches its settings from us, and they point back here."""
    return {"writeKey": live.keys["web"], "cdnURL": live.url}, {}


LOADS: dict[str, tuple[Callable[[Live], tuple[dict[str, Any], dict[str, Any]]], set[str]]] = {
    "readme-recipe": (readme_recipe, CALLS),
    "batching": (
        partial(readme_recipe, deliveryStrategy={"strategy": "batching", "config": {"size": 5}}),
        {"/v1/b"},
    ),
    "settings-from-our-cdn": (our_cdn, CALLS),
}


def timeline(live: Live, profile_id: str) -> list[dict[str, Any]]:
    page = httpx.get(f"{live.url}/v1/profiles/{profile_id}/timeline", headers=live.bearer)
    return list(page.json()["items"])


@pytest.mark.parametrize("load", LOADS)
def test_analytics_js_sends_every_call_to_one_profile(
    live: Live, browser: Browser, load: str
) -> None:
    configure, paths = LOADS[load]
    page = browser.new_page()
    posted: list[tuple[str, int]] = []

    def record(response: Response) -> None:
        if response.request.method == "POST":
            posted.append((response.url.removeprefix(live.url), response.status))

    page.on("response", record)
    shop = live.url.replace("127.0.0.1", "localhost")  # the shop's own origin, not the API's
    page.goto(f"{shop}/healthz")
    page.add_script_tag(path=str(SDK))
    email = f"{load}@example.com"
    settings, options = configure(live)
    anonymous_id = page.evaluate(SHOPPER, [settings, options, email])

    profile = live.profile(email, events=5)
    assert {(i["type"], i["value"]) for i in profile["identities"]} >= {
        ("anonymous_id", anonymous_id),
        ("user_id", f"user-{email}"),
        ("email", email),
    }
    assert profile["traits"]["email"] == email
    kinds = {(e["type"], e.get("event") or e.get("name")) for e in timeline(live, profile["id"])}
    assert kinds >= {("page", "Cart"), ("track", "Product Added"), ("identify", None)}
    assert {e for e, _ in kinds} == {"page", "track", "identify", "group", "alias"}
    assert {path for path, _ in posted} == paths
    assert {status for _, status in posted} == {200}
