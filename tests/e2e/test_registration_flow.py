"""Registration through the gateway, as the center, units and regulators use it."""
from __future__ import annotations

import base64
import uuid

import pytest
from sqlalchemy import text

from shared.db import make_engine
from tests.support import candidate_form, credit_code, resident_id

pytestmark = pytest.mark.e2e

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64).decode()


def open_cycle(admin, code, deadline="2026-12-31", **extra):
    status, body = admin.post("/api/v1/cycles", {"code": code, "title": f"cycle {code}", "deadline": deadline, **extra})
    assert status == 201, body
    return body


def new_unit(admin, kind="district_safety_office", district="东城"):
    status, body = admin.post("/api/v1/units", {"name": f"unit-{uuid.uuid4().hex[:8]}", "kind": kind,
                                                "district": district, "contact_phone": "13900001111"})
    assert status == 201, body
    return body


def test_the_whole_approval_chain_emits_every_step(stack, admin, code):
    open_cycle(admin, code)
    unit = new_unit(admin)
    unit_api = admin.as_(admin.token_for("unit", unit_id=unit["id"], name="东城区安委办"))

    status, cand = unit_api.post("/api/v1/candidates", candidate_form(code, photo={"data_base64": PNG}))
    assert status == 201, cand
    assert cand["status"] == "submitted" and cand["unit_id"] == unit["id"]
    assert cand["id_number"].count("*") == 11, "the ID number is masked in responses"
    assert cand["photo_sha256"]

    status, edited = unit_api.patch(f"/api/v1/candidates/{cand['id']}", {"title": "教授级高工",
                                                                        "expected_version": cand["version"]})
    assert status == 200 and edited["title"] == "教授级高工" and edited["version"] == cand["version"] + 1
    status, stale = unit_api.patch(f"/api/v1/candidates/{cand['id']}", {"title": "x", "expected_version": 1})
    assert status == 409, stale

    status, sealed = unit_api.post(f"/api/v1/candidates/{cand['id']}/unit-approval",
                                   {"signed_by": "王主任", "opinion": "同意推荐"})
    assert status == 200 and sealed["status"] == "unit_approved"
    assert sealed["unit_seal"]["signed_by"] == "王主任" and sealed["unit_seal"]["sealed_at"]

    status, refused = unit_api.post(f"/api/v1/candidates/{cand['id']}/center-approval", {"signed_by": "x"})
    assert status == 403, "a unit cannot approve for the center"
    status, after_seal = unit_api.patch(f"/api/v1/candidates/{cand['id']}", {"title": "late edit"})
    assert status == 422 and after_seal["rule"] == "status_transition"

    status, approved = admin.post(f"/api/v1/candidates/{cand['id']}/center-approval",
                                  {"signed_by": "中心", "opinion": "同意"})
    assert status == 200 and approved["status"] == "approved"

    status, trail = admin.get(f"/api/v1/audit/candidate/{cand['id']}")
    assert [t["action"] for t in trail] == ["candidate.register", "candidate.edit", "candidate.unit_approve",
                                            "candidate.center_approve"]
    engine = make_engine(stack.registration_config["DB_URI"])
    with engine.connect() as conn:
        types = [r[0] for r in conn.execute(text(
            "SELECT event_type FROM outbox WHERE subject = :s AND event_type LIKE '%candidate%' ORDER BY id"), {"s": str(cand["id"])})]
        raw_id = conn.execute(text("SELECT id_number FROM candidates WHERE id = :i"), {"i": cand["id"]}).scalar()
    engine.dispose()
    assert types == ["wsli.registration.candidate_registered.v1", "wsli.registration.candidate_edited.v1",
                     "wsli.registration.candidate_unit_approved.v1", "wsli.registration.candidate_approved.v1"]
    assert "1101" not in raw_id, "ID numbers are encrypted at rest"


def test_duplicate_id_in_a_cycle_is_409_and_allowed_in_another(admin, code):
    open_cycle(admin, code)
    other = code + "b"
    open_cycle(admin, other)
    unit = new_unit(admin)
    person = resident_id()
    status, _ = admin.post("/api/v1/candidates", candidate_form(code, person, unit_id=unit["id"]))
    assert status == 201
    status, body = admin.post("/api/v1/candidates", candidate_form(code, person, unit_id=unit["id"], name="李四"))
    assert status == 409 and "id_number" in body["fields"]
    status, _ = admin.post("/api/v1/candidates", candidate_form(other, person, unit_id=unit["id"]))
    assert status == 201


def test_late_forms_are_refused_with_the_rule(admin, code):
    open_cycle(admin, code, deadline="2022-08-10")
    unit = new_unit(admin)
    status, body = admin.post("/api/v1/candidates", candidate_form(code, unit_id=unit["id"]))
    assert status == 422
    assert body["rule"] == "registration_deadline" and "2022-08-10" in body["message"]


def test_rejection_and_withdrawal(admin, code):
    open_cycle(admin, code)
    unit = new_unit(admin, kind="insurer_branch", district=None)
    unit_api = admin.as_(admin.token_for("unit", unit_id=unit["id"]))
    _, a = unit_api.post("/api/v1/candidates", candidate_form(code))
    _, b = unit_api.post("/api/v1/candidates", candidate_form(code))
    status, rejected = unit_api.post(f"/api/v1/candidates/{a['id']}/rejection", {"signed_by": "王", "reason": "材料不全"})
    assert status == 200 and rejected["status"] == "rejected" and rejected["rejected_stage"] == "unit"
    unit_api.post(f"/api/v1/candidates/{b['id']}/unit-approval", {"signed_by": "王"})
    status, body = unit_api.post(f"/api/v1/candidates/{b['id']}/rejection", {"signed_by": "王", "reason": "x"})
    assert status == 403, "after the unit's seal only the center rejects"
    status, withdrawn = unit_api.post(f"/api/v1/candidates/{b['id']}/withdrawal", {"reason": "本人工作调动"})
    assert status == 200 and withdrawn["status"] == "withdrawn"
    status, again = unit_api.post(f"/api/v1/candidates/{b['id']}/withdrawal", {"reason": "again"})
    assert status == 422 and again["rule"] == "status_transition"


def test_units_see_their_own_candidates_only(admin, code):
    open_cycle(admin, code)
    mine, theirs = new_unit(admin), new_unit(admin)
    my_api = admin.as_(admin.token_for("unit", unit_id=mine["id"]))
    their_api = admin.as_(admin.token_for("unit", unit_id=theirs["id"]))
    _, their_candidate = their_api.post("/api/v1/candidates", candidate_form(code))
    _, my_candidate = my_api.post("/api/v1/candidates", candidate_form(code))

    status, body = my_api.get(f"/api/v1/candidates/{their_candidate['id']}")
    assert status == 404, "another unit's candidate does not exist for me"
    status, body = my_api.post(f"/api/v1/candidates/{their_candidate['id']}/unit-approval", {"signed_by": "x"})
    assert status == 404
    status, page = my_api.get("/api/v1/candidates", params={"cycle": code})
    assert status == 200 and [c["id"] for c in page["items"]] == [my_candidate["id"]]
    status, body = my_api.post("/api/v1/candidates", candidate_form(code, unit_id=theirs["id"]))
    assert status == 403, "a unit nominates for itself only"
    status, body = my_api.get(f"/api/v1/candidates/{my_candidate['id']}/identity")
    assert status == 403, "only the center's staff may unmask"


def test_another_agencys_token_is_refused(stack, admin):
    from sqlalchemy.orm import Session

    from gateway.tokens import create_token
    engine = make_engine(stack.gateway_config["DB_URI"])
    with Session(engine) as session:
        foreign, _ = create_token(session, role="admin", agency="foshan")
        session.commit()
    engine.dispose()
    status, body = admin.as_(foreign).get("/api/v1/cycles")
    assert status == 403 and "foshan" in body["message"]


def test_listing_filters_and_pagination(admin, code):
    open_cycle(admin, code)
    east, west = new_unit(admin, district="东城"), new_unit(admin, district="西城")
    for i in range(5):
        admin.post("/api/v1/candidates", candidate_form(code, unit_id=east["id"], name=f"东{i}"))
    for i in range(3):
        admin.post("/api/v1/candidates", candidate_form(code, unit_id=west["id"], name=f"西{i}"))
    status, page1 = admin.get("/api/v1/candidates", params={"cycle": code, "per_page": 3, "page": 1})
    _, page3 = admin.get("/api/v1/candidates", params={"cycle": code, "per_page": 3, "page": 3})
    assert status == 200 and page1["total"] == 8 and len(page1["items"]) == 3 and len(page3["items"]) == 2
    _, west_only = admin.get("/api/v1/candidates", params={"cycle": code, "district": "西城"})
    assert {c["name"] for c in west_only["items"]} == {"西0", "西1", "西2"}
    _, named = admin.get("/api/v1/candidates", params={"cycle": code, "q": "东3"})
    assert [c["name"] for c in named["items"]] == ["东3"]
    status, bad = admin.get("/api/v1/candidates", params={"per_page": 1000})
    assert status == 400 and "per_page" in bad["fields"]


def test_quota_report_flags_short_units_after_the_deadline(stack, admin, code):
    open_cycle(admin, code)
    short, full = new_unit(admin, district="丰台"), new_unit(admin, kind="insurer_branch", district=None)
    for _ in range(5):
        admin.post("/api/v1/candidates", candidate_form(code, unit_id=short["id"]))
    for _ in range(6):
        admin.post("/api/v1/candidates", candidate_form(code, unit_id=full["id"]))
    _, report = admin.get(f"/api/v1/cycles/{code}/quota-report")
    rows = {r["unit_id"]: r for r in report["rows"]}
    assert rows[short["id"]]["nominated"] == 5 and rows[short["id"]]["shortfall"] == 1
    assert rows[short["id"]]["flagged"] is False, "not flagged while the window is open"
    assert rows[full["id"]]["shortfall"] == 0

    status, _ = admin.patch(f"/api/v1/cycles/{code}", {"deadline": "2022-08-10"})
    assert status == 200
    _, closed = admin.get(f"/api/v1/cycles/{code}/quota-report")
    rows = {r["unit_id"]: r for r in closed["rows"]}
    assert closed["closed"] is True and rows[short["id"]]["flagged"] is True and rows[full["id"]]["flagged"] is False

    status, dash = admin.get("/api/v1/dashboard", params={"cycle": code})
    assert status == 200 and dash["missing"] == [] and dash["parts"]["quota_report"]["data"]["closed"] is True


def test_enrolment_by_district_with_progress(admin):
    year = 2018
    status, loaded = admin.put("/api/v1/district-quotas", {"year": year})
    assert status == 200 and (loaded["year"], loaded["districts"], loaded["total"]) == (2018, 17, 110210)
    regulator = admin.as_(admin.token_for("regulator", district="通州"))
    code = credit_code()

    def enrol(api, role, district="通州", staff=50, unit_code=code):
        return api.post("/api/v1/enrolments", {
            "year": year, "role": role, "organised_by": "通州区住建委",
            "unit": {"name": "某建筑公司", "credit_code": unit_code, "staff_count": staff,
                     "operating_district": district, "registered_district": "朝阳"},
            "person": {"name": "赵六", "id_number": resident_id(), "phone": "13700001111"}})

    _, before = admin.get(f"/api/v1/enrolment-progress/{year}")
    before_tongzhou = next(r for r in before["rows"] if r["district"] == "通州区")["enrolled"]
    status, principal = enrol(regulator, "principal")
    assert status == 201, principal
    assert principal["district"] == "通州区" and "*" in principal["person_id_number"]
    status, _ = enrol(regulator, "safety_manager")
    assert status == 201
    status, dup = enrol(regulator, "principal")
    assert status == 409
    status, small = enrol(admin, "principal", staff=9, unit_code=credit_code())
    assert status == 422 and small["rule"] == "enrolment_staff_minimum"
    status, elsewhere = enrol(regulator, "principal", district="海淀", unit_code=credit_code())
    assert status == 403, "a district enrols units operating in it"
    status, unknown = enrol(admin, "principal", district="雄安", unit_code=credit_code())
    assert status == 400 and "unit" in unknown["fields"], unknown

    _, after = admin.get(f"/api/v1/enrolment-progress/{year}")
    row = next(r for r in after["rows"] if r["district"] == "通州区")
    assert row["enrolled"] == before_tongzhou + 2 and row["quota"] == 7516
    assert after["quota"] == 110210

    status, cancelled = regulator.post(f"/api/v1/enrolments/{principal['id']}/cancellation", {"reason": "重复报名"})
    assert status == 200 and cancelled["status"] == "cancelled"
    status, again = enrol(regulator, "principal")
    assert status == 201, "a cancelled enrolment frees its place"
    _, mine = regulator.get("/api/v1/enrolments", params={"year": year})
    assert mine["total"] >= 3 and {e["district"] for e in mine["items"]} == {"通州区"}


def test_concurrent_bulk_seals_and_approvals_over_the_same_candidates_apply_each_once(stack, admin, code):
    """A unit and the center seal, then two operators approve, overlapping candidates at the same moment:
    every one is sealed and approved once, each event once, and repeating changes nothing."""
    from concurrent.futures import ThreadPoolExecutor

    open_cycle(admin, code)
    unit = new_unit(admin)
    # the 24 forms arrive in one batch, sent twice at once (the second in the opposite order)
    forms = [candidate_form(code, unit_id=unit["id"]) for _ in range(24)]
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda batch: admin.as_(admin.token).post("/api/v1/candidates/batch", {
            "forms": batch}), [forms, list(reversed(forms))]))
    assert [a[0] for a in answers] == [200, 200], answers
    assert all(i["ok"] for _, body in answers for i in body["items"]), answers
    assert sum(body["applied"] for _, body in answers) == 24
    ids = [i["candidate_id"] for i in answers[0][1]["items"]]
    assert ids == list(reversed([i["candidate_id"] for i in answers[1][1]["items"]])) and len(set(ids)) == 24
    assert [i["index"] for i in answers[0][1]["items"]] == list(range(24))
    # overlapping halves in opposite orders: locks taken in id order, so they wait instead of deadlocking
    first, second = ids[:16], list(reversed(ids[8:]))
    unit_api = admin.as_(admin.token_for("unit", unit_id=unit["id"]))

    def at_once(path, signed_by, api=admin):
        with ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(lambda batch: api.as_(api.token).post(
                path, {"candidate_ids": batch, "signed_by": signed_by}), [first, second]))
        assert [a[0] for a in answers] == [200, 200], answers
        assert all(item["ok"] for _, body in answers for item in body["items"])
        applied = [i["candidate_id"] for _, body in answers for i in body["items"] if i["outcome"] == "applied"]
        assert sorted(applied) == sorted(ids)                       # nothing doubled, nothing missed
        return answers

    # the unit seals (its own token) while the center's operator seals the same forms for it
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda call: call[0].as_(call[0].token).post(
            "/api/v1/candidates/unit-approvals", {"candidate_ids": call[1], "signed_by": "主任"}),
            [(unit_api, first), (admin, second)]))
    assert [a[0] for a in answers] == [200, 200] and all(i["ok"] for _, b in answers for i in b["items"]), answers
    assert sorted(i["candidate_id"] for _, b in answers for i in b["items"] if i["outcome"] == "applied") == ids
    at_once("/api/v1/candidates/center-approvals", "中心")
    engine = make_engine(stack.configs["registration"]["DB_URI"])
    try:
        with engine.connect() as conn:
            emitted = dict(conn.execute(text(
                "SELECT event_type, count(*) FROM outbox WHERE event_type IN "
                "('wsli.registration.candidate_approved.v1', 'wsli.registration.candidate_unit_approved.v1', "
                "'wsli.registration.candidate_registered.v1') "
                "AND subject IN (%s) GROUP BY event_type" % ",".join(f"'{i}'" for i in ids))).all())
    finally:
        engine.dispose()
    assert emitted == {"wsli.registration.candidate_approved.v1": 24, "wsli.registration.candidate_registered.v1": 24,
                       "wsli.registration.candidate_unit_approved.v1": 24}
    status, listed = admin.get("/api/v1/candidates", params={"cycle": code, "per_page": 50})
    assert listed["total"] == 24 and sorted(c["id"] for c in listed["items"]) == sorted(ids)
    status, trail = admin.get(f"/api/v1/audit/candidate/{ids[10]}")
    assert [t["action"] for t in trail].count("candidate.unit_approve") == 1
    status, repeat = unit_api.post("/api/v1/candidates/unit-approvals", {"candidate_ids": ids, "signed_by": "主任"})
    assert status == 200 and repeat["applied"] == 0 and {i["outcome"] for i in repeat["items"]} == {"already"}
    # each item answers what its single route would: a missing candidate is that item's 404, the rest stand
    status, mixed = admin.post("/api/v1/candidates/center-approvals",
                               {"candidate_ids": [999999999, ids[0]], "signed_by": "中心"})
    missing, done = mixed["items"]
    single = admin.post("/api/v1/candidates/999999999/center-approval", {"signed_by": "中心"})
    assert status == 200 and (mixed["succeeded"], mixed["failed"]) == (1, 1) and done["outcome"] == "already"
    assert (missing["candidate_id"], missing["ok"], missing["status"]) == (999999999, False, single[0])
    assert (missing["error"], missing["message"]) == (single[1]["error"], single[1]["message"])
    status, listed = admin.get("/api/v1/candidates", params={"cycle": code, "status": "approved", "per_page": 50})
    assert listed["total"] == 24

    status, big = admin.post("/api/v1/candidates/center-approvals",
                             {"candidate_ids": list(range(1, 502)), "signed_by": "中心"})
    assert status == 400 and "bulk limit 500" in big["fields"]["candidate_ids"][0]
    assert unit_api.post("/api/v1/candidates/center-approvals", {"candidate_ids": ids, "signed_by": "x"})[0] == 403


def test_a_unit_sends_its_forms_in_one_batch_and_each_answers_as_alone(stack, admin, code):
    """Forms in bulk: each registered whole or refused with the single route's answer; a form the
    unit already sent is `already` with its id; another unit's registration of the number stays a 409."""
    open_cycle(admin, code)
    unit, other = new_unit(admin), new_unit(admin, kind="insurer_branch")
    unit_api = admin.as_(admin.token_for("unit", unit_id=unit["id"]))
    other_api = admin.as_(admin.token_for("unit", unit_id=other["id"]))
    taken = candidate_form(code)
    assert other_api.post("/api/v1/candidates", taken)[0] == 201
    forms = [candidate_form(code, external_ref="DC-1"), candidate_form(code, phone="12"),
             dict(taken, name="李四"),                      # the other unit registered this ID number
             candidate_form(code, unit_id=other["id"])]     # a unit nominates for itself only
    status, batch = unit_api.post("/api/v1/candidates/batch", {"forms": forms})
    assert status == 200, batch
    first, bad, twin, foreign = batch["items"]
    assert (first["ok"], first["outcome"], batch["applied"]) == (True, "applied", 1)
    for item, form in ((bad, forms[1]), (twin, forms[2]), (foreign, forms[3])):
        single = unit_api.post("/api/v1/candidates", form)
        assert (item["ok"], item["status"], item["error"], item["message"]) == (
            False, single[0], single[1]["error"], single[1]["message"]), (item, single)
    assert (bad["status"], "phone" in bad["fields"], twin["status"], foreign["status"]) == (400, True, 409, 403)

    status, again = unit_api.post("/api/v1/candidates/batch", {"forms": forms[:1]})
    assert status == 200 and (again["applied"], again["items"][0]["outcome"]) == (0, "already")
    assert again["items"][0]["candidate_id"] == first["candidate_id"]
    _, mine = unit_api.get("/api/v1/candidates", params={"cycle": code})
    assert [c["id"] for c in mine["items"]] == [first["candidate_id"]] and mine["items"][0]["external_ref"] == "DC-1"
    status, trail = admin.get(f"/api/v1/audit/candidate/{first['candidate_id']}")
    assert [t["action"] for t in trail] == ["candidate.register"]

    status, big = unit_api.post("/api/v1/candidates/batch", {"forms": [forms[0]] * 501})
    assert status == 400 and "bulk limit 500" in big["fields"]["forms"][0]
    regulator = admin.as_(admin.token_for("regulator", district="东城"))
    assert regulator.post("/api/v1/candidates/batch", {"forms": forms[:1]})[0] == 403
