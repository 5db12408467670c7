"""The parts of an enterprise's safety file each service answers by credit code, and who sees what;
subsidies turning risk's lecture_requested into an order (once, bad payloads refused)."""
from __future__ import annotations

from datetime import date, timedelta

import pytest

from shared.errors import Forbidden, NotFound, ValidationFailed
from shared.pii import get_vault
from tests.support import credit_code, resident_id

UNIT = credit_code()
OTHER = credit_code()


def enrol(staff, role, name, district="朝阳", code=UNIT):
    return staff.enrol({"year": 2018, "role": role, "person": {"name": name, "id_number": resident_id()},
                        "unit": {"name": "某制造企业", "credit_code": code, "staff_count": 25,
                                 "operating_district": district}})


@pytest.mark.parametrize("service", ["registration"], indirect=True)
def test_registration_answers_a_units_enrolled_people_as_the_role_allows(service):
    staff = service.as_("operator")
    staff.load_district_quotas({"year": 2018})
    principal = enrol(staff, "principal", "王强")
    manager = enrol(staff, "safety_manager", "李安全")
    enrol(staff, "principal", "别家人", code=OTHER)
    staff.cancel_enrolment(manager["id"], {"reason": "离职"})
    manager2 = enrol(staff, "safety_manager", "赵管理")

    full = staff.unit_enrolments(UNIT.lower())  # typed in lower case: the same unit
    assert full["credit_code"] == UNIT and full["unit_name"] == "某制造企业"
    assert (full["principal"], full["safety_manager"]) == (principal["id"], manager2["id"])
    assert sorted((p["role"], p["name"], p["status"]) for p in full["enrolments"]) == [
        ("principal", "王强", "enrolled"), ("safety_manager", "李安全", "cancelled"),
        ("safety_manager", "赵管理", "enrolled")]
    assert all("*" in p["id_number"] for p in full["enrolments"])

    own = service.as_("enterprise", person=UNIT).unit_enrolments(UNIT)
    assert {p["name"] for p in own["enrolments"]} == {"王*", "李**", "赵**"}
    assert all("*" in (p["phone"] or "*") for p in own["enrolments"])
    with pytest.raises(NotFound):
        service.as_("enterprise", person=OTHER).unit_enrolments(UNIT)
    assert len(service.as_("regulator", district="朝阳区").unit_enrolments(UNIT)["enrolments"]) == 3
    assert service.as_("regulator", district="东城区").unit_enrolments(UNIT)["enrolments"] == []
    with pytest.raises(Forbidden):
        service.as_("insurer", unit_id=1).unit_enrolments(UNIT)
    with pytest.raises(ValidationFailed) as junk:
        staff.unit_enrolments("91110000ABC")
    assert "credit_code" in junk.value.fields


def run_class(service, staff, people):
    """A class with one seat per (enrolment id, id number), everyone present and passing: certificates."""
    institution = staff.register_institution({
        "name": "培训中心", "full_time_managers": 3, "management_system": True, "teacher_min_years": 6,
        "evaluation_mechanism": True, "seats": 60})
    teacher = staff.register_teacher({"name": "孙老师", "qualification": "registered_safety_engineer",
                                      "years_experience": 12})
    manager = staff.register_class_manager({"institution_id": institution["id"], "name": "赵",
                                            "id_number": resident_id(birth="19800101")})
    c = staff.create_class({"title": "第1期", "institution_id": institution["id"], "district": "朝阳",
                            "days": ["2018-05-10", "2018-05-11"], "manager_id": manager["id"], "capacity": 5,
                            "teacher_ids": [teacher["id"]]})
    seats = [(staff.add_seat(c["id"], {"enrolment_id": enrolment_id}), id_number) for enrolment_id, id_number in people]
    for seat, id_number in seats:
        for day, when in ((1, "2018-05-10"), (2, "2018-05-11")):
            for action, at in (("check_in", "08:50"), ("check_out", "17:05")):
                staff.record_attendance(c["id"], {"seat_id": seat["id"], "id_number": id_number, "day": day,
                                                  "action": action, "at": f"{when}T{at}:00+08:00"})
    staff.import_questions({"questions": [{"topic": "结业", "kind": "single", "text": f"单选{i}",
                                           "options": {"A": "甲", "B": "乙"}, "answer": ["A"]} for i in range(2)]})
    exam = staff.create_exam({"kind": "class_exam", "title": "结业", "class_id": c["id"],
                              "draw": [{"topic": "结业", "count": 2}], "seed": 1})
    staff.import_paper_scores(exam["id"], {"rows": [{"id_number": n, "score": "90"} for _, n in seats]})
    return staff.complete_class(c["id"])


@pytest.mark.parametrize("service", ["training"], indirect=True)
def test_training_answers_a_units_people_with_their_certificates_and_hours(service):
    staff = service.as_("operator")
    people = []
    for enrolment_id, role, code in ((801, "principal", UNIT), (802, "safety_manager", UNIT), (803, "principal", OTHER)):
        id_number = resident_id()
        service.deliver("on_trainee_enrolled", {
            "enrolment_id": enrolment_id, "year": 2018, "district": "朝阳", "role": role, "unit_name": "某制造企业",
            "unit_credit_code": code, "person_name": f"学员{enrolment_id}", "id_number_masked": "110***********0000",
            "person_key": get_vault().blind_index(id_number)})
        people.append((enrolment_id, id_number))
    done = run_class(service, staff, people[:1] + people[2:])  # the safety manager has no class yet
    assert done["passed"] == 2

    part = staff.unit_certificates(UNIT)
    by_role = {p["role"]: p for p in part["people"]}
    assert set(by_role) == {"principal", "safety_manager"}
    (cert,) = by_role["principal"]["certificates"]
    assert cert["status"] == "valid" and cert["class_title"] == "第1期" and cert["class_hours"] == 16
    assert cert["number"] in done["certificates"] and by_role["principal"]["hours"] == {"2018": 16}
    assert by_role["safety_manager"]["certificates"] == [] and by_role["safety_manager"]["hours"] == {}
    assert by_role["principal"]["name"] == "学员801"

    staff.revoke_certificate(cert["number"], {"reason": "冒名"})
    mine = service.as_("enterprise", person=UNIT).unit_certificates(UNIT)
    (seen,) = [p for p in mine["people"] if p["role"] == "principal"]
    assert seen["certificates"][0]["status"] == "revoked" and seen["name"] == "学****"
    with pytest.raises(NotFound):
        service.as_("enterprise", person=OTHER).unit_certificates(UNIT)
    assert service.as_("regulator", district="东城区").unit_certificates(UNIT)["people"] == []
    with pytest.raises(Forbidden):
        service.as_("insurer", unit_id=1).unit_certificates(UNIT)


def requested(request_id=41, **changes) -> dict:
    return dict({"request_id": request_id, "enterprise_name": "某制造企业", "credit_code": UNIT, "district": "朝阳区",
                 "town": "望京街道", "topic": "有限空间作业安全", "wished_date": "2022-09-15", "audience_size": 40},
                **changes)


@pytest.mark.parametrize("service", ["subsidies"], indirect=True)
def test_subsidies_turns_a_lecture_request_into_one_order_and_answers_the_enterprises_orders(service):
    staff = service.as_("operator")
    staff.set_cycle("S2022", {"tour_start": "2022-09-01", "tour_end": "2022-11-30", "lecture_subsidy_fen": 30000})
    event = service.deliver("on_lecture_requested", requested())
    service.deliver("on_lecture_requested", event.raw_data, event_id=event.id)  # redelivered: the inbox skips it
    service.deliver("on_lecture_requested", requested())  # emitted again under a new id: still one order
    (ordered,) = service.emitted("lecture_ordered")
    order = staff.get_order(ordered["order_id"])
    assert (order["cycle"], order["status"], order["credit_code"], order["risk_request_id"]) == (
        "S2022", "ordered", UNIT, 41)
    assert order["wished_dates"] == ["2022-09-15"] and order["address"] == "朝阳区望京街道"

    # bad payloads are refused by the schema (the subscriber parks them); no tour for the date: retried, parked
    for bad in (requested(42, credit_code="91110000ABC"), requested(43, audience_size=0),
                {k: v for k, v in requested(44).items() if k != "topic"}):
        with pytest.raises(ValidationFailed):
            service.deliver("on_lecture_requested", bad)
    with pytest.raises(LookupError):
        service.deliver("on_lecture_requested", requested(45, wished_date="2023-03-01"))
    assert len(service.emitted("lecture_ordered")) == 1

    # the enterprise orders itself: kept under its code; staff may name one
    me = service.as_("enterprise", person=UNIT)
    mine = me.order_lecture({"cycle": "S2022", "enterprise_name": "某制造企业", "topic": "消防",
                             "wished_dates": ["2022-10-10"], "audience_size": 20, "address": "厂区礼堂"})
    staff.order_lecture({"cycle": "S2022", "enterprise_name": "别家", "topic": "消防", "credit_code": OTHER,
                         "wished_dates": ["2022-10-11"], "audience_size": 20, "address": "礼堂"})
    part = me.enterprise_orders(UNIT)
    assert [(o["id"], o["status"]) for o in part["orders"]] == [(order["id"], "ordered"), (mine["id"], "ordered")]
    assert [o["credit_code"] for o in staff.enterprise_orders(OTHER)["orders"]] == [OTHER]
    with pytest.raises(NotFound):
        service.as_("enterprise", person=OTHER).enterprise_orders(UNIT)
    with pytest.raises(Forbidden):
        service.as_("insurer", unit_id=1).enterprise_orders(UNIT)
    assert date.fromisoformat(part["orders"][0]["wished_dates"][0]) - date(2022, 9, 15) == timedelta(0)
