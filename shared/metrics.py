"""Prometheus metrics of a component (``prometheus-client``).

Counters and histograms live in the process's default registry; gauges that
describe the database (outbox pending and age, inbox processed) are read at
scrape time by ``PlatformCollector``, so a scrape always tells the truth even
right after a restart. Every component exposes ``/metrics``: the gateway on its
HTTP port, each service on ``METRICS_ADDRESS`` (see ``shared.telemetry.serve_metrics``).
"""
from __future__ import annotations

import logging
import time

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import REGISTRY, GaugeMetricFamily

log = logging.getLogger(__name__)

CALLS = Counter("wsli_entrypoint_calls_total", "Entrypoint calls by outcome",
                ["service", "entrypoint", "outcome"])
LATENCY = Histogram("wsli_entrypoint_seconds", "Entrypoint duration", ["service", "entrypoint"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
RETRIES = Counter("wsli_event_retries_total", "Failed event deliveries sent to a retry queue", ["handler"])
PARKED = Counter("wsli_event_parked_total", "Event deliveries parked in the dead-letter queue", ["handler"])
DEAD_LETTERS = Gauge("wsli_dead_letters", "Messages parked in the dead-letter queue (read by the gateway)")
RATE_LIMITED = Counter("wsli_rate_limited_total", "Requests refused with 429", ["scope"])


def exposition() -> tuple[bytes, str]:
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


# The labelled series of each (service, entrypoint, outcome), looked up once: ``labels()``
# checks and converts its arguments under a lock on every call.
_SERIES: dict[tuple[str, str, str], tuple] = {}


def observe(service: str, entrypoint: str, started: float, outcome: str) -> float:
    duration = time.perf_counter() - started
    key = (service, entrypoint, outcome)
    series = _SERIES.get(key)
    if series is None:
        series = _SERIES[key] = (CALLS.labels(service, entrypoint, outcome), LATENCY.labels(service, entrypoint))
    series[0].inc()
    series[1].observe(duration)
    return duration
