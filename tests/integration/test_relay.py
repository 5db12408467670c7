"""The outbox relay against the real broker: batched confirms, rows marked only once confirmed,
and the workers' database connection left free while the broker confirms."""
from __future__ import annotations

import json
import uuid

import pytest
from kombu import Connection, Exchange, Queue
from sqlalchemy import insert, select

from shared.db import PlatformTables, create_all, new_metadata
from shared.relay import OutboxRelay, _Confirms
from shared.workdays import utcnow
from tests.conftest import wait_for

pytestmark = pytest.mark.integration


def outbox_world(db_uri: str, rows: int):
    metadata = new_metadata()
    tables = PlatformTables(metadata)
    engine = create_all(db_uri, metadata)
    now = utcnow()
    with engine.begin() as conn:
        for i in range(rows):
            conn.execute(insert(tables.outbox).values(
                event_id=str(uuid.uuid4()), event_type="wsli.relaytest.ping.v1", exchange="relaytest.events",
                routing_key="ping", subject=str(i), body=json.dumps({"n": i}), created_at=now, attempts=0))
    return engine, tables


def pending(engine, tables) -> list:
    with engine.connect() as conn:
        return conn.execute(select(tables.outbox.c.id, tables.outbox.c.attempts, tables.outbox.c.last_error)
                            .where(tables.outbox.c.published_at.is_(None)).order_by(tables.outbox.c.id)).all()


def bound_queue(amqp_uri):
    queue = Queue(f"relaytest-{uuid.uuid4().hex[:8]}", Exchange("relaytest.events", type="topic", durable=True),
                  routing_key="ping", auto_delete=False)
    with Connection(amqp_uri) as conn:
        queue(conn.default_channel).declare()
    return queue


def queued(amqp_uri, queue) -> int:
    with Connection(amqp_uri) as conn:
        return queue(conn.default_channel).queue_declare(passive=True).message_count


def test_a_batch_is_published_confirmed_and_marked(databases, amqp_uri):
    engine, tables = outbox_world(databases.new("relaytest"), rows=250)
    queue = bound_queue(amqp_uri)
    relay = OutboxRelay(engine, tables.outbox, {"AMQP_URI": amqp_uri}, batch_size=200)
    try:
        assert relay.publish_pending() == 200
        assert relay.publish_pending() == 50
        assert relay.publish_pending() == 0
        assert pending(engine, tables) == []
        assert queued(amqp_uri, queue) == 250
    finally:
        relay.stop()
        engine.dispose()


def test_rows_stay_pending_until_the_broker_confirms(databases, amqp_uri):
    engine, tables = outbox_world(databases.new("relaytest"), rows=5)
    relay = OutboxRelay(engine, tables.outbox, {"AMQP_URI": amqp_uri}, confirm_timeout=0.5)
    original = _Confirms.ack
    _Confirms.ack = lambda self, tag, multiple: None  # a broker that never confirms
    try:
        with pytest.raises(TimeoutError):
            relay.publish_pending()
        rows = pending(engine, tables)
        assert len(rows) == 5, "nothing is marked sent without its confirm"
        assert rows[0].attempts == 1 and "TimeoutError" in rows[0].last_error
    finally:
        _Confirms.ack = original
        relay.stop()
    relay = OutboxRelay(engine, tables.outbox, {"AMQP_URI": amqp_uri})
    try:
        assert relay.publish_pending() == 5, "the next attempt publishes them"
        assert pending(engine, tables) == []
    finally:
        relay.stop()
        engine.dispose()


def test_the_relay_does_not_hold_the_workers_connection_while_the_broker_confirms(databases, amqp_uri):
    uri = databases.new("relaytest")
    engine, tables = outbox_world(uri, rows=20)
    held = []

    class Watching(OutboxRelay):
        def _publish(self, rows):
            held.append(engine.pool.checkedout())  # the service's pool, as its workers see it
            return super()._publish(rows)

    relay_engine = engine
    if engine.dialect.name == "postgresql":
        # as Database.setup does it: the relay's own engine on PostgreSQL
        from shared.db import make_engine
        relay_engine = make_engine(uri, pool_size=1, max_overflow=1)
    relay = Watching(relay_engine, tables.outbox, {"AMQP_URI": amqp_uri})
    try:
        assert relay.publish_pending() == 20
        assert held == [0], "no worker connection is checked out while publishing"
    finally:
        relay.stop()
        if relay_engine is not engine:
            relay_engine.dispose()
        engine.dispose()


def test_confirms_count_single_and_multiple_acks_and_nacks():
    confirms = _Confirms()
    tags = [confirms.next_tag() for _ in range(6)]
    assert tags == [1, 2, 3, 4, 5, 6]
    confirms.ack(3, True)
    confirms.ack(5, False)
    assert [confirms.acked(t) for t in tags] == [True, True, True, False, True, False]
    assert not confirms.settled(4) and not confirms.settled(6)
    confirms.nack(6, False)
    assert confirms.settled(6) and not confirms.acked(6)
    confirms.nack(4, True)
    assert confirms.settled(4) and not confirms.acked(4)


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_relay_lingers_only_while_events_stream_in():
    clock = Clock()
    relay = OutboxRelay(None, None, {"AMQP_URI": "amqp://unused/"}, linger_seconds=0.005, clock=clock)
    assert relay.linger() == 0.0, "nothing sent yet: a first event goes out at once"
    relay._last_sent_at = clock.now
    clock.now += 0.01
    assert relay.linger() == 0.005, "woken 10 ms after rows went out: wait for the next commits"
    clock.now += OutboxRelay.BUSY_WITHIN_SECONDS
    assert relay.linger() == 0.0, "a quiet moment since: a lone event is not delayed"
    assert OutboxRelay(None, None, {"AMQP_URI": "amqp://unused/"}, clock=clock).linger() == 0.0


def test_the_relay_marks_without_waiting_for_the_flush_and_workers_still_wait(databases, amqp_uri):
    """PostgreSQL: the relay's connection commits its marks asynchronously (a mark lost in a crash only
    repeats a delivery the inbox skips); the workers' connections keep synchronous commits."""
    from types import SimpleNamespace

    from shared.db import Database

    uri = databases.new("relaysync")
    metadata = new_metadata()
    provider = Database(metadata, PlatformTables(metadata))
    provider.container = SimpleNamespace(service_name="relaytest", config={
        "DB_URI": uri, "AMQP_URI": amqp_uri, "AGENCY_ID": "beijing", "PII_KEYS": "0wJayvKbPmeU7I3L_LJnXJun5uuFW6e6sb9bIzfYLpg=",
        "PII_INDEX_KEY": "relaytest"})
    provider.setup()
    try:
        setting = "SHOW synchronous_commit"
        if provider.engine.dialect.name != "postgresql":
            assert provider.relay.engine is provider.engine, "SQLite: one connection per process, the relay's too"
            return
        with provider.relay.engine.connect() as conn:
            assert conn.exec_driver_sql(setting).scalar() == "off"
        with provider.engine.connect() as conn:
            assert conn.exec_driver_sql(setting).scalar() == "on"
    finally:
        provider.engine.dispose()
        if provider.relay_engine is not None:
            provider.relay_engine.dispose()
