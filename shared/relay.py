"""The outbox relay: publishes committed event rows to RabbitMQ, then marks them sent.

At-least-once: a row is marked only after the broker confirmed the publish (a batch
is published, then its confirms awaited together), so a crash anywhere leaves it
pending and the next relay (this process restarted, or another replica) publishes it.
Consumers deduplicate by event id (the inbox).

Two threads, each with its own broker connection, so that neither waits for the other:
- **the sender**: a commit hands it the rows it has just written (``hand_over``); they
  go out at once, with no query of the table.
- **the bookkeeper**: marks what the broker confirmed, at once after a quiet moment and
  otherwise at most every ``mark_delay_seconds``, the batches confirmed meanwhile in one
  transaction (``published_at`` is the confirm's time, not the mark's), and sweeps the
  table for pending rows, in id order. The sweep runs when the relay starts, when told
  to (``wake``: rows written by other means), after the sender failed or was handed more
  than it keeps (a bulk import), and every ``poll_seconds``. The periodic sweep leaves
  rows younger than ``sweep_grace_seconds`` alone: the process that committed them is
  sending them. On PostgreSQL replicas split what a sweep takes with ``FOR UPDATE SKIP
  LOCKED``. A full sweep may repeat a row the sender has in hand at that moment, which
  consumers skip.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from datetime import timedelta

from kombu import Connection, Producer
from nameko.standalone.events import get_event_exchange
from sqlalchemy import select, update

from shared import agency
from shared.db import Pending
from shared.events import REQUEST_ID_ATTRIBUTE, STRUCTURED_CONTENT_TYPE
from shared.web import REQUEST_ID_KEY
from shared.workdays import utcnow

log = logging.getLogger(__name__)


class OutboxRelay:
    # A wake this soon after rows went out means events are streaming in (a roadshow's reports,
    # a registration deadline): the sender then lingers ``linger_seconds`` so the commits of
    # those moments share one round of confirms.
    BUSY_WITHIN_SECONDS = 0.05
    # Handed rows kept in memory, in batches: more (a bulk import) are left to a sweep.
    HANDED_BATCHES = 4
    # A mark only spares a restarted relay from sending an event again, so while events stream in
    # it can wait for the confirms that follow: marks at most this often mean a process handling
    # dozens of events a second marks them a few at a time instead of one each (a connection, a
    # ping, an update and a commit apiece). A lone event is still marked at once, so a lag report
    # soon after it is exact. Far below the sweep's grace.
    MARK_DELAY_SECONDS = 0.1

    def __init__(self, engine, outbox, config: dict, poll_seconds: float = 1.0, batch_size: int = 200,
                 confirm_timeout: float = 30.0, linger_seconds: float = 0.0, clock=time.monotonic,
                 sweep_grace_seconds: float = 5.0, mark_delay_seconds: float = MARK_DELAY_SECONDS):
        self.engine = engine
        self.outbox = outbox
        self.config = config
        self.poll_seconds = poll_seconds
        self.batch_size = batch_size
        self.linger_seconds = linger_seconds
        self.sweep_grace_seconds = sweep_grace_seconds
        self.mark_delay_seconds = mark_delay_seconds
        self.clock = clock
        self._sender = _Publisher(config, confirm_timeout)
        self._sweeper = _Publisher(config, confirm_timeout)
        self._handed: deque[Pending] = deque()
        # batches the broker confirmed, not yet marked sent: (when it had confirmed them, their event ids)
        self._unmarked: deque[tuple[object, list[str]]] = deque()
        self._sweep_due = True              # at start: whatever an earlier run left pending
        self._last_sweep = clock()
        self._last_sent_at: float | None = None
        self._last_marked_at = float("-inf")
        self._wakeup = threading.Event()    # the sender's: rows handed over
        self._books = threading.Event()     # the bookkeeper's: a sweep or marks asked for
        self._stopping = threading.Event()  # cuts a mark delay short
        self._running = True

    def wake(self):
        """Sweep the table now: for rows written without ``hand_over``."""
        self._sweep_due = True
        self._books.set()

    def hand_over(self, rows: list[Pending]):
        """Rows a commit has just written: they go out without a query."""
        if len(self._handed) + len(rows) > self.HANDED_BATCHES * self.batch_size:
            self.wake()  # the table has them: one sweep takes them, in batches
        else:
            self._handed.extend(rows)
            self._wakeup.set()

    def stop(self):
        self._running = False
        self._stopping.set()
        self._wakeup.set()
        self._books.set()
        self._sender.close()
        self._sweeper.close()

    # --- the sender ------------------------------------------------------------------------------

    def run_forever(self):
        """The sender, with the bookkeeper in a thread of its own beside it, until ``stop``."""
        bookkeeper = threading.Thread(target=self.run_bookkeeping, name="outbox-bookkeeping", daemon=True)
        bookkeeper.start()
        try:
            self._send_forever()
        finally:
            self._running = False
            self._books.set()

    def _send_forever(self):
        backoff = self.poll_seconds
        while self._running:
            # clear before sending: a commit that lands meanwhile sets it again
            self._wakeup.clear()
            try:
                self.send_handed()
                backoff = self.poll_seconds
            except Exception:  # broker or database away: the rows stay pending; never kill the service
                if not self._running:
                    return  # stopping: the connection was closed under us on purpose
                log.exception("outbox relay failed; retrying in %.1fs", backoff)
                self._sender.close()
                self._handed.clear()  # committed, so in the table: the sweep after the failure sends them
                self.wake()
                time.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            if self._handed:
                time.sleep(0)  # more handed over meanwhile: let the others run, then send them
                continue
            self._wakeup.wait(self.poll_seconds)
            linger = self.linger()
            if linger:
                time.sleep(linger)

    def send_handed(self) -> int:
        """Publish up to a batch of handed-over rows and await their confirms; returns how many."""
        rows = [self._handed.popleft() for _ in range(min(self.batch_size, len(self._handed)))]
        if not rows:
            return 0
        sent, error = self._sender.publish(rows)
        if sent:
            self._last_sent_at = self.clock()
            self._unmarked.append((utcnow(), sent))
            self._books.set()
        if error is not None:
            self._record_failure(rows, sent, error)
            raise error
        return len(rows)

    def linger(self) -> float:
        """Seconds to wait before the next pass: ``linger_seconds`` while events stream in, else none
        (a lone event goes out at once)."""
        if not self.linger_seconds or self._last_sent_at is None:
            return 0.0
        return self.linger_seconds if self.clock() - self._last_sent_at < self.BUSY_WITHIN_SECONDS else 0.0

    def _record_failure(self, rows, sent: list[str], error: Exception) -> None:
        done = set(sent)
        stuck = next((row.event_id for row in rows if row.event_id not in done), None)
        if stuck is None:
            return
        try:
            with self.engine.begin() as conn:
                self._mark_stuck(conn, stuck, error)
        except Exception:  # the database is away too: the sweep after the back-off tries again
            log.warning("could not record the outbox failure of %s", stuck)

    # --- the bookkeeper --------------------------------------------------------------------------

    def run_bookkeeping(self):
        backoff = self.poll_seconds
        while self._running:
            self._books.clear()
            try:
                self.keep_books()
                backoff = self.poll_seconds
            except Exception:  # broker or database away: rows stay pending, marks stay queued
                if not self._running:
                    break
                log.exception("outbox sweep failed; retrying in %.1fs", backoff)
                self._sweeper.close()
                self._sweep_due = True
                time.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            if self._sweep_due:
                # a backlog (a bulk import's thousands of events): still let a worker waiting for
                # the database connection (SQLite has one) have it between two batches
                time.sleep(0)
                continue
            self._books.wait(self._seconds_to_sweep())
            wait = self._last_marked_at + self.mark_delay_seconds - self.clock()
            if self._unmarked and not self._sweep_due and wait > 0:
                self._stopping.wait(wait)  # marked a moment ago: let the next confirms join this mark
        try:
            self.mark_confirmed()
        except Exception:  # stopping with the database away: those rows are sent again, and skipped
            log.warning("outbox relay stopped with %d confirmed rows unmarked",
                        sum(len(ids) for _, ids in self._unmarked))

    def keep_books(self) -> int:
        """Mark what the broker confirmed, then sweep if a sweep is due; returns how many rows the sweep sent."""
        self.mark_confirmed()  # before a sweep too, or it would send them again
        if not (self._sweep_due or self._seconds_to_sweep() <= 0):
            return 0
        full = self._sweep_due
        self._sweep_due = False
        self._last_sweep = self.clock()
        if full:
            self._handed.clear()  # committed, so in the table: the sweep takes them
        published = self.publish_pending(None if full else self.sweep_grace_seconds)
        if published >= self.batch_size:
            self._sweep_due = True  # a backlog: the next batch follows
        return published

    def mark_confirmed(self) -> None:
        """Mark sent every row the broker has confirmed, each batch with its confirm's time."""
        marks = []
        while self._unmarked:
            marks.append(self._unmarked.popleft())
        if not marks:
            return
        try:
            with self.engine.begin() as conn:
                for confirmed_at, event_ids in marks:
                    self._mark(conn, event_ids, confirmed_at)
        except Exception:
            self._unmarked.extendleft(reversed(marks))  # kept for the next try
            raise
        self._last_marked_at = self.clock()

    def _seconds_to_sweep(self) -> float:
        return max(0.0, self._last_sweep + self.poll_seconds - self.clock())

    def _query(self, older_than: float | None):
        outbox = self.outbox
        query = (
            select(outbox.c.id, outbox.c.event_id, outbox.c.event_type, outbox.c.exchange,
                   outbox.c.routing_key, outbox.c.body, outbox.c.created_at)
            .where(outbox.c.published_at.is_(None))
            .order_by(outbox.c.id)
            .limit(self.batch_size)
        )
        if older_than is not None:
            query = query.where(outbox.c.created_at < utcnow() - timedelta(seconds=older_than))
        return query

    def publish_pending(self, older_than: float | None = None) -> int:
        """Sweep: publish one batch of pending rows (those older than ``older_than`` seconds, if given);
        returns how many were published.

        PostgreSQL: the rows stay locked (``FOR UPDATE SKIP LOCKED``) while they are
        published, so replicas never take the same rows; the relay has its own engine,
        so this holds none of the connections workers use. SQLite has one connection
        per process (see ``shared.db.make_engine``) and one process per file: the relay
        reads the batch, gives the connection back while it publishes and waits for the
        confirms, then takes it again to mark the rows.
        """
        query = self._query(older_than)
        if self.engine.dialect.name == "postgresql":
            with self.engine.begin() as conn:
                rows = conn.execute(query.with_for_update(skip_locked=True)).all()
                if not rows:
                    return 0
                sent, error = self._publish(rows)
                self._mark_batch(conn, rows, sent, error)
        else:
            with self.engine.begin() as conn:
                rows = conn.execute(query).all()
            if not rows:
                return 0
            sent, error = self._publish(rows)
            with self.engine.begin() as conn:
                self._mark_batch(conn, rows, sent, error)
        if error is not None:
            raise error
        return len(sent)

    def _publish(self, rows) -> tuple[list[str], Exception | None]:
        return self._sweeper.publish(rows)

    def _mark(self, conn, event_ids: list[str], confirmed_at) -> None:
        """``published_at`` is when the broker had confirmed the rows, not when the mark is written."""
        outbox = self.outbox
        conn.execute(update(outbox).where(outbox.c.event_id.in_(event_ids)).values(published_at=confirmed_at))

    def _mark_stuck(self, conn, event_id: str, error: Exception) -> None:
        outbox = self.outbox
        conn.execute(update(outbox).where(outbox.c.event_id == event_id)
                     .values(attempts=outbox.c.attempts + 1, last_error=repr(error)[:2000]))

    def _mark_batch(self, conn, rows, sent: list[str], error: Exception | None) -> None:
        if sent:
            self._mark(conn, sent, utcnow())
        if error is not None:
            done = set(sent)
            stuck = next((row.event_id for row in rows if row.event_id not in done), None)
            if stuck is not None:
                self._mark_stuck(conn, stuck, error)


class _Publisher:
    """One broker connection with publisher confirms, used by one of the relay's threads."""

    def __init__(self, config: dict, confirm_timeout: float):
        self.config = config
        self.amqp_uri = config["AMQP_URI"]
        self.confirm_timeout = confirm_timeout
        self._connection = None
        self._confirms: _Confirms | None = None
        self._exchanges: dict[str, object] = {}

    def publish(self, rows) -> tuple[list[str], Exception | None]:
        """Publish every row, then wait for the broker's confirms: the event ids it confirmed, and the
        error if any."""
        tags: list[int] = []
        error: Exception | None = None
        try:
            producer = self._producer()
            confirms = self._confirms
            for row in rows:
                headers = {}
                # a handed-over row carries its request id; a swept one has it only in its body
                request_id = row.request_id if isinstance(row, Pending) else _request_id_of(row.body)
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
        confirms = self._confirms
        sent = [row.event_id for row, tag in zip(rows, tags) if confirms is not None and confirms.acked(tag)]
        return sent, error

    def close(self):
        if self._connection is not None:
            try:
                self._connection.release()
            except Exception:  # already broken; nothing to release
                pass
            self._connection = None

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
