"""Load the demo retailer into a database, once, through the platform's real ingestion path.

The first run creates the demo sources and an admin token, generates the customers
(``demo.data``), feeds every message through ``Ingestor.accept``/``store`` exactly as the HTTP API
does, and drains the worker so identities are resolved before anyone looks. Later runs find the
sources and only reuse what is there.

Write keys and tokens are shown once and stored hashed, so the demo keeps the secrets it created
in a JSON file (by default ``omni-demo.json`` next to the SQLite database) to print them again.
That is a demo convenience only: it is why the file says so, is written owner-only, and is
checked against the database (the hashes must match) before its keys are trusted.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.progress import Progress
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from omnichannel.auth.service import create_token, verify
from omnichannel.config import Settings
from omnichannel.demo.data import ANN_EMAIL, SOURCES, DemoEvent, generate
from omnichannel.errors import Unauthorized
from omnichannel.events.models import Event
from omnichannel.events.service import NewEvent
from omnichannel.events.sources import SourceInfo, create_source
from omnichannel.identity import service as identity
from omnichannel.identity.models import Identity, Profile
from omnichannel.platform import Platform
from omnichannel.worker import Worker

KEYS_FILE_NAME = "omni-demo.json"
KEYS_NOTE = (
    "Demo convenience only: `omni demo` keeps the secrets it created here, in clear, so it can "
    "show them again. Real write keys and tokens are shown once and stored only as hashes."
)
TOKEN_NAME = "demo admin"
# Messages per transaction: big enough that commits (fsync) are few, small enough to show progress.
CHUNK = 2_000


class DemoDataError(RuntimeError):
    """The generator produced a message the platform rejects: a bug in ``demo.data``."""


@dataclass
class DemoKeys:
    """The secrets of a demo database: source name → write key, and an admin API token."""

    write_keys: dict[str, str]
    admin_token: str
    seed: int
    customers: int
    # Where the generated history ends; kept so a resumed load places events where the first did.
    anchor: str
    loaded: bool = False


@dataclass(frozen=True)
class Counts:
    profiles: int  # live ones: merged-away profiles only point at their survivor
    events: int
    identities: int


@dataclass
class DemoResult:
    keys_file: Path
    keys: DemoKeys | None = None
    loaded: bool = False  # False: the data was already there and is reused
    events_sent: int = 0
    seconds: float = 0.0
    counts: Counts | None = None
    ann_profile_id: str | None = None
    warnings: list[str] = field(default_factory=list)


def default_keys_file(settings: Settings) -> Path:
    """Beside the SQLite file (each database keeps its own keys), else the current directory."""
    database = make_url(settings.database_url).database
    if settings.is_sqlite and database and database != ":memory:":
        return Path(database).with_name(KEYS_FILE_NAME)
    return Path(KEYS_FILE_NAME)


# --- the keys file ---------------------------------------------------------------------------


def read_keys(path: Path) -> DemoKeys | None:
    """The saved secrets, or None when the file is missing or not one of ours."""
    try:
        data = json.loads(path.read_text())
        return DemoKeys(
            write_keys={str(k): str(v) for k, v in data["write_keys"].items()},
            admin_token=str(data["admin_token"]),
            seed=int(data["seed"]),
            customers=int(data["customers"]),
            anchor=str(data["anchor"]),
            loaded=bool(data.get("loaded", False)),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def write_keys(path: Path, keys: DemoKeys) -> None:
    """Write owner-only, atomically: a crash mid-write must not leave half a file of secrets."""
    data: dict[str, Any] = {"note": KEYS_NOTE, **keys.__dict__}
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        json.dump(data, file, indent=2)
        file.write("\n")
    os.replace(temporary, path)


# --- sources and token -----------------------------------------------------------------------


async def _demo_customers_here(platform: Platform) -> bool:
    """Whether a demo was loaded into this database (its Ann is here), keys file or not: a
    second demo would send every customer's history again, from new sources."""
    async with platform.rt.db.read() as session:
        return await identity.lookup(session, platform.rules, "email", ANN_EMAIL) is not None


async def _create_keys(platform: Platform, path: Path, seed: int, customers: int) -> DemoKeys:
    """Create the sources and the token; the file is written before the commit.

    If the commit then fails, the file names keys that do not exist; the next run finds no demo
    sources, creates them again and overwrites it. The other order could lose keys for good.
    """
    async with platform.rt.db.write() as session:
        write_keys_: dict[str, str] = {}
        for spec in SOURCES:
            _, key = await create_source(platform.rt, session, spec.kind, spec.name)
            write_keys_[spec.name] = key
        _, token = await create_token(platform.rt, session, "admin", TOKEN_NAME)
        anchor = platform.rt.clock.now().replace(microsecond=0).isoformat()
        keys = DemoKeys(write_keys_, token, seed=seed, customers=customers, anchor=anchor)
        write_keys(path, keys)
    return keys


async def _source_infos(platform: Platform, keys: DemoKeys) -> dict[str, SourceInfo] | None:
    """Each demo source as ingestion sees it, found by its key; None if any key is not valid."""
    infos: dict[str, SourceInfo] = {}
    for spec in SOURCES:
        key = keys.write_keys.get(spec.name)
        try:
            info = await platform.sources.authenticate(key)
        except Unauthorized:
            return None
        if (info.name, info.kind) != (spec.name, spec.kind):
            return None
        infos[spec.name] = info
    async with platform.rt.db.read() as session:
        principal = await verify(session, keys.admin_token)
    return infos if principal is not None and principal.role == "admin" else None


# --- loading ---------------------------------------------------------------------------------


async def _ingest(
    platform: Platform, infos: dict[str, SourceInfo], events: list[DemoEvent], progress: Progress
) -> None:
    """Accept and store in chunks, in time order, the way the batch endpoint would."""
    task = progress.add_task("Storing events", total=len(events))
    for start in range(0, len(events), CHUNK):
        chunk = events[start : start + CHUNK]
        received_at = platform.rt.clock.now()
        rows: list[NewEvent] = []
        for event in chunk:
            # One message per call keeps the chunk's global time order across sources.
            # sentAt = receivedAt makes the skew correction leave each timestamp as generated.
            accepted, verdicts = platform.ingestor.accept(
                infos[event.source.name],
                [event.message],
                received_at=received_at,
                batch_sent_at=received_at,
            )
            if not accepted:
                raise DemoDataError(f"{event.message['messageId']}: {verdicts[0].errors}")
            rows.extend(accepted)
        await platform.ingestor.store(rows)
        progress.advance(task, len(chunk))


async def _resolve(platform: Platform, progress: Progress, total: int) -> None:
    """``Worker.drain()``, with the progress bar moving as each batch is resolved."""
    task = progress.add_task("Resolving identities", total=total)
    worker = Worker(platform)
    while await worker.run_once():
        progress.update(task, completed=min(worker.processed, total))
    progress.update(task, completed=total)


async def counts(session: AsyncSession) -> Counts:
    """How big the database is (read-only; for the summary and the tests)."""

    async def count(query: Any) -> int:
        return int((await session.execute(query)).scalar_one())

    return Counts(
        profiles=await count(
            select(func.count()).select_from(Profile).where(Profile.merged_into.is_(None))
        ),
        events=await count(select(func.count()).select_from(Event)),
        identities=await count(select(func.count()).select_from(Identity)),
    )


async def _describe(platform: Platform, result: DemoResult) -> None:
    async with platform.rt.db.read() as session:
        result.counts = await counts(session)
        result.ann_profile_id = await identity.lookup(session, platform.rules, "email", ANN_EMAIL)


async def load_demo(
    platform: Platform,
    *,
    customers: int = 1000,
    seed: int = 42,
    keys_file: Path,
    progress: Progress | None = None,
) -> DemoResult:
    """Create and load the demo unless it is there already; returns what to tell the user.

    ``customers`` and ``seed`` only matter on the first run: a reused demo keeps the ones it was
    created with (they are in the keys file), so its printed examples stay true.
    """
    progress = progress or Progress(disable=True)
    started = time.perf_counter()
    result = DemoResult(keys_file)
    # The demo is the one the keys file names; sources of the same names made by hand (the
    # README's "Web shop") are someone else's and no sign of it.
    keys = read_keys(keys_file)
    infos = await _source_infos(platform, keys) if keys else None
    if keys is None or infos is None:
        if await _demo_customers_here(platform):
            result.warnings.append(
                f"The demo is loaded but {keys_file} does not hold its sources' keys (write "
                "keys are shown only once). Use another database, or delete this one to start "
                "over."
            )
            await _describe(platform, result)
            return result
        keys = await _create_keys(platform, keys_file, seed, customers)
        infos = await _source_infos(platform, keys)
        assert infos is not None  # made just now
    result.keys = keys
    # An earlier run that stopped mid-load left loaded=false: load again; the log's dedup by
    # messageId keeps what got in from being stored twice.
    if not keys.loaded:
        anchor = datetime.fromisoformat(keys.anchor)
        events = generate(keys.customers, keys.seed, anchor)
        await _ingest(platform, infos, events, progress)
        await _resolve(platform, progress, len(events))
        keys.loaded = True
        write_keys(keys_file, keys)
        result.loaded, result.events_sent = True, len(events)
    result.seconds = time.perf_counter() - started
    await _describe(platform, result)
    return result
