"""Delivery guarantees over the real broker and database: outbox, inbox, retries, DLQ."""
from __future__ import annotations

import json
from datetime import date
import uuid

import pytest
from kombu import Connection, Exchange, Producer
from sqlalchemy import func, select

from services.registration.models import platform as reg_platform
from services.registration.service import RegistrationService
from shared import dlq
from shared.subscriber import DLQ
from shared.catalogue import component
from shared.db import create_all, make_engine as create_engine
from shared.events import build_envelope, specs_for
from shared.workdays import utcnow
from tests.conftest import ADMIN, rpc, wait_for
from tests.integration import ledger

pytestmark = pytest.mark.integration

component("registration").schemas()  # registers the events


@pytest.fixture
def ledger_db(databases):
    uri = databases.new("ledger")
    create_all(uri, ledger.metadata).dispose()
    return uri


@pytest.fixture(autouse=True)
def _reset_ledger():
    ledger.BEHAVIOUR.clear()
    ledger.ATTEMPTS.clear()


@pytest.fixture
def empty_dlq(amqp_uri):
    dlq.discard(amqp_uri)
    yield
    dlq.discard(amqp_uri)


def recorded(uri, subject=None):
    engine = create_engine(uri)
    try:
        with engine.connect() as conn:
            stmt = select(ledger.entries.c.subject)
            if subject is not None:
                stmt = stmt.where(ledger.entries.c.subject == subject)
            return [r[0] for r in conn.execute(stmt)]
    finally:
        engine.dispose()


def outbox_rows(uri):
    engine = create_engine(uri)
    try:
        with engine.connect() as conn:
            return conn.execute(select(reg_platform.outbox.c.event_type, reg_platform.outbox.c.published_at)
                                .order_by(reg_platform.outbox.c.id)).all()
    finally:
        engine.dispose()


def create_cycle(config, code):
    with rpc(config, ADMIN) as cluster:
        return cluster.registration.create_cycle({"code": code, "title": f"cycle {code}", "deadline": "2026-12-31"})


def publish_raw(amqp_uri, body: bytes, routing_key="cycle_created", content_type="application/json", message_id=None):
    with Connection(amqp_uri, transport_options={"confirm_publish": True}) as conn:
        Producer(conn.default_channel).publish(
            body, exchange=Exchange("registration.events", type="topic", durable=True), routing_key=routing_key,
            content_type=content_type, content_encoding="utf-8", message_id=message_id, delivery_mode=2)


def envelope_bytes(subject):
    spec = specs_for("registration", "cycle_created")[0]
    env = build_envelope(spec, "beijing", subject, {"cycle": subject, "title": "t", "deadline": date(2026, 12, 31),
                                                     "minimums": {}}, utcnow())
    return env, json.dumps(env).encode()


def test_event_survives_a_crash_between_commit_and_publish(databases, base_config, runners, ledger_db):
    reg_db = databases.migrated("registration")
    runners(base_config(ledger_db), ledger.LedgerService)

    # The service commits, then "crashes" before its relay publishes anything.
    crashed = runners(base_config(reg_db, OUTBOX_RELAY=False), RegistrationService)
    create_cycle(base_config(reg_db), "C1")
    rows = outbox_rows(reg_db)
    # every live major is written beside the others; the ledger subscribes to v1 only
    assert [r.event_type for r in rows] == ["wsli.registration.cycle_created.v1", "wsli.registration.cycle_created.v2"]
    assert rows[0].published_at is None
    crashed.kill()
    assert recorded(ledger_db) == []

    # A new instance's relay finds the pending row and publishes it.
    runners(base_config(reg_db), RegistrationService)
    wait_for(lambda: recorded(ledger_db) == ["C1"], message="the ledger to record C1")
    wait_for(lambda: outbox_rows(reg_db)[0].published_at is not None, message="the row to be marked sent")


def test_a_redelivered_event_changes_nothing(databases, base_config, runners, ledger_db, amqp_uri):
    runners(base_config(ledger_db), ledger.LedgerService)
    env, body = envelope_bytes("dup")
    for _ in range(3):
        publish_raw(amqp_uri, body, message_id=env["id"])
    wait_for(lambda: ledger.ATTEMPTS.get("dup", 0) >= 3, message="three deliveries")
    assert recorded(ledger_db, "dup") == ["dup"]
    engine = create_engine(ledger_db)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ledger.platform.inbox)).scalar() == 1
    engine.dispose()


def test_a_failing_handler_is_retried_then_parked_and_can_be_replayed(
        databases, base_config, runners, ledger_db, amqp_uri, empty_dlq):
    runners(base_config(ledger_db, EVENT_RETRY_DELAYS_MS="100,200"), ledger.LedgerService)
    ledger.BEHAVIOUR["flaky"] = "fail"
    env, body = envelope_bytes("flaky")
    publish_raw(amqp_uri, body, message_id=env["id"])

    parked = wait_for(lambda: dlq.list_parked(amqp_uri), message="a parked message")
    assert ledger.ATTEMPTS["flaky"] == 3  # the first try and two back-off retries
    assert len(parked) == 1
    entry = parked[0]
    assert entry["handler"] == "ledger.on_cycle_created"
    assert "ledger refuses flaky" in entry["error"]
    assert entry["message_id"] == env["id"]
    assert recorded(ledger_db) == []
    assert len(dlq.list_parked(amqp_uri)) == 1, "listing must not consume"

    ledger.BEHAVIOUR.pop("flaky")
    assert dlq.replay(amqp_uri, [entry["dlq_id"]]) == 1
    wait_for(lambda: recorded(ledger_db, "flaky") == ["flaky"], message="the replayed event to be recorded")
    assert dlq.list_parked(amqp_uri) == []


def test_poison_messages_are_parked_at_once_and_the_consumer_keeps_going(
        databases, base_config, runners, ledger_db, amqp_uri, empty_dlq):
    runners(base_config(ledger_db), ledger.LedgerService)
    publish_raw(amqp_uri, b"{not json", message_id="bad-json")
    publish_raw(amqp_uri, b'["a", "list"]', message_id="a-list")
    publish_raw(amqp_uri, b"plain words", content_type="text/plain", message_id="wrong-type")
    _, broken = envelope_bytes("broken")
    env = json.loads(broken)
    env["data"] = {"cycle": 5}  # fails the registered schema
    publish_raw(amqp_uri, json.dumps(env).encode(), message_id="bad-data")

    parked = wait_for(lambda: (p := dlq.list_parked(amqp_uri)) and len(p) >= 4 and p, message="4 parked")
    assert {p["message_id"] for p in parked} == {"bad-json", "a-list", "wrong-type", "bad-data"}
    assert all(p["retries"] == 0 for p in parked), "poison is never retried"
    assert all(p["error_type"] == "InvalidEnvelope" for p in parked)

    # the consumer survived and still handles good events
    good, body = envelope_bytes("good")
    publish_raw(amqp_uri, body, message_id=good["id"])
    wait_for(lambda: recorded(ledger_db, "good") == ["good"], message="a good event after poison")

    assert dlq.discard(amqp_uri, [parked[0]["dlq_id"]]) == 1
    assert len(dlq.list_parked(amqp_uri)) == 3


def test_events_carry_the_cloudevents_envelope(databases, base_config, runners, amqp_uri):
    reg_db = databases.migrated("registration")
    queue = f"probe-{uuid.uuid4().hex[:8]}"
    with Connection(amqp_uri) as conn:
        from kombu import Queue
        q = Queue(queue, exchange=Exchange("registration.events", type="topic", durable=True),
                  routing_key="cycle_created", auto_delete=True)
        q(conn.default_channel).declare()
        runners(base_config(reg_db), RegistrationService)
        create_cycle(base_config(reg_db), "ENV1")
        message = wait_for(lambda: conn.default_channel.basic_get(queue, no_ack=True), message="the event")
    body = json.loads(message.body)
    assert body["specversion"] == "1.0"
    assert body["type"] == "wsli.registration.cycle_created.v1"
    assert body["source"] == "/agencies/beijing/registration"
    assert body["subject"] == "ENV1"
    assert body["time"].endswith("Z")
    assert body["data"]["cycle"] == "ENV1"
    assert message.properties["message_id"] == body["id"]
    uuid.UUID(body["id"])


def test_messages_the_broker_dead_lettered_can_be_replayed_too(
        databases, base_config, runners, ledger_db, amqp_uri, empty_dlq):
    """A queue policy (deploy/rabbitmq) may park messages without our headers: x-death says where from."""
    runners(base_config(ledger_db), ledger.LedgerService)
    env, body = envelope_bytes("by-policy")
    origin = "evt-registration-cycle_created--ledger.on_cycle_created"
    with Connection(amqp_uri, transport_options={"confirm_publish": True}) as conn:
        from shared.subscriber import dlq_queue
        channel = conn.default_channel
        dlq_queue()(channel).declare()
        Producer(channel).publish(body, exchange="", routing_key=DLQ, content_type="application/json",
                                  content_encoding="utf-8", message_id=env["id"], delivery_mode=2,
                                  headers={"x-death": [{"queue": origin, "reason": "rejected", "count": 1}]})
    parked = wait_for(lambda: dlq.list_parked(amqp_uri), message="the parked message")
    assert parked[0]["queue"] == origin and parked[0]["dlq_id"] == f"broker-{env['id']}"
    assert dlq.replay(amqp_uri, [parked[0]["dlq_id"]]) == 1
    wait_for(lambda: recorded(ledger_db, "by-policy") == ["by-policy"], message="the replayed event")
