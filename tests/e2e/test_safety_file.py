"""The enterprise safety file over HTTP, every part from its own service through the real broker:
risk (policies, requests), registration (enrolled people), training (those people as training
received them), subsidies (the lecture risk's request became); a service down is one part down."""
from __future__ import annotations

from datetime import date

import pytest

from tests.conftest import wait_for
from tests.e2e.risk_support import B, YEAR, _policies, world  # noqa: F401  (world: fixture)
from tests.support import resident_id

pytestmark = pytest.mark.e2e
PARTS = {"risk", "registration", "training", "subsidies"}


def test_an_enterprise_asks_for_a_lecture_and_its_file_shows_every_part(stack, admin, world):
    w, api = world, world["api"]
    _policies(admin, w)
    e1, code = w["e"][0], w["codes"][0]
    # a tour window of its own, years ahead, so that no other test's cycle holds the wished date
    wished = date(YEAR + 5, 3, 1 + int(w["tag"], 16) % 28)
    cycle = f"SF{w['tag']}"
    status, body = admin.put(f"/api/v1/subsidy-cycles/{cycle}", {
        "tour_start": wished.replace(day=1).isoformat(), "tour_end": wished.replace(day=28).isoformat(),
        "lecture_subsidy_fen": 30000})
    assert status == 200, body

    # registration: the unit enrols its principal and safety manager (seed 004)
    assert admin.put("/api/v1/district-quotas", {"year": 2018})[0] == 200
    for role, name in (("principal", "王主要"), ("safety_manager", "李安全")):
        status, body = admin.post("/api/v1/enrolments", {
            "year": 2018, "role": role, "unit": {"name": e1["name"], "credit_code": code, "staff_count": 120,
                                                 "operating_district": "朝阳"},
            "person": {"name": name, "id_number": resident_id(), "phone": "13700001111"}})
        assert status == 201, body

    # risk: the enterprise asks for an on-demand lecture; subsidies receives lecture_requested
    status, req = api["e1"].post(f"{B}/service-requests", {"kind": "lecture", "description": "有限空间作业安全宣讲",
                                                          "wished_date": wished.isoformat()})
    assert status == 201, req

    def file_when_complete():
        status, sf = api["e1"].get(f"/api/v1/safety-files/{code}")
        assert status == 200, sf
        parts = sf["parts"]
        done = (parts["subsidies"]["status"] == "ok" and parts["subsidies"]["data"]["orders"]
                and parts["training"]["status"] == "ok" and len(parts["training"]["data"]["people"]) == 2)
        return sf if done else None

    sf = wait_for(file_when_complete, timeout=20, message="the lecture order and enrolled people in the file")
    assert sf["missing"] == [] and {p for p, v in sf["parts"].items() if v["status"] == "ok"} == PARTS, sf
    (order,) = sf["parts"]["subsidies"]["data"]["orders"]
    assert (order["cycle"], order["status"], order["risk_request_id"], order["credit_code"]) == (
        cycle, "ordered", req["id"], code)
    assert order["wished_dates"] == [wished.isoformat()] and order["topic"] == "有限空间作业安全宣讲"
    assert {r["id"] for r in sf["parts"]["risk"]["data"]["requests"]} == {req["id"]}
    reg = sf["parts"]["registration"]["data"]
    assert reg["principal"] and reg["safety_manager"]
    assert {p["name"] for p in reg["enrolments"]} == {"王**", "李**"}, reg  # masked for the enterprise itself
    assert {p["role"] for p in sf["parts"]["training"]["data"]["people"]} == {"principal", "safety_manager"}

    # the center sees names in full; another enterprise sees nothing of it, part by part
    full = admin.as_(api["operator"].token).get(f"/api/v1/safety-files/{code}")[1]
    assert {p["name"] for p in full["parts"]["registration"]["data"]["enrolments"]} == {"王主要", "李安全"}
    other = api["e2"].get(f"/api/v1/safety-files/{code}")[1]
    assert {p: v["error"]["error"] for p, v in other["parts"].items()} == dict.fromkeys(PARTS, "not_found"), other
    status, junk = api["e1"].get("/api/v1/safety-files/91110000ABC")
    assert status == 400 and "credit_code" in junk["fields"], junk


def test_a_service_down_is_one_part_down(stack, admin, world):
    code = world["codes"][0]
    stack.runners["subsidies"].kill()  # the last test of the module: its stack goes with it
    status, sf = world["api"]["e1"].get(f"/api/v1/safety-files/{code}")
    assert status == 200 and sf["missing"] == ["subsidies"], sf
    assert sf["parts"]["subsidies"]["status"] == "unavailable"
    assert {p for p, v in sf["parts"].items() if v["status"] == "ok"} == PARTS - {"subsidies"}
