"""The outbox relay: publishes committed event rows to RabbitMQ, then marks them sent.

At-least-once: a row is marked only after the broker confirmed the publish, so a
crash anywhere leaves it pending and the next relay (this process restarted, or
another replica) publishes it. Replicas on PostgreSQL split the rows with
``FOR UPDATE SKIP LOCKED``; consumers deduplicate by event id (the inbox).
"""
from __future__ import annotations

import json
import logging
import threading
import time

from kombu import Producer
from nameko.standalone.events import get_event_exchange
from sqlalchemy import select, update

from shared.amqp import confirming_connection
from shared.events import REQUEST_ID_ATTRIBUTE
from shared.web import REQUEST_ID_KEY
from shared.events import STRUCTURED_CONTENT_TYPE
from shared.workdays import utcnow

log = logging.getLogger(__name__)


class OutboxRelay:
    def __init__(self, engine, outbox, config: dict, poll_seconds: float = 1.0, batch_size: int = 200):
        self.engine = engine
        self.outbox = outbox
        self.config = config
        self.amqp_uri = config["AMQP_URI"]
        self.poll_seconds = poll_seconds
        self.batch_size = batch_size
        self._wakeup = threading.Event()
        self._running = True
        self._connection = None
        self._exchanges: dict[str, object] = {}

    def wake(self):
        self._wakeup.set()

    def stop(self):
        self._running = False
        self._wakeup.set()
        self._close()

    def run_forever(self):
        backoff = self.poll_seconds
        while self._running:
            # clear before publishing: a commit that lands meanwhile sets it again
            self._wakeup.clear()
            try:
                published = self.publish_pending()
                backoff = self.poll_seconds
            except Exception:  # broker or database away: the rows stay pending; never kill the service
                if not self._running:
                    return  # stopping: the connection was closed under us on purpose
                log.exception("outbox relay failed; retrying in %.1fs", backoff)
                self._close()
                time.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            if published < self.batch_size:
                self._wakeup.wait(self.poll_seconds)
            else:
                # more to publish (a bulk import's thousands of events): still let a worker waiting
                # for the database connection (SQLite has one) have it between two batches
                time.sleep(0)

    def _producer(self) -> Producer:
        if self._connection is None:
            self._connection = confirming_connection(self.amqp_uri)
            self._connection.ensure_connection(max_retries=3)
            self._exchanges.clear()
        return Producer(self._connection.default_channel, serializer="json")

    def _exchange(self, name: str, producer: Producer):
        exchange = self._exchanges.get(name)
        if exchange is None:
            service = name[: -len(".events")]
            exchange = get_event_exchange(service, self.config)
            exchange(producer.channel).declare()
            self._exchanges[name] = exchange
        return exchange

    def _close(self):
        if self._connection is not None:
            try:
                self._connection.release()
            except Exception:  # already broken; nothing to release
                pass
            self._connection = None

    def publish_pending(self) -> int:
        """Publish one batch of pending rows; returns how many were published."""
        outbox = self.outbox
        query = (
            select(outbox.c.id, outbox.c.event_id, outbox.c.event_type, outbox.c.exchange,
                   outbox.c.routing_key, outbox.c.body, outbox.c.created_at)
            .where(outbox.c.published_at.is_(None))
            .order_by(outbox.c.id)
            .limit(self.batch_size)
        )
        if self.engine.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        with self.engine.begin() as conn:
            rows = conn.execute(query).all()
            if not rows:
                return 0
            sent: list[int] = []
            error: Exception | None = None
            try:
                producer = self._producer()
                for row in rows:
                    headers = {}
                    request_id = _request_id_of(row.body)
                    if request_id:
                        # nameko turns "nameko.*" headers into the consumer's context data, so
                        # what a handler emits in turn carries the same request id
                        headers["nameko." + REQUEST_ID_KEY] = request_id
                    producer.publish(
                        row.body.encode("utf-8"),
                        exchange=self._exchange(row.exchange, producer),
                        routing_key=row.routing_key,
                        # structured mode (CloudEvents AMQP binding): no ce-/cloudEvents: headers,
                        # which would make an SDK read the message as binary mode
                        content_type=STRUCTURED_CONTENT_TYPE,
                        content_encoding="utf-8",
                        delivery_mode=2,
                        message_id=row.event_id,
                        type=row.event_type,
                        timestamp=int(row.created_at.timestamp()),
                        headers=headers,
                    )
                    sent.append(row.id)
            except Exception as exc:  # mark what did go out; the rest stays pending
                error = exc
            if sent:
                conn.execute(update(outbox).where(outbox.c.id.in_(sent)).values(published_at=utcnow()))
            if error is not None:
                stuck = rows[len(sent)].id
                conn.execute(update(outbox).where(outbox.c.id == stuck)
                             .values(attempts=outbox.c.attempts + 1, last_error=repr(error)[:2000]))
        if error is not None:
            raise error
        return len(sent)


def _request_id_of(body: str) -> str | None:
    if REQUEST_ID_ATTRIBUTE not in body:  # cheap test before parsing
        return None
    try:
        return json.loads(body).get(REQUEST_ID_ATTRIBUTE)
    except ValueError:
        return None
