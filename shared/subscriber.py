"""Event handlers that never drop a failure, and read every event one way.

``@subscribe("registration", "candidate_approved", schema=CandidateApprovedData)`` is
nameko's service-pool event handler with these changes:
- the body is parsed as a CloudEvent and the method receives an ``Event`` whose
  ``data`` the consumer's schema has loaded (unknown fields ignored: a consumer reads
  what it needs, so a producer may add fields), ``raw_data`` as it came, and
  ``handler`` (``<service>.<method>``), the name ``db.claim(event)`` records in the inbox;
- the method runs in one transaction (``handler_transaction``): committed when it
  returns, rolled back when it raises, re-run when it lost a unique-key race;
- a handler that raises is retried through per-delay TTL queues (back-off), then
  parked in the dead-letter queue ``wsli.dlq`` with the error in its headers;
- a message that is not a valid event (bad JSON, wrong content type, data that
  fails the producer's or the consumer's schema) is parked at once: retrying cannot
  fix it, and in stock nameko an undecodable body would crash the consumer.
Each step publishes with confirms *before* acking, so a crash in between repeats a
delivery (the inbox absorbs it) and never loses one.
"""
from __future__ import annotations

import dataclasses
import logging
import socket
import threading
import traceback
import uuid
from functools import wraps

from kombu import Exchange, Producer, Queue
from marshmallow import EXCLUDE, ValidationError
from nameko.events import SERVICE_POOL, EventHandler
from sqlalchemy.exc import IntegrityError

from shared.amqp import SafeQueueConsumer, confirming_connection
from shared.config import as_list
from shared.errors import Conflict, RuleViolation, ValidationFailed
from shared.events import REGISTRY, Event, InvalidEnvelope, parse_envelope
from shared.metrics import PARKED, RETRIES
from shared.schemas import schema_instance
from shared.workdays import utcnow

log = logging.getLogger(__name__)

DLQ = "wsli.dlq"
H_RETRIES = "x-wsli-retries"
H_ERROR = "x-wsli-error"
H_ERROR_TYPE = "x-wsli-error-type"
H_QUEUE = "x-wsli-original-queue"
H_EXCHANGE = "x-wsli-original-exchange"
H_ROUTING_KEY = "x-wsli-original-routing-key"
H_HANDLER = "x-wsli-handler"
H_FAILED_AT = "x-wsli-failed-at"
H_DLQ_ID = "x-wsli-dlq-id"
H_HOST = "x-wsli-host"
DEFAULT_DELAYS_MS = [1000, 10000, 60000]

# Errors that come from the event itself: the same input fails the same way again.
PERMANENT = (InvalidEnvelope, ValidationFailed, RuleViolation, Conflict)


def retry_queue_name(queue: str, delay_ms: int) -> str:
    return f"{queue}.retry.{delay_ms}ms"


def dlq_queue() -> Queue:
    return Queue(DLQ, exchange=Exchange(""), routing_key=DLQ, durable=True)


class Republisher:
    """A confirming publisher shared by a container's handlers; one channel, one lock."""

    def __init__(self, amqp_uri: str):
        self.amqp_uri = amqp_uri
        self._lock = threading.Lock()
        self._connection = None
        self._declared: set[str] = set()

    def _channel(self):
        if self._connection is None:
            self._connection = confirming_connection(self.amqp_uri)
            self._connection.ensure_connection(max_retries=3)
            self._declared.clear()
        return self._connection.default_channel

    def publish(self, body: bytes, queue: Queue, message, headers: dict):
        with self._lock:
            try:
                channel = self._channel()
                if queue.name not in self._declared:
                    queue(channel).declare()
                    self._declared.add(queue.name)
                Producer(channel).publish(
                    body, exchange="", routing_key=queue.name,
                    content_type=message.content_type or "application/octet-stream",
                    content_encoding=message.content_encoding or "binary",
                    headers=headers, delivery_mode=2,
                    message_id=message.properties.get("message_id"),
                    type=message.properties.get("type"),
                )
            except Exception:
                self.close()
                raise

    def close(self):
        if self._connection is not None:
            try:
                self._connection.release()
            except Exception:  # the connection is already gone
                pass
            self._connection = None


class Subscriber(EventHandler):
    queue_consumer = SafeQueueConsumer()

    def __init__(self, source_service: str, event_type: str, schema=None, **kwargs):
        kwargs.update(handler_type=SERVICE_POOL, reliable_delivery=True, requeue_on_error=False)
        self.schema = schema
        super().__init__(source_service, event_type, **kwargs)

    def setup(self):
        super().setup()
        config = self.container.config
        self.delays_ms = as_list(config.get("EVENT_RETRY_DELAYS_MS"), int) or list(DEFAULT_DELAYS_MS)
        self.republisher = Republisher(config["AMQP_URI"])

    def stop(self):
        super().stop()
        self.republisher.close()

    @property
    def handler_name(self) -> str:
        return f"{self.container.service_name}.{self.method_name}"

    def handle_message(self, body, message):
        try:
            event = self.read(parse_envelope(body))
        except (InvalidEnvelope, ValidationFailed) as exc:
            self._park_and_ack(message, exc)
            return
        super().handle_message(event, message)

    def read(self, event: Event) -> Event:
        """The event as this handler sees it: data loaded by its schema, its inbox name attached."""
        data = event.data
        spec = REGISTRY.get(event.type)
        if self.schema is not None and event.checked is not None and spec is not None and spec.schema is self.schema:
            # the envelope check already loaded it with this very schema (stricter: unknown fields refused)
            data = event.checked
        elif self.schema is not None:
            try:
                data = schema_instance(self.schema, unknown=EXCLUDE).load(event.data)
            except ValidationError as exc:
                raise ValidationFailed(f"{event.type} data is not as the contract says", exc.messages) from None
        return dataclasses.replace(event, data=data, raw_data=event.data, handler=self.handler_name)

    def handle_message_processed(self, message, result=None, exc_info=None):
        if exc_info is None:
            self.queue_consumer.ack_message(message)
            return
        exc = exc_info[1]
        retries = int((message.headers or {}).get(H_RETRIES, 0) or 0)
        try:
            if _infrastructure(exc):
                # the database is away, not the event at fault: wait and retry without
                # spending the retry budget, so a restart never parks a good event
                self._retry(message, min(retries, len(self.delays_ms) - 1), exc, count=False)
            elif not isinstance(exc, PERMANENT) and retries < len(self.delays_ms):
                self._retry(message, retries, exc)
            else:
                self.park(message, exc, exc_info)
        except Exception:
            log.exception("could not move a failed message aside; requeueing it")
            self.queue_consumer.requeue_message(message)
            return
        self.queue_consumer.ack_message(message)

    def _retry(self, message, retries: int, exc, count: bool = True):
        delay = self.delays_ms[retries]
        queue = Queue(
            retry_queue_name(self.queue.name, delay), exchange=Exchange(""), durable=True,
            queue_arguments={"x-message-ttl": delay, "x-dead-letter-exchange": "",
                             "x-dead-letter-routing-key": self.queue.name},
        )
        headers = dict(message.headers or {})
        if count:
            headers[H_RETRIES] = retries + 1
        headers[H_ERROR] = _describe(exc)
        log.warning("%s failed (%s); retry %d in %d ms", self.handler_name, _describe(exc), retries + 1, delay)
        RETRIES.labels(handler=self.handler_name).inc()
        self.republisher.publish(message.body, queue, message, headers)

    def park(self, message, exc, exc_info=None):
        headers = dict(message.headers or {})
        trace = "".join(traceback.format_exception(*exc_info))[-4000:] if exc_info else ""
        headers.update({
            H_DLQ_ID: str(uuid.uuid4()),
            H_ERROR: _describe(exc) + (("\n" + trace) if trace else ""),
            H_ERROR_TYPE: type(exc).__name__,
            H_QUEUE: self.queue.name,
            H_EXCHANGE: message.delivery_info.get("exchange", ""),
            H_ROUTING_KEY: message.delivery_info.get("routing_key", ""),
            H_HANDLER: self.handler_name,
            H_FAILED_AT: utcnow().isoformat(),
            H_HOST: socket.gethostname(),
        })
        headers.setdefault(H_RETRIES, 0)
        log.error("%s parked a message in %s: %s", self.handler_name, DLQ, _describe(exc))
        PARKED.labels(handler=self.handler_name).inc()
        self.republisher.publish(message.body, dlq_queue(), message, headers)

    def _park_and_ack(self, message, exc):
        try:
            self.park(message, exc)
        except Exception:
            log.exception("could not park an invalid message; leaving it queued")
            self.queue_consumer.requeue_message(message)
            return
        self.queue_consumer.ack_message(message)


def _infrastructure(exc) -> bool:
    """A database connection that failed or was lost (not an error in the statement)."""
    from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeout
    if isinstance(exc, (DisconnectionError, PoolTimeout, InterfaceError)):
        return True
    if isinstance(exc, DBAPIError):
        return bool(exc.connection_invalidated) or isinstance(exc, OperationalError)
    return False


def _describe(exc) -> str:
    return f"{type(exc).__name__}: {exc}"[:1000]


RACE_RERUNS = 3


class LostRace(RuntimeError):
    """A handler kept losing unique-key races: a transient fault, retried with back-off."""


def handler_transaction(method):
    """Commit an event handler's work; a unique-key race with another replica is re-run.

    The one policy for races in handlers. Two replicas may insert the same natural key
    at once (an inbox row for a redelivered event, a sheet, a lecturer, a training
    subsidy). The loser's ``IntegrityError`` is not a fault of the event, so it is not
    parked as one: roll back and run the handler again at once, and the second run sees
    the winner's committed row (its inbox claim then skips a duplicate). Should it lose
    ``RACE_RERUNS`` times in a row, ``LostRace`` goes to the subscriber's back-off
    retries like any transient failure, and only then to the dead-letter queue.
    Re-running beats parking: a parked race needs an operator to replay a message that
    was never wrong.
    """

    @wraps(method)
    def wrapper(self, event):
        for attempt in range(1, RACE_RERUNS + 1):
            try:
                result = method(self, event)
                self.db.commit()
                return result
            except IntegrityError:
                self.db.rollback()
                log.info("%s lost a race on %s (attempt %d); re-running", method.__name__, event.id, attempt)
            except BaseException:
                self.db.rollback()
                raise
        raise LostRace(f"{method.__name__} kept conflicting on event {event.id}")

    return wrapper


def subscribe(source_service: str, event_type: str, schema=None, **kwargs):
    """Declare an event handler: ``schema`` loads the consumed data; the method runs in one transaction."""

    def decorate(method):
        entrypoint = Subscriber.decorator(source_service, event_type, schema=schema, **kwargs)
        return entrypoint(handler_transaction(method))

    return decorate
