"""The gateway's own promises: health, OpenAPI, tokens, degradation when a service is down."""
from __future__ import annotations

import time

import pytest
from openapi_spec_validator import validate

from gateway.routes import ROUTES
from tests.conftest import wait_for

pytestmark = pytest.mark.e2e


def test_health_reports_every_service(stack):
    # on a CI machine running three suites at once a service may miss the probe's 2 s now and then:
    # the report is "degraded" for that moment, which is its job; wait for a moment all answer
    def healthy():
        answer = stack.anonymous.get("/health")
        return answer if answer[1].get("status") == "ok" else None

    status, body = wait_for(healthy, timeout=30, message="every service answering the health probe")
    assert status == 200
    assert body["status"] == "ok" and body["agency"] == "beijing"
    assert body["services"]["registration"]["status"] == "ok"
    assert body["services"]["gateway"]["status"] == "ok"


def test_openapi_is_valid_and_covers_every_route(stack):
    status, doc = stack.anonymous.get("/openapi.json")
    assert status == 200
    validate(doc)
    for route in ROUTES:
        path = route.path.replace("<", "{").replace(">", "}")
        assert route.method.lower() in doc["paths"][path], route.path
    candidate_in = doc["components"]["schemas"]["Registration.CandidateIn"]
    assert candidate_in["properties"]["name"]["maxLength"] == 50


def test_tokens_are_required_and_revocable(admin):
    anonymous = admin.as_(None)
    assert anonymous.get("/api/v1/cycles")[0] == 401
    assert admin.as_("wsli_made_up").get("/api/v1/cycles")[0] == 401
    assert admin.call("GET", "/api/v1/cycles", headers={"Authorization": "Basic abc"})[0] == 401

    status, minted = admin.post("/api/v1/tokens", {"role": "operator", "name": "中心-张"})
    assert status == 201 and minted["token"].startswith("wsli_")
    operator = admin.as_(minted["token"])
    assert operator.get("/api/v1/cycles")[0] == 200
    assert operator.post("/api/v1/tokens", {"role": "admin"})[0] == 403, "only admins mint tokens"
    status, listed = admin.get("/api/v1/tokens")
    assert minted["id"] in [t["id"] for t in listed] and all("token" not in t for t in listed)

    status, revoked = admin.delete(f"/api/v1/tokens/{minted['id']}")
    assert status == 200 and revoked["revoked_at"]
    assert operator.get("/api/v1/cycles")[0] == 401

    status, body = admin.post("/api/v1/tokens", {"role": "unit"})
    assert status == 400 and "unit_id" in body["fields"], "a unit token names its unit"
    status, body = admin.post("/api/v1/tokens", {"role": "public"})
    assert status == 400 and "role" in body["fields"]


def test_roles_without_business_get_403(admin):
    expert = admin.as_(admin.token_for("expert", person="E-1"))
    status, body = expert.get("/api/v1/candidates")
    assert status == 403 and "expert" in body["message"]


def test_the_dashboard_gathers_parts_from_several_services(admin):
    status, _ = admin.put("/api/v1/scoring/schemes/2022", {"published": "2022"})
    assert status == 200
    admin.post("/api/v1/cycles", {"code": "2022", "title": "2022年金牌宣讲员", "deadline": "2022-08-10"})
    status, dash = admin.get("/api/v1/dashboard", params={"cycle": "2022", "stage": "basic", "year": 2018})
    assert status == 200 and dash["missing"] == []
    assert dash["parts"]["cycle"]["status"] == "ok" and dash["parts"]["cycle"]["data"]["open"] is False
    assert dash["parts"]["ranking"]["status"] == "ok"
    assert set(dash["parts"]) == {"quota_report", "cycle", "lecture_compliance", "ranking", "enrolment_progress"}
    status, bad = admin.get("/api/v1/dashboard", params={"cycle": "2022", "stage": "nope"})
    assert status == 400 and "stage" in bad["fields"]
    # registration's three parts travel as one call: each still answers as the caller may
    unit = admin.post("/api/v1/units", {"name": "看板单位", "kind": "district_safety_office", "district": "东城区"})[1]
    own = admin.as_(admin.token_for("unit", unit_id=unit["id"]))
    status, dash = own.get("/api/v1/dashboard", params={"cycle": "2022", "year": 2018})
    assert status == 200 and dash["missing"] == [], dash
    assert dash["parts"]["cycle"]["status"] == "ok" and dash["parts"]["cycle"]["data"]["code"] == "2022"
    for part, route in (("quota_report", "/api/v1/cycles/2022/quota-report"),
                        ("enrolment_progress", "/api/v1/enrolment-progress/2018")):
        status, alone = own.get(route)
        got = dash["parts"][part]
        assert status == 403 and (got["status"], got["error"]["error"]) == ("error", alone["error"]), (part, got)


def test_tokens_expire_and_record_their_last_use(stack, admin):
    from sqlalchemy import update

    from gateway.models import ApiToken
    from shared.db import make_engine
    from shared.workdays import utcnow

    status, body = admin.post("/api/v1/tokens", {"role": "operator", "name": "short", "expires_in_days": 2})
    assert status == 201 and body["expires_at"] and body["last_used_at"] is None, body
    operator = admin.as_(body["token"])
    status, cycles = operator.get("/api/v1/cycles")
    assert status == 200, cycles
    listed = {t["id"]: t for t in admin.get("/api/v1/tokens")[1]}
    assert listed[body["id"]]["last_used_at"] is not None

    status, refused = admin.post("/api/v1/tokens", {"role": "operator", "expires_in_days": 0})
    assert status == 400 and "expires_in_days" in refused["fields"]

    engine = make_engine(stack.gateway_config["DB_URI"])
    with engine.begin() as conn:
        conn.execute(update(ApiToken.__table__).where(ApiToken.__table__.c.id == body["id"])
                     .values(expires_at=utcnow()))
    engine.dispose()
    # changed in the database behind the gateway: refused once its token cache lets go
    bound = float(stack.gateway_config["TOKEN_CACHE_SECONDS"])
    refused = wait_for(lambda: (lambda r: r if r[0] == 401 else None)(operator.get("/api/v1/cycles")),
                       timeout=bound + 3, message="the expired token to be refused")
    assert "过期" in refused[1]["message"]            # zh-CN unless English is asked for
    status, expired = operator.call("GET", "/api/v1/cycles", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert status == 401 and expired["error"] == "unauthenticated" and "expired" in expired["message"]


def test_a_token_revoked_behind_the_gateway_is_refused_within_the_cache_bound(stack, admin):
    from sqlalchemy import update

    from gateway.models import ApiToken
    from shared.db import make_engine
    from shared.workdays import utcnow

    status, body = admin.post("/api/v1/tokens", {"role": "operator", "name": "revoked-by-cli"})
    operator = admin.as_(body["token"])
    assert operator.get("/api/v1/cycles")[0] == 200  # now cached
    engine = make_engine(stack.gateway_config["DB_URI"])
    with engine.begin() as conn:  # what `wsli token revoke` or another gateway replica does
        conn.execute(update(ApiToken.__table__).where(ApiToken.__table__.c.id == body["id"])
                     .values(revoked_at=utcnow()))
    engine.dispose()
    revoked = time.monotonic()
    bound = float(stack.gateway_config["TOKEN_CACHE_SECONDS"])
    wait_for(lambda: operator.get("/api/v1/cycles")[0] == 401, timeout=bound + 3,
             message="the revoked token to be refused")
    assert time.monotonic() - revoked <= bound + 1.0


def test_replies_are_consumed_without_acks_and_requests_with_them(stack, admin, module_amqp_uri):
    """The gateway's reply queue is its own and transient: the broker sends replies unacked.
    The services' request queues keep their acks (a request is redelivered if a worker dies)."""
    import shutil
    from urllib.parse import unquote

    from shared.links import Ctl

    assert admin.get("/api/v1/cycles")[0] == 200  # a call and its reply went through
    vhost = unquote(module_amqp_uri.rsplit("/", 1)[1]) or "/"
    listed = Ctl(shutil.which("rabbitmqctl"))._run("list_consumers", "-p", vhost, "queue_name", "ack_required")
    ack_required = dict(line.split("\t")[:2] for line in listed.splitlines() if "\t" in line)
    replies = {q: a for q, a in ack_required.items() if q.startswith("rpc.reply-gateway")}
    assert replies and set(replies.values()) == {"false"}, ack_required
    assert ack_required["rpc-registration"] == "true", ack_required


def test_a_service_down_degrades_instead_of_failing(stack):
    """Runs last in this module: it stops registration for good."""
    admin = stack.admin
    status, _ = admin.post("/api/v1/cycles", {"code": "DOWN1", "title": "t", "deadline": "2026-12-31"})
    assert status == 201
    stack.registration.kill()

    status, health = stack.anonymous.get("/health")
    assert status == 200 and health["status"] == "degraded"
    assert health["services"]["registration"]["status"] == "down"
    assert health["services"]["gateway"]["status"] == "ok"

    status, body = admin.get("/api/v1/cycles/DOWN1")
    assert status == 503 and body["error"] == "service_unavailable"
    response = admin.session.get(stack.base + "/api/v1/cycles/DOWN1",
                                 headers={"Authorization": f"Bearer {admin.token}"}, timeout=10)
    assert response.status_code == 503 and int(response.headers["Retry-After"]) >= 1

    status, dash = admin.get("/api/v1/dashboard", params={"cycle": "DOWN1", "year": 2018})
    assert status == 200
    assert set(dash["missing"]) == {"quota_report", "cycle", "enrolment_progress"}
    assert {p for p, v in dash["parts"].items() if v["status"] == "unavailable"} == set(dash["missing"])
    assert dash["parts"]["lecture_compliance"]["status"] in ("ok", "error"), "subsidies still answers"
    # the gateway itself still serves its own routes
    assert admin.get("/api/v1/tokens")[0] == 200



def test_an_agency_adds_a_year_to_the_working_day_calendar(admin):
    """Invented arrangement for a far year: proves the route, never guesses a real year."""
    status, calendar = admin.get("/api/v1/calendar")
    assert status == 200 and calendar["last_day"] >= "2026-12-31"
    assert (calendar["warning"] is not None) == (calendar["days_left"] < 60)
    status, health = admin.as_(None).get("/health")
    assert health["calendar"]["last_day"] == calendar["last_day"]

    operator = admin.as_(admin.token_for("operator"))
    year = {"holidays": ["2098-06-02", "2098-06-03"], "workdays": ["2098-06-07"], "source": "虚构安排（测试）"}
    status, body = operator.put("/api/v1/calendar/2098", dict(year, holidays=["2098-02-30"]))
    assert status == 400 and "holidays" in body["fields"]
    status, body = operator.put("/api/v1/calendar/2098", dict(year, workdays=["2098-06-02"]))
    assert status == 400 and "workdays" in body["fields"], "a weekday cannot be an adjusted working day"
    unit = admin.as_(admin.token_for("unit", unit_id=1))
    assert unit.put("/api/v1/calendar/2098", year)[0] == 403

    status, added = operator.put("/api/v1/calendar/2098", year)
    assert status == 200 and added["year"] == 2098 and added["added_by"]
    status, body = operator.put("/api/v1/calendar/2098", year)
    assert status == 409 and "replace" in body["fields"]["year"][0]
    status, replaced = operator.put("/api/v1/calendar/2098", dict(year, holidays=["2098-06-02"], replace=True))
    assert status == 200 and replaced["holidays"] == ["2098-06-02"]
    status, calendar = admin.get("/api/v1/calendar")
    assert 2098 in calendar["added_years"]
    assert [y["holidays"] for y in calendar["years"] if y["year"] == 2098] == [["2098-06-02"]]
    status, trail = admin.get("/api/v1/audit/gateway/calendar_year/2098")
    assert status == 200 and [e["action"] for e in trail][-2:] == ["calendar.add", "calendar.replace"]


def test_a_call_to_a_service_that_never_ran_fails_fast(amqp_uri, tmp_path):
    """The gateway's RPC requests keep their publisher confirms: on a broker where no queue
    takes the call, the confirm comes back with the message returned, and the client gets
    a 503 at once instead of after the RPC timeout."""
    from nameko.runners import ServiceRunner

    from gateway.service import GatewayService
    from shared.migrate import upgrade
    from shared.catalogue import GATEWAY
    from tests.conftest import AGENCY, INDEX_KEY, PII_KEY, free_port
    from tests.e2e.conftest import Api

    db_uri = f"sqlite:///{tmp_path / 'gateway.db'}"
    upgrade(GATEWAY, db_uri)
    port, token = free_port(), "boot-fast"
    runner = ServiceRunner({"AMQP_URI": amqp_uri, "AGENCY_ID": AGENCY, "PII_KEYS": PII_KEY, "PII_INDEX_KEY": INDEX_KEY,
                            "serializer": "json", "DB_URI": db_uri, "BOOTSTRAP_TOKEN": token,
                            "WEB_SERVER_ADDRESS": f"127.0.0.1:{port}", "RPC_TIMEOUT_SECONDS": 10,
                            "RATE_LIMIT_ENABLED": False, "OUTBOX_RELAY": False})
    runner.add_service(GatewayService)
    runner.start()
    try:
        admin = Api(f"http://127.0.0.1:{port}", token)
        wait_for(lambda: _answers(admin), message="the gateway to listen")
        began = time.monotonic()
        status, body = admin.get("/api/v1/cycles/X1")
        took = time.monotonic() - began
        assert status == 503 and body["fields"] == {"service": ["registration"]} and "未运行" in body["message"], body
        assert took < 2.0, f"took {took:.1f}s: waited instead of failing fast"
    finally:
        runner.kill()


def _answers(api) -> bool:
    try:
        return api.get("/openapi.json")[0] == 200
    except Exception:  # not listening yet
        return False

