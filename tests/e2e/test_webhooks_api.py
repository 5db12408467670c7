"""Webhooks and the event feed through the gateway, as an integrator uses them over HTTP."""
from __future__ import annotations

import pytest

from tests.conftest import free_port, wait_for
from tests.integration.receiver import Receiver

pytestmark = pytest.mark.e2e

V1 = "wsli.registration.cycle_created.v1"


@pytest.fixture
def integrator(stack, admin):
    return admin.as_(admin.token_for("integrator", name="acme-insurance"))


@pytest.fixture
def receiver():
    r = Receiver(free_port()).start()
    yield r
    r.stop()


def test_an_integrator_registers_an_endpoint_and_gets_signed_deliveries(admin, integrator, receiver, code):
    status, endpoint = integrator.post("/api/v1/webhooks/endpoints", {
        "url": receiver.url, "description": "cycles", "event_types": [
            {"service": "registration", "event": "cycle_created", "version": 2}]})
    assert status == 201, endpoint
    assert endpoint["secret"].startswith("whsec_") and endpoint["owner"] == "acme-insurance"
    receiver.secrets = [endpoint["secret"]]
    assert admin.post("/api/v1/cycles", {"code": code, "title": "t", "deadline": "2026-12-31"})[0] == 201

    got = wait_for(lambda: [r for r in receiver.verified() if r.envelope["subject"] == code], message="delivery")
    assert got[0].envelope["type"] == "wsli.registration.cycle_created.v2"
    status, deliveries = integrator.get(f"/api/v1/webhooks/endpoints/{endpoint['id']}/deliveries")
    assert status == 200 and deliveries[0]["event_id"] == got[0].webhook_id
    status, detail = integrator.get(f"/api/v1/webhooks/deliveries/{deliveries[0]['id']}")
    assert status == 200 and detail["attempt_log"][0]["status_code"] == 200
    status, replayed = integrator.post(f"/api/v1/webhooks/deliveries/{deliveries[0]['id']}/replay")
    assert status == 200 and replayed["replayed"] == 1
    wait_for(lambda: len([r for r in receiver.verified() if r.envelope["subject"] == code]) == 2, message="replay")

    status, rotated = integrator.post(f"/api/v1/webhooks/endpoints/{endpoint['id']}/rotate-secret", {})
    assert status == 200 and rotated["secret"] != endpoint["secret"]
    status, listed = integrator.get("/api/v1/webhooks/endpoints")
    assert status == 200 and "secret" not in listed[0]
    assert integrator.delete(f"/api/v1/webhooks/endpoints/{endpoint['id']}")[0] == 200
    assert integrator.get(f"/api/v1/webhooks/endpoints/{endpoint['id']}")[0] == 404


def test_the_event_feed_catches_up_from_an_opaque_cursor(admin, integrator, code):
    status, start = integrator.get("/api/v1/events", params={"type": V1, "limit": "500"})
    assert status == 200
    while start["has_more"]:
        start = integrator.get("/api/v1/events", params={"type": V1, "limit": "500", "after": start["next"]})[1]
    cursor = start["next"]
    for n in range(3):
        assert admin.post("/api/v1/cycles", {"code": f"{code}{n}", "title": "t", "deadline": "2026-12-31"})[0] == 201
    page = wait_for(lambda: (p := integrator.get("/api/v1/events", params={"after": cursor, "type": V1})[1])
                    and len(p["items"]) == 3 and p, message="three new events in the feed")
    assert [e["subject"] for e in page["items"]] == [f"{code}0", f"{code}1", f"{code}2"]
    status, body = integrator.get("/api/v1/events", params={"after": "garbage"})
    assert status == 400 and "after" in body["fields"]


def test_roles_and_unsafe_targets_are_refused(admin, integrator):
    unit_token = admin.token_for("unit", unit_id=1)
    assert admin.as_(unit_token).get("/api/v1/events")[0] == 403
    assert admin.as_(unit_token).get("/api/v1/webhooks/endpoints")[0] == 403
    status, body = integrator.post("/api/v1/webhooks/endpoints", {
        "url": "http://169.254.169.254/latest/meta-data/", "event_types": [{"service": "registration"}]})
    assert status == 422 and body["rule"] == "webhook_target" and "url" in body["fields"]
    status, body = integrator.post("/api/v1/webhooks/endpoints", {"url": "http://127.0.0.1:9/", "event_types": []})
    assert status == 400 and "event_types" in body["fields"]
    status, types = integrator.get("/api/v1/webhooks/event-types")
    assert status == 200 and {"type": V1} .items() <= next(t for t in types if t["type"] == V1).items()
