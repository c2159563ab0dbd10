"""Access to the console: sessions, roles, CSRF, and the sign-in form's answers and limits."""

from __future__ import annotations

import asyncio

import httpx
import orjson
import pytest

from omnichannel.console.users import by_username, set_password
from omnichannel.identity.service import lookup
from tests.console.support import PASSWORD, csrf_of, make_user, sign_in, signed_in_token
from tests.helpers import app_platform, basic, drain, make_source

pytestmark = pytest.mark.usefixtures("backend")

PAGES = [
    "/console",
    "/console/customers",
    "/console/customers?q=ann",
    "/console/customers/x",
    "/console/customers/x/timeline",
    "/console/customers/x/export",
    "/console/sources",
    "/console/sources/x",
    "/console/dashboard",
]
POSTS = ["/console/logout", "/console/sources", "/console/customers/x/split"]


async def test_the_servers_address_in_a_browser_is_the_console(
    app_client: httpx.AsyncClient,
) -> None:
    response = await app_client.get("/")
    assert (response.status_code, response.headers["location"]) == (307, "/console")


async def test_a_method_a_page_does_not_take_is_a_405_page_naming_those_it_does(
    app_client: httpx.AsyncClient,
) -> None:
    answer = await app_client.delete("/console/login")
    assert (answer.status_code, answer.headers.get("allow")) == (405, "GET, POST")
    assert answer.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize("path", PAGES)
async def test_no_page_without_signing_in(app_client: httpx.AsyncClient, path: str) -> None:
    response = await app_client.get(path)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/console/login")


async def test_htmx_call_without_session_is_sent_to_sign_in(
    app_client: httpx.AsyncClient,
) -> None:
    response = await app_client.get("/console/customers?q=a", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["hx-redirect"] == "/console/login"


@pytest.mark.parametrize("path", POSTS)
async def test_no_post_without_a_session(app_client: httpx.AsyncClient, path: str) -> None:
    response = await app_client.post(path, data={"csrf_token": "guess"})
    assert response.status_code == 403


async def test_sign_in_goes_back_where_asked_and_sign_out_ends_it(
    app_client: httpx.AsyncClient,
) -> None:
    await make_user(app_platform(app_client), "ann", "admin")
    page = await app_client.get("/console/login?next=/console/dashboard")
    form = {
        "username": "Ann",
        "password": "correct horse battery",
        "csrf_token": csrf_of(page.text),
        "next": "/console/dashboard",
    }
    response = await app_client.post("/console/login", data=form)
    assert response.status_code == 303 and response.headers["location"] == "/console/dashboard"
    dashboard = await app_client.get("/console/dashboard")
    assert dashboard.status_code == 200 and "ann · admin" in dashboard.text
    token = csrf_of(dashboard.text)
    copied = app_client.cookies.get("omni_console")  # kept by someone at a shared store PC
    out = await app_client.post("/console/logout", data={"csrf_token": token})
    assert out.status_code == 303
    assert (await app_client.get("/console/dashboard")).status_code == 303
    app_client.cookies.set("omni_console", copied)
    replayed = await app_client.get("/console/dashboard")
    assert replayed.status_code == 303  # signing out ended the session itself, not the cookie
    app_client.cookies.clear()  # and signing in again works
    again = await app_client.post("/console/login", data={**form, "csrf_token": csrf_of(
        (await app_client.get("/console/login")).text)})  # fmt: skip
    assert again.status_code == 303
    assert (await app_client.get("/console/dashboard")).status_code == 200


@pytest.mark.parametrize(
    ("target", "landing"),
    [
        ("https://evil.example/", "/console"),
        # Paths that start in the console and climb out of it, as a browser reads them.
        ("/console/../..//evil.example/", "/console"),
        ("/console/%2e%2e/demo/shop?key=wk_x", "/console"),
        ("/console//evil.example", "/console"),
        ("/console/customers?q=ann%40example.com", "/console/customers?q=ann%40example.com"),
    ],
)
async def test_next_never_leaves_the_console(
    app_client: httpx.AsyncClient, target: str, landing: str
) -> None:
    await make_user(app_platform(app_client), "ann", "admin")
    page = await app_client.get("/console/login")
    form = {"username": "ann", "password": "correct horse battery"}
    form |= {"csrf_token": csrf_of(page.text), "next": target}
    response = await app_client.post("/console/login", data=form)
    assert response.headers["location"] == landing


async def test_console_pages_are_neither_cached_nor_framed(app_client: httpx.AsyncClient) -> None:
    """After sign-out on a shared PC, Back showed the last customer from the browser's cache;
    and any page of a sibling site could frame the 360 view."""
    await make_user(app_platform(app_client), "ann", "admin")
    await sign_in(app_client, "ann", "correct horse battery")
    for path in ("/console/customers", "/console/login", "/console/no-such-page"):
        answer = await app_client.get(path)
        assert answer.headers["cache-control"] == "no-store", path
        assert answer.headers["x-frame-options"] == "DENY", path
        assert answer.headers["content-security-policy"] == "frame-ancestors 'none'", path
    asset = await app_client.get("/console/static/vendor/htmx.min.js")
    assert asset.status_code == 200 and "no-store" not in asset.headers.get("cache-control", "")


async def test_wrong_password_and_unknown_user_get_the_same_answer(
    app_client: httpx.AsyncClient,
) -> None:
    await make_user(app_platform(app_client), "ann", "admin")
    wrong_password = await sign_in(app_client, "ann", "not the password")
    unknown_user = await sign_in(app_client, "bob", "correct horse battery")
    assert wrong_password.status_code == unknown_user.status_code == 401
    assert "Wrong user name or password." in wrong_password.text
    assert "Wrong user name or password." in unknown_user.text
    assert "set-cookie" not in wrong_password.headers


async def test_sign_in_attempts_are_rate_limited(app_client: httpx.AsyncClient) -> None:
    await make_user(app_platform(app_client), "ann", "admin")
    for _ in range(5):
        assert (await sign_in(app_client, "ann", "guess guess guess")).status_code == 401
    # Over the limit even the right password waits: the limit must not confirm a guess.
    blocked = await sign_in(app_client, "ann")
    assert blocked.status_code == 429
    assert "Too many sign-in attempts" in blocked.text


async def test_sign_ins_sent_at_once_count_before_their_passwords_are_checked(
    app_client: httpx.AsyncClient,
) -> None:
    """A burst passed the limit whole when each failure counted only once it was checked."""
    await make_user(app_platform(app_client), "bob", "admin")
    page = await app_client.get("/console/login")
    form = {"username": "bob", "csrf_token": csrf_of(page.text)}
    guesses = [form | {"password": f"guess number {n}"} for n in range(9)]
    burst = [*guesses, form | {"password": PASSWORD}]
    answers = await asyncio.gather(*(app_client.post("/console/login", data=f) for f in burst))
    checked = [a.status_code for a in answers if a.status_code != 429]
    assert len(checked) == 5 and set(checked) <= {401, 303}  # five passwords checked, no more


async def test_a_new_password_lifts_a_lockout_at_once(app_client: httpx.AsyncClient) -> None:
    """`omni users set-password` for someone locked out: they sign in, no server restarted."""
    platform = app_platform(app_client)
    await make_user(platform, "ann", "admin")
    for _ in range(5):
        assert (await sign_in(app_client, "ann", "guess guess guess")).status_code == 401
    assert (await sign_in(app_client, "ann")).status_code == 429
    async with platform.rt.db.write() as session:
        await set_password(session, "ann", "a brand new one")
    assert (await sign_in(app_client, "ann", "a brand new one")).status_code == 303


async def test_attempts_are_limited_per_address_across_user_names(
    app_client: httpx.AsyncClient,
) -> None:
    await make_user(app_platform(app_client), "ann", "admin")
    for n in range(20):
        assert (await sign_in(app_client, f"user{n}", "guess guess guess")).status_code == 401
    assert (await sign_in(app_client, "ann")).status_code == 429


async def test_a_post_without_the_csrf_token_is_refused(app_client: httpx.AsyncClient) -> None:
    await make_user(app_platform(app_client), "ann", "admin")
    await signed_in_token(app_client, "ann")
    form = {"kind": "web", "name": "Sneaky"}
    assert (await app_client.post("/console/sources", data=form)).status_code == 403
    wrong = form | {"csrf_token": "x" * 43}
    assert (await app_client.post("/console/sources", data=wrong)).status_code == 403
    header = {"X-CSRF-Token": "x" * 43}
    assert (await app_client.post("/console/sources", data=form, headers=header)).status_code == 403
    sources = await app_client.get("/console/sources")
    assert "Sneaky" not in sources.text


async def test_a_login_post_without_the_csrf_token_is_refused(
    app_client: httpx.AsyncClient,
) -> None:
    await make_user(app_platform(app_client), "ann", "admin")
    await app_client.get("/console/login")
    form = {"username": "ann", "password": "correct horse battery"}
    assert (await app_client.post("/console/login", data=form)).status_code == 403


async def test_admin_creates_a_source_and_sees_its_key_once(
    app_client: httpx.AsyncClient,
) -> None:
    await make_user(app_platform(app_client), "ann", "admin")
    token = await signed_in_token(app_client, "ann")
    form = {"kind": "web", "name": "Web shop", "csrf_token": token}
    created = await app_client.post("/console/sources", data=form)
    assert created.status_code == 201
    assert "tracker.js" in created.text and 'data-write-key="wk_' in created.text
    listing = await app_client.get("/console/sources")
    assert "Web shop" in listing.text and 'data-write-key="wk_' not in listing.text


async def test_errors_are_pages_for_people_in_the_console(app_client: httpx.AsyncClient) -> None:
    """A form the framework refuses, a page that does not exist, a timeline filter too long:
    the console's HTML error page with the status, never the API's problem+json."""
    await make_user(app_platform(app_client), "ann", "admin")
    token = await signed_in_token(app_client, "ann")
    answers = [
        await app_client.post("/console/sources", data={"kind": "web", "csrf_token": token}),
        await app_client.get("/console/no-such-page"),
        await app_client.get("/console/customers/x/timeline", params={"channel": "c" * 300}),
    ]
    for answer in answers:
        assert 400 <= answer.status_code < 500, answer.text
        assert answer.headers["content-type"].startswith("text/html"), answer.text
    api = await app_client.get("/v1/no-such-route")
    assert api.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("name", ["Web\x00shop", "Web\nshop"])
async def test_a_source_name_must_be_printable(app_client: httpx.AsyncClient, name: str) -> None:
    await make_user(app_platform(app_client), "ann", "admin")
    token = await signed_in_token(app_client, "ann")
    answer = await app_client.post(
        "/console/sources", data={"kind": "web", "name": name, "csrf_token": token}
    )
    assert answer.status_code == 400, answer.text
    assert "printable" in answer.text


async def _merged_profile(client: httpx.AsyncClient) -> str:
    """A visitor who signed in: their anonymous profile merged into the known one."""
    key = await make_source(app_platform(client), "web", "Web")
    batch = [
        {"type": "identify", "userId": "u1", "traits": {"email": "ann@example.com"}},
        {"type": "page", "anonymousId": "v1", "name": "Home"},
    ]
    for message in batch:
        await client.post("/v1/batch", auth=basic(key), content=orjson.dumps({"batch": [message]}))
        await drain(client)
    login = {"type": "identify", "userId": "u1", "anonymousId": "v1"}
    await client.post("/v1/batch", auth=basic(key), content=orjson.dumps({"batch": [login]}))
    await drain(client)
    async with app_platform(client).rt.db.read() as session:
        found = await lookup(session, app_platform(client).rules, "user_id", "u1")
    assert found is not None
    return found


async def test_an_agent_cannot_reach_sources_or_split_merges(
    app_client: httpx.AsyncClient,
) -> None:
    profile_id = await _merged_profile(app_client)
    await make_user(app_platform(app_client), "alex", "agent")
    token = await signed_in_token(app_client, "alex")
    view = await app_client.get(f"/console/customers/{profile_id}")
    assert view.status_code == 200 and "Split" not in view.text and "Sources" not in view.text
    for path in ("/console/sources", "/console/sources/anything"):
        assert (await app_client.get(path)).status_code == 403
    form = {"kind": "web", "name": "Agent's", "csrf_token": token}
    assert (await app_client.post("/console/sources", data=form)).status_code == 403
    merges = await app_client.post(
        f"/console/customers/{profile_id}/split", data={"merge_id": "m", "csrf_token": token}
    )
    assert merges.status_code == 403
    assert (await app_client.get(f"/console/customers/{profile_id}/export")).status_code == 403
    erase = await app_client.post(
        f"/console/customers/{profile_id}/erase", data={"csrf_token": token}
    )
    assert erase.status_code == 403


async def test_a_marketer_sees_sources_but_cannot_create_one(
    app_client: httpx.AsyncClient,
) -> None:
    await make_user(app_platform(app_client), "mia", "marketer")
    token = await signed_in_token(app_client, "mia")
    listing = await app_client.get("/console/sources")
    assert listing.status_code == 200 and "Create source" not in listing.text
    form = {"kind": "web", "name": "Mia's", "csrf_token": token}
    assert (await app_client.post("/console/sources", data=form)).status_code == 403


async def test_an_admin_splits_a_merge_from_the_console(app_client: httpx.AsyncClient) -> None:
    profile_id = await _merged_profile(app_client)
    await make_user(app_platform(app_client), "ann", "admin")
    token = await signed_in_token(app_client, "ann")
    view = await app_client.get(f"/console/customers/{profile_id}")
    merge_id = view.text.split('name="merge_id" value="')[1].split('"')[0]
    split = await app_client.post(
        f"/console/customers/{profile_id}/split", data={"merge_id": merge_id, "csrf_token": token}
    )
    assert split.status_code == 303
    after = await app_client.get(split.headers["location"])
    assert "Merge undone" in after.text and "split 20" in after.text


async def test_disabled_user_loses_the_session_at_once(app_client: httpx.AsyncClient) -> None:
    platform = app_platform(app_client)
    await make_user(platform, "ann", "admin")
    await signed_in_token(app_client, "ann")
    async with platform.rt.db.write() as session:
        user = await by_username(session, "ann")
        assert user is not None
        user.disabled_at = platform.rt.clock.now()
    assert (await app_client.get("/console/customers")).status_code == 303
