"""Real processes for the benchmark: ``omni serve``, ``omni worker``, the bare app, the CLI.

Each runs as its own subprocess with ``OMNI_DATABASE_URL`` in its environment, exactly as an
operator would start it; output goes to a log file in the work directory. CPU time is read from
``/proc`` so the report can say how much each process spent, and how busy the machine was.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
OMNI = str(BIN / "omni")
TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def omni_env(database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMNI_")}
    return env | {"OMNI_DATABASE_URL": database_url} | extra


def omni_cli(env: dict[str, str], *args: str) -> str:
    """Run an ``omni`` command; returns the last line it printed (a key or token)."""
    done = subprocess.run(
        [OMNI, *args], env=env, cwd=ROOT, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"omni {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout.strip().splitlines()[-1].strip()


def code_version(src: Path | None) -> str:
    """The commit the omni processes run (``+dirty``: with uncommitted changes under src/)."""
    repo = str(src or ROOT)
    try:
        head = subprocess.run(
            ["git", "-C", repo, "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", repo, "status", "--porcelain", "--", "src"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of a live process and its live children (``omni serve --workers N`` answers
    from uvicorn's child processes)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0.0
    return cpu_seconds(pid) + sum(tree_cpu_seconds(int(child)) for child in children)


def machine_cpu() -> tuple[float, float, float]:
    """(busy, stolen, total) jiffies of all CPUs since boot; two readings give the machine's load.

    Stolen time is time this VM wanted to run and the hypervisor ran another guest: neither busy
    nor idle here, and the reason this VM's figures drift from one day to the next. (The guest
    columns after it are already counted in user time.)"""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:9]
    user, nice, system, idle, iowait, irq, softirq, steal = (int(v) for v in fields)
    busy = user + nice + system + irq + softirq
    return float(busy), float(steal), float(busy + idle + iowait + steal)


def postgres_cpu() -> float:
    """CPU seconds of every live ``postgres`` process (the database's share of the machine)."""
    total = 0.0
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == "postgres":
                total += cpu_seconds(int(comm.parent.name))
        except OSError:
            continue
    return total


class Process:
    """A subprocess stopped (SIGINT, then SIGKILL) when the ``with`` block ends."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(args, env=env, cwd=ROOT, stdout=self._log, stderr=self._log)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def cpu(self) -> float:
        return tree_cpu_seconds(self.proc.pid)

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{tail}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()

    def __enter__(self) -> Process:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def omni_serve(env: dict[str, str], port: int, log_dir: Path, processes: int = 1) -> Process:
    args = [OMNI, "serve", "--port", str(port), "--workers", str(processes)]
    return Process("serve", args, env, log_dir)


def omni_worker(env: dict[str, str], log_dir: Path, name: str = "worker") -> Process:
    return Process(name, [OMNI, "worker"], env, log_dir)


def bare_app(port: int, log_dir: Path, processes: int = 1) -> Process:
    script = str(Path(__file__).resolve().parent / "bare_app.py")
    args = [sys.executable, script, str(port), str(processes)]
    return Process("bare", args, dict(os.environ), log_dir)


class Profiler:
    """``py-spy record`` attached to a process for one phase (when py-spy is available)."""

    def __init__(self, py_spy: str, target: Process, out: Path) -> None:
        self.out = out
        args = [py_spy, "record", "--pid", str(target.pid), "--format", "raw", "-r", "200"]
        args += ["--output", str(out), "--nonblocking"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
