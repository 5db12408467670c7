"""Operator tools for the dead-letter queue: list, replay, discard.

Listing reads messages without acknowledging them and closes the channel, so
RabbitMQ puts every one back. Replay republishes a message to the queue it
failed from with its retry count reset, then acknowledges it in the DLQ.
"""
from __future__ import annotations

import hashlib

from kombu import Connection, Producer

from shared.amqp import confirming_connection
from shared.subscriber import (
    DLQ, H_DLQ_ID, H_ERROR, H_ERROR_TYPE, H_FAILED_AT, H_HANDLER, H_QUEUE, H_RETRIES, dlq_queue,
)
from shared.workdays import utcnow


def _identity(message) -> tuple[str, str]:
    """(dlq id, queue it failed from), also for messages the broker dead-lettered by policy.

    Those carry RabbitMQ's ``x-death`` header instead of ours; their id is derived
    from the message id or the body so that it is stable across listings.
    """
    headers = message.headers or {}
    if headers.get(H_DLQ_ID):
        return headers[H_DLQ_ID], headers.get(H_QUEUE, "")
    deaths = headers.get("x-death") or []
    queue = deaths[0].get("queue", "") if deaths else ""
    body = message.body if isinstance(message.body, (bytes, bytearray)) else str(message.body).encode()
    stable = message.properties.get("message_id") or hashlib.sha256(body).hexdigest()[:32]
    return f"broker-{stable}", queue


def _summary(message) -> dict:
    headers = message.headers or {}
    body = message.body if isinstance(message.body, (bytes, bytearray)) else str(message.body).encode()
    dlq_id, queue = _identity(message)
    return {
        "dlq_id": dlq_id,
        "message_id": message.properties.get("message_id"),
        "type": message.properties.get("type"),
        "queue": queue,
        "handler": headers.get(H_HANDLER, ""),
        "error_type": headers.get(H_ERROR_TYPE, ""),
        "error": str(headers.get(H_ERROR, "")).split("\n", 1)[0],
        "failed_at": headers.get(H_FAILED_AT, ""),
        "retries": headers.get(H_RETRIES, 0),
        "body_preview": body[:200].decode("utf-8", "replace"),
    }


def list_parked(amqp_uri: str, limit: int = 1000) -> list[dict]:
    with Connection(amqp_uri) as connection:
        channel = connection.channel()
        dlq_queue()(channel).declare()
        found = []
        for _ in range(limit):
            message = channel.basic_get(DLQ, no_ack=False)
            if message is None:
                break
            found.append(_summary(message))
        channel.close()  # unacknowledged: all go back to the queue
        return found


def _act(amqp_uri: str, ids: set[str] | None, replay: bool, limit: int = 100000) -> int:
    done = 0
    with confirming_connection(amqp_uri) as connection:
        channel = connection.channel()
        dlq_queue()(channel).declare()
        producer = Producer(channel)
        for _ in range(limit):
            message = channel.basic_get(DLQ, no_ack=False)
            if message is None:
                break
            headers = dict(message.headers or {})
            dlq_id, target = _identity(message)
            if ids is not None and dlq_id not in ids:
                continue
            if replay:
                if not target:
                    continue  # nowhere to send it back to: leave it parked
                clean = {k: v for k, v in headers.items() if not k.startswith("x-wsli-") and k != "x-death"}
                clean["x-wsli-replayed-at"] = utcnow().isoformat()
                producer.publish(
                    message.body, exchange="", routing_key=target,
                    content_type=message.content_type, content_encoding=message.content_encoding,
                    headers=clean, delivery_mode=2,
                    message_id=message.properties.get("message_id"), type=message.properties.get("type"),
                )
            channel.basic_ack(message.delivery_tag)
            done += 1
        channel.close()
    return done


def replay(amqp_uri: str, ids: list[str] | None = None) -> int:
    """Send parked messages back to their queues (all when ``ids`` is None)."""
    return _act(amqp_uri, set(ids) if ids is not None else None, replay=True)


def discard(amqp_uri: str, ids: list[str] | None = None) -> int:
    return _act(amqp_uri, set(ids) if ids is not None else None, replay=False)
