"""Is everything caught up? Per consumer: events published vs processed, and how old the
oldest unprocessed one is.

Each service reports only its own tables (``service_stats``): how many rows of
each event type its outbox published or still holds, and how many events each of
its handlers processed (its inbox). ``combine`` sets a consumer's inbox against
its source's outbox. The gateway gathers the reports over RPC
(``GET /api/v1/status/lag``); ``wsli status`` reads the databases directly.

"Oldest unprocessed" assumes a handler processes a source's events roughly in
publication order: with ``processed`` = k it is the age of the (k+1)-th
published event. Retries and parked events bend that; the counts are exact.
"""
from __future__ import annotations

from datetime import timezone

from sqlalchemy import func, select

from shared.workdays import utcnow


def subscriptions_of(service_cls) -> list[dict]:
    """The ``@subscribe`` handlers of a service class: handler name, source service, event."""
    from shared.subscriber import Subscriber

    found = []
    for name in sorted(dir(service_cls)):
        for entrypoint in getattr(getattr(service_cls, name, None), "nameko_entrypoints", ()) or ():
            if isinstance(entrypoint, Subscriber):
                found.append({"handler": f"{service_cls.name}.{name}", "source": entrypoint.source_service,
                              "event": entrypoint.event_type})
    return found


def event_type_of(source: str, routing_key: str) -> str:
    name, _, version = routing_key.rpartition("_v")
    if name and version.isdigit():
        return f"wsli.{source}.{name}.v{version}"
    return f"wsli.{source}.{routing_key}.v1"


def _aware(moment):
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment


def service_stats(conn, tables, service_cls) -> dict:
    outbox, inbox = tables.outbox, tables.inbox
    published = dict(conn.execute(select(outbox.c.event_type, func.count())
                                  .where(outbox.c.published_at.is_not(None)).group_by(outbox.c.event_type)).all())
    pending = {t: (n, _aware(oldest)) for t, n, oldest in conn.execute(
        select(outbox.c.event_type, func.count(), func.min(outbox.c.created_at))
        .where(outbox.c.published_at.is_(None)).group_by(outbox.c.event_type)).all()}
    processed: dict[str, dict[str, int]] = {}
    for handler, event_type, n in conn.execute(select(inbox.c.handler, inbox.c.event_type, func.count())
                                               .group_by(inbox.c.handler, inbox.c.event_type)).all():
        processed.setdefault(handler, {})[event_type] = n
    types = set(published) | set(pending)
    return {
        "service": service_cls.name,
        "outbox": {t: {"published": published.get(t, 0), "pending": pending.get(t, (0, None))[0],
                       "oldest_pending_at": (pending[t][1].isoformat() if t in pending and pending[t][1] else None)}
                   for t in sorted(types)},
        "inbox": processed,
        "subscriptions": subscriptions_of(service_cls),
    }


def published_at(conn, tables, event_type: str, offset: int):
    """When the ``offset``-th (0-based) published row of ``event_type`` went out."""
    outbox = tables.outbox
    moment = conn.execute(select(outbox.c.published_at).where(outbox.c.event_type == event_type,
                                                              outbox.c.published_at.is_not(None))
                          .order_by(outbox.c.published_at, outbox.c.id).offset(offset).limit(1)).scalar()
    return _aware(moment).isoformat() if moment else None


def combine(stats: dict[str, dict], published_at_of, unavailable=(), now=None) -> dict:
    """``stats``: service -> service_stats; ``published_at_of(source, type, offset)`` -> ISO time or None."""
    from datetime import datetime

    now = now or utcnow()

    def age(iso):
        return round((now - datetime.fromisoformat(iso)).total_seconds(), 1) if iso else None

    consumers = []
    for service, report in sorted(stats.items()):
        for sub in report["subscriptions"]:
            event_type = event_type_of(sub["source"], sub["event"])
            entry = {"handler": sub["handler"], "event_type": event_type, "source": sub["source"],
                     "event": sub["event"]}
            source = stats.get(sub["source"])
            processed = report["inbox"].get(sub["handler"], {}).get(event_type, 0)
            if source is None:
                entry.update(status="unknown", processed=processed, published=None, behind=None,
                             waiting_in_outbox=None, oldest_unprocessed_age_s=None)
                consumers.append(entry)
                continue
            out = source["outbox"].get(event_type, {"published": 0, "pending": 0, "oldest_pending_at": None})
            behind = max(0, out["published"] - processed)
            oldest = published_at_of(sub["source"], event_type, processed) if behind else None
            if out["pending"] and out["oldest_pending_at"]:
                oldest = min(filter(None, [oldest, out["oldest_pending_at"]]))
            entry.update(published=out["published"], processed=processed, behind=behind,
                         waiting_in_outbox=out["pending"], oldest_unprocessed_age_s=age(oldest),
                         status="caught_up" if not behind and not out["pending"] else "behind")
            consumers.append(entry)
    outboxes = {}
    for service, report in sorted(stats.items()):
        pending = sum(v["pending"] for v in report["outbox"].values())
        oldest = min((v["oldest_pending_at"] for v in report["outbox"].values() if v["oldest_pending_at"]),
                     default=None)
        outboxes[service] = {"pending": pending, "oldest_pending_age_s": age(oldest)}
    caught_up = not unavailable and all(c["status"] == "caught_up" for c in consumers) \
        and not any(o["pending"] for o in outboxes.values())
    return {"caught_up": caught_up, "checked_at": now.isoformat(), "unavailable": sorted(unavailable),
            "outboxes": outboxes, "consumers": consumers}


def queue_name(handler: str, source: str, event: str) -> str:
    """nameko's queue for a service-pool event handler (``nameko.events.EventHandler``)."""
    return f"evt-{source}-{event}--{handler}"


def queue_depths(amqp_uri: str, names: list[str], timeout: float = 2.0) -> dict[str, int | None]:
    """Messages waiting in each queue (ready, not yet delivered); None for a queue that does not exist."""
    from kombu import Connection

    depths: dict[str, int | None] = {}
    with Connection(amqp_uri, connect_timeout=timeout) as conn:
        conn.ensure_connection(max_retries=0, timeout=timeout)
        for name in names:
            channel = conn.channel()
            try:
                depths[name] = channel.queue_declare(name, passive=True).message_count
            except Exception:  # not declared (yet): nothing can wait in it
                depths[name] = None
            finally:
                try:
                    channel.close()
                except Exception:  # the broker closed it already (404 on passive declare)
                    pass
    return depths


def add_queues(report: dict, amqp_uri: str) -> dict:
    """Add what the broker holds: per consumer queue, and the dead-letter queue."""
    from shared.subscriber import DLQ

    names = {c["handler"]: queue_name(c["handler"], c["source"], c["event"]) for c in report["consumers"]}
    try:
        depths = queue_depths(amqp_uri, [*names.values(), DLQ])
    except Exception as exc:  # broker away: the database view still stands
        report["broker"] = {"status": "down", "error": str(exc)[:200]}
        return report
    for consumer in report["consumers"]:
        consumer["queued"] = depths.get(names[consumer["handler"]])
    report["dead_letters"] = depths.get(DLQ) or 0
    report["broker"] = {"status": "ok"}
    if any(c.get("queued") for c in report["consumers"]) or report["dead_letters"]:
        report["caught_up"] = False
    return report
