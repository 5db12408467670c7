"""Registration's rules through its entrypoints, without the broker: the nomination lifecycle."""
from __future__ import annotations

import pytest

from shared.errors import Conflict, Forbidden, NotFound, RuleViolation, ValidationFailed
from tests.support import candidate_form, resident_id

SERVICE = "registration"
CYCLE = "R2099"


@pytest.fixture
def unit(service):
    staff = service.as_("operator")
    staff.create_cycle({"code": CYCLE, "title": "2099", "deadline": "2099-12-31"})
    return staff.create_unit({"name": "东城区应急管理局", "kind": "district_safety_office", "district": "东城区"})


def test_a_nomination_is_sealed_by_its_unit_then_approved_once(service, unit):
    staff, own = service.as_("operator"), service.as_("unit", unit_id=unit["id"])
    id_number = resident_id()
    cand = own.register_candidate(candidate_form(CYCLE, id_number))
    assert (cand["status"], cand["unit_name"], cand["cycle"]) == ("submitted", "东城区应急管理局", CYCLE)
    assert cand["id_number"] != id_number and cand["id_number"].endswith(id_number[-4:])
    with pytest.raises(Conflict):
        own.register_candidate(candidate_form(CYCLE, id_number))
    with pytest.raises(RuleViolation) as early:
        staff.center_approve(cand["id"], {"signed_by": "中心"})
    assert early.value.rule == "status_transition"
    sealed = own.unit_approve(cand["id"], {"signed_by": "王五"})
    assert sealed["status"] == "unit_approved" and sealed["unit_seal"]["signed_by"] == "王五"
    approved = staff.center_approve(cand["id"], {"signed_by": "中心"})
    assert approved["status"] == "approved" and approved["center_seal"]["signed_by"] == "中心"
    (event,) = service.emitted("candidate_approved")
    assert (event["candidate_id"], event["cycle"], event["unit_kind"]) == (cand["id"], CYCLE,
                                                                         "district_safety_office")
    with pytest.raises(RuleViolation) as edit:
        own.edit_candidate(cand["id"], {"name": "李四"})
    assert edit.value.rule == "status_transition"
    assert staff.withdraw_candidate(cand["id"], {"reason": "调动"})["status"] == "withdrawn"


def test_a_unit_sees_and_seals_its_own_nominations_only(service, unit):
    staff = service.as_("operator")
    other = staff.create_unit({"name": "西城区应急管理局", "kind": "district_safety_office", "district": "西城区"})
    cand = service.as_("unit", unit_id=unit["id"]).register_candidate(candidate_form(CYCLE))
    stranger = service.as_("unit", unit_id=other["id"])
    with pytest.raises(NotFound):
        stranger.get_candidate(cand["id"])
    with pytest.raises(NotFound):
        stranger.unit_approve(cand["id"], {"signed_by": "x"})
    with pytest.raises(Forbidden):
        stranger.register_candidate(candidate_form(CYCLE, unit_id=unit["id"]))
    assert stranger.list_candidates({})["total"] == 0
    assert staff.get_candidate(cand["id"])["phone"] == "13812345678"
    assert service.as_("integrator").get_candidate(cand["id"])["phone"] != "13812345678"


def test_bulk_seal_and_approval_report_each_candidate_and_repeat_safely(service, unit):
    staff, own = service.as_("operator"), service.as_("unit", unit_id=unit["id"])
    other = staff.create_unit({"name": "西城区应急管理局", "kind": "district_safety_office", "district": "西城区"})
    mine = [own.register_candidate(candidate_form(CYCLE))["id"] for _ in range(3)]
    theirs = service.as_("unit", unit_id=other["id"]).register_candidate(candidate_form(CYCLE))["id"]
    own.reject_candidate(mine[2], {"signed_by": "王五", "reason": "材料不全"})

    # the unit seals its own; another unit's candidate is "not found", as on the single route
    sealed = own.bulk_unit_approve({"candidate_ids": [mine[1], theirs, mine[0], mine[2]], "signed_by": "王五"})
    assert (sealed["total"], sealed["succeeded"], sealed["failed"], sealed["applied"]) == (4, 2, 2, 2)
    by_id = {i["candidate_id"]: i for i in sealed["items"]}
    assert [i["candidate_id"] for i in sealed["items"]] == [mine[1], theirs, mine[0], mine[2]]
    assert by_id[mine[0]] == {"candidate_id": mine[0], "ok": True, "outcome": "applied",
                              "candidate_status": "unit_approved"}
    assert (by_id[theirs]["status"], by_id[theirs]["error"]) == (404, "not_found")
    assert by_id[theirs]["message"] == f"candidate {theirs} not found"
    assert (by_id[mine[2]]["status"], by_id[mine[2]]["rule"]) == (422, "status_transition")
    with pytest.raises(RuleViolation) as single:  # the same message as the single route
        own.unit_approve(mine[2], {"signed_by": "王五"})
    assert by_id[mine[2]]["message"] == single.value.message
    assert len(service.emitted("candidate_unit_approved")) == 2

    approved = staff.bulk_center_approve({"candidate_ids": mine[:2], "signed_by": "中心"})
    assert [i["outcome"] for i in approved["items"]] == ["applied", "applied"]
    again = staff.bulk_center_approve({"candidate_ids": mine[:2], "signed_by": "中心"})
    assert [(i["ok"], i["outcome"]) for i in again["items"]] == [(True, "already")] * 2 and again["applied"] == 0
    assert len(service.emitted("candidate_approved")) == 2   # nothing applied twice
    assert len([a for a in staff.audit_trail("candidate", mine[0]) if a["action"] == "candidate.center_approve"]) == 1


def test_bulk_calls_are_bounded_and_declare_their_roles(service, unit):
    staff = service.as_("operator")
    with pytest.raises(ValidationFailed) as big:
        staff.bulk_center_approve({"candidate_ids": list(range(1, 502)), "signed_by": "中心"})
    assert big.value.fields["candidate_ids"] == ["between 1 and 500 candidate_ids per call (bulk limit 500)"]
    with pytest.raises(ValidationFailed) as twice:
        staff.bulk_center_approve({"candidate_ids": [1, 1], "signed_by": "中心"})
    assert "candidate_ids" in twice.value.fields
    with pytest.raises(Forbidden):
        service.as_("unit", unit_id=unit["id"]).bulk_center_approve({"candidate_ids": [1], "signed_by": "x"})


def alone(caller, name, args) -> dict:
    """What one read answers when asked by itself, in read_many's form."""
    from shared.errors import WsliError
    try:
        return {"ok": True, "data": getattr(caller, name)(*args)}
    except WsliError as exc:
        return {"ok": False, "error": exc.to_dict(), "status": exc.http_status}


def test_combinable_reads_answer_together_each_as_the_caller_may(service, unit):
    staff, own = service.as_("operator"), service.as_("unit", unit_id=unit["id"])
    calls = [["get_cycle", [CYCLE]], ["quota_report", [CYCLE]], ["enrolment_progress", [2018]],
             ["get_cycle", ["NOSUCH"]]]
    answers = staff.read_many(calls)
    assert answers == [alone(staff, name, args) for name, args in calls]
    assert [a["ok"] for a in answers] == [True, True, False, False]   # no 2018 quota table here
    assert answers[3]["status"] == 404 and answers[3]["error"]["error"] == "not_found"
    # a unit may read the cycle, not the quota report: refused part by part, as when asked alone
    mine = own.read_many(calls[:2])
    assert mine[0]["ok"] and (mine[1]["ok"], mine[1]["status"], mine[1]["error"]["error"]) == (False, 403, "forbidden")
    for bad in ([], [["create_unit", [{}]]], [["nosuch", []]], [["get_cycle", CYCLE]], [["get_cycle"]],
                [["get_cycle", [CYCLE]]] * 11, "get_cycle", [["get_cycle", [CYCLE, "extra"]]],
                [["get_cycle", []]]):
        with pytest.raises(ValidationFailed):
            staff.read_many(bad)
