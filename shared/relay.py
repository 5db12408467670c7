"""The outbox relay: publishes committed event rows to RabbitMQ, then marks them sent.

At-least-once: a row is marked only after the broker confirmed the publish (a batch
is published, then its confirms awaited together), so a
crash anywhere leaves it pending and the next relay (this process restarted, or
another replica) publishes it. Replicas on PostgreSQL split the rows with
``FOR UPDATE SKIP LOCKED``; consumers deduplicate by event id (the inbox).
"""
from __future__ import annotations

import json
import logging
import threading
import time

from kombu import Connection, Producer
from nameko.standalone.events import get_event_exchange
from sqlalchemy import select, update

from shared import agency
from shared.events import REQUEST_ID_ATTRIBUTE
from shared.web import REQUEST_ID_KEY
from shared.events import STRUCTURED_CONTENT_TYPE
from shared.workdays import utcnow

log = logging.getLogger(__name__)


class OutboxRelay:
    # A wake this soon after rows went out means events are streaming in (a roadshow's reports,
    # a registration deadline): the relay then lingers ``linger_seconds`` so the commits of
    # those moments share one query, one round of confirms and one update.
    BUSY_WITHIN_SECONDS = 0.05

    def __init__(self, engine, outbox, config: dict, poll_seconds: float = 1.0, batch_size: int = 200,
                 confirm_timeout: float = 30.0, linger_seconds: float = 0.0, clock=time.monotonic):
        self.engine = engine
        self.linger_seconds = linger_seconds
        self.clock = clock
        self._last_sent_at: float | None = None
        self.confirm_timeout = confirm_timeout
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
            if published:
                self._last_sent_at = self.clock()
            if published < self.batch_size:
                self._wakeup.wait(self.poll_seconds)
                linger = self.linger()
                if linger:
                    time.sleep(linger)
            else:
                # more to publish (a bulk import's thousands of events): still let a worker waiting
                # for the database connection (SQLite has one) have it between two batches
                time.sleep(0)

    def linger(self) -> float:
        """Seconds to wait before the next pass: ``linger_seconds`` while events stream in, else none
        (a lone event goes out at once)."""
        if not self.linger_seconds or self._last_sent_at is None:
            return 0.0
        return self.linger_seconds if self.clock() - self._last_sent_at < self.BUSY_WITHIN_SECONDS else 0.0

    def _producer(self) -> Producer:
        if self._connection is None:
            # confirms are selected on the channel by hand (not kombu's confirm_publish, which
            # waits for each message's ack in turn): a batch is published, then its acks awaited
            connection = Connection(self.amqp_uri)
            connection.ensure_connection(max_retries=3)
            channel = connection.default_channel
            channel.confirm_select()
            self._confirms = _Confirms()
            channel.events["basic_ack"].add(self._confirms.ack)
            channel.events["basic_nack"].add(self._confirms.nack)
            self._connection = connection
            self._exchanges.clear()
        return Producer(self._connection.default_channel, serializer="json")

    def _exchange(self, name: str, producer: Producer):
        exchange = self._exchanges.get(name)
        if exchange is None:
            if name in agency.EXCHANGES:
                exchange = agency.exchange(name)
            else:
                service = name[: -len(".events")]
                exchange = get_event_exchange(service, self.config)
            exchange(producer.channel).declare()
            self._exchanges[name] = exchange
        return exchange

    def _ensure_outgoing_queue(self, routing_key: str, producer: Producer):
        """A directed message needs its partner's durable queue first: unrouted, it would be lost."""
        partner = routing_key.split(".", 1)[0]
        key = f"queue:{partner}"
        if key not in self._exchanges:
            agency.outgoing_queue(partner)(producer.channel).declare()
            self._exchanges[key] = True

    def _close(self):
        if self._connection is not None:
            try:
                self._connection.release()
            except Exception:  # already broken; nothing to release
                pass
            self._connection = None

    def _query(self):
        outbox = self.outbox
        return (
            select(outbox.c.id, outbox.c.event_id, outbox.c.event_type, outbox.c.exchange,
                    outbox.c.routing_key, outbox.c.body, outbox.c.created_at)
            .where(outbox.c.published_at.is_(None))
            .order_by(outbox.c.id)
            .limit(self.batch_size)
        )

    def publish_pending(self) -> int:
        """Publish one batch of pending rows; returns how many were published.

        PostgreSQL: the rows stay locked (``FOR UPDATE SKIP LOCKED``) while they are
        published, so replicas never take the same rows; the relay has its own engine,
        so this holds none of the connections workers use. SQLite has one connection
        per process (see ``shared.db.make_engine``) and one process per file: the relay
        reads the batch, gives the connection back while it publishes and waits for the
        confirms, then takes it again to mark the rows.
        """
        if self.engine.dialect.name == "postgresql":
            with self.engine.begin() as conn:
                rows = conn.execute(self._query().with_for_update(skip_locked=True)).all()
                if not rows:
                    return 0
                sent, error = self._publish(rows)
                self._mark(conn, rows, sent, error)
        else:
            with self.engine.begin() as conn:
                rows = conn.execute(self._query()).all()
            if not rows:
                return 0
            sent, error = self._publish(rows)
            with self.engine.begin() as conn:
                self._mark(conn, rows, sent, error)
        if error is not None:
            raise error
        return len(sent)

    def _publish(self, rows) -> tuple[list[int], Exception | None]:
        """Publish every row, then wait for the broker's confirms: the ids it confirmed, and the error if any."""
        tags: list[int] = []
        error: Exception | None = None
        try:
            producer = self._producer()
            confirms = self._confirms
            for row in rows:
                headers = {}
                request_id = _request_id_of(row.body)
                if request_id:
                    # nameko turns "nameko.*" headers into the consumer's context data, so
                    # what a handler emits in turn carries the same request id
                    headers["nameko." + REQUEST_ID_KEY] = request_id
                if row.exchange == agency.OUT:
                    self._ensure_outgoing_queue(row.routing_key, producer)
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
                tags.append(confirms.next_tag())
            deadline = time.monotonic() + self.confirm_timeout
            while not all(confirms.settled(t) for t in tags):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"the broker confirmed {sum(map(confirms.acked, tags))} of "
                                       f"{len(tags)} messages within {self.confirm_timeout:.0f}s")
                self._connection.drain_events(timeout=remaining)
            nacked = [t for t in tags if not confirms.acked(t)]
            if nacked:
                raise RuntimeError(f"the broker refused {len(nacked)} of {len(tags)} messages (basic.nack)")
        except Exception as exc:  # mark what did go out; the rest stays pending
            error = exc
        confirms = getattr(self, "_confirms", None)
        sent = [row.id for row, tag in zip(rows, tags) if confirms is not None and confirms.acked(tag)]
        return sent, error

    def _mark(self, conn, rows, sent: list[int], error: Exception | None) -> None:
        outbox = self.outbox
        if sent:
            conn.execute(update(outbox).where(outbox.c.id.in_(sent)).values(published_at=utcnow()))
        if error is not None:
            done = set(sent)
            stuck = next((row.id for row in rows if row.id not in done), None)
            if stuck is not None:
                conn.execute(update(outbox).where(outbox.c.id == stuck)
                             .values(attempts=outbox.c.attempts + 1, last_error=repr(error)[:2000]))


class _Confirms:
    """Publisher confirms of one channel: delivery tags count publishes from 1 after confirm.select."""

    def __init__(self):
        self.published = 0
        self.floor = 0                 # every tag up to here is acked (a "multiple" ack)
        self.acks: set[int] = set()
        self.nacks: set[int] = set()
        self.nack_floor = 0

    def next_tag(self) -> int:
        self.published += 1
        return self.published

    def ack(self, tag, multiple):
        if multiple:
            self.floor = max(self.floor, tag)
        else:
            self.acks.add(tag)

    def nack(self, tag, multiple):
        if multiple:
            self.nack_floor = max(self.nack_floor, tag)
        else:
            self.nacks.add(tag)

    def acked(self, tag: int) -> bool:
        return (tag <= self.floor or tag in self.acks) and not self.nacked(tag)

    def nacked(self, tag: int) -> bool:
        return tag in self.nacks or tag <= self.nack_floor

    def settled(self, tag: int) -> bool:
        return tag <= self.floor or tag in self.acks or self.nacked(tag)


def _request_id_of(body: str) -> str | None:
    if REQUEST_ID_ATTRIBUTE not in body:  # cheap test before parsing
        return None
    try:
        return json.loads(body).get(REQUEST_ID_ATTRIBUTE)
    except ValueError:
        return None
