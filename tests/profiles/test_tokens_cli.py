"""API tokens from the command line: list them, revoke one, and a running server refuses it."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.live import OMNI, env_for, omni, server

pytestmark = pytest.mark.usefixtures("backend")


def test_a_revoked_token_is_refused_by_a_running_server(database_url: str, tmp_path: Path) -> None:
    secret = omni(database_url, "tokens", "create", "--role", "agent", "--name", "helpdesk")
    wide = env_for(database_url, COLUMNS="200")  # a table narrower than a uuid would wrap it
    listing = subprocess.run(
        [OMNI, "tokens", "list"], env=wide, capture_output=True, text=True
    ).stdout
    assert "helpdesk" in listing and "agent" in listing and secret not in listing
    token_id = next(line.split()[1] for line in listing.splitlines() if "helpdesk" in line)
    # The server remembers a token's holder for OMNI_TOKEN_CACHE_SECONDS; 0.5 s keeps this short.
    process, url = server(database_url, tmp_path / "serve.log", OMNI_TOKEN_CACHE_SECONDS="0.5")
    try:
        headers = {"Authorization": f"Bearer {secret}"}
        missing = f"{url}/v1/profiles/lookup?type=email&value=nobody@example.com"
        assert httpx.get(missing, headers=headers).status_code == 404  # accepted, nothing found
        said = omni(database_url, "tokens", "revoke", token_id)
        assert said.startswith("token helpdesk") and "revoked" in said
        status = 404
        for _ in range(50):
            status = httpx.get(missing, headers=headers).status_code
            if status == 401:
                break
            time.sleep(0.1)
        assert status == 401
        again = omni(database_url, "tokens", "revoke", token_id)  # says so, keeps the first time
        assert again.startswith("token helpdesk") and "was already revoked at" in again
    finally:
        process.kill()


def test_revoking_an_unknown_token_says_what_to_do(database_url: str) -> None:
    done = subprocess.run(
        [OMNI, "tokens", "revoke", "no-such-token"],
        env=env_for(database_url),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    assert "omni tokens list" in done.stdout and "Traceback" not in done.stderr
