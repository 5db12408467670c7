"""Rows a commit hands to the relay: sent without a query of the table, marked once confirmed,
and only what was committed (a rolled-back savepoint takes its rows along). The sweep finds
what nobody handed over, and leaves young rows to the process that wrote them."""
from __future__ import annotations

import json
import uuid
from contextlib import contextmanager
from datetime import timedelta
from types import SimpleNamespace

import eventlet
import pytest
from kombu import Connection
from sqlalchemy import insert, select
from sqlalchemy.orm import sessionmaker

from shared.db import UnitOfWork
from shared.relay import OutboxRelay, _Confirms
from shared.web import REQUEST_ID_KEY
from shared.workdays import utcnow
from tests.conftest import wait_for
from tests.integration.test_relay import Clock, bound_queue, outbox_world, pending, queued

pytestmark = pytest.mark.integration


@pytest.fixture
def world(databases):
    """An outbox of its own (engine, tables), empty."""
    engine, tables = outbox_world(databases.new("handover"), rows=0)
    yield engine, tables


def row(n: int, created_at=None) -> dict:
    return dict(event_id=str(uuid.uuid4()), event_type="wsli.relaytest.ping.v1", exchange="relaytest.events",
                routing_key="ping", subject=str(n), body=json.dumps({"n": n}),
                created_at=created_at or utcnow(), attempts=0)


class Sweeping(OutboxRelay):
    """Counts the sweeps: the queries of the table."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.sweeps = 0

    def publish_pending(self, older_than=None):
        self.sweeps += 1
        return super().publish_pending(older_than)


def unit_of_work(engine, tables, handed, request_id=None) -> UnitOfWork:
    provider = SimpleNamespace(sessionmaker=sessionmaker(bind=engine), tables=tables, agency="beijing",
                               relay_committed=handed, statements={})
    return UnitOfWork(provider, request_id=request_id)


def commit(engine, tables, relay, rows: list[dict], request_id=None) -> None:
    """One worker's transaction writing ``rows``: its commit hands them to ``relay``."""
    uow = unit_of_work(engine, tables, relay.hand_over, request_id=request_id)
    try:
        uow.write_outbox(rows)
        uow.commit()
    finally:
        uow.close()


@contextmanager
def running(relay: "Sweeping"):
    """The relay's threads running as in a service, from the end of its sweep at start until the block ends."""
    runner = eventlet.spawn(relay.run_forever)
    try:
        wait_for(lambda: relay.sweeps == 1, message="the sweep at start")
        yield relay
    finally:
        relay.stop()
        runner.wait()


def drain(amqp_uri, queue) -> list:
    with Connection(amqp_uri) as conn:
        bound = queue(conn.default_channel)
        messages = []
        while (message := bound.get(no_ack=True)) is not None:
            messages.append(message)
        return messages


def bodies_in_table(engine, tables) -> list[int]:
    with engine.connect() as conn:
        return sorted(json.loads(b)["n"] for b in conn.execute(select(tables.outbox.c.body)).scalars())


def test_a_commit_hands_its_rows_over_and_they_go_out_without_a_query(world, amqp_uri):
    engine, tables = world
    queue = bound_queue(amqp_uri)
    relay = Sweeping(engine, tables.outbox, {"AMQP_URI": amqp_uri}, poll_seconds=60)
    with running(relay):
        for batch in range(3):
            commit(engine, tables, relay, [row(batch * 10 + i) for i in range(4)], request_id=f"req-{batch}")
        wait_for(lambda: not pending(engine, tables) and queued(amqp_uri, queue) == 12,
                 message="every committed row sent and marked")
        assert relay.sweeps == 1, "handed rows need no query of the table"
        messages = drain(amqp_uri, queue)
        assert sorted(json.loads(m.body)["n"] for m in messages) == bodies_in_table(engine, tables)
        assert {m.headers["nameko." + REQUEST_ID_KEY] for m in messages} == {"req-0", "req-1", "req-2"}, \
            "each event carries its request's id"


def test_only_what_was_committed_is_handed_over(world):
    engine, tables = world
    handed = []
    uow = unit_of_work(engine, tables, handed.extend)
    try:
        uow.write_outbox([row(1)])
        with uow.session.begin_nested():
            uow.write_outbox([row(2)])  # released: stays
        with pytest.raises(ValueError):
            with uow.session.begin_nested():
                uow.write_outbox([row(3)])
                with uow.session.begin_nested():
                    uow.write_outbox([row(4)])  # released inside a savepoint that is then rolled back
                raise ValueError
        uow.write_outbox([row(5), row(6)])
        uow.commit()
        assert sorted(json.loads(p.body)["n"] for p in handed) == bodies_in_table(engine, tables) == [1, 2, 5, 6]

        handed.clear()
        uow.write_outbox([row(7)])
        uow.rollback()
        uow.write_outbox([row(8)])
        uow.commit()
        assert [json.loads(p.body)["n"] for p in handed] == [8], "a rolled-back transaction hands nothing"
        assert bodies_in_table(engine, tables) == [1, 2, 5, 6, 8]

        handed.clear()
        uow.write_outbox([])  # an empty bulk
        uow.commit()
        assert handed == [] and bodies_in_table(engine, tables) == [1, 2, 5, 6, 8], "nothing written, nothing handed"
    finally:
        uow.close()


def test_more_rows_than_it_keeps_are_left_to_one_sweep(world, amqp_uri):
    engine, tables = world
    queue = bound_queue(amqp_uri)
    relay = Sweeping(engine, tables.outbox, {"AMQP_URI": amqp_uri}, poll_seconds=60, batch_size=5)
    with running(relay):
        commit(engine, tables, relay, [row(i) for i in range(relay.HANDED_BATCHES * 5 + 1)])  # one more than it keeps
        wait_for(lambda: not pending(engine, tables), message="the bulk sent and marked")
        assert queued(amqp_uri, queue) == 21, "each row sent once"
        assert relay.sweeps >= 1 + 5, "swept in batches of five"


def test_the_periodic_sweep_leaves_young_rows_to_the_process_sending_them(world, amqp_uri):
    engine, tables = world
    queue = bound_queue(amqp_uri)
    clock = Clock()
    relay = OutboxRelay(engine, tables.outbox, {"AMQP_URI": amqp_uri}, poll_seconds=1, clock=clock,
                        sweep_grace_seconds=5)
    try:
        assert relay.keep_books() == 0, "the sweep at start: nothing yet"
        with engine.begin() as conn:
            conn.execute(insert(tables.outbox), [row(1, utcnow() - timedelta(seconds=60)), row(2)])
        assert relay.keep_books() == 0, "no sweep before poll_seconds"
        clock.now += 1
        assert relay.keep_books() == 1, "the periodic sweep takes the row left by a process that stopped"
        assert [json.loads(m.body)["n"] for m in drain(amqp_uri, queue)] == [1]
        relay.wake()  # rows written by other means: look now, whatever their age
        assert relay.keep_books() == 1
        assert [json.loads(m.body)["n"] for m in drain(amqp_uri, queue)] == [2]
        assert pending(engine, tables) == []
    finally:
        relay.stop()


def test_handed_rows_the_broker_did_not_confirm_are_swept_after_the_failure(world, amqp_uri):
    engine, tables = world
    queue = bound_queue(amqp_uri)
    relay = Sweeping(engine, tables.outbox, {"AMQP_URI": amqp_uri}, poll_seconds=0.2, confirm_timeout=0.5)
    original = _Confirms.ack
    _Confirms.ack = lambda self, tag, multiple: None  # a broker that never confirms
    try:
        with running(relay):
            commit(engine, tables, relay, [row(i) for i in range(3)])
            wait_for(lambda: (pending(engine, tables) or [None])[0] is not None
                     and pending(engine, tables)[0].attempts >= 1, message="the failure recorded on the row")
            rows = pending(engine, tables)
            assert len(rows) == 3, "nothing is marked sent without its confirm"
            assert "TimeoutError" in rows[0].last_error
            _Confirms.ack = original
            wait_for(lambda: not pending(engine, tables), message="the sweep after the failure sends them")
            assert queued(amqp_uri, queue) >= 6, "sent again after the failure (consumers skip the repeat)"
    finally:
        _Confirms.ack = original


def test_confirmed_rows_are_marked_together_each_with_its_confirm_time(world, amqp_uri):
    """The bookkeeper marks in one transaction every batch confirmed since its last mark, each with
    the time the broker confirmed it."""
    from sqlalchemy import event

    engine, tables = world
    queue = bound_queue(amqp_uri)
    relay = OutboxRelay(engine, tables.outbox, {"AMQP_URI": amqp_uri}, poll_seconds=60, clock=Clock())
    transactions = []
    event.listen(engine, "commit", lambda conn: transactions.append(1))
    try:
        assert relay.keep_books() == 0, "the sweep at start"
        for batch in range(3):
            commit(engine, tables, relay, [row(batch * 10), row(batch * 10 + 1)])
            assert relay.send_handed() == 2
        assert queued(amqp_uri, queue) == 6, "each batch went out at once"
        assert len(pending(engine, tables)) == 6, "the sender marks nothing itself"
        before = len(transactions)
        assert relay.keep_books() == 0
        assert pending(engine, tables) == []
        assert len(transactions) == before + 1, "one transaction marked the three batches"
        with engine.connect() as conn:
            stamps = conn.execute(select(tables.outbox.c.created_at, tables.outbox.c.published_at)
                                  .order_by(tables.outbox.c.id)).all()
        assert all(r.published_at >= r.created_at for r in stamps)
        by_batch = [stamps[i].published_at for i in (0, 2, 4)]
        assert by_batch == sorted(by_batch) and len(set(by_batch)) == 3, "each batch has its own confirm time"
        assert stamps[0].published_at == stamps[1].published_at
    finally:
        relay.stop()


def test_events_committed_while_it_lingers_go_out_in_one_batch(world, amqp_uri):
    """A running relay, handed each commit's rows as a service's commit hands them: those that land
    during the linger share a batch, and every row is published and marked once."""
    engine, tables = world
    queue = bound_queue(amqp_uri)
    batches = []

    class Counting(Sweeping):
        def send_handed(self):
            sent = super().send_handed()
            if sent:
                batches.append(sent)
            return sent

    relay = Counting(engine, tables.outbox, {"AMQP_URI": amqp_uri}, poll_seconds=5, linger_seconds=0.5)
    relay.BUSY_WITHIN_SECONDS = 30  # the test's own pace decides nothing: every later wake is "streaming"
    with running(relay):
        commit(engine, tables, relay, [row(0)])
        wait_for(lambda: batches == [1], message="the first event goes out alone, at once")
        for i in range(1, 6):
            commit(engine, tables, relay, [row(i)])
        wait_for(lambda: not pending(engine, tables) and queued(amqp_uri, queue) == 6, message="all six published")
        assert batches == [1, 5], "the five commits of the linger went out together"


def test_a_lone_confirm_is_marked_at_once_the_next_ones_together_and_stopping_writes_them(world, amqp_uri):
    """Marks come at most every ``mark_delay_seconds``: the first confirm after a quiet moment is marked
    at once, the confirms that follow it share one later transaction, and stopping cuts that wait short."""
    from sqlalchemy import event

    engine, tables = world
    queue = bound_queue(amqp_uri)
    relay = Sweeping(engine, tables.outbox, {"AMQP_URI": amqp_uri}, poll_seconds=60, mark_delay_seconds=60)
    mark_transactions = []

    def saw_statement(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("UPDATE") and "published_at" in statement:
            conn.info["marking"] = True

    def saw_commit(conn):
        if conn.info.pop("marking", False):
            mark_transactions.append(1)

    event.listen(engine, "before_cursor_execute", saw_statement)
    event.listen(engine, "commit", saw_commit)
    runner = eventlet.spawn(relay.run_forever)
    try:
        wait_for(lambda: relay.sweeps == 1, message="the sweep at start")
        commit(engine, tables, relay, [row(0), row(1)])
        wait_for(lambda: not pending(engine, tables), message="the lone batch marked at once")
        assert mark_transactions == [1]
        for batch in (1, 2):
            commit(engine, tables, relay, [row(batch * 10), row(batch * 10 + 1)])
            wait_for(lambda: queued(amqp_uri, queue) == 2 * (batch + 1) and not relay._handed,
                     message=f"batch {batch} sent")
        wait_for(lambda: sum(len(ids) for _, ids in relay._unmarked) == 4, message="the next two batches confirmed")
        assert len(pending(engine, tables)) == 4 and mark_transactions == [1], "marked a moment ago: they wait"
    finally:
        relay.stop()
        runner.wait()
    wait_for(lambda: not pending(engine, tables), timeout=5, message="the marks written on stopping, not in 60 s")
    assert mark_transactions == [1, 1], "one transaction marked the two batches that waited"
    with engine.connect() as conn:
        stamps = conn.execute(select(tables.outbox.c.published_at).order_by(tables.outbox.c.id)).scalars().all()
    assert len(set(stamps)) == 3, "each batch keeps its own confirm time"
