"""What ``omni demo`` prints: what was loaded, where to look, the keys, and lines to paste.

Lines meant for copying are printed with ``soft_wrap`` and without markup, so Rich never breaks
a key or a command across lines or eats the brackets of a JSON body.
"""

from __future__ import annotations

import json
import shlex

from rich.console import Console
from rich.markup import escape

from omnichannel.demo.data import ANN_EMAIL, ANN_USER_ID, FAUCET, WEB
from omnichannel.demo.loader import DemoResult


def _plain(console: Console, line: str = "") -> None:
    console.print(line, soft_wrap=True, markup=False, highlight=False)


def _summary(console: Console, result: DemoResult) -> None:
    keys, counts = result.keys, result.counts
    if keys is not None and result.loaded:
        console.print(
            f"[green]demo loaded[/]: {keys.customers:,} customers (seed {keys.seed}), "
            f"{result.events_sent:,} events in {result.seconds:.1f} s"
        )
    elif keys is not None:
        console.print(
            f"[green]demo already loaded[/] ({keys.customers:,} customers, seed {keys.seed}); "
            "reusing it. Delete the database and its keys file to load it afresh."
        )
    if counts is not None:
        console.print(
            f"database: {counts.events:,} events, {counts.profiles:,} profiles, "
            f"{counts.identities:,} identifiers"
        )


def _lines_to_paste(base_url: str, write_key: str, token: str, ann_id: str | None) -> list[str]:
    body = json.dumps(
        {"userId": ANN_USER_ID, "event": "Product Viewed", "properties": {"sku": FAUCET.sku}}
    )
    auth = shlex.quote(f"Authorization: Bearer {token}")
    lines = [
        "# a track call from the web shop (Segment spec, write key as Basic-auth user):",
        f"curl -u {shlex.quote(write_key + ':')} -H 'Content-Type: application/json' "
        f"-d {shlex.quote(body)} {base_url}/v1/track",
        "# the same from a web shop: analytics.js (npm @segment/analytics-next), host set:",
        f"AnalyticsBrowser.load({{ writeKey: '{write_key}', cdnURL: '{base_url}' }})",
        "# Ann's profile (scenario S1: web + app, one person), looked up by e-mail:",
        f"curl -H {auth} '{base_url}/v1/profiles/lookup?type=email&value={ANN_EMAIL}'",
    ]
    if ann_id is not None:
        lines += [
            "# her timeline across channels, newest first:",
            f"curl -H {auth} '{base_url}/v1/profiles/{ann_id}/timeline?limit=20'",
        ]
    return lines


def print_guide(
    console: Console, result: DemoResult, base_url: str, *, served: bool = True
) -> None:
    """Everything needed to try the demo, ready to copy (once served, if it is not now)."""
    _summary(console, result)
    for warning in result.warnings:
        console.print(f"[yellow]warning[/]: {warning}")
    keys = result.keys
    if keys is None:
        return
    write_key = keys.write_keys[WEB.name]
    console.print()
    later = "" if served else "   (not served now: `omni serve` serves it there)"
    _plain(console, f"API:           {base_url}{later}")
    _plain(console, f"OpenAPI:       {base_url}/docs")
    _plain(console, f"metrics:       {base_url}/metrics   (Prometheus; readiness: /readyz)")
    _plain(console, f"write key:     {write_key}   ({WEB.name})")
    _plain(console, f"admin token:   {keys.admin_token}")
    console.print(
        f"[dim]Demo convenience: these keys (and the other sources' write keys) are kept in clear "
        f"in {escape(str(result.keys_file))} so `omni demo` can show them again. Real keys are "
        "shown once and stored only as hashes.[/]"
    )
    console.print()
    for line in _lines_to_paste(base_url, write_key, keys.admin_token, result.ann_profile_id):
        _plain(console, line)
    console.print()


def print_console_login(console: Console, base_url: str, username: str, password: str) -> None:
    """The web console's address and the demo admin's login (a new password every run)."""
    _plain(console, f"console:       {base_url}/console   (user {username}, password {password})")
    _plain(console, f"demo shop:     {base_url}/demo/shop   (walk S1 in a browser)")
    console.print()
