"""Training through the gateway: stages, groups, exams, expert panels, classes, certificates."""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from collections import Counter

import pytest
import requests
from kombu import Connection, Exchange, Producer
from sqlalchemy import text

from shared.catalogue import component
from shared.db import make_engine
from shared.documents import csv_bytes, xlsx_bytes
from shared.events import build_envelope, specs_for
from shared.pii import PiiVault
from shared.workdays import utcnow
from tests.conftest import AGENCY, INDEX_KEY, PII_KEY, wait_for
from tests.support import resident_id

pytestmark = pytest.mark.e2e

component("registration").schemas()
component("scoring").schemas()
DISTRICTS = ["朝阳区", "海淀区", "东城区", "西城区", "丰台区"]
KINDS = ["district_safety_office", "insurer_branch", "insured_enterprise"]
VAULT = PiiVault([PII_KEY], INDEX_KEY)


def publish_all(stack, service, name, items):
    spec = specs_for(service, name)[0]
    with Connection(stack.configs["training"]["AMQP_URI"], transport_options={"confirm_publish": True}) as conn:
        producer = Producer(conn.default_channel)
        for data in items:
            envelope = build_envelope(spec, AGENCY, "s", data, utcnow())
            producer.publish(json.dumps(envelope).encode(), routing_key=name, content_type="application/json",
                             exchange=Exchange(f"{service}.events", type="topic", durable=True),
                             content_encoding="utf-8", message_id=envelope["id"], delivery_mode=2)


def approved(cycle, candidate_id, district, kind):
    now = utcnow()
    return {"candidate_id": candidate_id, "cycle": cycle, "unit_id": 1, "status": "approved", "signed_by": "中心",
            "opinion": "", "sealed_at": now, "unit_kind": kind, "district": district, "name": f"学员{candidate_id}",
            "gender": "male", "id_number_masked": "110***********123X", "person_key": f"pk-{cycle}-{candidate_id}",
            "registered_at": now}


def advance(cycle, ids, to_stage):
    return [{"cycle": cycle, "candidate_id": i, "from_stage": "basic" if to_stage == "key" else "key",
             "to_stage": to_stage, "rank": n + 1, "score": "90.00"} for n, i in enumerate(ids)]


def count(admin, cycle, **params):
    status, body = admin.get(f"/api/v1/cycles/{cycle}/trainees", params=dict(params, per_page=1))
    assert status == 200, body
    return body["total"]


def outbox(stack, event):
    engine = make_engine(stack.configs["training"]["DB_URI"])
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT body FROM outbox WHERE event_type = :t ORDER BY id"),
                                {"t": f"wsli.training.{event}.v1"}).scalars().all()
        return [json.loads(r)["data"] for r in rows]
    finally:
        engine.dispose()


@pytest.fixture
def cycle(admin):
    """A cycle registration knows (training plans stages only for those)."""
    code = "C" + uuid.uuid4().hex[:8]
    status, body = admin.post("/api/v1/cycles", {"code": code, "title": f"培训批次 {code}", "deadline": "2099-12-31"})
    assert status == 201, body
    return code


def base_ids():
    base = int(uuid.uuid4().int % 10**9) * 1000
    return base


# ---- stages, trainees, groups ---------------------------------------------------------------------

def test_stages_trainees_and_group_assignment(stack, admin, cycle):
    status, stages = admin.post(f"/api/v1/cycles/{cycle}/stages", {"plan": "2022"})
    assert status == 201, stages
    assert [(s["stage"], s["mode"]) for s in stages] == [("basic", "online"), ("key", "offline"),
                                                         ("intensive", "offline")]
    assert [s["date"] for s in stages[1]["sessions"]] == ["2022-09-14", "2022-09-15", "2022-09-16"]
    assert admin.post(f"/api/v1/cycles/{cycle}/stages", {})[0] == 409
    status, bad = admin.post(f"/api/v1/cycles/{cycle}x/stages", {"plan": "1999"})
    assert status == 400 and "plan" in bad["fields"]
    # a well-formed plan for a cycle registration never opened: 404 naming the cycle, nothing planned
    status, missing = admin.post(f"/api/v1/cycles/{cycle}x/stages", {"plan": "2022"})
    assert status == 404 and f"{cycle}x" in missing["message"] and "cycle" in missing["fields"], missing
    assert admin.get(f"/api/v1/cycles/{cycle}x/stages")[0] == 404

    base = base_ids()
    ids = [base + i for i in range(151)]
    publish_all(stack, "registration", "candidate_approved",
                [approved(cycle, cid, DISTRICTS[n % 5], KINDS[n % 3]) for n, cid in enumerate(ids)])
    wait_for(lambda: count(admin, cycle) == 151, timeout=30, message="151 trainees")
    publish_all(stack, "scoring", "candidate_advanced", advance(cycle, ids[:150], "key"))
    wait_for(lambda: count(admin, cycle, stage="key") == 150, timeout=30, message="150 at key")
    assert admin.get(f"/api/v1/cycles/{cycle}/stages")[1][1]["trainees"] == 150

    assert admin.post(f"/api/v1/cycles/{cycle}/stages/basic/group-assignment")[0] == 422
    status, result = admin.post(f"/api/v1/cycles/{cycle}/stages/key/group-assignment")
    assert status == 200, result
    assert result["assigned"] == 150
    groups = result["groups"]
    assert len(groups) == 18
    assert [len(g["members"]) for g in groups[:6]] == [9, 9, 8, 8, 8, 8]
    assert Counter(g["scenario"] for g in groups) == {s: 3 for s in ("hazardous_chemicals", "construction",
                                                                     "commercial_complex", "gas_company",
                                                                     "restaurant", "manufacturing")}
    # 30 per district over 18 groups: every group has 1 or 2 of each district
    for g in groups:
        per_district = Counter(m["district"] for m in g["members"])
        assert set(per_district) <= set(DISTRICTS) and max(per_district.values()) <= 2
    # running it again places nobody twice
    assert admin.post(f"/api/v1/cycles/{cycle}/stages/key/group-assignment")[1]["assigned"] == 0

    # the 151st advances: every seat is taken -> the rule, and nobody moves
    publish_all(stack, "scoring", "candidate_advanced", advance(cycle, [ids[150]], "key"))
    wait_for(lambda: count(admin, cycle, stage="key") == 151, timeout=15, message="151 at key")
    status, full = admin.post(f"/api/v1/cycles/{cycle}/stages/key/group-assignment")
    assert status == 422 and full["rule"] == "group_capacity", full
    status, full = admin.put(f"/api/v1/groups/{groups[0]['id']}/members/{ids[150]}")
    assert status == 422 and full["rule"] == "group_capacity"
    # a withdrawal frees a seat in group 1; the operator moves someone from group 2 into it,
    # then the 151st takes the seat freed in group 2
    leaver = groups[0]["members"][0]["candidate_id"]
    publish_all(stack, "registration", "candidate_withdrawn", [{
        "candidate_id": leaver, "cycle": cycle, "unit_id": 1, "status": "withdrawn",
        "previous_status": "approved", "reason": "工作调动"}])
    wait_for(lambda: admin.get(f"/api/v1/trainees/{leaver}")[1]["status"] == "withdrawn", message="withdrawn")
    mover = groups[1]["members"][0]["candidate_id"]
    status, moved = admin.put(f"/api/v1/groups/{groups[0]['id']}/members/{mover}")
    assert status == 200 and mover in [m["candidate_id"] for m in moved["members"]]
    assert leaver not in [m["candidate_id"] for m in moved["members"]] and len(moved["members"]) == 9
    assert admin.get(f"/api/v1/trainees/{mover}")[1]["groups"]["key"] == groups[0]["id"]
    assert admin.put(f"/api/v1/groups/{groups[1]['id']}/members/{ids[150]}")[0] == 200
    assert admin.put(f"/api/v1/groups/{groups[1]['id']}/members/{leaver}")[1]["rule"] == "group_stage"
    groups = admin.get(f"/api/v1/cycles/{cycle}/stages/key/groups")[1]

    # expert panels: an expert scores only their own groups
    expert = admin.as_(admin.token_for("expert", person="exp-1", name="专家甲"))
    assert admin.post(f"/api/v1/groups/{groups[0]['id']}/experts", {"expert": "exp-1"})[0] == 200
    assert [g["id"] for g in expert.get(f"/api/v1/cycles/{cycle}/stages/key/groups")[1]] == [groups[0]["id"]]
    mine = groups[0]["members"][1]["candidate_id"]
    not_mine = groups[1]["members"][0]["candidate_id"]
    status, refused = expert.post("/api/v1/expert-scores", {"candidate_id": not_mine, "part": "key_expert",
                                                            "score": "80"})
    assert status == 422 and refused["rule"] == "expert_group"
    status, refused = expert.post("/api/v1/expert-scores", {"candidate_id": mine, "part": "key_expert",
                                                            "score": "100.5"})
    assert status == 400 and "score" in refused["fields"]
    status, scored = expert.post("/api/v1/expert-scores", {"candidate_id": mine, "part": "key_expert",
                                                           "score": "86.5"})
    assert status == 200 and scored["panel_mean"] == "86.50" and scored["replaced"] is None
    status, again = expert.post("/api/v1/expert-scores", {"candidate_id": mine, "part": "key_expert",
                                                          "score": 88})
    assert status == 200 and again["replaced"] == "86.50" and again["panel_size"] == 1
    assert admin.post("/api/v1/expert-scores", {"candidate_id": mine, "part": "key_expert",
                                                "score": 88})[0] == 403
    status, trail = admin.get(f"/api/v1/training-audit/trainee/{mine}")
    assert status == 200
    trail = [a for a in trail if a["action"].startswith("expert_score.")]
    assert [(a["action"], a["detail"]["score"], a["detail"]["previous"], a["actor"]) for a in trail] == [
        ("expert_score.create", "86.50", None, "专家甲"), ("expert_score.replace", "88.00", "86.50", "专家甲")]
    events = [e for e in outbox(stack, "expert_scored") if e["candidate_id"] == mine]
    assert [(e["score"], e["stage"], e["part"]) for e in events] == [("86.50", "key", "key_expert"),
                                                                     ("88.00", "key", "key_expert")]
    # every step above is an event, not only the scores
    assert [e["stages"] for e in outbox(stack, "stages_planned") if e["cycle"] == cycle] == [
        ["basic", "key", "intensive"]]
    assigned = [e for e in outbox(stack, "groups_assigned") if e["cycle"] == cycle]
    assert assigned and all(p["group_id"] and p["candidate_id"] for e in assigned for p in e["placements"])
    assert [e for e in outbox(stack, "trainee_moved") if e["cycle"] == cycle], "a move is an event"
    assert outbox(stack, "group_expert_assigned"), "a panel member is an event"


# ---- exams ----------------------------------------------------------------------------------------

def bank(admin, topic):
    questions = [{"topic": topic, "kind": "single", "text": f"单选{i}", "options": {"A": "甲", "B": "乙"},
                  "answer": ["A"]} for i in range(6)]
    questions += [{"topic": topic, "kind": "multiple", "text": "多选", "options": {"A": "a", "B": "b", "C": "c"},
                   "answer": ["A", "C"]},
                  {"topic": topic, "kind": "true_false", "text": "判断", "answer": ["F"]}]
    status, body = admin.post("/api/v1/questions/batch", {"questions": questions})
    assert status == 201, body
    return body["ids"]


def test_exam_attempts_grading_reopening_and_paper_import(stack, admin, cycle):
    topic = "安责险" + uuid.uuid4().hex[:6]
    ids = bank(admin, topic)
    status, bad = admin.post("/api/v1/questions", {"topic": topic, "kind": "multiple", "text": "x",
                                                   "options": {"A": "a", "B": "b"}, "answer": ["A"]})
    assert status == 400 and "answer" in bad["fields"]
    base = base_ids()
    publish_all(stack, "registration", "candidate_approved", [approved(cycle, base + i, "朝阳", KINDS[0])
                                                              for i in range(3)])
    wait_for(lambda: count(admin, cycle) == 3, timeout=20, message="3 trainees")

    draw = {"kind": "basic_test", "title": "基础考试", "cycle": cycle, "draw": [{"topic": topic, "count": 8}],
            "seed": 20220826, "duration_minutes": 30}
    status, exam = admin.post("/api/v1/exams", draw)
    assert status == 201 and exam["questions"] == 8 and exam["stage"] == "basic"
    status, too_many = admin.post("/api/v1/exams", dict(draw, draw=[{"topic": topic, "count": 9}]))
    assert status == 422 and too_many["rule"] == "paper_draw"

    lecturer = admin.as_(admin.token_for("lecturer", person=str(base)))
    status, attempt = lecturer.post(f"/api/v1/exams/{exam['id']}/attempts", {})
    assert status == 201, attempt
    assert sorted(q["id"] for q in attempt["paper"]) == sorted(ids)
    assert all("answer" not in q for q in attempt["paper"])
    status, second = lecturer.post(f"/api/v1/exams/{exam['id']}/attempts", {})
    assert status == 422 and second["rule"] == "one_attempt"
    # the same seed draws the same paper (in the same order)
    status, exam2 = admin.post("/api/v1/exams", draw)
    status, attempt2 = admin.post(f"/api/v1/exams/{exam2['id']}/attempts", {"candidate_id": base + 1})
    assert [q["id"] for q in attempt2["paper"]] == [q["id"] for q in attempt["paper"]]

    by_text = {q["id"]: q for q in attempt["paper"]}
    answers = {}
    for qid, q in by_text.items():
        if q["kind"] == "single":
            answers[str(qid)] = "A"
        elif q["kind"] == "multiple":
            answers[str(qid)] = ["A"]  # partial: wrong
        else:
            answers[str(qid)] = "F"
    status, graded = lecturer.post(f"/api/v1/attempts/{attempt['id']}/submission", {"answers": answers})
    assert status == 200, graded
    assert graded["correct"] == 7 and graded["score"] == "87.50"  # 7 of 8
    assert lecturer.post(f"/api/v1/attempts/{attempt['id']}/submission", {"answers": {}})[1]["rule"] == "one_attempt"
    other = admin.as_(admin.token_for("lecturer", person=str(base + 2)))
    assert other.get(f"/api/v1/attempts/{attempt['id']}")[0] == 404

    status, reopened = admin.post(f"/api/v1/attempts/{attempt['id']}/reopening", {"reason": "断网"})
    assert status == 200 and reopened["status"] == "void"
    status, retry = lecturer.post(f"/api/v1/exams/{exam['id']}/attempts", {})
    assert status == 201
    status, regraded = lecturer.post(f"/api/v1/attempts/{retry['id']}/submission", {"answers": {}})
    assert regraded["score"] == "0.00"

    scored = [e for e in outbox(stack, "exam_scored") if e["cycle"] == cycle]
    assert [(e["candidate_id"], e["score"], e["exam"], e["stage"], e["source"]) for e in scored] == \
        [(base, "87.50", "basic_test", "basic", "online"), (base, "0.00", "basic_test", "basic", "online")]

    # paper exam: scores imported; out of range and a second attempt are refused, naming the row
    status, paper_exam = admin.post("/api/v1/exams", dict(draw, seed=1))
    status, bad = admin.post(f"/api/v1/exams/{paper_exam['id']}/paper-scores",
                             {"rows": [{"candidate_id": base + 2, "score": "101"}]})
    assert status == 400 and "rows.0.score" in bad["fields"]
    status, imported = admin.post(f"/api/v1/exams/{paper_exam['id']}/paper-scores",
                                  {"rows": [{"candidate_id": base + 2, "score": "77.5"}]})
    assert status == 201 and imported["imported"] == 1
    status, twice = admin.post(f"/api/v1/exams/{paper_exam['id']}/paper-scores",
                               {"rows": [{"candidate_id": base + 2, "score": "80"}]})
    assert status == 422 and twice["rule"] == "one_attempt" and "rows.0" in twice["fields"]
    paper = [e for e in outbox(stack, "exam_scored") if e["cycle"] == cycle and e["source"] == "paper"]
    assert [(e["candidate_id"], e["score"]) for e in paper] == [(base + 2, "77.50")]
    exams = {e["exam_id"]: e for e in outbox(stack, "exam_created") if e["cycle"] == cycle}
    assert paper_exam["id"] in exams and all(e["question_count"] > 0 for e in exams.values())
    started = [e for e in outbox(stack, "attempt_started") if e["exam_id"] in exams]
    reopened = [e for e in outbox(stack, "attempt_reopened") if e["exam_id"] in exams]
    assert started and reopened and all(e["reason"] for e in reopened)
    assert outbox(stack, "questions_added")


def both_at_once(api, method, calls):
    """Send the calls at the same moment, each on its own connection; their (status, body) in order."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(lambda call: getattr(api.as_(api.token), method)(*call), calls))


def test_concurrent_panels_score_sheets_and_external_imports_store_everything_once(stack, admin, cycle):
    """Two operators send the same bulk work at the same moment: each expert is put on a panel once,
    each score stored once, each event emitted once per change, and repeating changes nothing."""
    assert admin.post(f"/api/v1/cycles/{cycle}/stages", {"plan": "2022"})[0] == 201
    base = base_ids()
    ids = [base + i for i in range(6)]
    id_number = resident_id()
    people = [approved(cycle, cid, DISTRICTS[n % 5], KINDS[n % 3]) for n, cid in enumerate(ids)]
    people[5]["person_key"] = VAULT.blind_index(id_number)   # the platform knows this one by ID number
    publish_all(stack, "registration", "candidate_approved", people)
    wait_for(lambda: count(admin, cycle) == 6, timeout=30, message="6 trainees")

    # external online test: the same export imported twice at once (the first import of that reference)
    source = {"exam": "basic_test", "platform": "安责险学习小程序", "reference": f"导出-{cycle}"}
    rows = [{"candidate_id": cid, "score": f"{80 + i}.5"} for i, cid in enumerate(ids[:5])] + [
        {"id_number": id_number, "score": "79"}]
    answers = both_at_once(admin, "post", [(f"/api/v1/cycles/{cycle}/external-exam-results", dict(source, rows=rows))
                                           for _ in range(2)])
    assert [a[0] for a in answers] == [200, 200], answers
    assert sorted((b["imported"], b["unchanged"], b["errors"]) for _, b in answers) == [(0, 6, []), (6, 0, [])]
    assert answers[0][1]["exam_id"] == answers[1][1]["exam_id"], "one exam stands for one platform import"
    scored = [e for e in outbox(stack, "exam_scored") if e["cycle"] == cycle]
    assert sorted(e["candidate_id"] for e in scored) == ids                 # each score once
    assert {(e["source"], e["platform"], e["reference"]) for e in scored} == {
        ("online", "安责险学习小程序", f"导出-{cycle}")}
    created = [e for e in outbox(stack, "exam_created") if e["cycle"] == cycle]
    assert [(e["platform"], e["reference"], e["question_count"]) for e in created] == [
        ("安责险学习小程序", f"导出-{cycle}", 0)]
    engine = make_engine(stack.configs["training"]["DB_URI"])
    try:
        with engine.connect() as conn:
            stored = conn.execute(text("SELECT platform, reference FROM exams WHERE cycle = :c"), {"c": cycle}).all()
            attempts = conn.execute(text("SELECT count(*) FROM attempts a JOIN exams e ON e.id = a.exam_id "
                                         "WHERE e.cycle = :c"), {"c": cycle}).scalar()
    finally:
        engine.dispose()
    assert [tuple(r) for r in stored] == [("安责险学习小程序", f"导出-{cycle}")] and attempts == 6
    # the same export as the platform's CSV file (学员编号 or 身份证号): nothing new; a bad row named by its line
    table = [[cid, "", f"{80 + i}.5"] for i, cid in enumerate(ids[:5])] + [["", id_number, "79"], [ids[0], "", "abc"]]
    status, again = admin.call("POST", f"/api/v1/cycles/{cycle}/external-exam-files",
                               raw=csv_bytes(["学员编号", "身份证号", "分数"], table),
                               params=dict(source, filename="export.csv"), headers={"Content-Type": "text/csv"})
    assert status == 200 and (again["imported"], again["unchanged"]) == (0, 6), again
    assert [(e["row"], list(e["fields"])) for e in again["errors"]] == [(8, ["score"])]
    assert len([e for e in outbox(stack, "exam_scored") if e["cycle"] == cycle]) == 6
    # the score keeps its source in scoring's sheet: the explanation says where the test was taken
    def explained():
        status, body = admin.get(f"/api/v1/scoring/cycles/{cycle}/candidates/{ids[0]}")
        return status == 200 and body["parts"] and body["parts"][0]
    part = wait_for(explained, timeout=20, message="scoring folds the imported score")
    assert (part["part"], part["score"], part["detail"]["platform"], part["detail"]["reference"]) == (
        "basic_test", "80.50", "安责险学习小程序", f"导出-{cycle}")

    publish_all(stack, "scoring", "candidate_advanced", advance(cycle, ids, "key"))
    wait_for(lambda: count(admin, cycle, stage="key") == 6, timeout=30, message="6 at key")
    status, assigned = admin.post(f"/api/v1/cycles/{cycle}/stages/key/group-assignment")
    assert status == 200, assigned
    g1, g2 = [g for g in assigned["groups"] if g["members"]][:2]

    # panels: overlapping pairs in opposite orders, at once
    first = [{"group_id": g1["id"], "expert": e, "name": f"专家{e}"} for e in ("e1", "e2", "e3")] + [
        {"group_id": g2["id"], "expert": "e1"}]
    second = list(reversed([{"group_id": g1["id"], "expert": e} for e in ("e2", "e3")]
                           + [{"group_id": g2["id"], "expert": e} for e in ("e1", "e2", "e3")]))
    answers = both_at_once(admin, "post", [("/api/v1/group-experts", {"items": first}),
                                           ("/api/v1/group-experts", {"items": second})])
    assert [a[0] for a in answers] == [200, 200], answers
    assert all(item["ok"] for _, body in answers for item in body["items"])
    applied = Counter((i["group_id"], i["expert"]) for _, body in answers for i in body["items"]
                      if i["outcome"] == "applied")
    assert sum(applied.values()) == 6 and set(applied.values()) == {1}    # each pair applied by one call only
    assigned_events = [(e["group_id"], e["expert"]) for e in outbox(stack, "group_expert_assigned")
                       if e["group_id"] in (g1["id"], g2["id"])]
    assert sorted(assigned_events) == sorted(applied)
    status, repeat = admin.post("/api/v1/group-experts", {"items": first})
    assert status == 200 and repeat["applied"] == 0 and {i["outcome"] for i in repeat["items"]} == {"already"}
    panels = {g["id"]: sorted(g["experts"]) for g in admin.get(f"/api/v1/cycles/{cycle}/stages/key/groups")[1]}
    assert panels[g1["id"]] == panels[g2["id"]] == ["e1", "e2", "e3"]

    # a paper score sheet entered twice at once: stored once, one panel mean per candidate
    members = [m["candidate_id"] for m in g1["members"]]
    sheet = {"part": "key_expert", "reference": f"K-{cycle}", "rows": [
        {"expert": e, "candidate_id": cid, "score": str(70 + n + k)}
        for n, cid in enumerate(members) for k, e in enumerate(("e1", "e2", "e3"))]}
    answers = both_at_once(admin, "post", [(f"/api/v1/groups/{g1['id']}/score-sheets", sheet)] * 2)
    assert [a[0] for a in answers] == [201, 201], answers
    assert sorted((b["changed"], b["unchanged"]) for _, b in answers) == [(0, len(sheet["rows"])),
                                                                         (len(sheet["rows"]), 0)]
    means = [e for e in outbox(stack, "expert_scored") if e["cycle"] == cycle]
    assert sorted(e["candidate_id"] for e in means) == sorted(members)     # once per candidate
    assert {e["panel_size"] for e in means} == {3}
    status, trail = admin.get(f"/api/v1/training-audit/group/{g1['id']}")
    assert status == 200 and [a["action"] for a in trail].count("score_sheet.enter") == 1
    status, trail = admin.get(f"/api/v1/training-audit/trainee/{members[0]}")
    assert sorted(a["detail"]["on_behalf_of"] for a in trail if a["action"] == "expert_score.create") == [
        "e1", "e2", "e3"]
    # one score corrected on the paper sheet, sent as the spreadsheet: only that candidate's mean goes out again
    sheet["rows"][0]["score"] = "99"
    raw = xlsx_bytes("评分表", ["专家", "学员编号", "分数"],
                     [[r["expert"], r["candidate_id"], float(r["score"])] for r in sheet["rows"]])
    status, corrected = admin.call("POST", f"/api/v1/groups/{g1['id']}/score-sheet-files", raw=raw,
                                   params={"part": "key_expert", "filename": "K-复核.xlsx"},
                                   headers={"Content-Type": "application/octet-stream"})
    assert status == 201 and (corrected["changed"], corrected["candidates"], corrected["reference"]) == (
        1, 1, "K-复核.xlsx"), corrected
    means = [e for e in outbox(stack, "expert_scored") if e["cycle"] == cycle]
    assert len(means) == len(members) + 1 and means[-1]["candidate_id"] == members[0]


# ---- safety-training classes -------------------------------------------------------------------------

def enrolled(year, n, district="东城"):
    people = []
    for i in range(n):
        id_number = resident_id()
        people.append({"enrolment_id": int(uuid.uuid4().int % 10**12), "year": year, "district": district,
                       "role": "principal", "unit_name": f"单位{i}", "unit_credit_code": "91110000000000001X",
                       "person_name": f"学员{i}", "id_number_masked": id_number[:3] + "*" * 11 + id_number[-4:],
                       "person_key": VAULT.blind_index(id_number), "_id": id_number})
    return people


def test_class_attendance_hours_certificates_and_ratings(stack, admin, monkeypatch):
    status, weak = admin.post("/api/v1/institutions", {
        "name": "小机构" + uuid.uuid4().hex[:4], "full_time_managers": 2, "management_system": True,
        "teacher_min_years": 5, "evaluation_mechanism": True, "seats": 80})
    assert status == 201 and weak["qualified"] is False
    assert weak["failed_conditions"][0]["rule"] == "institution_managers"
    status, inst = admin.post("/api/v1/institutions", {
        "name": "培训中心" + uuid.uuid4().hex[:4], "full_time_managers": 3, "management_system": True,
        "teacher_min_years": 6, "evaluation_mechanism": True, "seats": 60})
    assert status == 201 and inst["qualified"] is True
    status, t1 = admin.post("/api/v1/teachers", {"name": "孙老师", "qualification": "registered_safety_engineer",
                                                 "title": "高级工程师", "years_experience": 12})
    status, junior = admin.post("/api/v1/teachers", {"name": "新老师", "qualification": "mid_title",
                                                     "years_experience": 3})
    status, manager = admin.post("/api/v1/class-managers", {"institution_id": inst["id"], "name": "赵班主任",
                                                            "id_number": resident_id(birth="19800101")})
    assert status == 201, manager
    klass = {"title": "2018年东城第1期", "institution_id": weak["id"], "district": "东城",
             "days": ["2018-05-10", "2018-05-11"], "manager_id": manager["id"], "capacity": 3,
             "teacher_ids": [t1["id"]]}
    status, refused = admin.post("/api/v1/classes", klass)
    assert status == 422 and refused["rule"] == "institution_managers"
    assert "institution.full_time_managers" in refused["fields"]
    status, refused = admin.post("/api/v1/classes", dict(klass, institution_id=inst["id"], capacity=61))
    assert status == 422 and refused["rule"] == "class_capacity_premises"
    status, refused = admin.post("/api/v1/classes", dict(klass, institution_id=inst["id"],
                                                         teacher_ids=[junior["id"]]))
    assert status == 422 and refused["rule"] == "teacher_experience"
    status, c = admin.post("/api/v1/classes", dict(klass, institution_id=inst["id"]))
    assert status == 201 and c["class_hours"] == 16 and c["year"] == 2018

    people = enrolled(2018, 4)
    people[3]["district"] = "西城"
    publish_all(stack, "registration", "trainee_enrolled", [{k: v for k, v in p.items() if k != "_id"}
                                                            for p in people])

    def seat(p):
        status, body = admin.post(f"/api/v1/classes/{c['id']}/seats", {"enrolment_id": p["enrolment_id"]})
        return body if status == 201 else (None if status == 400 else pytest.fail(body))
    seats = [wait_for(lambda p=p: seat(p), message="enrolment arrives") for p in people[:3]]
    status, full = admin.post(f"/api/v1/classes/{c['id']}/seats", {"enrolment_id": people[3]["enrolment_id"]})
    assert status in (400, 422)
    wait_for(lambda: admin.post(f"/api/v1/classes/{c['id']}/seats",
                                {"enrolment_id": people[3]["enrolment_id"]})[1].get("rule") == "class_capacity",
             message="over capacity")

    def attend(i, day, action, at, id_number=None):
        return admin.post(f"/api/v1/classes/{c['id']}/attendance", {
            "seat_id": seats[i]["id"], "id_number": id_number or people[i]["_id"], "day": day, "action": action,
            "at": at})
    status, wrong = attend(0, 1, "check_in", "2018-05-10T08:50:00+08:00", id_number=people[1]["_id"])
    assert status == 422 and wrong["rule"] == "identity_check" and "id_number" in wrong["fields"]
    status, wrong_day = attend(0, 1, "check_in", "2018-05-11T08:50:00+08:00")
    assert status == 422 and wrong_day["rule"] == "attendance_day"
    # 0: both days in full; 1: leaves day 2 at 15:00; 2: never comes
    for day, date in ((1, "2018-05-10"), (2, "2018-05-11")):
        assert attend(0, day, "check_in", f"{date}T08:50:00+08:00")[0] == 200
        assert attend(0, day, "check_out", f"{date}T17:05:00+08:00")[0] == 200
        assert attend(1, day, "check_in", f"{date}T08:55:00+08:00")[0] == 200
        out = "17:01" if day == 1 else "15:00"
        assert attend(1, day, "check_out", f"{date}T{out}:00+08:00")[0] == 200
    assert attend(0, 1, "check_in", "2018-05-10T09:00:00+08:00")[0] == 409

    topic = "培训考核" + uuid.uuid4().hex[:6]
    bank(admin, topic)
    status, exam = admin.post("/api/v1/exams", {"kind": "class_exam", "title": "结业考试", "class_id": c["id"],
                                                "draw": [{"topic": topic, "count": 2}], "seed": 7})
    assert status == 201 and exam["pass_mark"] == "60.00"
    status, imported = admin.post(f"/api/v1/exams/{exam['id']}/paper-scores", {"rows": [
        {"id_number": people[0]["_id"], "score": "92"}]})
    assert status == 201, imported
    status, stranger = admin.post(f"/api/v1/exams/{exam['id']}/attempts", {"id_number": resident_id()})
    assert status == 422 and stranger["rule"] == "identity_check"

    status, done = admin.post(f"/api/v1/classes/{c['id']}/completion")
    assert status == 200, done
    assert (done["completed"], done["passed"], done["reported"]) == (3, 1, 2)
    assert admin.post(f"/api/v1/classes/{c['id']}/completion")[1]["rule"] == "class_completed"
    got = admin.get(f"/api/v1/classes/{c['id']}")[1]["seats"]
    assert [(s["status"], s["hours"], s["passed"]) for s in got] == [
        ("present", 16, True), ("left_early", 8, False), ("absent", 0, False)]
    completed = [e for e in outbox(stack, "training_completed") if e["class_id"] == c["id"]]
    assert sorted((e["person_name"], e["class_hours"], e["passed"], e["year"]) for e in completed) == \
        [("学员0", 16, True, 2018), ("学员1", 8, False, 2018)]
    status, report = admin.get("/api/v1/absence-reports", params={"year": 2018, "district": "东城", "per_page": 200})
    mine = [r for r in report["items"] if r["class_id"] == c["id"]]
    assert sorted((r["person_name"], r["status"]) for r in mine) == [("学员1", "left_early"), ("学员2", "absent")]
    other_district = admin.as_(admin.token_for("regulator", district="西城"))
    assert [r for r in other_district.get("/api/v1/absence-reports")[1]["items"] if r["class_id"] == c["id"]] == []
    assert other_district.get(f"/api/v1/classes/{c['id']}")[0] == 404
    assert other_district.post("/api/v1/classes", dict(klass, institution_id=inst["id"]))[0] == 403

    # a second class the same year: hours add up
    status, c2 = admin.post("/api/v1/classes", dict(klass, institution_id=inst["id"], title="第2期",
                                                    days=["2018-06-01", "2018-06-02"]))
    status, s2 = admin.post(f"/api/v1/classes/{c2['id']}/seats", {"enrolment_id": people[0]["enrolment_id"]})
    for day, date in ((1, "2018-06-01"), (2, "2018-06-02")):
        admin.post(f"/api/v1/classes/{c2['id']}/attendance", {"seat_id": s2["id"], "id_number": people[0]["_id"],
                                                              "day": day, "action": "check_in",
                                                              "at": f"{date}T09:00:00+08:00"})
        admin.post(f"/api/v1/classes/{c2['id']}/attendance", {"seat_id": s2["id"], "id_number": people[0]["_id"],
                                                              "day": day, "action": "check_out",
                                                              "at": f"{date}T17:00:00+08:00"})
    assert admin.post(f"/api/v1/classes/{c2['id']}/completion")[1]["completed"] == 1
    status, hours = admin.post("/api/v1/class-hours/lookup", {"id_number": people[0]["_id"]})
    assert status == 200 and hours["years"] == {"2018": 32} and len(hours["classes"]) == 2
    status, by_key = admin.get(f"/api/v1/people/{people[0]['person_key']}/class-hours")
    assert by_key["years"] == {"2018": 32}

    # certificates: public verify, PDF, revocation, unknown and foreign numbers
    number = done["certificates"][0]
    assert number.startswith("BEIJING-2018-")
    status, verdict = stack.anonymous.get(f"/api/v1/certificates/{number}/verify")
    assert status == 200 and verdict["status"] == "valid", verdict
    assert verdict["name"] != "学员0" and verdict["name"].startswith("学")
    assert verdict["class"]["id"] == c["id"] and verdict["class"]["class_hours"] == 16
    response = requests.get(f"{stack.base}/api/v1/certificates/{number}/pdf",
                            headers={"Authorization": f"Bearer {stack.bootstrap}"}, timeout=10)
    assert response.status_code == 200 and response.content.startswith(b"%PDF-")
    assert response.headers["Content-Type"].startswith("application/pdf")
    assert stack.anonymous.get(f"/api/v1/certificates/{number}/pdf")[0] == 401
    response = requests.post(f"{stack.base}/api/v1/certificates/{number}/download",
                             json={"id_number": people[0]["_id"]}, timeout=10)
    assert response.status_code == 200 and response.content.startswith(b"%PDF-")
    assert stack.anonymous.post(f"/api/v1/certificates/{number}/download",
                                {"id_number": people[1]["_id"]})[0] == 404
    status, revoked = admin.post(f"/api/v1/certificates/{number}/revocation", {"reason": "考试作弊"})
    assert status == 200 and revoked["status"] == "revoked" and revoked["number"] == number
    verdict = stack.anonymous.get(f"/api/v1/certificates/{number}/verify")[1]
    assert (verdict["status"], verdict["revoked_reason"]) == ("revoked", "考试作弊")
    assert stack.anonymous.get("/api/v1/certificates/BEIJING-2018-9999999/verify")[1]["status"] == "unknown"
    foreign = stack.anonymous.get("/api/v1/certificates/FOSHAN-2018-0000001/verify")[1]
    assert (foreign["status"], foreign["agency"]) == ("foreign", "foshan")

    # ratings: each trainee who attended rates each teacher of their class once, within the window
    from services.training import classes
    monkeypatch.setattr(classes, "utcnow", lambda: datetime(2018, 5, 12, 9, 0, tzinfo=timezone.utc))
    rate = {"id_number": people[0]["_id"], "teacher_id": t1["id"], "stars": 5, "comment": "讲得好"}
    assert stack.anonymous.post(f"/api/v1/classes/{c['id']}/ratings", rate)[0] == 201
    assert stack.anonymous.post(f"/api/v1/classes/{c['id']}/ratings", rate)[0] == 409
    assert stack.anonymous.post(f"/api/v1/classes/{c['id']}/ratings",
                                dict(rate, id_number=people[1]["_id"], stars=4))[0] == 201
    status, bad = stack.anonymous.post(f"/api/v1/classes/{c['id']}/ratings", dict(rate, stars=6))
    assert status == 400 and "stars" in bad["fields"]
    status, outsider = stack.anonymous.post(f"/api/v1/classes/{c['id']}/ratings",
                                            dict(rate, id_number=people[3]["_id"]))
    assert status == 422 and outsider["rule"] == "rating_trainee"
    status, not_teacher = stack.anonymous.post(f"/api/v1/classes/{c['id']}/ratings",
                                               dict(rate, teacher_id=junior["id"]))
    assert status == 422 and not_teacher["rule"] == "rating_teacher"
    teacher = admin.get(f"/api/v1/teachers/{t1['id']}")[1]
    assert (teacher["ratings"], teacher["average"]) == (2, "4.50")
    mine = lambda event: [e for e in outbox(stack, event) if e.get("class_id") == c["id"]]  # noqa: E731
    assert [e["capacity"] for e in mine("class_created")] == [c["capacity"]]
    assert sorted(e["stars"] for e in mine("teacher_rated")) == [4, 5]
    assert mine("trainee_seated") and all(e["person_key"] for e in mine("trainee_seated"))
    assert {e["action"] for e in mine("attendance_recorded")} == {"check_in", "check_out"}
    assert t1["id"] in [e["teacher_id"] for e in outbox(stack, "teacher_registered")]
    assert outbox(stack, "institution_registered")
