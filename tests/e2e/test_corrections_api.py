"""Corrections through the gateway: a late entry into a closed window, the unit's own reference
number, the lookup by resident ID number, where rounding happens, and readiness before a close."""
from __future__ import annotations

import uuid

import pytest

from tests.conftest import wait_for
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


# ---- scoring: where rounding happens, readiness before a close -------------------------------

TWO_STAGES = {"title": "two stages", "stages": [
    {"name": "basic", "label": "基础培训测试", "parts": [{"ref": "basic_test", "weight": "1"}], "cutoff": 1,
     "advances_to": "key"},
    {"name": "key", "label": "重点培训考核", "after": "basic", "cutoff": 1, "advances_to": "intensive",
     "parts": [{"ref": "key_theory", "weight": "0.5"}, {"ref": "key_expert", "weight": "0.5"}]},
]}


def publish(amqp_uri, code, scores):
    """exam_scored / expert_scored as training sends them; an expert part as (mean, panel total, size)."""
    import json
    from datetime import datetime, timezone

    from kombu import Connection, Exchange, Producer

    from shared.events import rfc3339
    from tests.conftest import AGENCY

    with Connection(amqp_uri, transport_options={"confirm_publish": True}) as conn:
        producer = Producer(conn.default_channel)
        for cid, part, score in scores:
            name = "exam_scored" if part in ("basic_test", "key_theory") else "expert_scored"
            data = {"cycle": code, "candidate_id": cid, "scored_at": "2022-09-14T02:00:00Z",
                    "stage": {"basic_test": "basic", "intensive_review": "intensive"}.get(part, "key")}
            if name == "exam_scored":
                data.update(exam=part, attempt_id=1, source="paper", score=score)
            else:
                mean, total, size = score
                data.update(part=part, score=mean, panel_total=total, panel_size=size)
            env = {"specversion": "1.0", "id": str(uuid.uuid4()), "type": f"wsli.training.{name}.v1",
                   "source": f"/agencies/{AGENCY}/training", "subject": str(cid),
                   "time": rfc3339(datetime.now(timezone.utc)), "datacontenttype": "application/json",
                   "agency": AGENCY, "data": data}
            producer.publish(json.dumps(env).encode(), exchange=Exchange("training.events", type="topic",
                                                                         durable=True),
                             routing_key=name, content_type="application/json", message_id=env["id"])


def approved(admin, code, names):
    open_cycle(admin, code, "2099-12-31")
    unit = new_unit(admin, district="朝阳")
    ids = []
    for name in names:
        status, cand = admin.post("/api/v1/candidates", candidate_form(code, unit_id=unit["id"], name=name))
        assert status == 201, cand
        assert admin.post(f"/api/v1/candidates/{cand['id']}/unit-approval", {"signed_by": "主任"})[0] == 200
        assert admin.post(f"/api/v1/candidates/{cand['id']}/center-approval", {"signed_by": "中心"})[0] == 200
        ids.append(cand["id"])
    return ids


def parts_in(admin, code, cid, n):
    wait_for(lambda: len((admin.get(f"/api/v1/scoring/cycles/{code}/candidates/{cid}")[1] or {}).get("parts", []))
             == n, timeout=20, message=f"{n} scores of candidate {cid} in")


# key panel 62.88, 63.40, 95.55 (mean 73.94333…, published 73.94); intensive 60.68, 78.55, 60.59 (66.60666…, 66.61)
A_SCORES = [("basic_test", "98.64"), ("key_theory", "87.57"), ("key_expert", ("73.94", "221.83", 3)),
            ("intensive_review", ("66.61", "199.82", 3))]


def test_the_final_is_the_formula_applied_once_and_the_explanation_names_every_rounding(stack, admin, code):
    amqp = stack.configs["scoring"]["AMQP_URI"]
    (once,) = approved(admin, code, ["一次"])
    status, scheme = admin.put(f"/api/v1/scoring/schemes/{code}", {"published": "2022"})
    assert status == 200 and scheme["rounding"]["panel_means"] == "exact" == scheme["rounding"]["stage_references"]
    old_code = code + "t"
    (triple,) = approved(admin, old_code, ["三次"])
    status, scheme = admin.put(f"/api/v1/scoring/schemes/{old_code}", _scheme_2022(
        rounding={"panel_means": "published", "stage_references": "published"}))
    assert status == 200 and scheme["rounding"]["panel_means"] == "published", scheme
    publish(amqp, code, [(once, part, score) for part, score in A_SCORES])
    publish(amqp, old_code, [(triple, part, score) for part, score in A_SCORES])
    parts_in(admin, code, once, 4)
    parts_in(admin, old_code, triple, 4)

    explained = admin.get(f"/api/v1/scoring/cycles/{code}/candidates/{once}")[1]
    key, final = explained["stages"][1], explained["stages"][2]
    # key = (87.57 + 221.83 / 3) / 2 = 24227/300 = 80.7566… → published 80.76, once
    assert (key["score"], key["exact"]) == ("80.76", "24227/300")
    assert [(r["of"], r["kind"], r["exact"], r["rounded"]) for r in key["roundings"]] == [
        ("key", "stage_score", "24227/300", "80.76")]
    expert = key["components"][1]
    assert (expert["ref"], expert["score"], expert["value"], expert["exact"]) == (
        "key_expert", "73.94", "22183/300", "22183/300")
    # final = 98.64 × 0.2 + 24227/300 × 0.4 + 19982/300 × 0.4 = 11801/150 = 78.6733… → 78.67: one rounding
    assert (final["score"], final["exact"]) == ("78.67", "11801/150")
    assert [(r["of"], r["kind"], r["rounded"]) for r in final["roundings"]] == [("final", "stage_score", "78.67")]
    assert [(c["ref"], c["score"], c["value"]) for c in final["components"]] == [
        ("basic_test", "98.64", "98.64"), ("key", "80.76", "24227/300"), ("intensive_review", "66.61", "9991/150")]
    assert [c["unrounded"] for c in final["components"]] == [False, True, True]
    assert "exact mean" in explained["rounding"] and "ROUND_HALF_UP" in explained["rounding"]

    # the old arithmetic, kept as a scheme choice: three roundings, one cent more, each one named
    explained = admin.get(f"/api/v1/scoring/cycles/{old_code}/candidates/{triple}")[1]
    final = explained["stages"][2]
    assert final["score"] == "78.68"
    assert [(r["of"], r["kind"], r["exact"], r["rounded"]) for r in final["roundings"]] == [
        ("key", "stage_reference", "80.755", "80.76"), ("intensive_review", "panel_mean", "9991/150", "66.61"),
        ("final", "stage_score", "78.676", "78.68")]
    assert "as published" in explained["rounding"]


def _scheme_2022(**extra):
    from pathlib import Path

    import yaml
    raw = yaml.safe_load((Path(__file__).resolve().parents[2] / "services/scoring/data/scheme_2022.yml")
                         .read_text(encoding="utf-8"))
    raw.update(extra)
    return raw


def test_readiness_says_what_is_missing_and_the_close_needs_a_confirmation_then(stack, admin, code):
    amqp = stack.configs["scoring"]["AMQP_URI"]
    first, second = approved(admin, code, ["王一", "李二"])
    assert admin.put(f"/api/v1/scoring/schemes/{code}", TWO_STAGES)[0] == 200
    publish(amqp, code, [(first, "basic_test", "91.00")])
    parts_in(admin, code, first, 1)
    operator = admin.as_(admin.token_for("operator"))
    base = f"/api/v1/scoring/cycles/{code}/stages"

    def settled():  # the approvals' events consumed and marked sent by registration's relay
        status, ready = operator.get(f"{base}/basic/readiness")
        assert status == 200, ready
        return ready if ready["in_flight"]["clear"] else None

    ready = wait_for(settled, timeout=10, message="nothing in flight")
    assert (ready["ready"], ready["needs"], ready["taking_part"], ready["missing_total"]) == (
        False, ["basic_test"], 2, 1)
    assert ready["parts"] == [{"part": "basic_test", "label": "基础培训测试成绩", "arrived": 1, "missing": 1}]
    assert ready["missing"] == [{"candidate_id": second, "name": "李二", "parts": ["basic_test"]}]
    flight = ready["in_flight"]
    assert flight["clear"] is True and flight["sources"] == ["registration", "training"], flight
    assert {c["event"] for c in flight["consumers"]} == {"candidate_approved", "candidate_withdrawn", "exam_scored"}
    assert all(c["behind"] == 0 and c["queued"] == 0 for c in flight["consumers"]), flight

    # not ready: 409 with the readiness; nothing is decided
    status, body = operator.post(f"{base}/basic/close", {})
    assert status == 409 and body["error"] == "not_ready" and "confirm_not_ready" in body["fields"]
    assert body["readiness"]["missing"] == ready["missing"]
    assert admin.get(f"{base}/basic/ranking")[1]["status"] == "open"
    # the operator confirms: closed, and the close says (and the audit keeps) that it was confirmed
    status, closed = operator.post(f"{base}/basic/close", {"confirm_not_ready": True})
    assert status == 200 and closed["confirmed_not_ready"] is True and closed["advanced_ids"] == [first]
    status, trail = admin.get(f"/api/v1/audit/scoring/stage/{code}:basic")
    assert trail[-1]["action"] == "stage.close" and trail[-1]["detail"]["confirmed_not_ready"] is True
    assert trail[-1]["detail"]["readiness"]["missing_total"] == 1

    # key: only the advanced take part; once their scores are in it is ready and closes without confirming
    status, ready = operator.get(f"{base}/key/readiness")
    assert (ready["taking_part"], ready["entrants_from"], ready["missing_total"]) == (1, "basic", 1)
    assert ready["missing"] == [{"candidate_id": first, "name": "王一", "parts": ["key_theory", "key_expert"]}]
    publish(amqp, code, [(first, "key_theory", "80.00"), (first, "key_expert", ("85.50", "256.50", 3))])
    parts_in(admin, code, first, 3)
    status, ready = operator.get(f"{base}/key/readiness")
    assert ready["ready"] is True and ready["parts"][1] == {
        "part": "key_expert", "label": "重点培训专家复评成绩", "arrived": 1, "missing": 0}
    status, closed = operator.post(f"{base}/key/close", {})
    assert status == 200 and closed["confirmed_not_ready"] is False

    # roles: staff only
    for role, binding in (("integrator", {}), ("regulator", {"district": "朝阳"})):
        other = admin.as_(admin.token_for(role, **binding))
        assert other.get(f"{base}/basic/readiness")[0] == 403
    assert admin.get(f"/api/v1/scoring/cycles/{code}/stages/nosuch/readiness")[0] == 404


def test_a_producer_that_does_not_answer_makes_the_readiness_unknown_not_clear(stack, admin, code):
    """Runs last in this module: it stops training and starts it again."""
    from nameko.runners import ServiceRunner

    from shared.catalogue import component

    amqp = stack.configs["scoring"]["AMQP_URI"]
    (only,) = approved(admin, code, ["赵一"])
    assert admin.put(f"/api/v1/scoring/schemes/{code}", TWO_STAGES)[0] == 200
    publish(amqp, code, [(only, "basic_test", "91.00")])
    parts_in(admin, code, only, 1)
    base = f"/api/v1/scoring/cycles/{code}/stages/basic"
    wait_for(lambda: admin.get(f"{base}/readiness")[1]["ready"], message="every score in, nothing in flight")
    stack.runners["training"].stop()
    try:
        status, ready = admin.get(f"{base}/readiness")
        assert status == 200 and ready["missing_total"] == 0
        assert (ready["ready"], ready["in_flight"]["clear"], ready["in_flight"]["unavailable"]) == (
            False, False, ["training"])
        status, body = admin.post(f"{base}/close", {})
        assert status == 409 and body["readiness"]["in_flight"]["unavailable"] == ["training"]
    finally:
        runner = ServiceRunner(stack.configs["training"])
        runner.add_service(component("training").service())
        runner.start()
        stack.runners["training"] = runner
    wait_for(lambda: admin.get(f"{base}/readiness")[1]["ready"], timeout=20, message="training answers again")
    assert admin.post(f"{base}/close", {})[0] == 200
