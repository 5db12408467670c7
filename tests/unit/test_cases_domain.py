"""Case-collection rules: lifecycle, campaign, form, eligibility, conflicts, assignment, scores, notice."""
from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal
from types import SimpleNamespace

import pytest

from services.cases import domain, review
from services.cases.schemas import CampaignIn
from shared.errors import RuleViolation, TooManyRequests, ValidationFailed
from tests.support import credit_code

NOW = datetime(2023, 9, 15, 4, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def campaign():
    return domain.campaign_from_data(CampaignIn().load(domain.published_campaign(2023)))


# ---- campaign --------------------------------------------------------------------------------------

def test_the_shipped_2023_campaign(campaign):
    assert campaign.deadline == date(2023, 10, 31)
    assert list(campaign.categories.values()) == ["组织实施管理类", "工具技术产品类", "政策制度标准类", "专项攻关提升类", "其他"]
    assert set(campaign.levels) == {"best", "excellent"}
    assert sum(campaign.weights.values()) == Decimal(1)
    assert list(campaign.weights) == list(domain.PRINCIPLES)
    assert domain.campaign_from_data(CampaignIn().load(domain.campaign_to_data(campaign))) == campaign


def test_deadline_is_the_end_of_the_day_in_shanghai(campaign):
    domain.ensure_open(campaign, datetime(2023, 10, 31, 15, 59, tzinfo=timezone.utc))   # 23:59 in Beijing
    with pytest.raises(RuleViolation) as err:
        domain.ensure_open(campaign, datetime(2023, 10, 31, 16, 0, tzinfo=timezone.utc))
    assert err.value.rule == "submission_deadline"


def test_inconsistent_campaigns_are_refused():
    data = CampaignIn().load(domain.published_campaign(2023))
    data["scoring_form"][0]["weight"] = Decimal("0.30")
    with pytest.raises(ValidationFailed) as err:
        domain.campaign_from_data(data)
    assert "sum to 1" in str(err.value.fields["scoring_form"])
    data = CampaignIn().load(domain.published_campaign(2023))
    data["categories"] = [c for c in data["categories"] if c["code"] != "other"]
    with pytest.raises(ValidationFailed):
        domain.campaign_from_data(data)
    with pytest.raises(RuleViolation) as err:
        domain.ensure_campaign_replaceable(1)
    assert err.value.rule == "campaign_in_use"


# ---- lifecycle --------------------------------------------------------------------------------------

def test_the_lifecycle_table():
    path = ["screen_pass", "site_visit", "assign", "complete_review", "confirm_level", "open_notice", "release"]
    status = domain.SUBMITTED
    for action in path:
        status = domain.next_status(status, action)
    assert status == domain.RELEASED
    assert domain.next_status(domain.SCREENED, "assign") == domain.IN_REVIEW  # the site visit is optional
    for s in (domain.SUBMITTED, domain.IN_REVIEW, domain.LEVELLED, domain.ON_NOTICE):
        assert domain.next_status(s, "withdraw") == domain.WITHDRAWN
    for s in (domain.RELEASED, domain.WITHDRAWN, domain.SCREEN_FAILED):
        with pytest.raises(RuleViolation) as err:
            domain.next_status(s, "withdraw")
        assert err.value.rule == "status_transition"
    with pytest.raises(RuleViolation):
        domain.next_status(domain.SUBMITTED, "release")
    assert set(domain.STATUS_LABELS) == set(domain.STATUSES)


# ---- the form ----------------------------------------------------------------------------------------

def form(**kw):
    base = {"period_start": "2022-01", "period_end": "2023-06", "category": "tools_technology",
            "category_other": None, "summary": "案例简介", "channel": "self", "recommender": None}
    base.update(kw)
    return base


def test_form_rules(campaign):
    domain.check_form(form(), campaign, NOW)
    cases = [
        (form(period_start="2023-07", period_end="2023-06"), "period_end"),
        (form(period_end="2023-10"), "period_end"),                      # after the current month
        (form(category="other"), "category_other"),
        (form(category="nope"), "category"),
        (form(summary="字" * 801), "summary"),
        (form(channel="unit_recommended"), "recommender"),
        (form(recommender={"kind": "unit", "name": "x", "credit_code": credit_code(1)}), "recommender"),
        (form(channel="expert_recommended", recommender={"kind": "unit", "name": "x", "credit_code": credit_code(1)}),
         "recommender.kind"),
        (form(channel="expert_recommended", recommender={"kind": "expert", "name": "x"}), "recommender.expert_code"),
    ]
    for bad, field in cases:
        with pytest.raises(ValidationFailed) as err:
            domain.check_form(bad, campaign, NOW)
        assert field in err.value.fields, (bad, err.value.fields)
    domain.check_form(form(period_end="2023-09", summary="字" * 800, category="other", category_other="综合"),
                      campaign, NOW)


def test_recommended_cases_need_the_full_recommendation_before_screening():
    domain.ensure_recommendation_complete("self", None)
    with pytest.raises(RuleViolation) as err:
        domain.ensure_recommendation_complete("organised", {"opinion": "同意推荐"})
    assert err.value.rule == "recommendation_incomplete"
    assert "盖章或签字" in err.value.message and "推荐单位联系人" in err.value.message
    domain.ensure_recommendation_complete("unit_recommended", {
        "opinion": "同意", "sealed_or_signed_by": "某协会（盖章）", "approved_on": "2023-09-01", "contact": {"name": "王"}})


# ---- eligibility --------------------------------------------------------------------------------------

def test_declarations_and_the_dishonesty_list():
    with pytest.raises(RuleViolation) as err:
        domain.ensure_declared(SimpleNamespace(declared_no_bad_record=True, declared_not_dishonest=False))
    assert err.value.rule == "eligibility_declaration"
    domain.ensure_declared(SimpleNamespace(declared_no_bad_record=True, declared_not_dishonest=True))
    listed = {credit_code(5)}
    domain.ensure_not_dishonest([credit_code(4)], listed, "申报")
    with pytest.raises(RuleViolation) as err:
        domain.ensure_not_dishonest([credit_code(4), credit_code(5)], listed, "申报")
    assert err.value.rule == "dishonesty_list"


def test_dishonesty_csv():
    text = f"统一社会信用代码\n{credit_code(1)}\n\n{credit_code(2).lower()},某公司\n{credit_code(1)}\n"
    assert domain.parse_dishonesty_csv(text) == sorted({credit_code(1), credit_code(2)})
    with pytest.raises(ValidationFailed) as err:
        domain.parse_dishonesty_csv(f"{credit_code(1)}\n91110000XXXXXXXXX1\n")
    assert "line 2" in err.value.fields


# ---- conflicts and assignment ---------------------------------------------------------------------------

ORG, PARENT, OTHER = credit_code(11), credit_code(12), credit_code(13)


def party(case_id=1, rec_expert=None, rec_code=None):
    return domain.CaseParty(case_id, frozenset({ORG, PARENT}), rec_expert, rec_code)


def expert(code, employer=None, orgs=(), cases=()):
    return domain.ExpertProfile(code, employer, frozenset(orgs), frozenset(cases))


def test_conflicts_of_interest():
    assert domain.conflict_reason(expert("e1", employer=ORG), party()) == "same_organisation"
    assert domain.conflict_reason(expert("e1", employer=PARENT), party()) == "same_organisation"   # the parent
    assert domain.conflict_reason(expert("e1"), party(rec_expert="e1")) == "recommender"
    assert domain.conflict_reason(expert("e1", employer=OTHER), party(rec_code=OTHER)) == "recommending_unit"
    assert domain.conflict_reason(expert("e1", orgs=[ORG]), party()) == "declared"
    assert domain.conflict_reason(expert("e1", cases=[1]), party()) == "declared"
    assert domain.conflict_reason(expert("e1", employer=OTHER, cases=[2]), party()) is None


def test_assignment_is_balanced_deterministic_and_conflict_free():
    experts = [expert("a"), expert("b", employer=ORG), expert("c"), expert("d"), expert("e")]
    parties = [party(i) for i in (1, 2, 3, 4)]
    plan = domain.assign(parties, experts, 2, {}, {})
    assert all("b" not in codes for codes in plan.values())           # b works for the submitter
    loads = {}
    for codes in plan.values():
        assert len(codes) == len(set(codes)) == 2
        for c in codes:
            loads[c] = loads.get(c, 0) + 1
    assert loads == {"a": 2, "c": 2, "d": 2, "e": 2}                   # 8 seats over 4 experts
    assert plan == domain.assign(parties, experts, 2, {}, {})          # same input, same plan
    assert domain.assign([party(1)], experts, 2, {"a": 5, "c": 1}, {}) == {1: ["d", "e"]}


def test_a_chosen_panel_has_the_campaign_size():
    domain.ensure_panel_size(["a", "b", "c"], 0, 3)
    domain.ensure_panel_size(["d"], 2, 3)          # topping up after a conflict
    with pytest.raises(ValidationFailed):
        domain.ensure_panel_size(["a", "b"], 0, 3)


def test_not_enough_conflict_free_experts_names_the_case_only():
    with pytest.raises(RuleViolation) as err:
        domain.assign([party(7)], [expert("a"), expert("b", employer=ORG)], 2, {}, {})
    assert err.value.rule == "not_enough_experts"
    assert err.value.fields == {"cases": ["7"]}
    assert "b" not in str(err.value.to_dict())


# ---- scores, normalisation, ranking, levels ---------------------------------------------------------------

def test_weighted_total_is_exact(campaign):
    marks = {"authenticity": Decimal("90"), "compliance": Decimal("80"), "advancement": Decimal("70"),
             "replicability": Decimal("60"), "effectiveness": Decimal("85")}
    # 90×0.20 + 80×0.15 + 70×0.20 + 60×0.20 + 85×0.25 = 18 + 12 + 14 + 12 + 21.25
    assert review.weighted_total(marks, campaign.weights) == Decimal("77.25")
    with pytest.raises(ValidationFailed):
        review.weighted_total({k: v for k, v in marks.items() if k != "compliance"}, campaign.weights)
    with pytest.raises(ValidationFailed):
        review.weighted_total(dict(marks, compliance=Decimal("100.5")), campaign.weights)


def S(case, exp, total, eff="80"):
    return review.Score(case, exp, Decimal(total), Decimal(eff))


def E(case, minute=0, assigned=3):
    return review.Entry(case, datetime(2023, 9, 1, 0, minute, tzinfo=timezone.utc), assigned)


def test_normalisation_and_disagreement_hand_computed(campaign):
    scores = [S(1, "A", "80"), S(2, "A", "60"),      # A: mean 70, sd 10 → z +1, −1
              S(1, "B", "90"), S(2, "B", "90"),      # B: no spread → z 0, 0
              S(1, "C", "70"), S(2, "C", "80")]      # C: mean 75, sd 5 → z −1, +1
    out = {r.case_id: r for r in review.results(campaign, [E(1), E(2)], scores)}
    assert out[1].mean == Decimal(80) and out[1].normalised == Decimal(0)
    assert out[2].mean == Decimal(230) / 3 and out[2].normalised == Decimal(0)
    assert out[1].z == {"A": Decimal(1), "B": Decimal(0), "C": Decimal(-1)}
    assert out[2].z == {"A": Decimal(-1), "B": Decimal(0), "C": Decimal(1)}
    assert out[1].spread == Decimal(20) and out[1].disagreement          # 20 > 15
    assert out[2].spread == Decimal(30) and out[2].disagreement
    # normalised scores tie at 0: the raw mean decides
    assert (out[1].rank, out[2].rank) == (1, 2)


def test_a_harsh_expert_does_not_decide_alone(campaign):
    # X marks everything low, Y high; case 1 drew X+Z, case 2 drew Y+Z; Z thinks case 1 is better.
    scores = [S(1, "X", "60"), S(3, "X", "50"), S(2, "Y", "90"), S(3, "Y", "95"),
              S(1, "Z", "80"), S(2, "Z", "70"), S(3, "Z", "75")]
    entries = [E(1, assigned=2), E(2, assigned=2), E(3, assigned=3)]
    out = {r.case_id: r for r in review.results(campaign, entries, scores)}
    assert out[2].mean > out[1].mean                   # raw: the lenient expert's case wins
    assert out[1].normalised > out[2].normalised        # normalised: Z's judgement decides
    assert out[1].rank < out[2].rank                   # 2023 ranks on the normalised score


def test_tie_break_after_equal_scores(campaign):
    scores = [S(c, e, "80", eff) for c, eff in ((1, "80"), (2, "90"), (3, "80"), (4, "80")) for e in "ABC"]
    entries = [E(1, minute=5), E(2, minute=9), E(3, minute=1), E(4, minute=1)]
    ranked = [r.case_id for r in review.results(campaign, entries, scores)]
    # 2 has the higher 实效性; 3 and 4 were submitted together before 1; 3 has the lower id
    assert ranked == [2, 3, 4, 1]


def test_incomplete_cases_are_not_ranked(campaign):
    scores = [S(1, "A", "80"), S(1, "B", "80"), S(1, "C", "80"), S(2, "A", "99")]
    out = {r.case_id: r for r in review.results(campaign, [E(1), E(2)], scores)}
    assert out[1].rank == 1 and out[2].rank is None and out[2].proposed_level is None


def test_levels_by_counts_and_floors(campaign):
    small = domain.Campaign(**{**campaign.__dict__, "levels": {"best": 1, "excellent": 1}})
    scores = [S(c, e, t) for c, t in ((1, "90"), (2, "85"), (3, "70")) for e in "ABC"]
    got = {r.case_id: r.proposed_level for r in review.results(small, [E(1), E(2), E(3)], scores)}
    assert got == {1: "best", 2: "excellent", 3: "not_selected"}
    floors = domain.Campaign(**{**small.__dict__, "min_scores": {"best": Decimal(95)}})
    got = {r.case_id: r.proposed_level for r in review.results(floors, [E(1), E(2), E(3)], scores)}
    assert got == {1: "excellent", 2: "not_selected", 3: "not_selected"}


def test_explanation_lines(campaign):
    scores = [S(1, "A", "80"), S(1, "B", "90"), S(1, "C", "70")]
    result = review.results(campaign, [E(1)], scores)[0]
    lines = review.explain(campaign, result)["lines"]
    assert "平均分 = 80.00 + 90.00 + 70.00 ÷ 3 = 80.00" in lines
    assert any("分歧较大" in line for line in lines)
    assert lines[-1] == "按标准化得分排名第 1，建议级别：最佳案例"


# ---- notice and objections -----------------------------------------------------------------------------

def test_notice_window_counts_chinese_working_days():
    # 2023-09-28 (Thu) works; 09-29..10-06 are the Mid-Autumn/National Day holidays; 10-07 and 10-08 are
    # worked weekend days: 09-28, 10-07, 10-08, 10-09, 10-10
    assert domain.notice_window(date(2023, 9, 28), 5) == (date(2023, 9, 28), date(2023, 10, 10))
    # posted on a holiday: the notice starts on the next working day
    assert domain.notice_window(date(2023, 10, 1), 1) == (date(2023, 10, 7), date(2023, 10, 7))


def test_release_waits_for_the_window_and_the_objections():
    ends = date(2023, 10, 10)
    with pytest.raises(RuleViolation) as err:
        domain.ensure_notice_over(ends, datetime(2023, 10, 10, 15, 0, tzinfo=timezone.utc))   # 23:00 Beijing
    assert err.value.rule == "notice_window"
    domain.ensure_notice_over(ends, datetime(2023, 10, 10, 16, 0, tzinfo=timezone.utc))      # 00:00 on the 11th
    with pytest.raises(RuleViolation) as err:
        domain.ensure_no_open_objection([4])
    assert err.value.rule == "objection_open"
    with pytest.raises(ValidationFailed):
        domain.ensure_notice_start(date(2023, 9, 16), NOW)


def test_objection_window_rate_and_reviewer():
    domain.ensure_objection_window(date(2023, 9, 14), date(2023, 9, 20), date(2023, 9, 20))
    with pytest.raises(RuleViolation):
        domain.ensure_objection_window(date(2023, 9, 1), date(2023, 9, 7), date(2023, 9, 8))
    domain.ensure_objection_rate(2)
    with pytest.raises(TooManyRequests):
        domain.ensure_objection_rate(3)
    assert domain.reviewer_conflict("e1", "王", "李", {"e1"}, set()) == "reviewed_the_case"
    assert domain.reviewer_conflict("e2", "王", "李", {"e1"}, {"e2"}) == "declared_conflict"
    assert domain.reviewer_conflict(None, "李", "李", set(), set()) == "objector"
    assert domain.reviewer_conflict(None, "王", "李", {"e1"}, set()) is None


def test_certificate_numbers():
    assert domain.certificate_number(2023, "best", 1) == "AZX2023-ZJ-0001"
    assert domain.certificate_number(2023, "excellent", 12) == "AZX2023-YX-0012"
