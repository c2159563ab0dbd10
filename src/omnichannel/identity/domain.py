"""Domain events the identity module publishes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class ProfilesMerged:
    """The merges one transaction made, in order, each ``(survivor, loser)``. A survivor may be
    merged away by a later one (a chain). Published once per transaction, not once per merge, so
    that the modules moving a loser's data can do it for all of them in a few statements."""

    merges: tuple[tuple[str, str], ...]

    def survivors(self) -> dict[str, str]:
        """Each merged-away profile and the live profile it ends in once all merges are applied."""
        into = {loser: survivor for survivor, loser in self.merges}
        final = {}
        for loser, survivor in into.items():
            while survivor in into:
                survivor = into[survivor]
            final[loser] = survivor
        return final


@dataclass(frozen=True)
class ProfileSplit:
    """A merge was undone: both profiles' derived state must be rebuilt from their events."""

    survivor: str
    loser: str
    # The event that made the merge: events stored since went to the survivor (None: unknown).
    merged_by_event: int | None = None
    # When the merge was made, by the server's clock.
    merged_at: datetime | None = None
