"""The operator's endpoints: /healthz, /readyz and /metrics, in process and from real processes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import insert, text

from omnichannel.app import create_app
from omnichannel.config import Settings
from omnichannel.events.models import PENDING, Event
from omnichannel.kit.clock import FrozenClock
from omnichannel.kit.migrate import shipped_revisions
from tests.helpers import START, app_platform, basic, drain, make_source
from tests.live import OMNI, Process, env_for, free_port, omni

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(text: str) -> Samples:
    """Every sample of a scrape, by (name, labels)."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def scrape(client: httpx.AsyncClient) -> Samples:
    answer = await client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    return samples(answer.text)


def change(before: Samples, after: Samples, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


@pytest.mark.usefixtures("backend")
async def test_metrics_count_what_was_stored_refused_and_processed(
    app_client: httpx.AsyncClient, web_key: str, clock: FrozenClock
) -> None:
    source = (await app_platform(app_client).sources.authenticate(web_key)).id
    before = await scrape(app_client)
    assert before[("omni_database_up", ())] == 1
    batch = {"batch": [{"type": "track", "anonymousId": f"m-{n}", "event": "Viewed"}
                       for n in range(3)] + [{"type": "track", "event": "no id"}]}  # fmt: skip
    assert (await app_client.post("/v1/batch", json=batch, auth=basic(web_key))).status_code == 200
    one = {"userId": "metrics-1", "event": "Viewed", "messageId": "once"}
    for _ in "12":  # a retry is answered 200, and stored once
        answer = await app_client.post("/v1/track", json=one, auth=basic(web_key))
        assert answer.status_code == 200
    bad = {"event": "no id"}
    assert (await app_client.post("/v1/track", json=bad, auth=basic(web_key))).status_code == 400
    clock.advance(timedelta(seconds=90))

    waiting = await scrape(app_client)
    assert change(before, waiting, "omni_ingested_events_total", source=source) == 4
    assert change(before, waiting, "omni_refused_events_total", source=source) == 2
    assert change(before, waiting, "omni_ingestion_requests_total", status="200") == 3
    assert change(before, waiting, "omni_ingestion_requests_total", status="400") == 1
    # Four new customers: all four wait for the worker (this app's is off), the oldest 90 s.
    assert waiting[("omni_events_pending", ())] == 4
    assert waiting[("omni_events_oldest_pending_seconds", ())] == 90
    assert waiting[("omni_events_set_aside", ())] == 0

    await drain(app_client)
    done = await scrape(app_client)
    assert change(waiting, done, "omni_processed_events_total", outcome="resolved") == 4
    assert done[("omni_events_pending", ())] == 0
    assert done[("omni_events_oldest_pending_seconds", ())] == 0


async def test_events_of_several_sources_stored_together_count_for_each(
    app_client: httpx.AsyncClient,
) -> None:
    """As the demo's loader stores them: each source counts its own, not the first one all."""
    platform = app_platform(app_client)
    keys = [await make_source(platform, kind) for kind in ("web", "pos")]
    sources = [await platform.sources.authenticate(key) for key in keys]
    before = await scrape(app_client)
    accepted = []
    for source, events in zip(sources, (1, 2), strict=True):
        messages = [{"type": "track", "anonymousId": f"{source.kind}-{n}", "event": "E"}
                    for n in range(events)]  # fmt: skip
        accepted += platform.ingestor.accept(source, messages, received_at=platform.rt.clock.now())[
            0
        ]
    await platform.ingestor.store(accepted)
    after = await scrape(app_client)
    counted = [change(before, after, "omni_ingested_events_total", source=s.id) for s in sources]
    assert counted == [1, 2]


@pytest.mark.usefixtures("backend")
async def test_a_set_aside_event_shows_until_it_is_retried(
    app_client: httpx.AsyncClient, web_key: str
) -> None:
    platform = app_platform(app_client)
    source = await platform.sources.authenticate(web_key)
    async with platform.rt.db.write() as session:  # a row no release of ours writes
        row = {"source_id": source.id, "message_id": "corrupt", "type": "track", "name": "E",
               "channel": "web", "timestamp": START, "received_at": START, "payload": [1, 2],
               "status": PENDING}  # fmt: skip
        await session.execute(insert(Event).values(row))
    before = await scrape(app_client)
    await drain(app_client)
    after = await scrape(app_client)
    assert after[("omni_events_set_aside", ())] == 1
    assert after[("omni_events_pending", ())] == 0
    assert change(before, after, "omni_processed_events_total", outcome="set_aside") == 1


@pytest.mark.usefixtures("backend")
async def test_ready_once_migrated_and_alive_always(app_client: httpx.AsyncClient) -> None:
    assert (await app_client.get("/readyz")).json() == {"status": "ready"}
    assert (await app_client.get("/healthz")).json() == {"status": "ok"}
    for path in ("/healthz", "/readyz"):  # some load balancers probe with HEAD
        assert (await app_client.head(path)).status_code == 200


async def test_not_ready_while_the_database_refuses_writes(
    app_client: httpx.AsyncClient, web_key: str, settings: Settings
) -> None:
    """A full disk (here SQLite's page limit, which fails a write the same way): every call was
    a 503, and /readyz said 200 all along, so a load balancer kept sending calls here."""
    if not settings.is_sqlite:
        pytest.skip("fills the database with SQLite's max_page_count")
    platform = app_platform(app_client)
    await platform.sources.authenticate(web_key)
    async with platform.rt.db.write() as session:  # the one writer connection keeps it
        pages = (await session.execute(text("PRAGMA page_count"))).scalar_one()
        await session.execute(text(f"PRAGMA max_page_count = {pages}"))
    big = {"anonymousId": "v1", "event": "Viewed", "properties": {"text": "x" * 30_000}}
    statuses = set()
    for n in range(50):
        call = await app_client.post("/v1/track", json=big | {"messageId": f"m{n}"},
                                     auth=basic(web_key))  # fmt: skip
        statuses.add(call.status_code)
        if call.status_code == 503:
            break
    assert 503 in statuses
    refused = await app_client.get("/readyz")
    assert refused.status_code == 503
    assert "database or disk is full" in refused.json()["detail"]
    async with platform.rt.db.write() as session:  # the disk freed
        await session.execute(text("PRAGMA max_page_count = 1073741823"))
    assert (await app_client.get("/readyz")).status_code == 200  # a write succeeded
    assert (await app_client.post("/v1/track", json=big, auth=basic(web_key))).status_code == 200


async def _client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://omni.test") as client:
            yield client


async def test_not_ready_on_a_database_that_lacks_migrations(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/new.db", embedded_worker=False
    )
    async for client in _client(settings):
        answer = await client.get("/readyz")
        assert answer.status_code == 503
        assert "omni migrate" in answer.json()["detail"]
        assert (await client.get("/healthz")).status_code == 200


async def test_with_the_database_away_metrics_say_so_and_it_is_not_ready() -> None:
    port = free_port()  # nothing listens there
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{port}/none"
    async for client in _client(Settings(database_url=url, embedded_worker=False)):
        answer = await client.get("/readyz")
        assert answer.status_code == 503
        assert "does not answer" in answer.json()["detail"]
        assert (await client.get("/healthz")).status_code == 200
        scraped = await scrape(client)
        assert scraped[("omni_database_up", ())] == 0
        assert ("omni_events_pending", ()) not in scraped


async def test_a_database_that_never_answers_is_a_quick_503_not_a_hang() -> None:
    """A server that takes the connection and then says nothing (a hung proxy, say): every
    route that needs the database answers 503 within OMNI_DATABASE_CONNECT_TIMEOUT_SECONDS."""
    taken: list[asyncio.StreamWriter] = []

    async def say_nothing(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        taken.append(writer)

    hole = await asyncio.start_server(say_nothing, "127.0.0.1", 0)
    port = hole.sockets[0].getsockname()[1]
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{port}/none"
    settings = Settings(
        database_url=url, embedded_worker=False, database_connect_timeout_seconds=0.3
    )
    try:
        async for client in _client(settings):
            track = await client.post("/v1/track", json={}, auth=("wk_any", ""))
            assert track.status_code == 503, track.text
            assert track.headers["retry-after"] == "1"
            assert (await client.get("/readyz")).status_code == 503
            assert (await scrape(client))[("omni_database_up", ())] == 0
            lookup = await client.get("/v1/profiles/x", headers={"Authorization": "Bearer t"})
            assert lookup.status_code == 503, lookup.text
    finally:
        hole.close()
        for writer in taken:
            writer.close()


def newer_release_db(template: Path, directory: Path) -> str:
    """A database as a newer release left it: a migration this one does not know (a roll-back)."""
    path = directory / "omni.db"
    shutil.copyfile(template, path)
    with contextlib.closing(sqlite3.connect(path)) as connection, connection:
        connection.execute("UPDATE alembic_version SET version_num = '0099'")
    return f"sqlite+aiosqlite:///{path}"


async def test_a_database_of_a_newer_release_is_not_ready(
    sqlite_template: Path, tmp_path: Path
) -> None:
    db = newer_release_db(sqlite_template, tmp_path)
    async for client in _client(Settings(database_url=db, embedded_worker=False)):
        answer = await client.get("/readyz")
        assert answer.status_code == 503
        assert "another release" in answer.json()["detail"]


def test_on_a_database_of_a_newer_release_the_cli_says_so(
    sqlite_template: Path, tmp_path: Path
) -> None:
    db = newer_release_db(sqlite_template, tmp_path)
    for command in (["worker"], ["migrate"]):
        done = subprocess.run([OMNI, *command], env=env_for(db), capture_output=True, text=True)
        assert done.returncode == 1, done.stdout + done.stderr
        said = " ".join(done.stdout.split())
        assert "migrated by another release" in said and "Traceback" not in done.stderr
        assert f"`omni migrate --to {shipped_revisions()[-1]}`" in said


def test_migrate_to_takes_the_database_back_and_forward(tmp_path: Path) -> None:
    """Before rolling back to an older release, the newer one takes the database back to it."""
    db = f"sqlite+aiosqlite:///{tmp_path / 'omni.db'}"
    older = shipped_revisions()[-2]

    def run(*args: str) -> str:
        done = subprocess.run([OMNI, *args], env=env_for(db), capture_output=True, text=True)
        return f"{done.returncode} " + " ".join(done.stdout.split())

    assert run("migrate").startswith("0 applied")
    assert run("migrate", "--to", older).startswith(f"0 the database is at migration {older}")
    assert "lacks 1 migration(s)" in run("events", "status")
    assert run("migrate", "--to", "0099").startswith("1 error: no migration 0099 in this release")
    assert run("migrate").startswith("0 applied 1 migration(s)")
    assert run("events", "status").startswith("0 pending: 0")
    assert run("migrate", "--to", "base").startswith("0 the database is at migration base")
    assert run("migrate").startswith(f"0 applied {len(shipped_revisions())} migration(s)")


def test_ports_out_of_range_are_refused() -> None:
    for args, extra in ((["serve", "--port", "70000"], {}), (["serve"], {"OMNI_PORT": "70000"}),
                        (["worker", "--metrics-port", "70000"], {})):  # fmt: skip
        done = subprocess.run(
            [OMNI, *args], env=env_for("sqlite+aiosqlite:///unused.db", **extra),
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert "65535" in done.stdout + done.stderr and "Traceback" not in done.stderr


def _poll(url: str, name: str, want: float, **labels: str) -> None:
    """Scrape until the sample is ``want``."""
    key = (name, tuple(sorted(labels.items())))
    deadline, found = time.monotonic() + 30, None
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            found = samples(httpx.get(url, timeout=5).text).get(key)
        if found == want:
            return
        time.sleep(0.2)
    raise AssertionError(f"{name}{labels} is {found}, not {want}")


def test_every_http_process_answers_for_all_and_a_worker_for_itself(
    sqlite_template: Path, tmp_path: Path
) -> None:
    """``omni serve --workers 2``: whichever process a scrape reaches, it counts the calls both
    took, and the backlog they left (``omni events status`` too). ``omni worker --metrics-port``:
    the worker's own counters."""
    path = tmp_path / "omni.db"
    shutil.copyfile(sqlite_template, path)
    db = f"sqlite+aiosqlite:///{path}"
    key = omni(db, "sources", "create", "--kind", "web", "--name", "Web")
    port, worker_port = free_port(), free_port()
    env = env_for(db, OMNI_EMBEDDED_WORKER="false")
    serve = Process([OMNI, "serve", "--port", str(port), "--no-migrate", "--workers", "2"],
                    env, tmp_path / "serve.log").start()  # fmt: skip
    worker = Process([OMNI, "worker", "--metrics-port", str(worker_port)], env,
                     tmp_path / "worker.log")  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        _poll(f"{url}/metrics", "omni_database_up", 1)
        calls = 40
        for n in range(calls):  # a connection each, so the kernel spreads them over both
            with httpx.Client(base_url=url, auth=basic(key)) as client:
                message = {"anonymousId": f"visitor-{n}", "event": "Viewed"}
                assert client.post("/v1/track", json=message).status_code == 200
        for _ in range(6):
            scraped = samples(httpx.get(f"{url}/metrics").text)
            counted = scraped[("omni_ingestion_requests_total", (("status", "200"),))]
            assert counted == calls
            assert scraped[("omni_events_pending", ())] == calls  # no worker yet
        status = subprocess.run([OMNI, "events", "status"], env=env, capture_output=True,
                                text=True, check=True).stdout.splitlines()  # fmt: skip
        assert status[0].startswith(f"pending: {calls} (the oldest waiting")
        assert status[1] == "set aside: 0"
        worker.start()
        worker_url = f"http://127.0.0.1:{worker_port}/metrics"
        _poll(worker_url, "omni_processed_events_total", calls, outcome="resolved")
        _poll(f"{url}/metrics", "omni_events_pending", 0)
        assert omni(db, "events", "status") == "set aside: 0"
    finally:
        serve.stop()
        worker.stop()


def children_of(pid: int) -> set[int]:
    """The processes whose parent is ``pid`` (Linux's /proc)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            # "pid (name) state ppid …": the name may hold spaces, so split after its ")".
            if int(stat.read_text().rpartition(")")[2].split()[1]) == pid:
                found.add(int(stat.parent.name))
    return found


def gone(pid: int) -> bool:
    """Ended (a zombie awaiting init's reaping counts as ended)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
    except OSError:
        return True


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads Linux's /proc")
def test_the_http_processes_end_when_their_supervisor_is_killed(
    sqlite_template: Path, tmp_path: Path
) -> None:
    """SIGKILL of ``omni serve --workers 2`` (the OOM killer, say) used to leave its two HTTP
    processes serving the port, so the next ``omni serve`` could not start."""
    path = tmp_path / "omni.db"
    shutil.copyfile(sqlite_template, path)
    env = env_for(f"sqlite+aiosqlite:///{path}", OMNI_EMBEDDED_WORKER="false")
    port = free_port()
    args = [OMNI, "serve", "--port", str(port), "--no-migrate", "--workers", "2"]
    serve = Process(args, env, tmp_path / "serve.log").start()
    assert serve.proc is not None
    children: set[int] = set()
    try:
        _poll(f"http://127.0.0.1:{port}/metrics", "omni_database_up", 1)
        children = children_of(serve.proc.pid)
        assert len(children) >= 2
        serve.kill()
        deadline = time.monotonic() + 20
        while not all(gone(pid) for pid in children) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert [pid for pid in children if not gone(pid)] == []
        again = Process(args, env, tmp_path / "again.log").start()
        try:
            _poll(f"http://127.0.0.1:{port}/metrics", "omni_database_up", 1)
        finally:
            again.stop()
    finally:
        serve.stop()
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
