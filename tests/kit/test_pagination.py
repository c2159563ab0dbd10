"""Cursors round-trip and refuse what they did not give out."""

from __future__ import annotations

from typing import Any

import pytest

from omnichannel.errors import InvalidRequest
from omnichannel.kit.pagination import decode_cursor, encode_cursor


def pair(key: list[Any]) -> tuple[str, int]:
    at, n = key
    if not isinstance(at, str) or not isinstance(n, int):
        raise TypeError("not a pair")
    return at, n


def test_round_trip() -> None:
    key = ["2026-01-01T00:00:00+00:00", 42]
    assert decode_cursor(encode_cursor(key), pair) == tuple(key)


@pytest.mark.parametrize(
    "bad",
    ["", "!!!", encode_cursor([1]), encode_cursor({"a": 1}), encode_cursor([1, "a"])],  # type: ignore[list-item]
)
def test_foreign_cursors_are_a_400(bad: str) -> None:
    with pytest.raises(InvalidRequest):
        decode_cursor(bad, pair)
