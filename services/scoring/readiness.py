"""Is everything a stage needs in? The scores (from the sheets) and the events still on their way.

The events part is the platform's lag report (``shared.lag``) narrowed to this service's
own handlers of the events a stage needs: the producers' outboxes (asked over RPC,
``lag_report``) set against this service's inbox, and this service's queues at the broker.
A producer or a broker that does not answer makes the answer "unknown", never "clear".
"""
from __future__ import annotations

import logging

from shared.auth import CONTEXT_KEY
from shared.lag import combine, queue_depths, queue_name, service_stats
from shared.peers import PeerRpc

log = logging.getLogger(__name__)


class InFlight(PeerRpc):
    """``self.in_flight.report(service, feeding)``: the lag of the events ``feeding`` names."""

    def rpc_timeout(self, config) -> float:
        # well inside the gateway's own wait for this answer (RPC_TIMEOUT_SECONDS)
        return float(config.get("READINESS_TIMEOUT_SECONDS") or min(3.0, super().rpc_timeout(config) / 3))

    def get_dependency(self, worker_ctx):
        return Probe(self, worker_ctx.data.get(CONTEXT_KEY))


class Probe:
    def __init__(self, provider: InFlight, principal_context):
        self.provider, self.principal_context = provider, principal_context

    def report(self, service, feeding: list[tuple[str, str]]):
        """(consumers as ``shared.lag.combine`` lists them, unavailable sources, queued per handler or None)."""
        sources = sorted({source for source, _ in feeding})
        stats, unavailable = self._source_stats(sources)
        own = service_stats(service.db.session.connection(), service.db.tables, type(service))
        stats[own["service"]] = own
        consumers = [c for c in combine(stats, lambda *args: None, unavailable)["consumers"]
                     if c["handler"].startswith(own["service"] + ".")]
        return consumers, unavailable, self._queued(consumers)

    def _source_stats(self, sources):
        stats, unavailable = {}, []
        try:
            with self.provider.cluster(self.principal_context) as cluster:
                calls = {s: getattr(cluster, s).lag_report.call_async() for s in sources}
                for source, call in calls.items():
                    try:
                        stats[source] = call.result()
                    except Exception as exc:  # down, slow or refusing: its events are "unknown"
                        log.warning("readiness: %s gave no lag report: %s", source, exc)
                        unavailable.append(source)
        except Exception as exc:  # the broker itself
            log.warning("readiness: no lag reports: %s", exc)
            unavailable = [s for s in sources if s not in stats]
        return stats, unavailable

    def _queued(self, consumers):
        names = {c["handler"]: queue_name(c["handler"], c["source"], c["event"]) for c in consumers}
        try:
            depths = queue_depths(self.provider.amqp_uri, list(names.values()))
        except Exception as exc:  # broker away
            log.warning("readiness: cannot read the queues: %s", exc)
            return None
        return {handler: depths.get(name) for handler, name in names.items()}
