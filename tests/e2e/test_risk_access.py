"""Risk over HTTP: who sees what (every role, the QR code by role, the safety file), the fund
refusing to overspend at the database, imports, the rating window, degradation.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from shared.db import make_engine
from tests.e2e.risk_support import B, YEAR, _policies, upload, world  # noqa: F401  (world: fixture)
from tests.support import credit_code

pytestmark = pytest.mark.e2e


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
    status, body = admin.post(f"{B}/policies", {"enterprise_id": e4["id"], "insurer_id": w["ids"]["B"]["id"],
                                                "year": YEAR + 1, "period_start": f"{YEAR}-06-01",
                                                "period_end": f"{YEAR + 2}-06-01", "insured_workers": 12})
    assert status == 400 and "period_start" in body["fields"], body
    status, body = admin.post(f"{B}/policies", {"enterprise_id": e4["id"], "insurer_id": w["ids"]["B"]["id"],
                                                "year": YEAR, "period_start": f"{YEAR}-06-01",
                                                "period_end": f"{YEAR + 2}-06-01", "insured_workers": 12})
    assert status == 400 and "one year" in str(body["fields"]["period_end"]), body
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
    trail = admin.get(f"/api/v1/audit/risk/enterprise/{e1['id']}")[1]
    assert sum(1 for t in trail if t["action"] == "qr.scan") == 9
    # a re-issued code revokes the old one
    status, new = admin.post(f"{B}/enterprises/{e1['id']}/qr-code")
    assert admin.as_(None).get(f"/api/v1/qr/{code['token']}")[0] == 404
    assert admin.as_(None).get(f"/api/v1/qr/{new['token']}")[0] == 200

    # the safety-file aggregate through the gateway: every part answered (tests/e2e/test_safety_file.py)
    status, sf = api["e1"].get(f"/api/v1/safety-files/{e1['credit_code']}")
    assert status == 200 and sf["parts"]["risk"]["status"] == "ok", sf
    assert sf["parts"]["risk"]["data"]["enterprise"]["credit_code"] == e1["credit_code"]
    assert {p["year"] for p in sf["parts"]["risk"]["data"]["policies"]} == {YEAR - 1, YEAR}
    assert sf["missing"] == [] and {v["status"] for v in sf["parts"].values()} == {"ok"}, sf
    status, sf = api["e2"].get(f"/api/v1/safety-files/{e1['credit_code']}")
    assert status == 200 and sf["parts"]["risk"]["status"] == "error" and sf["parts"]["risk"]["error"]["error"] == "not_found"


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
    # the other parts still answer, each from its own service
    assert sf["missing"] == ["risk"], sf
    assert {p: v["status"] for p, v in sf["parts"].items() if p != "risk"} == dict.fromkeys(
        ("registration", "training", "subsidies"), "ok"), sf
