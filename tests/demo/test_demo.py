"""The demo: deterministic data, loaded once through real ingestion, Ann's S1 profile, the CLI."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from omnichannel.config import Settings
from omnichannel.demo.data import ANN_EMAIL, WEB, generate
from omnichannel.demo.loader import Counts, DemoResult, load_demo, read_keys
from omnichannel.identity import service as identity
from omnichannel.platform import Platform
from omnichannel.profiles import service as profiles
from tests.helpers import START, make_source

CUSTOMERS = 50


async def load(platform: Platform, keys_file: Path, seed: int = 42) -> DemoResult:
    return await load_demo(platform, customers=CUSTOMERS, seed=seed, keys_file=keys_file)


def test_the_generator_is_deterministic_and_stays_in_the_last_90_days() -> None:
    events = generate(CUSTOMERS, 42, START)
    assert events == generate(CUSTOMERS, 42, START)
    assert events != generate(CUSTOMERS, 43, START)
    assert all(START - timedelta(days=90) <= e.at < START for e in events)
    assert [e.at for e in events] == sorted(e.at for e in events)
    assert len({e.message["messageId"] for e in events}) == len(events)


@pytest.mark.usefixtures("backend")
async def test_ann_is_one_profile_across_web_and_app(platform: Platform, tmp_path: Path) -> None:
    result = await load(platform, tmp_path / "keys.json")

    assert result.loaded and not result.warnings
    assert result.counts is not None and result.counts.events == result.events_sent
    async with platform.rt.db.read() as session:
        ann = await identity.lookup(session, platform.rules, "email", ANN_EMAIL)
        assert ann is not None and ann == result.ann_profile_id
        for type_, value in (("user_id", "u1"), ("anonymous_id", "a1"), ("anonymous_id", "d9")):
            assert await identity.lookup(session, platform.rules, type_, value) == ann
        view = await profiles.view(session, ann)
    held = {(i.type, i.value) for i in view["identities"]}
    assert {
        ("user_id", "u1"),
        ("email", ANN_EMAIL),
        ("anonymous_id", "a1"),
        ("anonymous_id", "d9"),
    } <= held
    assert {"web", "app"} <= set(view["computed"]["channels"])
    assert view["computed"]["event_counts"]["track"] == 3  # viewed, added, cart viewed


@pytest.mark.usefixtures("backend")
async def test_a_second_run_reuses_the_demo(platform: Platform, tmp_path: Path) -> None:
    keys_file = tmp_path / "keys.json"
    first = await load(platform, keys_file)
    again = await load(platform, keys_file, seed=7)  # a loaded demo keeps its own seed

    assert not again.loaded and not again.warnings
    assert again.keys == first.keys and again.counts == first.counts
    assert stat.S_IMODE(keys_file.stat().st_mode) == 0o600


@pytest.mark.usefixtures("backend")
async def test_lost_keys_are_reported_not_replaced(platform: Platform, tmp_path: Path) -> None:
    keys_file = tmp_path / "keys.json"
    first = await load(platform, keys_file)
    keys_file.unlink()

    again = await load(platform, keys_file)

    assert again.keys is None and "does not hold its sources' keys" in again.warnings[0]
    assert again.counts == first.counts


@pytest.mark.usefixtures("backend")
async def test_sources_made_by_hand_with_the_demos_names_are_no_demo(
    platform: Platform, tmp_path: Path
) -> None:
    """The README's `omni sources create --kind web --name "Web shop"`, then `omni demo`."""
    await make_source(platform, "web", WEB.name)
    result = await load(platform, tmp_path / "keys.json")
    assert result.loaded and not result.warnings and result.ann_profile_id


async def test_the_same_seed_loads_the_same_database(sqlite_template: Path, tmp_path: Path) -> None:
    found: list[Counts | None] = []
    for run in ("one", "two"):
        path = tmp_path / run / "omni.db"
        path.parent.mkdir()
        shutil.copyfile(sqlite_template, path)
        settings = Settings(database_url=f"sqlite+aiosqlite:///{path}", sqlite_synchronous="NORMAL")
        platform = Platform(settings)
        try:
            found.append((await load(platform, path.with_name("keys.json"))).counts)
        finally:
            await platform.close()
    assert found[0] is not None and found[0] == found[1]
    assert found[0].profiles > CUSTOMERS  # some visitors never sign in: they stay apart


def omni_demo(tmp_path: Path, *args: str) -> str:
    env = {**os.environ, "OMNI_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/omni.db"}
    command = [str(Path(sys.executable).parent / "omni"), "demo", "--no-serve", *args]
    # cwd: the keys file lands beside the database, and no stray .env is read.
    done = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.slow
def test_omni_demo_prints_keys_and_reuses_them(tmp_path: Path) -> None:
    first = omni_demo(tmp_path, "--customers", "20")
    second = omni_demo(tmp_path, "--customers", "20")

    keys = read_keys(tmp_path / "omni-demo.json")
    assert keys is not None and keys.loaded
    for output in (first, second):
        assert re.search(rf"write key:\s+{re.escape(keys.write_keys['Web shop'])}\b", output)
        assert re.search(rf"admin token:\s+{re.escape(keys.admin_token)}\b", output)
        assert "/v1/profiles/lookup?type=email&value=ann@example.com" in output
    assert "demo loaded" in first and "already loaded" in second
