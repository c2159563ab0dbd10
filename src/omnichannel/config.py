"""Settings: one pydantic-settings class, environment prefix ``OMNI_``, read at startup only.

Nothing reads the environment at import time; ``Settings()`` is built by the CLI or the app factory
and handed down, so a test can run several differently configured apps in one process.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import phonenumbers
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

# Segment's defaults, in priority order: the first identifier type decides which profile survives
# a merge, and the lower ones are dropped first when a limit would be broken.
DEFAULT_PRIORITY = [
    "user_id",
    "email",
    "phone",
    "loyalty_card",
    "pos_customer_id",
    "telegram_id",
    "whatsapp_id",
    "instagram_id",
    "messenger_id",
    "viber_id",
    "device_id",
    "push_token",
    "anonymous_id",
]
DEFAULT_BLOCKED_VALUES = [
    r"^[0-]*$",
    r"^-1$",
    r"^null$",
    r"^none$",
    r"^nil$",
    r"^anonymous$",
    r"^undefined$",
    r"^unknown$",
    r"^n/?a$",
    r"^test@test\.com$",
    r"^00000000-0000-0000-0000-000000000000$",
]
DEFAULT_LIMITS = {"user_id": 1}


# URL schemes as people write them, and the driver each means here.
DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}


# libpq's TLS modes, which asyncpg's ``ssl`` takes by the same names.
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")


def _asyncpg_query(value: str) -> str:
    """A PostgreSQL URL's query as asyncpg takes it. SQLAlchemy hands every query parameter to
    ``asyncpg.connect`` as an argument, and the URLs managed databases give out are libpq's
    (``?sslmode=require``), which asyncpg names ``ssl``; any other parameter would stop every
    command with a TypeError, so it is refused here, naming what to do instead."""
    url = make_url(value)
    if repeated := sorted(k for k, v in url.query.items() if isinstance(v, tuple)):
        raise ValueError(f"the database URL gives {', '.join(repeated)} more than once")
    query = dict(url.query)
    if "sslmode" in query:
        if "ssl" in query:
            raise ValueError("the database URL sets both sslmode and ssl; keep one")
        query["ssl"] = query.pop("sslmode")
    if "ssl" in query and query["ssl"] not in SSL_MODES:
        raise ValueError(f"the database URL's sslmode must be one of: {', '.join(SSL_MODES)}")
    if other := sorted(set(query) - {"ssl"}):
        hint = (
            "; set OMNI_DATABASE_CONNECT_TIMEOUT_SECONDS instead"
            if "connect_timeout" in other
            else ""
        )
        raise ValueError(
            f"the database URL's {', '.join(other)} is not a parameter Omnichannel passes to "
            f"PostgreSQL (only sslmode, or ssl, is){hint}"
        )
    return url.set(query=query).render_as_string(hide_password=False)


class Settings(BaseSettings):
    """Everything configurable, with the value a fresh ``omni serve`` uses."""

    model_config = SettingsConfigDict(env_prefix="OMNI_", env_file=".env", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./omni.db"
    # How long connecting to PostgreSQL may take before the call is a 503 (asyncpg's own default
    # is 60 s, past any load balancer's and Prometheus's patience with a server that hangs).
    database_connect_timeout_seconds: float = Field(default=5.0, gt=0)
    # How long one statement may wait for PostgreSQL (a lock another session holds, a hung
    # proxy, a partition) before the call is a 503: without it, calls, /readyz and shutdown
    # waited as long as the database did. Migrations are not bound by it.
    database_statement_timeout_seconds: float = Field(default=30.0, gt=0)
    # FULL fsyncs every commit, so an acknowledged event survives a power cut as well as a crash.
    # NORMAL (WAL) survives any process crash and is several times faster; see README.
    sqlite_synchronous: Literal["OFF", "NORMAL", "FULL", "EXTRA"] = "FULL"
    # Pages the WAL may hold before a commit copies them back into the database file (SQLite's
    # own default is 1,000, 4 MB). Events touch random pages of the log's indexes, the traits and
    # the identities; a page committed many times between two checkpoints is copied back once,
    # so a longer WAL means fewer page writes per event (bench/README.md). 10,000 pages is a
    # WAL of up to ~40 MB, reset at every checkpoint.
    sqlite_wal_autocheckpoint: int = Field(default=10_000, ge=100)
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # Before writing a group of accepted calls in one transaction, wait this long for more: a
    # transaction has a fixed cost, so under load more calls share it; idle, a call waits this.
    ingest_linger_seconds: float = 0.0
    # Run identity resolution and background jobs inside `omni serve` (the embedded default).
    embedded_worker: bool = True
    worker_batch_size: int = 1000
    worker_poll_seconds: float = 0.2
    # After a round that found less than a full batch, wait this long so that a trickle of
    # single calls is resolved as one batch (one transaction) rather than one by one.
    worker_linger_seconds: float = 0.05
    # Net allocations between young-generation garbage collections; 0 keeps Python's 700. A
    # large value speeds up batch ingestion but lengthens read latency's tail (platform.py), so
    # it is meant for `omni worker` processes, which serve no reads.
    gc_threshold: int = 0

    # The region a phone written without a country code is read in (ISO 3166 code, e.g. UA, GB).
    default_region: str = "UA"
    identity_priority: list[str] = Field(default_factory=lambda: list(DEFAULT_PRIORITY))
    # Laid over the defaults, not in their place: the user id's limit of 1 always holds.
    identity_limits: dict[str, int] = Field(default_factory=lambda: dict(DEFAULT_LIMITS))
    identity_default_limit: int = Field(default=5, ge=1)
    # Identifiers one profile may hold in all: each custom type has a limit of its own, so
    # without it a write key could grow one profile to tens of thousands, and every event that
    # brings it a new identifier costs time in proportion (a limit check walks the profile).
    identity_max_per_profile: int = Field(default=200, ge=1)
    # Regular expressions, case-insensitive, each matched against an identifier's whole value;
    # added to the defaults, which always apply (a list without them would let "undefined" in).
    identity_blocked_values: list[str] = Field(default_factory=lambda: list(DEFAULT_BLOCKED_VALUES))
    # An identifier's last_seen moves only for an event at least this much newer. A visit sends
    # dozens of events within minutes; refreshing on each would cost a write per event. 30 min is
    # the visit (session) timeout of web analytics: about one write per identifier per visit.
    last_seen_precision_seconds: float = 1800.0
    # Identifiers whose holder an ingesting process remembers (``identity.cache``), ~400 bytes
    # each; 0: none.
    identity_cache_size: int = Field(default=200_000, ge=0)

    # Segment's documented limits.
    max_event_bytes: int = 32 * 1024
    max_batch_bytes: int = 500 * 1024
    max_batch_events: int = 2500
    max_message_id_length: int = 100

    # How long a write key / API token check is remembered in process (``kit.ttl_cache``): a
    # disabled source or revoked token keeps working that long in processes that checked it.
    source_cache_seconds: float = 10.0
    token_cache_seconds: float = 10.0
    # Browser origins allowed to call the ingestion API (CORS); "*": any, as Segment does.
    ingestion_cors_origins: list[str] = Field(default_factory=lambda: ["*"])
    # Signs the console's session cookies. Unset: one is generated on first use and kept in the
    # database (``console_settings``), so sessions survive restarts and every process agrees.
    secret_key: SecretStr | None = None
    log_level: Literal["critical", "error", "warning", "info", "debug", "trace"] = "info"

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        # The async drivers the platform ships with; the plain forms people paste mean them.
        scheme, sep, rest = value.partition("://")
        scheme = DRIVERS.get(scheme, scheme)
        if not sep or scheme not in DRIVERS.values():
            raise ValueError(
                f"'{value}' is not a database Omnichannel runs on; use "
                "sqlite+aiosqlite:///./omni.db or postgresql+asyncpg://user@host/database"
            )
        url = f"{scheme}://{rest}"
        return url if scheme.startswith("sqlite") else _asyncpg_query(url)

    @field_validator("sqlite_synchronous", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("default_region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        # An unknown region would quietly turn every phone written without +code into nothing.
        region = value.strip().upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"'{value}' is not a region phonenumbers knows; e.g. UA, GB, US, DE")
        return region

    @field_validator("identity_limits")
    @classmethod
    def _limits(cls, value: dict[str, int]) -> dict[str, int]:
        if bad := sorted(t for t, n in value.items() if n < 1):
            raise ValueError(f"a profile may hold at least one identifier of a type: {bad}")
        if value.get("user_id", 1) != 1:
            raise ValueError(
                "user_id's limit is 1: two profiles with different user ids never merge"
            )
        return {**DEFAULT_LIMITS, **value}

    @field_validator("identity_blocked_values")
    @classmethod
    def _patterns(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"'{pattern}' is not a regular expression: {exc}") from exc
        return list(dict.fromkeys([*DEFAULT_BLOCKED_VALUES, *value]))

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def connect_args(self) -> dict[str, Any]:
        """The driver's connect arguments: asyncpg's connect timeout, so a database that takes
        connections and never answers fails in seconds, not asyncpg's 60 s."""
        return {} if self.is_sqlite else {"timeout": self.database_connect_timeout_seconds}

    @property
    def serving_connect_args(self) -> dict[str, Any]:
        """The connect arguments of the servers' and workers' connections: the connect timeout,
        and on PostgreSQL asyncpg's ``command_timeout`` for every statement."""
        if self.is_sqlite:
            return {}
        return self.connect_args | {"command_timeout": self.database_statement_timeout_seconds}
