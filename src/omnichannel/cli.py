"""The ``omni`` command: serve, worker, migrate, demo, sources, tokens, console users.

Typer for the commands, Rich for tables and progress. Every command reads ``Settings()`` (the
``OMNI_`` environment) at the start and nowhere else.
"""

from __future__ import annotations

import asyncio
import difflib
import logging
import os
import re
import secrets
import signal
import socket
import threading
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import typer
import uvicorn
from alembic.script.revision import ResolutionError
from alembic.util import CommandError
from dotenv import dotenv_values
from prometheus_client import start_http_server
from pydantic import ValidationError
from pydantic_settings import SettingsError
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from omnichannel import __version__
from omnichannel.auth.models import ROLES
from omnichannel.auth.service import create_token, list_tokens, revoke_token
from omnichannel.config import Settings
from omnichannel.console.models import ROLES as CONSOLE_ROLES
from omnichannel.console.users import (
    create_user,
    list_users,
    provision,
    set_password,
    set_user_disabled,
)
from omnichannel.demo.guide import print_console_login, print_guide
from omnichannel.demo.loader import DemoResult, default_keys_file, load_demo
from omnichannel.errors import Problem, Unavailable
from omnichannel.events.models import SOURCE_KINDS
from omnichannel.events.repository import backlog as backlog_of
from omnichannel.events.repository import retry_failed
from omnichannel.events.sources import create_source, list_sources, set_source_disabled
from omnichannel.kit.metrics import shared_between_processes
from omnichannel.kit.migrate import downgrade, pending_migrations, shipped_revisions, upgrade
from omnichannel.platform import Platform
from omnichannel.worker import Worker

app = typer.Typer(help="Omnichannel: one customer, every channel.", no_args_is_help=True)
sources_app = typer.Typer(help="Touchpoint systems and their write keys.", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens for the profile API.", no_args_is_help=True)
app.add_typer(sources_app, name="sources")
app.add_typer(tokens_app, name="tokens")
users_app = typer.Typer(help="People who sign in to the web console.", no_args_is_help=True)
app.add_typer(users_app, name="users")
events_app = typer.Typer(help="The event log's backlog.", no_args_is_help=True)
app.add_typer(events_app, name="events")
DEMO_ADMIN = "admin"
console = Console()
warnings = Console(stderr=True)  # not on stdout, whose last line some commands promise
T = TypeVar("T")
R = TypeVar("R")


def _print_version(asked: bool) -> None:
    if asked:
        print(f"omni {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="print the version"
    ),
) -> None:
    """Omnichannel: one customer, every channel."""


def _run(
    work: Callable[[Platform], Awaitable[T]],
    settings: Settings | None = None,
    *,
    migrated: bool = True,
) -> T:
    """Run ``work`` with a platform; a refusal (bad kind, unknown id…) is one red line and exit
    code 1, not a traceback. Unless ``migrated`` is False, the database must have every
    migration of this release and none it does not know (``main`` tells a roll-back)."""

    settings = settings or Settings()
    if migrated and (missing := _missing_sqlite_file(settings)):
        # SQLite would create an empty file here, and the advice to migrate it would then make
        # a second database the server never reads: the usual slip is the wrong directory.
        console.print(
            f"[red]error[/]: there is no database at {escape(str(missing))}: run this in the "
            "directory the server runs in, or point OMNI_DATABASE_URL at its file (`omni "
            "migrate` creates a new one)."
        )
        raise typer.Exit(1)

    async def main() -> T:
        platform = Platform(settings)
        try:
            if migrated and (pending := await pending_migrations(platform.rt.db.writer)):
                raise Unavailable(
                    f"The database at {_shown(platform.settings.database_url)} lacks "
                    f"{len(pending)} migration(s): run `omni migrate` (or start `omni serve`, "
                    "which migrates), then this command again."
                )
            return await work(platform)
        finally:
            await platform.close()
            # aiosqlite stops the thread of a connection that failed to open (a path that
            # cannot be opened) without waiting for it, and the thread then reports to this
            # loop: closed by then, it printed a traceback after the one-line error. Every
            # connection of this process is closed now, so their threads end at once.
            for thread in threading.enumerate():
                if thread.name.endswith("(_connection_worker_thread)"):
                    await asyncio.to_thread(thread.join, 5)

    try:
        return asyncio.run(main())
    except Problem as problem:
        console.print(f"[red]error[/]: {escape(problem.detail)}")
        raise typer.Exit(1) from problem


def _print_rows(
    load: Callable[[AsyncSession], Awaitable[Sequence[R]]],
    columns: tuple[str, ...],
    cells: Callable[[R], tuple[str, ...]],
) -> None:
    """Read rows in one transaction and print them as a table: the ``list`` commands."""

    async def work(platform: Platform) -> None:
        async with platform.rt.db.read() as session:
            found = await load(session)
        table = Table(*columns)
        # An id is copied into other commands (`tokens revoke`, `users create --store`): never
        # cut it short, however narrow the terminal; the other columns give way.
        table.columns[0].no_wrap, table.columns[0].min_width = True, 36
        for row in found:
            table.add_row(*cells(row))
        # Piped (a script reading ids), lines are as long as they need to be.
        (console if console.is_terminal else Console(width=1000)).print(table)

    _run(work)


def _when(at: datetime | None) -> str:
    return at.isoformat(timespec="seconds") if at else ""


def _logging(settings: Settings) -> None:
    level = settings.log_level.upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if level != "DEBUG":  # Alembic says which dialect it found each time it reads the schema
        logging.getLogger("alembic").setLevel(logging.WARNING)


async def _pending(platform: Platform) -> list[str]:
    return await pending_migrations(platform.rt.db.writer)


async def _nothing_more(_: Platform) -> None:
    """The work of a command that needs only ``_run``'s check of the database."""


@app.command()
def migrate(
    to: str = typer.Option(
        None,
        "--to",
        help="a migration to move to, forward or back (back: before running an older release, "
        "with the newer one); default: this release's latest",
    ),
) -> None:
    """Create or upgrade the database schema (safe to run again)."""
    settings = Settings()
    pending = _run(_pending, settings, migrated=False)
    if to is not None:
        _migrate_to(settings, to, pending)
        return
    upgrade(settings)
    done = f"applied {len(pending)} migration(s): the" if pending else "the"
    up_to_date = "is up to date" if pending else "was already up to date"
    console.print(f"[green]{done} database {up_to_date}[/] ({_shown(settings.database_url)})")


def _migrate_to(settings: Settings, revision: str, pending: list[str]) -> None:
    shipped = shipped_revisions()
    if revision not in (*shipped, "base"):
        console.print(
            f"[red]error[/]: no migration {escape(revision)} in this release; it has "
            f"{', '.join(shipped)} (and base: an empty database)."
        )
        raise typer.Exit(1)
    if revision in pending:
        upgrade(settings, revision)
    else:
        downgrade(settings, revision)
    console.print(
        f"[green]the database is at migration {revision}[/] ({_shown(settings.database_url)})"
    )


def _require_port(host: str, port: int) -> None:
    """Refuse, in one line, a port another server holds, before anything is started or printed
    (``omni demo`` would otherwise print a new console password for a server that never runs)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds it
        try:
            probe.bind((host, port))
        except OSError as exc:
            console.print(
                f"[red]error[/]: cannot serve on {host}:{port} ({exc.strerror}): another server "
                "holds it? Stop it, or choose another port with --port (or OMNI_PORT)."
            )
            raise typer.Exit(1) from None


@app.command()
def serve(
    host: str = typer.Option(None, help="default: OMNI_HOST or 127.0.0.1"),
    port: int = typer.Option(None, min=1, max=65535, help="default: OMNI_PORT or 8000"),
    workers: int = typer.Option(1, help="HTTP processes (PostgreSQL; keep 1 on SQLite)"),
    migrate_first: bool = typer.Option(True, "--migrate/--no-migrate", help="migrate on start"),
) -> None:
    """Serve the HTTP API (OpenAPI at /docs); with OMNI_EMBEDDED_WORKER=true also process events."""
    settings = Settings()
    _require_port(host or settings.host, port or settings.port)
    if migrate_first:
        upgrade(settings)
    else:  # not migrated here, but this release must be able to use it: _run checks
        _run(_nothing_more, settings)
    _serve(settings, host, port, workers)


def _serve(settings: Settings, host: str | None, port: int | None, workers: int = 1) -> None:
    host, port = host or settings.host, port or settings.port
    with shared_between_processes(workers):  # so /metrics sums every process's counters
        uvicorn.run(
            "omnichannel.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=settings.log_level,
            loop="uvloop",
            http="httptools",
            # One line a call: for an operator watching calls arrive, not for production.
            access_log=settings.log_level in ("debug", "trace"),
        )


@app.command()
def demo(
    customers: int = typer.Option(1000, min=1, help="customers to generate (Ann is one of them)"),
    seed: int = typer.Option(42, help="the same seed gives the same customers and histories"),
    serve_after: bool = typer.Option(
        True, "--serve/--no-serve", help="serve the API after loading (--no-serve: load and exit)"
    ),
    port: int = typer.Option(None, min=1, max=65535, help="default: OMNI_PORT or 8000"),
    keys_file: Path = typer.Option(
        None, help="where the demo keeps its keys; default: omni-demo.json beside the SQLite file"
    ),
) -> None:
    """Load a demo retailer (once) and serve it: customers across web, app, stores and chats."""
    settings = Settings()
    if serve_after:  # before a new console password is printed for a server that cannot start
        _require_port(settings.host, port or settings.port)
    upgrade(settings)
    path = keys_file or default_keys_file(settings)

    async def work(platform: Platform) -> DemoResult:
        with Progress(console=console, transient=True) as progress:
            return await load_demo(
                platform, customers=customers, seed=seed, keys_file=path, progress=progress
            )

    async def console_login(platform: Platform) -> str:
        # A fresh password every run: nothing to keep in clear, and the printed one always works.
        password = secrets.token_urlsafe(12)
        async with platform.rt.db.write() as session:
            await provision(platform.rt, session, DEMO_ADMIN, password)
        return password

    result = _run(work, settings)
    base_url = f"http://{settings.host}:{port or settings.port}"
    print_guide(console, result, base_url, served=serve_after)
    print_console_login(console, base_url, DEMO_ADMIN, _run(console_login, settings))
    if serve_after:
        _serve(settings, None, port)


@app.command()
def worker(
    metrics_port: int = typer.Option(
        None,
        min=1,
        max=65535,
        help="serve this worker's Prometheus counters at http://HOST:PORT/metrics",
    ),
) -> None:
    """Process accepted events and background jobs until stopped (run as many as you like)."""
    settings = Settings()
    _logging(settings)

    async def work(platform: Platform) -> None:
        if metrics_port is not None:
            try:
                start_http_server(metrics_port, addr=settings.host)
            except OSError as exc:
                raise Unavailable(f"Cannot serve metrics on port {metrics_port}: {exc}.") from exc
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        console.print("[green]worker started[/]; Ctrl-C to stop")
        await Worker(platform).run(stop)

    _run(work, settings)


@sources_app.command("create")
def sources_create(
    kind: str = typer.Option(..., help=f"one of: {', '.join(SOURCE_KINDS)}"),
    name: str = typer.Option(..., help="a name people recognise, e.g. 'Web shop'"),
) -> None:
    """Create a source; the last line printed is its write key (shown only this once)."""

    async def work(platform: Platform) -> str:
        async with platform.rt.db.write() as session:
            source, key = await create_source(platform.rt, session, kind, name)
        console.print(f"source [bold]{source.name}[/] ({source.kind}) id {source.id}")
        console.print("write key (keep it; it is not shown again):")
        return key

    print(_run(work))


@sources_app.command("list")
def sources_list() -> None:
    """List sources (write keys are shown only by their first characters)."""
    _print_rows(
        list_sources,
        ("id", "name", "kind", "write key", "created", "disabled"),
        lambda s: (
            s.id,
            s.name,
            # In a column no one names: a source's name may say anything.
            f"{s.kind}: the API's own changes" if s.is_system else s.kind,
            f"{s.write_key_hint}…",
            _when(s.created_at),
            _when(s.disabled_at),
        ),
    )


def _switch_source(source_id: str, disabled: bool) -> None:
    async def work(platform: Platform) -> str:
        async with platform.rt.db.write() as session:
            source, changed = await set_source_disabled(platform.rt, session, source_id, disabled)
        state = "disabled" if disabled else "enabled"
        named = f"source {source.name} ({source.id})"
        if not changed:
            return f"{named} was already {state}"
        within = f"{platform.settings.source_cache_seconds:g} s"
        verb = "refuse" if disabled else "take"
        return f"{named} {state}; running servers {verb} its write key within {within}"

    print(_run(work))


@sources_app.command("disable")
def sources_disable(
    source_id: str = typer.Argument(..., help="the source's id (`omni sources list`)"),
) -> None:
    """Refuse a source's write key (a leaked key, a till taken out of service); its events stay."""
    _switch_source(source_id, disabled=True)


@sources_app.command("enable")
def sources_enable(
    source_id: str = typer.Argument(..., help="the source's id (`omni sources list`)"),
) -> None:
    """Take a disabled source's write key again."""
    _switch_source(source_id, disabled=False)


@tokens_app.command("create")
def tokens_create(
    role: str = typer.Option(..., help=f"one of: {', '.join(ROLES)}"),
    name: str = typer.Option(..., help="who or what uses it, e.g. 'ops'"),
) -> None:
    """Create an API token; the last line printed is the token (shown only this once)."""

    async def work(platform: Platform) -> str:
        async with platform.rt.db.write() as session:
            token, secret = await create_token(platform.rt, session, role, name)
        console.print(f"token [bold]{token.name}[/] role {token.role} id {token.id}")
        console.print("use it as `Authorization: Bearer <token>`:")
        return secret

    print(_run(work))


@tokens_app.command("list")
def tokens_list() -> None:
    """List API tokens (the secrets themselves are never stored)."""
    _print_rows(
        list_tokens,
        ("id", "name", "role", "created", "revoked"),
        lambda t: (t.id, t.name, t.role, _when(t.created_at), _when(t.revoked_at)),
    )


@tokens_app.command("revoke")
def tokens_revoke(
    token_id: str = typer.Argument(..., help="the token's id (`omni tokens list`)"),
) -> None:
    """Revoke an API token; the last line printed says so."""

    async def work(platform: Platform) -> str:
        async with platform.rt.db.write() as session:
            token, revoked_now = await revoke_token(platform.rt, session, token_id)
        if not revoked_now:
            return (
                f"token {token.name} ({token.id}) was already revoked at {_when(token.revoked_at)}"
            )
        within = f"{platform.settings.token_cache_seconds:g} s"
        return f"token {token.name} ({token.id}) revoked; running servers refuse it within {within}"

    print(_run(work))


@events_app.command("status")
def events_status() -> None:
    """What waits for the workers, how long the oldest has waited, and what they set aside."""

    async def work(platform: Platform) -> None:
        async with platform.rt.db.read() as session:
            backlog = await backlog_of(session)
        waiting = ""
        if backlog.pending:
            age = backlog.oldest_wait_seconds(platform.rt.clock.now())
            waiting = f" (the oldest waiting {age:,.0f} s)"
        console.print(f"pending: {backlog.pending:,}{waiting}")
        console.print(f"set aside: {backlog.set_aside:,}")
        if backlog.set_aside:
            console.print("[yellow]`omni events retry` puts them back once the cause is fixed[/]")

    _run(work)


@events_app.command("retry")
def events_retry() -> None:
    """Put events the worker set aside (processing failed on its own) back in its backlog."""

    async def work(platform: Platform) -> str:
        async with platform.rt.db.write() as session:
            count = await retry_failed(session)
        return f"{count} set-aside event(s) back in the backlog"

    print(_run(work))


@users_app.command("create")
def users_create(
    username: str = typer.Option(..., help="the sign-in name, e.g. ann"),
    role: str = typer.Option(..., help=f"one of: {', '.join(CONSOLE_ROLES)}"),
    password: str = typer.Option(
        None, help="at least 10 characters; asked for (hidden) when not given"
    ),
    store: str = typer.Option(None, help="a store user's store: the id of a pos source"),
) -> None:
    """Create a console user; the last line printed says it was created."""
    if password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)

    async def work(platform: Platform) -> str:
        async with platform.rt.db.write() as session:
            user = await create_user(platform.rt, session, username, password, role, store)
        return f"user {user.username} ({user.role}) created"

    print(_run(work))


@users_app.command("list")
def users_list() -> None:
    """List console users."""
    _print_rows(
        list_users,
        ("id", "user name", "role", "store", "created", "disabled"),
        lambda u: (
            u.id,
            u.username,
            u.role,
            u.store_source_id or "",
            _when(u.created_at),
            _when(u.disabled_at),
        ),
    )


def _switch_user(username: str, disabled: bool) -> None:
    async def work(platform: Platform) -> str:
        async with platform.rt.db.write() as session:
            user, changed = await set_user_disabled(platform.rt, session, username, disabled)
        if not changed:
            return f"user {user.username} was already {'disabled' if disabled else 'enabled'}"
        if disabled:
            return f"user {user.username} disabled; their sessions have ended"
        return f"user {user.username} enabled; they sign in again"

    print(_run(work))


@users_app.command("disable")
def users_disable(username: str = typer.Argument(..., help="the sign-in name")) -> None:
    """Disable a console user (someone who left): every session ends at once."""
    _switch_user(username, disabled=True)


@users_app.command("enable")
def users_enable(username: str = typer.Argument(..., help="the sign-in name")) -> None:
    """Let a disabled console user sign in again."""
    _switch_user(username, disabled=False)


@users_app.command("set-password")
def users_set_password(
    username: str = typer.Argument(..., help="the sign-in name"),
    password: str = typer.Option(
        None, help="at least 10 characters; asked for (hidden) when not given"
    ),
) -> None:
    """Give a console user a new password; every session of theirs ends."""
    if password is None:
        password = typer.prompt("New password", hide_input=True, confirmation_prompt=True)

    async def work(platform: Platform) -> str:
        async with platform.rt.db.write() as session:
            user = await set_password(session, username, password)
        return f"user {user.username}: password changed; their sessions have ended"

    print(_run(work))


# The test suite's own setting (tests/conftest.py), not one of the platform's.
NOT_SETTINGS = {"OMNI_TEST_DATABASE_URL"}


def _warn_of_unknown_settings() -> None:
    """An ``OMNI_`` variable that is no setting is ignored: say so, with the likely one meant
    (``OMNI_DATABASE_URI`` would otherwise quietly leave ./omni.db in use), in the environment
    or in the ``.env`` file Settings reads (python-dotenv, as pydantic-settings reads it)."""
    known = {f"OMNI_{name.upper()}" for name in Settings.model_fields}
    env_file = Path(str(Settings.model_config.get("env_file")))
    places = {name: "" for name in os.environ}
    if env_file.is_file():
        places |= {name: f" (in {env_file})" for name in dotenv_values(env_file)}
    for name, place in sorted(places.items()):
        if name.upper().startswith("OMNI_") and name.upper() not in known | NOT_SETTINGS:
            meant = difflib.get_close_matches(name.upper(), known, n=1, cutoff=0.8)
            hint = f"; did you mean {meant[0]}?" if meant else ""
            warnings.print(f"[yellow]warning[/]: {name}{place} is no setting, ignored{hint}")


def main() -> None:
    """The ``omni`` entry point: the commands, with the errors an operator causes (a setting that
    does not parse, a database that is unreachable or not migrated) told in one line with what
    to do next, instead of a traceback."""
    _warn_of_unknown_settings()
    try:
        app()
    except ValidationError as exc:
        for error in exc.errors():
            name = "OMNI_" + "_".join(str(part) for part in error["loc"][:1]).upper()
            message = error["msg"].removeprefix("Value error, ")
            console.print(f"[red]error[/]: setting {name}: {escape(message)}")
        raise SystemExit(2) from None
    except SettingsError as exc:  # a value that is not even JSON where JSON is expected
        field = re.search(r'field "(\w+)"', str(exc))
        name = f"OMNI_{field.group(1).upper()}" if field else "an OMNI_ setting"
        console.print(
            f"[red]error[/]: setting {name} is not valid JSON: it takes a JSON list or object, "
            """e.g. '["https://shop.example.com"]' or '{"email": 1}'"""
        )
        raise SystemExit(2) from None
    except (DBAPIError, ArgumentError, ConnectionError, TimeoutError, socket.gaierror) as exc:
        console.print(f"[red]error[/]: {escape(database_trouble(exc))}")
        raise SystemExit(1) from None
    except (CommandError, ResolutionError) as exc:  # Alembic's: a revision it does not know
        console.print(f"[red]error[/]: {escape(unknown_schema(exc))}")
        raise SystemExit(1) from None


def database_trouble(exc: Exception) -> str:
    """What went wrong with the database, in a line, and what to do about it."""
    settings = Settings()  # they parsed: this is a database error
    url = _shown(settings.database_url)
    if isinstance(exc, TimeoutError):
        return (
            f"The database at {url} did not answer within "
            f"{settings.database_connect_timeout_seconds:g} s (OMNI_DATABASE_CONNECT_TIMEOUT_"
            "SECONDS): check that its server runs and that nothing between holds the connection."
        )
    cause = (str(getattr(exc, "orig", None) or exc).strip() or type(exc).__name__).splitlines()[0]
    if isinstance(exc, ArgumentError):
        return (
            f"OMNI_DATABASE_URL ({url}) is not a database Omnichannel can use ({cause}); use "
            "sqlite+aiosqlite:///./omni.db or postgresql+asyncpg://user@host/database."
        )
    if re.search(r'no such table|relation "[^"]*" does not exist', cause):
        return f"The database at {url} is not migrated ({cause}): run `omni migrate`."
    return (
        f"Cannot use the database at {url}: {cause}. Check OMNI_DATABASE_URL, that the database "
        "exists and its server runs, then `omni migrate`."
    )


def unknown_schema(exc: Exception) -> str:
    """A database migrated by another release, which this one does not know (a roll-back)."""
    return (
        f"The database at {_shown(Settings().database_url)} was migrated by another release of "
        f"Omnichannel ({exc}): run that release, or with it, first take the database back to "
        f"this release's last migration: `omni migrate --to {shipped_revisions()[-1]}`."
    )


def _missing_sqlite_file(settings: Settings) -> Path | None:
    """The absolute path of the SQLite file the settings name, if there is none there."""
    if not settings.is_sqlite:
        return None
    name = make_url(settings.database_url).database
    if not name or name == ":memory:" or name.startswith("file:"):
        return None
    path = Path(name).absolute()
    return None if path.exists() else path


def _shown(database_url: str) -> str:
    """A database URL without its password, for error messages."""
    try:
        return make_url(database_url).render_as_string(hide_password=True)
    except ArgumentError:  # not even a URL: there is no password to hide
        return database_url
