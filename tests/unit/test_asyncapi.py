"""docs/asyncapi.yaml passes the official AsyncAPI parser (npm @asyncapi/parser, installed by
`make install` from tools/asyncapi/package-lock.json) with no error and no warning, and
describes every event both on the broker and as a webhook."""
from __future__ import annotations

import json
import shutil
import subprocess

import yaml

from shared.config import REPO_ROOT
from shared.events import REGISTRY, STRUCTURED_CONTENT_TYPE

DOC = REPO_ROOT / "docs" / "asyncapi.yaml"
CHECK = REPO_ROOT / "tools" / "asyncapi" / "check.mjs"


def parse(path) -> dict:
    node = shutil.which("node")
    assert node, "node is needed for the AsyncAPI check (`make install` / .ci/run install it)"
    assert (REPO_ROOT / "tools" / "asyncapi" / "node_modules" / "@asyncapi" / "parser").is_dir(), \
        "the AsyncAPI parser is not installed: run `make install`"
    done = subprocess.run([node, str(CHECK), str(path)], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip(), done.stderr
    return json.loads(done.stdout)


def test_the_official_parser_reports_nothing_at_all():
    result = parse(DOC)
    assert result["parsed"] and result["version"] == "3.1.0"
    assert result["diagnostics"] == []


def test_the_check_does_catch_a_broken_document(tmp_path):
    doc = yaml.safe_load(DOC.read_text(encoding="utf-8"))
    del doc["info"]
    first = next(iter(doc["operations"]))
    doc["operations"][first]["channel"] = {"$ref": "#/channels/no-such-channel"}
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(doc), encoding="utf-8")
    result = parse(broken)
    assert not result["parsed"]
    assert [d for d in result["diagnostics"] if d["severity"] == "error"]


def test_every_event_is_described_on_the_broker_and_as_a_webhook():
    from shared.catalogue import load_all_event_schemas

    load_all_event_schemas()
    doc = yaml.safe_load(DOC.read_text(encoding="utf-8"))
    messages, webhooks = doc["components"]["messages"], doc["channels"]["webhooks"]["messages"]
    for type_, spec in REGISTRY.items():
        key = f"{spec.service}.{spec.name}.v{spec.version}"
        assert messages[key]["contentType"] == STRUCTURED_CONTENT_TYPE
        assert messages[key]["bindings"]["amqp"]["messageType"] == type_
        hook = messages[f"webhook.{key}"]
        assert webhooks[f"webhook.{key}"]["$ref"] == f"#/components/messages/webhook.{key}"
        assert hook["payload"] == messages[key]["payload"], "a webhook carries the broker's envelope"
        assert hook["contentType"] == "application/cloudevents+json"
    headers = doc["components"]["schemas"]["webhook.headers"]
    assert set(headers["required"]) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert len(doc["operations"]["deliver_webhooks"]["messages"]) == len(REGISTRY)


def test_every_cross_agency_message_is_described_on_its_own_exchange():
    from shared import agency
    from shared.asyncapi import render
    from shared.catalogue import load_all_event_schemas

    load_all_event_schemas()
    assert DOC.read_text(encoding="utf-8") == render(), "docs/asyncapi.yaml is stale: run `wsli asyncapi`"
    doc = yaml.safe_load(DOC.read_text(encoding="utf-8"))
    assert {("training", "certificate_issued"), ("cases", "case_forwarded"), ("cases", "case_result")} <= set(
        agency.MESSAGES)
    for (service, name), m in agency.MESSAGES.items():
        key = f"agency.{service}.{name}.v1"
        channel = doc["channels"][key]
        exchange = channel["bindings"]["amqp"]["exchange"]["name"]
        assert exchange == (agency.OUT if m.flow == agency.DIRECTED else agency.FACTS)
        assert exchange not in {f"{s}.events" for s in ("cases", "training")} and exchange != "nameko-rpc"
        assert channel["address"] == f"{{agency}}.{service}.{name}"
        assert doc["components"]["messages"][key]["bindings"]["amqp"]["messageType"] == m.type
        data = doc["components"]["schemas"][key]["properties"]
        assert set(data) == set(m.schema().fields), f"{key}: the document and the schema disagree"
        assert not {"person_key", "id_number", "bank_account"} & set(data), f"{key} carries personal numbers"
