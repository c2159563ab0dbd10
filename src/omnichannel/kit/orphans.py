"""A process that ``omni serve --workers N`` started ends when its supervisor does.

uvicorn's supervisor starts its HTTP processes with multiprocessing and stops them when it is
stopped. Killed itself (SIGKILL, the OOM killer), it cannot: its children went on serving the
port with the old code, holding it, so the next ``omni serve`` could not start. Each child
therefore watches its parent, by polling ``os.getppid()`` in a daemon thread (portable, unlike
Linux's ``PR_SET_PDEATHSIG``), and on being orphaned sends itself the SIGTERM the supervisor
would have sent: uvicorn's graceful shutdown, so calls in flight are still answered.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time

POLL_SECONDS = 0.5


def end_with_parent() -> None:
    """In a process multiprocessing started, end it once its parent has gone."""
    parent = multiprocessing.parent_process()
    if parent is None or parent.pid is None:  # started by a shell or a service manager
        return
    threading.Thread(target=_watch, args=(parent.pid,), name="orphan-watch", daemon=True).start()


def _watch(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(POLL_SECONDS)
    os.kill(os.getpid(), signal.SIGTERM)
