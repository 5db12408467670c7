"""nameko's consumers, made to ride through a broker restart.

In stock nameko 2.14 a worker that finishes after its consumer connection died
acks on the dead socket; ``ConnectionResetError`` (an ``OSError``, not the
``amqp.ConnectionError`` nameko catches, cf. nameko#511) escapes the worker and
the container kills itself. The same happens when the RPC reply cannot be
published. Here both are logged and dropped:

- a lost ack means the broker already took the message back and redelivers it:
  an event handler's inbox skips what it committed, and an RPC request carries
  the caller's expiration, so a stale one is not run again after the caller gave up;
- a lost reply means the caller times out and answers 503.

The consumer thread itself reconnects (kombu's ``ConsumerMixin``), so the process
keeps serving once the broker is back.

It is also the one way the kit opens a publishing connection (``confirming_connection``).
"""
from __future__ import annotations

import logging
import socket
import threading
from functools import partial

from amqp.exceptions import ConnectionError as AmqpConnectionError, RecoverableConnectionError
from kombu.exceptions import OperationalError as KombuOperationalError
from kombu import Connection, Producer
from nameko.amqp.publish import Publisher
from nameko.messaging import QueueConsumer
from nameko.rpc import Rpc, RpcConsumer, ReplyListener, Responder
from nameko.constants import AMQP_SSL_CONFIG_KEY, AMQP_URI_CONFIG_KEY, LOGIN_METHOD_CONFIG_KEY, \
    SERIALIZER_CONFIG_KEY, DEFAULT_SERIALIZER
from nameko.rpc import get_rpc_exchange

from shared.events import ACCEPTED_CONTENT_TYPES
from shared.signatures import SignatureOnce

log = logging.getLogger(__name__)

# What a dead or dying broker connection raises on the client side.
CONNECTION_ERRORS = (OSError, socket.timeout, AmqpConnectionError, RecoverableConnectionError,
                     KombuOperationalError)


def _settle(message, action: str) -> bool:
    """Ack or requeue ``message``; False when its connection is gone (the broker redelivers)."""
    channel = getattr(message, "channel", None)
    if channel is None or not getattr(channel, "connection", None):
        log.warning("message %s not %sed: its connection is gone; the broker redelivers it",
                    _tag(message), action)
        return False
    try:
        getattr(message, action)()
        return True
    except (*CONNECTION_ERRORS, AttributeError) as exc:  # py-amqp: AttributeError on a torn-down channel
        log.warning("message %s not %sed (%s: %s); the broker redelivers it",
                    _tag(message), action, type(exc).__name__, exc)
        return False


def _tag(message) -> str:
    try:
        return str(message.delivery_info.get("routing_key") or message.delivery_tag)
    except Exception:  # a half-built message: still log something
        return "?"


class SafeQueueConsumer(QueueConsumer):
    """One per container, shared by every RPC and event entrypoint of it.

    - ack/requeue on a dead connection is logged, never raised;
    - an undecodable body is parked by a provider that can (``park``), or acked
      and logged, instead of crashing the consumer thread.
    """

    def ack_message(self, message):
        _settle(message, "ack")

    def requeue_message(self, message):
        _settle(message, "requeue")

    def get_consumers(self, consumer_cls, channel):
        for provider in self._providers:
            consumer = consumer_cls(
                queues=[provider.queue],
                callbacks=[partial(self.handle_message, provider)],
                # both the structured CloudEvents form and the older plain JSON one
                accept=list(dict.fromkeys([*self.accept, *ACCEPTED_CONTENT_TYPES])),
                on_decode_error=partial(self._on_decode_error, provider),
                no_ack=getattr(provider, "auto_ack", False),
            )
            consumer.qos(prefetch_count=self.prefetch_count)
            self._consumers[provider] = consumer
        return self._consumers.values()

    def _on_decode_error(self, provider, message, exc):
        park = getattr(provider, "park", None)
        if park is None:  # an RPC request nobody can read: refuse it once, loudly
            log.error("dropping an undecodable message from %s: %s", provider.queue.name, exc)
            self.ack_message(message)
            return
        from shared.events import InvalidEnvelope
        try:
            park(message, InvalidEnvelope(f"cannot decode body: {exc}"))
        except Exception:
            log.exception("could not park an undecodable message; leaving it queued")
            self.requeue_message(message)
            return
        self.ack_message(message)


_POOL_KEYS: dict[tuple, Connection] = {}


def _pool_key(amqp_uri: str, ssl, login_method, transport_options: dict) -> Connection:
    """The one ``Connection`` object standing for these settings; its held producer is keyed by it.

    nameko builds a new ``Connection`` for every publish only to look its pool up
    (~36 µs of the ~160 µs a publish cost); the settings behind it are the same each time.
    """
    key = (amqp_uri, repr(ssl), login_method, tuple(sorted(transport_options.items())))
    connection = _POOL_KEYS.get(key)
    if connection is None:
        connection = _POOL_KEYS[key] = Connection(amqp_uri, transport_options=dict(transport_options), ssl=ssl,
                                                  login_method=login_method)
    return connection


class _HeldProducer:
    """One producer per broker and set of options, kept with its channel, one publish at a time.

    kombu's producer pool hands its channel back after every message and binds a new one on
    the next (about a tenth of the gateway's CPU per request). This one keeps it: a publish
    takes the lock (green under eventlet), and a connection lost meanwhile is reopened and
    the producer revived by kombu's retry (``Connection.ensure``), as a pooled one would be.
    """

    def __init__(self, connection: Connection):
        self.lock = threading.Lock()
        self.connection = connection.clone()
        self.producer = Producer(self.connection)


_HELD: dict[int, _HeldProducer] = {}


def _held_producer(key_connection: Connection) -> _HeldProducer:
    held = _HELD.get(id(key_connection))
    if held is None:
        held = _HELD[id(key_connection)] = _HeldProducer(key_connection)
    return held


class LeanPublisher(Publisher):
    """nameko's publisher; an unconfirmed publish takes a shorter path.

    Same message, headers and retry policy as nameko's, on a producer held per broker
    (``_HeldProducer``) instead of a throwaway ``Connection`` and a pooled producer per
    message. A confirmed publish (the caller needs the broker's word: routing checks,
    ``UndeliverableMessage``) goes nameko's way.
    """

    def publish(self, payload, **kwargs):
        if kwargs.get("use_confirms", self.use_confirms) or kwargs.get("mandatory", self.mandatory):
            return super().publish(payload, **kwargs)
        kwargs.pop("use_confirms", None)
        kwargs.pop("mandatory", None)
        options = dict(kwargs.pop("transport_options", self.transport_options), confirm_publish=False)
        publish_kwargs = dict(self.publish_kwargs)
        headers = dict(publish_kwargs.pop("headers", {}))
        headers.update(kwargs.pop("headers", {}))
        headers.update(kwargs.pop("extra_headers", {}))
        declare = [*self.declare, *kwargs.pop("declare", ())]
        for name in ("delivery_mode", "priority", "expiration", "serializer", "compression", "retry",
                     "retry_policy"):
            kwargs.setdefault(name, getattr(self, name))
        publish_kwargs.update(kwargs)
        held = _held_producer(_pool_key(self.amqp_uri, self.ssl, self.login_method, options))
        with held.lock:
            held.producer.publish(payload, headers=headers, declare=declare, **publish_kwargs)


class _UnconfirmedPublisher(LeanPublisher):
    # A reply goes to the caller's own (transient) reply queue: a confirm would only tell
    # that the broker took it, which changes nothing for the caller, who times out (503)
    # on a lost reply either way. Waiting for it cost ~13 % of a service's CPU per call.
    use_confirms = False


class _Responder(Responder):
    publisher_cls = _UnconfirmedPublisher


class SafeRpcConsumer(RpcConsumer):
    queue_consumer = SafeQueueConsumer()

    def handle_result(self, message, result, exc_info):
        config = self.container.config
        responder = _Responder(
            config[AMQP_URI_CONFIG_KEY], get_rpc_exchange(config),
            config.get(SERIALIZER_CONFIG_KEY, DEFAULT_SERIALIZER), message,
            ssl=config.get(AMQP_SSL_CONFIG_KEY), login_method=config.get(LOGIN_METHOD_CONFIG_KEY),
        )
        try:
            result, exc_info = responder.send_response(result, exc_info)
        except CONNECTION_ERRORS as exc:
            # the work is done (and committed); the caller times out and says 503
            log.warning("reply to %s lost (%s: %s)", _tag(message), type(exc).__name__, exc)
        self.queue_consumer.ack_message(message)
        return result, exc_info


class SafeRpc(SignatureOnce, Rpc):
    rpc_consumer = SafeRpcConsumer()


class SafeReplyListener(ReplyListener):
    """The caller's side (the gateway): replies are consumed without acks.

    The reply queue is this process's own and transient: an ack would tell the broker
    nothing it needs (a reply lost with the connection is a timeout, a 503, acked or not)
    and cost a frame each way per call.
    """

    queue_consumer = SafeQueueConsumer()
    auto_ack = True

    def handle_message(self, body, message):
        event = self._reply_events.pop(message.properties.get("correlation_id"), None)
        if event is not None:
            event.send(body)
        else:  # the caller gave up (timed out) before the reply came
            log.debug("reply for an unknown correlation id %s", message.properties.get("correlation_id"))


rpc = SafeRpc.decorator


def confirming_connection(amqp_uri: str):
    """A connection whose publishes wait for the broker's ack (publisher confirms).

    Every publisher of the kit (outbox relay, retry/park republisher, DLQ replay)
    marks a message done only after the broker confirmed it, so a crash in
    between repeats a delivery and never loses one.
    """
    return Connection(amqp_uri, transport_options={"confirm_publish": True})
