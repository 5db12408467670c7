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
from functools import partial

from amqp.exceptions import ConnectionError as AmqpConnectionError, RecoverableConnectionError
from kombu.exceptions import OperationalError as KombuOperationalError
from nameko.amqp.publish import Publisher
from nameko.messaging import QueueConsumer
from nameko.rpc import Rpc, RpcConsumer, ReplyListener, Responder
from nameko.constants import AMQP_SSL_CONFIG_KEY, AMQP_URI_CONFIG_KEY, LOGIN_METHOD_CONFIG_KEY, \
    SERIALIZER_CONFIG_KEY, DEFAULT_SERIALIZER
from nameko.rpc import get_rpc_exchange

from shared.events import ACCEPTED_CONTENT_TYPES

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


class _UnconfirmedPublisher(Publisher):
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


class SafeRpc(Rpc):
    rpc_consumer = SafeRpcConsumer()


class SafeReplyListener(ReplyListener):
    """The caller's side (the gateway): a reply's ack on a dead connection is harmless too."""

    queue_consumer = SafeQueueConsumer()


rpc = SafeRpc.decorator


def confirming_connection(amqp_uri: str):
    """A connection whose publishes wait for the broker's ack (publisher confirms).

    Every publisher of the kit (outbox relay, retry/park republisher, DLQ replay)
    marks a message done only after the broker confirmed it, so a crash in
    between repeats a delivery and never loses one.
    """
    from kombu import Connection

    return Connection(amqp_uri, transport_options={"confirm_publish": True})
