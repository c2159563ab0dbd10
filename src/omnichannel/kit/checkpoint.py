"""SQLite WAL checkpoints off the commit path.

In WAL mode SQLite copies the log back into the database file (a checkpoint) from inside the
COMMIT that takes the log past ``wal_autocheckpoint`` pages: that caller's commit then waits for
the copy and its fsync, and a group-committed HTTP call is acknowledged only after it. In
``bench/pipeline_profile.py`` (README, performance) the average commit of the ingestion path took
8.3-9.5 ms with the automatic checkpoint and 5.4 ms with this thread.

So the writer's automatic checkpoint is raised to a backstop, and this thread, on its own
connection, runs ``PRAGMA wal_checkpoint(PASSIVE)`` a few times a second. PASSIVE never takes a
lock a writer or reader waits for: it copies what it can and returns, and SQLite restarts the
log from its beginning once a checkpoint has caught up. Several processes on one file may each
run one; a checkpoint that finds another running returns at once. The standard library's
``sqlite3`` is enough: the thread makes one blocking call per tick, with the GIL released.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

log = logging.getLogger(__name__)

# The writer checkpoints for itself only past this many pages (40 MB at 4 KiB pages): if this
# thread falls behind or stops, the log still stays bounded.
BACKSTOP_PAGES = 10_000


class WalCheckpointer:
    def __init__(self, path: str, *, interval: float = 0.2) -> None:
        self.path, self.interval = path, interval
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop and wait for the thread (at most one checkpoint in progress)."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        try:
            connection = sqlite3.connect(self.path, isolation_level=None)
        except sqlite3.Error as exc:  # the writer reports the same problem where it matters
            log.warning("no background WAL checkpoints for %s: %s", self.path, exc)
            return
        try:
            # Never wait for a lock: a busy checkpoint is simply tried again next tick.
            connection.execute("PRAGMA busy_timeout=0")
            while not self._stopping.wait(self.interval):
                try:
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:  # e.g. the file is being replaced by a restore
                    log.warning("WAL checkpoint of %s failed, retrying: %s", self.path, exc)
        finally:
            connection.close()
