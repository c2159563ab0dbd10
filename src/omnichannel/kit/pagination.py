"""Cursor pagination: opaque, URL-safe cursors that carry the last row's sort key.

Cursors beat offsets here because the timeline grows while someone pages through it: a cursor
never skips or repeats a row.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import orjson
from pydantic import BaseModel

from omnichannel.errors import InvalidRequest, field_error

T = TypeVar("T")
K = TypeVar("K")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def encode_cursor(key: list[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(key)).decode().rstrip("=")


def decode_cursor(cursor: str, read: Callable[[list[Any]], K]) -> K:
    """The sort key a cursor carries, as ``read`` makes it of the decoded list; ``read`` raises
    ValueError or TypeError for a list that is not such a key (a cursor someone made up)."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = orjson.loads(base64.urlsafe_b64decode(padded))
        if isinstance(key, list):
            return read(key)
    except (ValueError, TypeError, OverflowError):  # orjson's JSONDecodeError is a ValueError
        pass
    raise InvalidRequest(
        "The cursor is not one this API gave out; start again without it.",
        errors=[field_error("cursor", "malformed cursor")],
    )
