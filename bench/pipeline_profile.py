"""Where an ingested event's time goes, step by step, with no HTTP and no other process.

``python bench/pipeline_profile.py [--events N] [--profiles N] [--pg URL]`` runs the ingestion
pipeline in this process on a fresh database: ``Ingestor.accept`` and ``Ingestor.store`` for each
batch of 100 (what ``POST /v1/batch`` does after reading the body), then ``process_pending`` until
nothing is pending (what the worker does), with the same workload as ``bench/ingest.py``.
``--batch-size 1 --drain-every 1`` mimics a trickle of ``/v1/track`` calls, each waking the
embedded worker. It prints wall time per event for each step (inclusive: a step's figure contains
the steps called from it) and the SQL statements that took longest, timed around the driver call,
so a thread hop to aiosqlite or a round trip to PostgreSQL counts. A diagnostic to find hot
spots; the figures that matter are ``bench/ingest.py``'s.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import re
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvloop
from sqlalchemy import event

import rawdb
import seed
from omnichannel.config import Settings
from omnichannel.events import repository as events_repo
from omnichannel.events import service as events_service
from omnichannel.events import tasks
from omnichannel.events.sources import SourceInfo, create_source
from omnichannel.identity import repository as identity_repo
from omnichannel.identity import service as identity_service
from omnichannel.identity.resolver import Resolver
from omnichannel.kit.migrate import upgrade
from omnichannel.platform import Platform
from omnichannel.profiles import handlers as profiles_handlers
from omnichannel.profiles import repository as profiles_repo
from omnichannel.profiles import search as profiles_search
from workload import EventStream, Population

STEPS: dict[str, float] = defaultdict(float)
CALLS: dict[str, int] = defaultdict(int)
SQL: dict[str, float] = defaultdict(float)
SQL_CALLS: dict[str, int] = defaultdict(int)

# (module, function name): the steps timed, inclusive.
TIMED = [
    (events_service.Ingestor, "accept"),
    (events_service.Ingestor, "store"),
    (events_service, "validate_message"),
    (events_service, "extract"),
    (tasks, "_process_batch"),
    (tasks, "extract"),
    (events_repo, "claim_pending"),
    (events_repo, "mark_processed"),
    (identity_service, "resolve_batch"),
    (identity_service, "_load"),
    (identity_service, "_write"),
    (Resolver, "resolve"),
    (identity_repo, "suppressed"),
    (identity_repo, "versions"),
    (identity_repo, "bump_versions"),
    (identity_repo, "touch_identities"),
    (identity_repo, "insert_identities"),
    (identity_repo, "insert_profiles"),
    (identity_repo, "move_all_identities"),
    (profiles_handlers, "on_events_resolved"),
    (profiles_handlers, "apply"),
    (profiles_search, "on_events_resolved"),
    (profiles_handlers, "on_merged"),
    (profiles_repo, "upsert_latest"),
    (events_repo, "insert_events"),
]


def timed(owner: Any, name: str) -> None:
    original = getattr(owner, name)
    label = f"{getattr(owner, '__name__', owner)}.{name}".replace("omnichannel.", "")

    if asyncio.iscoroutinefunction(original):

        @functools.wraps(original)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await original(*args, **kwargs)
            finally:
                STEPS[label] += time.perf_counter() - started
                CALLS[label] += 1

        setattr(owner, name, async_wrapper)
        return

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            STEPS[label] += time.perf_counter() - started
            CALLS[label] += 1

    setattr(owner, name, wrapper)


def shape(sql: str) -> str:
    """A statement's shape: parameters and IN-lists folded, so repeats group together."""
    sql = re.sub(r"\s+", " ", sql)
    sql = re.sub(
        r"\((?:\s*(?:\?|\$\d+(?:::[A-Z ]+)?|%\(\w+\)s|__\[POSTCOMPILE_\w+\])\s*,?\s*)+\)",
        "(…)",
        sql,
    )
    sql = re.sub(r"(?:\(…\),?\s*)+", "(…)", sql)
    return sql[:150]


def time_sql(engine: Any) -> None:
    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        conn.info.setdefault("started", []).append(time.perf_counter())

    @event.listens_for(engine.sync_engine, "after_cursor_execute")
    def after(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        elapsed = time.perf_counter() - conn.info["started"].pop()
        SQL[shape(statement)] += elapsed
        SQL_CALLS[shape(statement)] += 1


async def prepare(settings: Settings, profiles: int) -> tuple[Platform, SourceInfo]:
    await asyncio.to_thread(upgrade, settings)
    platform = Platform(settings)
    async with platform.rt.db.write() as session:
        source, _ = await create_source(platform.rt, session, "web", "Bench")
    raw: rawdb.RawDB
    if settings.is_sqlite:
        raw = rawdb.SqliteDB(settings.database_url.split("///", 1)[1], "FULL")
    else:
        raw = await rawdb.PostgresDB.connect(settings.database_url)
    await seed.seed_profiles(raw, Population(profiles), source.id)
    await raw.close()
    return platform, SourceInfo(source.id, source.name, source.kind)


async def run(settings: Settings, events: int, profiles: int, drain_every: int, batch: int) -> None:
    for owner, name in TIMED:  # before the platform exists: its bus takes the handlers then
        timed(owner, name)
    platform, source = await prepare(settings, profiles)
    time_sql(platform.rt.db.writer)
    stream = EventStream(Population(profiles), new_share=0.2, seed=11)
    bodies = [stream.batch_body(batch, datetime.now(UTC)) for _ in range(events // batch)]
    started = time.perf_counter()
    for n, body in enumerate(bodies, 1):
        rows, _ = platform.ingestor.accept(
            source, body["batch"], received_at=datetime.now(UTC), batch_sent_at=None
        )
        await platform.ingestor.store(rows)
        if n % drain_every == 0 or n == len(bodies):
            while await tasks.process_pending(platform.rt, platform.rules):
                pass
    wall = time.perf_counter() - started
    await platform.close()
    report(wall, events)


def report(wall: float, events: int) -> None:
    print(
        f"\n{events:,} events in {wall:.2f}s: {events / wall:,.0f} ev/s, "
        f"{1e6 * wall / events:.1f} µs/event (one process, one core at most)\n"
    )
    print("step (inclusive)                                   µs/event   calls")
    for label, seconds in sorted(STEPS.items(), key=lambda kv: -kv[1]):
        print(f"{label:<50} {1e6 * seconds / events:9.1f} {CALLS[label]:7d}")
    print("\nSQL statements by total time                       µs/event   calls")
    for statement, seconds in sorted(SQL.items(), key=lambda kv: -kv[1])[:15]:
        print(f"{1e6 * seconds / events:9.1f} {SQL_CALLS[statement]:7d}  {statement}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--profiles", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=100, help="events per store")
    parser.add_argument("--drain-every", type=int, default=10, help="stores between drains")
    parser.add_argument("--pg", help="PostgreSQL URL (its omni_bench database is recreated)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="omni-pipeline-") as tmp:
        if args.pg:
            asyncio.run(rawdb.recreate_pg_database(args.pg, "omni_bench"))
            url = rawdb.with_database(args.pg, "omni_bench")
        else:
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'pipeline.db'}"
        os.environ.pop("OMNI_DATABASE_URL", None)
        settings = Settings(database_url=url)
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(run(settings, args.events, args.profiles, args.drain_every, args.batch_size))
        if args.pg:
            asyncio.run(rawdb.recreate_pg_database(args.pg, "omni_bench", drop_only=True))


if __name__ == "__main__":
    main()
