"""Subsidies' rules through its entrypoints, without the broker: reports, checks, review, payments."""
from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest

from shared.errors import Forbidden, NotFound, RuleViolation, ValidationFailed, WsliError
from shared.events import rfc3339
from shared.pii import get_vault
from shared.workdays import utcnow
from tests.integration.test_subsidies_flow import JPEG, MP4, PNG, recent_working_day, report
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


def test_bulk_review_approves_each_checked_report_once_and_names_each_refusal(service, ready):
    staff, id_number, files, day = ready
    first = staff.submit_lecture(report(CYCLE, L1, id_number, files, day))
    second = staff.submit_lecture(report(CYCLE, L1, id_number, files, day, venue="第二会场"))
    pending = staff.submit_lecture(report(CYCLE, L1, id_number, files, day, venue="第三会场"))
    check(service, first), check(service, second)   # the third one's checks have not run yet

    result = staff.bulk_approve_lectures({"lecture_ids": [first["id"], pending["id"], second["id"], 999999],
                                          "signed_by": "王审核"})
    assert (result["succeeded"], result["failed"], result["applied"]) == (2, 2, 2)
    items = {i["lecture_id"]: i for i in result["items"]}
    assert items[first["id"]] == {"lecture_id": first["id"], "ok": True, "outcome": "applied",
                                  "report_status": "approved"}
    with pytest.raises(RuleViolation) as single:
        staff.approve_lecture(pending["id"], {"signed_by": "王审核"})
    assert (items[pending["id"]]["status"], items[pending["id"]]["rule"], items[pending["id"]]["message"]) == (
        422, "status_transition", single.value.message)
    assert (items[999999]["status"], items[999999]["error"]) == (404, "not_found")
    assert staff.get_lecture(pending["id"])["status"] == "received"   # a refused item is left as it was

    again = staff.bulk_approve_lectures({"lecture_ids": [first["id"], second["id"]], "signed_by": "王审核"})
    assert [i["outcome"] for i in again["items"]] == ["already", "already"]
    assert len(service.emitted("lecture_approved")) == 2                 # one event, one subsidy each
    assert service.as_("finance").create_batch({"cycle": CYCLE})["item_count"] == 2

    check(service, pending)
    rejected = staff.bulk_reject_lectures({"lecture_ids": [pending["id"], first["id"]], "signed_by": "王审核",
                                           "reasons": ["签到表不清晰"]})
    assert [(i["ok"], i.get("outcome"), i.get("rule")) for i in rejected["items"]] == [
        (True, "applied", None), (False, None, "status_transition")]
    with pytest.raises(ValidationFailed) as big:
        staff.bulk_approve_lectures({"lecture_ids": list(range(1, 502)), "signed_by": "王审核"})
    assert "bulk limit 500" in big.value.fields["lecture_ids"][0]


def test_reports_that_came_by_email_are_entered_in_bulk_once_each(service, ready):
    staff, id_number, files, day = ready
    reports = [report(CYCLE, L1, id_number, files, day, venue="邮件会场一"),
               report(CYCLE, L1, id_number, files, day, venue="邮件会场二"),
               dict(report(CYCLE, L1, id_number, files, day, venue="邮件会场三"), audience_count=-1),
               report("X2099", L1, id_number, files, day, venue="没有这个周期")]
    result = staff.bulk_submit_lectures({"reports": reports})
    assert [(i["index"], i["ok"], i.get("outcome")) for i in result["items"]] == [
        (0, True, "applied"), (1, True, "applied"), (2, False, None), (3, False, None)]
    assert result["items"][2]["status"] == 400 and "audience_count" in result["items"][2]["fields"]
    with pytest.raises(WsliError) as single:
        staff.submit_lecture(reports[3])
    assert (result["items"][3]["error"], result["items"][3]["message"]) == (single.value.code, single.value.message)
    queued = [e["lecture_id"] for e in service.emitted("report_submitted")]
    assert sorted(queued) == sorted(i["lecture_id"] for i in result["items"][:2])   # checks queued per report

    again = staff.bulk_submit_lectures({"reports": reports[:2]})
    assert [(i["outcome"], i["lecture_id"]) for i in again["items"]] == [
        ("already", result["items"][0]["lecture_id"]), ("already", result["items"][1]["lecture_id"])]
    assert len(service.emitted("report_submitted")) == 2
    with pytest.raises(Forbidden):
        service.as_("lecturer", person="x").bulk_submit_lectures({"reports": reports[:1]})


def test_a_report_with_its_files_in_one_request_names_each_refused_part(service, ready):
    import io

    from werkzeug.test import EnvironBuilder
    from werkzeug.wrappers import Request

    from gateway.routes import ALL_ROUTES
    from gateway.service import TooLarge, _multipart_body

    staff, id_number, files, day = ready
    form = report(CYCLE, L1, id_number, files, day, venue="多文件会场")
    form.pop("video"), form.pop("photos")
    form["signin_sheet"] = {"head_count": 30}
    route = next(r for r in ALL_ROUTES if r.rpc == "submit_lecture_with_evidence")

    def parse(parts):
        data = {"report": json.dumps(form)}
        data.update({name: [(io.BytesIO(raw), fname) for fname, raw in items] for name, items in parts.items()})
        request = Request(EnvironBuilder(method="POST", path="/", data=data).get_environ())
        return _multipart_body(request, dict(route.multipart), route.max_upload_bytes)

    big = {"photos": [("big.png", PNG + b"\0" * (16 * 1024 * 1024))]}
    with pytest.raises(TooLarge) as too_large:
        parse(big)
    assert too_large.value.http_status == 413 and list(too_large.value.fields) == ["photos.0"]
    with pytest.raises(ValidationFailed) as unknown:
        parse({"selfie": [("s.png", PNG)]})
    assert "selfie" in unknown.value.fields

    parts = {"signin_sheet": [("签到表.jpg", JPEG + b"mp-s")], "video": [("v.mp4", MP4 + b"mp")],
             "banner_photos": [("横幅.png", PNG + b"mp-b")],
             "photos": [(f"{n}.png", PNG + f"mp{n}".encode()) for n in range(3)]}
    with pytest.raises(RuleViolation) as wrong_type:
        staff.submit_lecture_with_evidence(parse(dict(parts, photos=[("x.gif", b"GIF89a-mp")])))
    assert wrong_type.value.rule == "evidence_type" and list(wrong_type.value.fields) == ["photos.0"]
    lecture = staff.submit_lecture_with_evidence(parse(parts))
    assert lecture["status"] == "received" and len(lecture["photos"]) == 4
    assert [p["shows_banner"] for p in lecture["photos"]].count(True) == 1
    check(service, lecture)
    assert staff.lecture_checks(lecture["id"], {})["checks"] == "passed"


def test_a_reports_evidence_files_are_read_behind_the_reports_fence_and_checks_are_listed_rule_by_rule(
        service, ready):
    staff, id_number, files, day = ready
    lecture = staff.submit_lecture(report(CYCLE, L1, id_number, files, day, venue="佐证会场"))
    assert lecture["checks"] == []   # not judged yet
    photo = files["photos"][1]
    lecturer = service.as_("lecturer", person=get_vault().blind_index(id_number))
    for reader in (staff, service.as_("admin"), service.as_("finance"), lecturer):
        got = reader.get_evidence_file(lecture["id"], photo)
        assert got["content_type"] == "image/jpeg" and base64.b64decode(got["data_base64"]) == JPEG + b"p1"
    video = staff.get_evidence_file(lecture["id"], files["video"])
    assert (video["content_type"], video["filename"]) == ("video/mp4", "v.mp4")
    # another lecturer: as if the report did not exist; a file that is not this report's: not found either
    with pytest.raises(NotFound):
        service.as_("lecturer", person="someone-else").get_evidence_file(lecture["id"], photo)
    stray = upload(staff, PNG + b"not-this-report")
    for lecture_id, file_id in ((lecture["id"], stray), (lecture["id"], "0" * 64), (987654321, photo)):
        with pytest.raises(NotFound):
            staff.get_evidence_file(lecture_id, file_id)
    for role in ("integrator", "unit", "expert"):
        with pytest.raises(Forbidden):
            service.as_(role).get_evidence_file(lecture["id"], photo)

    check(service, lecture)
    checks = staff.get_lecture(lecture["id"])["checks"]
    outcomes = {c["rule"]: c["outcome"] for c in checks}
    assert outcomes["evidence_incomplete"] == "passed" and outcomes["audience_mismatch"] == "passed"
    assert outcomes["order_mismatch"] == outcomes["exchange_host"] == "not_applicable"   # a self-hosted lecture
    assert "calendar_range" not in outcomes
    short = staff.submit_lecture(report(CYCLE, L1, id_number, files, day, venue="人数不符", audience_count=29))
    check(service, short)
    failed = [c for c in staff.get_lecture(short["id"])["checks"] if c["outcome"] == "failed"]
    assert [c["rule"] for c in failed] == ["audience_mismatch"] and "29" in failed[0]["message"]
