"""Our AMQP messages, read as an integrator would: the official CloudEvents SDK's RabbitMQ binding,
on real messages taken off the broker as the outbox relay published them."""
from __future__ import annotations

import functools
import json

import jsonschema
import pytest
import yaml
from cloudevents.core.bindings.rabbitmq import RabbitMQMessage, from_rabbitmq_event
from kombu import Connection, Exchange, Producer, Queue, binding
from sqlalchemy import insert

from shared.catalogue import load_all_event_schemas
from shared.config import REPO_ROOT
from shared.db import PlatformTables, create_all, new_metadata
from shared.events import REGISTRY, STRUCTURED_CONTENT_TYPE, build_envelope
from shared.relay import OutboxRelay
from tests.conftest import AGENCY, wait_for
from tests.integration.event_samples import NOW, sample

pytestmark = pytest.mark.integration


def publish_every_event_type(db_uri: str, amqp_uri: str) -> dict[str, dict]:
    """One outbox row per registered type, published by the real relay; returns envelope by id."""
    load_all_event_schemas()
    metadata = new_metadata()
    tables = PlatformTables(metadata)
    engine = create_all(db_uri, metadata)
    envelopes = {}
    with engine.begin() as conn:
        for spec in REGISTRY.values():
            env = build_envelope(spec, AGENCY, "subject-1", sample(spec.schema()), NOW)
            conn.execute(insert(tables.outbox).values(
                event_id=env["id"], event_type=spec.type, exchange=spec.exchange, routing_key=spec.routing_key,
                subject="subject-1", body=json.dumps(env, ensure_ascii=False, separators=(",", ":")),
                created_at=NOW, attempts=0))
            envelopes[env["id"]] = env
    relay = OutboxRelay(engine, tables.outbox, {"AMQP_URI": amqp_uri})
    try:
        while relay.publish_pending():
            pass
    finally:
        relay.stop()
        engine.dispose()
    return envelopes


@functools.cache
def asyncapi_components() -> dict:
    return yaml.safe_load((REPO_ROOT / "docs" / "asyncapi.yaml").read_text(encoding="utf-8"))["components"]


def envelope_validator(type_: str):
    spec = REGISTRY[type_]
    schema = {"$ref": f"#/components/schemas/{spec.service}.{spec.name}.v{spec.version}.envelope",
              "components": asyncapi_components()}
    return jsonschema.Draft202012Validator(schema)


def test_every_event_type_reads_with_the_sdk_as_it_comes(databases, amqp_uri):
    load_all_event_schemas()
    services = sorted({s.service for s in REGISTRY.values()})
    with Connection(amqp_uri) as conn:
        queue = Queue("integrator-sdk", bindings=[
            binding(Exchange(f"{s}.events", type="topic", durable=True), routing_key="#") for s in services],
            durable=False, auto_delete=False)
        queue(conn.default_channel).declare()
        envelopes = publish_every_event_type(databases.new("outbox"), amqp_uri)
        messages = []
        bound = queue(conn.default_channel)

        def drain():
            while (message := bound.get(no_ack=True, accept=[STRUCTURED_CONTENT_TYPE])) is not None:
                messages.append(message)
            return len(messages) >= len(envelopes)

        wait_for(drain, timeout=20, message="every published event")

    assert len(messages) == len(envelopes) == len(REGISTRY)
    seen = set()
    for message in messages:
        assert message.content_type == STRUCTURED_CONTENT_TYPE
        assert not any(k.lower().startswith(("cloudevents:", "cloudevents_", "ce-", "ce_")) for k in message.headers)
        event = from_rabbitmq_event(RabbitMQMessage(headers=dict(message.headers), content_type=message.content_type,
                                                    body=message.body))
        sent = envelopes[event.get_id()]
        assert event.get_id() == message.properties["message_id"]
        assert (event.get_type(), event.get_source(), event.get_subject()) == (sent["type"], sent["source"],
                                                                              "subject-1")
        assert event.get_specversion() == "1.0" and event.get_datacontenttype() == "application/json"
        assert event.get_time().isoformat().startswith("2026-12-02T08:00:00")
        assert event.get_extension("agency") == AGENCY
        assert event.get_data() == sent["data"]
        envelope_validator(event.get_type()).validate(json.loads(message.body))  # AsyncAPI = what is sent
        seen.add(event.get_type())
    assert seen == set(REGISTRY)


def test_the_old_binary_looking_form_is_what_the_sdk_could_not_read():
    """The form published before: JSON content type plus ``cloudEvents:`` headers. The SDK takes it
    for binary mode and fails, which is why the relay publishes structured mode now."""
    load_all_event_schemas()
    spec = next(iter(REGISTRY.values()))
    env = build_envelope(spec, AGENCY, "s", sample(spec.schema()), NOW)
    old = RabbitMQMessage(headers={"cloudEvents:specversion": "1.0", "cloudEvents:type": spec.type},
                          content_type="application/json", body=json.dumps(env).encode())
    with pytest.raises(Exception) as failed:
        from_rabbitmq_event(old)
    assert "source" in str(failed.value) or "id" in str(failed.value)


def test_our_consumers_read_the_old_and_the_new_form(amqp_uri, base_config, runners, databases):
    """A message of either content type reaches a kit subscriber (the change of form loses nothing)."""
    from tests.integration import ledger
    from shared.db import make_engine
    from sqlalchemy import select

    ledger_uri = databases.new("ledger")
    create_all(ledger_uri, ledger.metadata).dispose()
    runners(base_config(ledger_uri), ledger.LedgerService)
    spec = REGISTRY["wsli.registration.cycle_created.v1"]
    with Connection(amqp_uri, transport_options={"confirm_publish": True}) as conn:
        for subject, content_type in (("old", "application/json"), ("new", STRUCTURED_CONTENT_TYPE)):
            env = build_envelope(spec, AGENCY, subject, {"cycle": subject, "title": "t", "deadline": NOW.date(),
                                                         "minimums": {}}, NOW)
            Producer(conn.default_channel).publish(
                json.dumps(env).encode(), exchange=Exchange("registration.events", type="topic", durable=True),
                routing_key="cycle_created", content_type=content_type, content_encoding="utf-8",
                message_id=env["id"], delivery_mode=2)

    def recorded():
        engine = make_engine(ledger_uri)
        try:
            with engine.connect() as c:
                return sorted(r[0] for r in c.execute(select(ledger.entries.c.subject)))
        finally:
            engine.dispose()

    wait_for(lambda: recorded() == ["new", "old"], message="both forms recorded")
