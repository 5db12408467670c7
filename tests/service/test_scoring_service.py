"""Scoring's rules through its entrypoints, without the broker: sheets folded from events, closing stages."""
from __future__ import annotations

import pytest

from shared.errors import NotFound, RuleViolation
from shared.events import rfc3339
from shared.workdays import utcnow

SERVICE = "scoring"
CYCLE = "C2022"
SCHEME = {"title": "two stages", "stages": [
    {"name": "basic", "label": "基础培训测试", "parts": [{"ref": "basic_test", "weight": "1"}], "cutoff": 1,
     "advances_to": "key"},
    {"name": "key", "label": "重点培训考核", "after": "basic", "cutoff": 1, "advances_to": "intensive",
     "parts": [{"ref": "key_theory", "weight": "0.5"}, {"ref": "key_expert", "weight": 0.5}]},
]}


def approved(service, candidate_id, name):
    return service.deliver("on_candidate_approved", {
        "cycle": CYCLE, "candidate_id": candidate_id, "name": name, "registered_at": rfc3339(utcnow()),
        "person_key": f"pk-{candidate_id}", "unit_id": 1, "status": "approved"})


def exam(service, candidate_id, part, score):
    return service.deliver("on_exam_scored", {
        "cycle": CYCLE, "candidate_id": candidate_id, "stage": "basic" if part == "basic_test" else "key",
        "exam": part, "score": score, "attempt_id": 1, "source": "paper", "scored_at": "2022-09-14T02:00:00Z"})


def test_sheets_fold_events_once_and_closing_publishes_decisions(service):
    staff = service.as_("operator")
    staff.load_scheme(CYCLE, SCHEME)
    first = approved(service, 1, "王一")
    approved(service, 2, "李二")
    exam(service, 1, "basic_test", "91.00")
    twice = exam(service, 2, "basic_test", "78.50")
    service.deliver("on_exam_scored", twice.raw_data, event_id=twice.id)  # redelivered: the inbox skips it
    service.deliver("on_candidate_approved", first.raw_data, event_id=first.id)
    ranking = staff.get_ranking(CYCLE, "basic")
    assert [(r["candidate_id"], r["score"]) for r in ranking["ranked"]] == [(1, "91.00"), (2, "78.50")]
    with pytest.raises(RuleViolation) as order:
        staff.close_stage(CYCLE, "key", {})
    assert order.value.rule == "stage_order"
    closed = staff.close_stage(CYCLE, "basic", {})
    assert (closed["advanced"], closed["not_advanced"], closed["advanced_ids"]) == (1, 1, [1])
    assert staff.close_stage(CYCLE, "basic", {}) == closed  # closing again changes nothing
    assert [e["candidate_id"] for e in service.emitted("candidate_advanced")] == [1]
    assert [e["candidate_id"] for e in service.emitted("candidate_not_advanced")] == [2]
    with pytest.raises(RuleViolation) as locked:
        staff.load_scheme(CYCLE, dict(SCHEME, title="changed"))
    assert locked.value.rule == "scheme_locked"


def test_a_late_score_is_flagged_and_a_lecturer_reads_its_own_sheet_only(service):
    staff = service.as_("operator")
    staff.load_scheme(CYCLE, SCHEME)
    approved(service, 1, "王一")
    exam(service, 1, "basic_test", "91.00")
    staff.close_stage(CYCLE, "basic", {})
    exam(service, 1, "basic_test", "95.00")
    assert [f["candidate_id"] for f in staff.list_flags(CYCLE)] == [1]
    assert service.as_("lecturer", person="pk-1").explain(CYCLE, 1)["name"] == "王一"
    with pytest.raises(NotFound):
        service.as_("lecturer", person="pk-2").explain(CYCLE, 1)
