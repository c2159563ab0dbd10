"""Domain events the identity module publishes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProfilesMerged:
    survivor: str
    loser: str


@dataclass(frozen=True)
class ProfileSplit:
    """A merge was undone: both profiles' derived state must be rebuilt from their events."""

    survivor: str
    loser: str
