"""Reading one object by id is fenced as its list is: what a caller may not list, it may not read either.

The answer is the project's 404 "not found or not yours" (a foreign district's class, a
unit's other candidates): the caller learns nothing about records outside its scope.
"""
from __future__ import annotations

import pytest

from shared.errors import NotFound
from shared.events import rfc3339
from shared.workdays import utcnow
from tests.support import resident_id

CYCLE = "F2099"


@pytest.mark.parametrize("service", ["registration"], indirect=True)
def test_a_regulator_reads_the_units_of_its_own_district_only(service):
    staff = service.as_("operator")
    east = staff.create_unit({"name": "东城区应急管理局", "kind": "district_safety_office", "district": "东城区"})
    west = staff.create_unit({"name": "西城区应急管理局", "kind": "district_safety_office", "district": "西城区"})
    regulator = service.as_("regulator", district="东城区")
    assert [u["id"] for u in regulator.list_units({})["items"]] == [east["id"]]
    assert regulator.get_unit(east["id"])["name"] == "东城区应急管理局"
    with pytest.raises(NotFound):
        regulator.get_unit(west["id"])
    assert staff.get_unit(west["id"])["id"] == west["id"]


@pytest.mark.parametrize("service", ["scoring"], indirect=True)
def test_a_regulator_reads_the_score_explanations_of_its_own_district_only(service):
    for candidate_id, district in ((1, "东城区"), (2, "西城区"), (3, None)):
        service.deliver("on_candidate_approved", {
            "cycle": CYCLE, "candidate_id": candidate_id, "name": f"候选人{candidate_id}",
            "registered_at": rfc3339(utcnow()), "person_key": f"pk-{candidate_id}", "unit_id": candidate_id,
            "district": district, "status": "approved"})
    regulator = service.as_("regulator", district="东城区")
    assert regulator.explain(CYCLE, 1)["candidate_id"] == 1
    for foreign in (2, 3, 99):  # another district's, a unit without a district, none at all: the same answer
        with pytest.raises(NotFound):
            regulator.explain(CYCLE, foreign)
    assert service.as_("integrator").explain(CYCLE, 2)["candidate_id"] == 2
    # a rebuild from the event log keeps the district
    service.as_("operator").rebuild({"cycle": CYCLE})
    with pytest.raises(NotFound):
        regulator.explain(CYCLE, 2)
    assert service.as_("regulator", district="西城区").explain(CYCLE, 2)["candidate_id"] == 2


@pytest.mark.parametrize("service", ["training"], indirect=True)
def test_an_expert_sees_only_the_trainees_of_the_groups_on_its_panel(service):
    for candidate_id in (11, 12, 13):
        service.deliver("on_candidate_approved", {
            "cycle": CYCLE, "candidate_id": candidate_id, "person_key": f"pk-{candidate_id}",
            "name": f"学员{candidate_id}", "gender": "female", "id_number_masked": resident_id()[:3] + "*" * 15,
            "unit_id": candidate_id, "unit_kind": "district_safety_office", "district": "东城区",
            "status": "approved"})
        service.deliver("on_candidate_advanced", {"cycle": CYCLE, "candidate_id": candidate_id, "from_stage": "basic",
                                                  "to_stage": "key", "rank": candidate_id, "score": "90.00"})
    staff = service.as_("operator")
    staff.assign_groups(CYCLE, "key")
    group_id = staff.get_trainee(11)["groups"]["key"]
    staff.add_group_expert(group_id, {"expert": "expert-1", "name": "专家甲"})
    members = {m["candidate_id"] for g in staff.list_groups(CYCLE, "key") if g["id"] == group_id
               for m in g["members"]}
    assert 11 in members and members != {11, 12, 13}, members  # balanced: not everyone in one group

    panel = service.as_("expert", person="expert-1")
    assert {t["candidate_id"] for t in panel.list_trainees(CYCLE, {})["items"]} == members
    assert panel.get_trainee(11)["candidate_id"] == 11
    for outsider in {11, 12, 13} - members:
        with pytest.raises(NotFound):
            panel.get_trainee(outsider)

    idle = service.as_("expert", person="expert-without-a-group")
    assert idle.list_trainees(CYCLE, {})["total"] == 0
    for candidate_id in (11, 12, 13):
        with pytest.raises(NotFound):
            idle.get_trainee(candidate_id)
    assert staff.list_trainees(CYCLE, {})["total"] == 3


@pytest.mark.parametrize("service", ["risk"], indirect=True)
def test_a_service_organisation_lists_its_own_technicians_only(service):
    """Found by the access walk (tests/e2e/test_access_table.py): another organisation's technicians answered 200."""
    staff = service.as_("operator")
    orgs = [staff.create_organisation({"name": f"安全技术服务{n}"}) for n in (1, 2)]
    for org in orgs:
        staff.create_technician({"organisation_id": org["id"], "name": "李工", "phone": "13912345678"})
    own = service.as_("service_org", unit_id=orgs[0]["id"])
    assert [t["organisation_id"] for t in own.list_technicians(orgs[0]["id"])] == [orgs[0]["id"]]
    for foreign in (orgs[1]["id"], 99):   # another organisation's, none at all: the same answer
        with pytest.raises(NotFound):
            own.list_technicians(foreign)
    # the roles the table leaves unfenced on this route still see any organisation's
    assert len(service.as_("insurer", unit_id=1).list_technicians(orgs[1]["id"])) == 1
    assert len(staff.list_technicians(orgs[1]["id"])) == 1
