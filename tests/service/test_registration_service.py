"""Registration's rules through its entrypoints, without the broker: the nomination lifecycle."""
from __future__ import annotations

import pytest

from shared.errors import Conflict, Forbidden, NotFound, RuleViolation
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
