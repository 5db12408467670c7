"""What every component tells operators: one log line and metrics per entrypoint call.

``Telemetry`` is a dependency provider that every service gets from
``shared.entrypoints.PlatformRpc`` (and the gateway declares itself). For each
worker it

- sets the logging context (request id, principal, role, agency, service,
  entrypoint), so every line the worker logs carries them (``shared.logs.JsonFormatter``);
- logs one summary line (``wsli.access``) with the duration and the outcome:
  ``ok``, ``refused`` (an expected 4xx-type error) or ``error``; for an HTTP
  request also its method, path, client and status (the gateway's access log);
- counts the call and observes its latency in Prometheus metrics.

A service has no HTTP server of its own, so when ``METRICS_ADDRESS``
(``host:port``) is set the provider serves ``/metrics`` there (prometheus-client's
small server); the gateway serves it on its own port. Database gauges (outbox
pending and age, inbox processed) are read at scrape time by ``PlatformCollector``.
"""
from __future__ import annotations

import functools
import logging
import time
import weakref

from nameko.extensions import DependencyProvider
from nameko.web.handlers import HttpRequestHandler
from prometheus_client.core import REGISTRY, CounterMetricFamily, GaugeMetricFamily

from shared import metrics
from shared.auth import CONTEXT_KEY, Principal
from shared.errors import WsliError
from shared.logs import WORKER
from shared.web import REQUEST_ID_KEY

log = logging.getLogger("wsli.access")

_SERVERS: dict[str, object] = {}


def serve_metrics(address: str) -> None:
    """Start prometheus-client's HTTP server once per address in this process."""
    if not address or address in _SERVERS:
        return
    from prometheus_client import start_http_server
    host, _, port = address.rpartition(":")
    try:
        _SERVERS[address] = start_http_server(int(port), addr=host or "0.0.0.0")
    except (OSError, ValueError) as exc:  # metrics are worth a warning, not a service that will not start
        log.warning("cannot serve /metrics on %s: %s", address, exc)


class PlatformCollector:
    """Outbox and inbox gauges of the services' databases in this process, read when scraped."""

    def __init__(self):
        self.sources: dict[str, tuple] = {}

    def collect(self):
        from datetime import timezone

        from sqlalchemy import func, select
        from shared.workdays import utcnow

        pending = GaugeMetricFamily("wsli_outbox_pending", "Event rows committed but not yet published",
                                    labels=["service"])
        age = GaugeMetricFamily("wsli_outbox_oldest_pending_seconds", "Age of the oldest unpublished event row",
                                labels=["service"])
        processed = CounterMetricFamily("wsli_inbox_processed", "Events processed, by handler",
                                        labels=["service", "handler"])
        for service, (engine, tables) in list(self.sources.items()):
            outbox, inbox = tables.outbox, tables.inbox
            try:
                with engine.connect() as conn:
                    count, oldest = conn.execute(select(func.count(), func.min(outbox.c.created_at))
                                                 .where(outbox.c.published_at.is_(None))).one()
                    handled = conn.execute(select(inbox.c.handler, func.count()).group_by(inbox.c.handler)).all()
            except Exception as exc:  # the database is away: leave it out rather than fail the scrape
                log.warning("metrics: cannot read %s's database: %s", service, str(exc)[:200])
                continue
            pending.add_metric([service], count)
            if oldest is not None and oldest.tzinfo is None:
                oldest = oldest.replace(tzinfo=timezone.utc)
            age.add_metric([service], (utcnow() - oldest).total_seconds() if oldest else 0.0)
            for handler, n in handled:
                processed.add_metric([service, handler], n)
        yield pending
        yield age
        yield processed


PLATFORM = PlatformCollector()
REGISTRY.register(PLATFORM)


class Telemetry(DependencyProvider):
    def __init__(self):
        self._workers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def setup(self):
        self.service = self.container.service_name

    def start(self):
        serve_metrics(str(self.container.config.get("METRICS_ADDRESS") or ""))
        database = next((d for d in self.container.dependencies if hasattr(d, "tables") and hasattr(d, "engine")),
                        None)
        if database is not None and database.engine is not None:
            PLATFORM.sources[self.service] = (database.engine, database.tables)

    def stop(self):
        PLATFORM.sources.pop(getattr(self, "service", None), None)

    def kill(self):
        self.stop()

    def worker_setup(self, worker_ctx):
        who = _who(worker_ctx)
        context = {"service": self.service, "entrypoint": worker_ctx.entrypoint.method_name, **who}
        self._workers[worker_ctx] = (time.perf_counter(), WORKER.set(context),
                                     worker_ctx.data.get(CONTEXT_KEY), who)

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        started, _, principal_then, who = self._workers.get(worker_ctx, (time.perf_counter(), None, None, None))
        if who is None or worker_ctx.data.get(CONTEXT_KEY) is not principal_then:
            who = _who(worker_ctx)  # the gateway authenticates inside the worker: ask again
        status = getattr(result, "status_code", None)
        if exc_info is not None:
            outcome = "refused" if isinstance(exc_info[1], WsliError) else "error"
        elif status is not None:
            outcome = "ok" if status < 400 else "refused" if status < 500 else "error"
        else:
            outcome = "ok"
        entrypoint = worker_ctx.entrypoint.method_name
        duration = metrics.observe(self.service, entrypoint, started, outcome)
        extra = {"service": self.service, "entrypoint": entrypoint, "duration_ms": round(duration * 1000, 1),
                 "outcome": outcome, **who}
        if status is not None:
            extra["status"] = status
        if isinstance(worker_ctx.entrypoint, HttpRequestHandler) and worker_ctx.args:
            # the request's access line: the web server writes none of its own (shared.web)
            request = worker_ctx.args[0]
            extra.update(method=request.method, path=request.path, client=request.remote_addr)
        if exc_info is not None:
            extra["error"] = type(exc_info[1]).__name__
        log.info("%s.%s %s in %.1f ms", self.service, entrypoint, outcome, duration * 1000, extra=extra)

    def worker_teardown(self, worker_ctx):
        entry = self._workers.pop(worker_ctx, None)
        if entry is not None:
            try:
                WORKER.reset(entry[1])
            except ValueError:  # set in another context (should not happen): just clear it
                WORKER.set(None)


def _who(worker_ctx) -> dict:
    raw = worker_ctx.data.get(CONTEXT_KEY)
    out = dict(_principal_fields(raw) if isinstance(raw, str) else _fields_of(raw))
    request_id = worker_ctx.data.get(REQUEST_ID_KEY)
    if request_id is not None:
        out["request_id"] = request_id
    return out


@functools.lru_cache(maxsize=4096)
def _principal_fields(raw: str) -> dict:
    # the same few principals call again and again (each token is one): read each once; callers copy
    return _fields_of(raw)


def _fields_of(raw) -> dict:
    principal = Principal.from_context(raw)
    if principal is None:
        return {}
    out = {"principal": principal.actor, "role": principal.role, "agency": principal.agency}
    return {k: v for k, v in out.items() if v is not None}
