"""Identifiers: time-ordered UUIDv7 strings (``uuid-utils``, a Rust implementation).

Time-ordered ids keep B-tree inserts at the right edge of the index and need no coordination
between processes, which is what lets several ``serve``/``worker`` processes create rows at once.
"""

from __future__ import annotations

import hashlib
import secrets

import uuid_utils


def new_id() -> str:
    return str(uuid_utils.uuid7())


def digest(text: str) -> str:
    """SHA-256 in hex: how credentials and erased identifiers are kept (never in clear)."""
    return hashlib.sha256(text.encode()).hexdigest()


# The readable prefixes of the two credentials: a caller who sends one where the other goes is
# told so, not only that it is unknown.
WRITE_KEY_PREFIX, API_TOKEN_PREFIX = "wk_", "omni_"


def new_secret(prefix: str) -> str:
    """A credential: a readable prefix (one of the above) and 32 random bytes, URL-safe."""
    return f"{prefix}{secrets.token_urlsafe(32)}"
