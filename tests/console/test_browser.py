"""The console in a real browser: Playwright driving Debian's Chromium against ``omni serve``.

One real server (the ``live`` fixture: a subprocess, embedded worker on) over a fresh SQLite
database; the user and sources are made with the ``omni`` CLI as an operator would. Each page
visited is saved as a screenshot in ``test-artifacts/``. SQLite only: these tests are about
what a person sees and does; every storage path they touch runs on both databases in
``test_access``/``test_search``, and a second browser run would double the slowest tests on a
2-core machine for no new check.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.console.support import PASSWORD
from tests.live import Live

pytestmark = pytest.mark.slow


def send(live: Live, kind: str, *messages: dict[str, Any]) -> None:
    for message in messages:
        response = httpx.post(f"{live.url}/v1/{message['type']}", json=message,
                              auth=(live.keys[kind], ""))  # fmt: skip
        assert response.status_code == 200, response.text


def shot(page: Page, artifacts: Path, name: str) -> None:
    page.screenshot(path=str(artifacts / f"console-{name}.png"), full_page=True)


def sign_in(page: Page, live: Live, password: str = PASSWORD) -> None:
    page.fill("input[name=username]", "ann")
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def test_operator_finds_a_customer_sees_every_channel_and_splits_a_merge(
    live: Live, browser: Browser, artifacts: Path
) -> None:
    # Olena is a known app user; on the web she browses anonymously, then signs in there (which
    # merges the two profiles), and later buys in a store.
    send(
        live,
        "app",
        {"type": "screen", "userId": "cust-7", "anonymousId": "d-olena", "name": "Cart"},
    )
    send(
        live,
        "web",
        {"type": "page", "anonymousId": "v-olena", "name": "Catalog"},
        {"type": "track", "anonymousId": "v-olena", "event": "Product Added",
         "properties": {"sku": "P-FAUCET-01", "quantity": 1}},
    )  # fmt: skip
    time.sleep(0.5)  # resolved on its own first: two profiles until she signs in
    send(
        live,
        "web",
        {"type": "identify", "anonymousId": "v-olena", "userId": "cust-7",
         "traits": {"firstName": "Olena", "lastName": "Melnyk", "email": "olena@example.com",
                    "phone": "067 555 12 34", "consents": {"email": {"marketing": True}}}},
    )  # fmt: skip
    send(
        live,
        "pos",
        {"type": "track", "userId": "cust-7", "event": "Order Completed",
         "context": {"traits": {"loyalty_card": "290000000777"}},
         "properties": {"order_id": "L-1", "revenue": 289900, "currency": "UAH"}},
    )  # fmt: skip
    live.profile("olena@example.com", 5)

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(f"{live.url}/console/customers")
    expect(page).to_have_url(f"{live.url}/console/login?next=/console/customers")
    shot(page, artifacts, "login")
    sign_in(page, live, "not the password")
    expect(page.get_by_role("alert")).to_have_text("Wrong user name or password.")
    sign_in(page, live)
    expect(page).to_have_url(f"{live.url}/console/customers")

    page.get_by_label("Search customers").fill("067 555 1234")  # a phone, as people type it
    result = page.locator("table.results a")
    expect(result).to_have_text("Olena Melnyk")
    shot(page, artifacts, "search")
    result.click()
    expect(page.locator("h2")).to_have_text("Olena Melnyk")
    events = page.locator("#timeline-body tr.event")
    expect(events).to_have_count(5)
    for channel in ("web", "app", "pos"):
        expect(page.locator(f"#timeline-body tr[data-channel={channel}]").first).to_be_visible()
    expect(page.locator(".channel-group summary")).to_contain_text(["App", "POS", "Web"])
    shot(page, artifacts, "customer-360")

    page.get_by_label("Channel").select_option("pos")
    expect(events).to_have_count(1)
    expect(events.first).to_contain_text("Order Completed")
    page.get_by_label("Channel").select_option("")
    expect(events).to_have_count(5)

    page.get_by_role("button", name="Split").click()
    expect(page.get_by_role("status")).to_contain_text("Merge undone")
    expect(page.locator("table.merges")).to_contain_text("split ")
    expect(events).to_have_count(3)  # the anonymous visit is its own profile again
    shot(page, artifacts, "after-split")

    page.goto(f"{live.url}/console/dashboard")
    expect(page.locator("#chart-events")).to_be_visible()
    page.wait_for_function("Chart.getChart('chart-events') !== undefined")
    shot(page, artifacts, "dashboard")
    page.goto(f"{live.url}/console/sources")
    expect(page.locator("table")).to_contain_text("Store Lviv")
    shot(page, artifacts, "sources")
    page.get_by_role("link", name="Web shop").click()
    expect(page.locator("h2")).to_contain_text("Web shop")
    shot(page, artifacts, "source-health")
    page.goto(f"{live.url}/console/sources")
    page.get_by_label("Name").fill("Kiosk app")
    page.get_by_label("Kind").select_option("app")
    page.get_by_role("button", name="Create source").click()
    expect(page.locator("#write-key")).to_contain_text("wk_")
    shot(page, artifacts, "source-created")


def test_s1_walked_in_the_demo_shop_shows_up_in_the_console(
    live: Live, browser: Browser, artifacts: Path
) -> None:
    shopper = browser.new_page(viewport={"width": 1280, "height": 900})
    shopper.goto(f"{live.url}/demo/shop?key={live.keys['web']}")
    faucet = shopper.locator("article.product[data-sku=P-FAUCET-01] button")
    faucet.click()
    expect(shopper.locator("#cart-count")).to_have_text("1")
    shopper.get_by_label("E-mail").fill("Walker@Example.com")
    shopper.get_by_label("Name").fill("Wanda Walker")
    shopper.get_by_role("button", name="Sign in").click()
    expect(shopper.locator("#who")).to_have_text("Signed in as walker@example.com")
    shot(shopper, artifacts, "demo-shop")
    shopper.evaluate("omni.flush()")
    live.profile("walker@example.com", 4)  # page, Product Added, identify, Signed In

    operator = browser.new_page(viewport={"width": 1280, "height": 900})
    operator.goto(f"{live.url}/console/login")
    sign_in(operator, live)
    operator.goto(f"{live.url}/console/customers?q=walker")
    operator.locator("table.results a", has_text="Wanda Walker").click()
    events = operator.locator("#timeline-body tr.event")
    expect(events).to_have_count(4)
    expect(events.filter(has_text="Product Added")).to_contain_text("P-FAUCET-01")
    expect(operator.locator(".channel-group")).to_contain_text("walker@example.com")

    # She goes on shopping; the console's timeline shows it.
    shopper.locator("article.product[data-sku=T-DRILL-01] button").click()
    shopper.evaluate("omni.flush()")
    live.profile("walker@example.com", 5)
    operator.reload()
    expect(events).to_have_count(5)
    expect(events.first).to_contain_text("T-DRILL-01")
    shot(operator, artifacts, "s1-profile")


def test_a_shop_on_another_origin_sends_events_from_the_browser(
    live: Live, browser: Browser
) -> None:
    """analytics.js on the shop's own domain posts to us cross-origin: CORS must let it."""
    page = browser.new_page()
    shop = live.url.replace("127.0.0.1", "localhost")  # another origin, same machine
    page.goto(f"{shop}/healthz")
    statuses = page.evaluate(
        """async ([api, key]) => {
            // analytics.js: text/plain and the key in the body, a request needing no preflight
            const simple = await fetch(api + '/v1/track', {method: 'POST',
                headers: {'Content-Type': 'text/plain'},
                body: JSON.stringify({writeKey: key, anonymousId: 'cors-1', event: 'Viewed'})});
            // other SDKs: Basic auth and JSON, which the browser checks with a preflight first
            const preflighted = await fetch(api + '/v1/identify', {method: 'POST',
                headers: {'Authorization': 'Basic ' + btoa(key + ':'),
                          'Content-Type': 'application/json'},
                body: JSON.stringify({anonymousId: 'cors-1',
                                      traits: {email: 'cors@example.com'}})});
            return [simple.status, preflighted.status];
        }""",
        [live.url, live.keys["web"]],
    )
    assert statuses == [200, 200]
    live.profile("cors@example.com", 2)
