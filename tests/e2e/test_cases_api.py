"""A case campaign through the gateway, on a real broker and both databases: submission to release."""
from __future__ import annotations

import io
import random
from datetime import date, timedelta

import pytest

from shared.workdays import local_date, utcnow
from tests.cases_support import build_docx, build_pdf, legacy_doc, photo, report_paragraphs
from tests.conftest import wait_for
from tests.support import credit_code

pytestmark = pytest.mark.e2e

DOCX, PDF = build_docx(report_paragraphs()), build_pdf(report_paragraphs())
SHORT = report_paragraphs(practices=1500, profile=250)
SHORT_DOCX, SHORT_PDF = build_docx(SHORT), build_pdf(SHORT)


def campaign_body(year, deadline="2026-12-31", experts=3):
    return {"year": year, "title": f"{year}年案例征集（测试）", "deadline": deadline,
            "categories": [{"code": "tools_technology", "label": "工具技术产品类"}, {"code": "other", "label": "其他"}],
            "levels": [{"level": "best", "count": 1}, {"level": "excellent", "count": 1}],
            "scoring_form": [{"principle": p, "weight": w} for p, w in (
                ("authenticity", "0.2"), ("compliance", "0.15"), ("advancement", "0.2"), ("replicability", "0.2"),
                ("effectiveness", "0.25"))],
            "experts_per_case": experts, "disagreement_threshold": "15", "notice_working_days": 5,
            "ranking_basis": "normalised"}


# the module's tests share a stack: each world takes a campaign year no other world of it takes
CAMPAIGN_YEARS = iter(random.sample(range(2030, 2100), 70))


class World:
    """One campaign's people: staff, organisations with tokens, experts with tokens."""

    def __init__(self, admin, seed):
        self.admin = admin
        self.year = next(CAMPAIGN_YEARS)  # a campaign of its own: one with cases can no longer be replaced
        self.seed = seed
        status, body = admin.put(f"/api/v1/case-campaigns/{self.year}", campaign_body(self.year))
        assert status == 200, body
        self.operator = admin.as_(admin.token_for("operator", name=f"op-{seed}"))
        self.orgs, self.org_api = {}, {}
        for key in ("a", "b"):
            code = credit_code(seed * 10 + len(self.orgs))
            status, org = self.operator.post("/api/v1/case-organisations", {
                "name": f"{key.upper()}安全科技有限公司{seed}", "short_name": f"{key.upper()}科{seed}",
                "credit_code": code, "kind": "service_org", "declared_no_bad_record": True,
                "declared_not_dishonest": True, "contact_name": "联系人", "contact_phone": "13800138000"})
            assert status == 201, org
            self.orgs[key] = org
            self.org_api[key] = admin.as_(admin.token_for("organisation", unit_id=org["id"]))
        self.experts = {}
        for n in range(5):
            code = f"x{seed}-{n}"
            employer = self.orgs["a"]["credit_code"] if n == 0 else credit_code(seed * 10 + 5 + n)
            status, body = self.operator.post("/api/v1/case-experts", {
                "code": code, "name": f"专家{n}", "employer_credit_code": employer, "phone": "13900139000"})
            assert status == 201, body
            self.experts[code] = admin.as_(admin.token_for("expert", person=code))

    def upload(self, key, kind, filename, data, as_=None):
        api = as_ or self.org_api[key]
        return api.call("POST", "/api/v1/case-files", raw=data,
                        params={"kind": kind, "filename": filename},
                        headers={"Content-Type": "application/octet-stream"})

    def files(self, key, docx=DOCX, pdf=PDF):
        ids = {}
        for kind, name, data in (("report_docx", "报告.docx", docx), ("report_pdf", "报告.pdf", pdf)):
            status, body = self.upload(key, kind, name, data)
            assert status == 201, body
            ids[kind] = body["id"]
        photos = []
        for caption in ("现场隐患排查.jpg", "专家培训会.jpg"):
            status, body = self.upload(key, "photo", caption, photo())
            assert status == 201, body
            assert body["dpi"] == 300 and body["filename"] == caption[:-4]
            photos.append(body["id"])
        return {"report_docx": ids["report_docx"], "report_pdf": ids["report_pdf"], "photos": photos}

    def form(self, key, files, **kw):
        body = {"campaign": self.year, "channel": "self", "name": f"风险减量服务新模式{key}",
                "category": "tools_technology", "period_start": "2024-03", "period_end": "2025-12",
                "summary": "以安责险为纽带开展事故预防服务。", "creators": ["张三"], "participants": ["李四"],
                "files": files}
        body.update(kw)
        return body


@pytest.fixture
def world(admin):
    return World(admin, random.randrange(10**6))


def test_a_campaign_from_submission_to_release(admin, stack, world):
    op, org_a, org_b = world.operator, world.org_api["a"], world.org_api["b"]

    # the shipped 2023 campaign loads from its file and says how 字数 are counted
    status, shipped = op.put("/api/v1/case-campaigns/2023", {"published": 2023})
    assert status in (200, 422), shipped  # 422 once another test's cases depend on it
    status, shipped = org_a.get("/api/v1/case-campaigns/2023")
    assert status == 200 and shipped["deadline"] == "2023-10-31" and "汉字" in shipped["counting_rule"]

    # a legacy .doc and a junk file are refused at upload, clearly
    status, body = world.upload("a", "report_docx", "旧报告.doc", legacy_doc())
    assert status == 422 and body["rule"] == "legacy_doc" and ".docx" in body["message"]
    status, body = world.upload("a", "chart", "图1.png", photo(fmt="PNG"))
    assert status == 422 and body["rule"] == "charts_jpg"

    # pre-check of a short report: every rule answered at once, nothing submitted
    bad = world.files("a", SHORT_DOCX, SHORT_PDF)
    status, check = org_a.post("/api/v1/case-checks", {"files": bad, "creators": ["张三"]})
    assert status == 200 and check["acceptable"] is False
    failing = {f["rule"] for f in check["findings"] if f["outcome"] != "pass"}
    assert {"profile_length", "practices_length", "body_length"} <= failing
    practices = next(f for f in check["findings"] if f["rule"] == "practices_length")
    assert practices["kind"] == "hard" and "要求不少于 2,000 字" in practices["message"]
    status, body = org_a.post("/api/v1/cases", world.form("a", bad))
    assert status == 422 and body["rule"] == "report_format"
    assert {"profile_length", "practices_length", "body_length"} <= set(body["fields"])
    status, body = org_a.get("/api/v1/cases", params={"campaign": world.year})
    assert body["total"] == 0

    # another organisation's files are not usable
    status, body = org_b.post("/api/v1/cases", world.form("b", world.files("a")))
    assert status == 400 and "files.report_docx" in body["fields"]

    # two good cases: A submits by itself, B through a recommending unit
    status, case_a = org_a.post("/api/v1/cases", world.form("a", world.files("a")))
    assert status == 201, case_a
    assert case_a["status"] == "submitted" and len(case_a["files"]) == 4
    recommender = {"kind": "unit", "name": "某省保险行业协会", "credit_code": credit_code(world.seed * 10 + 9)}
    status, case_b = org_b.post("/api/v1/cases", world.form("b", world.files("b"), channel="unit_recommended",
                                                              recommender=recommender))
    assert status == 201, case_b
    status, case_c = org_b.post("/api/v1/cases", world.form("b", world.files("b"), name="第三个案例"))
    assert status == 201
    a, b, c = case_a["id"], case_b["id"], case_c["id"]
    assert org_b.get(f"/api/v1/cases/{a}")[0] == 404   # another organisation's case does not exist for B

    # screening: the recommended case needs its recommender's opinion, approval and contact first
    status, body = op.post(f"/api/v1/cases/{b}/screening", {"result": "pass"})
    assert status == 422 and body["rule"] == "recommendation_incomplete"
    status, body = org_b.post(f"/api/v1/cases/{b}/recommendation", {
        "opinion": "经审核，同意推荐。", "sealed_or_signed_by": "某省保险行业协会（公章）", "approved_on": "2026-11-20",
        "contact": {"name": "王五", "department": "会员部", "title": "主任", "office_phone": "010-68701150",
                    "mobile": "13811622760", "email": "wang@example.org"}})
    assert status == 200 and body["recommendation"]["contact"]["mobile"] == "13811622760"   # its own, unmasked
    for case_id in (a, b, c):
        status, body = op.post(f"/api/v1/cases/{case_id}/screening", {"result": "pass"})
        assert status == 200 and body["status"] == "screened", body
    status, body = op.post(f"/api/v1/cases/{a}/site-visits", {
        "visited_on": (local_date(utcnow()) - timedelta(days=1)).isoformat(), "place": "某化工园区",
        "visitors": ["调研员甲"], "findings": "现场核实了隐患排查台账。"})
    assert status == 200 and body["status"] == "site_visited"
    assert stack.admin.get(f"/api/v1/cases/{b}")[1]["recommendation"]["contact"]["mobile"] == "13811622760"

    # review: the expert employed by A is never assigned to A's case nor sees it
    conflicted = f"x{world.seed}-0"
    status, body = op.post(f"/api/v1/cases/{a}/assignments", {"experts": [conflicted, f"x{world.seed}-1",
                                                                         f"x{world.seed}-2"]})
    assert status == 422 and body["rule"] == "conflict_of_interest"
    status, plan = op.post(f"/api/v1/case-campaigns/{world.year}/assignments")
    assert status == 200 and plan["cases"] == 3, plan
    assert conflicted not in plan["assigned"][str(a)]
    assert all(len(v) == 3 for v in plan["assigned"].values())
    assert world.experts[conflicted].get(f"/api/v1/cases/{a}")[0] == 404
    listed = world.experts[conflicted].get("/api/v1/cases")[1]
    assert a not in [i["id"] for i in listed["items"]]

    # scores: an expert sees the others' sheets only after submitting their own
    marks = {"a": 90, "b": 80, "c": 70}
    first = {}
    for case_id, key in ((a, "a"), (b, "b"), (c, "c")):
        experts = plan["assigned"][str(case_id)]
        first[case_id] = experts[0]
        for n, code in enumerate(experts):
            api = world.experts[code]
            if n == 1:
                status, seen = api.get(f"/api/v1/cases/{case_id}/scores")
                assert status == 200 and seen["own_submitted"] is False
                assert seen["scores"] == [{"expert": code, "marks": None, "total": None, "comment": None,
                                           "scored_at": None}]
            score = marks[key] + n
            status, body = api.put(f"/api/v1/cases/{case_id}/scores/mine", {"marks": {
                p: str(score) for p in ("authenticity", "compliance", "advancement", "replicability",
                                        "effectiveness")}, "comment": "好"})
            assert status == 200, body
            if n == 1:
                assert body["own_submitted"] is True and sum(1 for s in body["scores"] if s["total"]) == 2
    outsider = next(code for code in world.experts if code not in plan["assigned"][str(c)])
    assert world.experts[outsider].put(f"/api/v1/cases/{c}/scores/mine", {"marks": {}})[0] == 404
    assert op.get(f"/api/v1/cases/{a}")[1]["status"] == "deliberation"

    status, results = op.get(f"/api/v1/case-campaigns/{world.year}/results")
    assert status == 200
    by_case = {r["case_id"]: r for r in results}
    assert by_case[a]["mean"] == "91.00" and by_case[a]["rank"] == 1 and by_case[a]["proposed_level"] == "best"
    assert by_case[b]["proposed_level"] == "excellent" and by_case[c]["proposed_level"] == "not_selected"
    status, why = op.get(f"/api/v1/cases/{a}/explanation")
    assert status == 200 and any("91.00" in line for line in why["lines"])

    status, levels = op.post(f"/api/v1/case-campaigns/{world.year}/levels", {})
    assert status == 200 and levels == {"levelled": 3, "best": 1, "excellent": 1, "not_selected": 1}

    # public notice, recorded as posted 30 days ago (so its window is over)
    status, body = op.post(f"/api/v1/case-campaigns/{world.year}/notice",
                           {"starts_on": (local_date(utcnow()) - timedelta(days=30)).isoformat()})
    assert status == 200, body
    status, public = stack.anonymous.get(f"/api/v1/public/case-campaigns/{world.year}/list")
    assert status == 200 and [x["case_id"] for x in public["cases"]] == [a, b] and public["released"] is False
    received = date.fromisoformat(body["notice_first_day"]) + timedelta(days=1)

    # a letter of objection received in the window blocks the release
    status, objection = op.post("/api/v1/public/case-objections", {
        "case_id": b, "name": "赵六", "contact": "13700137000", "reasons": "案例数据与实际情况不符，请核实。",
        "received_on": received.isoformat()})
    assert status == 201, objection
    assert objection["contact"] != "13700137000" and objection["status"] == "open"
    status, body = op.post(f"/api/v1/case-campaigns/{world.year}/release")
    assert status == 422 and body["rule"] == "objection_open"

    # a reviewer who scored the case may not judge the objection to it
    judge = admin.as_(admin.token_for("operator", name=f"judge-{world.seed}", person=first[b]))
    status, body = judge.post(f"/api/v1/case-objections/{objection['id']}/resolution",
                              {"decision": "dismissed", "resolution": "经核实，数据属实。"})
    assert status == 422 and body["rule"] == "reviewer_conflict"
    status, body = op.post(f"/api/v1/case-objections/{objection['id']}/resolution",
                           {"decision": "dismissed", "resolution": "经核实，数据属实。"})
    assert status == 200 and body["status"] == "dismissed"

    # listed as dishonest after submission: refused again at release
    status, _ = op.put("/api/v1/case-dishonesty-list", {"csv": world.orgs["a"]["credit_code"]})
    status, body = op.post(f"/api/v1/case-campaigns/{world.year}/release")
    assert status == 422 and body["rule"] == "dishonesty_list"
    assert op.put("/api/v1/case-dishonesty-list", {"csv": "统一社会信用代码\n"})[0] == 200

    status, released = op.post(f"/api/v1/case-campaigns/{world.year}/release")
    assert status == 200, released
    assert released["released"] == 2
    number = released["certificates"][0]
    status, verify = stack.anonymous.get(f"/api/v1/case-certificates/{number}/verify")
    assert status == 200 and verify["status"] == "valid" and verify["level_label"] == "最佳案例"
    assert stack.anonymous.get("/api/v1/case-certificates/AZX1999-ZJ-0001/verify")[1]["status"] == "unknown"
    status, public = stack.anonymous.get(f"/api/v1/public/case-campaigns/{world.year}/list")
    assert public["released"] is True and public["cases"][0]["certificate_number"] == number

    wait_for(lambda: _published(stack, a, "case_released"), message="case_released published")
    assert op.post(f"/api/v1/case-campaigns/{world.year}/levels", {})[1]["rule"] == "notice_opened"

    # exports open with the libraries that read them
    import docx
    import openpyxl
    response = op.session.get(op.base + f"/api/v1/case-campaigns/{world.year}/released.xlsx",
                              headers={"Authorization": f"Bearer {op.token}"})
    assert response.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == f"{world.year}年入选案例"  # the title row, then the header
    assert rows[1][:4] == ("证书编号", "级别", "案例名称", "申报单位") and len(rows) == 4
    assert rows[2][0] == number and rows[2][1] == "最佳案例"
    response = op.session.get(op.base + f"/api/v1/case-campaigns/{world.year}/book.docx",
                              headers={"Authorization": f"Bearer {op.token}"})
    book = docx.Document(io.BytesIO(response.content))
    text = "\n".join(p.text for p in book.paragraphs)
    assert "风险减量服务新模式a" in text and "二、主要做法" in text and number in text
    response = org_a.session.get(org_a.base + f"/api/v1/case-certificates/{number}/pdf",
                                 headers={"Authorization": f"Bearer {org_a.token}"})
    assert response.status_code == 200 and response.content.startswith(b"%PDF-")

    # a released case can no longer be withdrawn; every step is in the audit trail
    status, body = org_a.post(f"/api/v1/cases/{a}/withdrawal", {"reason": "撤回"})
    assert status == 422 and body["rule"] == "status_transition"
    status, trail = op.get(f"/api/v1/audit/cases/case/{a}")
    actions = [t["action"] for t in trail]
    assert actions[:3] == ["case.submit", "case.screen", "case.site_visit"] and "case.release" in actions


def test_release_waits_for_the_notice_window_and_objections_are_rate_limited(admin, stack, world):
    op, org_a = world.operator, world.org_api["a"]
    status, case = org_a.post("/api/v1/cases", world.form("a", world.files("a")))
    assert status == 201, case
    case_id = case["id"]
    assert op.post(f"/api/v1/cases/{case_id}/screening", {"result": "pass"})[0] == 200
    status, plan = op.post(f"/api/v1/case-campaigns/{world.year}/assignments")
    assert status == 200
    # an assigned expert declares a conflict: off the panel at once, the case vanishes for them
    leaving = plan["assigned"][str(case_id)][0]
    status, body = world.experts[leaving].post(f"/api/v1/case-experts/{leaving}/conflicts",
                                               {"case_id": case_id, "reason": "曾为该单位提供咨询"})
    assert status == 201, body
    assert world.experts[leaving].get(f"/api/v1/cases/{case_id}")[0] == 404
    other = plan["assigned"][str(case_id)][1]
    assert world.experts[other].post(f"/api/v1/case-experts/{leaving}/conflicts",
                                     {"case_id": case_id, "reason": "x"})[0] == 404
    assert world.experts[other].get(f"/api/v1/case-experts/{leaving}/conflicts")[0] == 404
    status, plan = op.post(f"/api/v1/case-campaigns/{world.year}/assignments")   # the panel is topped up
    assert status == 200 and len(plan["assigned"][str(case_id)]) == 1 and leaving not in plan["assigned"][str(case_id)]
    status, body = op.get(f"/api/v1/cases/{case_id}/scores")
    codes = [s["expert"] for s in body["scores"]]
    assert len(codes) == 3 and leaving not in codes
    for code in codes:
        assert world.experts[code].put(f"/api/v1/cases/{case_id}/scores/mine", {"marks": {
            p: "88" for p in ("authenticity", "compliance", "advancement", "replicability", "effectiveness")}})[0] == 200
    assert op.post(f"/api/v1/case-campaigns/{world.year}/levels", {})[0] == 200
    today = local_date(utcnow())
    status, body = op.post(f"/api/v1/case-campaigns/{world.year}/notice", {"starts_on": today.isoformat()})
    assert status == 200, body

    # the public files objections without a token, a few a day per contact
    form = {"case_id": case_id, "name": "公众甲", "contact": "someone@example.org",
            "reasons": "该案例的成效数据似乎有夸大，请核实。"}
    if date.fromisoformat(body["notice_first_day"]) <= today:
        for _ in range(3):
            status, objection = stack.anonymous.post("/api/v1/public/case-objections", form)
            assert status == 201, objection
        status, body = stack.anonymous.post("/api/v1/public/case-objections", form)
        assert status == 429, body
        status, page = op.get(f"/api/v1/case-campaigns/{world.year}/objections", params={"status": "open"})
        assert page["total"] == 3
    status, body = op.post(f"/api/v1/case-campaigns/{world.year}/release")
    assert status == 422 and body["rule"] == "notice_window"

    # the organisation withdraws its case while on notice: an event, and it leaves the public list
    status, body = org_a.post(f"/api/v1/cases/{case_id}/withdrawal", {"reason": "单位决定撤回"})
    assert status == 200 and body["status"] == "withdrawn"
    status, public = stack.anonymous.get(f"/api/v1/public/case-campaigns/{world.year}/list")
    assert status == 200 and public["cases"] == []
    wait_for(lambda: _published(stack, case_id, "case_withdrawn"), message="case_withdrawn published")


def _published(stack, case_id, event) -> bool:
    """The relay marked the event sent: RabbitMQ confirmed it."""
    from sqlalchemy import text

    from shared.db import make_engine
    engine = make_engine(stack.configs["cases"]["DB_URI"])
    try:
        with engine.connect() as conn:
            return bool(conn.execute(text(
                "SELECT 1 FROM outbox WHERE routing_key = :e AND subject = :s "
                "AND published_at IS NOT NULL"), {"e": event, "s": str(case_id)}).first())
    finally:
        engine.dispose()


def test_dishonest_organisations_are_refused_at_submission_and_release(admin, world):
    op, org_b = world.operator, world.org_api["b"]
    files = world.files("b")
    status, body = op.put("/api/v1/case-dishonesty-list",
                          {"csv": f"统一社会信用代码\n{world.orgs['b']['credit_code']}\n"})
    assert status == 200 and body["codes"] == 1
    status, body = org_b.post("/api/v1/cases", world.form("b", files))
    assert status == 422 and body["rule"] == "dishonesty_list"
    # eligibility is declared by the organisation itself
    org_id = world.orgs["b"]["id"]
    assert org_b.put(f"/api/v1/case-organisations/{world.orgs['a']['id']}/declaration",
                     {"declared_no_bad_record": True, "declared_not_dishonest": True})[0] == 404
    assert org_b.get(f"/api/v1/case-organisations/{world.orgs['a']['id']}")[0] == 404, "another's: as if missing"
    status, body = org_b.put(f"/api/v1/case-organisations/{org_id}/declaration",
                             {"declared_no_bad_record": False, "declared_not_dishonest": True})
    assert status == 200 and body["declared_no_bad_record"] is False
    status, body = org_b.post("/api/v1/cases", world.form("b", files))
    assert status == 422 and body["rule"] == "eligibility_declaration"
    assert org_b.put(f"/api/v1/case-organisations/{org_id}/declaration",
                     {"declared_no_bad_record": True, "declared_not_dishonest": True})[0] == 200
    assert op.put("/api/v1/case-dishonesty-list", {"csv": "统一社会信用代码\n"})[1]["codes"] == 0
    # the form of 附件一: each bad field named
    for change, field in (({"period_start": "2024-13"}, "period_start"), ({"creators": ["甲", "乙", "丙"]}, "creators"),
                          ({"participants": ["甲", "乙", "丙", "丁", "戊"]}, "participants"),
                          ({"summary": "字" * 801}, "summary"), ({"period_end": "2099-01"}, "period_end"),
                          ({"category": "other"}, "category_other"), ({"channel": "courier"}, "channel")):
        status, body = org_b.post("/api/v1/cases", dict(world.form("b", files), **change))
        assert status == 400 and field in body["fields"], (change, body)
    status, body = org_b.post("/api/v1/cases", world.form("b", files))
    assert status == 201, body
    # the campaign now has a case: its settings stay as they are
    status, body = op.put(f"/api/v1/case-campaigns/{world.year}", campaign_body(world.year))
    assert status == 422 and body["rule"] == "campaign_in_use"
    # an organisation is registered once per credit code; a branch names its parent
    status, body = op.post("/api/v1/case-organisations", {"name": "重复", "credit_code": world.orgs["b"]["credit_code"],
                                                          "kind": "insurer"})
    assert status == 409
    status, body = op.post("/api/v1/case-organisations", {"name": "某分公司", "credit_code": credit_code(),
                                                          "kind": "insurer", "branch": True})
    assert status == 400 and "parent_name" in body["fields"]
    status, body = op.post("/api/v1/case-organisations", {"name": "某分公司", "credit_code": "91110000000000000X",
                                                          "kind": "insurer"})
    assert status == 400 and "credit_code" in body["fields"]


def test_junk_in_every_field_of_the_case_forms_is_refused_cleanly(admin, stack, world):
    """Random values in each field of the cases' bodies: a 4xx naming a field or a rule, never a 5xx."""
    op, org_a = world.operator, world.org_api["a"]
    files = world.files("a")
    rng = random.Random(15)
    junk = [None, True, -1, 0, 2**70, 1.5, "", " ", "x" * 3000, "😀" * 60, [], [1, "a"], {}, {"$ne": 1},
            "2022-02-30", "2024-13", "NaN", "Infinity", "1e400", "\u0000", "'; DROP TABLE cases; --"]
    targets = [
        (org_a, "POST", "/api/v1/cases", world.form("a", files)),
        (org_a, "POST", "/api/v1/case-checks", {"files": files, "creators": ["张三"], "summary": "简介"}),
        (op, "PUT", f"/api/v1/case-campaigns/{world.year}", campaign_body(world.year)),
        (op, "POST", "/api/v1/case-organisations", {"name": "n", "credit_code": credit_code(), "kind": "insurer"}),
        (stack.anonymous, "POST", "/api/v1/public/case-objections",
         {"case_id": 1, "name": "甲", "contact": "13700137000", "reasons": "理由理由理由理由理由"}),
        (op, "POST", f"/api/v1/case-campaigns/{world.year}/notice", {"starts_on": "2026-01-05"}),
        (op, "POST", f"/api/v1/case-campaigns/{world.year}/levels", {"overrides": [
            {"case_id": 1, "level": "best", "reason": "r"}]}),
        (next(iter(world.experts.values())), "PUT", "/api/v1/cases/1/scores/mine",
         {"marks": {"authenticity": "90"}, "comment": "c"}),
    ]
    seen = set()
    for _ in range(160):
        api, method, path, template = rng.choice(targets)
        body = dict(template)
        for key in rng.sample(sorted(body), k=rng.randint(1, len(body))):
            body[key] = rng.choice(junk)
        status, answer = api.call(method, path, body)
        assert status < 500, (method, path, body, answer)
        if status == 400:
            assert answer["fields"], answer
        seen.add(status)
    assert 400 in seen
