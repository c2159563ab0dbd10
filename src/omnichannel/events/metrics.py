"""The event pipeline's metrics (``GET /metrics``; how they are gathered: ``kit.metrics``).

Counted by the process that does the work: ingestion calls by answer, events stored or refused
by source, events the worker processed by outcome. Read from the database when scraped: the
backlog, which is the same whichever process (or worker) is asked, and says at once whether the
workers keep up: a growing ``omni_events_pending`` or ``omni_events_oldest_pending_seconds``
means they do not, a non-zero ``omni_events_set_aside`` means `omni events retry` is waiting.
"""

from __future__ import annotations

from datetime import datetime

from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily, Metric

from omnichannel.events.repository import Backlog

REQUESTS = Counter(
    "omni_ingestion_requests",
    "Calls to the ingestion routes, by HTTP status of the answer.",
    ["status"],
)
INGESTED = Counter(
    "omni_ingested_events",
    "Events stored in the log, by source id (a retry of one already there is not).",
    ["source"],
)
REFUSED = Counter(
    "omni_refused_events",
    "Events refused with a 4xx (a malformed call counts one), by source id.",
    ["source"],
)
PROCESSED = Counter(
    "omni_processed_events",
    "Events processed: resolved to a profile (a known customer's as it is stored, the rest by "
    "a worker), discarded (only erased identifiers) or set aside (failed on its own data).",
    ["outcome"],
)


def backlog_families(backlog: Backlog, now: datetime) -> list[Metric]:
    return [
        GaugeMetricFamily(
            "omni_events_pending",
            "Events accepted and not yet processed by a worker.",
            value=backlog.pending,
        ),
        GaugeMetricFamily(
            "omni_events_oldest_pending_seconds",
            "How long the oldest pending event has waited (0 with none pending).",
            value=backlog.oldest_wait_seconds(now),
        ),
        GaugeMetricFamily(
            "omni_events_set_aside",
            "Events set aside because processing failed on their own data (omni events retry).",
            value=backlog.set_aside,
        ),
    ]
