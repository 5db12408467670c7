"""The real objects the access walk (tests/e2e/test_access_table.py) calls every id route on.

Built once per database through the gateway (bulk routes and events where the API has them).
Side A owns every object; side B is the same role bound to a real party of its own (another
unit, district, person, insurer, service organisation, enterprise, organisation, expert panel),
so a B persona is "the other one", never "nobody". Experts come in three: A sits on the panel of
candidate A's group and is assigned case A, B sits on another group's panel, N on no panel.

``targets`` maps an object's path prefix (the path up to its first id, as
``test_access_table._object_prefix`` cuts it) to the values of that object's path arguments;
every id route under that prefix whose arguments the values cover is walked. Optional keys:
``query`` (parameters every call sends), ``open`` (scopes in which side B is inside too),
``hidden`` (a text of side A's object that a list narrowed to an outsider's binding must not hold,
and an insider's must). ``NOT_WALKED`` names the id routes the world does not reach, each with the
reason (none today); test_access_table fails for an id route that is neither walked nor named there.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from shared.pii import PiiVault
from tests.cases_support import build_docx, build_pdf, photo, report_paragraphs
from tests.conftest import INDEX_KEY, PII_KEY, wait_for
from tests.support import candidate_form, credit_code, resident_id

DISTRICTS = {"A": "东城区", "B": "西城区"}
YEAR = datetime.now(timezone.utc).year
R = "/api/v1/risk"

# id routes the walk does not call on a real object, and why (the missing-id walk still calls them all)
NOT_WALKED: dict[str, str] = {}


class World:
    def __init__(self, stack):
        self.stack = stack
        self.admin = stack.admin
        self.tag = uuid.uuid4().hex[:6]
        self.vault = PiiVault([PII_KEY], INDEX_KEY)
        self.targets: dict[str, dict] = {}
        self.bindings: dict[str, dict[str, dict]] = {}   # role -> side -> token binding
        self.apis: dict[tuple[str, str], object] = {}    # (role, side) -> a client made while building

    def ok(self, answer, status=(200, 201)):
        code, body = answer
        assert code in (status if isinstance(status, tuple) else (status,)), body
        return body

    def token(self, role, side):
        key = (role, side)
        if key not in self.apis:
            self.apis[key] = self.admin.as_(self.admin.token_for(role, **self.bindings.get(role, {}).get(side, {})))
        return self.apis[key]

    def build(self):
        for part in (self.webhooks, self.registration, self.risk, self.cases, self.training, self.subsidies,
                     self.deliveries):
            part()
        return self

    # ---- registration and scoring ------------------------------------------------------------------------
    def registration(self):
        admin, tag = self.admin, self.tag
        self.cycle = cycle = "AC" + tag
        self.ok(admin.post("/api/v1/cycles", {"code": cycle, "title": "访问表", "deadline": "2099-12-31"}))
        self.ok(admin.post(f"/api/v1/cycles/{cycle}/stages", {"plan": "2022"}))
        units, cands, self.id_numbers = {}, {}, {}
        for side, district in DISTRICTS.items():
            units[side] = self.ok(admin.post("/api/v1/units", {"name": f"{district}应急管理局{tag}",
                                                               "kind": "district_safety_office", "district": district}))
        self.bindings["unit"] = {s: {"unit_id": units[s]["id"]} for s in "AB"}
        self.bindings["regulator"] = {s: {"district": DISTRICTS[s]} for s in "AB"}
        for side in "AB":
            self.id_numbers[side] = resident_id()
            unit = self.token("unit", side)
            cands[side] = self.ok(unit.post("/api/v1/candidates", candidate_form(
                cycle, self.id_numbers[side], unit_id=units[side]["id"])))
        self.ok(self.admin.post("/api/v1/candidates/unit-approvals", {
            "candidate_ids": [cands[s]["id"] for s in "AB"], "signed_by": "王五"}))
        self.ok(self.admin.post("/api/v1/candidates/center-approvals", {
            "candidate_ids": [cands[s]["id"] for s in "AB"], "signed_by": "中心"}))
        self.bindings["lecturer"] = {s: {"person": self.vault.blind_index(self.id_numbers[s])} for s in "AB"}
        self.units, self.cands = units, cands
        a = cands["A"]["id"]
        wait_for(lambda: all(admin.get(f"/api/v1/trainees/{cands[s]['id']}")[0] == 200 for s in "AB")
                 and admin.get(f"/api/v1/scoring/cycles/{cycle}/candidates/{a}")[0] == 200,
                 timeout=30, message="the approvals reached training and scoring")
        self.ok(admin.put(f"/api/v1/scoring/schemes/{cycle}", {"published": "2022"}))
        self.ok(admin.put("/api/v1/district-quotas", {"year": 2018}))
        self.enrol_id_number = resident_id()
        self.enrolment = self.ok(self.token("regulator", "A").post("/api/v1/enrolments", {
            "year": 2018, "role": "principal", "organised_by": "东城区应急管理局",
            "unit": {"name": f"北京东城建工{tag}", "credit_code": credit_code(), "staff_count": 120,
                     "operating_district": DISTRICTS["A"], "industry": "建筑施工"},
            "person": {"name": "郑国华", "id_number": self.enrol_id_number, "phone": "13601050011"}}))
        self.targets.update({
            "/api/v1/enrolments/<enrolment_id>": {"enrolment_id": self.enrolment["id"]},
            "/api/v1/enrolment-progress/<year>": {"year": 2018},
            "/api/v1/cycles/<code>": {"code": cycle},
            "/api/v1/units/<unit_id>": {"unit_id": units["A"]["id"]},
            "/api/v1/candidates/<candidate_id>": {"candidate_id": a},
            "/api/v1/audit/<entity_type>": {"entity_type": "candidate", "entity_id": a},
            "/api/v1/audit/registration/<entity_type>": {"entity_type": "candidate", "entity_id": a},
            "/api/v1/scoring/schemes/<cycle>": {"cycle": cycle},
            "/api/v1/scoring/cycles/<cycle>": {"cycle": cycle, "candidate_id": a, "stage": "basic"},
            "/api/v1/scoring/audit/<entity_type>": {"entity_type": "candidate", "entity_id": a},
            "/api/v1/audit/scoring/<entity_type>": {"entity_type": "candidate", "entity_id": a},
        })

    # ---- risk ----------------------------------------------------------------------------------------------
    def risk(self):
        admin, tag = self.admin, self.tag
        ins, orgs, techs, ents, pols = {}, {}, {}, {}, {}
        for side in "AB":
            ins[side] = self.ok(admin.post(f"{R}/insurers", {"name": f"{side}财产保险{tag}"}))
            orgs[side] = self.ok(admin.post(f"{R}/organisations", {"name": f"安全技术服务{side}{tag}"}))
            techs[side] = self.ok(admin.post(f"{R}/technicians", {"organisation_id": orgs[side]["id"], "name": "李工",
                                                                  "phone": "13912345678"}))
            ents[side] = self.ok(admin.post(f"{R}/enterprises", {
                "credit_code": credit_code(), "name": f"{side}建工{tag}", "district": DISTRICTS[side],
                "town": "东华门街道", "industry": "建筑施工", "staff_count": 50}))
            pols[side] = self.ok(admin.post(f"{R}/policies", {
                "enterprise_id": ents[side]["id"], "insurer_id": ins[side]["id"], "year": YEAR,
                "period_start": f"{YEAR}-01-01", "period_end": f"{YEAR}-12-31", "insured_workers": 20}))
        self.bindings["insurer"] = {s: {"unit_id": ins[s]["id"]} for s in "AB"}
        self.bindings["service_org"] = {s: {"unit_id": orgs[s]["id"]} for s in "AB"}
        self.bindings["enterprise"] = {s: {"person": ents[s]["credit_code"]} for s in "AB"}
        self.enterprise_codes = {s: ents[s]["credit_code"] for s in "AB"}
        ent_a = self.token("enterprise", "A")
        claim = self.ok(ent_a.post(f"{R}/claims", {"policy_id": pols["A"]["id"], "accident_date": f"{YEAR}-01-15",
                                                   "description": "脚手架坠落一人", "casualties": 1}))
        self.ok(admin.post(f"{R}/inspection-plans", {"year": YEAR}))
        insp = {}
        for side in "AB":
            insp[side] = self.ok(admin.get(f"{R}/inspections", params={"enterprise_id": ents[side]["id"],
                                                                       "year": YEAR}))["items"][0]
            self.ok(admin.post(f"{R}/inspections/{insp[side]['id']}/assignment", {
                "organisation_id": orgs[side]["id"], "technician_id": techs[side]["id"]}))
        visited = self.ok(self.token("service_org", "A").post(f"{R}/inspections/{insp['A']['id']}/visit", {
            "visited_at": datetime.now(timezone.utc).isoformat(), "technician_id": techs["A"]["id"],
            "findings": "配电箱", "hazards": [{"level": "major", "description": "配电箱无漏电保护", "location": "配电房"}]}))
        hazard = visited["hazards"][0]
        report = next(r for r in self.ok(admin.get(f"{R}/major-hazard-reports")) if r["hazard_id"] == hazard["id"])
        request = self.ok(ent_a.post(f"{R}/service-requests", {"kind": "consultation", "description": "应急预案咨询"}))
        self.ok(admin.post(f"{R}/service-requests/{request['id']}/assignment", {"organisation_id": orgs["A"]["id"]}))
        qr = self.ok(admin.post(f"{R}/enterprises/{ents['A']['id']}/qr-code"))
        code_a = ents["A"]["credit_code"]
        self.targets.update({
            f"{R}/enterprises/<enterprise_id>": {"enterprise_id": ents["A"]["id"]},
            f"{R}/organisations/<organisation_id>": {"organisation_id": orgs["A"]["id"]},
            f"{R}/policies/<policy_id>": {"policy_id": pols["A"]["id"]},
            f"{R}/claims/<claim_id>": {"claim_id": claim["id"]},
            f"{R}/insurers/<insurer_id>": {"insurer_id": ins["A"]["id"], "query": {"year": YEAR}},
            f"{R}/inspections/<inspection_id>": {"inspection_id": insp["A"]["id"]},
            f"{R}/hazards/<hazard_id>": {"hazard_id": hazard["id"]},
            f"{R}/major-hazard-reports/<report_id>": {"report_id": report["id"]},
            f"{R}/service-requests/<request_id>": {"request_id": request["id"]},
            f"{R}/appraisals/<year>": {"year": YEAR, "insurer_id": ins["A"]["id"]},
            "/api/v1/qr/<token>": {"token": qr["token"]},
            f"{R}/safety-files/<credit_code>": {"credit_code": code_a},
            "/api/v1/safety-files/<credit_code>": {"credit_code": code_a},
            "/api/v1/audit/risk/<entity_type>": {"entity_type": "enterprise", "entity_id": ents["A"]["id"]},
        })

    # ---- cases ---------------------------------------------------------------------------------------------
    def cases(self):
        admin, tag = self.admin, self.tag
        self.case_year = year = 2030 + int(self.tag, 16) % 60
        body = {"year": year, "title": f"{year}年案例征集（访问表）", "deadline": "2099-12-31",
                "categories": [{"code": "tools_technology", "label": "工具技术产品类"}, {"code": "other", "label": "其他"}],
                "levels": [{"level": "best", "count": 1}, {"level": "excellent", "count": 1}],
                "scoring_form": [{"principle": p, "weight": w} for p, w in (
                    ("authenticity", "0.2"), ("compliance", "0.15"), ("advancement", "0.2"),
                    ("replicability", "0.2"), ("effectiveness", "0.25"))],
                "experts_per_case": 1, "disagreement_threshold": "15", "notice_working_days": 5,
                "ranking_basis": "normalised"}
        self.ok(admin.put(f"/api/v1/case-campaigns/{year}", body))
        orgs = {}
        for side in "AB":
            orgs[side] = self.ok(admin.post("/api/v1/case-organisations", {
                "name": f"{side}安全科技有限公司{tag}", "credit_code": credit_code(), "kind": "service_org",
                "declared_no_bad_record": True, "declared_not_dishonest": True, "contact_name": "联系人",
                "contact_phone": "13800138000"}))
        self.bindings["organisation"] = {s: {"unit_id": orgs[s]["id"]} for s in "AB"}
        experts = {}
        for side in "ABN":
            experts[side] = self.ok(admin.post("/api/v1/case-experts", {
                "code": f"expert-{side}-{tag}", "name": f"专家{side}", "employer_credit_code": credit_code(),
                "phone": "13900139000"}))
        self.bindings["expert"] = {s: {"person": experts[s]["code"]} for s in "ABN"}
        org_a = self.token("organisation", "A")
        files = {}
        paragraphs = report_paragraphs()
        for kind, name, data in (("report_docx", "报告.docx", build_docx(paragraphs)),
                                 ("report_pdf", "报告.pdf", build_pdf(paragraphs)),
                                 ("photo", "现场.jpg", photo()), ("photo", "培训.jpg", photo(color=(9, 9, 9)))):
            body = self.ok(org_a.call("POST", "/api/v1/case-files", raw=data, params={"kind": kind, "filename": name},
                                      headers={"Content-Type": "application/octet-stream"}))
            if kind == "photo":
                files.setdefault("photos", []).append(body["id"])
            else:
                files[kind] = body["id"]
        case = self.ok(org_a.post("/api/v1/cases", {
            "campaign": year, "channel": "self", "name": f"风险减量服务新模式{tag}", "category": "tools_technology",
            "period_start": "2024-03", "period_end": "2025-12", "summary": "以安责险为纽带开展事故预防服务。",
            "creators": ["张三"], "participants": ["李四"], "files": files}))
        self.ok(admin.post(f"/api/v1/cases/{case['id']}/screening", {"result": "pass"}))
        self.ok(admin.post(f"/api/v1/cases/{case['id']}/assignments", {"experts": [experts["A"]["code"]]}))
        # the review, the levels, a public notice (posted 30 days ago: its window is over) with an objection
        # received in it and resolved, then the release: the case's certificate
        self.ok(self.token("expert", "A").put(f"/api/v1/cases/{case['id']}/scores/mine", {"marks": {
            p: "90" for p in ("authenticity", "compliance", "advancement", "replicability", "effectiveness")},
            "comment": "好"}))
        self.ok(admin.post(f"/api/v1/case-campaigns/{year}/levels", {}))
        from shared.workdays import local_date, utcnow
        notice = self.ok(admin.post(f"/api/v1/case-campaigns/{year}/notice", {
            "starts_on": (local_date(utcnow()) - timedelta(days=30)).isoformat()}))
        received = datetime.fromisoformat(notice["notice_first_day"]).date() + timedelta(days=1)
        objection = self.ok(admin.post("/api/v1/public/case-objections", {
            "case_id": case["id"], "name": "赵六", "contact": "13700137000", "reasons": "案例数据与实际情况不符，请核实。",
            "received_on": received.isoformat()}))
        self.ok(admin.post(f"/api/v1/case-objections/{objection['id']}/resolution",
                           {"decision": "dismissed", "resolution": "经核实，数据属实。"}))
        released = self.ok(admin.post(f"/api/v1/case-campaigns/{year}/release"))
        self.targets.update({
            "/api/v1/public/case-campaigns/<year>": {"year": year},
            "/api/v1/case-objections/<objection_id>": {"objection_id": objection["id"]},
            "/api/v1/case-certificates/<number>": {"number": released["certificates"][0]},
            "/api/v1/case-campaigns/<year>": {"year": year},
            "/api/v1/case-organisations/<org_id>": {"org_id": orgs["A"]["id"]},
            "/api/v1/case-experts/<code>": {"code": experts["A"]["code"]},
            "/api/v1/cases/<case_id>": {"case_id": case["id"]},
            "/api/v1/audit/cases/<entity_type>": {"entity_type": "case", "entity_id": case["id"]},
        })

    # ---- training ------------------------------------------------------------------------------------------
    def training(self):
        from tests.e2e.test_training_api import advance, bank, publish_all

        admin, tag, cycle = self.admin, self.tag, self.cycle
        a, b = self.cands["A"]["id"], self.cands["B"]["id"]
        # an attempt at the basic test, then both candidates on to the key stage and its groups
        topic = "访问表" + tag
        bank(admin, topic)
        exam = self.ok(admin.post("/api/v1/exams", {"kind": "basic_test", "title": "基础考试", "cycle": cycle,
                                                    "draw": [{"topic": topic, "count": 2}], "seed": 7,
                                                    "duration_minutes": 30}))
        attempt = self.ok(self.token("lecturer", "A").post(f"/api/v1/exams/{exam['id']}/attempts", {}))
        publish_all(self.stack, "scoring", "candidate_advanced", advance(cycle, [a, b], "key"))
        wait_for(lambda: all(admin.get(f"/api/v1/trainees/{c}")[1].get("stage") == "key" for c in (a, b)),
                 timeout=30, message="both at the key stage")
        groups = self.ok(admin.post(f"/api/v1/cycles/{cycle}/stages/key/group-assignment"))["groups"]
        group_of = {m["candidate_id"]: g["id"] for g in groups for m in g["members"]}
        group_a = group_of[a]
        group_b = group_of[b] if group_of[b] != group_a else next(g["id"] for g in groups if g["id"] != group_a)
        self.ok(admin.post("/api/v1/group-experts", {"items": [
            {"group_id": group_a, "expert": self.bindings["expert"]["A"]["person"], "name": "专家A"},
            {"group_id": group_b, "expert": self.bindings["expert"]["B"]["person"], "name": "专家B"}]}))

        # A on to the tour (the intensive stage): subsidies takes its lecture reports
        publish_all(self.stack, "scoring", "candidate_advanced", advance(cycle, [a], "intensive"))

        status, inst = admin.post("/api/v1/institutions", {
            "name": f"培训中心{tag}", "full_time_managers": 3, "management_system": True, "teacher_min_years": 6,
            "evaluation_mechanism": True, "seats": 60})
        assert status == 201, inst
        teacher = self.ok(admin.post("/api/v1/teachers", {"name": "孙老师", "qualification": "registered_safety_engineer",
                                                          "years_experience": 12}))
        manager = self.ok(admin.post("/api/v1/class-managers", {"institution_id": inst["id"], "name": "班主任",
                                                                 "id_number": resident_id(birth="19800101")}))
        klass = self.ok(admin.post("/api/v1/classes", {
            "title": f"第{tag}期", "institution_id": inst["id"], "district": DISTRICTS["A"],
            "days": ["2018-05-10", "2018-05-11"], "manager_id": manager["id"], "capacity": 10,
            "teacher_ids": [teacher["id"]]}))
        seat = wait_for(lambda: (lambda r: r[1] if r[0] == 201 else None)(admin.post(
            f"/api/v1/classes/{klass['id']}/seats", {"enrolment_id": self.enrolment["id"]})),
            timeout=30, message="the enrolment reached training")
        enrolled = self.enrol_id_number
        for day, date in ((1, "2018-05-10"), (2, "2018-05-11")):
            for action, at in (("check_in", "08:50"), ("check_out", "17:05")):
                self.ok(admin.post(f"/api/v1/classes/{klass['id']}/attendance", {
                    "seat_id": seat["id"], "id_number": enrolled, "day": day, "action": action,
                    "at": f"{date}T{at}:00+08:00"}))
        class_exam = self.ok(admin.post("/api/v1/exams", {"kind": "class_exam", "title": "结业考试",
                                                          "class_id": klass["id"],
                                                          "draw": [{"topic": topic, "count": 2}], "seed": 7}))
        self.ok(admin.post(f"/api/v1/exams/{class_exam['id']}/paper-scores", {"rows": [
            {"id_number": enrolled, "score": "92"}]}))
        number = self.ok(admin.post(f"/api/v1/classes/{klass['id']}/completion"))["certificates"][0]
        person = self.vault.blind_index(enrolled)
        wait_for(lambda: admin.get(f"/api/v1/training-subsidies/{person}")[0] == 200, timeout=30,
                 message="subsidies granted the completed class's training subsidy")
        self.targets.update({
            "/api/v1/cycles/<cycle>": {"cycle": cycle, "stage": "key", "hidden": f"'candidate_id': {a},"},
            "/api/v1/trainees/<candidate_id>": {"candidate_id": a},
            "/api/v1/groups/<group_id>": {"group_id": group_a, "candidate_id": a},
            # an exam is the cohort's: every lecturer of it sits the exam as itself
            "/api/v1/exams/<exam_id>": {"exam_id": exam["id"], "open": {"person"}},
            "/api/v1/attempts/<attempt_id>": {"attempt_id": attempt["id"]},
            "/api/v1/teachers/<teacher_id>": {"teacher_id": teacher["id"]},
            "/api/v1/classes/<class_id>": {"class_id": klass["id"], "seat_id": seat["id"]},
            "/api/v1/people/<person_key>": {"person_key": person, "hidden": f"'class_id': {klass['id']},"},
            "/api/v1/certificates/<number>": {"number": number},
            "/api/v1/training-subsidies/<person_key>": {"person_key": person},
            "/api/v1/training-audit/<entity_type>": {"entity_type": "trainee", "entity_id": a},
            "/api/v1/audit/training/<entity_type>": {"entity_type": "trainee", "entity_id": a},
        })

    # ---- subsidies -----------------------------------------------------------------------------------------
    def subsidies(self):
        from tests.integration.test_subsidies_flow import JPEG, MP4, PNG, recent_working_day, report

        admin, tag, cycle = self.admin, self.tag, self.cycle
        self.ok(admin.put(f"/api/v1/subsidy-cycles/{cycle}", {"tour_start": "2022-09-01", "tour_end": "2099-04-30",
                                                              "lecture_subsidy_fen": 30000}))
        order = self.ok(self.token("enterprise", "A").post("/api/v1/lecture-orders", {
            "cycle": cycle, "enterprise_name": "北京某燃气有限公司", "topic": "安责险", "wished_dates": ["2099-03-01"],
            "audience_size": 40, "address": "朝阳区某路1号", "contact": "王经理 13812345678"}))
        shas = {}
        for key, data, name, ctype in (("signin", JPEG + tag.encode(), "签到表.jpg", "image/jpeg"),
                                       ("video", MP4 + tag.encode(), "全程.mp4", "video/mp4")):
            shas[key] = self.ok(admin.call("POST", "/api/v1/lecture-files", raw=data, params={"filename": name},
                                           headers={"Content-Type": ctype}))["sha256"]
        shas["photos"] = [self.ok(admin.call("POST", "/api/v1/lecture-files", raw=PNG + f"{tag}{n}".encode(),
                                             params={"filename": f"现场{n}.png"},
                                             headers={"Content-Type": "image/png"}))["sha256"] for n in range(4)]
        a = self.cands["A"]["id"]
        from tests.integration.test_subsidies_flow import lecturer_ready
        wait_for(lambda: lecturer_ready(self.stack.configs["subsidies"]["DB_URI"], cycle, a), timeout=30,
                 message="subsidies knows lecturer A in the tour")
        lecture = self.ok(admin.post("/api/v1/lectures", report(cycle, a, self.id_numbers["A"], shas,
                                                                recent_working_day())))
        lecturer_a = self.token("lecturer", "A")
        wait_for(lambda: admin.get(f"/api/v1/lectures/{lecture['id']}/checks", params={"wait": "2"})[0] == 200,
                 timeout=30, message="the report's checks passed")
        self.ok(admin.post(f"/api/v1/lectures/{lecture['id']}/approval", {"signed_by": "王审核"}))
        batch = self.ok(self.token("finance", "A").post("/api/v1/payment-batches", {"cycle": cycle}))
        assert lecturer_a.get(f"/api/v1/lectures/{lecture['id']}")[0] == 200
        self.targets.update({
            "/api/v1/subsidy-cycles/<code>": {"code": cycle},
            # one of the report's evidence files too (GET .../evidence/<file_id>)
            "/api/v1/lectures/<lecture_id>": {"lecture_id": lecture["id"], "file_id": shas["signin"]},
            "/api/v1/lecture-orders/<order_id>": {"order_id": order["id"], "open": {"taker"}},
            "/api/v1/payment-batches/<batch_id>": {"batch_id": batch["id"]},
            "/api/v1/subsidies-audit/<entity_type>": {"entity_type": "lecture", "entity_id": lecture["id"]},
            "/api/v1/audit/subsidies/<entity_type>": {"entity_type": "lecture", "entity_id": lecture["id"]},
        })

    # ---- webhooks and the gateway's own --------------------------------------------------------------------
    def webhooks(self):
        tag = self.tag
        self.bindings["integrator"] = {s: {"name": f"integrator-{s}-{tag}"} for s in "AB"}
        endpoint = self.ok(self.token("integrator", "A").post("/api/v1/webhooks/endpoints", {
            "url": "http://127.0.0.1:9/hook", "event_types": [{"service": "registration", "event": "cycle_created"}]}))
        self.endpoint = endpoint
        status, token = self.admin.post("/api/v1/tokens", {"role": "operator", "name": f"walk-{tag}"})
        assert status == 201, token
        self.targets.update({
            "/api/v1/webhooks/endpoints/<endpoint_id>": {"endpoint_id": endpoint["id"]},
            "/api/v1/audit/webhooks/<entity_type>": {"entity_type": "endpoint", "entity_id": endpoint["id"]},
            "/api/v1/tokens/<token_id>": {"token_id": token["id"]},
            "/api/v1/audit/gateway/<entity_type>": {"entity_type": "token", "entity_id": token["id"]},
            "/api/v1/calendar/<year>": {"year": YEAR},
        })

    def deliveries(self):
        """The cycle made since the endpoint subscribed to cycle_created is delivered (to nobody: it fails)."""
        endpoint = self.endpoint["id"]

        def delivery():
            status, page = self.admin.get(f"/api/v1/webhooks/endpoints/{endpoint}/deliveries")
            items = (page if isinstance(page, list) else page.get("items", [])) if status == 200 else []
            return items[0]["id"] if items else None
        self.targets["/api/v1/webhooks/deliveries/<delivery_id>"] = {
            "delivery_id": wait_for(delivery, timeout=30, message="a delivery to the endpoint")}
