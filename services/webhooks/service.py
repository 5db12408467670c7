"""The webhooks service: integrators' endpoints, signed deliveries, the event feed.

Why a service of its own and not the gateway: it consumes every service's events
with the kit's subscriber (inbox idempotence, TTL retries, dead-letter queue) and
keeps durable delivery rows in its own database, so a slow or dead receiver can
never hold up the gateway's HTTP workers, and it scales and restarts on its own.

Guarantees, end to end: the producer's outbox gets the event to the broker; here
one transaction claims the inbox row, appends the envelope to ``events`` and writes
one ``deliveries`` row per matching enabled endpoint; the dispatcher (``dispatcher``)
works off those rows. An event is therefore delivered at least once to every
endpoint that wanted it when it arrived, with ``webhook-id`` = CloudEvents ``id`` for
deduplication, whatever restarts in between.
"""
from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime, timedelta

from nameko.dependency_providers import Config
from sqlalchemy import or_, select, text

from shared.auth import CallerProvider
from shared.catalogue import SERVICE_NAMES, load_all_event_schemas
from shared.db import transactional
from shared.entrypoints import PlatformRpc, rpc
from shared.errors import NotFound, RuleViolation, ValidationFailed
from shared.events import REGISTRY
from shared.schemas import load, schema_instance
from shared.workdays import utcnow

from . import domain, schemas
from .consumer import all_events_of
from .dispatcher import Dispatcher, Settings, WebhooksDatabase, check_target
from .models import Attempt, Base, Delivery, Endpoint, LoggedEvent, platform
from .roles import MANAGERS

INGEST = "webhooks.ingest"
FEED_LOCK = 0x7773_6C69_6665_6564  # "wslifeed": serialises feed appends so ids commit in order
MAX_REPLAY = 10_000
CURSOR_PREFIX = "e1:"


class WebhooksService(PlatformRpc):
    name = "webhooks"

    db = WebhooksDatabase(Base.metadata, platform)
    caller = CallerProvider()
    dispatcher = Dispatcher()
    config = Config()

    # ---- consuming -----------------------------------------------------------------------------

    def _consume(self, event):
        try:
            wrote = self._ingest(event)
            self.db.commit()
        except BaseException:
            self.db.rollback()
            raise
        if wrote:
            self.dispatcher.wake()

    def _ingest(self, event) -> bool:
        if not self.db.claim(event, INGEST):
            return False
        parsed = domain.parse_type(event.type)
        spec = REGISTRY.get(event.type)
        # Only this agency's own, registered event types reach integrators.
        if parsed is None or spec is None or event.agency != self.db.agency:
            return False
        session = self.db.session
        if session.get_bind().dialect.name == "postgresql":
            # Held to commit: the next append waits, so a reader never sees id n+1 before n.
            session.execute(text("SELECT pg_advisory_xact_lock(CAST(:key AS bigint))"), {"key": FEED_LOCK})
        now = utcnow()
        row = LoggedEvent(event_id=event.id, agency_id=event.agency, type=event.type, service=parsed[0],
                          name=parsed[1], version=parsed[2], subject=event.subject[:200],
                          time=_parse_time(event.time, now), received_at=now,
                          body=domain.body_of(event.envelope or _rebuild(event)))
        session.add(row)
        session.flush()
        endpoints = session.scalars(select(Endpoint).where(Endpoint.agency_id == self.db.agency,
                                                           Endpoint.status == domain.ENABLED)).all()
        wanted = [e for e in endpoints if domain.wants(e.event_types, *parsed)]
        for endpoint in wanted:
            session.add(_new_delivery(endpoint.id, row, now))
        return bool(wanted)

    # ---- endpoints -----------------------------------------------------------------------------

    @rpc(roles=MANAGERS)
    @transactional
    def create_endpoint(self, payload):
        data = load(schemas.EndpointIn, payload)
        self._check_endpoint(data)
        now = utcnow()
        secret = domain.new_secret()
        endpoint = Endpoint(agency_id=self.db.agency, owner=self._owner(), url=data["url"],
                            description=data["description"], event_types=data["event_types"], secret=secret,
                            status=domain.ENABLED, created_at=now, created_by=self.caller.actor, updated_at=now,
                            version=1)
        self.db.session.add(endpoint)
        self.db.session.flush()
        self.db.audit(self.caller, "endpoint.create", "endpoint", endpoint.id,
                      {"url": endpoint.url, "event_types": endpoint.event_types})
        return schema_instance(schemas.EndpointWithSecretOut).dump(_with_secret(endpoint, secret))

    @rpc(roles=MANAGERS)
    def list_endpoints(self):
        query = select(Endpoint).where(Endpoint.agency_id == self.db.agency).order_by(Endpoint.id)
        if self.caller.role == "integrator":
            query = query.where(Endpoint.owner == self._owner())
        return schema_instance(schemas.EndpointOut, many=True).dump(self.db.session.scalars(query).all())

    @rpc(roles=MANAGERS)
    def get_endpoint(self, endpoint_id):
        return schema_instance(schemas.EndpointOut).dump(self._endpoint(endpoint_id))

    @rpc(roles=MANAGERS)
    @transactional
    def update_endpoint(self, endpoint_id, payload):
        endpoint = self._endpoint(endpoint_id, lock=True)
        data = load(schemas.EndpointPatch, payload)
        self._check_endpoint(data)
        now = utcnow()
        for key in ("url", "description", "event_types"):
            if key in data:
                setattr(endpoint, key, data[key])
        if data.get("enabled") is True and endpoint.status == domain.DISABLED:
            endpoint.status, endpoint.disabled_reason, endpoint.disabled_at = domain.ENABLED, None, None
        elif data.get("enabled") is False and endpoint.status == domain.ENABLED:
            endpoint.status, endpoint.disabled_at = domain.DISABLED, now
            endpoint.disabled_reason = f"disabled by {self.caller.actor}"
        endpoint.updated_at, endpoint.version = now, endpoint.version + 1
        self.db.audit(self.caller, "endpoint.update", "endpoint", endpoint.id,
                      {k: v for k, v in data.items() if k != "url"} | ({"url": data["url"]} if "url" in data else {}))
        if endpoint.status == domain.ENABLED:
            self.dispatcher.wake()
        return schema_instance(schemas.EndpointOut).dump(endpoint)

    @rpc(roles=MANAGERS)
    @transactional
    def delete_endpoint(self, endpoint_id):
        endpoint = self._endpoint(endpoint_id, lock=True)
        self.db.audit(self.caller, "endpoint.delete", "endpoint", endpoint.id, {"url": endpoint.url})
        out = schema_instance(schemas.EndpointOut).dump(endpoint)
        self.db.session.delete(endpoint)
        return out

    @rpc(roles=MANAGERS)
    @transactional
    def rotate_secret(self, endpoint_id, payload):
        """A new secret signs from now on; the old one signs beside it for the grace period."""
        endpoint = self._endpoint(endpoint_id, lock=True)
        data = load(schemas.RotateIn, payload)
        grace = Settings(self.config).rotation_grace
        if data.get("grace_seconds") is not None:
            grace = timedelta(seconds=data["grace_seconds"])
        now = utcnow()
        secret = domain.new_secret()
        endpoint.previous_secret, endpoint.previous_secret_until = endpoint.secret, now + grace
        endpoint.secret, endpoint.updated_at, endpoint.version = secret, now, endpoint.version + 1
        self.db.audit(self.caller, "endpoint.rotate_secret", "endpoint", endpoint.id,
                      {"grace_seconds": int(grace.total_seconds())})
        return schema_instance(schemas.EndpointWithSecretOut).dump(_with_secret(endpoint, secret))

    @rpc(roles=MANAGERS)
    def event_types(self):
        """What an endpoint can subscribe to."""
        load_all_event_schemas()
        return schema_instance(schemas.EventTypeOut, many=True).dump(
            [{"type": t, "service": s.service, "event": s.name, "version": s.version, "description": s.description}
             for t, s in sorted(REGISTRY.items()) if not s.retired])

    # ---- deliveries ----------------------------------------------------------------------------

    @rpc(roles=MANAGERS)
    def list_deliveries(self, endpoint_id, query):
        endpoint = self._endpoint(endpoint_id)
        params = load(schemas.DeliveryQuery, query)
        stmt = select(Delivery).where(Delivery.endpoint_id == endpoint.id).order_by(Delivery.id.desc())
        if "status" in params:
            stmt = stmt.where(Delivery.status == params["status"])
        if "before" in params:
            stmt = stmt.where(Delivery.id < params["before"])
        rows = self.db.session.scalars(stmt.limit(params["limit"])).all()
        return schema_instance(schemas.DeliveryOut, many=True).dump(rows)

    @rpc(roles=MANAGERS)
    def get_delivery(self, delivery_id):
        delivery = self._delivery(delivery_id)
        attempts = self.db.session.scalars(select(Attempt).where(Attempt.delivery_id == delivery.id)
                                           .order_by(Attempt.id)).all()
        return schema_instance(schemas.DeliveryDetailOut).dump(_with(delivery, attempt_log=attempts))

    @rpc(roles=MANAGERS)
    @transactional
    def replay_delivery(self, delivery_id, payload=None):
        delivery = self._delivery(delivery_id, lock=True)
        endpoint = self.db.session.get(Endpoint, delivery.endpoint_id)
        _require_enabled(endpoint)
        _reset(delivery, utcnow())
        self.db.audit(self.caller, "delivery.replay", "endpoint", endpoint.id, {"delivery": delivery.id})
        self._wake_after_commit()
        return schema_instance(schemas.ReplayOut).dump({"replayed": 1, "deliveries": [delivery.id]})

    @rpc(roles=MANAGERS)
    @transactional
    def replay_since(self, endpoint_id, payload):
        """Every event since a time that the endpoint wants now, sent again (or for the first time)."""
        endpoint = self._endpoint(endpoint_id, lock=True)
        data = load(schemas.ReplaySinceIn, payload)
        _require_enabled(endpoint)
        session = self.db.session
        events = session.scalars(select(LoggedEvent).where(
            LoggedEvent.agency_id == self.db.agency, LoggedEvent.received_at >= data["since"])
            .order_by(LoggedEvent.id).limit(MAX_REPLAY + 1)).all()
        if len(events) > MAX_REPLAY:
            raise RuleViolation(f"more than {MAX_REPLAY} events since then: replay a shorter window",
                                {"since": [f"at most {MAX_REPLAY} events per replay"]}, rule="webhook_replay_window")
        events = [e for e in events if domain.wants(endpoint.event_types, e.service, e.name, e.version)]
        existing = {d.event_row_id: d for d in session.scalars(select(Delivery).where(
            Delivery.endpoint_id == endpoint.id, Delivery.event_row_id.in_([e.id for e in events]))).all()} \
            if events else {}
        now = utcnow()
        touched = []
        for event in events:
            delivery = existing.get(event.id)
            if delivery is None:
                delivery = _new_delivery(endpoint.id, event, now)
                session.add(delivery)
            else:
                _reset(delivery, now)
            touched.append(delivery)
        session.flush()
        self.db.audit(self.caller, "delivery.replay_since", "endpoint", endpoint.id,
                      {"since": data["since"].isoformat(), "count": len(touched)})
        self._wake_after_commit()
        return schema_instance(schemas.ReplayOut).dump({"replayed": len(touched), "deliveries": [d.id for d in touched]})

    # ---- the feed ------------------------------------------------------------------------------

    @rpc(roles=MANAGERS)
    def feed(self, query):
        """Events in the order they were logged, after an opaque cursor; ``limit`` per page."""
        params = load(schemas.FeedQuery, query)
        after = _decode_cursor(params["after"]) if params.get("after") else 0
        stmt = select(LoggedEvent.id, LoggedEvent.body).where(
            LoggedEvent.agency_id == self.db.agency, LoggedEvent.id > after)
        patterns = [p for p in (params.get("type") or "").split(",") if p]
        if patterns:
            stmt = stmt.where(or_(*(LoggedEvent.type.like(_like(p), escape="\\") for p in patterns)))
        rows = self.db.session.execute(stmt.order_by(LoggedEvent.id).limit(params["limit"] + 1)).all()
        page = rows[: params["limit"]]
        last = page[-1].id if page else after
        return schema_instance(schemas.FeedOut).dump({"items": [json.loads(r.body) for r in page],
                                       "next": _encode_cursor(last), "has_more": len(rows) > len(page)})

    # ---- helpers -------------------------------------------------------------------------------

    def _owner(self) -> str:
        return self.caller.name or self.caller.actor

    def _endpoint(self, endpoint_id, lock: bool = False) -> Endpoint:
        endpoint = self.db.session.get(Endpoint, domain.as_id(endpoint_id, "endpoint_id"), with_for_update=lock)
        if endpoint is None or endpoint.agency_id != self.db.agency or (
                self.caller.role == "integrator" and endpoint.owner != self._owner()):
            raise NotFound(f"endpoint {endpoint_id} not found")  # the same answer for someone else's
        return endpoint

    def _delivery(self, delivery_id, lock: bool = False) -> Delivery:
        delivery = self.db.session.get(Delivery, domain.as_id(delivery_id, "delivery_id"), with_for_update=lock)
        if delivery is None:
            raise NotFound(f"delivery {delivery_id} not found")
        try:
            self._endpoint(delivery.endpoint_id)
        except NotFound:
            raise NotFound(f"delivery {delivery_id} not found") from None
        return delivery

    def _check_endpoint(self, data: dict):
        if "event_types" in data:
            load_all_event_schemas()
            known = [(s.service, s.name, s.version) for s in REGISTRY.values() if not s.retired]
            domain.check_filters_match_something(data["event_types"], known)
        if "url" in data:
            check_target(data["url"], Settings(self.config).allowed_networks)

    def _wake_after_commit(self):
        # the worker claims only committed rows; an early wake just finds nothing, the poll follows
        self.dispatcher.wake()


def _consumer(source: str):
    @all_events_of(source)
    def consume(self, event):
        self._consume(event)
    consume.__name__ = f"on_{source}_event"
    return consume


# One queue per producing service in the catalogue (a new service's events flow in too).
EVENT_SOURCES = [name for name in SERVICE_NAMES if name != WebhooksService.name]
for _source in EVENT_SOURCES:
    setattr(WebhooksService, f"on_{_source}_event", _consumer(_source))


def _new_delivery(endpoint_id: int, event: LoggedEvent, now: datetime) -> Delivery:
    return Delivery(endpoint_id=endpoint_id, event_row_id=event.id, event_id=event.event_id, event_type=event.type,
                    status=domain.PENDING, attempts=0, total_attempts=0, next_attempt_at=now, created_at=now)


def _reset(delivery: Delivery, now: datetime):
    delivery.status, delivery.attempts, delivery.next_attempt_at = domain.PENDING, 0, now


def _require_enabled(endpoint: Endpoint):
    if endpoint.status != domain.ENABLED:
        raise RuleViolation(f"endpoint {endpoint.id} is disabled ({endpoint.disabled_reason}); enable it first",
                            {"endpoint": ["disabled"]}, rule="webhook_endpoint_disabled")


def _with(obj, **extra) -> dict:
    data = {c: getattr(obj, c) for c in obj.__table__.columns.keys()}
    data.update(extra)
    return data


def _with_secret(endpoint: Endpoint, secret: str) -> dict:
    return _with(endpoint, secret=secret)


def _parse_time(value: str, default: datetime) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return default
    return moment if moment.tzinfo else default


def _rebuild(event) -> dict:
    return {"specversion": "1.0", "id": event.id, "type": event.type, "source": event.source,
            "subject": event.subject, "time": event.time, "datacontenttype": "application/json",
            "agency": event.agency, "data": event.data}


def _encode_cursor(row_id: int) -> str:
    return base64.urlsafe_b64encode(f"{CURSOR_PREFIX}{row_id}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        if not raw.startswith(CURSOR_PREFIX):
            raise ValueError(raw)
        value = int(raw[len(CURSOR_PREFIX):])
        if not 0 <= value <= domain.MAX_ID:
            raise ValueError(raw)
        return value
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValidationFailed("invalid cursor", {"after": ["not a cursor this feed gave out"]}) from None


def _like(pattern: str) -> str:
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")
