"""Webhooks end to end: registration emits, the webhooks service consumes from the real broker and
delivers to a real HTTP receiver on loopback, which verifies every signature with ``standardwebhooks``."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from services.registration.service import RegistrationService
from services.webhooks.models import Delivery
from services.webhooks.service import WebhooksService
from shared.auth import Principal
from shared.db import make_engine
from shared.errors import NotFound, RuleViolation, ValidationFailed
from shared.workdays import utcnow
from tests.conftest import ADMIN, AGENCY, free_port, rpc, wait_for
from tests.integration.receiver import Receiver

pytestmark = pytest.mark.integration

ACME = Principal(role="integrator", agency=AGENCY, name="acme")
OTHER = Principal(role="integrator", agency=AGENCY, name="other-integrator")
CYCLES = [{"service": "registration", "event": "cycle_*", "version": 1}]
V1 = "wsli.registration.cycle_created.v1"


class Stack:
    def __init__(self, databases, base_config, runners, **webhook_config):
        self.runners = runners
        self.reg = base_config(databases.migrated("registration"))
        self.wh_db = databases.migrated("webhooks")
        settings = {"WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8", "WEBHOOK_RETRY_SCHEDULE_SECONDS": "0,0.2,0.4",
                    "WEBHOOK_POLL_SECONDS": 0.05, "WEBHOOK_TIMEOUT_SECONDS": 2}
        settings.update(webhook_config)
        self.wh = base_config(self.wh_db, **settings)
        self.webhooks = runners(self.wh, WebhooksService)  # first: its queues must exist before events flow
        runners(self.reg, RegistrationService)
        self.codes = 0

    def emit(self, n: int = 1) -> list[str]:
        codes = []
        with rpc(self.reg, ADMIN) as cluster:
            for _ in range(n):
                self.codes += 1
                code = f"C{self.codes}"
                cluster.registration.create_cycle({"code": code, "title": f"cycle {code}", "deadline": "2026-12-31"})
                codes.append(code)
        return codes

    def call(self, method, *args, who=ACME):
        with rpc(self.wh, who) as cluster:
            return getattr(cluster.webhooks, method)(*args)

    def endpoint(self, receiver: Receiver, event_types=None, who=ACME) -> dict:
        out = self.call("create_endpoint", {"url": receiver.url, "event_types": event_types or CYCLES,
                                            "description": "test receiver"}, who=who)
        receiver.secrets = [out["secret"]]
        return out

    def deliveries(self, endpoint_id, **query):
        return self.call("list_deliveries", endpoint_id, query)


    def delivery_rows(self) -> int:
        engine = make_engine(self.wh_db)
        try:
            with engine.connect() as conn:
                return conn.execute(select(func.count()).select_from(Delivery)).scalar()
        finally:
            engine.dispose()


@pytest.fixture
def stack(databases, base_config, runners):
    return Stack(databases, base_config, runners)


@pytest.fixture
def receiver():
    r = Receiver(free_port()).start()
    yield r
    r.stop()


def cycles_of(received) -> list[str]:
    return [r.envelope["data"]["cycle"] for r in received]


def test_a_signed_delivery_verifies_and_carries_the_cloudevent(stack, receiver):
    endpoint = stack.endpoint(receiver)
    assert endpoint["secret"].startswith("whsec_") and endpoint["status"] == "enabled"
    assert "secret" not in stack.call("get_endpoint", endpoint["id"]), "the secret is shown once"
    stack.emit()
    (got,) = wait_for(receiver.verified, message="a verified delivery")
    envelope = got.envelope
    assert envelope["type"] == "wsli.registration.cycle_created.v1" and envelope["data"]["cycle"] == "C1"
    assert got.webhook_id == envelope["id"], "webhook-id is the CloudEvents id"
    assert got.headers["content-type"] == "application/cloudevents+json"
    assert abs(int(got.headers["webhook-timestamp"]) - got.at) < 60
    (delivery,) = wait_for(lambda: stack.deliveries(endpoint["id"], status="succeeded"), message="the log")
    assert delivery["event_id"] == envelope["id"] and delivery["last_status_code"] == 200
    detail = stack.call("get_delivery", delivery["id"])
    assert [a["outcome"] for a in detail["attempt_log"]] == ["ok"]
    assert detail["attempt_log"][0]["latency_ms"] >= 0 and detail["attempt_log"][0]["response_excerpt"] == "ok"


def test_only_matching_endpoints_get_an_event_and_integrators_see_only_their_own(stack, receiver):
    wanted = stack.endpoint(receiver)
    other = Receiver(free_port()).start()
    try:
        unwanted = stack.endpoint(other, [{"service": "registration", "event": "candidate_*", "version": "*"}],
                                  who=OTHER)
        stack.emit()
        wait_for(lambda: stack.deliveries(wanted["id"], status="succeeded"), message="the wanted delivery")
        assert stack.call("list_deliveries", unwanted["id"], {}, who=OTHER) == []
        assert other.received == []
    finally:
        other.stop()
    assert [e["id"] for e in stack.call("list_endpoints")] == [wanted["id"]]
    with pytest.raises(NotFound):
        stack.call("get_endpoint", unwanted["id"])
    assert {e["id"] for e in stack.call("list_endpoints", who=ADMIN)} == {wanted["id"], unwanted["id"]}


def test_a_receiver_that_was_down_gets_everything_once_it_is_back(databases, base_config, runners):
    stack = Stack(databases, base_config, runners, WEBHOOK_RETRY_SCHEDULE_SECONDS="0,0.3,0.3,0.5,0.5,1,1,1,1,1")
    receiver = Receiver(free_port())  # not started: the port refuses connections
    endpoint = stack.endpoint(receiver)
    stack.emit(3)
    wait_for(lambda: len(stack.deliveries(endpoint["id"])) == 3
             and all(d["attempts"] >= 2 for d in stack.deliveries(endpoint["id"])), message="failed attempts")
    assert all(d["status"] == "pending" and d["last_error"] for d in stack.deliveries(endpoint["id"]))
    receiver.start()
    try:
        wait_for(lambda: len(stack.deliveries(endpoint["id"], status="succeeded")) == 3, timeout=15,
                 message="all three delivered")
        assert sorted(cycles_of(receiver.verified())) == ["C1", "C2", "C3"]
        assert len(set(receiver.ids())) == 3 == len(receiver.received)
    finally:
        receiver.stop()


def test_500_then_200_delivers_twice_at_most_and_both_verify(stack, receiver):
    receiver.script = [(500, {})]
    endpoint = stack.endpoint(receiver)
    stack.emit()
    wait_for(lambda: stack.deliveries(endpoint["id"], status="succeeded"), message="the retried delivery")
    assert len(receiver.received) == 2
    first, second = receiver.received
    assert first.verified and second.verified
    assert first.webhook_id == second.webhook_id and first.body == second.body
    detail = stack.call("get_delivery", stack.deliveries(endpoint["id"])[0]["id"])
    assert [(a["outcome"], a["status_code"]) for a in detail["attempt_log"]] == [("retry", 500), ("ok", 200)]


def test_410_disables_the_endpoint_and_it_gets_nothing_more(stack, receiver):
    receiver.script = [(410, {})]
    endpoint = stack.endpoint(receiver)
    stack.emit()
    disabled = wait_for(lambda: (e := stack.call("get_endpoint", endpoint["id"]))["status"] == "disabled" and e,
                        message="the endpoint to be disabled")
    assert "410" in disabled["disabled_reason"] and disabled["disabled_at"]
    stack.emit()
    wait_for(lambda: len(stack.call("feed", {"type": V1})["items"]) == 2, message="the second event logged")
    assert len(stack.deliveries(endpoint["id"])) == 1 and len(receiver.received) == 1
    with pytest.raises(RuleViolation) as refused:
        stack.call("replay_delivery", stack.deliveries(endpoint["id"])[0]["id"], {})
    assert refused.value.rule == "webhook_endpoint_disabled"


def test_a_spent_schedule_disables_the_endpoint_with_the_reason(stack, receiver):
    receiver.default = (503, {})
    endpoint = stack.endpoint(receiver)
    stack.emit()
    disabled = wait_for(lambda: (e := stack.call("get_endpoint", endpoint["id"]))["status"] == "disabled" and e,
                        message="the endpoint to be disabled")
    assert "retry schedule" in disabled["disabled_reason"] and "HTTP 503" in disabled["disabled_reason"]
    (delivery,) = stack.deliveries(endpoint["id"])
    assert delivery["status"] == "failed" and delivery["attempts"] == 3 == len(receiver.received)

    # the integrator fixes its receiver, re-enables, and replays what it missed
    receiver.default = (200, {})
    assert stack.call("update_endpoint", endpoint["id"], {"enabled": True})["disabled_reason"] is None
    stack.call("replay_delivery", delivery["id"], {})
    wait_for(lambda: stack.deliveries(endpoint["id"], status="succeeded"), message="the replayed delivery")


def test_retry_after_is_honoured_and_redirects_are_not_followed(stack, receiver):
    elsewhere = Receiver(free_port()).start()
    try:
        receiver.script = [(503, {"Retry-After": "1"}), (302, {"Location": elsewhere.url})]
        endpoint = stack.endpoint(receiver)
        stack.emit()
        wait_for(lambda: stack.deliveries(endpoint["id"], status="succeeded"), timeout=15, message="delivery")
        first, second, third = receiver.received
        assert second.at - first.at >= 0.95, "Retry-After: 1 was not honoured"
        assert elsewhere.received == [], "a redirect was followed"
        outcomes = [(a["outcome"], a["status_code"]) for a in
                    stack.call("get_delivery", stack.deliveries(endpoint["id"])[0]["id"])["attempt_log"]]
        assert outcomes == [("retry", 503), ("retry", 302), ("ok", 200)]
    finally:
        elsewhere.stop()


def test_an_attempt_that_takes_too_long_times_out_and_is_retried(databases, base_config, runners, receiver):
    stack = Stack(databases, base_config, runners, WEBHOOK_TIMEOUT_SECONDS=0.5)
    receiver.script = [(200, {}, 3.0)]
    endpoint = stack.endpoint(receiver)
    stack.emit()
    wait_for(lambda: stack.deliveries(endpoint["id"], status="succeeded"), message="the retried delivery")
    log = stack.call("get_delivery", stack.deliveries(endpoint["id"])[0]["id"])["attempt_log"]
    assert [(a["outcome"], a["status_code"]) for a in log] == [("retry", None), ("ok", 200)]
    assert "Timeout" in log[0]["error"] or "timed out" in log[0]["error"].lower() or "within" in log[0]["error"]
    assert log[0]["latency_ms"] < 2500, "the attempt was not cut at its timeout"
    assert len({r.webhook_id for r in receiver.received}) == 1, "the retry carries the same webhook-id"


def test_replay_of_one_delivery_and_of_everything_since_a_time(stack, receiver):
    endpoint = stack.endpoint(receiver)
    before = utcnow() - timedelta(seconds=1)
    stack.emit(2)
    wait_for(lambda: len(stack.deliveries(endpoint["id"], status="succeeded")) == 2, message="two deliveries")
    first_ids = receiver.ids()
    newest = stack.deliveries(endpoint["id"])[0]
    assert stack.call("replay_delivery", newest["id"], {})["replayed"] == 1
    wait_for(lambda: len(receiver.received) == 3, message="the replayed delivery")
    assert receiver.received[2].webhook_id == newest["event_id"] and receiver.received[2].verified

    out = stack.call("replay_since", endpoint["id"], {"since": before.isoformat()})
    assert out["replayed"] == 2
    wait_for(lambda: len(receiver.received) == 5, message="everything since then again")
    assert sorted(receiver.ids()[3:]) == sorted(first_ids) and all(r.verified for r in receiver.received)
    assert stack.call("replay_since", endpoint["id"], {"since": utcnow().isoformat()})["replayed"] == 0
    with pytest.raises(ValidationFailed) as bad:
        stack.call("replay_since", endpoint["id"], {"since": "yesterday"})
    assert "since" in bad.value.fields


def test_a_rotated_secret_signs_beside_the_old_one_during_the_grace(stack, receiver):
    endpoint = stack.endpoint(receiver)
    old = receiver.secrets[0]
    rotated = stack.call("rotate_secret", endpoint["id"], {"grace_seconds": 3600})
    new = rotated["secret"]
    assert new != old and rotated["rotating_until"]
    receiver.secrets = [old]
    stack.emit()
    (got,) = wait_for(receiver.verified, message="a delivery verified with the old secret")
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    receiver.secrets = [new]
    stack.emit()
    wait_for(lambda: len(receiver.verified()) == 2, message="a delivery verified with the new secret")
    # a rotation without grace drops the old secret at once
    newest = stack.call("rotate_secret", endpoint["id"], {"grace_seconds": 0})["secret"]
    receiver.secrets = [newest]
    stack.emit()
    wait_for(lambda: len(receiver.verified()) == 3, message="verified with the newest secret alone")
    assert len(receiver.received[-1].headers["webhook-signature"].split(" ")) == 1


def test_deliveries_survive_a_dispatcher_restart(databases, base_config, runners):
    """The consumer writes delivery rows; a dispatcher started later (after a crash) sends them."""
    stack = Stack(databases, base_config, runners, WEBHOOK_DISPATCHER="false")
    receiver = Receiver(free_port()).start()
    try:
        endpoint = stack.endpoint(receiver)
        stack.emit(2)
        wait_for(lambda: stack.delivery_rows() == 2, message="two delivery rows")
        assert receiver.received == []
        stack.webhooks.kill()
        runners(dict(stack.wh, WEBHOOK_DISPATCHER="true"), WebhooksService)
        wait_for(lambda: len(stack.deliveries(endpoint["id"], status="succeeded")) == 2, message="both sent")
        assert sorted(cycles_of(receiver.verified())) == ["C1", "C2"]
    finally:
        receiver.stop()


def test_unsafe_targets_are_refused(stack):
    for url, words in [("ftp://127.0.0.1/x", "http and https"), ("http://user:pw@127.0.0.1/", "credentials"),
                       ("http://169.254.169.254/latest/meta-data", "link-local"),
                       ("http://10.1.2.3/hook", "private"), ("http://[::ffff:192.168.0.1]/", "private"),
                       ("http://no-such-host.invalid/", "does not resolve")]:
        with pytest.raises(RuleViolation) as refused:
            stack.call("create_endpoint", {"url": url, "event_types": CYCLES})
        assert refused.value.rule == "webhook_target" and words in refused.value.message, (url, refused.value)
    with pytest.raises(RuleViolation) as typo:
        stack.call("create_endpoint", {"url": "http://127.0.0.1:9/", "event_types": [{"event": "cycle_creatd"}]})
    assert typo.value.rule == "webhook_event_types"
    with pytest.raises(ValidationFailed) as bad:
        stack.call("create_endpoint", {"url": "http://127.0.0.1:9/", "event_types": [{"version": "two"}]})
    assert "event_types" in bad.value.fields


def test_the_feed_pages_in_order_and_an_integrator_catches_up_from_its_cursor(stack):
    stack.emit(5)
    wait_for(lambda: len(stack.call("feed", {"type": V1})["items"]) == 5, message="five events in the feed")
    # the log's order is the order the events were logged in (two consumers may log C5 before C4);
    # every page follows it, each event once
    logged = [e["data"]["cycle"] for e in stack.call("feed", {"type": V1})["items"]]
    assert sorted(logged) == [f"C{n}" for n in range(1, 6)]
    first = stack.call("feed", {"limit": "2", "type": V1})
    assert [e["data"]["cycle"] for e in first["items"]] == logged[:2] and first["has_more"]
    second = stack.call("feed", {"after": first["next"], "limit": 2, "type": V1})
    assert [e["data"]["cycle"] for e in second["items"]] == logged[2:4]
    saved = stack.call("feed", {"after": second["next"], "type": V1})
    assert [e["data"]["cycle"] for e in saved["items"]] == logged[4:] and not saved["has_more"]
    # the integrator goes away; events go on; it comes back with its cursor
    stack.emit(3)
    wait_for(lambda: len(stack.call("feed", {"after": saved["next"], "type": V1})["items"]) == 3,
             message="the catch-up")
    caught_up = stack.call("feed", {"after": saved["next"], "type": V1})
    later = [e["data"]["cycle"] for e in caught_up["items"]]
    assert sorted(later) == ["C6", "C7", "C8"]
    assert stack.call("feed", {"after": caught_up["next"], "type": V1})["items"] == []
    # unfiltered, v1 and v2 of each event come in the order they were logged
    every = stack.call("feed", {"limit": 500})["items"]
    assert len(every) == 16 and [e["type"][-2:] for e in every].count("v2") == 8
    assert [e["data"]["cycle"] for e in every if e["type"] == V1] == logged + later
    assert len(stack.call("feed", {"type": "wsli.registration.cycle_created.*"})["items"]) == 16
    assert stack.call("feed", {"type": "wsli.training.*"})["items"] == []
    for junk in ("not-a-cursor", "ZTE6LTE", "!!"):
        with pytest.raises(ValidationFailed) as bad:
            stack.call("feed", {"after": junk})
        assert "after" in bad.value.fields
    with pytest.raises(ValidationFailed):
        stack.call("feed", {"limit": 501})


def test_an_endpoint_choosing_v2_gets_v2_beside_a_v1_endpoint(stack, receiver):
    v1 = stack.endpoint(receiver)
    other = Receiver(free_port()).start()
    try:
        v2 = stack.endpoint(other, [{"service": "registration", "event": "cycle_created", "version": 2}])
        stack.emit()
        (old,) = wait_for(receiver.verified, message="v1 delivered")
        (new,) = wait_for(other.verified, message="v2 delivered")
    finally:
        other.stop()
    assert old.envelope["type"] == V1 and old.envelope["data"]["deadline"] == "2026-12-31"
    assert new.envelope["type"] == "wsli.registration.cycle_created.v2"
    assert new.envelope["data"]["closes_at"].startswith("2026-12-31T15:59:59")
    assert old.envelope["subject"] == new.envelope["subject"] == "C1"
    assert old.webhook_id != new.webhook_id, "each major is its own event"
    assert {v1["id"], v2["id"]} == {e["id"] for e in stack.call("list_endpoints")}
