"""/docs and /redoc in a real browser with no way out: Playwright drives Debian's Chromium against
``omni serve``, and every request for another host is refused, as on a machine without internet.

Each page is saved as a screenshot in ``test-artifacts/``. SQLite only: the pages read nothing
from the database.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect

from omnichannel import __version__
from tests.live import Live, omni, server

pytestmark = pytest.mark.slow
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"  # in Redoc's menu; the policy stops it


@pytest.fixture
def docs_server(sqlite_template: Path, tmp_path: Path) -> Iterator[Live]:
    """A real ``omni serve`` over a fresh database, with an admin token and a web source's write
    key made by the CLI."""
    path = tmp_path / "omni.db"
    shutil.copyfile(sqlite_template, path)
    db = f"sqlite+aiosqlite:///{path}"
    token = omni(db, "tokens", "create", "--role", "admin", "--name", "docs")
    key = omni(db, "sources", "create", "--kind", "web", "--name", "Web shop")
    process, url = server(db, tmp_path / "serve.log")
    try:
        yield Live(url, {"web": key}, token)
    finally:
        process.stop()


def offline(browser: Browser, url: str, elsewhere: list[str]) -> BrowserContext:
    """A browser context that reaches ``url``'s server only; what it asked of others is listed."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    here = urlsplit(url).netloc

    def route(route: Route) -> None:
        if urlsplit(route.request.url).netloc == here:
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort("internetdisconnected")

    context.route("**/*", route)
    return context


def authorize(page: Page, scheme: str, field: str, credential: str) -> None:
    """Swagger UI's Authorize dialog: give ``scheme`` its credential, in its ``field``."""
    page.click("button.authorize")
    dialog = page.locator(".auth-container", has_text=scheme)
    dialog.locator(field).fill(credential)
    dialog.locator("button.authorize").click()
    expect(dialog.get_by_text("Authorized", exact=True)).to_be_visible()
    dialog.locator("button.btn-done").click()


def test_the_docs_render_with_no_internet(
    docs_server: Live, browser: Browser, artifacts: Path
) -> None:
    elsewhere: list[str] = []
    errors: list[str] = []
    context = offline(browser, docs_server.url, elsewhere)
    page = context.new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    page.goto(f"{docs_server.url}/docs")
    expect(page.locator(".opblock-summary-path", has_text="/v1/track").first).to_be_visible()
    expect(page.locator(".opblock-summary-path", has_text="/v1/profiles/lookup")).to_be_visible()
    page.screenshot(path=str(artifacts / "docs-swagger-ui.png"))
    assert page.locator(".errors-wrapper").count() == 0  # Swagger UI found the document sound
    assert errors == []

    # Authorize with the API token, and try a lookup: a 404 (no such profile), not a 401.
    authorize(page, "apiToken", "input", docs_server.token)
    lookup = page.locator("#operations-profiles-lookup_v1_profiles_lookup_get")
    lookup.locator(".opblock-summary").click()
    lookup.locator("button.try-out__btn").click()
    lookup.locator("tr[data-param-name=type] input").fill("email")
    lookup.locator("tr[data-param-name=value] input").fill("nobody@example.com")
    lookup.locator("button.execute").click()
    # Just "404": Swagger UI marks an answer the document does not list "Undocumented".
    expect(lookup.locator(".live-responses-table tbody .response-col_status")).to_have_text("404")
    lookup.screenshot(path=str(artifacts / "docs-swagger-ui-lookup.png"))
    assert errors == [
        "Failed to load resource: the server responded with a status of 404 (Not Found)"
    ]
    errors.clear()

    # The write key as Basic-auth user name, and the documented example of a track call: taken.
    authorize(page, "writeKey", "input[name=username]", docs_server.keys["web"])
    track = page.locator("#operations-ingestion-track_v1_track_post")
    track.locator(".opblock-summary").click()
    track.locator("button.try-out__btn").click()
    expect(track.locator("textarea.body-param__text")).to_contain_text("Order Completed")
    track.locator("button.execute").click()
    expect(track.locator(".live-responses-table tbody .response-col_status")).to_have_text("200")
    expect(track.locator(".live-responses-table")).to_contain_text('"success": true')
    track.screenshot(path=str(artifacts / "docs-swagger-ui-track.png"))
    assert errors == []

    page.goto(f"{docs_server.url}/redoc")
    expect(page.get_by_role("heading", name=f"Omnichannel ({__version__})")).to_be_visible()
    expect(page.get_by_text("/v1/track", exact=True).first).to_be_visible()
    page.screenshot(path=str(artifacts / "docs-redoc.png"))
    # The one thing either page would fetch from elsewhere, refused by the browser itself.
    assert [e for e in errors if REDOC_LOGO not in e] == [], errors

    assert elsewhere == []
    context.close()
