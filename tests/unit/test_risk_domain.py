"""Risk-service rules, with every expected figure computed by hand in the comments."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from services.risk import domain
from shared.errors import RuleViolation

UTC = timezone.utc


# ---- tiers -----------------------------------------------------------------------------------

@pytest.mark.parametrize("industry, tier", [
    ("矿山", "mandatory"), ("危险化学品", "mandatory"), ("烟花爆竹", "mandatory"), ("交通运输", "mandatory"),
    ("建筑施工", "mandatory"), ("民用爆炸物品", "mandatory"), ("金属冶炼", "mandatory"),
    ("渔业捕捞", "key"), ("大型群众性活动", "key"), ("人员密集场所", "key"), ("水电气热城市运行", "key"),
    ("餐饮", "encouraged"), ("商贸零售", "encouraged"),
])
def test_tiers_follow_the_programme(industry, tier):
    assert domain.tier_of(industry) == tier


def test_the_seven_mandatory_and_four_key_industries_are_data():
    rules = domain.programme()
    assert len(rules["tiers"]["mandatory"]) == 7 and len(rules["tiers"]["key"]) == 4


# ---- premiums and the floating rate ----------------------------------------------------------

def test_premium_is_exact_integer_fen():
    # 35 workers × 500,000 yuan (50,000,000 fen) × 20‱ = 35 × 100,000 fen = 3,500,000 fen (35,000 yuan)
    assert domain.premium_fen(35, 50_000_000, 20) == 3_500_000
    # 3 workers × 333 fen × 7‱ = 6993 / 10000 = 0.6993 fen -> rounds half up to 1
    assert domain.premium_fen(3, 333, 7) == 1
    # 1 × 10,000 fen × 5‱ = 5 fen exactly; 1 × 1,000 × 5‱ = 0.5 -> 1 (half up)
    assert domain.premium_fen(1, 10_000, 5) == 5
    assert domain.premium_fen(1, 1_000, 5) == 1


def test_first_policy_pays_the_base_rate():
    rate = domain.rate_for("建筑施工", None)          # mandatory tier: 20 / 16
    assert (rate.rate_bp, rate.floating) == (20, False) and "首次投保" in rate.reason


def test_no_claim_last_year_floats_the_rate_down_with_the_reason():
    rate = domain.rate_for("建筑施工", 0)
    assert (rate.rate_bp, rate.floating) == (16, True) and "无理赔" in rate.reason


def test_a_claim_last_year_keeps_the_base_rate_and_says_why():
    rate = domain.rate_for("矿山", 2)                 # industry row: 30 / 24
    assert (rate.rate_bp, rate.floating) == (30, False) and "2起" in rate.reason


def test_industry_rows_override_tier_rows_and_encouraged_uses_the_default():
    assert domain.rate_for("危险化学品", 0).rate_bp == 21
    assert domain.rate_for("人员密集场所", None).rate_bp == 14
    assert domain.rate_for("餐饮", 0).rate_bp == 8


# ---- prevention fund -------------------------------------------------------------------------

def test_fund_credit_is_the_extraction_ratio_rounded_down():
    # 15 % of 3,500,000 fen = 525,000 fen
    assert domain.fund_credit_fen(3_500_000) == 525_000
    # 15 % of 7 fen = 1.05 -> 1 (never credit more than was set aside)
    assert domain.fund_credit_fen(7) == 1
    assert domain.fund_credit_fen(1_000, ratio_bp=2000) == 200


def test_fund_arithmetic_and_positive_amounts():
    assert domain.fund_balance_after(525_000, "debit", 80_000) == 445_000
    assert domain.fund_balance_after(445_000, "credit", 5) == 445_005
    assert domain.fund_balance_after(100, "debit", 101) == -1   # the database refuses this, not Python
    with pytest.raises(RuleViolation):
        domain.fund_balance_after(100, "debit", 0)


# ---- hazards ---------------------------------------------------------------------------------

def test_hazard_lifecycle_with_a_failed_and_a_passed_reinspection():
    s = domain.FOUND
    s = domain.next_hazard_status(s, "rectify")
    assert s == domain.RECTIFYING
    s = domain.next_hazard_status(s, "request_reinspection")
    assert s == domain.AWAITING
    s = domain.next_hazard_status(s, "fail")
    assert s == domain.REOPENED
    s = domain.next_hazard_status(domain.next_hazard_status(s, "rectify"), "request_reinspection")
    assert domain.next_hazard_status(s, "pass") == domain.CLOSED


@pytest.mark.parametrize("status, action", [
    ("found", "pass"), ("found", "request_reinspection"), ("closed", "rectify"), ("rectifying", "fail"),
    ("closed", "fail"),
])
def test_hazard_transitions_refused(status, action):
    with pytest.raises(RuleViolation) as exc:
        domain.next_hazard_status(status, action)
    assert exc.value.rule == "hazard_transition"


def test_rectification_deadline_counts_working_days():
    # Found Friday 2022-09-30; the National Day holiday runs 10-01..10-07, and Saturday 10-08 and
    # Sunday 10-09 are adjusted working days. 3 working days after: 10-08, 10-09, 10-10 -> 2022-10-10.
    assert domain.rectification_deadline(date(2022, 9, 30), domain.rectification_working_days("general", 3)) \
        == date(2022, 10, 10)
    # the programme's default for a general hazard is 20 working days
    assert domain.rectification_working_days("general") == 20
    assert domain.rectification_deadline(date(2022, 3, 1), domain.rectification_working_days("general")) \
        == date(2022, 3, 29)


def test_overdue_is_computed_from_the_deadline_in_shanghai():
    deadline = date(2022, 10, 10)
    # 2022-10-10 23:30 Shanghai = 15:30 UTC: still the deadline day
    assert not domain.is_overdue("rectifying", deadline, datetime(2022, 10, 10, 15, 30, tzinfo=UTC))
    # 2022-10-11 00:30 Shanghai = 10-10 16:30 UTC: the day after
    assert domain.is_overdue("rectifying", deadline, datetime(2022, 10, 10, 16, 30, tzinfo=UTC))
    assert not domain.is_overdue("closed", deadline, datetime(2023, 1, 1, tzinfo=UTC))


def test_major_report_escalates_after_the_acknowledgement_window():
    reported = datetime(2022, 5, 1, 8, tzinfo=UTC)
    assert not domain.major_escalation_due(reported, False, reported + timedelta(hours=23, minutes=59))
    assert domain.major_escalation_due(reported, False, reported + timedelta(hours=24))
    assert not domain.major_escalation_due(reported, True, reported + timedelta(days=9))


def test_nanhai_hazard_figures_come_from_counts():
    # Nanhai's campaign: 164 general and 13 major found, all 177 rectified
    counts = {("general", "closed"): 164, ("major", "closed"): 13}
    assert domain.hazard_figures(counts) == {"general": 164, "major": 13, "found": 177, "rectified": 177, "open": 0}
    partial = {("general", "closed"): 160, ("general", "rectifying"): 4, ("major", "closed"): 12,
               ("major", "reopened"): 1}
    assert domain.hazard_figures(partial)["rectified"] == 172


def test_share_is_a_two_place_percentage():
    assert domain.share(1, 3) == "33.33"
    assert domain.share(2, 3) == "66.67"
    assert domain.share(0, 0) == "0.00"
    assert domain.share(12023, 12023) == "100.00"


# ---- ratings ---------------------------------------------------------------------------------

def test_rating_window():
    closed = datetime(2022, 5, 1, tzinfo=UTC)
    domain.ensure_rating_window(closed, closed + timedelta(days=30))
    with pytest.raises(RuleViolation) as exc:
        domain.ensure_rating_window(closed, closed + timedelta(days=30, seconds=1))
    assert exc.value.rule == "rating_window"
    with pytest.raises(RuleViolation):
        domain.ensure_rating_window(None, closed)


# ---- insurer appraisal -----------------------------------------------------------------------

def test_prevention_score_by_hand():
    # inspections 8 of 10 on time: 0.8 × 50 = 40.00; hazards 3 of 4 closed: 0.75 × 30 = 22.50;
    # ratings 4+5+3 = 12 of 15: 0.8 × 20 = 16.00; total 78.50
    score, parts = domain.prevention_score(10, 8, 4, 3, 12, 3)
    assert score == Decimal("78.50")
    assert [p["points"] for p in parts] == ["40.00", "22.50", "16.00"]


def test_nothing_to_measure_is_full_marks():
    score, _ = domain.prevention_score(0, 0, 0, 0, 0, 0)
    assert score == Decimal("100.00")


def test_weighted_total_and_stars_by_hand():
    scores = {"organisation": Decimal(90), "underwriting": Decimal(85), "claims": Decimal(80),
              "prevention": Decimal("78.50"), "publicity": Decimal(70), "complaints": Decimal(100)}
    # 90×10% + 85×20% + 80×20% + 78.50×30% + 70×10% + 100×10%
    # = 9.00 + 17.00 + 16.00 + 23.55 + 7.00 + 10.00 = 82.55 -> 4 stars (80 ≤ 82.55 < 90)
    result = domain.appraise(scores)
    assert result["total"] == "82.55" and result["stars"] == 4
    assert [d["contribution"] for d in result["dimensions"]] == ["9.00", "17.00", "16.00", "23.55", "7.00", "10.00"]


@pytest.mark.parametrize("total, stars", [("100", 5), ("90", 5), ("89.99", 4), ("80", 4), ("70", 3), ("60", 2),
                                          ("59.99", 1), ("0", 1)])
def test_star_thresholds(total, stars):
    assert domain.stars_for(Decimal(total)) == stars


def test_weights_sum_to_one_hundred():
    assert sum(domain.programme()["appraisal"]["weights"].values()) == 100
    assert sum(domain.programme()["appraisal"]["prevention_parts"].values()) == 100


# A made-up year far past the package (invented dates): Tue 2099-06-02 and Wed 06-03 off,
# Saturday 06-06 worked.
FICTION_2099 = {"year": 2099, "holidays": ["2099-06-02", "2099-06-03"], "workdays": ["2099-06-06"],
                "source": "虚构安排（测试）"}


@pytest.fixture
def calendar_store(tmp_path, monkeypatch):
    from shared import calendar as cal

    previous = cal.configured_store()
    monkeypatch.setattr(cal, "RELOAD_SECONDS", 0.0)
    cal.configure_calendar(tmp_path / "calendar")
    yield cal.CalendarStore(tmp_path / "calendar")
    cal.configure_calendar(previous.directory if previous else None)


def test_a_deadline_past_the_calendar_is_never_guessed(calendar_store):
    from shared.workdays import CalendarOutOfRange

    with pytest.raises(CalendarOutOfRange):
        domain.rectification_deadline(date(2099, 6, 1), 3)
    assert domain.deadline_or_pending(date(2099, 6, 1), 3) == (None, "calendar_range")
    assert "节假日" in domain.DEADLINE_PENDING["calendar_range"]
    # once the year's arrangement is added: Mon 06-01 + 3 working days = Thu 04, Fri 05, Sat 06 (worked)
    calendar_store.add(FICTION_2099, actor="tester")
    assert domain.deadline_or_pending(date(2099, 6, 1), 3) == (date(2099, 6, 6), None)


def test_a_pending_deadline_is_never_overdue():
    assert domain.is_overdue(domain.FOUND, None, datetime(2099, 12, 31, tzinfo=UTC)) is False


def test_coverage_targets():
    t = domain.targets("6.00", "99.99")
    assert t["insured_share"] == {"target": "6.00", "actual": "6.00", "met": True}
    assert t["mandatory_share"]["met"] is False


def test_a_districts_area_is_the_hull_of_its_enterprises_widened_by_the_margin():
    square = [(0, 0), (1, 0), (1, 1), (0, 1), (0.5, 0.5), (0.2, 0.7)]
    assert domain.convex_hull(square) == [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]   # inner points dropped
    assert domain.convex_hull([(0, 0), (1, 1), (2, 2)]) == [(0.0, 0.0), (2.0, 2.0)]        # collinear: the ends
    area = domain.enterprise_area([(113.15, 23.03)])                                         # one enterprise
    ring = area["coordinates"][0]
    assert area["type"] == "Polygon" and ring[0] == ring[-1] and len(ring) == 9             # an octagon, closed
    assert all(abs(((x - 113.15) ** 2 + (y - 23.03) ** 2) ** 0.5 - domain.HULL_MARGIN_DEGREES) < 1e-5
               for x, y in ring)
    two = domain.enterprise_area([(113.0, 23.0), (113.2, 23.0)])["coordinates"][0]
    xs = [x for x, _ in two]
    assert min(xs) == pytest.approx(112.99) and max(xs) == pytest.approx(113.21)
    assert domain.enterprise_area([]) is None
