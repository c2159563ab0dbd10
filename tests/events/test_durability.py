"""Crashes and scale-out with real processes.

SIGKILL loses nothing acknowledged and doubles nothing; two workers drain one backlog with no
event processed twice."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
from contextlib import closing
from pathlib import Path

import asyncpg
import httpx
import orjson
import pytest

from tests.live import Process, omni, server, worker

pytestmark = pytest.mark.usefixtures("backend")
PEOPLE = 1500  # three events each: an anonymous visit, a login, the identify that merges them


def backlog() -> list[bytes]:
    events = []
    for i in range(PEOPLE):
        events += [
            {"type": "track", "anonymousId": f"a{i}", "event": "Viewed", "messageId": f"v{i}"},
            {"type": "track", "userId": f"u{i}", "event": "Logged In", "messageId": f"l{i}"},
            {
                "type": "identify",
                "userId": f"u{i}",
                "anonymousId": f"a{i}",
                "traits": {"email": f"p{i}@x.co"},
                "messageId": f"i{i}",
            },
        ]
    # Views first, then logins, then identifies: every identify merges two existing profiles.
    ordered = events[0::3] + events[1::3] + events[2::3]
    return [orjson.dumps({"batch": ordered[i : i + 100]}) for i in range(0, len(ordered), 100)]


def scalar(database_url: str, sql: str) -> int:
    """One number from the database, read outside the processes under test."""
    if database_url.startswith("sqlite"):
        path = database_url.split("///", 1)[1]
        with closing(sqlite3.connect(path)) as conn:
            return int(conn.execute(sql).fetchone()[0])

    async def from_pg() -> int:
        conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
        try:
            return int(await conn.fetchval(sql))
        finally:
            await conn.close()

    return asyncio.run(from_pg())


def processed(*workers: Process) -> int:
    """What the workers say they committed ("processed N events" is logged after each commit)."""
    return sum(int(n) for w in workers for n in re.findall(r"processed (\d+) events", w.output()))


def wait_until(check: object, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def assert_settled(database_url: str) -> None:
    total = 3 * PEOPLE
    assert scalar(database_url, "SELECT count(*) FROM events") == total
    assert scalar(database_url, "SELECT count(*) FROM events WHERE status = 1") == total
    assert scalar(database_url, "SELECT count(*) FROM merges") == PEOPLE
    assert scalar(database_url, "SELECT count(*) FROM profiles WHERE merged_into IS NULL") == PEOPLE
    assert scalar(database_url, "SELECT count(*) FROM identities") == 3 * PEOPLE


def ingest(url: str, key: str) -> None:
    with httpx.Client(base_url=url, auth=(key, ""), timeout=30) as client:
        for body in backlog():
            response = client.post("/v1/batch", content=body)
            assert response.status_code == 200 and response.json()["accepted"] == 100


@pytest.mark.slow
def test_server_killed_after_ack_loses_nothing(database_url: str, tmp_path: Path) -> None:
    key = omni(database_url, "sources", "create", "--kind", "web", "--name", "Web")
    # No worker anywhere: everything acknowledged is pending when the server dies.
    serve, url = server(database_url, tmp_path / "serve.log", OMNI_EMBEDDED_WORKER="false")
    ingest(url, key)
    serve.kill()
    assert scalar(database_url, "SELECT count(*) FROM events WHERE status = 0") == 3 * PEOPLE
    # A retry of everything after the crash (the SDK didn't see some acks) doubles nothing.
    serve, url = server(database_url, tmp_path / "serve2.log", OMNI_EMBEDDED_WORKER="false")
    ingest(url, key)
    serve.stop()
    first = worker(database_url, tmp_path / "w1.log", OMNI_WORKER_BATCH_SIZE="200")
    wait_until(lambda: scalar(database_url, "SELECT count(*) FROM events WHERE status = 1") > 0)
    first.kill()  # mid-backlog, quite possibly mid-transaction
    committed = scalar(database_url, "SELECT count(*) FROM events WHERE status = 1")
    assert 0 < committed < 3 * PEOPLE
    second = worker(database_url, tmp_path / "w2.log")
    wait_until(lambda: scalar(database_url, "SELECT count(*) FROM events WHERE status = 0") == 0)
    second.stop()
    # The second worker did exactly what the first had not committed: nothing redone, nothing lost.
    assert processed(second) == 3 * PEOPLE - committed
    assert_settled(database_url)


@pytest.mark.slow
def test_two_workers_drain_one_backlog_without_doubling(
    database_url: str, backend: str, tmp_path: Path
) -> None:
    key = omni(database_url, "sources", "create", "--kind", "web", "--name", "Web")
    serve, url = server(database_url, tmp_path / "serve.log", OMNI_EMBEDDED_WORKER="false")
    ingest(url, key)
    serve.stop()
    workers = [
        worker(database_url, tmp_path / f"w{i}.log", OMNI_WORKER_BATCH_SIZE="100") for i in range(2)
    ]
    wait_until(lambda: scalar(database_url, "SELECT count(*) FROM events WHERE status = 0") == 0)
    for w in workers:
        w.stop()
    assert processed(*workers) == 3 * PEOPLE
    if backend == "postgresql":  # on SQLite they take turns; on PostgreSQL both must have worked
        assert all(processed(w) > 0 for w in workers)
    assert_settled(database_url)
