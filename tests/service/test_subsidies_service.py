"""Subsidies' rules through its entrypoints, without the broker: reports, checks, review, payments."""
from __future__ import annotations

import base64
from datetime import timedelta

import pytest

from shared.errors import Forbidden, NotFound, RuleViolation, ValidationFailed
from shared.events import rfc3339
from shared.pii import get_vault
from shared.workdays import utcnow
from tests.integration.test_subsidies_flow import JPEG, MP4, recent_working_day, report
from tests.support import resident_id

SERVICE = "subsidies"
CYCLE = "S2022"
L1 = 501


def upload(caller, data: bytes, name="f.jpg") -> str:
    return caller.upload_evidence({"filename": name, "content_type": "application/octet-stream",
                                   "data_base64": base64.b64encode(data).decode(), "query": {}})["sha256"]


@pytest.fixture
def ready(service):
    """A cycle, a tour lecturer (from registration's and scoring's events) and uploaded evidence."""
    staff = service.as_("operator")
    day = recent_working_day()
    staff.set_cycle(CYCLE, {"tour_start": (day - timedelta(days=30)).isoformat(),
                            "tour_end": (day + timedelta(days=30)).isoformat(), "lecture_subsidy_fen": 30000})
    id_number = resident_id()
    service.deliver("on_candidate_approved", {
        "candidate_id": L1, "cycle": CYCLE, "unit_id": 7, "name": "李宣讲",
        "person_key": get_vault().blind_index(id_number), "registered_at": rfc3339(utcnow())})
    service.deliver("on_candidate_advanced", {"cycle": CYCLE, "candidate_id": L1, "from_stage": "key",
                                              "to_stage": "intensive", "rank": 3, "score": "88.50"})
    files = {"signin": upload(staff, JPEG + b"signin"), "video": upload(staff, MP4, "v.mp4"),
             "photos": [upload(staff, JPEG + f"p{n}".encode()) for n in range(4)]}
    return staff, id_number, files, day


def check(service, lecture):
    """What the replicas do with report_submitted, done here by hand."""
    (queued,) = [e for e in service.emitted("report_submitted") if e["lecture_id"] == lecture["id"]
                 and e["version"] == lecture["version"]]
    return service.deliver("run_checks", queued)


def test_a_report_is_checked_once_approved_once_and_paid_from_one_batch(service, ready):
    staff, id_number, files, day = ready
    out = staff.submit_lecture(report(CYCLE, L1, id_number, files, day))
    assert out["status"] == "received" and out["account_number"] == "***************4567"
    event = check(service, out)
    service.deliver("run_checks", event.raw_data, event_id=event.id)  # redelivered: the inbox skips it
    assert len(service.emitted("lecture_checks_passed")) == 1
    assert staff.lecture_checks(out["id"], {})["checks"] == "passed"
    approved = staff.approve_lecture(out["id"], {"signed_by": "王审核"})
    assert approved["status"] == "approved" and approved["subsidy_fen"] == 30000
    with pytest.raises(RuleViolation) as again:
        staff.approve_lecture(out["id"], {"signed_by": "王审核"})
    assert again.value.rule == "status_transition"

    batch = service.as_("finance").create_batch({"cycle": CYCLE})
    assert (batch["item_count"], batch["total_fen"], batch["total_yuan"], batch["pending"]) == (1, 30000, "300.00", 1)
    masked = base64.b64decode(staff.export_batch(batch["id"], {"format": "csv"})["data_base64"]).decode("utf-8-sig")
    assert "***************4567" in masked and "6222" not in masked
    plain = service.as_("finance").export_batch(batch["id"], {"format": "csv"})
    assert plain["filename"] == f"subsidy-batch-{batch['id']}.csv" and plain["content_type"] == "text/csv; charset=utf-8"
    assert "6222021234561234567" in base64.b64decode(plain["data_base64"]).decode("utf-8-sig")
    with pytest.raises(RuleViolation) as empty:
        service.as_("finance").create_batch({"cycle": CYCLE})
    assert empty.value.rule == "nothing_to_pay"


def test_a_duplicate_report_and_a_failed_check(service, ready):
    staff, id_number, files, day = ready
    staff.submit_lecture(report(CYCLE, L1, id_number, files, day))
    with pytest.raises(RuleViolation) as duplicate:
        staff.submit_lecture(report(CYCLE, L1, id_number, files, day, venue=" 北京某某化工有限公司 "))
    assert duplicate.value.rule == "duplicate_lecture"
    short = staff.submit_lecture(report(CYCLE, L1, id_number, files, day, venue="另一个会场", audience_count=31))
    check(service, short)
    with pytest.raises(RuleViolation) as failed:
        staff.lecture_checks(short["id"], {})
    assert failed.value.rule == "audience_mismatch" and list(failed.value.fields) == ["audience_mismatch"]
    corrected = staff.resubmit_lecture(short["id"], report(CYCLE, L1, id_number, files, day, venue="另一个会场"))
    assert corrected["version"] == 2 and corrected["status"] == "received"
    check(service, corrected)
    assert staff.get_lecture(short["id"])["status"] == "awaiting_review"


def test_a_lecturer_reports_for_itself_only(service, ready):
    _, id_number, files, day = ready
    stranger = service.as_("lecturer", person="someone-else")
    with pytest.raises(Forbidden):
        stranger.submit_lecture(report(CYCLE, L1, id_number, files, day))
    me = service.as_("lecturer", person=get_vault().blind_index(id_number))
    assert me.submit_lecture(report(CYCLE, L1, id_number, files, day))["candidate_id"] == L1


def test_the_training_subsidy_is_granted_once_per_person(service):
    data = {"person_key": "k" * 64, "person_name": "王五", "class_id": 3, "year": 2022, "class_hours": 16,
            "passed": True, "completed_at": rfc3339(utcnow())}
    service.deliver("on_training_completed", data)
    service.deliver("on_training_completed", dict(data, class_id=4))
    row = service.as_("finance").get_training_subsidy("k" * 64)
    assert row["class_id"] == 3 and row["refused_classes"] == 1
    assert len(service.emitted("training_subsidy_granted")) == 1
    with pytest.raises(ValidationFailed):
        service.deliver("on_training_completed", dict(data, person_key="short"))


def test_contact_phones_are_whole_only_for_those_who_need_them(service, ready):
    """A report's and an order's contact: whole for the center, the reporter, the orderer and the taker."""
    staff, id_number, files, day = ready
    lecture = staff.submit_lecture(report(CYCLE, L1, id_number, files, day, contact="李宣讲 13812345678"))
    lecturer = service.as_("lecturer", person=get_vault().blind_index(id_number))
    assert staff.get_lecture(lecture["id"])["contact"] == "李宣讲 13812345678"
    assert lecturer.get_lecture(lecture["id"])["contact"] == "李宣讲 13812345678"
    for role in ("integrator", "finance"):
        assert service.as_(role).get_lecture(lecture["id"])["contact"] == "李宣讲 138****5678", role
        listed = service.as_(role).list_lectures({"cycle": CYCLE})["items"]
        assert [item["contact"] for item in listed] == ["李宣讲 138****5678"], role

    enterprise = service.as_("enterprise", person="ent-1")
    order = enterprise.order_lecture({"cycle": CYCLE, "enterprise_name": "某燃气公司", "topic": "安责险",
                                      "wished_dates": [day.isoformat()], "audience_size": 40,
                                      "address": "朝阳区某路1号", "contact": "王经理 010-65123456"})
    assert order["contact"] == "王经理 010-65123456"
    other = service.as_("lecturer", person="someone-else")
    assert other.get_order(order["id"])["contact"] == "王经理 010*****3456"  # still open: anyone may take it
    assert lecturer.get_order(order["id"])["contact"] == "王经理 010*****3456"
    for role in ("integrator", "finance"):
        assert service.as_(role).get_order(order["id"])["contact"] == "王经理 010*****3456", role
    lecturer.accept_order(order["id"], {})
    assert lecturer.get_order(order["id"])["contact"] == "王经理 010-65123456"
    assert staff.get_order(order["id"])["contact"] == "王经理 010-65123456"
    # once taken, another lecturer no longer sees the order at all, nor another enterprise
    for outsider in (other, service.as_("enterprise", person="ent-2")):
        with pytest.raises(NotFound):
            outsider.get_order(order["id"])
