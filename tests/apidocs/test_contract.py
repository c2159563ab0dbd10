"""The API answers as its OpenAPI document says, whatever it is sent.

schemathesis (MIT) reads ``/openapi.json`` from a real ``omni serve`` on each backend and, for
every operation, sends requests the document allows and requests it does not: examples, the
edges of every field, random data, wrong types, missing fields, undeclared methods, calls
without their credential. Every answer is checked: no 5xx; its status, content type, headers
and body as documented; input the document refuses refused with a 4xx; an undeclared method a
405 naming the allowed ones; a call without its credential a 401. A customer is loaded first,
and half the calls naming a profile (or a write key) name hers, so the 200 answers are checked
too, not only the 404s.

It runs as schemathesis' own command, configured per run (``schemathesis.toml``): its pytest
plugin does not run on pytest 9, and the command runs every phase of the tool, where the
plugin runs some. Left out, on purpose: ``positive_data_acceptance``, which expects a 2xx for
any request the document allows. Ingestion refuses, with its documented 400 naming the field,
what JSON Schema does not say: blocked identifier values (``anonymous``, ``0000``), NUL
characters, times out of range, identifiers that normalise to nothing (README, "Ingestion
API"). That 400 is checked against the document like every other answer.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import BACKENDS, fresh_database
from tests.live import omni, server

SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))
CUSTOMER = {"userId": "contract-1", "traits": {"email": "contract@example.com", "name": "Ola"}}
EXAMPLES_PER_OPERATION = 30
SEED = 20261207  # the same cases every run: a failure here is reproducible with this seed


def config(write_key: str, token: str, profile_id: str) -> str:
    """schemathesis.toml for one server: its credentials, and the customer's ids to use."""
    # The ids are ours (uuid-like, wk_/omni_ and URL-safe base64): nothing to escape in TOML.
    return f"""
seed = {SEED}
generation.max-examples = {EXAMPLES_PER_OPERATION}
checks.positive_data_acceptance.enabled = false

[auth.openapi.writeKey]
username = "{write_key}"
password = ""

[auth.openapi.apiToken]
bearer = "{token}"

[dictionaries]
customer = {{ values = ["{profile_id}"] }}
key = {{ values = ["{write_key}"] }}

# A DELETE of /v1/profiles/lookup is the erasure of a profile "lookup" (a 404), so its 405s
# name DELETE among the methods there, which the document lists under another path.
[[operations]]
include-path = "/v1/profiles/lookup"
checks.allow_header_conformance.enabled = false

# Not for the erasure: the customer stays for the other operations.
[[operations]]
exclude-method = "DELETE"
[operations.parameters]
profile_id = {{ dictionary = "customer", probability = 0.5 }}
write_key = {{ dictionary = "key", probability = 0.5 }}
"""


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_every_answer_is_as_documented(
    backend: str, request: pytest.FixtureRequest, sqlite_template: Path, tmp_path: Path
) -> None:
    if backend == "sqlite":
        url = fresh_database("sqlite", sqlite_template, tmp_path)
    else:
        url = fresh_database(request.getfixturevalue("pg_migrated"), Path(), tmp_path)
    write_key = omni(url, "sources", "create", "--kind", "web", "--name", "Web")
    token = omni(url, "tokens", "create", "--role", "admin", "--name", "contract")
    process, base = server(url, tmp_path / "serve.log")
    try:
        sent = httpx.post(f"{base}/v1/identify", json=CUSTOMER, auth=(write_key, ""))
        assert sent.status_code == 200, sent.text
        found = httpx.get(
            f"{base}/v1/profiles/lookup",
            params={"type": "user_id", "value": CUSTOMER["userId"]},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert found.status_code == 200, found.text
        settings = tmp_path / "schemathesis.toml"
        settings.write_text(config(write_key, token, found.json()["id"]))
        run = subprocess.run(
            [SCHEMATHESIS, "--config-file", str(settings), "--no-color", "run",
             f"{base}/openapi.json", "--workers", "1"],
            capture_output=True, text=True, cwd=tmp_path, timeout=600,
        )  # fmt: skip
        assert run.returncode == 0, run.stdout[-20_000:] + run.stderr[-5_000:]
        assert process.proc is not None and process.proc.poll() is None, process.output()
    finally:
        process.stop()
