"""The sign-in limiter's memory bound: a spray of user names does not unlock anyone."""

from __future__ import annotations

from omnichannel.console.ratelimit import MAX_KEYS, SlidingWindow


def test_a_spray_of_names_does_not_forget_who_is_locked_out() -> None:
    """It used to forget every count once 10,000 names had failed: an attacker with ~500
    addresses unlocked the admin they were guessing."""
    now = [0.0]
    window = SlidingWindow(5, 900, clock=lambda: now[0])
    for _ in range(5):
        window.hit("admin")
    assert window.retry_after("admin") > 0
    for n in range(3 * MAX_KEYS):
        window.hit(f"spray-{n}")
    assert window.retry_after("admin") > 0
    assert len(window._hits) <= MAX_KEYS  # and memory stays bounded
    now[0] += 901
    assert window.retry_after("admin") == 0
