"""Operators can follow one request across services, read metrics and see whether consumers caught up."""
from __future__ import annotations

import json
import logging
import uuid

import pytest
import requests
from sqlalchemy import text

from shared.db import make_engine
from shared.logs import JsonFormatter
from tests.conftest import wait_for
from tests.support import candidate_form, resident_id

pytestmark = pytest.mark.e2e


def outbox_bodies(uri, event_type):
    engine = make_engine(uri)
    try:
        with engine.connect() as conn:
            return [json.loads(r[0]) for r in conn.execute(
                text("SELECT body FROM outbox WHERE event_type = :t ORDER BY id"), {"t": event_type})]
    finally:
        engine.dispose()


def access_lines(caplog, request_id):
    formatter = JsonFormatter()
    return [json.loads(formatter.format(r)) for r in caplog.records
            if r.name == "wsli.access" and getattr(r, "request_id", None) == request_id]


def test_one_request_id_follows_the_request_through_rpc_events_and_logs(stack, admin, code, caplog):
    caplog.set_level(logging.INFO, logger="wsli.access")
    rid = "req-" + uuid.uuid4().hex
    response = admin.session.post(stack.base + "/api/v1/cycles", json={"code": code, "title": "t",
                                                                        "deadline": "2026-12-31"},
                                  headers={"Authorization": f"Bearer {admin.token}", "X-Request-ID": rid}, timeout=30)
    assert response.status_code == 201 and response.headers["X-Request-ID"] == rid
    created = [b for b in outbox_bodies(stack.configs["registration"]["DB_URI"], "wsli.registration.cycle_created.v1")
               if b["subject"] == code]
    assert [b["requestid"] for b in created] == [rid], "the event names the request that caused it"

    status, unit = admin.post("/api/v1/units", {"name": f"u-{code}", "kind": "social_org"})
    status, cand = admin.post("/api/v1/candidates", candidate_form(code, unit_id=unit["id"]))
    assert status == 201, cand
    admin.post(f"/api/v1/candidates/{cand['id']}/unit-approval", {"signed_by": "x"})
    approve = "req-" + uuid.uuid4().hex
    response = admin.session.post(stack.base + f"/api/v1/candidates/{cand['id']}/center-approval",
                                  json={"signed_by": "中心"},
                                  headers={"Authorization": f"Bearer {admin.token}", "X-Request-ID": approve},
                                  timeout=30)
    assert response.status_code == 200
    # the consumers of candidate_approved log under the same request id
    wanted = {"training.on_candidate_approved", "scoring.on_candidate_approved", "subsidies.on_candidate_approved"}
    wait_for(lambda: wanted <= {f"{l['service']}.{l['entrypoint']}" for l in access_lines(caplog, approve)},
             timeout=20, message="the consumers' log lines with the request id")
    lines = access_lines(caplog, approve)
    gateway = next(l for l in lines if l["service"] == "gateway")
    registration = next(l for l in lines if l["entrypoint"] == "center_approve")
    assert gateway["status"] == 200 and gateway["principal"] == "bootstrap-admin" and gateway["agency"] == "beijing"
    # the gateway's line is the access log: one per request, with what the web server's own line used to say
    assert (gateway["method"], gateway["path"], gateway["client"]) == (
        "POST", f"/api/v1/candidates/{cand['id']}/center-approval", "127.0.0.1")
    assert len([l for l in lines if l["service"] == "gateway"]) == 1
    assert registration["outcome"] == "ok" and registration["role"] == "admin"
    assert all(isinstance(l["duration_ms"], float) for l in lines)

    # a request id nobody gave is made up, never trusted when it is junk
    response = admin.session.get(stack.base + "/health", headers={"X-Request-ID": "bad id; <script>"}, timeout=10)
    assert response.headers["X-Request-ID"] != "bad id; <script>" and len(response.headers["X-Request-ID"]) == 32


def test_json_log_lines_mask_personal_numbers():
    number = resident_id()
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "looked up %s", (number,), None)
    record.principal = f"holder {number}"
    record.path = f"/api/v1/people/{number}"
    record.client = "13812345678"  # the shortest number masked: a mobile's 11 digits
    line = json.loads(JsonFormatter().format(record))
    assert number not in json.dumps(line, ensure_ascii=False) and line["message"].startswith("looked up")
    assert "13812345678" not in line["client"] and line["path"].startswith("/api/v1/people/")
    assert set(line) >= {"time", "level", "logger", "message", "principal", "path", "client"}


def test_a_request_is_logged_once_also_when_answered_before_a_handler(stack, caplog):
    caplog.set_level(logging.INFO)
    rid = "req-" + uuid.uuid4().hex
    response = requests.get(stack.base + "/no-such-page", headers={"X-Request-ID": rid}, timeout=10)
    assert response.status_code == 404 and response.json()["error"] == "not_found"
    wait_for(lambda: access_lines(caplog, rid), timeout=10, message="the access line of an unrouted request")
    [line] = access_lines(caplog, rid)
    assert (line["method"], line["path"], line["status"], line["client"]) == ("GET", "/no-such-page", 404, "127.0.0.1")
    health = "req-" + uuid.uuid4().hex
    assert requests.get(stack.base + "/health", headers={"X-Request-ID": health}, timeout=10).status_code == 200
    wait_for(lambda: access_lines(caplog, health), timeout=10, message="the access line of /health")
    # eventlet's own access line is not written beside ours
    assert not [r for r in caplog.records if r.name == "nameko.web.server" and "/health" in r.getMessage()]


def test_metrics_on_the_gateway(stack, admin):
    admin.get("/api/v1/cycles")
    response = requests.get(stack.base + "/metrics", timeout=10)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/plain")
    body = response.text
    assert 'wsli_entrypoint_calls_total{entrypoint="list_cycles",outcome="ok",service="registration"}' in body
    assert 'wsli_entrypoint_seconds_bucket{entrypoint="api"' in body
    assert 'wsli_outbox_pending{service="registration"}' in body
    assert "wsli_outbox_oldest_pending_seconds" in body and "wsli_inbox_processed" in body
    assert "\nwsli_dead_letters 0.0" in body


def test_lag_says_whether_every_consumer_caught_up(stack, admin, code):
    admin.post("/api/v1/cycles", {"code": code, "title": "t", "deadline": "2026-12-31"})
    status, unit = admin.post("/api/v1/units", {"name": f"u-{code}", "kind": "social_org"})
    ids = []
    for _ in range(3):
        _, cand = admin.post("/api/v1/candidates", candidate_form(code, unit_id=unit["id"]))
        admin.post(f"/api/v1/candidates/{cand['id']}/unit-approval", {"signed_by": "x"})
        assert admin.post(f"/api/v1/candidates/{cand['id']}/center-approval", {"signed_by": "y"})[0] == 200
        ids.append(cand["id"])

    def settled():
        status, report = admin.get("/api/v1/status/lag")
        assert status == 200, report
        return report if report["caught_up"] else None

    report = wait_for(settled, timeout=30, message="every consumer to catch up")
    by_handler = {c["handler"]: c for c in report["consumers"]}
    training = by_handler["training.on_candidate_approved"]
    assert training["event_type"] == "wsli.registration.candidate_approved.v1" and training["source"] == "registration"
    assert training["published"] == training["processed"] >= 3 and training["behind"] == 0
    assert training["oldest_unprocessed_age_s"] is None and training["queued"] == 0
    assert report["outboxes"]["registration"]["pending"] == 0 and report["dead_letters"] == 0
    assert set(by_handler) >= {"scoring.on_candidate_approved", "subsidies.on_candidate_approved"}

    operator_only = admin.as_(admin.token_for("unit", unit_id=unit["id"]))
    assert operator_only.get("/api/v1/status/lag")[0] == 403
