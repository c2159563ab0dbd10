"""A cheap HTTP/1.1 load generator: pre-built requests over a few keep-alive connections.

On a 2-core machine the client competes with the server for CPU, so it does as little as it can:
every request is built (headers and body, as bytes) before the clock starts, and each connection
is a raw asyncio stream that writes one request and reads one response (status line, headers,
``content-length`` body). No HTTP library, no parsing of JSON while timed.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Sequence
from dataclasses import dataclass, field


def request(
    method: str, path: str, *, body: bytes = b"", headers: dict[str, str] | None = None
) -> bytes:
    """One HTTP/1.1 request as bytes, ready to write on a keep-alive connection."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body or method in ("POST", "PUT"):
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def basic_auth(write_key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Outcome:
    """What a run of requests did: counts, wall time, and per-request latencies if asked for."""

    sent: int = 0
    failed: int = 0
    seconds: float = 0.0
    first_error: str | None = None
    latencies: list[float] = field(default_factory=list)

    @property
    def per_second(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0


class Run:
    """Send ``requests`` over ``connections`` connections; ``done`` counts finished requests."""

    def __init__(
        self,
        port: int,
        requests: Sequence[bytes],
        *,
        connections: int,
        expect: bytes | None = None,
        latencies: bool = False,
    ) -> None:
        self.port, self.requests, self.connections = port, requests, connections
        self.expect, self.keep_latencies = expect, latencies
        self.next = 0
        self.done = 0
        self.outcome = Outcome()

    async def __call__(self) -> Outcome:
        started = time.perf_counter()
        await asyncio.gather(*(self._connection() for _ in range(self.connections)))
        self.outcome.seconds = time.perf_counter() - started
        self.outcome.sent = self.done
        return self.outcome

    async def _connection(self) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            while self.next < len(self.requests):
                payload = self.requests[self.next]
                self.next += 1
                began = time.perf_counter()
                writer.write(payload)
                status, body = await _response(reader)
                if self.keep_latencies:
                    self.outcome.latencies.append(time.perf_counter() - began)
                self._check(status, body)
                self.done += 1
        finally:
            writer.close()

    def _check(self, status: int, body: bytes) -> None:
        if status == 200 and (self.expect is None or self.expect in body):
            return
        self.outcome.failed += 1
        if self.outcome.first_error is None:
            self.outcome.first_error = f"{status}: {body[:300]!r}"


async def _response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
            break
    return status, await reader.readexactly(length) if length else b""


async def wait_http(port: int, path: str = "/healthz", patience: float = 60.0) -> None:
    """Until the server on ``port`` answers ``path`` with 200."""
    deadline = time.monotonic() + patience
    while True:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request("GET", path))
            status, _ = await _response(reader)
            writer.close()
            if status == 200:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing answered 200 on port {port}{path} in {patience:.0f}s")
        await asyncio.sleep(0.1)
