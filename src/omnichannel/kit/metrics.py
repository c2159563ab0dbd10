"""Prometheus metrics: what this process counts, and the text a scrape of ``/metrics`` gets.

prometheus-client (Apache-2.0, the library DESIGN §4 names) keeps the counters and writes the
exposition format. Modules declare their own counters with it; this module owns how they are
gathered. Counters are per process: under ``omni serve --workers N`` the processes share no
memory, so each writes its counters to files in ``PROMETHEUS_MULTIPROC_DIR`` (the library's
multiprocess mode, which ``omni serve`` turns on by itself for more than one process) and a
scrape answered by any of them sums them all. What the database knows (the backlog, say) is
read when scraped and added as it is, the same whichever process answers.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Each counter's ``_created`` twin (its start time) doubles the scrape; no dashboard reads it.
disable_created_metrics()  # type: ignore[no-untyped-call]


class _Fixed(Collector):
    """Families read elsewhere (from the database), handed over as they are."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self.families = list(families)

    def collect(self) -> Iterator[Metric]:
        yield from self.families


def exposition(families: Iterable[Metric] = ()) -> bytes:
    """This process's counters (every process's, in multiprocess mode), then ``families``."""
    if MULTIPROC_DIR in os.environ:
        counted = CollectorRegistry()
        MultiProcessCollector(counted)  # type: ignore[no-untyped-call]
    else:
        counted = REGISTRY
    read = CollectorRegistry()
    read.register(_Fixed(families))
    return generate_latest(counted) + generate_latest(read)


@contextmanager
def shared_between_processes(processes: int) -> Iterator[None]:
    """For the life of the block, processes started from here count into one directory (unless
    one is set already, or there is only one process), removed afterwards."""
    if processes < 2 or MULTIPROC_DIR in os.environ:
        yield
        return
    directory = tempfile.mkdtemp(prefix="omni-metrics-")
    os.environ[MULTIPROC_DIR] = directory
    try:
        yield
    finally:
        del os.environ[MULTIPROC_DIR]
        shutil.rmtree(directory, ignore_errors=True)
