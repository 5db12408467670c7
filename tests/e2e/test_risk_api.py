"""The risk-service programme over HTTP, through the gateway, on SQLite and PostgreSQL with RabbitMQ.

One policy year end to end: import, policies (one floating), a claim, the fund, the plan,
a visit with a general and a major hazard, rectification, a failed and a passed
re-inspection, the regulator's acknowledgement, a rated service, the star rating, the
QR code by role and the safety file. Each test uses its own districts, so tests that
share a stack never see each other's enterprises in the figures they check.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from shared.db import make_engine
from tests.conftest import wait_for
from tests.support import credit_code

pytestmark = pytest.mark.e2e

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
YEAR = datetime.now(timezone.utc).year
B = "/api/v1/risk"


def upload(api, path, data: bytes, name: str, ctype: str):
    return api.call("POST", path, raw=data, params={"filename": name}, headers={"Content-Type": ctype})


@pytest.fixture
def world(stack, admin):
    """Two insurers, two organisations with a technician each, and an enterprise import for last year."""
    tag = uuid.uuid4().hex[:6]
    d1, d2 = f"南海区{tag}", f"顺德区{tag}"
    ids = {}
    for key, name in (("A", f"甲财产保险{tag}"), ("B", f"乙财产保险{tag}")):
        status, body = admin.post(f"{B}/insurers", {"name": name})
        assert status == 201, body
        ids[key] = body
    status, branch = admin.post(f"{B}/insurers", {"name": f"甲财产保险{tag}桂城支公司", "parent_id": ids["A"]["id"]})
    assert status == 201 and branch["parent_id"] == ids["A"]["id"], branch
    ids["A-branch"] = branch
    for key in ("O1", "O2"):
        status, org = admin.post(f"{B}/organisations", {"name": f"安全技术服务{key}{tag}"})
        assert status == 201, org
        status, tech = admin.post(f"{B}/technicians", {"organisation_id": org["id"], "name": "李工", "phone": "13912345678"})
        assert status == 201 and tech["phone_masked"] == "139****5678", tech
        ids[key], ids[key + "tech"] = org, tech
    status, sub = admin.post(f"{B}/substations", {"name": f"桂城服务站{tag}", "district": d1, "town": "桂城街道",
                                                  "organisation_id": ids["O1"]["id"]})
    assert status == 201, sub
    codes = [credit_code() for _ in range(3)]
    header = "统一社会信用代码,企业名称,区,镇街,行业,从业人数,联系人,联系电话,经度,纬度,保险机构,保单年度,起保日期,终保日期,参保人数"
    last = YEAR - 1
    rows = [
        f"{codes[0]},佛山建工{tag},{d1},桂城街道,建筑施工,120,王五,13800001111,113.15,23.03,{ids['A']['name']},{last},{last}-01-01,{last}-12-31,100",
        f"{codes[1]},南海餐饮{tag},{d1},大沥镇,餐饮,30,赵六,13800002222,113.10,23.10,{ids['A']['name']},{last},{last}-01-01,{last}-12-31,20",
        f"{codes[2]},顺德化工{tag},{d2},大良街道,危险化学品,80,,,,,{ids['B']['name']},{last},{last}-01-01,{last}-12-31,60",
        f"91110000BADCODE000,坏行{tag},{d1},桂城街道,餐饮,5,,,,,,,,,",
        f"{credit_code()},缺行业{tag},{d1},桂城街道,,5,,,,,,,,,",
    ]
    csv_bytes = ("\ufeff" + "\n".join([header] + rows) + "\n").encode("utf-8")
    status, result = upload(admin, f"{B}/enterprise-imports", csv_bytes, "企业名单.csv", "text/csv")
    assert status == 200, result
    assert (result["created"], result["policies"], len(result["errors"])) == (3, 3, 2), result
    assert [e["row"] for e in result["errors"]] == [5, 6]
    assert "credit_code" in result["errors"][0]["fields"] and "industry" in result["errors"][1]["fields"]
    status, again = upload(admin, f"{B}/enterprise-imports", csv_bytes, "企业名单.csv", "text/csv")
    assert (again["created"], again["updated"], again["unchanged"], again["policies"]) == (0, 0, 3, 0), again
    status, page = admin.get(f"{B}/enterprises", params={"q": tag, "per_page": 10})
    ents = {e["credit_code"]: e for e in page["items"]}
    assert page["total"] == 3 and ents[codes[0]]["tier"] == "mandatory" and ents[codes[1]]["tier"] == "encouraged"
    assert ents[codes[0]]["phone_masked"] == "138****1111" and "contact_phone" not in ents[codes[0]]
    tokens = {
        "regulator1": admin.token_for("regulator", district=d1), "regulator2": admin.token_for("regulator", district=d2),
        "insurerA": admin.token_for("insurer", unit_id=ids["A"]["id"]),
        "insurerB": admin.token_for("insurer", unit_id=ids["B"]["id"]),
        "org1": admin.token_for("service_org", unit_id=ids["O1"]["id"]),
        "org2": admin.token_for("service_org", unit_id=ids["O2"]["id"]),
        "e1": admin.token_for("enterprise", person=codes[0]), "e2": admin.token_for("enterprise", person=codes[1]),
        "e3": admin.token_for("enterprise", person=codes[2]),
        "operator": admin.token_for("operator"), "integrator": admin.token_for("integrator"),
        "lecturer": admin.token_for("lecturer", person="p1"),
    }
    return {"tag": tag, "d1": d1, "d2": d2, "ids": ids, "codes": codes, "e": [ents[c] for c in codes],
            "api": {k: admin.as_(v) for k, v in tokens.items()}}


def _policies(admin, w):
    """This year's policies: E1 (no claim last year), E2 (a claim last year), E3 with insurer B."""
    a, b = w["ids"]["A"]["id"], w["ids"]["B"]["id"]
    status, pols = admin.get(f"{B}/policies", params={"enterprise_id": w["e"][1]["id"], "year": YEAR - 1})
    last_e2 = pols["items"][0]
    status, claim = w["api"]["e2"].post(f"{B}/claims", {"policy_id": last_e2["id"], "accident_date": f"{YEAR - 1}-06-01",
                                                         "description": "后厨烫伤一人", "casualties": 1})
    assert status == 201 and claim["status"] == "reported", claim
    insurer = w["api"]["insurerA"]
    assert insurer.post(f"{B}/claims/{claim['id']}/advances", {"amount_fen": 500000})[1]["advance_paid_fen"] == 500000
    assert insurer.post(f"{B}/claims/{claim['id']}/settlement", {"amount_fen": 800000})[0] == 422  # not surveyed
    assert insurer.post(f"{B}/claims/{claim['id']}/survey", {"notes": "现场查勘属实"})[1]["status"] == "surveyed"
    status, body = insurer.post(f"{B}/claims/{claim['id']}/settlement", {"amount_fen": 400000})
    assert status == 422 and body["rule"] == "settle_below_advance"
    assert insurer.post(f"{B}/claims/{claim['id']}/settlement", {"amount_fen": 800000})[1]["status"] == "settled"
    assert w["api"]["insurerB"].post(f"{B}/claims/{claim['id']}/survey", {"notes": "x"})[0] == 404
    period = {"year": YEAR, "period_start": f"{YEAR}-01-01", "period_end": f"{YEAR}-12-31"}
    out = []
    for ent, insurer_id, workers in ((w["e"][0], a, 100), (w["e"][1], a, 20), (w["e"][2], b, 60)):
        status, pol = admin.post(f"{B}/policies", dict(period, enterprise_id=ent["id"], insurer_id=insurer_id,
                                                       insured_workers=workers))
        assert status == 201, pol
        out.append(pol)
    # 建筑施工, no claim: floating 16‱; 100 × 50,000,000 fen × 16‱ = 8,000,000 fen
    assert (out[0]["rate_bp"], out[0]["floating"], out[0]["premium_fen"]) == (16, True, 8_000_000)
    assert "无理赔" in out[0]["rate_reason"]
    # 餐饮 with last year's claim: base 10‱; 20 × 50,000,000 × 10‱ = 1,000,000 fen
    assert (out[1]["rate_bp"], out[1]["floating"], out[1]["premium_fen"]) == (10, False, 1_000_000)
    assert "理赔1起" in out[1]["rate_reason"]
    assert admin.post(f"{B}/policies", dict(period, enterprise_id=w["e"][0]["id"], insurer_id=a,
                                            insured_workers=1))[0] == 409
    # an insurer issues only its own policies
    assert w["api"]["insurerB"].post(f"{B}/policies", dict(period, enterprise_id=w["e"][0]["id"], insurer_id=a,
                                                           insured_workers=1))[0] == 403
    return out


def test_a_policy_year_from_import_to_the_star_rating(stack, admin, world):
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


def test_overspending_the_fund_fails_at_the_database(stack, admin, world):
    w = world
    _policies(admin, w)
    b = w["ids"]["B"]["id"]
    # insurer B: 危险化学品 with no claim last year -> 21‱; 60 × 50,000,000 × 21‱ = 6,300,000; 15 % = 945,000 fen
    status, fund = admin.get(f"{B}/insurers/{b}/fund", params={"year": YEAR})
    assert fund["balance_fen"] == 945_000, fund
    debit = {"insurer_id": b, "year": YEAR, "amount_fen": 945_001, "reference": f"x-{w['tag']}", "memo": "培训"}
    status, body = w["api"]["insurerB"].post(f"{B}/fund-debits", debit)
    assert status == 422 and body["rule"] == "fund_overspent", body
    status, entry = w["api"]["insurerB"].post(f"{B}/fund-debits", dict(debit, amount_fen=945_000))
    assert status == 201 and entry["balance_after_fen"] == 0
    assert w["api"]["insurerA"].post(f"{B}/fund-debits", dict(debit, reference="y", amount_fen=1))[0] == 403

    # bypassing the service: the database itself refuses a negative balance or entry
    engine = make_engine(stack.configs["risk"]["DB_URI"])
    try:
        with pytest.raises(IntegrityError):
            with engine.begin() as conn:
                conn.execute(text("UPDATE fund_accounts SET balance_fen = balance_fen - 1, "
                                  "debited_fen = debited_fen + 1 WHERE insurer_id = :i AND year = :y"),
                             {"i": b, "y": YEAR})
        with pytest.raises(IntegrityError):
            with engine.begin() as conn:  # a balance that does not add up is refused too
                conn.execute(text("UPDATE fund_accounts SET balance_fen = balance_fen + 100 "
                                  "WHERE insurer_id = :i AND year = :y"), {"i": b, "y": YEAR})
        with pytest.raises(IntegrityError):
            with engine.begin() as conn:
                account = conn.execute(text("SELECT id FROM fund_accounts WHERE insurer_id = :i AND year = :y"),
                                       {"i": b, "y": YEAR}).scalar_one()
                conn.execute(text("INSERT INTO fund_entries (account_id, kind, amount_fen, balance_after_fen, "
                                  "reference, memo, posted_at) VALUES (:a, 'debit', 5, -5, 'direct', 'x', :t)"),
                             {"a": account, "t": datetime.now(timezone.utc).replace(tzinfo=None)})
    finally:
        engine.dispose()
    assert admin.get(f"{B}/insurers/{b}/fund", params={"year": YEAR})[1]["balance_fen"] == 0


def test_nobody_sees_an_enterprise_that_is_not_theirs(stack, admin, world):
    w, api = world, world["api"]
    _policies(admin, w)
    admin.post(f"{B}/inspection-plans", {"year": YEAR})
    e1, e2, e3 = w["e"]
    insp = admin.get(f"{B}/inspections", params={"enterprise_id": e1["id"], "year": YEAR})[1]["items"][0]
    admin.post(f"{B}/inspections/{insp['id']}/assignment",
               {"organisation_id": w["ids"]["O1"]["id"], "technician_id": w["ids"]["O1tech"]["id"]})
    # who may see which enterprise: everyone else gets 404 (or 403 for a role with no business here)
    sees = {
        "operator": [e1, e2, e3], "integrator": [e1, e2, e3], "regulator1": [e1, e2], "regulator2": [e3],
        "insurerA": [e1, e2], "insurerB": [e3], "e1": [e1], "e2": [e2], "e3": [e3], "org1": [e1], "org2": [],
    }
    sees = {role: {e["id"] for e in ents} for role, ents in sees.items()}
    for role, visible in sees.items():
        for ent in w["e"]:
            status, _ = api[role].get(f"{B}/enterprises/{ent['id']}")
            assert status == (200 if ent["id"] in visible else 404), (role, ent["name"], status)
        listed = {e["id"] for e in api[role].get(f"{B}/enterprises", params={"q": w["tag"]})[1]["items"]}
        assert listed == visible, role
        status, sf = api[role].get(f"{B}/safety-files/{e1['credit_code']}/risk")
        assert status == (200 if e1["id"] in visible else 404), role
        status, hz = api[role].get(f"{B}/policies", params={"year": YEAR, "per_page": 200})
        assert {p["enterprise_id"] for p in hz["items"]} & {e["id"] for e in w["e"]} <= visible, role
    assert api["lecturer"].get(f"{B}/enterprises/{e1['id']}")[0] == 403

    # a company sees what its branches insure; a branch only its own
    status, e4 = admin.post(f"{B}/enterprises", {"credit_code": credit_code(), "name": f"支公司客户{w['tag']}",
                                                 "district": w["d1"], "town": "桂城街道", "industry": "交通运输",
                                                 "staff_count": 12})
    assert status == 201 and e4["tier"] == "mandatory", e4
    assert admin.post(f"{B}/enterprises", dict(credit_code=e4["credit_code"], name="重复", district="x", town="y",
                                                industry="z", staff_count=1))[0] == 409
    status, _ = admin.post(f"{B}/policies", {"enterprise_id": e4["id"], "insurer_id": w["ids"]["A-branch"]["id"],
                                             "year": YEAR, "period_start": f"{YEAR}-02-01",
                                             "period_end": f"{YEAR + 1}-01-31", "insured_workers": 12})
    assert status == 201
    branch = admin.as_(admin.token_for("insurer", unit_id=w["ids"]["A-branch"]["id"]))
    assert api["insurerA"].get(f"{B}/enterprises/{e4['id']}")[0] == 200
    assert branch.get(f"{B}/enterprises/{e4['id']}")[0] == 200
    assert branch.get(f"{B}/enterprises/{e1['id']}")[0] == 404
    assert api["insurerB"].get(f"{B}/enterprises/{e4['id']}")[0] == 404
    assert admin.as_(None).get(f"{B}/enterprises/{e1['id']}")[0] == 401

    # the QR code: public minimum for anyone, the role's view for those entitled, every token scan audited
    status, code = api["e1"].post(f"{B}/enterprises/{e1['id']}/qr-code")
    assert status == 201 and e1["credit_code"] not in code["token"] and code["url"].endswith(code["token"])
    assert api["e2"].post(f"{B}/enterprises/{e1['id']}/qr-code")[0] == 404
    for fmt, ctype, magic in (("png", "image/png", b"\x89PNG"), ("svg", "image/svg+xml", b"<?xml"),
                              ("pdf", "application/pdf", b"%PDF-")):
        response = api["e1"].session.get(f"{stack.base}{B}/enterprises/{e1['id']}/qr-code/image",
                                         params={"format": fmt}, headers={"Authorization": f"Bearer {api['e1'].token}"})
        assert response.status_code == 200 and response.headers["Content-Type"].startswith(ctype)
        assert response.content.startswith(magic), fmt
    status, public = admin.as_(None).get(f"/api/v1/qr/{code['token']}")
    assert status == 200 and public["view"] == "public" and public["insured"] is True and "file" not in public
    assert public["policy_period"] == {"start": f"{YEAR}-01-01", "end": f"{YEAR}-12-31"}
    for role in ("e1", "regulator1", "insurerA", "operator"):
        status, scan = api[role].get(f"/api/v1/qr/{code['token']}")
        assert status == 200 and scan["view"] != "public" and scan["file"]["enterprise"]["id"] == e1["id"], role
    for role in ("e2", "regulator2", "insurerB", "org2", "lecturer"):
        status, scan = api[role].get(f"/api/v1/qr/{code['token']}")
        assert status == 200 and scan["view"] == "public" and "file" not in scan, role
    trail = admin.get(f"{B}/audit/enterprise/{e1['id']}")[1]
    assert sum(1 for t in trail if t["action"] == "qr.scan") == 9
    # a re-issued code revokes the old one
    status, new = admin.post(f"{B}/enterprises/{e1['id']}/qr-code")
    assert admin.as_(None).get(f"/api/v1/qr/{code['token']}")[0] == 404
    assert admin.as_(None).get(f"/api/v1/qr/{new['token']}")[0] == 200

    # the safety-file aggregate through the gateway: risk's part, the others reported
    status, sf = api["e1"].get(f"/api/v1/safety-files/{e1['credit_code']}")
    assert status == 200 and sf["parts"]["risk"]["status"] == "ok", sf
    assert sf["parts"]["risk"]["data"]["enterprise"]["credit_code"] == e1["credit_code"]
    assert {p["year"] for p in sf["parts"]["risk"]["data"]["policies"]} == {YEAR - 1, YEAR}
    assert set(sf["missing"]) == {"registration", "training", "subsidies"}
    status, sf = api["e2"].get(f"/api/v1/safety-files/{e1['credit_code']}")
    assert status == 200 and sf["parts"]["risk"]["status"] == "error" and sf["parts"]["risk"]["error"]["error"] == "not_found"


class Listener:
    """A queue bound to some of risk's routing keys, as a regulator's or the center's system would bind."""

    def __init__(self, amqp, tag, *keys):
        from kombu import Connection, Exchange, Queue
        self.conn = Connection(amqp)
        exchange = Exchange("risk.events", type="topic", durable=True)
        self.queue = Queue(f"test-risk-{tag}-{uuid.uuid4().hex[:6]}", exchange, routing_key=keys[0], auto_delete=True)
        self.queue(self.conn.default_channel).declare()
        for key in keys[1:]:
            self.queue(self.conn.default_channel).bind_to(exchange, routing_key=key)
        self.got = []

    def wait(self, predicate, message):
        import json

        def arrived():
            msg = self.queue(self.conn.default_channel).get(no_ack=True)
            if msg is not None:
                self.got.append(json.loads(msg.body))
            return next((g for g in self.got if predicate(g)), None)

        return wait_for(arrived, timeout=15, message=message)

    def close(self):
        self.conn.release()


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


def test_seed_002_campaign_figures_come_from_the_records(stack, admin, world):
    """Nanhai's campaign (seed 002): 164 general and 13 major hazards found, 177 rectifications."""
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


def test_xlsx_import_and_unreadable_files(stack, admin, world):
    import io
    from datetime import date

    from openpyxl import Workbook

    w = world
    wb = Workbook()
    ws = wb.active
    ws.append(["统一社会信用代码", "企业名称", "区", "镇街", "行业", "从业人数", "保险机构", "保单年度", "起保日期",
               "终保日期", "参保人数"])
    good = credit_code()
    ws.append([good, f"表格企业{w['tag']}", w["d2"], "乐从镇", "金属冶炼", 45, w["ids"]["B"]["name"], YEAR,
               date(YEAR, 3, 1), date(YEAR + 1, 2, 28), 45.0])
    ws.append([credit_code(), f"坏人数{w['tag']}", w["d2"], "乐从镇", "餐饮", "很多"])
    ws.append([credit_code(), f"坏保单{w['tag']}", w["d2"], "乐从镇", "餐饮", 3, "不存在的保险公司", YEAR,
               date(YEAR, 1, 1), date(YEAR, 12, 31), 3])
    buf = io.BytesIO()
    wb.save(buf)
    status, result = upload(admin, f"{B}/enterprise-imports", buf.getvalue(), "名单.xlsx",
                            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    assert status == 200, result
    assert (result["created"], result["policies"]) == (1, 1), result
    assert {e["row"]: sorted(e["fields"]) for e in result["errors"]} == {3: ["staff_count"], 4: ["insurer"]}
    pol = w["api"]["insurerB"].get(f"{B}/policies", params={"year": YEAR, "per_page": 200})[1]["items"]
    mine = [p for p in pol if p["period_start"] == f"{YEAR}-03-01"]
    assert len(mine) == 1 and mine[0]["rate_bp"] == 20 and mine[0]["rate_reason"].startswith("首次投保")
    for junk, name in ((b"PK\x03\x04broken zip", "x.xlsx"), (b"", "empty.csv"), (b'"a","b\n' + b"x" * 200000, "q.csv"),
                       (b"\xff\xfe\x00\x01", "bin.csv")):
        status, body = upload(admin, f"{B}/enterprise-imports", junk, name, "text/csv")
        assert status in (200, 400), (name, status, body)
        if status == 200:
            assert body["created"] == 0


def test_ratings_close_after_the_window(stack, admin, world):
    w = world
    _policies(admin, w)
    api = w["api"]
    status, req = api["e3"].post(f"{B}/service-requests", {"kind": "consultation", "description": "应急预案咨询"})
    admin.post(f"{B}/service-requests/{req['id']}/assignment", {"organisation_id": w["ids"]["O2"]["id"]})
    status, req = api["org2"].post(f"{B}/service-requests/{req['id']}/closing", {"report": "已答复"})
    assert status == 200 and req["status"] == "closed", req
    engine = make_engine(stack.configs["risk"]["DB_URI"])
    try:
        with engine.begin() as conn:
            when = datetime.now(timezone.utc) - timedelta(days=31)
            conn.execute(text("UPDATE service_requests SET closed_at = :t WHERE id = :i"),
                         {"t": when if stack.kind == "postgresql" else when.replace(tzinfo=None), "i": req["id"]})
    finally:
        engine.dispose()
    status, body = api["e3"].post(f"{B}/service-requests/{req['id']}/rating", {"score": 3})
    assert status == 422 and body["rule"] == "rating_window"
    assert api["e3"].post(f"{B}/service-requests/{req['id']}/rating", {"score": 6})[0] == 400
    mine = api["e3"].get(f"{B}/service-requests")[1]["items"]
    assert [r["id"] for r in mine] == [req["id"]]


def test_the_safety_file_degrades_when_risk_is_down(stack, admin, world):
    """Runs last in this module: it stops the risk service for good."""
    code = world["codes"][0]
    status, sf = admin.get(f"/api/v1/safety-files/{code}")
    assert status == 200 and sf["parts"]["risk"]["status"] == "ok"
    stack.runners["risk"].kill()
    status, health = stack.anonymous.get("/health")
    assert health["services"]["risk"]["status"] == "down" and health["status"] == "degraded"
    status, sf = admin.get(f"/api/v1/safety-files/{code}")
    assert status == 200 and sf["parts"]["risk"]["status"] == "unavailable"
    assert set(sf["missing"]) == {"risk", "registration", "training", "subsidies"}
