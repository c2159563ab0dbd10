"""/docs and /redoc from the package alone: every script, style, icon and document the pages name
is a path on this server, and each is served (the vendored file itself)."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from omnichannel.apidocs.pages import VENDOR

KINDS = {".js": "text/javascript", ".css": "text/css", ".png": "image/png", ".json": None}


@pytest.fixture
def backend() -> str:
    return "sqlite"  # the pages read nothing from the database


class References(HTMLParser):
    """The URLs a page makes the browser load: scripts, stylesheets and icons, Redoc's document."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        url = {"script": named.get("src"), "link": named.get("href"),
               "redoc": named.get("spec-url")}.get(tag)  # fmt: skip
        if url is not None:
            self.urls.append(url)


def references(page: str) -> list[str]:
    parser = References()
    parser.feed(page)
    return parser.urls


@pytest.mark.parametrize(
    ("page", "expected"),
    [
        ("/docs", ["/docs/vendor/swagger-ui.css", "/docs/vendor/favicon-32x32.png",
                   "/docs/vendor/swagger-ui-bundle.js"]),
        ("/redoc", ["/docs/vendor/favicon-32x32.png", "/openapi.json",
                    "/docs/vendor/redoc.standalone.js"]),
    ],
)  # fmt: skip
async def test_the_docs_pages_load_everything_from_this_server(
    app_client: httpx.AsyncClient, page: str, expected: list[str]
) -> None:
    answer = await app_client.get(page)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert references(answer.text) == expected
    # Not a host named anywhere on the page, the start-up script's document URL included.
    assert "://" not in answer.text
    if page == "/docs":
        assert "url: '/openapi.json'" in answer.text
    # The browser is held to this server too, whatever the bundles would fetch.
    policy = answer.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "://" not in policy

    for url in expected:
        assert not urlsplit(url).scheme and not urlsplit(url).netloc, url
        asset = await app_client.get(url)
        assert asset.status_code == 200, url
        suffix = Path(url).suffix
        if KINDS[suffix] is not None:
            assert asset.headers["content-type"].startswith(KINDS[suffix]), url
        if url.startswith("/docs/vendor/"):
            assert asset.content == (VENDOR / Path(url).name).read_bytes()
        else:
            assert asset.json()["openapi"].startswith("3.")


def test_every_vendored_library_has_its_licence_beside_it() -> None:
    versions = (VENDOR / "VERSIONS").read_text().splitlines()
    assert [line.split()[0] for line in versions] == ["swagger-ui-dist", "redoc"]
    licences = ["swagger-ui.LICENSE", "swagger-ui.NOTICE", "redoc.LICENSE"]
    bundled = ["swagger-ui-bundle.js.LICENSE.txt", "redoc.standalone.js.LICENSE.txt"]
    for name in licences + bundled:
        assert (VENDOR / name).stat().st_size > 0, name
    assert "Apache License" in (VENDOR / "swagger-ui.LICENSE").read_text()
    assert "MIT" in (VENDOR / "redoc.LICENSE").read_text()
