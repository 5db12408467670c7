"""Scoring rules (seed 000 §六(二)4(2), §九): every expected figure is worked out by hand in the test."""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
import yaml

from services.scoring import domain, schemas
from services.scoring import ranking as ranks
from shared.errors import RuleViolation, ValidationFailed
from shared.schemas import load

T0 = datetime(2022, 8, 1, tzinfo=timezone.utc)
D = Decimal


def scheme_2022() -> domain.Scheme:
    raw = yaml.safe_load((Path(domain.__file__).parent / "data" / "scheme_2022.yml").read_text(encoding="utf-8"))
    return domain.scheme_from_data(load(schemas.SchemeIn, raw))


SCHEME = scheme_2022()


class Feed:
    """Builds logged events the way the service keeps them (typed by the consumed-event schemas)."""

    def __init__(self):
        self.n = 0

    def _ev(self, name, data, at=None, event_id=None):
        self.n += 1
        return domain.LoggedEvent(event_id or f"ev-{self.n:04d}", name, at or T0 + timedelta(minutes=self.n),
                                  schemas.consumed_data(name, data))

    def approved(self, cid, name="某", registered_at="2022-08-01T08:00:00Z", **kw):
        return self._ev(domain.APPROVED, {"cycle": "2022", "candidate_id": cid, "name": name,
                                          "registered_at": registered_at, "person_key": "k" * 64}, **kw)

    def withdrawn(self, cid, **kw):
        return self._ev(domain.WITHDRAWN, {"cycle": "2022", "candidate_id": cid, "reason": "工作调动"}, **kw)

    def exam(self, cid, exam, score, scored_at="2022-09-14T02:00:00Z", **kw):
        stage = "basic" if exam == "basic_test" else "key"
        return self._ev(domain.EXAM, {"cycle": "2022", "candidate_id": cid, "stage": stage, "exam": exam,
                                      "score": score, "attempt_id": 1, "scored_at": scored_at,
                                      "source": "online"}, **kw)

    def expert(self, cid, part, score, scored_at="2022-09-14T02:00:00Z", panel=None, **kw):
        """``panel``: the experts' scores; the event then carries their total as training sends it."""
        stage = "key" if part == "key_expert" else "intensive"
        data = {"cycle": "2022", "candidate_id": cid, "stage": stage, "part": part, "score": score,
                "panel_size": 3, "scored_at": scored_at}
        if panel is not None:
            data.update(panel_size=len(panel), panel_total=str(sum(D(p) for p in panel)))
        return self._ev(domain.EXPERT, data, **kw)

    def lecture(self, cid, lecture_id, kind="self_hosted", **kw):
        return self._ev(domain.LECTURE_OK, {"cycle": "2022", "candidate_id": cid, "lecture_id": lecture_id,
                                            "kind": kind, "lecture_date": "2022-10-20",
                                            "approved_at": "2022-10-25T02:00:00Z"}, **kw)

    def revoke(self, cid, lecture_id, **kw):
        return self._ev(domain.LECTURE_REVOKED, {"cycle": "2022", "candidate_id": cid, "lecture_id": lecture_id,
                                                 "reason": "签到表人数不符"}, **kw)

    def full(self, cid, basic, theory, expert, intensive, lectures=0, **approval):
        events = [self.approved(cid, **approval), self.exam(cid, "basic_test", basic),
                  self.exam(cid, "key_theory", theory), self.expert(cid, "key_expert", expert),
                  self.expert(cid, "intensive_review", intensive)]
        events += [self.lecture(cid, cid * 100 + i) for i in range(lectures)]
        return events


def sheet(cid, basic=None, theory=None, expert=None, intensive=None, lectures=0, **approval):
    feed = Feed()
    events = [feed.approved(cid, **approval)]
    for part, value in (("basic_test", basic), ("key_theory", theory)):
        if value is not None:
            events.append(feed.exam(cid, part, value))
    for part, value in (("key_expert", expert), ("intensive_review", intensive)):
        if value is not None:
            events.append(feed.expert(cid, part, value))
    events += [feed.lecture(cid, cid * 100 + i) for i in range(lectures)]
    return domain.fold(cid, events)


def score(s, stage):
    return ranks.stage_scores(SCHEME, s)[stage].score


# ---- the 2022 formulas -----------------------------------------------------------------------

def test_the_2022_scheme_is_the_seeds():
    basic, key, final = SCHEME.stages
    assert (basic.name, basic.cutoff, basic.advances_to, basic.after) == ("basic", 150, "key", None)
    assert [(p.ref, p.weight) for p in basic.parts] == [("basic_test", D(1))]
    assert (key.name, key.cutoff, key.advances_to, key.after) == ("key", 80, "intensive", "basic")
    assert [(p.ref, p.weight) for p in key.parts] == [("key_theory", D("0.5")), ("key_expert", D("0.5"))]
    assert (final.name, final.cutoff, final.advances_to, final.after, final.gold) == ("final", 50, "gold", "key", True)
    assert [(p.ref, p.weight) for p in final.parts] == [("basic_test", D("0.2")), ("key", D("0.4")),
                                                        ("intensive_review", D("0.4"))]
    assert final.points_per_lecture == D(20)
    assert basic.points_per_lecture == key.points_per_lecture == D(0)


def test_key_score_is_half_theory_half_expert():
    # 85.50 × 0.5 + 80.25 × 0.5 = 42.75 + 40.125 = 82.875 → 82.88
    assert score(sheet(1, theory="85.50", expert="80.25"), "key") == D("82.88")


def test_rounding_is_half_up_not_half_even():
    # 85.50 × 0.5 + 80.23 × 0.5 = 82.865: half up gives 82.87 (banker's rounding would give 82.86)
    assert score(sheet(1, theory="85.50", expert="80.23"), "key") == D("82.87")
    assert domain.half_up(D("0.125")) == D("0.13")
    assert domain.half_up(D("0.135")) == D("0.14")
    assert domain.half_up(D("99.994")) == D("99.99")


def test_final_score_with_one_lecture():
    # key = (85.50 + 80.25) / 2 = 82.88; final = 90 × 0.2 + 82.88 × 0.4 + 88 × 0.4 + 20 × 1
    #     = 18 + 33.152 + 35.2 + 20 = 106.352 → 106.35
    s = sheet(1, basic="90.00", theory="85.50", expert="80.25", intensive="88.00", lectures=1)
    assert score(s, "basic") == D("90.00")
    assert score(s, "final") == D("106.35")


def test_final_score_with_no_lectures_and_with_five():
    # key = (70 + 90) / 2 = 80; final = 80 × 0.2 + 80 × 0.4 + 85 × 0.4 = 16 + 32 + 34 = 82.00
    none = sheet(1, basic="80.00", theory="70.00", expert="90.00", intensive="85.00", lectures=0)
    five = sheet(2, basic="80.00", theory="70.00", expert="90.00", intensive="85.00", lectures=5)
    assert none.lecture_count == 0 and five.lecture_count == 5
    assert score(none, "final") == D("82.00")
    assert score(five, "final") == D("182.00")  # 82 + 5 × 20
    parts = ranks.stage_scores(SCHEME, five)["final"]
    assert parts.lectures == 5 and parts.lecture_points == D(100)


def test_the_final_score_uses_the_exact_key_score_unless_the_scheme_says_published():
    # key = (85.50 + 80.23) / 2 = 82.865 → 82.87 (published)
    # final = 50 × 0.2 + 82.865 × 0.4 + 60.02 × 0.4 = 10 + 33.146 + 24.008 = 67.154 → 67.15
    # (with the published 82.87 it would be 67.156 → 67.16: a second rounding)
    s = sheet(1, basic="50.00", theory="85.50", expert="80.23", intensive="60.02")
    assert score(s, "final") == D("67.15")
    final = ranks.stage_scores(SCHEME, s)["final"]
    assert [(r.of, r.kind, domain.exact_text(r.exact), r.rounded) for r in final.roundings] == [
        ("final", "stage_score", "67.154", D("67.15"))]
    published = with_rounding(stage_references="published")
    final = ranks.stage_scores(published, s)["final"]
    assert final.score == D("67.16")
    assert [(r.of, r.kind, domain.exact_text(r.exact), r.rounded) for r in final.roundings] == [
        ("key", "stage_reference", "82.865", D("82.87")), ("final", "stage_score", "67.156", D("67.16"))]


def with_rounding(**rounding) -> domain.Scheme:
    raw = yaml.safe_load((Path(domain.__file__).parent / "data" / "scheme_2022.yml").read_text(encoding="utf-8"))
    raw["rounding"] = rounding
    return domain.scheme_from_data(load(schemas.SchemeIn, raw))


# The old arithmetic: the panel mean published to 2 places, the key score rounded and reused in the final.
TRIPLE = with_rounding(panel_means="published", stage_references="published")


def formula_once(basic, theory, key_panel, intensive_panel, lectures=0) -> Decimal:
    """Seed 000 §九 applied once to the exact panel means, worked with fractions, independently of the code."""
    f = Fraction
    key = f(D(theory)) / 2 + f(sum(D(p) for p in key_panel)) / len(key_panel) / 2
    total = f(D(basic)) / 5 + key * f(2, 5) + f(sum(D(p) for p in intensive_panel)) / len(intensive_panel) * f(2, 5)
    hundredths = (total + 20 * lectures) * 100
    return D((2 * hundredths.numerator + hundredths.denominator) // (2 * hundredths.denominator)).scaleb(-2)


def panel_sheet(cid, basic, theory, key_panel, intensive_panel, lectures=0):
    feed = Feed()
    mean = lambda panel: str(domain.half_up(sum(D(p) for p in panel) / len(panel)))  # noqa: E731  as published
    events = [feed.approved(cid), feed.exam(cid, "basic_test", basic), feed.exam(cid, "key_theory", theory),
              feed.expert(cid, "key_expert", mean(key_panel), panel=key_panel),
              feed.expert(cid, "intensive_review", mean(intensive_panel), panel=intensive_panel)]
    events += [feed.lecture(cid, cid * 100 + i) for i in range(lectures)]
    return domain.fold(cid, events)


# key panel 62.88, 63.40, 95.55: mean 221.83 / 3 = 73.94333… (published 73.94)
# intensive panel 60.68, 78.55, 60.59: mean 199.82 / 3 = 66.60666… (published 66.61)
A_PARTS = ("98.64", "87.57", ("62.88", "63.40", "95.55"), ("60.68", "78.55", "60.59"))


def test_the_old_triple_rounding_adds_a_cent_and_the_final_is_now_the_formula_applied_once():
    a = panel_sheet(1, *A_PARTS)
    # old: key = (87.57 + 73.94) / 2 = 80.755 → 80.76; final = 98.64 × 0.2 + 80.76 × 0.4 + 66.61 × 0.4
    #      = 19.728 + 32.304 + 26.644 = 78.676 → 78.68
    assert ranks.stage_scores(TRIPLE, a)["final"].score == D("78.68")
    # once: key = (87.57 + 221.83 / 3) / 2 = 80.75666…; final = 19.728 + 32.30266… + 26.64266… = 78.67333… → 78.67
    assert ranks.stage_scores(SCHEME, a)["final"].score == D("78.67") == formula_once(*A_PARTS)
    # the key score itself is still published once: 80.75666… → 80.76
    key = ranks.stage_scores(SCHEME, a)["key"]
    assert key.score == D("80.76") and key.exact == Fraction(8757, 200) + Fraction(22183, 600)
    # the explanation says every rounding, and only those applied
    final = ranks.stage_scores(SCHEME, a)["final"]
    assert [(r.of, r.kind, domain.exact_text(r.exact), r.rounded) for r in final.roundings] == [
        ("final", "stage_score", "11801/150", D("78.67"))]
    old = ranks.stage_scores(TRIPLE, a)["final"]
    assert [(r.of, r.kind, domain.exact_text(r.exact), r.rounded) for r in old.roundings] == [
        ("key", "stage_reference", "80.755", D("80.76")),  # its sum used the published 73.94
        ("intensive_review", "panel_mean", "9991/150", D("66.61")),
        ("final", "stage_score", "78.676", D("78.68"))]
    assert [(r.of, r.kind) for r in ranks.stage_scores(TRIPLE, a)["key"].roundings] == [
        ("key_expert", "panel_mean"), ("key", "stage_score")]
    # the ranking loop (integers) gives what the explanation gives, in both arithmetics
    for scheme in (SCHEME, TRIPLE):
        for stage in ("key", "final"):
            (ranked,) = ranks.rank(scheme, stage, [a]).ranked
            assert ranked.value == ranks.stage_scores(scheme, a)[stage].score


def test_a_gold_place_at_the_cut_line_depends_on_where_rounding_happens():
    # A as above: 78.68 the old way, 78.67 once. B has two-place parts only:
    # key (80 + 80) / 2 = 80; final = 93.35 × 0.2 + 80 × 0.4 + 70 × 0.4 = 18.67 + 32 + 28 = 78.67 either way
    a = panel_sheet(1, *A_PARTS)
    b = panel_sheet(2, "93.35", "80.00", ("80.00", "80.00", "80.00"), ("70.00", "70.00", "70.00"))
    final = lambda scheme: domain.Scheme(scheme.title, tuple(  # noqa: E731  the 2022 scheme with one gold place
        domain.Stage(**{**s.__dict__, "cutoff": 1}) if s.name == "final" else s for s in scheme.stages),
        scheme.rounding)
    old = ranks.decide(ranks.rank(final(TRIPLE), "final", [a, b]))
    assert [(d.candidate_id, d.advanced, d.score) for d in old] == [(1, True, D("78.68")), (2, False, D("78.67"))]
    # once: 78.67 each; the tie-break's first part, the intensive review, is B's 70.00 against A's 66.61
    new = ranks.decide(ranks.rank(final(SCHEME), "final", [a, b]))
    assert [(d.candidate_id, d.advanced, d.rank, d.score) for d in new] == [
        (1, False, 2, D("78.67")), (2, True, 1, D("78.67"))]


def test_a_panel_total_that_does_not_round_to_the_published_mean_breaks_the_contract():
    data = {"cycle": "2022", "candidate_id": 1, "stage": "key", "part": "key_expert", "score": "73.94",
            "panel_size": 3, "panel_total": "221.83", "scored_at": "2022-09-14T02:00:00Z"}
    assert schemas.consumed_data(domain.EXPERT, data)["panel_total"] == "221.83"
    with pytest.raises(ValidationFailed) as caught:
        schemas.consumed_data(domain.EXPERT, dict(data, panel_total="222.83"))
    assert "panel_total" in caught.value.fields
    with pytest.raises(ValidationFailed):
        schemas.consumed_data(domain.EXPERT, dict(data, panel_size=None))
    # an older event without the total: the published mean is all there is, and is used as it is
    held = domain.fold(1, [Feed().expert(1, "key_expert", "73.94")]).parts["key_expert"]
    assert held.exact == Fraction(D("73.94"))


def test_a_2022_replay_still_selects_150_80_50_and_every_final_is_the_formula_once():
    """A cohort of 400 with panels of 3 and 5 experts through the 2022 scheme, both arithmetics."""
    rng = random.Random(2022)
    cohort = {}
    for cid in range(1, 401):
        size = rng.choice((3, 5))
        cohort[cid] = (f"{rng.randint(5000, 10000) / 100:.2f}", f"{rng.randint(5000, 10000) / 100:.2f}",
                       tuple(f"{rng.randint(5000, 10000) / 100:.2f}" for _ in range(size)),
                       tuple(f"{rng.randint(5000, 10000) / 100:.2f}" for _ in range(size)), rng.randint(0, 3))
    sheets = [panel_sheet(cid, *parts) for cid, parts in cohort.items()]
    finals = {}
    for scheme in (SCHEME, TRIPLE):
        entrants, counts = None, []
        for stage in ("basic", "key", "final"):
            decisions = ranks.decide(ranks.rank(scheme, stage, sheets, entrants))
            entrants = {d.candidate_id for d in decisions if d.advanced}
            counts.append(len(entrants))
        assert counts == [150, 80, 50]
        finals[scheme.rounding] = {r.sheet.candidate_id: r.value
                                   for r in ranks.rank(scheme, "final", sheets).ranked}
    once, triple = finals[SCHEME.rounding], finals[TRIPLE.rounding]
    assert all(once[cid] == formula_once(*cohort[cid]) for cid in once)
    differ = {cid: triple[cid] - once[cid] for cid in once if triple[cid] != once[cid]}
    # the old arithmetic is off by a cent, either way, for a share of the cohort; never by more
    assert differ and set(differ.values()) <= {D("0.01"), D("-0.01")}


def test_contributions_are_exact_and_the_score_is_rounded_once():
    s = sheet(1, basic="90.00", theory="85.50", expert="80.25", intensive="88.00", lectures=1)
    final = ranks.stage_scores(SCHEME, s)["final"]
    # the key score is published as 82.88 and enters the final exact: 82.875 × 0.4 = 33.15
    assert [(c.ref, c.score, c.value, c.contribution) for c in final.components] == [
        ("basic_test", D("90.00"), D("90"), D("18")), ("key", D("82.88"), D("82.875"), D("33.15")),
        ("intensive_review", D("88.00"), D("88"), D("35.2"))]
    assert domain.plain(D("33.1520")) == "33.152"
    assert domain.plain(D("20")) == "20"


def test_incoming_scores_are_decimal_strings_between_0_and_100():
    assert domain.parse_score("86.5") == D("86.50")
    assert domain.parse_score("86.125") == D("86.13")
    assert domain.parse_score("0") == D("0.00")
    assert domain.parse_score("100") == D("100.00")
    for bad in ("100.01", "-0.01", "abc", "NaN", "Infinity", ""):
        with pytest.raises(ValidationFailed) as err:
            domain.parse_score(bad)
        assert "score" in err.value.fields


def test_a_score_sent_as_a_json_number_breaks_the_contract():
    with pytest.raises(ValidationFailed) as err:
        schemas.consumed_data(domain.EXAM, {"cycle": "2022", "candidate_id": 1, "stage": "basic",
                                            "exam": "basic_test", "score": 86.5, "scored_at": "2022-08-26T02:00:00Z"})
    assert "score" in err.value.fields


@pytest.mark.parametrize("change, field", [
    ({"exam": "key_expert"}, "exam"),
    ({"stage": "final"}, "stage"),
    ({"scored_at": "2022-08-26T10:00:00"}, "scored_at"),  # no zone
    ({"candidate_id": "7"}, "candidate_id"),
    ({"cycle": "20 22"}, "cycle"),
])
def test_exam_events_that_break_the_contract_are_refused(change, field):
    data = {"cycle": "2022", "candidate_id": 1, "stage": "basic", "exam": "basic_test", "score": "86.50",
            "scored_at": "2022-08-26T02:00:00Z", **change}
    with pytest.raises(ValidationFailed) as err:
        schemas.consumed_data(domain.EXAM, data)
    assert field in err.value.fields


# ---- folding events into a sheet -------------------------------------------------------------

def test_a_corrected_score_replaces_the_earlier_one_whatever_the_arrival_order():
    feed = Feed()
    first = feed.exam(1, "basic_test", "60.00", scored_at="2022-08-26T02:00:00Z")
    corrected = feed.exam(1, "basic_test", "75.50", scored_at="2022-08-27T02:00:00Z")
    for events in ([first, corrected], [corrected, first]):
        s = domain.fold(1, [feed.approved(1)] + events)
        assert s.parts["basic_test"].score == D("75.50")
        assert s.parts["basic_test"].event_id == corrected.event_id


def test_equal_scored_at_the_greater_envelope_id_wins():
    feed = Feed()
    a = feed.exam(1, "basic_test", "60.00", event_id="aaaa")
    b = feed.exam(1, "basic_test", "61.00", event_id="bbbb")
    assert domain.fold(1, [b, a]).parts["basic_test"].score == D("61.00")
    assert domain.fold(1, [a, b]).parts["basic_test"].score == D("61.00")


def test_a_revoked_lecture_stops_counting_and_a_later_approval_counts_again():
    feed = Feed()
    ok = feed.lecture(1, 11, at=T0 + timedelta(days=1))
    other = feed.lecture(1, 12, at=T0 + timedelta(days=1))
    revoked = feed.revoke(1, 11, at=T0 + timedelta(days=2))
    assert domain.fold(1, [revoked, ok, other]).lecture_count == 1  # the revocation is later, whatever arrives first
    lec = domain.fold(1, [revoked, ok, other]).lectures[11]
    assert (lec.counted, lec.kind, lec.reason) == (False, "self_hosted", "签到表人数不符")
    again = feed.lecture(1, 11, at=T0 + timedelta(days=3))
    assert domain.fold(1, [ok, again, revoked, other]).lecture_count == 2


def test_duplicates_and_any_order_fold_to_the_same_sheet():
    feed = Feed()
    events = feed.full(1, "90.00", "85.50", "80.25", "88.00", lectures=3)
    events += [feed.exam(1, "key_theory", "87.00", scored_at="2022-09-20T00:00:00Z"), feed.revoke(1, 101)]
    expected = domain.fold(1, events)
    rng = random.Random(7)
    for _ in range(20):
        shuffled = events + rng.sample(events, 4)
        rng.shuffle(shuffled)
        assert domain.fold(1, shuffled) == expected
    assert expected.parts["key_theory"].score == D("87.00")
    assert expected.lecture_count == 2


def test_withdrawal_and_approval_latest_wins():
    feed = Feed()
    approved = feed.approved(1, at=T0)
    withdrawn = feed.withdrawn(1, at=T0 + timedelta(days=1))
    s = domain.fold(1, [withdrawn, approved])
    assert s.approved and s.withdrawn and s.name == "某"


def test_scores_before_the_approval_are_kept_and_the_sheet_is_not_approved():
    feed = Feed()
    s = domain.fold(5, [feed.exam(5, "basic_test", "70.00")])
    assert not s.approved and s.name is None and s.parts["basic_test"].score == D("70.00")


# ---- rankings --------------------------------------------------------------------------------

def test_higher_score_ranks_first():
    a = sheet(1, basic="70.00")
    b = sheet(2, basic="90.00")
    c = sheet(3, basic="80.00")
    ranking = ranks.rank(SCHEME, "basic", [a, b, c])
    assert [(r.rank, r.sheet.candidate_id) for r in ranking.ranked] == [(1, 2), (2, 3), (3, 1)]


def test_a_tie_is_broken_by_the_later_stage_part_first():
    # A: 90 × 0.2 + 80 × 0.4 + 70 × 0.4 = 18 + 32 + 28 = 78.00
    # B: 70 × 0.2 + 80 × 0.4 + 80 × 0.4 = 14 + 32 + 32 = 78.00 → B first: higher intensive review
    a = sheet(1, basic="90.00", theory="80.00", expert="80.00", intensive="70.00")
    b = sheet(2, basic="70.00", theory="80.00", expert="80.00", intensive="80.00")
    assert score(a, "final") == score(b, "final") == D("78.00")
    ranking = ranks.rank(SCHEME, "final", [a, b])
    assert [r.sheet.candidate_id for r in ranking.ranked] == [2, 1]


def test_then_the_earlier_registration_then_the_lower_candidate_id():
    same = dict(basic="80.00", theory="80.00", expert="80.00", intensive="80.00")
    late = sheet(1, registered_at="2022-08-09T08:00:00Z", **same)
    early = sheet(9, registered_at="2022-08-02T08:00:00Z", **same)
    twin = sheet(4, registered_at="2022-08-02T08:00:00Z", **same)
    for order in ([late, early, twin], [twin, late, early], [early, twin, late]):
        ranking = ranks.rank(SCHEME, "final", order)
        assert [r.sheet.candidate_id for r in ranking.ranked] == [4, 9, 1]


def test_a_key_tie_goes_to_the_higher_expert_score():
    # 90 / 70 and 70 / 90 both make 80.00; the live speech (key_expert) decides
    a = sheet(1, theory="90.00", expert="70.00")
    b = sheet(2, theory="70.00", expert="90.00")
    assert [r.sheet.candidate_id for r in ranks.rank(SCHEME, "key", [a, b]).ranked] == [2, 1]


def test_a_missing_part_is_unranked_with_the_reason_not_ranked_as_zero():
    complete = sheet(1, basic="10.00", theory="10.00", expert="10.00", intensive="10.00")
    no_review = sheet(2, basic="99.00", theory="99.00", expert="99.00")
    ranking = ranks.rank(SCHEME, "final", [no_review, complete])
    assert [r.sheet.candidate_id for r in ranking.ranked] == [1]
    assert [(u.sheet.candidate_id, u.reason) for u in ranking.unranked] == [(2, "missing intensive_review")]
    no_theory = sheet(3, basic="99.00", expert="99.00", intensive="99.00")
    ranking = ranks.rank(SCHEME, "final", [no_theory])
    assert ranking.unranked[0].reason == "missing key"  # the key score needs the theory exam
    assert ranks.rank(SCHEME, "key", [no_theory]).unranked[0].reason == "missing key_theory"


def test_not_approved_withdrawn_and_not_entered_are_unranked():
    feed = Feed()
    unapproved = domain.fold(1, [feed.exam(1, "basic_test", "99.00")])
    withdrawn = domain.fold(2, [feed.approved(2, at=T0), feed.exam(2, "basic_test", "99.00"),
                                feed.withdrawn(2, at=T0 + timedelta(days=1))])
    in_key = sheet(3, basic="50.00", theory="50.00", expert="50.00")
    not_in_key = sheet(4, basic="50.00", theory="90.00", expert="90.00")
    basic = ranks.rank(SCHEME, "basic", [unapproved, withdrawn])
    assert basic.ranked == []
    assert [u.reason for u in basic.unranked] == [
        "not approved by registration (no candidate_approved received)", "withdrawn"]
    key = ranks.rank(SCHEME, "key", [in_key, not_in_key], entrants={3})
    assert [r.sheet.candidate_id for r in key.ranked] == [3]
    assert key.unranked[0].reason == "not advanced from stage basic (基础培训测试)"


def test_the_cutoff_advances_the_top_n_and_nobody_else():
    stage = domain.Stage("basic", "基础", (domain.Part("basic_test", D(1)),), cutoff=2, advances_to="key")
    scheme = domain.Scheme("t", (stage,))
    sheets = [sheet(i, basic=f"{50 + i}.00") for i in range(1, 5)] + [sheet(9)]
    decisions = {d.candidate_id: d for d in ranks.decide(ranks.rank(scheme, "basic", sheets))}
    assert [c for c, d in sorted(decisions.items()) if d.advanced] == [3, 4]   # 54 and 53
    assert (decisions[4].rank, decisions[4].score) == (1, D("54.00"))
    assert decisions[2].reason == "rank 3 below the cut-off of 2"
    assert (decisions[9].advanced, decisions[9].rank, decisions[9].score) == (False, None, None)
    assert decisions[9].reason == "unranked: missing basic_test"


def test_fewer_ranked_than_the_cutoff_all_advance():
    sheets = [sheet(i, basic="60.00") for i in (1, 2, 3)]
    decisions = ranks.decide(ranks.rank(SCHEME, "basic", sheets))
    assert all(d.advanced for d in decisions) and [d.rank for d in decisions] == [1, 2, 3]


def test_the_basic_cutoff_of_150():
    # 151 candidates: scores 100.00 down to 25.00 in steps of 0.50; the 151st does not advance
    sheets = [sheet(i, basic=str(D(100) - D("0.5") * (i - 1))) for i in range(1, 152)]
    decisions = {d.candidate_id: d for d in ranks.decide(ranks.rank(SCHEME, "basic", sheets))}
    assert sum(d.advanced for d in decisions.values()) == 150
    assert not decisions[151].advanced and decisions[151].rank == 151 and decisions[151].score == D("25.00")
    assert decisions[150].advanced and decisions[150].score == D("25.50")


def test_only_flipped_decisions_are_published_again():
    before = {1: True, 2: False, 3: True}
    now = [ranks.Decision(1, True, 2, D("90.00"), ""), ranks.Decision(2, True, 1, D("95.00"), ""),
           ranks.Decision(3, False, 3, D("80.00"), ""), ranks.Decision(4, False, None, None, "")]
    assert [d.candidate_id for d in ranks.changed_decisions(before, now)] == [2, 3, 4]


# ---- scheme rules ----------------------------------------------------------------------------

def stage_data(name="basic", parts=(("basic_test", "1"),), **extra):
    return {"name": name, "parts": [{"ref": r, "weight": w} for r, w in parts], "cutoff": 10,
            "advances_to": "next", **extra}


def build(*stages):
    return domain.scheme_from_data(load(schemas.SchemeIn, {"stages": list(stages)}))


def test_weights_must_sum_to_one():
    with pytest.raises(ValidationFailed) as err:
        build(stage_data(parts=(("key_theory", "0.5"), ("key_expert", "0.4"))))
    assert err.value.fields == {"stages.0.parts": ["weights must sum to 1, they sum to 0.9"]}


def test_parts_refer_to_known_parts_or_earlier_stages():
    with pytest.raises(ValidationFailed) as err:
        build(stage_data("first", parts=(("basic_test", "0.5"), ("second", "0.5"))),
              stage_data("second"))
    assert "stages.0.parts.1.ref" in err.value.fields
    with pytest.raises(ValidationFailed) as err:
        build(stage_data(parts=(("charisma", "1"),)))
    assert "is neither a known part" in err.value.fields["stages.0.parts.0.ref"][0]
    ok = build(stage_data("first"), stage_data("second", parts=(("first", "0.5"), ("key_expert", "0.5"))))
    assert ok.inputs_of("second") == {"basic_test", "key_expert"}


@pytest.mark.parametrize("stages, field", [
    ([stage_data(), stage_data()], "stages.1.name"),
    ([stage_data("basic_test")], "stages.0.name"),
    ([stage_data(after="later")], "stages.0.after"),
    ([stage_data(tie_break=["key_expert"])], "stages.0.tie_break"),
    ([stage_data(parts=(("basic_test", "0.5"), ("basic_test", "0.5")))], "stages.0.parts"),
    ([stage_data("a", gold=True), stage_data("b", gold=True)], "stages"),
])
def test_inconsistent_schemes_are_refused(stages, field):
    with pytest.raises(ValidationFailed) as err:
        build(*stages)
    assert field in err.value.fields


@pytest.mark.parametrize("change, field", [
    ({"cutoff": 0}, "cutoff"),
    ({"cutoff": -5}, "cutoff"),
    ({"cutoff": 1.5}, "cutoff"),
    ({"cutoff": "10"}, "cutoff"),
    ({"parts": [{"ref": "basic_test", "weight": "1.5"}]}, "parts"),
    ({"parts": [{"ref": "basic_test", "weight": "0"}]}, "parts"),
    ({"parts": [{"ref": "basic_test", "weight": "0.12345"}]}, "parts"),
    ({"parts": [{"ref": "basic_test", "weight": "half"}]}, "parts"),
    ({"parts": []}, "parts"),
    ({"points_per_lecture": "-1"}, "points_per_lecture"),
    ({"name": "Final Stage"}, "name"),
])
def test_scheme_shape_is_checked_by_the_schema(change, field):
    with pytest.raises(ValidationFailed) as err:
        load(schemas.SchemeIn, {"stages": [dict(stage_data(), **change)]})
    assert field in err.value.fields["stages"][0]


def test_a_scheme_gives_stages_or_names_a_published_one():
    with pytest.raises(ValidationFailed) as err:
        load(schemas.SchemeIn, {})
    assert "stages" in err.value.fields
    with pytest.raises(ValidationFailed):
        load(schemas.SchemeIn, {"published": "2022", "stages": [stage_data()]})


def test_a_scheme_reads_back_exactly_as_stored():
    assert domain.scheme_from_stored(domain.scheme_to_data(SCHEME)) == SCHEME


def test_a_scheme_with_a_closed_stage_cannot_change():
    domain.ensure_scheme_replaceable([])
    with pytest.raises(RuleViolation) as err:
        domain.ensure_scheme_replaceable(["basic"])
    assert err.value.rule == "scheme_locked"


def test_stages_close_in_order_and_reopen_in_reverse():
    domain.ensure_closable(SCHEME, "basic", {})
    with pytest.raises(RuleViolation) as err:
        domain.ensure_closable(SCHEME, "key", {"basic": "open"})
    assert err.value.rule == "stage_order"
    domain.ensure_closable(SCHEME, "key", {"basic": "closed"})
    with pytest.raises(RuleViolation) as err:
        domain.ensure_reopenable(SCHEME, "basic", {"basic": "closed", "key": "closed"})
    assert err.value.rule == "stage_order"
    domain.ensure_reopenable(SCHEME, "key", {"basic": "closed", "key": "closed"})
    with pytest.raises(RuleViolation) as err:
        domain.ensure_reopenable(SCHEME, "key", {"key": "open"})
    assert err.value.rule == "stage_not_closed"


def test_late_events_flag_the_closed_stages_they_feed():
    assert ranks.affected_stages(SCHEME, ["basic", "key"], domain.EXAM, "basic_test") == ["basic"]
    assert ranks.affected_stages(SCHEME, ["basic", "key"], domain.EXPERT, "key_expert") == ["key"]
    assert ranks.affected_stages(SCHEME, ["basic", "key", "final"], domain.EXAM, "key_theory") == ["key", "final"]
    assert ranks.affected_stages(SCHEME, ["basic", "key"], domain.LECTURE_OK, None) == []
    assert ranks.affected_stages(SCHEME, ["final"], domain.LECTURE_REVOKED, None) == ["final"]
    assert ranks.affected_stages(SCHEME, ["basic"], domain.WITHDRAWN, None) == ["basic"]


def test_the_ranking_fast_path_agrees_with_the_breakdown():
    # rank() computes scores with its own compiled closure; the explain breakdown must show the same figure
    rng = random.Random(5)
    sheets = []
    for cid in range(1, 400):
        values = {p: f"{rng.randint(0, 10000) / 100:.2f}" for p in ("basic", "theory", "expert", "intensive")
                  if rng.random() < 0.95}
        sheets.append(sheet(cid, lectures=rng.randint(0, 5), **values))
    for stage in SCHEME.stage_names:
        ranking = ranks.rank(SCHEME, stage, sheets)
        assert ranking.ranked and ranking.unranked
        for r in ranking.ranked:
            assert r.value == r.score.score == score(r.sheet, stage)
        assert all(u.score.missing for u in ranking.unranked)


def test_scores_are_stored_as_integer_hundredths():
    from services.scoring.models import Hundredths
    column = Hundredths()
    assert column.process_bind_param(D("86.50"), None) == 8650
    assert column.process_bind_param(D("0.07"), None) == 7
    assert column.process_result_value(8650, None) == D("86.50")
    assert str(column.process_result_value(8650, None)) == "86.50"
    with pytest.raises(ValueError):
        column.process_bind_param(D("86.505"), None)


@pytest.mark.parametrize("weights", [("0.5", "0.5"), ("0.333", "0.667"), ("0.25", "0.75"), ("0.1", "0.9")])
def test_the_ranking_loop_agrees_with_the_explained_scores(weights):
    """rank() computes in integer hundredths for speed; it must give exactly the Decimal scores."""
    theory_w, expert_w = weights
    raw = yaml.safe_load((Path(__file__).resolve().parents[2] / "services/scoring/data/scheme_2022.yml")
                         .read_text(encoding="utf-8"))
    for stage in raw["stages"]:
        if stage["name"] == "key":
            for part in stage["parts"]:
                part["weight"] = theory_w if part["ref"] == "key_theory" else expert_w
    scheme = domain.scheme_from_data(load(schemas.SchemeIn, raw))
    rng = random.Random(hash(weights) & 0xFFFF)
    sheets = []
    for cid in range(1, 400):
        # odd hundredths everywhere, so every weighted sum meets a rounding boundary somewhere
        sheets.append(sheet(cid, basic=f"{rng.randint(0, 10000) / 100:.2f}", theory=f"{rng.randint(0, 10000) / 100:.2f}",
                            expert=f"{rng.randint(0, 10000) / 100:.2f}",
                            intensive=f"{rng.randint(0, 10000) / 100:.2f}", lectures=rng.randint(0, 5)))
    for stage in ("basic", "key", "final"):
        ranking = ranks.rank(scheme, stage, sheets)
        assert len(ranking.ranked) == len(sheets)
        for r in ranking.ranked:
            explained = ranks.stage_scores(scheme, r.sheet)[stage].score
            assert r.value == explained and r.value.as_tuple().exponent == -2, (stage, r.sheet.candidate_id)
