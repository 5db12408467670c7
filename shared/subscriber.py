"""Event handlers that never drop a failure.

``@subscribe("registration", "candidate_approved")`` is nameko's service-pool event
handler with three changes:
- the body is parsed as a CloudEvent and the method receives an ``Event``;
- a handler that raises is retried through per-delay TTL queues (back-off), then
  parked in the dead-letter queue ``wsli.dlq`` with the error in its headers;
- a message that is not a valid event (bad JSON, wrong content type, a body that
  fails its schema) is parked at once: retrying cannot fix it, and in stock
  nameko an undecodable body would crash the consumer.
Each step publishes with confirms *before* acking, so a crash in between repeats a
delivery (the inbox absorbs it) and never loses one.
"""
from __future__ import annotations

import logging
import socket
import threading
import traceback
import uuid
from functools import partial

from kombu import Connection, Exchange, Producer, Queue
from nameko.events import SERVICE_POOL, EventHandler
from nameko.messaging import QueueConsumer

from shared.config import as_list
from shared.errors import Conflict, RuleViolation, ValidationFailed
from shared.events import ACCEPTED_CONTENT_TYPES, InvalidEnvelope, parse_envelope
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
            self._connection = Connection(self.amqp_uri, transport_options={"confirm_publish": True})
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


class SafeQueueConsumer(QueueConsumer):
    """nameko's queue consumer, but an undecodable message is parked instead of crashing it."""

    def get_consumers(self, consumer_cls, channel):
        for provider in self._providers:
            consumer = consumer_cls(
                queues=[provider.queue],
                callbacks=[partial(self.handle_message, provider)],
                # both the structured CloudEvents form and the older plain JSON one
                accept=list(dict.fromkeys([*self.accept, *ACCEPTED_CONTENT_TYPES])),
                on_decode_error=partial(self._on_decode_error, provider),
            )
            consumer.qos(prefetch_count=self.prefetch_count)
            self._consumers[provider] = consumer
        return self._consumers.values()

    def _on_decode_error(self, provider, message, exc):
        try:
            provider.park(message, InvalidEnvelope(f"cannot decode body: {exc}"))
        except Exception:
            log.exception("could not park an undecodable message; leaving it queued")
            self.requeue_message(message)
            return
        self.ack_message(message)


class Subscriber(EventHandler):
    queue_consumer = SafeQueueConsumer()

    def __init__(self, source_service: str, event_type: str, **kwargs):
        kwargs.update(handler_type=SERVICE_POOL, reliable_delivery=True, requeue_on_error=False)
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
            event = parse_envelope(body)
        except InvalidEnvelope as exc:
            self._park_and_ack(message, exc)
            return
        super().handle_message(event, message)

    def handle_message_processed(self, message, result=None, exc_info=None):
        if exc_info is None:
            self.queue_consumer.ack_message(message)
            return
        exc = exc_info[1]
        retries = int((message.headers or {}).get(H_RETRIES, 0) or 0)
        try:
            if not isinstance(exc, PERMANENT) and retries < len(self.delays_ms):
                self._retry(message, retries, exc)
            else:
                self.park(message, exc, exc_info)
        except Exception:
            log.exception("could not move a failed message aside; requeueing it")
            self.queue_consumer.requeue_message(message)
            return
        self.queue_consumer.ack_message(message)

    def _retry(self, message, retries: int, exc):
        delay = self.delays_ms[retries]
        queue = Queue(
            retry_queue_name(self.queue.name, delay), exchange=Exchange(""), durable=True,
            queue_arguments={"x-message-ttl": delay, "x-dead-letter-exchange": "",
                             "x-dead-letter-routing-key": self.queue.name},
        )
        headers = dict(message.headers or {})
        headers[H_RETRIES] = retries + 1
        headers[H_ERROR] = _describe(exc)
        log.warning("%s failed (%s); retry %d in %d ms", self.handler_name, _describe(exc), retries + 1, delay)
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
        self.republisher.publish(message.body, dlq_queue(), message, headers)

    def _park_and_ack(self, message, exc):
        try:
            self.park(message, exc)
        except Exception:
            log.exception("could not park an invalid message; leaving it queued")
            self.queue_consumer.requeue_message(message)
            return
        self.queue_consumer.ack_message(message)


def _describe(exc) -> str:
    return f"{type(exc).__name__}: {exc}"[:1000]


subscribe = Subscriber.decorator
