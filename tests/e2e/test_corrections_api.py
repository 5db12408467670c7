"""Corrections through the gateway: a late entry into a closed window, the unit's own reference
number, the lookup by resident ID number, where rounding happens, and readiness before a close."""
from __future__ import annotations

import uuid

import pytest

from tests.support import candidate_form, resident_id

pytestmark = pytest.mark.e2e

REASON = "该单位因系统故障未能按时提交，经中心核实同意补录"


def open_cycle(admin, code, deadline):
    status, body = admin.post("/api/v1/cycles", {"code": code, "title": f"cycle {code}", "deadline": deadline})
    assert status == 201, body


def new_unit(admin, district="东城"):
    status, body = admin.post("/api/v1/units", {"name": f"unit-{uuid.uuid4().hex[:8]}",
                                                "kind": "district_safety_office", "district": district})
    assert status == 201, body
    return body


def test_a_late_entry_goes_into_a_closed_window_for_one_form_only(stack, admin, code):
    open_cycle(admin, code, "2022-08-10")
    unit = new_unit(admin)
    unit_api = admin.as_(admin.token_for("unit", unit_id=unit["id"]))
    operator = admin.as_(admin.token_for("operator"))

    # the unit still meets the deadline, and so does the ordinary route for the center
    status, body = unit_api.post("/api/v1/candidates", candidate_form(code))
    assert status == 422 and body["rule"] == "registration_deadline"
    status, body = operator.post("/api/v1/candidates", candidate_form(code, unit_id=unit["id"]))
    assert status == 422 and body["rule"] == "registration_deadline"

    # a unit may not enter late; the center must give a reason of some length
    form = candidate_form(code, unit_id=unit["id"], name="补录人")
    status, _ = unit_api.post("/api/v1/candidates/late-entries", dict(form, late_entry_reason=REASON))
    assert status == 403
    status, body = operator.post("/api/v1/candidates/late-entries", form)
    assert status == 400 and "late_entry_reason" in body["fields"]
    status, body = operator.post("/api/v1/candidates/late-entries", dict(form, late_entry_reason="   补录   "))
    assert status == 400 and "late_entry_reason" in body["fields"]

    status, late = operator.post("/api/v1/candidates/late-entries", dict(form, late_entry_reason=REASON))
    assert status == 201, late
    assert (late["late_entry"], late["late_entry_reason"], late["status"]) == (True, REASON, "submitted")
    assert admin.get(f"/api/v1/candidates/{late['id']}")[1]["late_entry"] is True
    status, trail = admin.get(f"/api/v1/audit/registration/candidate/{late['id']}")
    assert status == 200 and [a["action"] for a in trail] == ["candidate.late_entry"]
    assert trail[0]["detail"]["reason"] == REASON and trail[0]["detail"]["deadline"] == "2022-08-10"
    assert trail[0]["actor_role"] == "operator"

    # the window stayed closed for everyone else, and the same person cannot be entered twice
    status, body = unit_api.post("/api/v1/candidates", candidate_form(code))
    assert status == 422 and body["rule"] == "registration_deadline"
    status, body = operator.post("/api/v1/candidates/late-entries",
                                 dict(form, late_entry_reason=REASON))
    assert status == 409 and "id_number" in body["fields"]
    assert admin.get(f"/api/v1/cycles/{code}")[1]["open"] is False

    # the unit seals the late-entered form like any other
    status, sealed = unit_api.post(f"/api/v1/candidates/{late['id']}/unit-approval", {"signed_by": "主任"})
    assert status == 200 and sealed["status"] == "unit_approved"

    # while a window is open, a late entry is refused: the form goes in the ordinary way
    open_code = code + "o"
    open_cycle(admin, open_code, "2099-12-31")
    status, body = operator.post("/api/v1/candidates/late-entries",
                                 dict(candidate_form(open_code, unit_id=unit["id"]), late_entry_reason=REASON))
    assert status == 422 and body["rule"] == "late_entry_window_open"


def test_the_units_reference_is_unique_per_unit_and_cycle_and_searchable(stack, admin, code):
    open_cycle(admin, code, "2099-12-31")
    unit, other = new_unit(admin), new_unit(admin)
    status, first = admin.post("/api/v1/candidates", candidate_form(code, unit_id=unit["id"], name="甲",
                                                                    external_ref="DC-2022-001"))
    assert status == 201 and first["external_ref"] == "DC-2022-001"
    status, body = admin.post("/api/v1/candidates", candidate_form(code, unit_id=unit["id"], name="乙",
                                                                   external_ref="DC-2022-001"))
    assert status == 409 and "external_ref" in body["fields"]
    # another unit may use the same number, and so may the same unit in another cycle
    status, _ = admin.post("/api/v1/candidates", candidate_form(code, unit_id=other["id"], name="丙",
                                                               external_ref="DC-2022-001"))
    assert status == 201
    next_cycle = code + "n"
    open_cycle(admin, next_cycle, "2099-12-31")
    status, _ = admin.post("/api/v1/candidates", candidate_form(next_cycle, unit_id=unit["id"], name="丁",
                                                               external_ref="DC-2022-001"))
    assert status == 201
    status, second = admin.post("/api/v1/candidates", candidate_form(code, unit_id=unit["id"], name="戊",
                                                                     external_ref="DC-2022-002"))
    assert status == 201
    status, body = admin.patch(f"/api/v1/candidates/{second['id']}", {"external_ref": "DC-2022-001"})
    assert status == 409 and "external_ref" in body["fields"]
    status, body = admin.post("/api/v1/candidates", candidate_form(code, unit_id=unit["id"], external_ref="a b"))
    assert status == 400 and "external_ref" in body["fields"]

    status, page = admin.get("/api/v1/candidates", params={"cycle": code, "external_ref": "DC-2022-001"})
    assert status == 200 and sorted(c["name"] for c in page["items"]) == ["丙", "甲"]
    status, page = admin.get("/api/v1/candidates", params={"cycle": code, "unit_id": unit["id"], "q": "2022-00"})
    assert status == 200 and sorted(c["name"] for c in page["items"]) == ["戊", "甲"]
    unit_api = admin.as_(admin.token_for("unit", unit_id=unit["id"]))
    status, page = unit_api.get("/api/v1/candidates", params={"external_ref": "DC-2022-001"})
    assert status == 200 and sorted(c["name"] for c in page["items"]) == ["丁", "甲"]  # its own only


def test_staff_look_a_person_up_by_the_exact_id_number(stack, admin, code):
    open_cycle(admin, code, "2099-12-31")
    unit = new_unit(admin)
    id_number = resident_id()
    status, cand = admin.post("/api/v1/candidates", candidate_form(code, id_number=id_number, unit_id=unit["id"]))
    assert status == 201
    operator = admin.as_(admin.token_for("operator"))
    status, found = operator.post("/api/v1/candidates/id-lookup", {"id_number": id_number})
    assert status == 200 and [c["id"] for c in found] == [cand["id"]]
    # the answer is masked as for any read: never the number itself
    assert found[0]["id_number"] == id_number[:3] + "*" * 11 + id_number[-4:]
    assert id_number not in str(found)
    status, trail = admin.get(f"/api/v1/audit/registration/candidate/{cand['id']}")
    assert [a["action"] for a in trail] == ["candidate.register", "pii.lookup"]
    assert trail[1]["actor_role"] == "operator" and id_number not in str(trail)

    # exact match only: another valid number, or the same one in another cycle, finds nothing
    status, body = operator.post("/api/v1/candidates/id-lookup", {"id_number": resident_id()})
    assert status == 404
    status, body = operator.post("/api/v1/candidates/id-lookup", {"id_number": id_number, "cycle": code + "x"})
    assert status == 404
    status, body = operator.post("/api/v1/candidates/id-lookup", {"id_number": "110101199003070000"})
    assert status == 400 and "id_number" in body["fields"]
    for role, binding in (("unit", {"unit_id": unit["id"]}), ("regulator", {"district": "东城"}),
                          ("integrator", {})):
        other = admin.as_(admin.token_for(role, **binding))
        assert other.post("/api/v1/candidates/id-lookup", {"id_number": id_number})[0] == 403
