"""Console benchmark: customer search and the 360 view, 1,000,000 profiles and 10,000,000 events.

Run ``python bench/console.py`` (``--profiles 20000 --events 200000`` for a quick run). Nothing
here asserts on time; the figures and their ratio to a baseline are printed.

Building the data: ``omni migrate`` makes the schema, ``omni sources create`` four sources (web,
app, pos, email), ``omni users create`` the console user. Then, with the raw driver
(``bench/seed.py``, as ``bench/ingest.py`` seeds): every profile gets its ``profiles`` row, three
identifiers, four traits and two resolved events, and the rest of ``--events`` are resolved
events scattered over the profiles (a few dozen for the busiest, ~8 on average at full size) on
all four channels over the past year. The search index (``profile_search``) is filled with the
very terms its handler would write (``profiles.search.terms_of``).

Measuring: a real ``omni serve`` (embedded worker on, nothing pending); the client signs in
through the login form, then sends ``--requests`` requests of each kind one at a time over one
keep-alive connection (``bench/loadgen.py``), after a warm-up on other profiles:

* search: ``GET /console/customers?q=…``, a mix of exact e-mails, user ids and name prefixes;
* 360 view: ``GET /console/customers/{id}``, a random profile each time;
* baseline: ``GET /v1/profiles/{id}``, the JSON profile API (bearer token) on the same profiles.

Latency is measured at the client on loopback, so it is server time plus ~0.1 ms of HTTP: an
upper bound of the server time the issue's target (p95 < 200 ms) is about.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote_plus

import httpx
import uvloop

from loadgen import Run, bearer, request, wait_http
from omnichannel.config import Settings
from omnichannel.identity.rules import MergeRules
from omnichannel.profiles.search import terms_of
from rawdb import RawDB, Row, SqliteDB
from seed import EVENT_COLUMNS, seed_profiles
from servers import free_port, omni_cli, omni_env, omni_serve
from workload import LIBRARY, Population, iso, mix64

CHANNELS = ("web", "app", "pos", "email")
EVENTS = ("Product Viewed", "Product Added", "Order Completed", "Email Opened")
CHUNK = 200_000
PASSWORD = "bench password 1"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def extra_events(
    db: RawDB, people: Population, sources: dict[str, str], first_id: int, count: int
) -> Iterator[list[Row]]:
    """``count`` resolved events over the profiles, in chunks; ids from ``first_id``."""
    now = datetime.now(UTC)
    rows: list[Row] = []
    for k in range(count):
        mixed = mix64(k)
        # Squaring a uniform draw skews towards low indexes: a few busy customers, a long tail.
        who = int(people.size * ((mixed % 1_000_003) / 1_000_003) ** 2)
        channel = CHANNELS[(mixed >> 20) % len(CHANNELS)]
        at = now - timedelta(minutes=(mixed >> 24) % (365 * 24 * 60))
        event = EVENTS[(mixed >> 40) % len(EVENTS)]
        ids = {"userId": people.user_id(who), "anonymousId": people.anonymous_id(who)}
        message = {
            "type": "track",
            "messageId": f"extra-{k}",
            **ids,
            "event": event,
            "properties": {"sku": f"sku-{mixed % 500:05d}", "price": 199, "currency": "UAH"},
            "originalTimestamp": iso(at),
            "context": {"library": LIBRARY},
        }
        rows.append(
            (
                first_id + k,
                sources[channel],
                message["messageId"],
                "track",
                event,
                channel,
                ids["userId"],
                ids["anonymousId"],
                db.ts(at),
                db.ts(at),
                db.json(message),
                people.profile_id(who),
                1,
            )
        )
        if len(rows) == CHUNK:
            yield rows
            rows = []
    if rows:
        yield rows


def prepare(database: Path) -> tuple[dict[str, str], str]:
    """Migrate, make the sources and the console user (once); an admin API token every run."""
    env = omni_env(f"sqlite+aiosqlite:///{database}", OMNI_SQLITE_SYNCHRONOUS="NORMAL")
    fresh = not database.exists()
    omni_cli(env, "migrate")
    if fresh:
        for channel in CHANNELS:
            omni_cli(env, "sources", "create", "--kind", channel, "--name", f"Bench {channel}")
        omni_cli(env, "users", "create", "--username", "bench", "--role", "admin",
                 "--password", PASSWORD)  # fmt: skip
    return env, omni_cli(env, "tokens", "create", "--role", "admin", "--name", "bench")


async def build(database: Path, profiles: int, events: int) -> None:
    """Write the profiles, events and search terms into the migrated database."""
    db = SqliteDB(str(database), "OFF")
    sources = {
        row[1]: row[0]
        for row in db.conn.execute("SELECT id, kind FROM sources WHERE name LIKE 'Bench %'")
    }
    people = Population(profiles)
    started = time.perf_counter()
    await seed_profiles(db, people, sources["web"])
    print(f"seeded {profiles:,} profiles ({2 * profiles:,} events) in "
          f"{time.perf_counter() - started:.0f} s", flush=True)  # fmt: skip
    started = time.perf_counter()
    extra = max(0, events - 2 * profiles)
    for chunk in extra_events(db, people, sources, 2 * profiles + 1, extra):
        await db.insert("events", ("id", *EVENT_COLUMNS), chunk)
    print(f"added {extra:,} events in {time.perf_counter() - started:.0f} s", flush=True)
    started = time.perf_counter()
    rules = MergeRules(Settings())
    terms: list[Row] = []
    for i in range(profiles):
        traits = {"email": people.email(i), "name": people.name(i)}
        terms.extend((term, people.profile_id(i)) for term in terms_of(traits, rules))
        if len(terms) >= CHUNK or i == profiles - 1:
            await db.insert("profile_search", ("term", "profile_id"), terms)
            terms = []
    # No ANALYZE: SQLite never runs it by itself, and its statistics count the NULLs of
    # profiles.merged_into as one value, after which it scans profiles instead of using the index.
    print(f"indexed search terms in {time.perf_counter() - started:.0f} s", flush=True)
    await db.close()


def sign_in(port: int) -> str:
    """The session cookie, got through the login form like a person."""
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
        page = client.get("/console/login")
        found = CSRF.search(page.text)
        assert found, page.text
        form = {"username": "bench", "password": PASSWORD, "csrf_token": found.group(1)}
        done = client.post("/console/login", data=form)
        assert done.status_code == 303, done.text
        return f"omni_console={client.cookies['omni_console']}"


def queries(people: Population, rng: random.Random, count: int) -> list[str]:
    """Search texts: exact e-mails, user ids, and name prefixes (a first name and two letters)."""
    found = []
    for _ in range(count):
        i = rng.randrange(people.size)
        kind = rng.randrange(3)
        if kind == 0:
            found.append(people.email(i).upper())
        elif kind == 1:
            found.append(people.user_id(i))
        else:
            found.append(people.name(i)[: people.name(i).index(" ") + 3])
    return found


def summary(name: str, latencies: list[float]) -> tuple[str, float, float, float]:
    ordered = sorted(latencies)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return name, statistics.median(ordered) * 1000, at(0.95), at(0.99)


async def measure(port: int, requests: list[bytes]) -> list[float]:
    outcome = await Run(port, requests, connections=1, latencies=True)()
    if outcome.failed:
        raise RuntimeError(f"{outcome.failed} requests failed, first: {outcome.first_error}")
    return outcome.latencies


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profiles", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--requests", type=int, default=300, help="timed requests of each kind")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the database here")
    parser.add_argument(
        "--reuse", action="store_true", help="measure the database a run left in --workdir"
    )
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="omni-console-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    database = workdir / "omni.db"
    if not args.reuse:
        database.unlink(missing_ok=True)
    built = database.exists()
    env, token = prepare(database)
    if not built:
        await build(database, args.profiles, args.events)
    db = SqliteDB(str(database), "NORMAL")
    held = (
        await db.scalar("SELECT count(*) FROM profiles"),
        await db.scalar("SELECT max(id) FROM events"),
    )
    await db.close()
    people = Population(args.profiles)
    rng = random.Random(11)
    port = free_port()
    with omni_serve(env, port, workdir):
        await wait_http(port)
        cookie = {"Cookie": sign_in(port)}
        ids = [people.profile_id(rng.randrange(people.size)) for _ in range(args.requests * 2)]
        warm, timed = ids[: args.requests], ids[args.requests :]
        await measure(
            port, [request("GET", f"/console/customers/{i}", headers=cookie) for i in warm]
        )
        texts = queries(people, rng, args.requests)
        search = [
            request("GET", f"/console/customers?q={quote_plus(t)}", headers=cookie) for t in texts
        ]
        view = [request("GET", f"/console/customers/{i}", headers=cookie) for i in timed]
        api = [request("GET", f"/v1/profiles/{i}", headers=bearer(token)) for i in timed]
        rows = [
            summary("console search", await measure(port, search)),
            summary("console 360 view", await measure(port, view)),
            summary("baseline: JSON profile API", await measure(port, api)),
        ]
    baseline = rows[2][2]
    print(f"\n{held[0]:,} profiles, {held[1]:,} events; {args.requests} requests of each kind")
    print(f"{'':28} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'p95 / baseline':>15}")
    for name, p50, p95, p99 in rows:
        print(f"{name:28} {p50:8.1f} {p95:8.1f} {p99:8.1f} {p95 / baseline:15.2f}")
    print("target: search and 360 view p95 < 200 ms")


if __name__ == "__main__":
    uvloop.run(main())
