"""Scoring through the gateway: schemes, rankings, closing, explanations, exports, roles.

Candidates come from the real registration flow (candidate_approved travels over the
broker); training's scores are published as the documented events, since training
has no producer yet.
"""
from __future__ import annotations

import io
import json
import uuid
from datetime import datetime, timezone

import pytest
from kombu import Connection, Exchange, Producer
from openpyxl import load_workbook

from shared.events import rfc3339
from shared.pii import get_vault
from tests.support import candidate_form, resident_id
from tests.conftest import AGENCY, wait_for

pytestmark = pytest.mark.e2e

GOOD = {"title": "two stages", "stages": [
    {"name": "basic", "label": "基础培训测试", "parts": [{"ref": "basic_test", "weight": "1"}], "cutoff": 1,
     "advances_to": "key"},
    {"name": "key", "label": "重点培训考核", "after": "basic", "cutoff": 1, "advances_to": "intensive",
     "parts": [{"ref": "key_theory", "weight": "0.5"}, {"ref": "key_expert", "weight": 0.5}]},
]}


def approve_candidates(admin, code, names):
    status, _ = admin.post("/api/v1/cycles", {"code": code, "title": f"cycle {code}", "deadline": "2026-12-31"})
    assert status == 201
    status, unit = admin.post("/api/v1/units", {"name": f"unit-{uuid.uuid4().hex[:8]}",
                                                "kind": "district_safety_office", "district": "朝阳"})
    assert status == 201, unit
    out = []
    for name in names:
        id_number = resident_id()
        status, cand = admin.post("/api/v1/candidates", candidate_form(code, id_number=id_number, name=name,
                                                                       unit_id=unit["id"]))
        assert status == 201, cand
        assert admin.post(f"/api/v1/candidates/{cand['id']}/unit-approval", {"signed_by": "主任"})[0] == 200
        assert admin.post(f"/api/v1/candidates/{cand['id']}/center-approval", {"signed_by": "中心"})[0] == 200
        out.append((cand["id"], id_number))
    return out


def publish_scores(amqp_uri, code, scores):
    """exam_scored / expert_scored envelopes as docs/event-contracts.md fixes them."""
    with Connection(amqp_uri, transport_options={"confirm_publish": True}) as conn:
        producer = Producer(conn.default_channel)
        for cid, part, score in scores:
            name = "exam_scored" if part in ("basic_test", "key_theory") else "expert_scored"
            data = {"cycle": code, "candidate_id": cid, "score": score, "scored_at": "2022-09-14T02:00:00Z",
                    "stage": "basic" if part == "basic_test" else "key"}
            data.update({"exam": part, "attempt_id": 1, "source": "paper"} if name == "exam_scored"
                        else {"part": part, "panel_size": 5})
            env = {"specversion": "1.0", "id": str(uuid.uuid4()), "type": f"wsli.training.{name}.v1",
                   "source": f"/agencies/{AGENCY}/training", "subject": str(cid),
                   "time": rfc3339(datetime.now(timezone.utc)), "datacontenttype": "application/json",
                   "agency": AGENCY, "data": data}
            producer.publish(json.dumps(env).encode(), exchange=Exchange("training.events", type="topic",
                                                                         durable=True),
                             routing_key=name, content_type="application/json", message_id=env["id"])


@pytest.fixture
def cohort(stack, admin, code):
    """Two approved candidates with scores: 王一 basic 91.00, 李二 basic 78.50, key parts for both."""
    (first, first_id), (second, second_id) = approve_candidates(admin, code, ["王一", "李二"])
    status, scheme = admin.put(f"/api/v1/scoring/schemes/{code}", GOOD)
    assert status == 200, scheme
    publish_scores(stack.configs["scoring"]["AMQP_URI"], code, [
        (first, "basic_test", "91.00"), (second, "basic_test", "78.50"),
        (first, "key_theory", "80.00"), (first, "key_expert", "85.50")])
    ranked = lambda stage: len(admin.get(f"/api/v1/scoring/cycles/{code}/stages/{stage}/ranking")[1]  # noqa: E731
                               .get("ranked", []))
    wait_for(lambda: ranked("basic") == 2 and ranked("key") == 1, timeout=15, message="all four scores in")
    # and the approvals' events marked sent by registration's relay: nothing in flight, so basic can close
    wait_for(lambda: admin.get(f"/api/v1/scoring/cycles/{code}/stages/basic/readiness")[1].get("ready"),
             timeout=10, message="basic ready")
    return {"code": code, "first": first, "second": second, "first_id": first_id, "second_id": second_id}


def test_the_published_2022_scheme_loads_and_bad_schemes_are_refused(stack, admin, code):
    status, scheme = admin.put(f"/api/v1/scoring/schemes/{code}", {"published": "2022"})
    assert status == 200, scheme
    assert [(s["name"], s["cutoff"]) for s in scheme["stages"]] == [("basic", 150), ("key", 80), ("final", 50)]
    final = scheme["stages"][2]
    assert [(p["ref"], p["weight"]) for p in final["parts"]] == [("basic_test", "0.2"), ("key", "0.4"),
                                                                 ("intensive_review", "0.4")]
    assert final["points_per_lecture"] == "20" and final["gold"] is True
    assert admin.get(f"/api/v1/scoring/schemes/{code}")[1]["version"] == 1

    bad_sum = json.loads(json.dumps(GOOD))
    bad_sum["stages"][1]["parts"][1]["weight"] = "0.4"
    status, body = admin.put(f"/api/v1/scoring/schemes/{code}", bad_sum)
    assert status == 400 and body["fields"] == {"stages.1.parts": ["weights must sum to 1, they sum to 0.9"]}
    bad_cut = json.loads(json.dumps(GOOD))
    bad_cut["stages"][0]["cutoff"] = 0
    status, body = admin.put(f"/api/v1/scoring/schemes/{code}", bad_cut)
    assert status == 400 and body["fields"]["stages"]["0"]["cutoff"] == ["must be a positive whole number"]
    bad_ref = json.loads(json.dumps(GOOD))
    bad_ref["stages"][0]["parts"] = [{"ref": "key", "weight": "1"}]
    status, body = admin.put(f"/api/v1/scoring/schemes/{code}", bad_ref)
    assert status == 400 and "stages.0.parts.0.ref" in body["fields"]
    status, body = admin.put(f"/api/v1/scoring/schemes/{code}", {"published": "1999"})
    assert status == 400 and "published" in body["fields"]
    status, body = admin.put("/api/v1/scoring/schemes/bad%20code", GOOD)
    assert status == 400 and "cycle" in body["fields"]
    status, body = admin.get(f"/api/v1/scoring/cycles/{code}/stages/nosuch/ranking")
    assert status == 404


def test_close_explain_export_and_the_locked_scheme(stack, admin, cohort):
    code, first, second = cohort["code"], cohort["first"], cohort["second"]
    status, ranking = admin.get(f"/api/v1/scoring/cycles/{code}/stages/key/ranking")
    assert status == 200
    # key = 80.00 × 0.5 + 85.50 × 0.5 = 82.75; 李二 has no key score
    assert [(r["candidate_id"], r["score"]) for r in ranking["ranked"]] == [(first, "82.75")]
    assert ranking["unranked"] == [{"candidate_id": second, "name": "李二", "reason": "missing key_theory, key_expert",
                                    "decision": None}]

    status, body = admin.post(f"/api/v1/scoring/cycles/{code}/stages/key/close", {})
    assert status == 422 and body["rule"] == "stage_order"
    status, closed = admin.post(f"/api/v1/scoring/cycles/{code}/stages/basic/close", {})
    assert status == 200 and (closed["advanced"], closed["not_advanced"], closed["advanced_ids"]) == (1, 1, [first])
    status, again = admin.post(f"/api/v1/scoring/cycles/{code}/stages/basic/close")
    assert status == 200 and again == closed
    status, body = admin.put(f"/api/v1/scoring/schemes/{code}", dict(GOOD, title="changed"))
    assert status == 422 and body["rule"] == "scheme_locked"
    status, trail = admin.get(f"/api/v1/scoring/audit/stage/{code}:basic")
    assert status == 200 and [a["action"] for a in trail] == ["stage.close"], "closing twice is audited once"
    status, body = admin.post(f"/api/v1/scoring/cycles/{code}/stages/basic/reopen", {})
    assert status == 400 and "reason" in body["fields"]

    status, explained = admin.get(f"/api/v1/scoring/cycles/{code}/candidates/{first}")
    assert status == 200
    assert explained["name"] == "王一" and explained["approved"] is True
    assert [(p["part"], p["score"], p["detail"].get("source")) for p in explained["parts"]] == [
        ("basic_test", "91.00", "paper"), ("key_expert", "85.50", None), ("key_theory", "80.00", "paper")]
    key = explained["stages"][1]
    assert [(c["ref"], c["weight"], c["score"], c["contribution"]) for c in key["components"]] == [
        ("key_theory", "0.5", "80.00", "40"), ("key_expert", "0.5", "85.50", "42.75")]
    assert all(c["event_id"] and c["at"] for c in key["components"])
    assert key["score"] == "82.75" and key["rank"] == 1
    basic = explained["stages"][0]
    assert basic["status"] == "closed" and basic["decision"]["advanced"] is True and basic["decision"]["rank"] == 1
    assert "ROUND_HALF_UP" in explained["rounding"]

    response = admin.session.get(admin.base + f"/api/v1/scoring/cycles/{code}/stages/basic/export",
                                 headers={"Authorization": f"Bearer {admin.token}"}, params={"format": "csv"})
    assert response.status_code == 200 and response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.content.startswith(b"\xef\xbb\xbf")
    lines = response.content.decode("utf-8-sig").splitlines()
    assert lines == ["排名,候选人编号,姓名,基础培训测试成绩,基础培训测试得分,结果,说明",
                     f"1,{first},王一,91.00,91.00,晋级,", f"2,{second},李二,78.50,78.50,未晋级,"]

    response = admin.session.get(admin.base + f"/api/v1/scoring/cycles/{code}/stages/key/export",
                                 headers={"Authorization": f"Bearer {admin.token}"}, params={"format": "xlsx"})
    assert response.status_code == 200 and "spreadsheetml" in response.headers["Content-Type"]
    assert "filename*=UTF-8''" in response.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    # a title row, then the bold header that stays in view, then the rows with two-place scores
    assert rows[0][0] == f"{code} 重点培训考核排名" and sheet.freeze_panes == "A3"
    assert rows[1] == ("排名", "候选人编号", "姓名", "重点培训理论考核成绩", "重点培训专家复评成绩", "重点培训考核得分",
                       "结果", "说明")
    assert all(c.font.bold for c in sheet[2]) and sheet.column_dimensions["H"].width == 40
    assert rows[2][:3] == (1, first, "王一") and [round(float(v), 2) for v in rows[2][3:6]] == [80.0, 85.5, 82.75]
    assert sheet["D3"].number_format == "0.00"
    assert rows[3][:3] == (None, second, "李二") and rows[3][7] == "not advanced from stage basic (基础培训测试)"
    status, body = admin.get(f"/api/v1/scoring/cycles/{code}/stages/key/export", params={"format": "pdf"})
    assert status == 400 and "format" in body["fields"]


def test_roles(stack, admin, cohort):
    code, first, second = cohort["code"], cohort["first"], cohort["second"]
    integrator = admin.as_(admin.token_for("integrator"))
    regulator = admin.as_(admin.token_for("regulator", district="朝阳"))
    operator = admin.as_(admin.token_for("operator"))
    enterprise = admin.as_(admin.token_for("enterprise", person="x"))
    unit = admin.as_(admin.token_for("unit", unit_id=1))
    lecturer = admin.as_(admin.token_for("lecturer", person=get_vault().blind_index(cohort["first_id"])))

    ranking = f"/api/v1/scoring/cycles/{code}/stages/basic/ranking"
    for reader in (integrator, regulator, operator):
        assert reader.get(ranking)[0] == 200
        assert reader.get(f"/api/v1/scoring/cycles/{code}/candidates/{first}")[0] == 200
    for outsider in (enterprise, unit, lecturer):
        status, body = outsider.get(ranking)
        assert status == 403, body
    for reader in (integrator, regulator):
        assert reader.put(f"/api/v1/scoring/schemes/{code}", GOOD)[0] == 403
        assert reader.post(f"/api/v1/scoring/cycles/{code}/stages/basic/close", {})[0] == 403
        assert reader.post("/api/v1/scoring/rebuild", {})[0] == 403
    assert stack.anonymous.get(ranking)[0] == 401

    # a lecturer token bound to a person_key reads its own explanation and nobody else's
    status, own = lecturer.get(f"/api/v1/scoring/cycles/{code}/candidates/{first}")
    assert status == 200 and own["candidate_id"] == first
    assert lecturer.get(f"/api/v1/scoring/cycles/{code}/candidates/{second}")[0] == 404

    status, rebuilt = operator.post("/api/v1/scoring/rebuild", {"cycle": code})
    assert status == 200 and rebuilt["sheets"] == 2 and rebuilt["events"] == 6
    status, trail = admin.get(f"/api/v1/scoring/audit/scoring/{code}")
    assert status == 200 and [a["action"] for a in trail] == ["sheets.rebuild"]
