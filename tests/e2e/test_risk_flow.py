"""The risk-service programme over HTTP, through the gateway, on SQLite and PostgreSQL with RabbitMQ.

One policy year end to end: import, policies (one floating), a claim, the fund, the plan,
a visit with a general and a major hazard, rectification, a failed and a passed
re-inspection, the regulator's acknowledgement, a rated service, the star rating; the
unacknowledged major hazard escalating; the events on the broker; Nanhai's campaign figures.
Each test uses its own districts, so tests that share a stack never see each other's
enterprises in the figures they check.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from shared.db import make_engine
from tests.e2e.risk_support import (  # noqa: F401  (world, calendar_to_next_year: fixtures)
    B, PNG, YEAR, Listener, _policies, calendar_to_next_year, upload, world,
)

pytestmark = pytest.mark.e2e


def test_a_policy_year_from_import_to_the_star_rating(stack, admin, world, calendar_to_next_year):
    w, api = world, world["api"]
    a = w["ids"]["A"]["id"]
    e1, e2 = w["e"][0], w["e"][1]
    _policies(admin, w)

    # the fund: 15 % of 8,000,000 + 15 % of 1,000,000 = 1,200,000 + 150,000 = 1,350,000 fen for insurer A
    status, fund = api["insurerA"].get(f"{B}/insurers/{a}/fund", params={"year": YEAR})
    assert status == 200 and (fund["credited_fen"], fund["balance_fen"]) == (1_350_000, 1_350_000), fund
    assert {d["district"]: d["credited_fen"] for d in fund["districts"]} == {w["d1"]: 1_350_000}

    # the plan: one inspection per policy of the year, and running it again adds nothing
    status, plan = admin.post(f"{B}/inspection-plans", {"year": YEAR})
    assert status == 200 and plan["created"] >= 3, plan
    assert admin.post(f"{B}/inspection-plans", {"year": YEAR})[1]["created"] == 0
    status, mine = api["insurerA"].get(f"{B}/inspections", params={"year": YEAR})
    assert {i["enterprise_id"] for i in mine["items"]} == {e1["id"], e2["id"]}
    insp = next(i for i in mine["items"] if i["enterprise_id"] == e1["id"])
    assert insp["status"] == "planned" and insp["due_by"] == f"{YEAR}-12-31"

    # assignment and the visit: a general hazard, a major one, photos, the cost from the fund
    o1, t1 = w["ids"]["O1"]["id"], w["ids"]["O1tech"]["id"]
    assert api["insurerA"].post(f"{B}/inspections/{insp['id']}/assignment",
                                {"organisation_id": o1, "technician_id": w["ids"]["O2tech"]["id"]})[0] == 400
    status, insp = api["insurerA"].post(f"{B}/inspections/{insp['id']}/assignment", {
        "organisation_id": o1, "technician_id": t1, "scheduled_for": f"{YEAR}-11-20"})
    assert status == 200 and insp["status"] == "scheduled", insp
    status, photo = upload(api["org1"], f"{B}/photos", PNG + w["tag"].encode(), "现场.png", "image/png")
    assert status == 200 and photo["content_type"] == "image/png", photo
    visited = (datetime.now(timezone.utc) - timedelta(days=40)).isoformat()
    visit = {"visited_at": visited, "technician_id": t1, "findings": "脚手架未设防护栏；配电箱无漏电保护",
             "photos": [photo["key"]], "cost_fen": 100_000, "hazards": [
                 {"level": "general", "description": "脚手架未设防护栏", "location": "3号楼", "photos": [photo["key"]],
                  "rectify_working_days": 5},
                 {"level": "major", "description": "配电箱无漏电保护", "location": "工地配电房"}]}
    assert api["org2"].post(f"{B}/inspections/{insp['id']}/visit", visit)[0] == 404
    status, insp = api["org1"].post(f"{B}/inspections/{insp['id']}/visit", visit)
    assert status == 200 and insp["status"] == "done", insp
    general, major = sorted(insp["hazards"], key=lambda h: h["level"] != "general")
    assert general["overdue"] is True and major["overdue"] is False     # 5 working days passed long ago
    status, fund = api["insurerA"].get(f"{B}/insurers/{a}/fund", params={"year": YEAR})
    assert fund["balance_fen"] == 1_250_000 and fund["entries"][-1]["reference"] == f"inspection:{insp['id']}"

    overdue = api["regulator1"].get(f"{B}/hazards", params={"overdue": "true", "enterprise_id": e1["id"]})[1]
    assert [h["id"] for h in overdue["items"]] == [general["id"]]
    assert api["regulator2"].get(f"{B}/hazards", params={"enterprise_id": e1["id"]})[1]["total"] == 0

    # the sweep emits the overdue hazard once
    assert admin.post(f"{B}/sweeps")[1]["overdue"] >= 1
    assert admin.post(f"{B}/sweeps")[1]["overdue"] == 0

    # the major hazard: the district regulator and the operation center see it; the other district does not
    status, reports = api["regulator1"].get(f"{B}/major-hazard-reports")
    report = next(r for r in reports if r["hazard_id"] == major["id"])
    assert report["district"] == w["d1"] and report["acknowledged_at"] is None
    assert any(r["hazard_id"] == major["id"] for r in api["operator"].get(f"{B}/major-hazard-reports")[1])
    assert all(r["district"] == w["d2"] for r in api["regulator2"].get(f"{B}/major-hazard-reports")[1])
    assert api["regulator2"].post(f"{B}/major-hazard-reports/{report['id']}/acknowledgement", {})[0] == 404
    status, acked = api["regulator1"].post(f"{B}/major-hazard-reports/{report['id']}/acknowledgement",
                                           {"note": "已收到，督促整改"})
    assert status == 200 and acked["acknowledged_at"] and acked["escalated_at"] is None

    # rectification: the enterprise uploads evidence and asks for the re-inspection
    for hazard in (general, major):
        assert api["e2"].post(f"{B}/hazards/{hazard['id']}/evidence", {"note": "x", "done": True})[0] == 404
        status, h = api["e1"].post(f"{B}/hazards/{hazard['id']}/evidence",
                                   {"note": "已整改", "photos": [photo["key"]], "done": True})
        assert status == 200 and h["status"] == "awaiting_reinspection", h

    # first re-inspection: both items; the major one fails
    status, re1 = api["insurerA"].post(f"{B}/inspections/{insp['id']}/reinspections", {"technician_id": t1})
    assert status == 201 and re1["parent_id"] == insp["id"], re1
    assert sorted(i["hazard_id"] for i in re1["items"]) == sorted([general["id"], major["id"]])
    recheck = {"visited_at": datetime.now(timezone.utc).isoformat(), "technician_id": t1, "findings": "复查"}
    status, body = api["org1"].post(f"{B}/inspections/{re1['id']}/visit", dict(recheck, items=[
        {"hazard_id": general["id"], "passed": True}]))
    assert status == 400 and "items" in body["fields"]
    status, re1 = api["org1"].post(f"{B}/inspections/{re1['id']}/visit", dict(recheck, items=[
        {"hazard_id": general["id"], "passed": True}, {"hazard_id": major["id"], "passed": False,
                                                        "note": "整改后仍存在违规"}]))
    assert status == 200 and re1["result"] == "failed", re1
    assert admin.get(f"{B}/hazards/{general['id']}")[1]["status"] == "closed"
    assert admin.get(f"{B}/hazards/{major['id']}")[1]["status"] == "reopened"

    # the second re-inspection carries only the open item, and passes
    api["e1"].post(f"{B}/hazards/{major['id']}/evidence", {"note": "加装漏电保护器", "done": True})
    status, re2 = admin.post(f"{B}/inspections/{re1['id']}/reinspections", {})
    assert status == 201 and re2["parent_id"] == insp["id"] and [i["hazard_id"] for i in re2["items"]] == [major["id"]]
    status, re2 = api["org1"].post(f"{B}/inspections/{re2['id']}/visit", dict(recheck, items=[
        {"hazard_id": major["id"], "passed": True}]))
    assert status == 200 and re2["result"] == "passed"
    status, body = admin.post(f"{B}/inspections/{insp['id']}/reinspections", {})
    assert status == 422 and body["rule"] == "nothing_to_reinspect"

    # a service request: an on-demand lecture, dispatched, closed with its cost, rated once
    status, req = api["e1"].post(f"{B}/service-requests", {"kind": "lecture", "description": "施工安全专题宣讲"})
    assert status == 201 and req["insurer_id"] == a and req["enterprise_id"] == e1["id"], req
    assert api["e1"].post(f"{B}/service-requests/{req['id']}/rating", {"score": 5})[0] == 422   # not closed
    assert admin.post(f"{B}/service-requests/{req['id']}/assignment", {"organisation_id": o1})[1]["status"] == "assigned"
    status, req = api["org1"].post(f"{B}/service-requests/{req['id']}/closing",
                                   {"report": "宣讲一场，到场80人", "cost_fen": 50_000})
    assert status == 200 and req["status"] == "closed", req
    assert api["e2"].post(f"{B}/service-requests/{req['id']}/rating", {"score": 1})[0] == 404
    status, req = api["e1"].post(f"{B}/service-requests/{req['id']}/rating", {"score": 5, "comment": "讲得好"})
    assert status == 200 and req["rating"] == 5
    assert api["e1"].post(f"{B}/service-requests/{req['id']}/rating", {"score": 4})[0] == 409
    status, fund = admin.get(f"{B}/insurers/{a}/fund", params={"year": YEAR})
    assert fund["balance_fen"] == 1_200_000 and fund["debited_fen"] == 150_000

    # the star rating: prevention computed from the year, the rest scored by the center
    status, appraisal = admin.put(f"{B}/appraisals/{YEAR}/insurers/{a}", {"scores": {
        "organisation": 90, "underwriting": 85, "claims": 80, "publicity": 70, "complaints": 100}})
    assert status == 200, appraisal
    # inspections: 1 of 2 due done on time -> 25.00; hazards 2 of 2 closed -> 30.00; ratings 5/5 -> 20.00
    assert appraisal["facts"]["inspections_due"] == 2 and appraisal["facts"]["hazards_closed"] == 2
    prevention = next(d for d in appraisal["dimensions"] if d["dimension"] == "prevention")
    assert prevention["score"] == "75.00"
    # 9.00 + 17.00 + 16.00 + 22.50 + 7.00 + 10.00 = 81.50 -> 4 stars
    assert (appraisal["total"], appraisal["stars"]) == ("81.50", 4)
    assert api["insurerA"].get(f"{B}/appraisals/{YEAR}/insurers/{a}")[1]["total"] == "81.50"
    assert api["insurerB"].get(f"{B}/appraisals/{YEAR}/insurers/{a}")[0] == 404

    # coverage as the district regulator sees it
    status, cov = api["regulator1"].get(f"{B}/coverage", params={"year": YEAR})
    assert status == 200 and cov["enterprises"] == 2 and cov["insured"] == 2 and cov["insured_share"] == "100.00"
    assert (cov["mandatory_enterprises"], cov["mandatory_share"]) == (1, "100.00")
    assert cov["targets"]["mandatory_share"]["met"] and cov["targets"]["insured_share"]["met"]
    assert cov["hazards"] == {"general": 1, "major": 1, "found": 2, "rectified": 2, "open": 0}
    assert {(r["industry"], r["insured"]) for r in cov["rows"]} == {("建筑施工", 1), ("餐饮", 1)}


def test_major_hazard_unacknowledged_escalates_and_the_map_shows_open_hazards(stack, admin, world):
    w, api = world, world["api"]
    _policies(admin, w)
    admin.post(f"{B}/inspection-plans", {"year": YEAR})
    e3 = w["e"][2]
    insp = admin.get(f"{B}/inspections", params={"enterprise_id": e3["id"], "year": YEAR})[1]["items"][0]
    o2, t2 = w["ids"]["O2"]["id"], w["ids"]["O2tech"]["id"]
    admin.post(f"{B}/inspections/{insp['id']}/assignment", {"organisation_id": o2, "technician_id": t2})
    status, insp = api["org2"].post(f"{B}/inspections/{insp['id']}/visit", {
        "visited_at": datetime.now(timezone.utc).isoformat(), "technician_id": t2, "findings": "储罐区",
        "hazards": [{"level": "major", "description": "储罐区可燃气体报警器失效", "location": "储罐区"}]})
    assert status == 200, insp
    hazard_id = insp["hazards"][0]["id"]
    report = next(r for r in api["regulator2"].get(f"{B}/major-hazard-reports")[1] if r["hazard_id"] == hazard_id)
    # nobody acknowledges: move the report's time back past the window, as a day passing would
    engine = make_engine(stack.configs["risk"]["DB_URI"])
    try:
        with engine.begin() as conn:
            when = datetime.now(timezone.utc) - timedelta(hours=25)
            conn.execute(text("UPDATE major_reports SET reported_at = :t WHERE id = :i"),
                         {"t": when if stack.kind == "postgresql" else when.replace(tzinfo=None), "i": report["id"]})
    finally:
        engine.dispose()
    assert admin.post(f"{B}/sweeps")[1]["escalated"] >= 1
    escalated = next(r for r in admin.get(f"{B}/major-hazard-reports")[1] if r["id"] == report["id"])
    assert escalated["escalated_at"] and escalated["acknowledged_at"] is None
    assert admin.post(f"{B}/sweeps")[1]["escalated"] == 0    # once

    status, geo = api["regulator2"].get(f"{B}/risk-map")
    assert status == 200 and geo["type"] == "FeatureCollection"
    assert [f["properties"]["open_major"] for f in geo["features"]] == [1]
    assert geo["features"][0]["properties"]["town"] == "大良街道" and geo["features"][0]["geometry"] is None
    status, geo = api["regulator1"].get(f"{B}/risk-map")
    assert all(f["properties"]["district"] == w["d1"] for f in geo["features"])


def test_events_reach_the_broker(stack, admin, world):
    """A lecture request is an order for subsidies; a major hazard reaches the regulator and the center at once."""
    w = world
    listener = Listener(stack.configs["risk"]["AMQP_URI"], w["tag"], "lecture_requested", "major_hazard_reported")
    try:
        status, req = w["api"]["e3"].post(f"{B}/service-requests", {"kind": "lecture", "description": "危化品安全",
                                                                    "wished_date": f"{YEAR}-12-30"})
        assert status == 201, req
        event = listener.wait(lambda g: g["data"].get("request_id") == req["id"], "lecture_requested")
        assert event["type"] == "wsli.risk.lecture_requested.v1"
        assert event["data"]["credit_code"] == w["codes"][2] and event["data"]["audience_size"] == 80

        _policies(admin, w)
        admin.post(f"{B}/inspection-plans", {"year": YEAR})
        insp = admin.get(f"{B}/inspections", params={"enterprise_id": w["e"][2]["id"], "year": YEAR})[1]["items"][0]
        o2, t2 = w["ids"]["O2"]["id"], w["ids"]["O2tech"]["id"]
        admin.post(f"{B}/inspections/{insp['id']}/assignment", {"organisation_id": o2, "technician_id": t2})
        status, insp = w["api"]["org2"].post(f"{B}/inspections/{insp['id']}/visit", {
            "visited_at": datetime.now(timezone.utc).isoformat(), "technician_id": t2, "findings": "x",
            "hazards": [{"level": "major", "description": "液氯储罐泄漏报警失灵", "location": "罐区"}]})
        assert status == 200, insp
        hazard_id = insp["hazards"][0]["id"]
        event = listener.wait(lambda g: g["data"].get("hazard_id") == hazard_id, "major_hazard_reported")
        assert event["type"] == "wsli.risk.major_hazard_reported.v1" and event["data"]["action"] == "reported"
        assert event["data"]["district"] == w["d2"] and event["data"]["town"] == "大良街道"
    finally:
        listener.close()


def test_nanhai_campaign_figures_come_from_the_records(stack, admin, world):
    """Nanhai's campaign (佛山市南海区安责险事故预防共同服务体模式): 164 general and 13 major hazards found, 177 rectifications."""
    w = world
    _policies(admin, w)
    admin.post(f"{B}/inspection-plans", {"year": YEAR})
    e2 = w["e"][1]
    insp = admin.get(f"{B}/inspections", params={"enterprise_id": e2["id"], "year": YEAR})[1]["items"][0]
    o1, t1 = w["ids"]["O1"]["id"], w["ids"]["O1tech"]["id"]
    admin.post(f"{B}/inspections/{insp['id']}/assignment", {"organisation_id": o1, "technician_id": t1})
    found = [{"level": "general", "description": f"一般隐患{n}", "location": "厂区"} for n in range(164)] + \
            [{"level": "major", "description": f"重大隐患{n}", "location": "厂区"} for n in range(13)]
    status, insp = w["api"]["org1"].post(f"{B}/inspections/{insp['id']}/visit", {
        "visited_at": datetime.now(timezone.utc).isoformat(), "technician_id": t1, "findings": "专项排查",
        "hazards": found})
    assert status == 200 and len(insp["hazards"]) == 177, insp
    cov = w["api"]["regulator1"].get(f"{B}/coverage", params={"year": YEAR})[1]
    assert cov["hazards"] == {"general": 164, "major": 13, "found": 177, "rectified": 0, "open": 177}
    assert len([r for r in w["api"]["regulator1"].get(f"{B}/major-hazard-reports")[1]
                if r["district"] == w["d1"]]) == 13
    for hazard in insp["hazards"]:
        assert admin.post(f"{B}/hazards/{hazard['id']}/evidence", {"note": "已整改", "done": True})[0] == 200
    status, re = admin.post(f"{B}/inspections/{insp['id']}/reinspections", {})
    assert status == 201 and len(re["items"]) == 177
    status, re = w["api"]["org1"].post(f"{B}/inspections/{re['id']}/visit", {
        "visited_at": datetime.now(timezone.utc).isoformat(), "technician_id": t1, "findings": "复查",
        "items": [{"hazard_id": h["id"], "passed": True} for h in insp["hazards"]]})
    assert status == 200 and re["result"] == "passed"
    cov = w["api"]["regulator1"].get(f"{B}/coverage", params={"year": YEAR})[1]
    assert cov["hazards"] == {"general": 164, "major": 13, "found": 177, "rectified": 177, "open": 0}


def test_a_deadline_past_the_calendar_waits_for_the_year_to_be_added(stack, admin, world, tmp_path, monkeypatch):
    """A working day is never guessed. A made-up year (invented dates) far past the package:
    Tue 2099-06-02 and Wed 06-03 off, Saturday 06-06 worked."""
    from services.risk import inspections
    from shared import calendar as cal

    w, api = world, world["api"]
    previous = cal.configured_store()
    monkeypatch.setattr(cal, "RELOAD_SECONDS", 0.0)
    cal.configure_calendar(tmp_path / "calendar")
    try:
        _policies(admin, w)
        admin.post(f"{B}/inspection-plans", {"year": YEAR})
        e3 = w["e"][2]
        insp = admin.get(f"{B}/inspections", params={"enterprise_id": e3["id"], "year": YEAR})[1]["items"][0]
        o2, t2 = w["ids"]["O2"]["id"], w["ids"]["O2tech"]["id"]
        admin.post(f"{B}/inspections/{insp['id']}/assignment", {"organisation_id": o2, "technician_id": t2})
        shanghai = timezone(timedelta(hours=8))
        # the visit is on Monday 2099-06-01: the service's clock is moved there so it is not "in the future"
        monkeypatch.setattr(inspections, "utcnow", lambda: datetime(2099, 6, 1, 12, 0, tzinfo=shanghai))
        status, insp = api["org2"].post(f"{B}/inspections/{insp['id']}/visit", {
            "visited_at": datetime(2099, 6, 1, 9, 0, tzinfo=shanghai).isoformat(), "technician_id": t2,
            "findings": "消防通道", "hazards": [{"level": "general", "description": "消防通道堵塞", "location": "仓库",
                                                 "rectify_working_days": 3}]})
        assert status == 200, insp
        hazard = insp["hazards"][0]
        # recorded, nothing lost: no deadline yet, and the reason says so in Chinese
        assert hazard["deadline"] is None and hazard["deadline_pending"] == "calendar_range", hazard
        assert "节假日" in hazard["deadline_pending_label"] and hazard["overdue"] is False
        admin.post(f"{B}/sweeps")  # the year is still unknown: the deadline keeps waiting
        assert admin.get(f"{B}/hazards/{hazard['id']}")[1]["deadline_pending"] == "calendar_range"

        cal.CalendarStore(tmp_path / "calendar").add(
            {"year": 2099, "holidays": ["2099-06-02", "2099-06-03"], "workdays": ["2099-06-06"],
             "source": "虚构安排（测试）"}, actor="tester")
        status, swept = admin.post(f"{B}/sweeps")
        assert status == 200 and swept["deadlines_set"] >= 1, swept
        status, hazard = admin.get(f"{B}/hazards/{hazard['id']}")
        # Mon 06-01 + 3 working days: Thu 06-04, Fri 06-05, Sat 06-06 (worked)
        assert status == 200 and hazard["deadline"] == "2099-06-06" and hazard["deadline_pending"] is None, hazard
        assert hazard["deadline_pending_label"] is None
    finally:
        cal.configure_calendar(previous.directory if previous else None)
