"""The scoring service over the real broker and database, fed with the documented events.

Training has no producer yet and subsidies is built separately: their events are
published here as raw CloudEvents envelopes exactly as docs/event-contracts.md
describes them, to the exchanges and routing keys their producers will use.
"""
from __future__ import annotations

import base64
import json
import random
import shutil
import subprocess
import uuid
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import pytest
from kombu import Connection, Exchange, Producer
from sqlalchemy import func, select

from services.scoring.models import LoggedEvent, platform
from services.scoring.service import ScoringService
from shared import dlq
from shared.db import make_engine
from shared.errors import NotReady, RuleViolation
from shared.events import rfc3339
from tests.conftest import AGENCY, AMQP_BASE, OPERATOR, rpc, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def amqp_uri():
    """A vhost of this module's own: the decisions these tests publish (candidate_advanced for
    candidates 1, 2, 3…) must not reach other services' queues in the session's vhost."""
    ctl = shutil.which("rabbitmqctl")
    if not ctl:
        pytest.skip("rabbitmqctl is needed for a private vhost")
    vhost = f"wsli-test-scoring-{uuid.uuid4().hex[:8]}"
    subprocess.run([ctl, "-q", "add_vhost", vhost], check=True, capture_output=True)
    subprocess.run([ctl, "-q", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"], check=True,
                   capture_output=True)
    try:
        yield f"{AMQP_BASE}/{quote(vhost, safe='')}"
    finally:
        subprocess.run([ctl, "-q", "delete_vhost", vhost], check=False, capture_output=True)

T0 = datetime(2022, 8, 1, tzinfo=timezone.utc)
CYCLE = "2022"

CONFIRM = {"confirm_not_ready": True}

# A small scheme with the 2022 formulas and cut-offs scaled down to the cohort of these tests.
SMALL = {"title": "small", "stages": [
    {"name": "basic", "label": "基础培训测试", "parts": [{"ref": "basic_test", "weight": "1"}], "cutoff": 3,
     "advances_to": "key"},
    {"name": "key", "label": "重点培训考核", "after": "basic", "cutoff": 2, "advances_to": "intensive",
     "parts": [{"ref": "key_theory", "weight": "0.5"}, {"ref": "key_expert", "weight": "0.5"}],
     "tie_break": ["key_expert"]},
    {"name": "final", "label": "金牌宣讲员综合评分", "after": "key", "cutoff": 1, "advances_to": "gold", "gold": True,
     "parts": [{"ref": "basic_test", "weight": "0.2"}, {"ref": "key", "weight": "0.4"},
               {"ref": "intensive_review", "weight": "0.4"}], "points_per_lecture": "20",
     "tie_break": ["intensive_review", "key", "basic_test"]},
]}


class Events:
    """Envelopes of the documented events; ``time`` advances one minute per event unless given."""

    def __init__(self):
        self.n = 0

    def envelope(self, source, name, subject, data, at=None):
        self.n += 1
        return {"specversion": "1.0", "id": str(uuid.uuid4()), "type": f"wsli.{source}.{name}.v1",
                "source": f"/agencies/{AGENCY}/{source}", "subject": str(subject),
                "time": rfc3339(at or T0 + timedelta(minutes=self.n)), "datacontenttype": "application/json",
                "agency": AGENCY, "data": data}

    def approved(self, cid, name, registered_at):
        return self.envelope("registration", "candidate_approved", cid, {
            "candidate_id": cid, "cycle": CYCLE, "unit_id": 1, "status": "approved", "signed_by": "中心",
            "opinion": "同意", "sealed_at": "2022-08-12T02:00:00.000000Z", "unit_kind": "district_safety_office",
            "district": "朝阳", "name": name, "gender": "male", "id_number_masked": "110105********0011",
            "person_key": f"{cid:064d}", "registered_at": registered_at})

    def exam(self, cid, exam, score, scored_at):
        return self.envelope("training", "exam_scored", cid, {
            "cycle": CYCLE, "candidate_id": cid, "stage": "basic" if exam == "basic_test" else "key", "exam": exam,
            "score": score, "attempt_id": self.n, "scored_at": scored_at, "source": "online"})

    def expert(self, cid, part, score, scored_at):
        return self.envelope("training", "expert_scored", cid, {
            "cycle": CYCLE, "candidate_id": cid, "stage": "key" if part == "key_expert" else "intensive",
            "part": part, "score": score, "panel_size": 3, "scored_at": scored_at})

    def lecture(self, cid, lecture_id, at=None):
        return self.envelope("subsidies", "lecture_approved", lecture_id, {
            "cycle": CYCLE, "lecture_id": lecture_id, "candidate_id": cid, "kind": "self_hosted",
            "lecture_date": "2022-10-20", "approved_at": "2022-10-25T02:00:00Z"}, at)

    def revoked(self, cid, lecture_id, at=None):
        return self.envelope("subsidies", "lecture_approval_revoked", lecture_id, {
            "cycle": CYCLE, "lecture_id": lecture_id, "candidate_id": cid, "reason": "签到表人数不符"}, at)


def publish(amqp_uri, envelopes):
    with Connection(amqp_uri, transport_options={"confirm_publish": True}) as conn:
        producer = Producer(conn.default_channel)
        for env in envelopes:
            source, name = env["type"].split(".")[1:3]
            producer.publish(json.dumps(env).encode(), exchange=Exchange(f"{source}.events", type="topic",
                                                                         durable=True),
                             routing_key=name, content_type="application/json", content_encoding="utf-8",
                             message_id=env["id"], delivery_mode=2)


def count(uri, table_or_stmt):
    engine = make_engine(uri)
    try:
        with engine.connect() as conn:
            return conn.execute(table_or_stmt).scalar()
    finally:
        engine.dispose()


def logged(uri):
    return count(uri, select(func.count()).select_from(LoggedEvent))


def outbox(uri):
    engine = make_engine(uri)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(platform.outbox.c.event_type, platform.outbox.c.body)
                                .order_by(platform.outbox.c.id)).all()
    finally:
        engine.dispose()
    return [(r.event_type.split(".")[2], json.loads(r.body)["data"]) for r in rows]


def cohort(ev: Events):
    """Four candidates with every part, one with none; c1 and c2 tie on the basic test."""
    out = []
    for cid, name, reg, basic, theory, expert in (
            (1, "张一", "2022-08-03T01:00:00Z", "88.00", "80.00", "70.00"),
            (2, "李二", "2022-08-02T01:00:00Z", "88.00", "90.00", "90.00"),
            (3, "王三", "2022-08-04T01:00:00Z", "80.00", "60.00", "60.00"),
            (4, "赵四", "2022-08-05T01:00:00Z", "70.00", "99.00", "99.00")):
        out += [ev.approved(cid, name, reg),
                ev.exam(cid, "basic_test", basic, "2022-08-26T02:00:00Z"),
                ev.exam(cid, "key_theory", theory, "2022-09-14T02:00:00Z"),
                ev.expert(cid, "key_expert", expert, "2022-09-14T03:00:00Z")]
    out.append(ev.approved(5, "钱五", "2022-08-06T01:00:00Z"))
    out.append(ev.exam(1, "basic_test", "60.00", "2022-08-25T02:00:00Z"))  # older than the 88.00: ignored
    out += [ev.lecture(2, 201, T0 + timedelta(days=80)), ev.lecture(2, 202, T0 + timedelta(days=81)),
            ev.revoked(2, 202, T0 + timedelta(days=90))]
    return out


def export(config, stage, fmt="csv"):
    with rpc(config, OPERATOR) as cluster:
        result = cluster.scoring.export_ranking(CYCLE, stage, {"format": fmt})
    return base64.b64decode(result["data_base64"])


def logged_of(uri, ids) -> int:
    return count(uri, select(func.count()).select_from(LoggedEvent).where(LoggedEvent.event_id.in_(ids)))


def feed(amqp_uri, uri, envelopes):
    publish(amqp_uri, envelopes)
    ids = sorted({e["id"] for e in envelopes})
    # these very events, not just as many rows as there are events: a late one joins rows already there
    wait_for(lambda: logged_of(uri, ids) >= len(ids), timeout=20, message=f"{len(ids)} events logged")


def test_duplicates_and_arrival_order_do_not_change_the_ranking_nor_does_a_rebuild(
        databases, base_config, runners, amqp_uri):
    events = cohort(Events())
    first_db, second_db = databases.migrated("scoring"), databases.migrated("scoring")

    runner = runners(base_config(first_db), ScoringService)
    with rpc(base_config(first_db), OPERATOR) as cluster:
        cluster.scoring.load_scheme(CYCLE, SMALL)
    feed(amqp_uri, first_db, events)
    in_order = export(base_config(first_db), "basic")
    key_in_order = export(base_config(first_db), "key")
    runner.kill()

    shuffled = events + random.Random(3).sample(events, 8)
    random.Random(11).shuffle(shuffled)
    runners(base_config(second_db), ScoringService)
    with rpc(base_config(second_db), OPERATOR) as cluster:
        cluster.scoring.load_scheme(CYCLE, SMALL)
    feed(amqp_uri, second_db, shuffled)
    assert export(base_config(second_db), "basic") == in_order
    assert export(base_config(second_db), "key") == key_in_order

    # Hand-computed: c1 and c2 tie at 88.00 (c1's older 60.00 is superseded); c2 registered earlier.
    text = in_order.decode("utf-8-sig").splitlines()
    assert in_order.startswith(b"\xef\xbb\xbf")
    assert text[0] == "排名,候选人编号,姓名,基础培训测试成绩,基础培训测试得分,结果,说明"
    assert text[1:5] == ["1,2,李二,88.00,88.00,,", "2,1,张一,88.00,88.00,,", "3,3,王三,80.00,80.00,,",
                         "4,4,赵四,70.00,70.00,,"]
    assert text[5] == ",5,钱五,,,,missing basic_test"
    # key = (theory + expert) / 2: c4 99.00, c2 90.00, c1 75.00, c3 60.00 (nobody closed basic yet)
    assert [line.split(",")[:2] for line in key_in_order.decode("utf-8-sig").splitlines()[1:5]] == [
        ["1", "4"], ["2", "2"], ["3", "1"], ["4", "3"]]

    with rpc(base_config(second_db), OPERATOR) as cluster:
        rebuilt = cluster.scoring.rebuild({"cycle": CYCLE})
        explained = cluster.scoring.explain(CYCLE, 2)
    assert rebuilt == {"cycles": [CYCLE], "events": len(events), "sheets": 5}
    assert export(base_config(second_db), "basic") == in_order
    assert export(base_config(second_db), "key") == key_in_order
    assert [(lec["lecture_id"], lec["counted"]) for lec in explained["lectures"]] == [(201, True), (202, False)]
    assert explained["lecture_count"] == 1


def test_close_twice_late_score_reopen_and_close_again(databases, base_config, runners, amqp_uri):
    uri = databases.migrated("scoring")
    config = base_config(uri)
    runners(config, ScoringService)
    ev = Events()
    with rpc(config, OPERATOR) as cluster:
        cluster.scoring.load_scheme(CYCLE, SMALL)
    feed(amqp_uri, uri, cohort(ev))

    with rpc(config, OPERATOR) as cluster:
        # only scoring runs here: the producers give no lag report, so the readiness is "unknown"
        with pytest.raises(NotReady) as refused:
            cluster.scoring.close_stage(CYCLE, "basic", {})
        assert refused.value.readiness["in_flight"]["unavailable"] == ["registration", "training"]
        first = cluster.scoring.close_stage(CYCLE, "basic", CONFIRM)
        emitted = outbox(uri)
        again = cluster.scoring.close_stage(CYCLE, "basic", CONFIRM)
        assert outbox(uri) == emitted, "closing twice emits nothing"
        assert again == first
        with pytest.raises(RuleViolation) as err:
            cluster.scoring.load_scheme(CYCLE, dict(SMALL, title="changed"))
        assert err.value.rule == "scheme_locked"

    assert (first["advanced"], first["not_advanced"], first["unranked"]) == (3, 2, 1)
    assert first["advanced_ids"] == [2, 1, 3]
    decisions = [(n, d["candidate_id"]) for n, d in emitted if n in ("candidate_advanced", "candidate_not_advanced")]
    assert sorted(decisions) == [("candidate_advanced", 1), ("candidate_advanced", 2), ("candidate_advanced", 3),
                                 ("candidate_not_advanced", 4), ("candidate_not_advanced", 5)]
    advanced = {d["candidate_id"]: d for n, d in emitted if n == "candidate_advanced"}
    assert advanced[2] == {"cycle": CYCLE, "candidate_id": 2, "from_stage": "basic", "to_stage": "key",
                           "rank": 1, "score": "88.00"}
    not_advanced = {d["candidate_id"]: d for n, d in emitted if n == "candidate_not_advanced"}
    assert not_advanced[5] == {"cycle": CYCLE, "candidate_id": 5, "stage": "basic", "rank": None, "score": None,
                               "reason": "unranked: missing basic_test"}
    closed = [d for n, d in emitted if n == "stage_closed"]
    assert len(closed) == 1 and (closed[0]["cutoff"], closed[0]["advanced"], closed[0]["not_advanced"]) == (3, 3, 2)

    # key: entrants 2, 1, 3 (4 was not advanced); 2 → 90.00, 1 → 75.00, 3 → 60.00; top 2 go on
    with rpc(config, OPERATOR) as cluster:
        key = cluster.scoring.close_stage(CYCLE, "key", CONFIRM)
        ranking = cluster.scoring.get_ranking(CYCLE, "key")
    assert key["advanced_ids"] == [2, 1]
    assert [u["candidate_id"] for u in ranking["unranked"]] == [4, 5]
    assert ranking["unranked"][0]["reason"] == "not advanced from stage basic (基础培训测试)"
    before_late = len(outbox(uri))

    # A corrected theory score for 3 after key closed: 100 → key (100 + 60) / 2 = 80.00
    feed(amqp_uri, uri, [ev.exam(3, "key_theory", "100.00", "2022-09-20T02:00:00Z")])
    with rpc(config, OPERATOR) as cluster:
        flags = cluster.scoring.list_flags(CYCLE)
        ranking = cluster.scoring.get_ranking(CYCLE, "key")
    assert [(f["stage"], f["candidate_id"], f["published_score"], f["current_score"]) for f in flags] == [
        ("key", 3, "60.00", "80.00")]
    assert ranking["status"] == "closed" and ranking["flags"] == 1
    row3 = next(r for r in ranking["ranked"] if r["candidate_id"] == 3)
    assert (row3["rank"], row3["score"], row3["decision"]["advanced"]) == (2, "80.00", False), \
        "the current standing shows, the published decision stands"
    assert [n for n, _ in outbox(uri)[before_late:]] == ["score_flagged"]

    with rpc(config, OPERATOR) as cluster:
        with pytest.raises(RuleViolation) as err:
            cluster.scoring.reopen_stage(CYCLE, "basic", {"reason": "x"})
        assert err.value.rule == "stage_order"  # key was decided on basic's result
        reopened = cluster.scoring.reopen_stage(CYCLE, "key", {"reason": "理论考核成绩更正"})
        trail = cluster.scoring.audit_trail("stage", f"{CYCLE}:key")
        before_reclose = len(outbox(uri))
        reclosed = cluster.scoring.close_stage(CYCLE, "key", CONFIRM)
    assert reopened["status"] == "open" and reopened["reopen_reason"] == "理论考核成绩更正"
    assert [a["action"] for a in trail] == ["stage.close", "score.flag", "stage.reopen"]
    assert trail[2]["detail"] == {"reason": "理论考核成绩更正"}
    reopen_event = [d for n, d in outbox(uri) if n == "stage_reopened"]
    assert reopen_event == [{"cycle": CYCLE, "stage": "key", "reason": "理论考核成绩更正",
                             "reopened_by": OPERATOR.name}]
    # now 2 → 90.00, 3 → 80.00, 1 → 75.00: 3 goes on, 1 drops; nobody else's decision changed
    changes = outbox(uri)[before_reclose:]
    assert sorted((n, d["candidate_id"]) for n, d in changes if n != "stage_closed") == [
        ("candidate_advanced", 3), ("candidate_not_advanced", 1)]
    assert [n for n, _ in changes].count("stage_closed") == 1
    assert (reclosed["round"], reclosed["changed"], reclosed["advanced_ids"]) == (2, 2, [2, 3])

    # final: 2 → 88 × 0.2 + 90 × 0.4 + 80 × 0.4 + 1 lecture × 20 = 17.6 + 36 + 32 + 20 = 105.60
    #        3 → 80 × 0.2 + 80 × 0.4 + 95 × 0.4 = 16 + 32 + 38 = 86.00
    feed(amqp_uri, uri, [ev.expert(2, "intensive_review", "80.00", "2022-09-28T02:00:00Z"),
                         ev.expert(3, "intensive_review", "95.00", "2022-09-28T02:00:00Z")])
    with rpc(config, OPERATOR) as cluster:
        before_final = len(outbox(uri))
        final = cluster.scoring.close_stage(CYCLE, "final", CONFIRM)
        explained = cluster.scoring.explain(CYCLE, 2)
    assert final["advanced_ids"] == [2]
    final_events = outbox(uri)[before_final:]
    gold = [d for n, d in final_events if n == "gold_lecturer_selected"]
    assert gold == [{"cycle": CYCLE, "candidate_id": 2, "rank": 1, "final_score": "105.60"}]
    assert sorted((n, d["candidate_id"]) for n, d in final_events if n.startswith("candidate_")) == [
        ("candidate_not_advanced", 1), ("candidate_not_advanced", 3), ("candidate_not_advanced", 4),
        ("candidate_not_advanced", 5)], "no candidate_advanced: there is no stage after the final"
    stage = next(s for s in explained["stages"] if s["stage"] == "final")
    assert stage["score"] == "105.60" and stage["decision"]["advanced"] is True
    assert [(c["ref"], c["weight"], c["score"], c["contribution"]) for c in stage["components"]] == [
        ("basic_test", "0.2", "88.00", "17.6"), ("key", "0.4", "90.00", "36"),
        ("intensive_review", "0.4", "80.00", "32")]
    assert stage["lecture_points"] == "20.00"


def test_an_event_that_breaks_the_contract_is_parked_at_once(databases, base_config, runners, amqp_uri):
    uri = databases.migrated("scoring")
    dlq.discard(amqp_uri)
    runners(base_config(uri), ScoringService)
    ev = Events()
    bad = ev.exam(1, "basic_test", "86.50", "2022-08-26T02:00:00Z")
    bad["data"]["score"] = 86.5  # a float is not a score
    publish(amqp_uri, [bad])
    parked = wait_for(lambda: dlq.list_parked(amqp_uri), message="the bad event parked")
    assert parked[0]["message_id"] == bad["id"] and parked[0]["retries"] == 0
    assert parked[0]["handler"] == "scoring.on_exam_scored"
    assert logged(uri) == 0
    dlq.discard(amqp_uri)
