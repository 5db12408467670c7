"""The short path for unconfirmed publishes (RPC replies, the gateway's routed calls) sends what
nameko's publisher sends, on one producer held per broker, and refuses nothing nameko would take."""
from __future__ import annotations

import pytest
from kombu import Connection, Exchange, Queue
from nameko.amqp.publish import Publisher

from shared import amqp

pytestmark = pytest.mark.integration


def _take(uri: str, queue: Queue, n: int) -> list:
    got = []
    with Connection(uri) as connection:
        channel = connection.default_channel
        for _ in range(n):
            message = queue(channel).get(no_ack=True)
            assert message is not None, f"only {len(got)} of {n} messages arrived"
            got.append(message)
    return got


def test_an_unconfirmed_publish_carries_what_namekos_publisher_would(amqp_uri):
    exchange = Exchange("lean-test", type="topic", durable=True)
    queue = Queue("lean-test-calls", exchange=exchange, routing_key="registration.*", durable=True)
    with Connection(amqp_uri) as connection:
        queue(connection.default_channel).declare()
    sent = dict(routing_key="registration.get_cycle", reply_to="reply-key", correlation_id="c-1",
                headers={"nameko.request_id": "r-1"}, extra_headers={"nameko.call_id_stack": ["gw.api.1"]},
                expiration=15, use_confirms=False)
    payload = {"args": ["G2026", {"名": "值"}], "kwargs": {}}
    Publisher(amqp_uri, exchange=exchange, declare=[exchange]).publish(payload, **sent)
    amqp.LeanPublisher(amqp_uri, exchange=exchange, declare=[exchange]).publish(payload, **sent)
    nameko_message, lean_message = _take(amqp_uri, queue, 2)

    assert lean_message.body == nameko_message.body and lean_message.decode() == payload
    assert lean_message.headers == nameko_message.headers == {"nameko.request_id": "r-1",
                                                              "nameko.call_id_stack": ["gw.api.1"]}
    assert lean_message.properties == nameko_message.properties
    assert lean_message.properties["expiration"] == "15000" and lean_message.properties["delivery_mode"] == 2
    assert lean_message.delivery_info["routing_key"] == "registration.get_cycle"


def test_unconfirmed_publishes_share_one_pool_and_confirmed_ones_go_namekos_way(amqp_uri, monkeypatch):
    exchange = Exchange("lean-test", type="topic", durable=True)
    publisher = amqp.LeanPublisher(amqp_uri, exchange=exchange, declare=[exchange], use_confirms=False)
    before = set(amqp._POOL_KEYS)
    producers = []
    for i in range(3):
        publisher.publish({"i": i}, routing_key="nobody.listens")
        [key] = set(amqp._POOL_KEYS) - before
        held = amqp._held_producer(amqp._POOL_KEYS[key])
        producers.append((held, held.producer.channel))
    assert len(set(amqp._POOL_KEYS) - before) == 1, "one pool key for one broker and set of options, not one per message"
    assert len(set(map(id, (p for p, _ in producers)))) == 1 and len({id(c) for _, c in producers}) == 1, \
        "one producer kept with its channel (a broker restart revives it: tests/faults/test_broker_restart.py)"

    taken = []
    monkeypatch.setattr(Publisher, "publish", lambda self, payload, **kw: taken.append(kw))
    publisher.publish({}, routing_key="x.y", use_confirms=True)
    publisher.publish({}, routing_key="x.y", mandatory=True)
    assert len(taken) == 2, "a confirmed or mandatory publish is nameko's (routing checks need the broker's word)"
