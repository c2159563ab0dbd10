"""Ingestion benchmark: Segment batches end to end, single tracks, and profile reads.

Run ``python bench/ingest.py`` (``make bench``); ``--quick`` for a small version, ``--help`` for
the knobs. Every figure is printed with its target and with a ratio to a baseline measured in the
same run, on the same machine, at the same time; nothing here asserts on time. Figures also go to
``bench/results/ingest-<db>[-quick].json`` (``-partial`` when only some phases ran or the server
was configured differently with ``--server-env``/``--workers``).

What is measured, on SQLite (always) and PostgreSQL (with ``--pg URL`` or
``OMNI_TEST_DATABASE_URL``; the bench creates and drops its own ``omni_bench`` database there):

1. **Bulk-insert baseline.** The very ``events`` rows the timed run will produce are inserted into
   a fresh, migrated database with the raw driver (sqlite3 with the server's pragmas, or asyncpg),
   ``executemany`` in transactions of 50,000 rows. Only the database work is timed. This is what
   the database itself can take; end-to-end ingestion is reported as a ratio of it (target 0.4).
   On PostgreSQL a COPY of the same rows is printed too, for context only. So is the same insert
   in transactions of ``--connections`` times ``--batch-size`` rows (800): the most one group commit
   can hold when every call is answered after its commit, so the ratio's ceiling for the log's
   rows alone, before any identity or profile work.
2. **Batch ingestion end to end.** ``omni serve`` runs as a real subprocess on a fresh database
   holding ``--profiles`` seeded profiles. The client posts ``--events`` realistic Segment events
   to ``POST /v1/batch``, 100 a call, over a few keep-alive connections; 20% of the events bring an
   identifier the graph has not seen (new device, first-time visitor, new email or phone) and ~1%
   are logins that merge a visitor's profile into a customer's. The clock runs from the first
   request until no event is left pending (``status = 0``): each event is then durably committed,
   resolved to a profile, and its traits are applied. Done twice: with the embedded worker (the
   default ``omni serve``) and with ``OMNI_EMBEDDED_WORKER=false`` plus one ``omni worker``
   process (``--workers N`` for more); the faster is the headline (targets: 50,000 ev/s SQLite,
   25,000 ev/s PostgreSQL).
3. **Single events.** ``POST /v1/track`` requests/s against a bare FastAPI app (one route
   answering ``{"success": true}``, ``bench/bare_app.py``, same uvicorn settings), same client,
   same requests, alternating rounds; printed as a ratio (target 0.6).
4. **Profile reads.** ``GET /v1/profiles/{id}`` and ``GET /v1/profiles/lookup?type=email&value=…``
   p50/p99 latency, one request at a time, over ``--read-profiles`` profiles, next to the same
   client's latency to the bare app.

Seeding: building a million profiles through HTTP would take most of an hour, so after
``omni migrate`` made the schema, profiles are written straight into ``profiles``,
``identities``, ``profile_traits`` and ``events`` (two resolved events each) with the raw driver
in big transactions (COPY on PostgreSQL); see ``bench/seed.py``. Write keys and tokens come from
``omni sources create`` / ``omni tokens create``, as an operator would make them.

The client is built to be cheap, since it shares the 2 cores with the server: every request is
serialised (orjson) and framed as bytes before the clock starts, and sent over raw asyncio streams
on uvloop (``bench/loadgen.py``). CPU seconds of the server, the worker, this client and the
whole machine are printed for each phase, so a busy machine shows in the figures
(``other_processes_cores``: CPU used by anything but the processes of the phase and PostgreSQL;
``stolen_cores``: CPU the hypervisor gave to other guests while this VM wanted it).

``--py-spy PATH`` records a profile of the server (and workers) during each timed part; summarise
it with ``bench/profile_top.py``. ``bench/pipeline_profile.py`` times each step of the pipeline
in-process, statement by statement.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
import uvloop
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

import loadgen
import rawdb
import seed
import servers
from workload import EventStream, Population

RESULTS = Path(__file__).resolve().parent / "results"
TARGETS = {"sqlite": 50_000.0, "postgresql": 25_000.0}
BULK_RATIO_TARGET = 0.4
TRACK_RATIO_TARGET = 0.6
BULK_TRANSACTION = 50_000
PG_DATABASE = "omni_bench"
PHASES = ("bulk", "embedded", "worker", "track", "reads")
COUNT_SECONDS = 1.0

err = Console(stderr=True)
out = Console(width=110)
MODE_LABELS = {"embedded": "embedded worker", "worker": "separate worker process"}


# --- options ---------------------------------------------------------------------------------


@dataclass
class Options:
    events: int
    profiles: int
    read_profiles: int
    batch_size: int
    new_share: float
    connections: int
    track_requests: int
    track_connections: int
    reads: int
    phases: tuple[str, ...]
    backends: tuple[str, ...]
    pg_url: str | None
    sqlite_synchronous: str
    server_env: dict[str, str]
    workers: int
    serve_processes: int
    src: Path | None
    workdir: Path
    keep: bool
    py_spy: str | None
    quick: bool


def parse_options(argv: list[str] | None = None) -> Options:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small run: 50k events, 10k profiles")
    p.add_argument("--events", type=int, help="events sent to /v1/batch (default 1,000,000)")
    p.add_argument("--profiles", type=int, help="seeded profiles for ingestion (default 100,000)")
    p.add_argument("--read-profiles", type=int, help="profiles for the read test (1,000,000)")
    p.add_argument("--batch-size", type=int, default=100, help="events per /v1/batch call")
    p.add_argument("--new-share", type=float, default=0.2, help="events with a new identifier")
    p.add_argument("--connections", type=int, default=8, help="client connections for batches")
    p.add_argument("--track-requests", type=int, help="/v1/track requests (default 30,000)")
    p.add_argument("--track-connections", type=int, default=32, help="connections for tracks")
    p.add_argument("--reads", type=int, help="requests per read latency figure (default 5,000)")
    p.add_argument("--phases", default=",".join(PHASES), help=f"subset of {','.join(PHASES)}")
    p.add_argument(
        "--backend", choices=("all", "sqlite", "postgresql"), default="all", help="which databases"
    )
    p.add_argument("--pg", default=os.environ.get("OMNI_TEST_DATABASE_URL"), help="PostgreSQL URL")
    p.add_argument("--sqlite-synchronous", default="FULL", help="OMNI_SQLITE_SYNCHRONOUS to use")
    p.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for every omni process, e.g. OMNI_WORKER_BATCH_SIZE=2000",
    )
    p.add_argument("--workers", type=int, default=1, help="omni worker processes (worker phase)")
    p.add_argument(
        "--serve-processes",
        type=int,
        default=1,
        help="HTTP processes of omni serve (omni serve --workers N) in the batch and track "
        "phases, and of the bare endpoint it is compared with",
    )
    p.add_argument(
        "--src",
        type=Path,
        help="run omni from this checkout (e.g. a git worktree pinned at a commit) instead of "
        "the installed package, so edits others make meanwhile don't change the code measured",
    )
    p.add_argument("--workdir", type=Path, help="where databases and logs go (default: a temp dir)")
    p.add_argument("--keep", action="store_true", help="keep the databases and logs afterwards")
    p.add_argument("--py-spy", metavar="PATH", help="py-spy binary: profile server and worker")
    a = p.parse_args(argv)
    quick = bool(a.quick)
    phases = tuple(x for x in a.phases.split(",") if x)
    if unknown := set(phases) - set(PHASES):
        p.error(f"unknown phases: {', '.join(sorted(unknown))}")
    backends: tuple[str, ...] = ("sqlite", "postgresql") if a.backend == "all" else (a.backend,)
    if not a.pg:
        if a.backend == "postgresql":
            p.error("--backend postgresql needs --pg URL or OMNI_TEST_DATABASE_URL")
        backends = tuple(b for b in backends if b != "postgresql")
    return Options(
        events=a.events or (50_000 if quick else 1_000_000),
        profiles=a.profiles or (10_000 if quick else 100_000),
        read_profiles=a.read_profiles or (100_000 if quick else 1_000_000),
        batch_size=a.batch_size,
        new_share=a.new_share,
        connections=a.connections,
        track_requests=a.track_requests or (5_000 if quick else 30_000),
        track_connections=a.track_connections,
        reads=a.reads or (1_000 if quick else 5_000),
        phases=phases,
        backends=backends,
        pg_url=a.pg,
        sqlite_synchronous=a.sqlite_synchronous.upper(),
        server_env=dict(item.split("=", 1) for item in a.server_env),
        workers=a.workers,
        serve_processes=a.serve_processes,
        src=a.src.resolve() if a.src else None,
        workdir=a.workdir or Path(tempfile.mkdtemp(prefix="omni-bench-")),
        keep=a.keep,
        py_spy=a.py_spy,
        quick=quick,
    )


# --- progress and measurement helpers --------------------------------------------------------


def progress() -> Progress:
    return Progress(
        TextColumn("{task.description:<34}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[note]}"),
        TimeElapsedColumn(),
        console=err,
        refresh_per_second=4,
    )


@dataclass
class CpuMeter:
    """CPU seconds spent by each named process, this client and the whole machine over a span."""

    processes: dict[str, servers.Process]
    started: dict[str, float] = field(default_factory=dict)
    machine: tuple[float, float, float] = (0.0, 0.0, 0.0)
    wall: float = 0.0

    def __enter__(self) -> CpuMeter:
        self.started = {name: p.cpu() for name, p in self.processes.items()}
        self.started["client"] = time.process_time()
        self.started["postgres"] = servers.postgres_cpu()
        self.machine = servers.machine_cpu()
        self.wall = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.result = self.read()

    def read(self) -> dict[str, float]:
        wall = time.perf_counter() - self.wall
        used = {name: p.cpu() - self.started[name] for name, p in self.processes.items()}
        used["client"] = time.process_time() - self.started["client"]
        used["postgres"] = servers.postgres_cpu() - self.started["postgres"]
        busy, stolen, total = servers.machine_cpu()
        cores = os.cpu_count() or 1
        elapsed = max(total - self.machine[2], 1.0)
        share = (busy - self.machine[0]) / elapsed
        figures = {f"{name}_cpu_s": round(v, 2) for name, v in used.items()}
        figures["machine_busy_cores"] = round(share * cores, 2)
        figures["stolen_cores"] = round((stolen - self.machine[1]) / elapsed * cores, 2)
        figures["other_processes_cores"] = round(
            max(0.0, share * cores - sum(used.values()) / wall), 2
        )
        figures["loadavg_1m"] = round(os.getloadavg()[0], 2)
        return figures


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def latency_figures(outcome: loadgen.Outcome) -> dict[str, float]:
    ms = [v * 1000 for v in outcome.latencies]
    return {
        "p50_ms": round(percentile(ms, 0.50), 3),
        "p99_ms": round(percentile(ms, 0.99), 3),
        "mean_ms": round(sum(ms) / len(ms), 3),
        "failed": outcome.failed,
    }


def check(outcome: loadgen.Outcome, what: str) -> None:
    if outcome.failed:
        raise RuntimeError(
            f"{what}: {outcome.failed} requests failed; first: {outcome.first_error}"
        )


# --- databases -------------------------------------------------------------------------------


class Target:
    """A database server (or SQLite directory) that hands out a fresh database per phase."""

    name: str

    def __init__(self, opts: Options) -> None:
        self.opts = opts

    async def fresh(self, phase: str) -> str:
        raise NotImplementedError

    async def raw(self, url: str) -> rawdb.RawDB:
        raise NotImplementedError

    async def cleanup(self) -> None:
        """Drop what the runs left behind."""


def remove_sqlite_files(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


class SqliteTarget(Target):
    name = "sqlite"

    def _path(self, phase: str) -> Path:
        return self.opts.workdir / f"{phase}.db"

    async def fresh(self, phase: str) -> str:
        remove_sqlite_files(self._path(phase))
        return f"sqlite+aiosqlite:///{self._path(phase)}"

    async def raw(self, url: str) -> rawdb.RawDB:
        return rawdb.SqliteDB(url.split("///", 1)[1], self.opts.sqlite_synchronous)

    async def cleanup(self) -> None:
        if not self.opts.keep:
            for path in self.opts.workdir.glob("*.db"):
                remove_sqlite_files(path)


class PostgresTarget(Target):
    name = "postgresql"

    def __init__(self, opts: Options) -> None:
        super().__init__(opts)
        assert opts.pg_url is not None
        self.admin_url = opts.pg_url

    async def fresh(self, phase: str) -> str:
        await rawdb.recreate_pg_database(self.admin_url, PG_DATABASE)
        return rawdb.with_database(self.admin_url, PG_DATABASE)

    async def raw(self, url: str) -> rawdb.RawDB:
        return await rawdb.PostgresDB.connect(url)

    async def cleanup(self) -> None:
        if not self.opts.keep:
            await rawdb.recreate_pg_database(self.admin_url, PG_DATABASE, drop_only=True)


@dataclass
class Prepared:
    """A fresh, migrated database with a source, a token and (maybe) seeded profiles."""

    url: str
    env: dict[str, str]
    write_key: str
    token: str
    source_id: str
    raw: rawdb.RawDB


@contextlib.asynccontextmanager
async def prepared(target: Target, phase: str, seeded: int) -> AsyncIterator[Prepared]:
    url = await target.fresh(phase)
    env = servers.omni_env(url, OMNI_SQLITE_SYNCHRONOUS=target.opts.sqlite_synchronous)
    env |= target.opts.server_env
    if target.opts.src:
        env["PYTHONPATH"] = str(target.opts.src / "src")
    servers.omni_cli(env, "migrate")
    write_key = servers.omni_cli(env, "sources", "create", "--kind", "web", "--name", "Bench")
    token = servers.omni_cli(env, "tokens", "create", "--role", "admin", "--name", "bench")
    raw = await target.raw(url)
    try:
        source_id = str(await raw.scalar("SELECT id FROM sources WHERE name = 'Bench'"))
        if seeded:
            await seed_with_progress(raw, Population(seeded), source_id)
        yield Prepared(url, env, write_key, token, source_id, raw)
    finally:
        await raw.close()


async def seed_with_progress(raw: rawdb.RawDB, people: Population, source_id: str) -> None:
    with progress() as bar:
        task = bar.add_task(f"seed {people.size:,} profiles (untimed)", total=people.size, note="")

        def advance(n: int) -> None:
            bar.advance(task, n)

        await seed.seed_profiles(raw, people, source_id, advance=advance)


# --- the workload ----------------------------------------------------------------------------


def make_bodies(opts: Options) -> list[bytes]:
    """Every ``/v1/batch`` body of the run, serialised before any clock starts."""
    stream = EventStream(Population(opts.profiles), new_share=opts.new_share, seed=11)
    calls = -(-opts.events // opts.batch_size)
    bodies: list[bytes] = []
    with progress() as bar:
        task = bar.add_task("build batch bodies (untimed)", total=calls, note="")
        for n in range(calls):
            size = min(opts.batch_size, opts.events - n * opts.batch_size)
            bodies.append(orjson.dumps(stream.batch_body(size, datetime.now(UTC))))
            bar.advance(task)
    return bodies


def track_bodies(opts: Options, count: int) -> list[bytes]:
    stream = EventStream(Population(opts.profiles), new_share=opts.new_share, seed=23)
    now = datetime.now(UTC)
    bodies: list[bytes] = []
    while len(bodies) < count:
        message = stream.message(now)
        if message["type"] == "track":
            bodies.append(orjson.dumps(message))
    return bodies


# --- phase 1: the bulk-insert baseline -------------------------------------------------------


def baseline_chunks(
    raw: rawdb.RawDB, bodies: list[bytes], source_id: str, per_transaction: int
) -> Iterator[list[Any]]:
    rows: list[Any] = []
    for body in bodies:
        batch = orjson.loads(body)
        rows += seed.event_rows(raw, batch["batch"], source_id, "web", batch["sentAt"])
        if len(rows) >= per_transaction:
            yield rows
            rows = []
    if rows:
        yield rows


async def bulk_insert(
    target: Target, bodies: list[bytes], *, copy: bool, per_transaction: int = BULK_TRANSACTION
) -> tuple[int, float]:
    """Rows and seconds to write every event row into a fresh database (only the writes timed),
    ``per_transaction`` rows a transaction."""
    how = "COPY" if copy else "executemany"
    async with prepared(target, f"bulk-{how.lower()}-{per_transaction}", 0) as db:
        write = db.raw.bulk_load if copy else db.raw.insert
        seconds, rows = 0.0, 0
        with progress() as bar:
            total = sum(body.count(b'"messageId"') for body in bodies)
            label = f"{how}, {per_transaction:,} rows a transaction"
            task = bar.add_task(f"bulk insert ({label})", total=total, note="")
            for chunk in baseline_chunks(db.raw, bodies, db.source_id, per_transaction):
                started = time.perf_counter()
                await write("events", seed.EVENT_COLUMNS, chunk)
                seconds += time.perf_counter() - started
                rows += len(chunk)
                bar.update(task, completed=rows, note=f"{rows / seconds:,.0f} rows/s")
    return rows, seconds


async def phase_bulk(target: Target, opts: Options, bodies: list[bytes]) -> dict[str, Any]:
    rows, seconds = await bulk_insert(target, bodies, copy=False)
    figures = {"rows": rows, "seconds": round(seconds, 3), "rows_per_s": round(rows / seconds, 1)}
    if target.name == "postgresql":  # for context only: COPY is PostgreSQL's fastest load
        rows, seconds = await bulk_insert(target, bodies, copy=True)
        figures["copy_rows_per_s"] = round(rows / seconds, 1)
    # The ceiling of the ratio, for context: the same rows and nothing else, but committed in
    # transactions no bigger than an answer-after-commit server can form, one group commit of
    # every call in flight (the client's connections times its batch size).
    group = opts.connections * opts.batch_size
    rows, seconds = await bulk_insert(target, bodies, copy=False, per_transaction=group)
    figures["group_rows"] = group
    figures["group_rows_per_s"] = round(rows / seconds, 1)
    return figures


# --- phase 2: batches end to end -------------------------------------------------------------


@contextlib.contextmanager
def profiling(opts: Options, procs: dict[str, servers.Process], label: str) -> Iterator[None]:
    if not opts.py_spy:
        yield
        return
    RESULTS.mkdir(exist_ok=True)
    spies = [
        servers.Profiler(opts.py_spy, proc, opts.workdir / f"profile-{label}-{name}.txt")
        for name, proc in procs.items()
    ]
    try:
        yield
    finally:
        for spy in spies:
            spy.stop()
            err.print(f"py-spy profile: {spy.out}")


async def watch_backlog(
    run: loadgen.Run, task: asyncio.Task[loadgen.Outcome], raw: rawdb.RawDB, events: int, per: int
) -> dict[str, float]:
    """Show progress while requests go out, then wait until nothing is pending.

    The backlog is counted once a second (a count of a big backlog costs the machine CPU the
    server should have); the end is found with a cheap EXISTS every 50 ms.
    """
    max_backlog = 0
    with progress() as bar:
        sent = bar.add_task("POST /v1/batch (timed)", total=events, note="")
        resolved = bar.add_task("resolved (timed)", total=events, note="")

        async def count() -> None:
            nonlocal max_backlog
            pending = await raw.pending()
            max_backlog = max(max_backlog, pending)
            accepted = min(events, run.done * per)
            bar.update(sent, completed=accepted, note=f"backlog {pending:,}")
            bar.update(resolved, completed=max(0, accepted - pending))

        while not task.done():
            await asyncio.wait([task], timeout=COUNT_SECONDS)
            await count()
        counted = time.perf_counter()
        while await raw.any_pending():
            await asyncio.sleep(0.05)
            if time.perf_counter() - counted > COUNT_SECONDS:
                await count()
                counted = time.perf_counter()
        bar.update(resolved, completed=events)
    return {"http_seconds": task.result().seconds, "max_backlog": max_backlog}


async def phase_batches(
    target: Target, opts: Options, bodies: list[bytes], mode: str
) -> dict[str, Any]:
    async with prepared(target, f"batch-{mode}", opts.profiles) as db:
        headers = loadgen.basic_auth(db.write_key)
        requests = [loadgen.request("POST", "/v1/batch", body=b, headers=headers) for b in bodies]
        port = servers.free_port()
        env = db.env | ({"OMNI_EMBEDDED_WORKER": "false"} if mode == "worker" else {})
        logs = opts.workdir / f"{target.name}-{mode}"
        logs.mkdir(exist_ok=True)
        with contextlib.ExitStack() as stack:
            serve = servers.omni_serve(env, port, logs, opts.serve_processes)
            procs = {"server": stack.enter_context(serve)}
            for n in range(opts.workers if mode == "worker" else 0):
                name = "worker" if n == 0 else f"worker{n + 1}"
                procs[name] = stack.enter_context(servers.omni_worker(env, logs, name))
            await loadgen.wait_http(port)
            with profiling(opts, procs, f"{target.name}-{mode}"), CpuMeter(procs) as cpu:
                started = time.perf_counter()
                run = loadgen.Run(
                    port, requests, connections=opts.connections, expect=b'"rejected":0'
                )
                task = asyncio.create_task(run())
                watched = await watch_backlog(run, task, db.raw, opts.events, opts.batch_size)
                seconds = time.perf_counter() - started
            for proc in procs.values():
                proc.check_alive()
        check(task.result(), f"batch ({mode})")
        counts = await graph_counts(db.raw)
    return {
        "events": opts.events,
        "seconds": round(seconds, 3),
        "events_per_s": round(opts.events / seconds, 1),
        "http_events_per_s": round(opts.events / watched["http_seconds"], 1),
        "drain_after_http_s": round(seconds - watched["http_seconds"], 3),
        "max_backlog": watched["max_backlog"],
        **cpu.result,
        "server_cpu_us_per_event": round(
            1e6
            * sum(v for k, v in cpu.result.items() if k.startswith(("server_", "worker")))
            / opts.events,
            1,
        ),
        "counts": counts,
    }


async def graph_counts(raw: rawdb.RawDB) -> dict[str, int]:
    """Sanity figures: what the run left in the tables."""
    queries = {
        "events": "SELECT count(*) FROM events",
        "events_pending": "SELECT count(*) FROM events WHERE status = 0",
        "events_discarded": "SELECT count(*) FROM events WHERE status = 2",
        "profiles": "SELECT count(*) FROM profiles",
        "profiles_merged": "SELECT count(*) FROM profiles WHERE merged_into IS NOT NULL",
        "identities": "SELECT count(*) FROM identities",
        "merges": "SELECT count(*) FROM merges",
        "traits": "SELECT count(*) FROM profile_traits",
    }
    return {name: int(await raw.scalar(sql)) for name, sql in queries.items()}


# --- phase 3: /v1/track against a bare FastAPI app --------------------------------------------


async def rounds(
    servers_by_name: dict[str, tuple[int, list[bytes]]], connections: int, label: str
) -> dict[str, float]:
    """Alternate the servers round by round (so drift in machine load hits both alike)."""
    totals = {name: loadgen.Outcome() for name in servers_by_name}
    with progress() as bar:
        tasks = {
            name: bar.add_task(f"{label} {name}", total=len(reqs), note="")
            for name, (_, reqs) in servers_by_name.items()
        }
        for half in (0, 1):
            for name, (port, reqs) in servers_by_name.items():
                part = reqs[half::2]
                run = loadgen.Run(port, part, connections=connections, expect=b'"success":true')
                outcome = await run()
                check(outcome, f"{label} {name}")
                totals[name].sent += outcome.sent
                totals[name].seconds += outcome.seconds
                bar.advance(tasks[name], outcome.sent)
                bar.update(tasks[name], note=f"{totals[name].per_second:,.0f} req/s")
    return {name: round(total.per_second, 1) for name, total in totals.items()}


async def wait_drained(raw: rawdb.RawDB) -> float:
    """Seconds until no event is pending."""
    started = time.perf_counter()
    pending = await raw.any_pending()
    while pending:
        await asyncio.sleep(0.05)
        pending = await raw.any_pending()
    return time.perf_counter() - started


async def warm_up(port: int, reqs: list[bytes]) -> None:
    check(await loadgen.Run(port, reqs, connections=4)(), "warm-up")


async def phase_track(target: Target, opts: Options) -> dict[str, Any]:
    async with prepared(target, "track", opts.profiles) as db:
        headers = loadgen.basic_auth(db.write_key)
        bodies = track_bodies(opts, opts.track_requests + 500)
        reqs = [loadgen.request("POST", "/v1/track", body=b, headers=headers) for b in bodies]
        omni_port, bare_port = servers.free_port(), servers.free_port()
        logs = opts.workdir / f"{target.name}-track"
        logs.mkdir(exist_ok=True)
        with (
            servers.omni_serve(db.env, omni_port, logs, opts.serve_processes) as omni,
            servers.bare_app(bare_port, logs, opts.serve_processes) as bare,
        ):
            await loadgen.wait_http(omni_port)
            await loadgen.wait_http(bare_port, "/v1/track")
            await warm_up(omni_port, reqs[:500])
            await warm_up(bare_port, reqs[:500])
            timed = reqs[500:]
            with (
                profiling(opts, {"server": omni}, f"{target.name}-track"),
                CpuMeter({"server": omni, "bare": bare}) as cpu,
            ):
                rates = await rounds(
                    {"omni": (omni_port, timed), "bare": (bare_port, timed)},
                    opts.track_connections,
                    "POST /v1/track",
                )
            # Without an embedded worker (an experiment via --server-env) nothing would drain.
            embedded = opts.server_env.get("OMNI_EMBEDDED_WORKER", "true").lower() != "false"
            drain = await wait_drained(db.raw) if embedded else float("nan")
    return {
        "requests": len(timed),
        "connections": opts.track_connections,
        "omni_requests_per_s": rates["omni"],
        "bare_requests_per_s": rates["bare"],
        "ratio": round(rates["omni"] / rates["bare"], 3),
        "drain_after_s": round(drain, 3),
        **cpu.result,
    }


# --- phase 4: profile reads ------------------------------------------------------------------


async def phase_reads(target: Target, opts: Options) -> dict[str, Any]:
    people = Population(opts.read_profiles)
    async with prepared(target, "reads", opts.read_profiles) as db:
        rng = random.Random(5)
        auth = loadgen.bearer(db.token)
        picks = [rng.randrange(people.size) for _ in range(opts.reads + 200)]
        gets = [
            loadgen.request("GET", f"/v1/profiles/{people.profile_id(i)}", headers=auth)
            for i in picks
        ]
        lookups = [
            loadgen.request(
                "GET",
                f"/v1/profiles/lookup?type=email&value={quote(people.email(i))}",
                headers=auth,
            )
            for i in reversed(picks)
        ]
        bare_reqs = [loadgen.request("GET", "/v1/track")] * len(picks)
        omni_port, bare_port = servers.free_port(), servers.free_port()
        logs = opts.workdir / f"{target.name}-reads"
        logs.mkdir(exist_ok=True)
        with (
            servers.omni_serve(db.env, omni_port, logs) as omni,
            servers.bare_app(bare_port, logs),
        ):
            await loadgen.wait_http(omni_port)
            await loadgen.wait_http(bare_port, "/v1/track")
            figures: dict[str, Any] = {"profiles": people.size}
            with profiling(opts, {"server": omni}, f"{target.name}-reads"):
                for name, reqs in (("get_profile", gets), ("lookup_email", lookups)):
                    figures[name] = await latency_run(omni_port, reqs, b'"id"', name)
            figures["bare"] = await latency_run(bare_port, bare_reqs, b'"success"', "bare")
    for name in ("get_profile", "lookup_email"):
        figures[name]["x_bare_p50"] = round(figures[name]["p50_ms"] / figures["bare"]["p50_ms"], 1)
    return figures


async def latency_run(port: int, reqs: list[bytes], expect: bytes, name: str) -> dict[str, float]:
    """One request at a time (no queueing in the figure); the first 200 warm the caches."""
    await warm_up(port, reqs[:200])
    with progress() as bar:
        task = bar.add_task(f"latency {name}", total=len(reqs) - 200, note="")
        run = loadgen.Run(port, reqs[200:], connections=1, expect=expect, latencies=True)
        job = asyncio.create_task(run())
        while not job.done():
            await asyncio.wait([job], timeout=0.25)
            bar.update(task, completed=run.done)
    outcome = job.result()
    check(outcome, name)
    return latency_figures(outcome)


# --- the report ------------------------------------------------------------------------------


def headline(figures: dict[str, Any], backend: str) -> None:
    runs = {m: figures[f"batch_{m}"] for m in ("embedded", "worker") if f"batch_{m}" in figures}
    if not runs:
        return
    mode = max(runs, key=lambda m: runs[m]["events_per_s"])
    best = runs[mode]["events_per_s"]
    figures["headline"] = {
        "mode": mode,
        "events_per_s": best,
        "target_events_per_s": TARGETS[backend],
        "of_target": round(best / TARGETS[backend], 3),
    }
    if "bulk" in figures:
        figures["headline"]["ratio_to_bulk"] = round(best / figures["bulk"]["rows_per_s"], 3)


def fmt(value: float, unit: str = "") -> str:
    return f"{value:,.0f}{unit}" if value >= 100 else f"{value:,.2f}{unit}"


def summary(backend: str, figures: dict[str, Any]) -> Table:
    codes = sorted({v["code"] for v in figures.values() if isinstance(v, dict) and "code" in v})
    title = f"Omnichannel ingestion — {backend} (code {', '.join(codes)})"
    table = Table(title=title, title_justify="left")
    for column in ("figure", "value", "target", "ratio"):
        table.add_column(column, justify="left" if column == "figure" else "right")
    if bulk := figures.get("bulk"):
        table.add_row("bulk insert baseline (rows/s)", fmt(bulk["rows_per_s"]), "", "1.00 (base)")
        if "copy_rows_per_s" in bulk:
            table.add_row("  for context: COPY (rows/s)", fmt(bulk["copy_rows_per_s"]))
        if "group_rows_per_s" in bulk:
            group = bulk["group_rows_per_s"]
            table.add_row(
                f"  for context: the same, {bulk['group_rows']:,} rows a transaction (rows/s)",
                fmt(group),
                "",
                f"{group / bulk['rows_per_s']:.3f} of bulk",
            )
    for mode in ("embedded", "worker"):
        if run := figures.get(f"batch_{mode}"):
            rate = run["events_per_s"]
            ratio = f"{rate / bulk['rows_per_s']:.3f} of bulk" if bulk else ""
            target = f"≥{fmt(TARGETS[backend])}"
            label = MODE_LABELS[mode]
            table.add_row(f"batch end to end, {label} (ev/s)", fmt(rate), target, ratio)
            table.add_row("  accepted over HTTP (ev/s)", fmt(run["http_events_per_s"]))
            table.add_row("  server + worker CPU (µs/event)", fmt(run["server_cpu_us_per_event"]))
            table.add_row(
                "  other processes on the machine (cores)", fmt(run["other_processes_cores"])
            )
            table.add_row("  stolen by the hypervisor (cores)", fmt(run["stolen_cores"]))
    if head := figures.get("headline"):
        ratio = head.get("ratio_to_bulk")
        table.add_row(
            f"HEADLINE end to end, {MODE_LABELS[head['mode']]} (ev/s)",
            fmt(head["events_per_s"]),
            f"≥{fmt(TARGETS[backend])}",
            f"{head['of_target']:.3f} of target",
        )
        if ratio is not None:
            table.add_row("HEADLINE / bulk insert", f"{ratio:.3f}", f"≥{BULK_RATIO_TARGET}", "")
    if track := figures.get("track"):
        table.add_row("POST /v1/track (req/s)", fmt(track["omni_requests_per_s"]))
        table.add_row("bare FastAPI (req/s)", fmt(track["bare_requests_per_s"]), "", "base")
        table.add_row("/v1/track / bare", f"{track['ratio']:.3f}", f"≥{TRACK_RATIO_TARGET}", "")
    if reads := figures.get("reads"):
        for name, label in (("get_profile", "GET /v1/profiles/{id}"), ("lookup_email", "lookup")):
            r = reads[name]
            value = f"{r['p50_ms']:.2f} / {r['p99_ms']:.2f} ms"
            table.add_row(f"{label} p50/p99", value, "", f"{r['x_bare_p50']}x bare p50")
        b = reads["bare"]
        table.add_row("bare FastAPI GET p50/p99", f"{b['p50_ms']:.2f} / {b['p99_ms']:.2f} ms")
    return table


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "loadavg": [round(v, 2) for v in os.getloadavg()],
        "python": sys.version.split()[0],
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def write_results(backend: str, opts: Options, figures: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    custom = opts.phases != PHASES or opts.server_env or opts.workers != 1
    custom = custom or opts.serve_processes != 1
    suffix = ("-quick" if opts.quick else "") + ("-partial" if custom else "")
    path = RESULTS / f"ingest-{backend}{suffix}.json"
    params = {
        k: getattr(opts, k)
        for k in (
            "events",
            "profiles",
            "read_profiles",
            "batch_size",
            "new_share",
            "connections",
            "track_requests",
            "track_connections",
            "reads",
            "sqlite_synchronous",
            "server_env",
            "workers",
            "serve_processes",
            "phases",
        )
    }
    document = {"backend": backend, "machine": machine(), "params": params, "figures": figures}
    path.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")
    return path


# --- main ------------------------------------------------------------------------------------


async def bench_backend(target: Target, opts: Options, bodies: list[bytes]) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    steps: list[tuple[str, str, Callable[[], Any]]] = [
        ("bulk", "bulk", lambda: phase_bulk(target, opts, bodies)),
        ("embedded", "batch_embedded", lambda: phase_batches(target, opts, bodies, "embedded")),
        ("worker", "batch_worker", lambda: phase_batches(target, opts, bodies, "worker")),
        ("track", "track", lambda: phase_track(target, opts)),
        ("reads", "reads", lambda: phase_reads(target, opts)),
    ]
    try:
        for phase, key, run in steps:
            if phase in opts.phases:
                err.rule(f"[bold]{target.name}: {phase}")
                code = servers.code_version(opts.src)
                figures[key] = await run()
                figures[key]["code"] = code
                err.print_json(data=figures[key])
    finally:
        await target.cleanup()
    headline(figures, target.name)
    return figures


async def main(opts: Options) -> None:
    opts.workdir.mkdir(parents=True, exist_ok=True)
    err.print(f"work dir: {opts.workdir}  machine: {machine()}")
    batches = {"bulk", "embedded", "worker"} & set(opts.phases)
    bodies = make_bodies(opts) if batches else []
    targets: dict[str, type[Target]] = {"sqlite": SqliteTarget, "postgresql": PostgresTarget}
    tables = []
    for backend in opts.backends:
        figures = await bench_backend(targets[backend](opts), opts, bodies)
        if opts.py_spy:  # profiled figures are slower than real ones: never keep them
            err.print("profiled run: figures not written to bench/results")
        else:
            err.print(f"figures written to {write_results(backend, opts, figures)}")
        tables.append(summary(backend, figures))
    for table in tables:
        out.print(table)
    if opts.keep or opts.py_spy:
        err.print(f"kept: {opts.workdir}")
    else:
        shutil.rmtree(opts.workdir, ignore_errors=True)


if __name__ == "__main__":
    options = parse_options()
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main(options))
