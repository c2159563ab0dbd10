"""The console's CLI: ``omni users create``, and the admin login ``omni demo`` prints."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from omnichannel import __version__
from omnichannel.config import Settings
from omnichannel.events.models import SYSTEM_SOURCE
from omnichannel.events.sources import system_source
from omnichannel.platform import Platform
from tests.console.support import csrf_of
from tests.live import env_for, free_port, omni, server

pytestmark = pytest.mark.slow
OMNI = str(Path(sys.executable).parent / "omni")


def test_users_create_refuses_bad_input_and_says_why(sqlite_template: Path, tmp_path: Path) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path / 'omni.db'}"
    (tmp_path / "omni.db").write_bytes(sqlite_template.read_bytes())
    created = omni(db, "users", "create", "--username", "Ann", "--role", "agent",
                   "--password", "long enough pw")  # fmt: skip
    assert created == "user ann (agent) created"
    for args, why in [
        (
            ["--username", "ann", "--role", "agent", "--password", "long enough pw"],
            "username: the user name ann is taken",
        ),
        (["--username", "bo", "--role", "chief", "--password", "long enough pw"], "role: one of"),
        (["--username", "bo", "--role", "agent", "--password", "short"], "password: at least 10"),
        (["--username", "bo", "--role", "store", "--password", "long enough pw"], "store: "),
    ]:
        done = subprocess.run([OMNI, "users", "create", *args], capture_output=True, text=True,
                              env={**os.environ, "OMNI_DATABASE_URL": db})  # fmt: skip
        assert done.returncode == 1 and why in done.stdout, done.stdout


def test_events_retry_says_how_many_went_back(sqlite_template: Path, tmp_path: Path) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path / 'omni.db'}"
    (tmp_path / "omni.db").write_bytes(sqlite_template.read_bytes())
    assert omni(db, "events", "retry") == "0 set-aside event(s) back in the backlog"


def test_a_wrong_setting_or_database_is_one_line_saying_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "new.db").touch()  # an empty file is an empty database to SQLite
    unmigrated = f"sqlite+aiosqlite:///{tmp_path / 'new.db'}"
    missing = tmp_path / "elsewhere" / "omni.db"
    for args, env, code, says in [
        # The wrong directory: no empty file made there, no advice to migrate it.
        (["sources", "list"], {"OMNI_DATABASE_URL": f"sqlite:///{missing}"}, 1,
         f"there is no database at {missing}"),
        (["sources", "list"], {"OMNI_DEFAULT_REGION": "XX"}, 2, "setting OMNI_DEFAULT_REGION"),
        (["sources", "list"], {"OMNI_IDENTITY_LIMITS": "{bad"}, 2, "not valid JSON"),
        (["sources", "list"], {"OMNI_DATABASE_URL": unmigrated}, 1, "run `omni migrate`"),
        (["worker"], {"OMNI_DATABASE_URL": unmigrated}, 1, "run `omni migrate`"),
        # Not migrated here, but it must be usable: the embedded worker failed on every poll.
        (["serve", "--no-migrate", "--port", str(free_port())], {}, 1, "run `omni migrate`"),
        (["tokens", "list"], {"OMNI_DATABASE_URL": "postgresql://u@127.0.0.1:9/x"}, 1,
         "Check OMNI_DATABASE_URL"),
        # A role that does not exist is not a table that does not exist: no `omni migrate` loop.
        (["tokens", "list"], {"OMNI_DATABASE_URL": "postgresql://no_such_role@127.0.0.1/x"}, 1,
         "Check OMNI_DATABASE_URL"),
        (["sources", "list"], {"OMNI_LOG_LEVEL": "verbose"}, 2, "setting OMNI_LOG_LEVEL"),
        (["migrate"], {"OMNI_DATABASE_URL": "sqlite:////no/such/dir/omni.db"}, 1,
         "unable to open database file"),
    ]:  # fmt: skip
        environment = {**os.environ, "OMNI_DATABASE_URL": unmigrated, **env}
        done = subprocess.run(
            [OMNI, *args], capture_output=True, text=True, timeout=60, env=environment
        )
        output = " ".join((done.stdout + done.stderr).split())  # Rich wraps long lines
        assert done.returncode == code and says in output, output
        assert "Traceback" not in output and "Exception in thread" not in output


def test_a_port_another_server_holds_is_one_line_before_anything_starts(tmp_path: Path) -> None:
    """Not uvicorn's "startup complete" then errno 98; and ``omni demo`` prints no new console
    password for a server that cannot start (it would replace the running console's)."""
    db = f"sqlite+aiosqlite:///{tmp_path / 'omni.db'}"
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = str(holder.getsockname()[1])
        for args in (["serve", "--port", port], ["demo", "--port", port, "--customers", "5"]):
            done = subprocess.run([OMNI, *args], capture_output=True, text=True, timeout=60,
                                  cwd=tmp_path, env=env_for(db))  # fmt: skip
            output = " ".join(done.stdout.split())
            assert done.returncode == 1 and f"cannot serve on 127.0.0.1:{port}" in output, output
            assert "password" not in output and "Traceback" not in done.stderr


def test_a_misspelt_setting_is_warned_of_with_the_one_meant(
    sqlite_template: Path, tmp_path: Path
) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path / 'omni.db'}"
    (tmp_path / "omni.db").write_bytes(sqlite_template.read_bytes())
    env = env_for(db, OMNI_DATABASE_URI="sqlite:///elsewhere.db", OMNI_FOO="1")
    done = subprocess.run([OMNI, "events", "status"], capture_output=True, text=True, env=env)
    warned = " ".join(done.stderr.split())
    assert done.returncode == 0 and "pending: 0" in done.stdout  # stdout as ever
    assert "OMNI_DATABASE_URI is no setting, ignored; did you mean OMNI_DATABASE_URL?" in warned
    assert (
        "OMNI_FOO is no setting, ignored" in warned
        and "did you mean" not in warned.split("OMNI_FOO")[1]
    )


def test_a_misspelt_setting_in_the_env_file_is_warned_of_too(
    sqlite_template: Path, tmp_path: Path
) -> None:
    (tmp_path / "omni.db").write_bytes(sqlite_template.read_bytes())
    (tmp_path / ".env").write_text("OMNI_DATABASE_URL=sqlite:///omni.db\nOMNI_LOG_LEVLE=debug\n")
    env = {k: v for k, v in env_for("").items() if k != "OMNI_DATABASE_URL"}
    done = subprocess.run([OMNI, "events", "status"], capture_output=True, text=True, env=env,
                          cwd=tmp_path)  # fmt: skip
    warned = " ".join(done.stderr.split())
    assert done.returncode == 0 and "pending: 0" in done.stdout, done.stdout + done.stderr
    assert "OMNI_LOG_LEVLE (in .env) is no setting, ignored; did you mean OMNI_LOG_LEVEL?" in warned


def test_migrate_says_what_it_did(tmp_path: Path) -> None:
    env = env_for(f"sqlite+aiosqlite:///{tmp_path / 'omni.db'}")
    for says in (r"applied \d+ migration\(s\): the database is up to", "was already up to date"):
        done = subprocess.run([OMNI, "migrate"], capture_output=True, text=True, env=env)
        assert re.search(says, " ".join(done.stdout.split())), done.stdout


def test_omni_demo_prints_a_console_login_that_works(tmp_path: Path) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path / 'omni.db'}"
    env = {**os.environ, "OMNI_DATABASE_URL": db}
    done = subprocess.run([OMNI, "demo", "--no-serve", "--customers", "5"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120, check=True)  # fmt: skip
    login = re.search(r"/console\s+\(user (\S+), password (\S+)\)", done.stdout)
    assert login, done.stdout
    assert "not served now: `omni serve` serves it there" in " ".join(done.stdout.split())
    process, url = server(db, tmp_path / "serve.log")
    try:
        with httpx.Client(base_url=url) as client:
            page = client.get("/console/login")
            form = {"username": login[1], "password": login[2], "csrf_token": csrf_of(page.text)}
            assert client.post("/console/login", data=form).status_code == 303
            shop = client.get("/demo/shop")  # the demo's web key, from its keys file
            assert 'data-write-key="wk_' in shop.text
    finally:
        process.stop()


def test_sources_list_marks_the_apis_own(sqlite_template: Path, tmp_path: Path) -> None:
    """Its name is one anyone may give a source: the list says which is the API's."""
    db = f"sqlite+aiosqlite:///{tmp_path / 'omni.db'}"
    (tmp_path / "omni.db").write_bytes(sqlite_template.read_bytes())

    async def change_a_consent() -> None:
        platform = Platform(Settings(database_url=db))
        try:
            async with platform.rt.db.write() as session:
                await system_source(platform.rt, session)
        finally:
            await platform.close()

    asyncio.run(change_a_consent())
    omni(db, "sources", "create", "--kind", "server", "--name", SYSTEM_SOURCE)
    listed = subprocess.run([OMNI, "sources", "list"], capture_output=True, text=True,
                            env=env_for(db), check=True).stdout  # fmt: skip
    assert listed.count(SYSTEM_SOURCE) == 2 and listed.count("server: the API's own") == 1
    [own] = [line.split()[1] for line in listed.splitlines() if "server: the API's own" in line]
    done = subprocess.run([OMNI, "sources", "disable", own], capture_output=True, text=True,
                          env=env_for(db))  # fmt: skip
    said = " ".join(done.stdout.split())
    assert done.returncode == 1 and "the API's own source" in said, said


def _signed_in(client: httpx.Client, username: str, password: str) -> bool:
    page = client.get("/console/login")
    form = {"username": username, "password": password, "csrf_token": csrf_of(page.text)}
    return client.post("/console/login", data=form).status_code == 303


def test_an_operator_disables_and_enables_users_and_sources(
    sqlite_template: Path, tmp_path: Path
) -> None:
    """Someone who left, a leaked write key: there was no command for either, only SQL."""
    db = f"sqlite+aiosqlite:///{tmp_path / 'omni.db'}"
    (tmp_path / "omni.db").write_bytes(sqlite_template.read_bytes())
    omni(db, "users", "create", "--username", "ann", "--role", "store", "--store",
         omni_source(db), "--password", "long enough pw")  # fmt: skip
    key = omni(db, "sources", "create", "--kind", "web", "--name", "Web")
    web = next(line.split()[1] for line in listing(db, "sources") if " Web " in line)
    process, url = server(db, tmp_path / "serve.log", OMNI_SOURCE_CACHE_SECONDS="0")
    try:
        with httpx.Client(base_url=url) as client, httpx.Client(base_url=url) as other:
            assert _signed_in(client, "ann", "long enough pw")
            assert client.get("/console/customers").status_code == 200
            assert (
                omni(db, "users", "disable", "ann")
                == "user ann disabled; their sessions have ended"
            )
            assert omni(db, "users", "disable", "ann") == "user ann was already disabled"
            assert client.get("/console/customers").status_code == 303  # to sign in
            assert not _signed_in(other, "ann", "long enough pw")
            [ann] = [line for line in listing(db, "users") if " ann " in line]
            assert ann.count("+00:00") == 2  # created, and disabled
            assert omni(db, "users", "enable", "ann") == "user ann enabled; they sign in again"
            assert omni(db, "users", "set-password", "ann", "--password", "another long one") == (
                "user ann: password changed; their sessions have ended"
            )
            assert not _signed_in(other, "ann", "long enough pw")
            assert _signed_in(other, "ann", "another long one")

            track = {"anonymousId": "v1", "event": "Viewed"}
            assert httpx.post(f"{url}/v1/track", json=track, auth=(key, "")).status_code == 200
            said = omni(db, "sources", "disable", web)
            assert said.endswith("disabled; running servers refuse its write key within 10 s")
            refused = httpx.post(f"{url}/v1/track", json=track, auth=(key, ""))
            assert refused.status_code == 401
            # Whoever looks at a till that stopped learns why, and on the source's console page.
            assert "'Web', is disabled" in refused.json()["detail"]
            assert f"`omni sources enable {web}`" in refused.json()["detail"]
            with sqlite3.connect(tmp_path / "omni.db") as raw:
                query = "SELECT errors FROM source_rejections WHERE source_id = ?"
                assert [row[0] for row in raw.execute(query, (web,))] == [
                    '[{"field":"writeKey","message":"the source is disabled"}]'
                ]
            said = omni(db, "sources", "enable", web)
            assert said.endswith("enabled; running servers take its write key within 10 s")
            assert httpx.post(f"{url}/v1/track", json=track, auth=(key, "")).status_code == 200
    finally:
        process.stop()
    for args in (["users", "disable", "nobody"], ["sources", "disable", "no-such-id"]):
        done = subprocess.run([OMNI, *args], capture_output=True, text=True, env=env_for(db))
        assert done.returncode == 1 and "list` shows them" in done.stdout, done.stdout


def omni_source(db: str) -> str:
    """A store's source: its id is the first word of the line that prints it."""
    omni(db, "sources", "create", "--kind", "pos", "--name", "Store")
    return next(line.split()[1] for line in listing(db, "sources") if " Store " in line)


def listing(db: str, what: str) -> list[str]:
    done = subprocess.run([OMNI, what, "list"], capture_output=True, text=True, env=env_for(db),
                          check=True)  # fmt: skip
    return done.stdout.splitlines()


def test_omni_says_its_version() -> None:
    done = subprocess.run([OMNI, "--version"], capture_output=True, text=True, check=True)
    assert done.stdout == f"omni {__version__}\n"
