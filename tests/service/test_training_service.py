"""Training's rules through its entrypoints, without the broker: trainees from events, exams, classes."""
from __future__ import annotations

import pytest

from shared.errors import Conflict, Forbidden, NotFound, RuleViolation, ValidationFailed
from shared.pii import get_vault
from tests.support import resident_id

SERVICE = "training"
CYCLE = "T2022"


def approve(service, candidate_id, **extra):
    return service.deliver("on_candidate_approved", dict({
        "cycle": CYCLE, "candidate_id": candidate_id, "person_key": f"pk-{candidate_id}", "name": f"学员{candidate_id}",
        "gender": "female", "id_number_masked": "110***********0000", "unit_id": 9,
        "unit_kind": "district_safety_office", "district": "东城区", "status": "approved"}, **extra))


def questions(staff, topic="安责险", n=4):
    return staff.import_questions({"questions": [
        {"topic": topic, "kind": "single", "text": f"单选{i}", "options": {"A": "甲", "B": "乙"}, "answer": ["A"]}
        for i in range(n)]})["ids"]


def test_trainees_come_from_events_once_and_only_move_forward(service):
    staff = service.as_("operator")
    event = approve(service, 11)
    service.deliver("on_candidate_approved", event.raw_data, event_id=event.id)  # redelivered: skipped
    assert staff.list_trainees(CYCLE, {})["total"] == 1
    advanced = {"cycle": CYCLE, "candidate_id": 11, "from_stage": "basic", "to_stage": "key", "rank": 1,
                "score": "90.00"}
    service.deliver("on_candidate_advanced", advanced)
    service.deliver("on_candidate_not_advanced", {"cycle": CYCLE, "candidate_id": 11, "stage": "basic",
                                                  "rank": 9, "score": "50.00", "reason": "stale"})
    trainee = staff.get_trainee(11)
    assert (trainee["stage"], trainee["status"], trainee["id_number"]) == ("key", "active", "110***********0000")
    service.deliver("on_candidate_advanced", dict(advanced, to_stage="key"))
    assert staff.get_trainee(11)["stage"] == "key"
    with pytest.raises(LookupError):  # not a trainee yet: the subscriber retries, then parks
        service.deliver("on_candidate_advanced", dict(advanced, candidate_id=12))


def test_one_attempt_per_trainee_until_an_operator_reopens_it(service):
    staff = service.as_("operator")
    approve(service, 21)
    ids = questions(staff)
    exam = staff.create_exam({"kind": "basic_test", "title": "基础测试", "cycle": CYCLE,
                              "draw": [{"topic": "安责险", "count": 4}], "seed": 3})
    assert (exam["stage"], exam["questions"], exam["pass_mark"]) == ("basic", 4, "60.00")
    lecturer = service.as_("lecturer", person="pk-21")
    attempt = lecturer.start_attempt(exam["id"], {})
    assert attempt["status"] == "started" and sorted(q["id"] for q in attempt["paper"]) == sorted(ids)
    with pytest.raises(RuleViolation) as again:
        lecturer.start_attempt(exam["id"], {})
    assert again.value.rule == "one_attempt" and f"attempt #{attempt['id']} exists" in again.value.message
    with pytest.raises(Forbidden):
        lecturer.start_attempt(exam["id"], {"candidate_id": 99})
    done = lecturer.submit_attempt(attempt["id"], {"answers": {str(i): "A" for i in ids[:3]}})
    assert (done["status"], done["correct"], done["score"]) == ("submitted", 3, "75.00")
    assert service.emitted("exam_scored")[-1]["score"] == "75.00"
    with pytest.raises(RuleViolation) as twice:
        lecturer.submit_attempt(attempt["id"], {"answers": {}})
    assert twice.value.rule == "one_attempt"
    assert staff.reopen_attempt(attempt["id"], {"reason": "断网"})["status"] == "void"
    with pytest.raises(Conflict):
        staff.reopen_attempt(attempt["id"], {"reason": "again"})
    assert lecturer.start_attempt(exam["id"], {})["status"] == "started"


def test_a_class_runs_from_seats_to_certificates(service):
    staff = service.as_("operator")
    institution = staff.register_institution({
        "name": "培训中心", "full_time_managers": 3, "management_system": True, "teacher_min_years": 6,
        "evaluation_mechanism": True, "seats": 60})
    senior = staff.register_teacher({"name": "孙老师", "qualification": "registered_safety_engineer",
                                     "years_experience": 12})
    junior = staff.register_teacher({"name": "新老师", "qualification": "mid_title", "years_experience": 3})
    manager = staff.register_class_manager({"institution_id": institution["id"], "name": "赵",
                                            "id_number": resident_id(birth="19800101")})
    klass = {"title": "第1期", "institution_id": institution["id"], "district": "东城",
             "days": ["2018-05-10", "2018-05-11"], "manager_id": manager["id"], "capacity": 2,
             "teacher_ids": [senior["id"]]}
    with pytest.raises(RuleViolation) as refused:
        staff.create_class(dict(klass, teacher_ids=[junior["id"]]))
    assert refused.value.rule == "teacher_experience" and "附件2 asks 5" in refused.value.message
    c = staff.create_class(klass)
    people = []
    for i in range(2):
        id_number = resident_id()
        service.deliver("on_trainee_enrolled", {
            "enrolment_id": 700 + i, "year": 2018, "district": "东城", "role": "principal", "unit_name": "单位",
            "person_name": f"学员{i}", "id_number_masked": "110***********0000",
            "person_key": get_vault().blind_index(id_number)})
        people.append((staff.add_seat(c["id"], {"enrolment_id": 700 + i}), id_number))
    for (seat, id_number), leaves in zip(people, (("17:05", "17:05"), ("17:00", "15:00"))):
        for day, date in ((1, "2018-05-10"), (2, "2018-05-11")):
            staff.record_attendance(c["id"], {"seat_id": seat["id"], "id_number": id_number, "day": day,
                                              "action": "check_in", "at": f"{date}T08:50:00+08:00"})
            staff.record_attendance(c["id"], {"seat_id": seat["id"], "id_number": id_number, "day": day,
                                              "action": "check_out", "at": f"{date}T{leaves[day - 1]}:00+08:00"})
    # the second leaves day 2 at 15:00: not the whole class, so no exam (until the manager excuses it)
    questions(staff, "结业")
    exam = staff.create_exam({"kind": "class_exam", "title": "结业", "class_id": c["id"],
                              "draw": [{"topic": "结业", "count": 2}], "seed": 1})
    with pytest.raises(RuleViolation) as absent:
        staff.import_paper_scores(exam["id"], {"rows": [{"id_number": people[1][1], "score": "95"}]})
    assert absent.value.rule == "exam_attendance" and "rows.0.id_number" in absent.value.fields
    staff.import_paper_scores(exam["id"], {"rows": [{"id_number": people[0][1], "score": "92"}]})
    with pytest.raises(RuleViolation) as twice:
        staff.import_paper_scores(exam["id"], {"rows": [{"id_number": people[0][1], "score": "90"}]})
    assert twice.value.rule == "one_attempt" and "rows.0" in twice.value.fields
    done = staff.complete_class(c["id"])
    assert (done["completed"], done["passed"], done["reported"]) == (2, 1, 1)
    seats = staff.get_class(c["id"])["seats"]
    assert [(s["status"], s["hours"], s["passed"], s["score"]) for s in seats] == [
        ("present", 16, True, "92.00"), ("left_early", 8, False, None)]
    with pytest.raises(RuleViolation) as closed:
        staff.complete_class(c["id"])
    assert closed.value.rule == "class_completed"
    (number,) = done["certificates"]
    assert staff.get_certificate(number)["id_number"] == "110***********0000"
    # a regulator reads the certificates of its own district's classes only, as it reads the classes
    assert service.as_("regulator", district="东城区").get_certificate(number)["number"] == number
    for read in ("get_class", "get_certificate", "certificate_pdf"):
        with pytest.raises(NotFound):
            getattr(service.as_("regulator", district="西城区"), read)(c["id"] if read == "get_class" else number)
    assert service.as_("public").verify_certificate(number)["status"] == "valid"
    assert staff.revoke_certificate(number, {"reason": "冒名"})["status"] == "revoked"
    with pytest.raises(Conflict):
        staff.revoke_certificate(number, {"reason": "again"})
    assert service.as_("public").verify_certificate(number)["message"] == "revoked: 冒名"


def test_bulk_panels_put_each_expert_on_each_group_once(service):
    staff = service.as_("operator")
    staff.create_stages(CYCLE, {"plan": "2022"})
    for cid in (21, 22):
        approve(service, cid)
        service.deliver("on_candidate_advanced", {"cycle": CYCLE, "candidate_id": cid, "from_stage": "basic",
                                                  "to_stage": "key", "rank": 1, "score": "90.00"})
    groups = staff.assign_groups(CYCLE, "key")["groups"]
    g1, g2 = groups[0]["id"], groups[1]["id"]
    pairs = [{"group_id": g1, "expert": "exp-1", "name": "专家甲"}, {"group_id": g1, "expert": "exp-2"},
             {"group_id": g2, "expert": "exp-1"}, {"group_id": 999999, "expert": "exp-1"}]
    result = staff.bulk_add_group_experts({"items": pairs})
    assert [(i["group_id"], i["expert"], i["ok"], i.get("outcome"), i.get("status")) for i in result["items"]] == [
        (g1, "exp-1", True, "applied", None), (g1, "exp-2", True, "applied", None),
        (g2, "exp-1", True, "applied", None), (999999, "exp-1", False, None, 404)]
    assert result["items"][3]["message"] == "group 999999 not found"
    again = staff.bulk_add_group_experts({"items": pairs[:3]})
    assert again["applied"] == 0 and {i["outcome"] for i in again["items"]} == {"already"}
    assert len(service.emitted("group_expert_assigned")) == 3
    panel = {g["id"]: sorted(g["experts"]) for g in staff.list_groups(CYCLE, "key")}
    assert panel[g1] == ["exp-1", "exp-2"] and panel[g2] == ["exp-1"]
    with pytest.raises(ValidationFailed):
        staff.bulk_add_group_experts({"items": [pairs[0], pairs[0]]})
    with pytest.raises(Forbidden):
        service.as_("expert", person="exp-1").bulk_add_group_experts({"items": pairs[:1]})


def _key_groups(service, ids):
    staff = service.as_("operator")
    staff.create_stages(CYCLE, {"plan": "2022"})
    for cid in ids:
        approve(service, cid)
        service.deliver("on_candidate_advanced", {"cycle": CYCLE, "candidate_id": cid, "from_stage": "basic",
                                                  "to_stage": "key", "rank": 1, "score": "90.00"})
    return staff, staff.assign_groups(CYCLE, "key")["groups"]


def test_staff_enter_a_panels_paper_score_sheet_with_the_expert_rules_and_named_rows(service):
    staff, groups = _key_groups(service, [31, 32])
    group = next(g for g in groups if g["members"])
    member = group["members"][0]["candidate_id"]
    outsider = next(c for c in (31, 32) if c != member) if len(group["members"]) == 1 else None
    staff.bulk_add_group_experts({"items": [{"group_id": group["id"], "expert": e} for e in ("e1", "e2", "e3")]})

    with pytest.raises(ValidationFailed) as shape:
        staff.enter_score_sheet(group["id"], {"part": "key_expert", "rows": [
            {"expert": "e1", "candidate_id": member, "score": "80"},
            {"expert": "e2", "candidate_id": member, "score": "100.5"},
            {"expert": "e1", "candidate_id": member, "score": "81"}]})
    assert shape.value.fields == {"rows.1.score": ["must be between 0 and 100 (score_range)"],
                                  "rows.2.candidate_id": ["scored twice by e1 on this sheet (also rows.0)"]}
    rows = [{"expert": "e1", "candidate_id": member, "score": "80"},
            {"expert": "stranger", "candidate_id": member, "score": "80"}]
    if outsider:
        rows.append({"expert": "e2", "candidate_id": outsider, "score": "80"})
    with pytest.raises(RuleViolation) as rules:
        staff.enter_score_sheet(group["id"], {"part": "key_expert", "rows": rows})
    assert rules.value.rule == "expert_group" and "rows.1.expert" in rules.value.fields
    assert not outsider or "rows.2.candidate_id" in rules.value.fields
    assert service.emitted("expert_scored") == []          # a refused sheet changes nothing
    with pytest.raises(RuleViolation) as wrong_part:
        staff.enter_score_sheet(group["id"], {"part": "intensive_review", "rows": rows[:1]})
    assert wrong_part.value.rule == "score_sheet_part"

    sheet = staff.enter_score_sheet(group["id"], {"part": "key_expert", "reference": "纸质评分表 K-01", "rows": [
        {"expert": e, "candidate_id": member, "score": s} for e, s in (("e1", "80"), ("e2", "85.5"), ("e3", 90))]})
    assert (sheet["rows"], sheet["candidates"], sheet["panel"], sheet["entered_by"]) == (
        3, 1, ["e1", "e2", "e3"], "test-operator")
    assert [(r["row"], r["expert"], r["score"], r["replaced"], r["panel_mean"]) for r in sheet["results"]] == [
        ("rows.0", "e1", "80.00", None, "85.17"), ("rows.1", "e2", "85.50", None, "85.17"),
        ("rows.2", "e3", "90.00", None, "85.17")]
    (event,) = service.emitted("expert_scored")             # one mean per candidate, not one per row
    assert (event["candidate_id"], event["score"], event["panel_size"]) == (member, "85.17", 3)
    trail = [a for a in staff.audit_trail("trainee", member) if a["action"].startswith("expert_score.")]
    assert {(a["actor"], a["detail"]["on_behalf_of"], a["detail"]["source"]) for a in trail} == {
        ("test-operator", e, "paper_sheet") for e in ("e1", "e2", "e3")}
    (entered,) = [a for a in staff.audit_trail("group", group["id"]) if a["action"] == "score_sheet.enter"]
    assert entered["detail"]["panel"] == ["e1", "e2", "e3"] and entered["detail"]["reference"] == "纸质评分表 K-01"
    # the same sheet again changes nothing: no score rewritten, no mean announced, no new entry in the audit
    again = staff.enter_score_sheet(group["id"], {"part": "key_expert", "reference": "纸质评分表 K-01", "rows": [
        {"expert": e, "candidate_id": member, "score": s} for e, s in (("e1", "80.00"), ("e2", "85.5"), ("e3", 90))]})
    assert (again["rows"], again["changed"], again["unchanged"], again["candidates"]) == (3, 0, 3, 0)
    # each row says so, with the panel mean as it stands
    assert [(r["unchanged"], r["replaced"], r["panel_mean"]) for r in again["results"]] == [(True, None, "85.17")] * 3
    assert len(service.emitted("expert_scored")) == 1
    assert [a["action"] for a in staff.audit_trail("group", group["id"])].count("score_sheet.enter") == 1
    with pytest.raises(Forbidden):
        service.as_("expert", person="e1").enter_score_sheet(group["id"], {"part": "key_expert", "rows": rows[:1]})


def test_a_score_sheet_file_is_read_as_csv_or_xlsx_and_names_the_spreadsheet_row(service):
    import base64

    from shared.documents import csv_bytes, xlsx_bytes

    staff, groups = _key_groups(service, [41])
    group = next(g for g in groups if g["members"])
    member = group["members"][0]["candidate_id"]
    staff.add_group_expert(group["id"], {"expert": "e1"})

    def upload(raw, name, **query):
        return staff.upload_score_sheet(group["id"], {"filename": name, "content_type": "", "query": query,
                                                      "data_base64": base64.b64encode(raw).decode()})
    header = ["专家", "学员编号", "分数", "评语"]
    with pytest.raises(ValidationFailed) as bad:
        upload(csv_bytes(header, [["e1", member, "70", ""], ["e1", "abc", "101", ""]]), "sheet.csv",
               part="key_expert")
    assert set(bad.value.fields) == {"row 3.candidate_id"}
    with pytest.raises(ValidationFailed) as no_part:
        upload(csv_bytes(header, [["e1", member, "70", ""]]), "sheet.csv")
    assert "part" in no_part.value.fields
    done = upload(xlsx_bytes("评分表", header, [["e1", member, 77.5, "表达清楚"]]), "sheet.xlsx",
                  part="key_expert")
    assert (done["rows"], done["reference"]) == (1, "sheet.xlsx")
    assert [(r["row"], r["candidate_id"], r["score"]) for r in done["results"]] == [("row 2", member, "77.50")]
    assert service.emitted("expert_scored")[-1]["score"] == "77.50"
    again = upload(csv_bytes(header, [["e1", member, "78", ""]]), "sheet2.csv", part="key_expert")
    assert (again["results"][0]["replaced"], again["results"][0]["panel_mean"]) == ("77.50", "78.00")


def test_external_test_results_become_exam_scores_with_their_source_and_import_again_safely(service):
    import base64

    from shared.documents import csv_bytes

    staff = service.as_("operator")
    id_number = resident_id()
    approve(service, 51)
    approve(service, 52, person_key=get_vault().blind_index(id_number))
    source = {"exam": "basic_test", "platform": "安责险学习小程序", "reference": "2022-08-26 导出"}
    rows = [{"candidate_id": 51, "score": "88.5"}, {"id_number": id_number, "score": 92},
            {"candidate_id": 999, "score": "70"}, {"candidate_id": 51, "score": "101"}, {"score": "60"}]
    result = staff.import_external_results(CYCLE, dict(source, rows=rows))
    assert (result["imported"], result["unchanged"], result["platform"]) == (2, 0, "安责险学习小程序")
    assert [(e["row"], sorted(e["fields"])) for e in result["errors"]] == [
        (3, ["candidate_id"]), (4, ["score"]), (5, ["candidate_id"])]
    scored = service.emitted("exam_scored")
    assert [(e["candidate_id"], e["score"], e["exam"], e["stage"]) for e in scored] == [
        (51, "88.50", "basic_test", "basic"), (52, "92.00", "basic_test", "basic")]
    assert {(e["source"], e["platform"], e["reference"]) for e in scored} == {
        ("online", "安责险学习小程序", "2022-08-26 导出")}                  # the score's source travels with it
    (created,) = service.emitted("exam_created")
    assert (created["platform"], created["reference"], created["question_count"]) == (
        "安责险学习小程序", "2022-08-26 导出", 0)
    assert staff.list_questions({})["total"] == 0                     # no question bank was invented

    again = staff.import_external_results(CYCLE, dict(source, rows=rows[:2]))
    assert (again["imported"], again["unchanged"], again["exam_id"]) == (0, 2, result["exam_id"])
    changed = staff.import_external_results(CYCLE, dict(source, rows=[{"candidate_id": 51, "score": "70"}]))
    assert changed["errors"][0]["rule"] == "one_attempt" and len(service.emitted("exam_scored")) == 2
    (trail,) = [a for a in staff.audit_trail("exam", result["exam_id"])][:1]
    assert trail["detail"]["platform"] == "安责险学习小程序" and trail["detail"]["reference"] == "2022-08-26 导出"

    raw = csv_bytes(["学员编号", "分数"], [[51, "88.5"], ["x", "1"]])
    from_file = staff.upload_external_results(CYCLE, {"filename": "export.csv", "content_type": "text/csv",
                                                      "data_base64": base64.b64encode(raw).decode(), "query": source})
    assert from_file["unchanged"] == 1 and from_file["errors"][0]["row"] == 3
    with pytest.raises(ValidationFailed):
        staff.import_external_results(CYCLE, dict(source, platform="", rows=rows))


def test_stages_are_planned_only_for_a_cycle_registration_knows(service):
    asked = []

    class Registry:  # registration's answer to get_cycle, as CycleRegistry relays it
        def require(self, code):
            asked.append(code)
            if code != CYCLE:
                raise NotFound(f"cycle {code} not found", {"cycle": [f"no cycle {code}: create it first"]})

    service.extra["cycles"] = Registry()
    staff = service.as_("operator")
    with pytest.raises(NotFound) as missing:
        staff.create_stages("NOPE2022", {"plan": "2022"})
    assert "NOPE2022" in missing.value.message and "cycle" in missing.value.fields
    with pytest.raises(NotFound):
        staff.list_stages("NOPE2022")  # nothing was planned
    assert [s["stage"] for s in staff.create_stages(CYCLE, {"plan": "2022"})] == ["basic", "key", "intensive"]
    assert asked == ["NOPE2022", CYCLE]
