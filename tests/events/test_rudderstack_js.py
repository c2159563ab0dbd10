"""RudderStack's browser SDK (``@rudderstack/analytics-js``) sends to us with our host as both its
data plane and its control plane.

The SDK is the published npm build with its plugins inside (``tests/events/sdk``, ``make
vendor-sdk``), run in Debian's Chromium on another origin than the API's. It fetches its source's
configuration from ``/sourceConfig``, then posts each call to ``/v1/<type>`` with two headers of
its own (``AnonymousId``, ``SentAt``) that the CORS preflight must allow, and an anonymous
visitor's ``userId`` as ``""``. Every call must land on the visitor's one profile.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Response

from tests.live import Live

pytestmark = pytest.mark.slow
SDK = Path(__file__).parent / "sdk" / "rudderstack-analytics.umd.js"

# The README's configuration: rudderanalytics.load(writeKey, dataPlaneUrl, { configUrl }).
VISITOR = """async ([writeKey, url, email]) => {
    const analytics = new rudderanalytics.RudderAnalytics();
    analytics.load(writeKey, url, { configUrl: url });
    await new Promise((loaded) => analytics.ready(loaded));
    analytics.page('Catalog', 'Shoes');
    analytics.track('Product Viewed', { sku: 'SKU-9' });
    analytics.alias('user-' + email);
    analytics.identify('user-' + email, { email });
    analytics.group('acme', { name: 'Acme' });
    return analytics.getAnonymousId();
}"""
CALLS = {"/v1/page", "/v1/track", "/v1/alias", "/v1/identify", "/v1/group"}


def test_rudderstack_js_sends_every_call_to_one_profile(live: Live, browser: Browser) -> None:
    page = browser.new_page()
    answered: list[tuple[str, str, int]] = []

    def record(response: Response) -> None:
        path = response.url.removeprefix(live.url).split("?")[0]
        answered.append((response.request.method, path, response.status))

    page.on("response", record)
    shop = live.url.replace("127.0.0.1", "localhost")  # the shop's own origin, not the API's
    page.goto(f"{shop}/healthz")
    page.add_script_tag(path=str(SDK))
    email = "rudder@example.com"
    anonymous_id = page.evaluate(VISITOR, [live.keys["web"], live.url, email])

    # The SDK delivers from a queue after the calls return; playwright reports what it sent
    # only while it is being called, so wait in it.
    for _ in range(150):
        if sum(method == "POST" for method, _, _ in answered) >= len(CALLS):
            break
        page.wait_for_timeout(200)
    profile = live.profile(email, events=5)
    assert {(i["type"], i["value"]) for i in profile["identities"]} == {
        ("anonymous_id", anonymous_id),
        ("user_id", f"user-{email}"),
        ("email", email),
    }
    assert profile["computed"]["event_counts"] == {
        "page": 1, "track": 1, "alias": 1, "identify": 1, "group": 1
    }  # fmt: skip
    items = httpx.get(f"{live.url}/v1/profiles/{profile['id']}/timeline", headers=live.bearer)
    track = next(e for e in items.json()["items"] if e["type"] == "track")
    assert (track["event"], track["properties"]) == ("Product Viewed", {"sku": "SKU-9"})
    assert ("GET", "/sourceConfig/", 200) in answered
    posted = {(path, status) for method, path, status in answered if method == "POST"}
    assert posted == {(path, 200) for path in CALLS}
