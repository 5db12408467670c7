"""Safety-training classes held as the 2018 Beijing plan holds them (seed 004 §六–八), over HTTP.

The service's clock is moved with ``monkeypatch`` on ``services.training.classes.utcnow`` (the stack
runs in this process), as the risk tests move the inspection clock.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from services.training import classes as training_classes
from tests.conftest import wait_for
from tests.e2e.test_training_api import bank, enrolled, publish_all
from tests.support import resident_id

pytestmark = pytest.mark.e2e
BEIJING = timezone(timedelta(hours=8))


def at_beijing(monkeypatch, text):
    """Move the training service's clock to a Beijing wall-clock time ``YYYY-MM-DDTHH:MM``."""
    now = datetime.fromisoformat(text).replace(tzinfo=BEIJING)
    monkeypatch.setattr(training_classes, "utcnow", lambda: now)


def institution(admin):
    status, inst = admin.post("/api/v1/institutions", {
        "name": "培训中心" + uuid.uuid4().hex[:6], "full_time_managers": 3, "management_system": True,
        "teacher_min_years": 6, "evaluation_mechanism": True, "seats": 60})
    assert status == 201, inst
    return inst


def manager(admin, inst):
    status, body = admin.post("/api/v1/class-managers", {"institution_id": inst["id"], "name": "班主任",
                                                         "id_number": resident_id(birth="19800101")})
    assert status == 201, body
    return body


def teacher(admin):
    status, body = admin.post("/api/v1/teachers", {"name": "孙老师", "qualification": "registered_safety_engineer",
                                                   "years_experience": 12})
    assert status == 201, body
    return body


def open_class(stack, admin, days, n, district="朝阳区", **extra):
    """A class in ``district`` with ``n`` seated trainees: (class, people, seats, teacher)."""
    inst = institution(admin)
    t = teacher(admin)
    body = {"title": "第1期", "institution_id": inst["id"], "district": district, "days": days,
            "manager_id": manager(admin, inst)["id"], "capacity": 10, "teacher_ids": [t["id"]], **extra}
    status, c = admin.post("/api/v1/classes", body)
    assert status == 201, c
    people = enrolled(int(days[0][:4]), n, district=district)
    publish_all(stack, "registration", "trainee_enrolled", [{k: v for k, v in p.items() if k != "_id"}
                                                            for p in people])

    def seat(p):
        status, got = admin.post(f"/api/v1/classes/{c['id']}/seats", {"enrolment_id": p["enrolment_id"]})
        return got if status == 201 else None
    seats = [wait_for(lambda p=p: seat(p), message="the enrolment arrives") for p in people]
    return c, people, seats, t


def attend(admin, c, seat, person, day, check_in=None, check_out=None):
    date = c["days"][day - 1]
    for action, hhmm in (("check_in", check_in), ("check_out", check_out)):
        if hhmm:
            status, body = admin.post(f"/api/v1/classes/{c['id']}/attendance", {
                "seat_id": seat["id"], "id_number": person["_id"], "day": day, "action": action,
                "at": f"{date}T{hhmm}:00+08:00"})
            assert status == 200, body


def reports(admin, c):
    status, body = admin.get("/api/v1/absence-reports", params={"per_page": 200})
    assert status == 200, body
    return {r["person_name"]: r for r in body["items"] if r["class_id"] == c["id"]}


# ---- attendance and completion --------------------------------------------------------------------

def test_everyone_not_there_throughout_is_reported_with_what_they_missed(stack, admin):
    c, people, seats, _ = open_class(stack, admin, ["2026-05-11", "2026-05-12"], 4)
    attend(admin, c, seats[0], people[0], 1, "11:00", "17:00")   # late on day 1, full day 2
    attend(admin, c, seats[0], people[0], 2, "08:55", "17:00")
    attend(admin, c, seats[1], people[1], 1, "08:50", "16:00")   # left early on day 1, absent on day 2
    attend(admin, c, seats[2], people[2], 1, "08:50", "17:00")   # throughout
    attend(admin, c, seats[2], people[2], 2, "09:04", "17:10")   # 4 minutes: within the grace
    status, done = admin.post(f"/api/v1/classes/{c['id']}/completion")
    assert status == 200, done
    got = {s["person_name"]: (s["status"], s["hours"]) for s in admin.get(f"/api/v1/classes/{c['id']}")[1]["seats"]}
    assert got == {"学员0": ("late", 8), "学员1": ("incomplete", 0), "学员2": ("present", 16),
                   "学员3": ("absent", 0)}
    assert done["reported"] == 3
    report = reports(admin, c)
    assert set(report) == {"学员0", "学员1", "学员3"}
    late = report["学员0"]
    assert (late["status"], late["missed_minutes"]) == ("late", 120)
    assert [(m["day"], m["date"], m["status"], m["missed_minutes"]) for m in late["missed"]] == [
        (1, "2026-05-11", "late", 120)]
    assert late["missed"][0]["checked_in_at"].startswith("2026-05-11T03:00")
    # 16:00–17:00 on day 1, and the whole of day 2 (7 hours of teaching: the lunch break is not)
    assert [(m["status"], m["missed_minutes"]) for m in report["学员1"]["missed"]] == [
        ("left_early", 60), ("absent", 420)]
    assert report["学员3"]["missed_minutes"] == 840
    assert report["学员0"]["district"] == "朝阳区"


def test_a_class_is_completed_only_after_its_last_day_and_attended_only_on_its_days(stack, admin, monkeypatch):
    c, people, seats, _ = open_class(stack, admin, ["2027-06-01", "2027-06-02"], 1)
    at_beijing(monkeypatch, "2026-12-02T10:00")
    status, early = admin.post(f"/api/v1/classes/{c['id']}/completion")
    assert status == 422 and early["rule"] == "class_not_over", early
    status, ahead = admin.post(f"/api/v1/classes/{c['id']}/attendance", {
        "seat_id": seats[0]["id"], "id_number": people[0]["_id"], "day": 1, "action": "check_in",
        "at": "2027-06-01T08:50:00+08:00"})
    assert status == 422 and ahead["rule"] == "attendance_day" and "at" in ahead["fields"]
    assert reports(admin, c) == {}
    at_beijing(monkeypatch, "2027-06-02T16:59")   # the last afternoon: not over yet
    assert admin.post(f"/api/v1/classes/{c['id']}/completion")[1]["rule"] == "class_not_over"
    at_beijing(monkeypatch, "2027-06-01T08:50")   # on the day: the desk checks in without a time
    status, row = admin.post(f"/api/v1/classes/{c['id']}/attendance", {
        "seat_id": seats[0]["id"], "id_number": people[0]["_id"], "day": 1, "action": "check_in"})
    assert status == 200 and row["checked_in_at"].startswith("2027-06-01T08:50"), row
    status, wrong_day = admin.post(f"/api/v1/classes/{c['id']}/attendance", {
        "seat_id": seats[0]["id"], "id_number": people[0]["_id"], "day": 2, "action": "check_in"})
    assert status == 422 and wrong_day["rule"] == "attendance_day"
    at_beijing(monkeypatch, "2027-06-02T17:00")
    status, done = admin.post(f"/api/v1/classes/{c['id']}/completion")
    assert status == 200 and done["reported"] == 1, done


def test_only_trainees_there_throughout_or_excused_sit_the_exam(stack, admin):
    c, people, seats, _ = open_class(stack, admin, ["2026-05-18", "2026-05-19"], 3)
    for day in (1, 2):
        attend(admin, c, seats[0], people[0], day, "08:50", "17:00")
        attend(admin, c, seats[2], people[2], day, "08:50", "17:00" if day == 1 else "15:30")
    topic = "结业" + uuid.uuid4().hex[:6]
    bank(admin, topic)
    status, exam = admin.post("/api/v1/exams", {"kind": "class_exam", "title": "结业考试", "class_id": c["id"],
                                                "draw": [{"topic": topic, "count": 2}], "seed": 3})
    assert status == 201, exam
    status, refused = admin.post(f"/api/v1/exams/{exam['id']}/paper-scores", {"rows": [
        {"id_number": people[0]["_id"], "score": "90"}, {"id_number": people[1]["_id"], "score": "88"}]})
    assert status == 422 and refused["rule"] == "exam_attendance" and "rows.1.id_number" in refused["fields"]
    status, refused = admin.post(f"/api/v1/exams/{exam['id']}/attempts", {"id_number": people[2]["_id"]})
    assert status == 422 and refused["rule"] == "exam_attendance"
    excusal = f"/api/v1/classes/{c['id']}/seats/{seats[2]['id']}/excusal"
    assert admin.post(excusal, {})[0] == 400                      # the reason is required
    status, excused = admin.post(excusal, {"reason": "单位突发事故，班主任准予提前离开"})
    assert status == 200 and excused["excused_reason"].startswith("单位突发事故"), excused
    status, imported = admin.post(f"/api/v1/exams/{exam['id']}/paper-scores", {"rows": [
        {"id_number": people[0]["_id"], "score": "90"}, {"id_number": people[2]["_id"], "score": "80"}]})
    assert status == 201 and imported["imported"] == 2, imported
    status, done = admin.post(f"/api/v1/classes/{c['id']}/completion")
    assert status == 200 and done["passed"] == 2, done
    report = reports(admin, c)
    assert report["学员2"]["excused_reason"].startswith("单位突发事故") and report["学员2"]["status"] == "left_early"
    assert report["学员1"]["status"] == "absent"


# ---- hours and schedule -------------------------------------------------------------------------

def test_class_hours_come_from_the_schedule_and_a_class_is_two_consecutive_days(stack, admin):
    inst, t = institution(admin), teacher(admin)
    base = {"title": "第2期", "institution_id": inst["id"], "district": "朝阳", "manager_id": manager(admin, inst)["id"],
            "capacity": 10, "teacher_ids": [t["id"]], "days": ["2026-06-01", "2026-06-02"]}
    status, short = admin.post("/api/v1/classes", dict(base, day_start="09:00", day_end="12:00"))
    assert status == 422 and short["rule"] == "class_schedule" and "4 class hours" in short["message"], short
    status, gap = admin.post("/api/v1/classes", dict(base, days=["2026-06-01", "2026-06-05"]))
    assert status == 422 and gap["rule"] == "class_days", gap
    status, span = admin.post("/api/v1/classes", dict(base, days=["2026-12-31", "2027-01-01"]))
    assert status == 422 and span["rule"] == "class_days", span
    status, c = admin.post("/api/v1/classes", dict(base, day_start="08:30", day_end="17:30"))
    assert status == 201 and (c["class_hours"], c["year"]) == (16, 2026), c


def test_one_class_manager_runs_one_class_at_a_time(stack, admin):
    inst, t = institution(admin), teacher(admin)
    m = manager(admin, inst)
    base = {"title": "第3期", "institution_id": inst["id"], "district": "朝阳", "manager_id": m["id"],
            "capacity": 10, "teacher_ids": [t["id"]]}
    status, first = admin.post("/api/v1/classes", dict(base, days=["2026-07-01", "2026-07-02"]))
    assert status == 201 and first["manager_id"] == m["id"] and first["manager_name"] == "班主任", first
    status, busy = admin.post("/api/v1/classes", dict(base, days=["2026-07-02", "2026-07-03"]))
    assert status == 422 and busy["rule"] == "class_manager_busy" and "manager_id" in busy["fields"], busy
    assert admin.post("/api/v1/classes", dict(base, days=["2026-07-03", "2026-07-04"]))[0] == 201
    status, free_text = admin.post("/api/v1/classes", {k: v for k, v in dict(
        base, days=["2026-07-06", "2026-07-07"], manager_name="赵").items() if k != "manager_id"})
    assert status == 400 and "manager_id" in free_text["fields"], free_text
    other = institution(admin)
    status, foreign = admin.post("/api/v1/classes", dict(base, institution_id=other["id"],
                                                         days=["2026-07-08", "2026-07-09"]))
    assert status == 422 and foreign["rule"] == "class_manager"


# ---- ratings ------------------------------------------------------------------------------------

def test_only_trainees_who_attended_rate_after_the_class_within_the_window(stack, admin, monkeypatch):
    c, people, seats, t = open_class(stack, admin, ["2026-05-25", "2026-05-26"], 3)
    for day in (1, 2):
        attend(admin, c, seats[0], people[0], day, "08:50", "17:00")
        attend(admin, c, seats[1], people[1], day, "10:00", "17:00")
    rate = lambda i, stars=5, class_id=c["id"]: stack.anonymous.post(  # noqa: E731
        f"/api/v1/classes/{class_id}/ratings", {"id_number": people[i]["_id"], "teacher_id": t["id"], "stars": stars})
    at_beijing(monkeypatch, "2026-05-26T17:30")
    status, before = rate(0)                                       # not completed: not "after the class"
    assert status == 422 and before["rule"] == "rating_trainee", before
    assert rate(0, class_id=999999999)[0] == 404
    assert admin.post(f"/api/v1/classes/{c['id']}/completion")[0] == 200
    assert rate(0)[0] == 201
    assert rate(0)[0] == 409
    assert rate(1, stars=2)[0] == 201                              # late, but there
    status, absent = rate(2, stars=1)
    assert status == 422 and absent["rule"] == "rating_trainee", absent
    got = admin.get(f"/api/v1/teachers/{t['id']}")[1]
    assert (got["ratings"], got["average"]) == (2, "3.50"), got
    at_beijing(monkeypatch, "2026-06-09T17:31")                    # 14 days after the end
    status, closed = rate(1)
    assert status == 422 and closed["rule"] == "rating_window", closed


# ---- certificates ------------------------------------------------------------------------------

def test_certificates_follow_the_class_district_fence(stack, admin):
    c, people, seats, _ = open_class(stack, admin, ["2026-06-15", "2026-06-16"], 1, district="朝阳")
    assert c["district"] == "朝阳区"
    for day in (1, 2):
        attend(admin, c, seats[0], people[0], day, "08:50", "17:00")
    topic = "结业" + uuid.uuid4().hex[:6]
    bank(admin, topic)
    exam = admin.post("/api/v1/exams", {"kind": "class_exam", "title": "结业", "class_id": c["id"],
                                        "draw": [{"topic": topic, "count": 2}], "seed": 1})[1]
    assert admin.post(f"/api/v1/exams/{exam['id']}/paper-scores",
                      {"rows": [{"id_number": people[0]["_id"], "score": "90"}]})[0] == 201
    (number,) = admin.post(f"/api/v1/classes/{c['id']}/completion")[1]["certificates"]
    for district in ("海淀", "东城区"):
        other = admin.as_(admin.token_for("regulator", district=district))
        assert other.get(f"/api/v1/classes/{c['id']}")[0] == 404
        assert other.get(f"/api/v1/certificates/{number}")[0] == 404
        assert other.get(f"/api/v1/certificates/{number}/pdf")[0] == 404
    own = admin.as_(admin.token_for("regulator", district="朝阳"))
    status, cert = own.get(f"/api/v1/certificates/{number}")
    assert status == 200 and cert["person_name"] == "学员0", cert
    verdict = stack.anonymous.get(f"/api/v1/certificates/{number}/verify")[1]
    assert verdict["status"] == "valid" and verdict["name"] != "学员0" and verdict["name"].startswith("学")
    # 004 §八(二) pays for training that qualified: revoking the certificate withdraws its subsidy
    person_key = people[0]["person_key"]
    wait_for(lambda: admin.get(f"/api/v1/training-subsidies/{person_key}")[0] == 200, message="subsidy granted")
    status, revoked = admin.post(f"/api/v1/certificates/{number}/revocation", {"reason": "考试作弊"})
    assert status == 200, revoked
    subsidy = wait_for(lambda: (lambda got: got if got.get("status") == "withdrawn" else None)(
        admin.get(f"/api/v1/training-subsidies/{person_key}")[1]), message="subsidy withdrawn")
    assert number in subsidy["withdrawn_reason"] and "考试作弊" in subsidy["withdrawn_reason"], subsidy


# ---- enrolment and quotas -------------------------------------------------------------------------

def enrol(admin, district="朝阳区", id_number=None, role="principal", unit_code=None, year=2018):
    from tests.support import credit_code
    return admin.post("/api/v1/enrolments", {
        "year": year, "role": role, "organised_by": "区应急管理局",
        "unit": {"name": "某公司", "credit_code": unit_code or credit_code(), "staff_count": 50,
                 "operating_district": district},
        "person": {"name": "钱七", "id_number": id_number or resident_id()}})


def test_replacing_a_year_quota_table_is_explicit_whole_and_truthful(stack, admin):
    status, loaded = admin.put("/api/v1/district-quotas", {"year": 2018})
    assert status == 200 and (loaded["districts"], loaded["total"]) == (17, 110210), loaded
    status, partial = admin.put("/api/v1/district-quotas", {"year": 2018, "districts": [
        {"district": "朝阳", "quota": 1}]})
    assert status == 422 and partial["rule"] == "quota_table_incomplete", partial
    published = admin.get("/api/v1/enrolment-progress/2018")[1]["rows"]
    table = [{"district": r["district"], "quota": r["quota"] + (1000 if r["district"] == "朝阳区" else 0)}
             for r in published]
    status, unconfirmed = admin.put("/api/v1/district-quotas", {"year": 2018, "districts": table})
    assert status == 422 and unconfirmed["rule"] == "quota_table_exists", unconfirmed
    assert admin.get("/api/v1/enrolment-progress/2018")[1]["quota"] == 110210      # nothing changed
    status, no_reason = admin.put("/api/v1/district-quotas", {"year": 2018, "districts": table, "replace": True})
    assert status == 400 and "reason" in no_reason["fields"]
    status, replaced = admin.put("/api/v1/district-quotas", {"year": 2018, "districts": table, "replace": True,
                                                            "reason": "市安委办调整朝阳区任务量"})
    assert status == 200 and replaced == {"year": 2018, "districts": 17, "total": 111210, "replaced": True,
                                          "previous_total": 110210}, replaced
    progress = admin.get("/api/v1/enrolment-progress/2018")[1]
    assert progress["quota"] == 111210 == replaced["total"]
    assert next(r["quota"] for r in progress["rows"] if r["district"] == "朝阳区") == 27942
    status, trail = admin.get("/api/v1/audit/registration/quota_table/2018")
    assert status == 200, trail
    (entry,) = [e for e in trail if e["action"] == "quotas.replace"]
    assert "市安委办调整朝阳区任务量" in str(entry) and "110210" not in str(entry.get("actor")), entry
    status, back = admin.put("/api/v1/district-quotas", {"year": 2018, "replace": True, "reason": "恢复公布表"})
    assert status == 200 and back["total"] == 110210


def test_districts_are_taken_in_every_common_form_and_answered_officially(stack, admin):
    admin.put("/api/v1/district-quotas", {"year": 2018})
    for given, official in (("朝阳区", "朝阳区"), ("北京经济技术开发区", "北京经济技术开发区"), ("亦庄", "北京经济技术开发区"),
                            ("北京市海淀区", "海淀区"), ("朝阳", "朝阳区")):
        status, body = enrol(admin, district=given)
        assert status == 201 and body["district"] == official, (given, body)
    status, unknown = enrol(admin, district="雄安新区")
    assert status == 400 and "unit" in unknown["fields"], unknown
    regulator = admin.as_(admin.token_for("regulator", district="朝阳区"))
    status, mine = regulator.get("/api/v1/enrolments", params={"year": 2018, "district": "朝阳", "per_page": 200})
    assert status == 200 and mine["total"] >= 2 and {e["district"] for e in mine["items"]} == {"朝阳区"}
    assert enrol(regulator, district="朝阳")[0] == 201                 # 朝阳 and 朝阳区 are one fence
    assert enrol(regulator, district="海淀")[0] == 403
    progress = admin.get("/api/v1/enrolment-progress/2018")[1]
    assert "北京经济技术开发区" in {r["district"] for r in progress["rows"]}
    c, _, _, _ = open_class(stack, admin, ["2026-06-22", "2026-06-23"], 1, district="北京经济技术开发区")
    assert c["district"] == "北京经济技术开发区"
    status, reports_ = admin.get("/api/v1/absence-reports", params={"district": "亦庄"})
    assert status == 200
    # a token's district is bound by its official name; one the table does not know is kept as given
    # (risk tracking serves enterprises outside Beijing's table) and meets none of Beijing's records
    status, short = admin.post("/api/v1/tokens", {"role": "regulator", "district": "朝阳"})
    assert status == 201 and short["district"] == "朝阳区", short
    status, outside = admin.post("/api/v1/tokens", {"role": "regulator", "district": " 雄安 "})
    assert status == 201 and outside["district"] == "雄安", outside
    status, none_here = admin.as_(outside["token"]).get("/api/v1/enrolments", params={"year": 2018})
    assert status == 200 and none_here["total"] == 0
    assert admin.post("/api/v1/tokens", {"role": "regulator", "district": "  "})[0] == 400


def test_impossible_ages_are_refused_and_a_person_may_head_two_units(stack, admin):
    admin.put("/api/v1/district-quotas", {"year": 2018})
    unborn_id = resident_id(birth="21000101")  # the helper may move the day to keep numbers unique
    status, unborn = enrol(admin, id_number=unborn_id)
    born = f"{unborn_id[6:10]}-{unborn_id[10:12]}-{unborn_id[12:14]}"
    assert status == 400 and f"{born} is in the future" in str(unborn["fields"]["person.id_number"]), unborn
    status, child = enrol(admin, id_number=resident_id(birth="20150101"))
    assert status == 400 and "outside 18–80" in str(child["fields"]), child
    status, aged = enrol(admin, id_number=resident_id(birth="19300101"))
    assert status == 400 and "outside 18–80" in str(aged["fields"]), aged
    # decided: one person may head two units (a group's subsidiaries); the subsidy stays once per person
    id_number = resident_id(birth="19700101")
    first, second = enrol(admin, id_number=id_number), enrol(admin, id_number=id_number)
    assert first[0] == 201 and second[0] == 201, (first, second)
    assert first[1]["unit_credit_code"] != second[1]["unit_credit_code"]
