"""Partner links on the broker: a dynamic shovel for directed messages, a federation upstream for facts.

``wsli agency add|list|remove`` calls these. The broker is driven through its
management HTTP API when the management plugin answers on ``RABBITMQ_API``
(default http://127.0.0.1:15672, the AMQP URI's user), else through ``rabbitmqctl``
(the broker's host). ``deploy/rabbitmq/agency-links.json`` holds the same as
definitions for production.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from urllib.parse import quote, unquote, urlparse

from kombu import Connection

from shared import agency

PLUGINS = ("rabbitmq_shovel", "rabbitmq_federation")
FACTS_POLICY = "wsli-agency-facts"


def vhost_of(amqp_uri: str) -> str:
    path = urlparse(amqp_uri).path
    return unquote(path[1:]) if len(path) > 1 else "/"


def shovel_name(partner: str) -> str:
    return f"wsli-agency-to-{partner}"


def shovel_definition(local_vhost: str, partner: str, partner_uri: str) -> dict:
    return {
        "src-protocol": "amqp091", "src-uri": "amqp:///" + quote(local_vhost, safe=""),
        "src-queue": agency.outgoing_queue_name(partner),
        "dest-protocol": "amqp091", "dest-uri": partner_uri, "dest-exchange": agency.IN,
        # acked at the source only once the partner's broker confirmed: nothing lost on the way
        "ack-mode": "on-confirm", "src-delete-after": "never", "dest-add-forward-headers": True,
        "reconnect-delay": 5,
    }


def upstream_definition(partner_uri: str) -> dict:
    # max-hops 1: a fact goes to the issuer's partners only, never on to theirs
    return {"uri": partner_uri, "exchange": agency.FACTS, "max-hops": 1, "ack-mode": "on-confirm",
            "reconnect-delay": 5}


FACTS_POLICY_DEFINITION = {"pattern": r"^wsli\.agency\.facts$", "apply-to": "exchanges", "priority": 10,
                           "definition": {"federation-upstream-set": "all"}}


class Ctl:
    """rabbitmqctl on this host."""

    def __init__(self, ctl: str | None = None):
        self.ctl = ctl or shutil.which("rabbitmqctl")
        if not self.ctl:
            raise RuntimeError("neither the management API nor rabbitmqctl is available")

    def _run(self, *args, check=True, attempts=12) -> str:
        # each CLI run is an Erlang node of its own on a port from a range of 11 by default: on a broker
        # host where many run at once, the range is exhausted ("Distribution failed"); widen it
        env = dict(os.environ)
        env.setdefault("RABBITMQ_CTL_DIST_PORT_MIN", "35672")
        env.setdefault("RABBITMQ_CTL_DIST_PORT_MAX", "35772")
        for attempt in range(attempts):
            done = subprocess.run([self.ctl, "-q", *args], capture_output=True, text=True, timeout=120, env=env)
            # the CLI's own Erlang node may fail to start when several CLIs run at once: try again
            if done.returncode == 0 or "Distribution failed" not in done.stderr + done.stdout:
                break
            time.sleep(2)
        if check and done.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args[:3])}: {done.stderr.strip() or done.stdout.strip()}")
        return done.stdout

    def set_parameter(self, vhost, component, name, value):
        self._run("set_parameter", "-p", vhost, component, name, json.dumps(value))

    def clear_parameter(self, vhost, component, name):
        self._run("clear_parameter", "-p", vhost, component, name, check=False)

    def set_policy(self, vhost, name, policy):
        self._run("set_policy", "-p", vhost, "--apply-to", policy["apply-to"], "--priority", str(policy["priority"]),
                  name, policy["pattern"], json.dumps(policy["definition"]))

    def parameters(self, vhost) -> list[dict]:
        out = self._run("list_parameters", "-p", vhost, "--formatter", "json")
        rows = json.loads(out or "[]")
        for r in rows:
            if isinstance(r.get("value"), str):
                r["value"] = json.loads(r["value"])
        return rows


class Api:
    """The management HTTP API."""

    def __init__(self, base: str, user: str, password: str):
        import requests
        self.base, self.session = base.rstrip("/"), requests.Session()
        self.session.auth = (user, password)

    @staticmethod
    def available(base: str, user: str, password: str) -> bool:
        import requests
        try:
            return requests.get(base.rstrip("/") + "/api/overview", auth=(user, password), timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def _url(self, *parts) -> str:
        return self.base + "/api/" + "/".join(quote(p, safe="") for p in parts)

    def set_parameter(self, vhost, component, name, value):
        self.session.put(self._url("parameters", component, vhost, name),
                         json={"value": value}, timeout=10).raise_for_status()

    def clear_parameter(self, vhost, component, name):
        response = self.session.delete(self._url("parameters", component, vhost, name), timeout=10)
        if response.status_code not in (204, 404):
            response.raise_for_status()

    def set_policy(self, vhost, name, policy):
        self.session.put(self._url("policies", vhost, name), json=policy, timeout=10).raise_for_status()

    def parameters(self, vhost) -> list[dict]:
        response = self.session.get(self._url("parameters") + "/", timeout=10)
        response.raise_for_status()
        return [p for p in response.json() if p.get("vhost") == vhost]


def admin_for(amqp_uri: str, api_base: str | None = None):
    parsed = urlparse(amqp_uri)
    user, password = unquote(parsed.username or "guest"), unquote(parsed.password or "guest")
    base = api_base or "http://127.0.0.1:15672"
    if Api.available(base, user, password):
        return Api(base, user, password)
    return Ctl()


def declare_local(amqp_uri: str, partner: str):
    """The exchanges, and the partner's durable outgoing queue, before a link points at them."""
    with Connection(amqp_uri) as conn:
        channel = conn.default_channel
        for name in agency.EXCHANGES:
            agency.exchange(name)(channel).declare()
        agency.outgoing_queue(partner)(channel).declare()


def add(admin, amqp_uri: str, partner: str, partner_uri: str, directed: bool = True, facts: bool = True):
    vhost = vhost_of(amqp_uri)
    declare_local(amqp_uri, partner)
    if directed:
        admin.set_parameter(vhost, "shovel", shovel_name(partner), shovel_definition(vhost, partner, partner_uri))
    if facts:
        admin.set_parameter(vhost, "federation-upstream", partner, upstream_definition(partner_uri))
        admin.set_policy(vhost, FACTS_POLICY, FACTS_POLICY_DEFINITION)


def remove(admin, amqp_uri: str, partner: str):
    """Stops both links. The outgoing queue stays (it holds what was not yet delivered); the partner's
    federation queue of our facts is the partner's to remove."""
    vhost = vhost_of(amqp_uri)
    admin.clear_parameter(vhost, "shovel", shovel_name(partner))
    admin.clear_parameter(vhost, "federation-upstream", partner)


def listing(admin, amqp_uri: str) -> list[dict]:
    links = {}
    for p in admin.parameters(vhost_of(amqp_uri)):
        if p.get("component") == "shovel" and p["name"].startswith("wsli-agency-to-"):
            partner = p["name"][len("wsli-agency-to-"):]
            links.setdefault(partner, {"partner": partner})["directed"] = _safe(p["value"].get("dest-uri", ""))
        elif p.get("component") == "federation-upstream":
            links.setdefault(p["name"], {"partner": p["name"]})["facts"] = _safe(p["value"].get("uri", ""))
    return sorted(links.values(), key=lambda r: r["partner"])


def _safe(uri: str) -> str:
    parsed = urlparse(uri)
    if parsed.password:
        return uri.replace(f":{parsed.password}@", ":***@")
    return uri


def definitions(links: dict[str, dict[str, dict]]) -> dict:
    """RabbitMQ definitions (``rabbitmqctl import_definitions``) for ``{agency: {partner: {uri, directed,
    facts}}}``: the same exchanges, queues, shovels, upstreams and policy ``add`` makes, for production."""
    out = {"exchanges": [], "queues": [], "bindings": [], "parameters": [], "policies": []}
    for own, partners in sorted(links.items()):
        for name in agency.EXCHANGES:
            out["exchanges"].append({"vhost": own, "name": name, "type": "topic", "durable": True,
                                     "auto_delete": False, "internal": False, "arguments": {}})
        for partner, link in sorted(partners.items()):
            if link.get("directed", True):
                queue = agency.outgoing_queue_name(partner)
                out["queues"].append({"vhost": own, "name": queue, "durable": True, "auto_delete": False,
                                      "arguments": {}})
                out["bindings"].append({"vhost": own, "source": agency.OUT, "destination": queue,
                                        "destination_type": "queue", "routing_key": f"{partner}.#", "arguments": {}})
                out["parameters"].append({"vhost": own, "component": "shovel", "name": shovel_name(partner),
                                          "value": shovel_definition(own, partner, link["uri"])})
            if link.get("facts", True):
                out["parameters"].append({"vhost": own, "component": "federation-upstream", "name": partner,
                                          "value": upstream_definition(link["uri"])})
        if any(link.get("facts", True) for link in partners.values()):
            out["policies"].append({"vhost": own, "name": FACTS_POLICY, **FACTS_POLICY_DEFINITION})
    return out
