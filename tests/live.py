"""Real ``omni`` processes for end-to-end tests: a server on a free port, workers, the CLI."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

OMNI = str(Path(sys.executable).with_name("omni"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def env_for(database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMNI_")}
    env |= {"OMNI_DATABASE_URL": database_url, "OMNI_SQLITE_SYNCHRONOUS": "NORMAL"} | extra
    return env


def omni(database_url: str, *args: str, **extra: str) -> str:
    """Run an ``omni`` command to completion; returns its last line of output."""
    done = subprocess.run(
        [OMNI, *args],
        env=env_for(database_url, **extra),
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1]


@dataclass
class Process:
    args: list[str]
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = field(default=None)

    def start(self) -> Process:
        with self.log.open("ab") as handle:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                self.args, env=self.env, stdout=handle, stderr=subprocess.STDOUT
            )
        return self

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no flush, like a machine losing power to that process."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def server(database_url: str, log: Path, **extra: str) -> tuple[Process, str]:
    port = free_port()
    process = Process(
        [OMNI, "serve", "--port", str(port), "--no-migrate"], env_for(database_url, **extra), log
    ).start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"server did not start:\n{process.output()}")


def worker(database_url: str, log: Path, **extra: str) -> Process:
    return Process([OMNI, "worker"], env_for(database_url, **extra), log).start()


@dataclass
class Live:
    """A running ``omni serve`` for end-to-end tests: its address, write keys by source kind,
    and an admin API token (the ``live`` fixture)."""

    url: str
    keys: dict[str, str]
    token: str

    def profile(self, email: str, events: int) -> dict[str, Any]:
        """The e-mail's profile once the embedded worker has resolved ``events`` into it."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            found = httpx.get(f"{self.url}/v1/profiles/lookup", headers=self.bearer,
                              params={"type": "email", "value": email})  # fmt: skip
            if found.status_code == 200 and found.json()["computed"]["events_total"] >= events:
                return dict(found.json())
            time.sleep(0.2)
        raise AssertionError(f"{email}'s {events} events were not resolved in time")

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}
