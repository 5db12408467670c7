"""The delivery worker: claims due delivery rows, POSTs them signed, records the outcome.

It runs beside the service's consumers in the same process (a managed thread of the
``Dispatcher`` dependency), works only from rows, and holds no state of its own:

- **claim**: one short transaction picks due rows of enabled endpoints
  (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so replicas split the work) and moves
  their ``next_attempt_at`` a lease ahead. A dispatcher that dies mid-call leaves the
  row to be claimed again when the lease ends: at least once, never lost.
- **send**: outside any transaction (the HTTP call may take the whole timeout), in a
  green pool: the SSRF guard on the addresses the host resolves to *now*, the
  connection pinned to the address it checked (no second lookup to rebind), the
  Standard Webhooks headers, ``allow_redirects=False``, a per-attempt timeout.
- **record**: a second transaction writes the attempt and moves the delivery on
  (succeeded; retry at the next step of the schedule; failed and the endpoint
  disabled, with the reason, once the schedule is spent or the receiver said 410).
"""
from __future__ import annotations

import logging
import socket
import threading
import time
from datetime import datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import eventlet
import requests
from requests.adapters import HTTPAdapter
from nameko.extensions import DependencyProvider
from sqlalchemy import select, update
from sqlalchemy.orm import object_session, sessionmaker
from standardwebhooks.webhooks import Webhook

from shared.config import as_list
from shared.db import Database, make_engine
from shared.errors import RuleViolation
from shared.workdays import utcnow

from . import domain
from .models import Attempt, Delivery, Endpoint, LoggedEvent

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/cloudevents+json"
USER_AGENT = "wsli-webhooks/1"


def resolve(host: str, port: int) -> list[str]:
    try:
        return sorted({info[4][0] for info in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)})
    except socket.gaierror:
        return []


def check_target(url: str, allowed_networks: list) -> str:
    """The address to connect to: the host resolved once, every answer checked."""
    host, port = domain.check_url_shape(url)
    addresses = resolve(host, port)
    domain.check_addresses(host, addresses, allowed_networks)
    return addresses[0]


class _PinnedTls(HTTPAdapter):
    """TLS to an address while SNI and the certificate check use the URL's host name."""

    def __init__(self, host: str):
        self.host = host
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args, **kwargs):
        kwargs.update(server_hostname=self.host, assert_hostname=self.host)
        super().init_poolmanager(*args, **kwargs)


def pinned_post(url: str, address: str, headers: dict, **kwargs):
    """POST to ``url`` over a connection to ``address``, the one the SSRF guard checked.

    Letting the HTTP library resolve the host again would open a DNS-rebinding hole: a
    name that answered a public address to the check could answer 127.0.0.1 or the cloud
    metadata address to the request. So the URL names the address, the ``Host`` header
    (and for https the SNI and the certificate check) the host. Returns (session, response);
    the caller closes both.
    """
    parts = urlsplit(url)
    ip = f"[{address}]" if ":" in address else address
    pinned = urlunsplit(parts._replace(netloc=ip + (f":{parts.port}" if parts.port else "")))
    session = requests.Session()
    session.trust_env = False  # no proxy from the environment: it would resolve the name itself
    if parts.scheme == "https":
        session.mount(f"https://{ip}", _PinnedTls(parts.hostname))
    headers = dict(headers, Host=parts.netloc)
    try:
        return session, session.post(pinned, headers=headers, **kwargs)
    except BaseException:
        session.close()
        raise


def sign_headers(event_id: str, body: str, secrets_: list[str], moment: datetime) -> dict[str, str]:
    """``webhook-id`` is the CloudEvents id (the same on every retry, for deduplication);
    the timestamp is this attempt's, so a retry hours later still verifies."""
    signatures = " ".join(Webhook(s).sign(event_id, moment, body) for s in secrets_)
    return {"webhook-id": event_id, "webhook-timestamp": str(int(moment.timestamp())),
            "webhook-signature": signatures, "content-type": CONTENT_TYPE, "user-agent": USER_AGENT}


class AttemptTimedOut(Exception):
    def __init__(self, seconds: float):
        super().__init__(f"no complete answer within {seconds:g} s")


class Settings:
    def __init__(self, config: dict):
        self.schedule = as_list(config.get("WEBHOOK_RETRY_SCHEDULE_SECONDS"), float) or \
            list(domain.DEFAULT_SCHEDULE_SECONDS)
        self.timeout = float(config.get("WEBHOOK_TIMEOUT_SECONDS") or 15.0)
        self.poll = float(config.get("WEBHOOK_POLL_SECONDS") or 1.0)
        self.concurrency = int(config.get("WEBHOOK_CONCURRENCY") or 20)
        self.batch = int(config.get("WEBHOOK_BATCH") or 100)
        self.allowed_networks = domain.parse_networks(config.get("WEBHOOK_ALLOWED_NETWORKS"))
        self.rotation_grace = timedelta(seconds=float(config.get("WEBHOOK_ROTATION_GRACE_SECONDS") or 86400))
        # a claimed row comes back to the queue after this if its dispatcher died mid-call
        self.lease = timedelta(seconds=self.timeout + 30)


class DeliveryWorker:
    def __init__(self, sessionmaker, settings: Settings):
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.pool = eventlet.GreenPool(settings.concurrency)
        self._wakeup = threading.Event()
        self._running = True

    def wake(self):
        self._wakeup.set()

    def stop(self):
        self._running = False
        self._wakeup.set()

    def run_forever(self):
        while self._running:
            self._wakeup.clear()
            # claim only what can be sent now: a claimed row waiting for a free slot would
            # outlive its lease and be claimed (and sent) a second time
            room = min(self.settings.batch, self.pool.free())
            if room == 0:
                eventlet.sleep(0.005)
                continue
            try:
                claimed = self.claim(room)
            except Exception:  # database away: try again later, never kill the service
                log.exception("claiming deliveries failed")
                claimed = []
                eventlet.sleep(self.settings.poll)
            for row in claimed:
                self.pool.spawn_n(self._deliver_safely, row)
            if len(claimed) < room:
                self._wakeup.wait(self.settings.poll)
            else:
                eventlet.sleep(0)

    def drain(self):
        self.pool.waitall()

    # ---- claim ---------------------------------------------------------------------------------

    def claim(self, limit: int) -> list[dict]:
        now = utcnow()
        with self.sessionmaker() as session, session.begin():
            query = (select(Delivery.id).join(Endpoint, Endpoint.id == Delivery.endpoint_id)
                     .where(Delivery.status == domain.PENDING, Delivery.next_attempt_at <= now,
                            Endpoint.status == domain.ENABLED)
                     .order_by(Delivery.next_attempt_at, Delivery.id).limit(limit))
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(of=Delivery, skip_locked=True)
            ids = list(session.scalars(query))
            if not ids:
                return []
            session.execute(update(Delivery).where(Delivery.id.in_(ids))
                            .values(next_attempt_at=now + self.settings.lease))
            rows = session.execute(
                select(Delivery.id, Delivery.attempts, Delivery.event_id, Endpoint.id.label("endpoint_id"),
                       Endpoint.url, Endpoint.secret, Endpoint.previous_secret, Endpoint.previous_secret_until,
                       LoggedEvent.body)
                .join(Endpoint, Endpoint.id == Delivery.endpoint_id)
                .join(LoggedEvent, LoggedEvent.id == Delivery.event_row_id)
                .where(Delivery.id.in_(ids))).mappings().all()
            return [dict(r) for r in rows]

    # ---- send ----------------------------------------------------------------------------------

    def _deliver_safely(self, row: dict):
        try:
            self.deliver(row)
        except Exception:  # the lease brings the row back; log and keep the pool alive
            log.exception("delivery %s could not be recorded", row["id"])

    def deliver(self, row: dict):
        started = time.monotonic()
        now = utcnow()
        status, text, error, retry_after, outcome = None, "", None, None, domain.RETRY
        try:
            address = check_target(row["url"], self.settings.allowed_networks)
            secrets_ = domain.signing_secrets(row["secret"], row["previous_secret"], row["previous_secret_until"], now)
            headers = sign_headers(row["event_id"], row["body"], secrets_, now)
            # requests' timeout bounds each socket read; this bounds the whole attempt (a receiver
            # dripping one byte a second would otherwise hold the slot indefinitely)
            with eventlet.Timeout(self.settings.timeout, AttemptTimedOut(self.settings.timeout)):
                session, response = pinned_post(row["url"], address, headers, data=row["body"].encode("utf-8"),
                                                timeout=self.settings.timeout, allow_redirects=False, stream=True)
                try:
                    status = response.status_code
                    text = domain.excerpt(response.raw.read(domain.EXCERPT_CHARS * 4, decode_content=True))
                    retry_after = domain.retry_after_seconds(response.headers.get("Retry-After"), utcnow())
                finally:
                    response.close()
                    session.close()
            outcome = domain.classify(status)
        except RuleViolation as exc:  # the SSRF guard: the host now resolves somewhere refused
            outcome, error = "refused", exc.message
        except (requests.RequestException, AttemptTimedOut) as exc:
            status, error = None, f"{type(exc).__name__}: {exc}"[:1000]
        latency_ms = int((time.monotonic() - started) * 1000)
        self.record(row, now, outcome, status, latency_ms, text, error, retry_after)

    # ---- record --------------------------------------------------------------------------------

    def record(self, row, at, outcome, status, latency_ms, text, error, retry_after):
        now = utcnow()
        with self.sessionmaker() as session, session.begin():
            delivery = session.get(Delivery, row["id"], with_for_update=True)
            # no lock on the endpoint: deliveries to one endpoint must not queue behind each other;
            # disabling is a conditional UPDATE (see ``disable``)
            endpoint = session.get(Endpoint, row["endpoint_id"])
            if delivery is None or endpoint is None:
                return  # the endpoint was deleted meanwhile
            session.add(Attempt(delivery_id=delivery.id, endpoint_id=endpoint.id, at=at, outcome=outcome,
                                status_code=status, latency_ms=latency_ms, response_excerpt=text, error=error))
            delivery.attempts += 1
            delivery.total_attempts += 1
            delivery.last_attempt_at, delivery.last_status_code = at, status
            delivery.last_error = error or (None if outcome == domain.OK else f"HTTP {status}")
            if outcome == domain.OK:
                delivery.status, delivery.delivered_at, delivery.next_attempt_at = domain.SUCCEEDED, now, None
                return
            if outcome == domain.GONE:
                delivery.status, delivery.next_attempt_at = domain.FAILED, None
                disable(endpoint, now, f"the receiver answered 410 Gone to delivery {delivery.id}")
                return
            if outcome == "refused":
                delivery.status, delivery.next_attempt_at = domain.FAILED, None
                disable(endpoint, now, f"target refused: {error}")
                return
            when = domain.next_attempt_at(self.settings.schedule, delivery.attempts, now, retry_after)
            if when is None:
                delivery.status, delivery.next_attempt_at = domain.FAILED, None
                disable(endpoint, now, f"delivery {delivery.id} failed {delivery.attempts} times over the whole "
                                       f"retry schedule; last: {delivery.last_error}")
            else:
                delivery.next_attempt_at = when


def disable(endpoint: Endpoint, now: datetime, reason: str):
    """Only an enabled endpoint is disabled, so the first reason stays when several deliveries fail at once."""
    session = object_session(endpoint)
    done = session.execute(update(Endpoint).where(Endpoint.id == endpoint.id, Endpoint.status == domain.ENABLED)
                           .values(status=domain.DISABLED, disabled_reason=reason[:2000], disabled_at=now,
                                   updated_at=now, version=Endpoint.version + 1))
    if done.rowcount:
        log.warning("webhook endpoint %s disabled: %s", endpoint.id, reason)


class Dispatcher(DependencyProvider):
    """Runs the ``DeliveryWorker`` loop in the service process; ``self.dispatcher.wake()`` after a commit."""

    def setup(self):
        self.settings = Settings(self.container.config)
        self.enabled = str(self.container.config.get("WEBHOOK_DISPATCHER", "true")).lower() not in ("0", "false", "no")
        self.worker = None

    def start(self):
        if self.enabled:
            # the container's bound copy of the service's database, set up before any start
            database = next(d for d in self.container.dependencies if isinstance(d, Database))
            self.worker = DeliveryWorker(database.sessionmaker, self.settings)
            self.container.spawn_managed_thread(self.worker.run_forever, identifier="webhook-dispatcher")

    def stop(self):
        if self.worker is not None:
            self.worker.stop()

    def kill(self):
        self.stop()

    def get_dependency(self, worker_ctx):
        return self

    def wake(self):
        if self.worker is not None:
            self.worker.wake()


class WebhooksDatabase(Database):
    """The kit's database provider with a smaller PostgreSQL pool (``DB_POOL_SIZE``, default 5,
    as many again in overflow): consumers and the dispatcher's green pool queue for a
    connection instead of taking up to 20 from a server that every component shares."""

    def setup(self):
        super().setup()
        config = self.container.config
        if self.engine.dialect.name == "postgresql":
            size = int(config.get("DB_POOL_SIZE") or 5)
            self.engine.dispose()  # never connected yet: nothing is lost
            self.engine = make_engine(config["DB_URI"], pool_size=size, max_overflow=size)
            self.sessionmaker = sessionmaker(bind=self.engine, expire_on_commit=False)
            if self.relay is not None:
                self.relay.engine = self.engine
