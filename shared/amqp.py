"""The one way the kit opens a publishing connection to RabbitMQ."""
from __future__ import annotations

from kombu import Connection


def confirming_connection(amqp_uri: str) -> Connection:
    """A connection whose publishes wait for the broker's ack (publisher confirms).

    Every publisher of the kit (outbox relay, retry/park republisher, DLQ replay)
    marks a message done only after the broker confirmed it, so a crash in
    between repeats a delivery and never loses one.
    """
    return Connection(amqp_uri, transport_options={"confirm_publish": True})
