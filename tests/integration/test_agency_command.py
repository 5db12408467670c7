"""`wsli agency add|list|remove` through the broker's management HTTP API.

tests/integration/test_agencies.py drives the links with rabbitmqctl; production brokers are
usually reached through the management API instead. Here a RabbitMQ node of our own (its own
name and ports, the management, shovel and federation plugins enabled) stands for an agency's
broker with two vhosts, alpha and beta; the real command sets the links up, lists them, carries
a directed message and a fact across, and removes them.
"""
from __future__ import annotations

import json

import pytest
import requests
from kombu import Connection, Exchange, Producer, Queue

from shared import agency, cli, links
from tests.faults.nodes import RabbitNode, poll

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

@pytest.fixture(scope="module")
def node(tmp_path_factory):
    n = RabbitNode(tmp_path_factory.mktemp("agency-node"),
                   plugins=("rabbitmq_management", "rabbitmq_shovel", "rabbitmq_federation"))
    n.start()
    try:
        api = requests.Session()
        api.auth = ("guest", "guest")
        poll(lambda: _answers(api, n.management_url), 90, 0.5, "the management API of our own node")
        for vhost in ("alpha", "beta"):
            api.put(f"{n.management_url}/api/vhosts/{vhost}", timeout=10).raise_for_status()
            api.put(f"{n.management_url}/api/permissions/{vhost}/guest",
                    json={"configure": ".*", "write": ".*", "read": ".*"}, timeout=10).raise_for_status()
        n.api = api
        yield n
    finally:
        n.discard()


def _answers(api, base) -> bool:
    try:
        return api.get(base + "/api/overview", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def wsli(node, capsys, monkeypatch, *args, config=None) -> tuple[int, str]:
    """The command as a user types it (its own argument parsing and output), run in this process."""
    monkeypatch.setenv("RABBITMQ_API", node.management_url)
    argv = ["agency", *args, "--amqp-uri", node.vhost_uri("alpha")] + (["--config", str(config)] if config else [])
    capsys.readouterr()
    code = cli.main(argv)
    return code, capsys.readouterr().out


def test_agency_links_are_made_listed_used_and_removed_through_the_management_api(node, tmp_path, capsys,
                                                                                    monkeypatch):
    config = tmp_path / "agencies.yml"
    # the partner's password comes from the environment, as in deploy/agencies.example.yml
    config.write_text("partners:\n  beta:\n    uri: amqp://guest:${BETA_LINK_PASSWORD}@127.0.0.1:%d/beta\n"
                      "    directed: true\n    facts: true\n" % node.port, encoding="utf-8")
    monkeypatch.setenv("BETA_LINK_PASSWORD", "guest")
    code, out = wsli(node, capsys, monkeypatch, "add", "beta", config=config)
    assert code == 0 and "(api)" in out, "the management API was used, not rabbitmqctl"

    # the broker holds exactly what `add` promised, read back through the API
    params = node.api.get(f"{node.management_url}/api/parameters/shovel/alpha", timeout=10).json()
    assert [p["name"] for p in params] == [links.shovel_name("beta")]
    assert params[0]["value"] == links.shovel_definition("alpha", "beta", node.vhost_uri("beta"))
    upstreams = node.api.get(f"{node.management_url}/api/parameters/federation-upstream/alpha", timeout=10).json()
    assert [(u["name"], u["value"]["max-hops"]) for u in upstreams] == [("beta", 1)]
    policy = node.api.get(f"{node.management_url}/api/policies/alpha/{links.FACTS_POLICY}", timeout=10).json()
    assert policy["definition"] == {"federation-upstream-set": "all"}

    code, out = wsli(node, capsys, monkeypatch, "list", "--json")
    assert code == 0
    rows = json.loads(out)
    assert [r["partner"] for r in rows] == ["beta"]
    assert ":***@" in rows[0]["directed"] and "guest@" not in json.dumps(rows), "the partner's password is masked"

    # a directed message crosses on the shovel into beta's dedicated exchange
    with Connection(node.vhost_uri("beta")) as beta:
        inbox = Queue("test.inbox", exchange=agency.exchange(agency.IN), routing_key="#", durable=False)
        inbox(beta.default_channel).declare()
        facts_out = agency.exchange(agency.FACTS)(beta.default_channel)
        facts_out.declare()
        with Connection(node.vhost_uri("alpha")) as alpha:
            channel = alpha.default_channel
            facts_in = Queue("test.facts", exchange=agency.exchange(agency.FACTS), routing_key="#", durable=False)
            facts_in(channel).declare()
            Producer(channel, exchange=agency.exchange(agency.OUT)).publish(
                {"n": 1}, routing_key="beta.cases.case_recommended", serializer="json", delivery_mode=2)
            got = poll(lambda: inbox(beta.default_channel).get(no_ack=True), 60, 0.2, "the shovelled message")
            assert got.payload == {"n": 1}

            # a fact published at beta reaches alpha once the federation link runs; a fact sent before
            # the link is up is not kept (a federated exchange forwards while linked), so send until one lands
            def fact_arrives():
                Producer(beta.default_channel, exchange=agency.exchange(agency.FACTS)).publish(
                    {"fact": "certificate_issued"}, routing_key="beta.training.certificate_issued",
                    serializer="json")
                try:
                    return poll(lambda: facts_in(channel).get(no_ack=True), 1, 0.1, "a fact")
                except AssertionError:
                    return None
            fact = poll(fact_arrives, 60, 0.3, "the federated fact")
            assert fact.payload == {"fact": "certificate_issued"}

    code, out = wsli(node, capsys, monkeypatch, "remove", "beta")
    assert code == 0 and "removed" in out
    assert node.api.get(f"{node.management_url}/api/parameters/shovel/alpha", timeout=10).json() == []
    assert node.api.get(f"{node.management_url}/api/parameters/federation-upstream/alpha", timeout=10).json() == []
    assert json.loads(wsli(node, capsys, monkeypatch, "list", "--json")[1]) == []
