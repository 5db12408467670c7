"""Training rules, with expectations worked out by hand from seed 000 §五–七 and seed 004."""
from collections import Counter
from datetime import date, datetime, time, timezone
from decimal import Decimal

import pytest

from services.training import domain, pdf
from shared.errors import RuleViolation, ValidationFailed


# ---- stages and groups ---------------------------------------------------------------------------

def test_course_plan_2022_has_the_three_stages_with_the_published_dates():
    plan = domain.load_plan("2022")
    assert [s["date"] for s in plan["stages"]["basic"]["sessions"]] == [date(2022, 8, 26)]
    assert [s["date"] for s in plan["stages"]["key"]["sessions"]] == [date(2022, 9, 14), date(2022, 9, 15),
                                                                        date(2022, 9, 16)]
    assert [s["date"] for s in plan["stages"]["intensive"]["sessions"]] == [date(2022, 9, 27), date(2022, 9, 28)]
    assert plan["stages"]["basic"]["mode"] == "online" and plan["stages"]["key"]["mode"] == "offline"
    # 附件3 ends with the theory exam then the expert re-evaluation
    assert [c["title"] for c in plan["stages"]["key"]["courses"][-2:]] == ["理论考试", "专家复评"]


def test_unknown_plan_is_a_400_naming_the_plan():
    with pytest.raises(ValidationFailed) as err:
        domain.load_plan("1999")
    assert "plan" in err.value.fields


def test_key_layout_is_3_batches_of_6_groups_one_per_scenario_50_seats_each():
    layout = domain.group_layout("key")
    assert len(layout) == 18
    for batch in (1, 2, 3):
        rows = [r for r in layout if r[0] == batch]
        assert [r[3] for r in rows] == [9, 9, 8, 8, 8, 8]  # 50 = 2*9 + 4*8
        assert [r[2] for r in rows] == list(domain.SCENARIOS)


def test_intensive_layout_is_5_groups_of_16():
    assert [(b, n, c) for b, n, _, c in domain.group_layout("intensive")] == [(1, i, 16) for i in range(1, 6)]


def test_basic_stage_has_no_groups():
    with pytest.raises(RuleViolation) as err:
        domain.group_layout("basic")
    assert err.value.rule == "stage_has_groups"


def test_assignment_spreads_each_district_across_groups_and_is_deterministic():
    # 12 trainees: 6 from 朝阳, 4 from 海淀, 2 from 东城; 3 groups of 4
    trainees = [(i, "朝阳", "insurer_branch") for i in range(1, 7)] + \
               [(i, "海淀", "social_org") for i in range(7, 11)] + [(11, "东城", "social_org"), (12, "东城", "x")]
    seats = [domain.Seat(g, 4) for g in (1, 2, 3)]
    placed = domain.assign_groups(trainees, seats)
    by_group = {g: Counter(d for t, d, _ in trainees if placed[t] == g) for g in (1, 2, 3)}
    assert all(by_group[g]["朝阳"] == 2 for g in (1, 2, 3))          # 6 over 3 groups
    assert sorted(by_group[g]["海淀"] for g in (1, 2, 3)) == [1, 1, 2]
    assert sum(1 for g in (1, 2, 3) if by_group[g]["东城"]) == 2     # the two 东城 apart
    assert Counter(placed.values()) == {1: 4, 2: 4, 3: 4}
    again = domain.assign_groups(list(reversed(trainees)), [domain.Seat(g, 4) for g in (1, 2, 3)])
    assert again == placed


def test_assignment_respects_seats_already_taken():
    seat = domain.Seat(1, 2, size=2)
    placed = domain.assign_groups([(5, "a", "k")], [seat, domain.Seat(2, 1)])
    assert placed == {5: 2}


def test_assignment_refuses_more_trainees_than_seats():
    with pytest.raises(RuleViolation) as err:
        domain.assign_groups([(1, "a", "k"), (2, "a", "k"), (3, "a", "k")], [domain.Seat(1, 2)])
    assert err.value.rule == "group_capacity"


def test_full_group_refuses_a_move():
    domain.ensure_room(7, 8)
    with pytest.raises(RuleViolation) as err:
        domain.ensure_room(8, 8)
    assert err.value.rule == "group_capacity"


def test_advancement_only_moves_forward():
    assert domain.advance_stage("basic", "key") == "key"
    assert domain.advance_stage("intensive", "key") == "intensive"
    with pytest.raises(ValidationFailed):
        domain.advance_stage("basic", "final")


# ---- scores -------------------------------------------------------------------------------------

def test_rounding_is_half_up_to_two_places():
    assert domain.round_score(Decimal("86.125")) == Decimal("86.13")
    assert domain.round_score(Decimal("86.124")) == Decimal("86.12")
    assert domain.score_text(Decimal("7")) == "7.00"


@pytest.mark.parametrize("value", ["-0.01", "100.01", "abc", "86.123", "NaN", None])
def test_scores_out_of_range_or_too_precise_are_refused(value):
    with pytest.raises(ValidationFailed) as err:
        domain.check_score(value)
    assert "score" in err.value.fields


def test_valid_scores_pass():
    assert domain.check_score("0") == Decimal("0.00")
    assert domain.check_score(100) == Decimal("100.00")
    assert domain.check_score("86.5") == Decimal("86.50")


def test_panel_mean_is_rounded_once():
    # (85 + 90 + 88.33) / 3 = 87.7766… -> 87.78
    assert domain.panel_mean([Decimal("85"), Decimal("90"), Decimal("88.33")]) == Decimal("87.78")
    # (80.25 + 80.30) / 2 = 80.275 -> 80.28 (half up)
    assert domain.panel_mean([Decimal("80.25"), Decimal("80.30")]) == Decimal("80.28")


# ---- questions, papers, grading -------------------------------------------------------------------

def test_question_rules():
    assert domain.normalise_question("true_false", None, ["T"]) == ({"T": "正确", "F": "错误"}, ["T"])
    assert domain.normalise_question("multiple", {"A": "a", "B": "b", "C": "c"}, ["C", "A"])[1] == ["A", "C"]
    for kind, options, answer in [("single", {"A": "a", "B": "b"}, ["A", "B"]),
                                  ("multiple", {"A": "a", "B": "b"}, ["A"]),
                                  ("single", {"A": "a", "B": "b"}, ["Z"]),
                                  ("single", {"A": "a"}, ["A"])]:
        with pytest.raises(ValidationFailed):
            domain.normalise_question(kind, options, answer)


def test_paper_draw_is_reproducible_from_the_seed_and_counts_per_topic():
    bank = {"law": list(range(1, 21)), "insurance": list(range(100, 110))}
    first = domain.draw_paper(bank, [("law", 5), ("insurance", 3)], seed=42)
    assert first == domain.draw_paper({k: list(reversed(v)) for k, v in bank.items()},
                                      [("law", 5), ("insurance", 3)], seed=42)
    assert len(set(first)) == 8
    assert sum(1 for q in first if q < 100) == 5
    assert first != domain.draw_paper(bank, [("law", 5), ("insurance", 3)], seed=43)


def test_drawing_more_than_the_bank_holds_names_the_topic():
    with pytest.raises(RuleViolation) as err:
        domain.draw_paper({"law": [1, 2]}, [("law", 3)], seed=1)
    assert err.value.rule == "paper_draw" and "law: 2 < 3" in err.value.fields["draw"][0]


def test_grading_counts_exact_sets_only():
    key = {1: ["A"], 2: ["A", "C"], 3: ["T"]}
    # q1 right, q2 partial (wrong), q3 right -> 2 of 3 -> 66.67
    assert domain.grade([1, 2, 3], key, {"1": "A", "2": ["A"], "3": ["T"]}) == (2, Decimal("66.67"))
    assert domain.grade([1, 2, 3], key, {"1": ["A"], "2": ["C", "A"], "3": "T"}) == (3, Decimal("100.00"))
    assert domain.grade([1, 2, 3], key, {}) == (0, Decimal("0.00"))
    # a repeated key is not the right set
    assert domain.grade([1], key, {"1": ["A", "A"]}) == (0, Decimal("0.00"))


def test_time_limit_has_two_minutes_grace():
    deadline = datetime(2022, 8, 26, 9, 0, tzinfo=timezone.utc)
    domain.ensure_in_time(deadline, datetime(2022, 8, 26, 9, 2, tzinfo=timezone.utc))
    with pytest.raises(RuleViolation) as err:
        domain.ensure_in_time(deadline, datetime(2022, 8, 26, 9, 2, 1, tzinfo=timezone.utc))
    assert err.value.rule == "exam_time_limit"


# ---- institutions and classes ---------------------------------------------------------------------

GOOD = {"full_time_managers": 3, "management_system": True, "teacher_min_years": 5,
        "evaluation_mechanism": True, "seats": 60}


def test_an_institution_at_the_minimums_qualifies():
    assert domain.institution_failures(GOOD) == []
    domain.ensure_institution_qualified(GOOD)


@pytest.mark.parametrize("field,value,rule", [
    ("full_time_managers", 2, "institution_managers"),
    ("management_system", False, "institution_management_system"),
    ("teacher_min_years", 4, "institution_teacher_experience"),
    ("evaluation_mechanism", False, "institution_evaluation"),
    ("seats", 59, "institution_premises"),
])
def test_each_missed_condition_is_named(field, value, rule):
    with pytest.raises(RuleViolation) as err:
        domain.ensure_institution_qualified(dict(GOOD, **{field: value}))
    assert err.value.rule == rule
    assert f"institution.{field}" in err.value.fields


def test_class_capacity_and_room():
    domain.ensure_class_capacity(60, 60)
    with pytest.raises(RuleViolation) as err:
        domain.ensure_class_capacity(61, 60)
    assert err.value.rule == "class_capacity_premises"
    with pytest.raises(RuleViolation) as err:
        domain.ensure_class_room(2, 2)
    assert err.value.rule == "class_capacity"


def test_day_attendance_says_what_was_missed_and_the_outcome_follows():
    start, end = domain.day_window(date(2018, 5, 10), time(9), time(17))
    assert end == datetime(2018, 5, 10, 9, 0, tzinfo=timezone.utc)  # 17:00 Beijing
    assert start == datetime(2018, 5, 10, 1, 0, tzinfo=timezone.utc)
    day = lambda check_in, check_out: domain.day_attendance(date(2018, 5, 10), time(9), time(17),  # noqa: E731
                                                            check_in, check_out)
    utc = lambda h, m=0: datetime(2018, 5, 10, h, m, tzinfo=timezone.utc)  # noqa: E731  (Beijing = +8)
    assert (day(start, end)["status"], day(start, end)["missed_minutes"]) == ("present", 0)
    assert (day(utc(1, 5), end)["status"]) == "present"                      # within the 5-minute grace
    assert (day(utc(3), end)["status"], day(utc(3), end)["missed_minutes"]) == ("late", 120)   # 11:00
    assert (day(utc(5), end)["status"], day(utc(5), end)["missed_minutes"]) == ("late", 180)   # 13:00: the lunch hour is not teaching
    assert (day(start, utc(8))["status"], day(start, utc(8))["missed_minutes"]) == ("left_early", 60)
    assert (day(start, None)["status"], day(start, None)["missed_minutes"]) == ("left_early", 420)
    assert day(utc(3), utc(8))["status"] == "late_left_early" and day(utc(3), utc(8))["missed_minutes"] == 180
    assert (day(None, None)["status"], day(None, None)["missed_minutes"]) == ("absent", 420)
    full, late, absent = day(start, end), day(utc(3), end), day(None, None)
    outcome = domain.class_outcome([full, full], 8, Decimal(60), Decimal(60))
    assert {k: outcome[k] for k in ("hours", "status", "passed", "full_days", "missed")} == \
        {"hours": 16, "status": "present", "passed": True, "full_days": 2, "missed": []}
    outcome = domain.class_outcome([late, full], 8, Decimal(99), Decimal(60))
    assert (outcome["status"], outcome["hours"], outcome["passed"], outcome["missed_minutes"]) == ("late", 8, False, 120)
    assert domain.class_outcome([late, full], 8, Decimal(99), Decimal(60), excused=True)["passed"] is True
    assert domain.class_outcome([full, absent], 8, None, Decimal(60))["status"] == "incomplete"
    assert domain.class_outcome([absent, absent], 8, None, Decimal(60))["status"] == "absent"
    assert domain.class_outcome([full, full], 8, Decimal("59.99"), Decimal(60))["passed"] is False


def test_class_hours_come_from_the_schedule():
    assert domain.class_hours(time(9), time(17)) == 16          # 420 minutes of teaching: 9 hours, 8 counted
    assert domain.teaching_minutes(time(9), time(17)) == 420
    with pytest.raises(RuleViolation) as short:
        domain.class_hours(time(9), time(12))
    assert short.value.rule == "class_schedule" and "4 class hours" in short.value.message
    with pytest.raises(RuleViolation) as gap:
        domain.ensure_class_days([date(2018, 5, 10), date(2018, 5, 14)])
    assert gap.value.rule == "class_days"
    with pytest.raises(RuleViolation) as span:
        domain.ensure_class_days([date(2018, 12, 31), date(2019, 1, 1)])
    assert span.value.rule == "class_days"


def test_attendance_day_is_judged_in_beijing_time_and_never_ahead_of_the_clock():
    now = datetime(2018, 5, 10, 1, 0, tzinfo=timezone.utc)
    # 2018-05-09T23:30Z is 07:30 on 05-10 in Beijing
    domain.ensure_on_class_day(datetime(2018, 5, 9, 23, 30, tzinfo=timezone.utc), date(2018, 5, 10), now)
    with pytest.raises(RuleViolation) as err:
        domain.ensure_on_class_day(datetime(2018, 5, 9, 15, 0, tzinfo=timezone.utc), date(2018, 5, 10), now)
    assert err.value.rule == "attendance_day"
    with pytest.raises(RuleViolation) as ahead:
        domain.ensure_on_class_day(datetime(2018, 5, 10, 9, 0, tzinfo=timezone.utc), date(2018, 5, 10), now)
    assert ahead.value.rule == "attendance_day" and "at" in ahead.value.fields


# ---- certificates -------------------------------------------------------------------------------

def test_certificate_number_encodes_the_agency():
    number = domain.certificate_number("beijing", 2018, 42)
    assert number == "BEIJING-2018-0000042"
    assert domain.certificate_agency(number) == "beijing"
    assert domain.certificate_agency("FO-SHAN-2019-0000001") == "fo-shan"
    assert domain.certificate_agency("junk") is None
    assert domain.certificate_agency("X-18-1") is None


def test_certificate_pdf_is_well_formed_and_its_qr_encodes_the_verify_url():
    url = domain.verify_url("http://example.org/", "BEIJING-2018-0000042")
    assert url == "http://example.org/api/v1/certificates/BEIJING-2018-0000042/verify"
    data = pdf.certificate_pdf([(24, "安全生产培训合格证")], url)
    assert data.startswith(b"%PDF-1.") and data.rstrip().endswith(b"%%EOF")
    # the trailer's startxref points at the cross-reference table
    xref_at = int(data.rsplit(b"startxref", 1)[1].split()[0])
    assert data[xref_at:xref_at + 4] == b"xref"
    # the CJK font is embedded (a subset), not left to the reader
    assert b"/FontFile2" in data
    import segno
    assert pdf.qr_matrix(url) == [[bool(c) for c in row] for row in segno.make(url, error="m").matrix]


def test_rating_average():
    assert domain.rating_average([5, 4, 4]) == Decimal("4.33")
    assert domain.rating_average([]) is None


# ---- rules moved out of the service ------------------------------------------------------------

def test_a_teacher_needs_the_minimum_years_and_the_message_says_how_many(monkeypatch):
    domain.ensure_teacher_experienced("孙", domain.TEACHER_MIN_YEARS, "teacher_ids.0")
    with pytest.raises(RuleViolation) as err:
        domain.ensure_teacher_experienced("新", 3, "teacher_ids.1")
    assert err.value.rule == "teacher_experience" and "附件2 asks 5" in err.value.message
    assert err.value.fields == {"teacher_ids.1": ["fewer than 5 years in the field"]}
    monkeypatch.setattr(domain, "TEACHER_MIN_YEARS", 8)  # the number is written once
    with pytest.raises(RuleViolation) as err:
        domain.ensure_teacher_experienced("中", 6, "teacher_ids.0")
    assert "asks 8" in err.value.message and err.value.fields["teacher_ids.0"] == ["fewer than 8 years in the field"]


def test_one_attempt_per_trainee_per_exam_online_and_on_paper():
    domain.ensure_one_attempt(None)
    domain.ensure_one_attempt(None, row=3)
    with pytest.raises(RuleViolation) as online:
        domain.ensure_one_attempt(42)
    assert online.value.rule == "one_attempt" and "attempt #42 exists" in online.value.message
    with pytest.raises(RuleViolation) as paper:
        domain.ensure_one_attempt(True, row=3)
    assert paper.value.rule == "one_attempt" and paper.value.fields == {"rows.3": ["one attempt per trainee per exam"]}


def test_the_attempt_lifecycle():
    assert domain.ATTEMPT.next(domain.STARTED, "submit") == domain.SUBMITTED
    assert domain.ATTEMPT.next(domain.SUBMITTED, "reopen") == domain.VOID
    domain.ensure_submittable(domain.STARTED)
    for status in (domain.SUBMITTED, domain.VOID):
        with pytest.raises(RuleViolation) as err:
            domain.ensure_submittable(status)
        assert err.value.rule == "one_attempt"
    domain.ensure_reopenable(domain.SUBMITTED)
    from shared.errors import Conflict
    with pytest.raises(Conflict):
        domain.ensure_reopenable(domain.VOID)


def test_who_may_sit_a_programme_exam():
    domain.ensure_may_sit("key_theory", "2022", "2022", domain.ACTIVE, domain.INTENSIVE, 7)  # reached it
    for cycle, status, stage in (("2021", domain.ACTIVE, domain.KEY), ("2022", domain.WITHDRAWN, domain.KEY),
                                 ("2022", domain.ACTIVE, domain.BASIC)):
        with pytest.raises(RuleViolation) as err:
            domain.ensure_may_sit("key_theory", "2022", cycle, status, stage, 7)
        assert err.value.rule == "exam_stage" and err.value.fields == {
            "candidate_id": ["not an active key trainee of 2022"]}


def test_who_may_be_moved_into_a_group():
    domain.ensure_movable(domain.KEY, domain.ACTIVE, "2022", 7, domain.KEY, "2022")
    with pytest.raises(RuleViolation) as err:
        domain.ensure_movable(domain.BASIC, domain.ACTIVE, "2022", 7, domain.KEY, "2022")
    assert err.value.rule == "group_stage" and "is active at the basic stage of 2022" in err.value.message


def test_class_and_certificate_lifecycles():
    domain.ensure_class_open(domain.OPEN)
    with pytest.raises(RuleViolation) as err:
        domain.ensure_class_open(domain.COMPLETED)
    assert err.value.rule == "class_completed"
    assert domain.CLASS.next(domain.OPEN, "complete") == domain.COMPLETED
    assert domain.CERTIFICATE.next(domain.VALID, "revoke") == domain.REVOKED
    from shared.errors import Conflict
    with pytest.raises(Conflict):
        domain.ensure_revocable(domain.REVOKED)


def test_the_certificate_wording():
    lines = domain.certificate_lines("BEIJING-2018-0000001", "张三", "110***********123X", "第1期", "培训中心",
                                     date(2018, 5, 10), date(2018, 5, 11), 16, date(2018, 5, 11), domain.VALID)
    assert lines[0] == (24, "安全生产培训合格证")
    assert (12, "培训日期：2018-05-10 至 2018-05-11，共 16 学时") in lines
    assert lines[5] == (12, "发证日期：2018-05-11    状态：有效")
    revoked = domain.certificate_lines("N", "张三", "x", "t", "i", date(2018, 5, 10), date(2018, 5, 11), 16,
                                       date(2018, 5, 11), domain.REVOKED)
    assert revoked[5][1].endswith("状态：已撤销")
    assert domain.verify_message(domain.REVOKED, "冒名") == "revoked: 冒名"
