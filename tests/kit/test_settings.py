"""Settings refuse values that would quietly do something else, and say what to use instead."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from omnichannel.config import Settings
from omnichannel.identity.rules import MergeRules


def test_the_region_is_a_phonenumbers_region_in_any_case() -> None:
    assert Settings(default_region="gb").default_region == "GB"
    with pytest.raises(ValidationError, match=r"e\.g\. UA, GB"):
        Settings(default_region="XX")  # every phone without +code would be dropped


def test_blocked_values_are_patterns_for_the_whole_value() -> None:
    rules = MergeRules(Settings(identity_blocked_values=["0", "-1", "null", "test"]))
    assert rules.normalise("user_id", "cust-100") is not None  # has a 0 and "test" nowhere whole
    assert rules.normalise("user_id", "TEST") is None
    assert rules.normalise("user_id", "0") is None
    with pytest.raises(ValidationError, match="not a regular expression"):
        Settings(identity_blocked_values=["("])


@pytest.mark.parametrize(
    "wrong",
    [
        {"identity_limits": {"user_id": 0}},
        {"identity_limits": {"user_id": 2}},  # two people's accounts would merge
        {"identity_default_limit": 0},
        {"sqlite_synchronous": "BOGUS"},  # SQLite would ignore it and keep its own level
        {"database_url": "mysql://x@y/z"},
        # Parameters asyncpg does not take would stop every command with a TypeError.
        {"database_url": "postgresql://u@h/d?connect_timeout=3"},
        {"database_url": "postgresql://u@h/d?sslmode=require&channel_binding=require"},
        {"database_url": "postgresql://u@h/d?sslmode=on"},
        {"database_url": "postgresql://u@h/d?sslmode=disable&sslmode=require"},
    ],
)
def test_values_that_would_quietly_misbehave_are_refused(wrong: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Settings(**wrong)  # type: ignore[arg-type]


def test_plain_database_urls_mean_the_async_drivers() -> None:
    assert Settings(sqlite_synchronous="normal").sqlite_synchronous == "NORMAL"
    assert Settings(database_url="sqlite:///x.db").database_url == "sqlite+aiosqlite:///x.db"
    assert Settings(database_url="postgres://u@h/d").database_url == "postgresql+asyncpg://u@h/d"
    assert (
        Settings(database_url="postgresql://u:p%40w@h/d?sslmode=require").database_url
        == "postgresql+asyncpg://u:p%40w@h/d?ssl=require"
    )
