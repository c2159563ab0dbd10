"""The official Segment Python library, unchanged but for host and write key, on a real server."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from segment.analytics.client import Client

from tests.live import omni, server

pytestmark = pytest.mark.usefixtures("backend")


def test_segment_sdk_calls_land_on_the_right_profile(database_url: str, tmp_path: Path) -> None:
    write_key = omni(database_url, "sources", "create", "--kind", "web", "--name", "Web shop")
    token = omni(database_url, "tokens", "create", "--role", "admin", "--name", "ops")
    process, url = server(database_url, tmp_path / "serve.log")
    errors: list[Exception] = []
    try:
        client = Client(write_key, host=url, sync_mode=True, on_error=lambda e, _: errors.append(e))
        client.page(anonymous_id="anon-7", name="Faucets", properties={"path": "/faucets"})
        client.screen(anonymous_id="anon-7", name="Cart")
        client.track(anonymous_id="anon-7", event="Product Added", properties={"sku": "F-1"})
        client.identify(
            "user-7", {"email": "Olena@Example.com", "name": "Olena"}, anonymous_id="anon-7"
        )
        client.group("user-7", "household-3", {"size": 4})
        client.alias("old-visitor-1", "user-7")
        client.flush()
        assert errors == []
        headers = {"Authorization": f"Bearer {token}"}
        profile = {}
        for _ in range(100):  # the embedded worker resolves right after the ack
            response = httpx.get(
                f"{url}/v1/profiles/lookup",
                params={"type": "email", "value": "olena@example.com"},
                headers=headers,
            )
            profile = response.json()
            if response.status_code == 200 and profile["computed"]["events_total"] == 6:
                break
            time.sleep(0.1)
        assert {(i["type"], i["value"]) for i in profile["identities"]} == {
            ("anonymous_id", "anon-7"),
            ("anonymous_id", "old-visitor-1"),
            ("user_id", "user-7"),
            ("email", "olena@example.com"),
        }
        assert profile["traits"]["name"] == "Olena"
        assert profile["computed"]["event_counts"] == {
            "page": 1,
            "screen": 1,
            "track": 1,
            "identify": 1,
            "group": 1,
            "alias": 1,
        }
    finally:
        process.stop()
