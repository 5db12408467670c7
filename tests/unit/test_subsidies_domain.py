"""Lecture-subsidy rules (seed 000 §八, 附件5) as pure functions, with real calendar dates."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from marshmallow import ValidationError

from services.subsidies import domain, schemas
from shared.errors import RuleViolation, ValidationFailed
from shared.workdays import CalendarOutOfRange

SHANGHAI = timezone(timedelta(hours=8))
KEY = "a" * 64
FULL = domain.Evidence(signin_head_count=30, has_signin_sheet=True, has_video=True, photo_count=4, banner_shown=True)
TOUR = domain.TourFacts(in_tour=True, person_key=KEY, tour_start=date(2022, 10, 1), tour_end=date(2023, 4, 30))


def at(y, m, d, hh=12, mm=0):
    return datetime(y, m, d, hh, mm, tzinfo=SHANGHAI)


def make(**kw):
    values = dict(kind="self_hosted", lecture_date=date(2022, 10, 20), audience_count=30, id_index=KEY,
                  received_at=at(2022, 10, 21), evidence=FULL)
    values.update(kw)
    return domain.Report(**values)


def test_a_complete_report_passes():
    assert domain.check_report(make(), TOUR).passed


@pytest.mark.parametrize("lecture, received, late", [
    # National Day: a Friday lecture before the holiday is due on the 3rd working day after it, 10 Oct
    (date(2022, 9, 30), at(2022, 10, 10, 23, 59), False),
    (date(2022, 9, 30), at(2022, 10, 11, 0, 1), True),
    # an ordinary week: Monday 17 Oct -> Thursday 20 Oct
    (date(2022, 10, 17), at(2022, 10, 20, 18), False),
    (date(2022, 10, 17), at(2022, 10, 21, 9), True),
    # Saturday 8 and Sunday 9 Oct 2022 were adjusted working days: a lecture on the
    # holiday of 7 Oct is due on the 10th, not on Wednesday the 12th
    (date(2022, 10, 7), at(2022, 10, 10, 20), False),
    (date(2022, 10, 7), at(2022, 10, 11, 8), True),
])
def test_evidence_is_due_within_three_working_days(lecture, received, late):
    facts = domain.TourFacts(True, KEY, date(2022, 9, 1), date(2023, 4, 30))
    result = domain.check_report(make(lecture_date=lecture, received_at=received), facts)
    assert ("evidence_late" in result.rules) is late


def test_the_deadline_of_a_lecture_before_national_day():
    assert domain.evidence_deadline(date(2022, 9, 30)) == date(2022, 10, 10)
    # Spring Festival 2023: 21–27 Jan off, Saturday 28 and Sunday 29 worked
    assert domain.evidence_deadline(date(2023, 1, 20)) == date(2023, 1, 30)


def test_late_is_judged_on_the_shanghai_date_not_utc():
    # 2022-10-10T16:30Z is already the 11th in Beijing
    received = datetime(2022, 10, 10, 16, 30, tzinfo=timezone.utc)
    facts = domain.TourFacts(True, KEY, date(2022, 9, 1), date(2023, 4, 30))
    assert "evidence_late" in domain.check_report(make(lecture_date=date(2022, 9, 30), received_at=received),
                                                  facts).rules


def test_audience_must_equal_the_sign_in_sheet():
    result = domain.check_report(make(audience_count=31), TOUR)
    assert result.rules == ["audience_mismatch"]
    assert "31" in result.failed[0]["message"] and "30" in result.failed[0]["message"]


@pytest.mark.parametrize("evidence, missing", [
    (dict(has_signin_sheet=False, signin_head_count=None), "sign-in sheet"),
    (dict(has_video=False), "video"),
    (dict(photo_count=3), "1 more site photo"),
    (dict(photo_count=0), "4 more site photo"),
    (dict(banner_shown=False), "banner"),
])
def test_every_piece_of_evidence_is_required(evidence, missing):
    ev = domain.Evidence(**{**FULL.__dict__, **evidence})
    result = domain.check_report(make(evidence=ev), TOUR)
    assert result.rules == ["evidence_incomplete"]
    assert missing in result.failed[0]["message"]


def test_only_tour_lecturers_with_their_own_id_number():
    assert domain.check_report(make(), domain.TourFacts(False, KEY, TOUR.tour_start, TOUR.tour_end)).rules == [
        "lecturer_not_in_tour"]
    assert domain.check_report(make(id_index="b" * 64), TOUR).rules == ["lecturer_id_mismatch"]
    assert domain.check_report(make(), domain.TourFacts(True, None, TOUR.tour_start, TOUR.tour_end)).rules == [
        "lecturer_id_mismatch"]


@pytest.mark.parametrize("day, inside", [
    (date(2022, 9, 30), False), (date(2022, 10, 1), True), (date(2023, 4, 30), True), (date(2023, 5, 1), False)])
def test_the_tour_window_is_inclusive(day, inside):
    result = domain.check_report(make(lecture_date=day, received_at=at(day.year, day.month, day.day, 20)), TOUR)
    assert ("outside_tour_window" not in result.rules) is inside


def test_a_cycle_without_window_refuses_every_date():
    assert "outside_tour_window" in domain.check_report(make(), domain.TourFacts(True, KEY, None, None)).rules


def test_on_demand_needs_its_order():
    bad = domain.TourFacts(True, KEY, TOUR.tour_start, TOUR.tour_end, order_ok=False)
    assert domain.check_report(make(kind="on_demand"), bad).rules == ["order_mismatch"]
    assert domain.check_report(make(kind="self_hosted"), bad).passed  # only on-demand lectures have orders


def test_all_failures_reported_at_once_and_as_a_422():
    result = domain.check_report(make(audience_count=6, evidence=domain.Evidence(5, True, False, 1, False),
                                      received_at=at(2022, 11, 30)), TOUR)
    assert result.rules == ["audience_mismatch", "evidence_incomplete", "evidence_late"]
    with pytest.raises(RuleViolation) as exc:
        domain.ensure_checks_passed(result)
    assert exc.value.rule == "audience_mismatch" and set(exc.value.fields) == set(result.rules)
    domain.ensure_checks_passed(domain.check_report(make(), TOUR))  # passing raises nothing


def test_dates_beyond_the_holiday_calendar_are_a_rule_not_a_crash():
    # judging lateness needs the working days between the lecture and the submission
    result = domain.check_report(make(lecture_date=date(2040, 1, 2), received_at=at(2040, 2, 1)),
                                 domain.TourFacts(True, KEY, date(2039, 1, 1), date(2041, 1, 1)))
    assert result.rules == ["calendar_range"]
    with pytest.raises(CalendarOutOfRange):
        domain.ensure_calendar_covers(date(2040, 1, 2))


def test_resubmission_only_while_on_time():
    domain.ensure_can_resubmit(date(2022, 9, 30), at(2022, 10, 10, 20))
    with pytest.raises(RuleViolation) as exc:
        domain.ensure_can_resubmit(date(2022, 9, 30), at(2022, 10, 11, 8))
    assert exc.value.rule == "evidence_late" and "2022-10-10" in str(exc.value)


@pytest.mark.parametrize("status, action, result", [
    ("received", "checks_passed", "awaiting_review"), ("received", "checks_failed", "checks_failed"),
    ("awaiting_review", "approve", "approved"), ("awaiting_review", "reject", "rejected"),
    ("checks_failed", "resubmit", "received"), ("rejected", "resubmit", "received"),
    ("approved", "revoke", "rejected"),
])
def test_report_transitions(status, action, result):
    assert domain.next_report_status(status, action) == result


@pytest.mark.parametrize("status, action", [
    ("received", "approve"), ("approved", "approve"), ("checks_failed", "approve"), ("approved", "resubmit"),
    ("awaiting_review", "resubmit"), ("approved", "reject"), ("rejected", "revoke")])
def test_report_transitions_refused(status, action):
    with pytest.raises(RuleViolation) as exc:
        domain.next_report_status(status, action)
    assert exc.value.rule == "status_transition"


@pytest.mark.parametrize("status, action, result", [
    ("ordered", "accept", "accepted"), ("accepted", "schedule", "scheduled"), ("scheduled", "schedule", "scheduled"),
    ("scheduled", "hold", "held"), ("ordered", "cancel", "cancelled"), ("scheduled", "cancel", "cancelled")])
def test_order_transitions(status, action, result):
    assert domain.next_order_status(status, action) == result


@pytest.mark.parametrize("status, action", [
    ("ordered", "hold"), ("ordered", "schedule"), ("held", "cancel"), ("cancelled", "accept"), ("accepted", "hold")])
def test_order_transitions_refused(status, action):
    with pytest.raises(RuleViolation):
        domain.next_order_status(status, action)


@pytest.mark.parametrize("fen, text", [(0, "0.00"), (5, "0.05"), (30000, "300.00"), (123456789, "1234567.89"),
                                       (-150, "-1.50"), (10**15 + 1, "10000000000000.01")])
def test_yuan_from_integer_fen(fen, text):
    assert domain.yuan(fen) == text


def test_yuan_refuses_floats():
    with pytest.raises(TypeError):
        domain.yuan(300.0)


def test_venue_key_evens_out_width_case_and_spacing():
    assert domain.venue_key(" 北京ＡＢＣ  公司 ") == domain.venue_key("北京abc 公司")
    assert domain.venue_key("甲公司") != domain.venue_key("乙公司")


def test_compliance_counts_kinds_self_hosted_and_the_target():
    out = domain.compliance([(1, "甲"), (2, "乙"), (3, "丙")],
                            [(1, "self_hosted"), (1, "exchange"), (2, "on_demand"), (2, "on_demand")], 150)
    rows = {r.candidate_id: r for r in out["lecturers"]}
    assert rows[1].self_hosted_met and rows[1].total == 2
    assert not rows[2].self_hosted_met and rows[2].by_kind["on_demand"] == 2
    assert out["self_hosted_missing"] == [2, 3]
    assert (out["total_lectures"], out["remaining"], out["target_met"]) == (4, 146, False)
    assert out["by_kind"] == {"self_hosted": 1, "exchange": 1, "on_demand": 2}


@pytest.mark.parametrize("value, status", [("paid", "paid"), ("成功", "paid"), (" SUCCESS ", "paid"),
                                           ("失败", "failed"), ("failed", "failed"), ("maybe", None), ("", None)])
def test_bank_result_words(value, status):
    assert domain.parse_result_status(value) == status


@pytest.mark.parametrize("account, ok", [
    ("622202123456", True), ("6222021234561234567", True), ("6222 0212 3456 1234", True),
    ("62220212345", False), ("62220212345612345678", False), ("6222-0212-3456", False), ("6222a21234561", False),
    ("６２２２０２１２３４５６", False),
])
def test_bank_account_is_12_to_19_digits_without_luhn(account, ok):
    field = schemas.BankAccount()
    if ok:
        assert field.deserialize(account).isdigit()
    else:
        with pytest.raises(ValidationError) as exc:
            field.deserialize(account)
        assert "bank_account_format" in str(exc.value.messages)


def test_a_luhn_invalid_account_is_accepted():
    # 6222021234561234 fails Luhn; passbook and corporate accounts often do
    assert schemas.BankAccount().deserialize("6222021234561234") == "6222021234561234"


def test_cycle_window_must_not_end_before_it_starts():
    with pytest.raises(ValidationError) as exc:
        schemas.SubsidyCycleIn().load({"tour_start": "2023-04-30", "tour_end": "2022-10-01",
                                       "lecture_subsidy_fen": 30000})
    assert "tour_end" in exc.value.messages
    with pytest.raises(ValidationError) as money:
        schemas.SubsidyCycleIn().load({"tour_start": "2022-10-01", "tour_end": "2023-04-30",
                                       "lecture_subsidy_fen": 300.5})
    assert "lecture_subsidy_fen" in money.value.messages


def test_on_demand_reports_name_their_order():
    base = {"cycle": "2022", "candidate_id": 1, "lecturer_name": "张三", "id_number": "11010519491231002X",
            "lecture_date": "2022-10-20", "venue": "某公司", "audience_count": 30, "bank": "工行",
            "branch": "东城支行", "account_number": "622202123456", "contact": "13812345678"}
    with pytest.raises(ValidationError) as exc:
        schemas.LectureIn().load(dict(base, kind="on_demand"))
    assert "order_id" in exc.value.messages
    with pytest.raises(ValidationError) as other:
        schemas.LectureIn().load(dict(base, kind="exchange", order_id=3))
    assert "order_id" in other.value.messages
    assert schemas.LectureIn().load(dict(base, kind="on_demand", order_id=3))["order_id"] == 3


@pytest.mark.parametrize("host, host_in_tour, own_unit, host_unit, ok", [
    (7, True, 1, 2, True),        # another tour lecturer's unit
    (7, True, None, 2, True),     # units unknown: the host being another tour lecturer suffices
    (None, True, 1, 2, False),    # no host named
    (5, True, 1, 2, False),       # the reporter cannot host itself
    (7, False, 1, 2, False),      # the host is not in the tour
    (7, True, 3, 3, False),       # same unit: that is a self-hosted lecture, not an exchange
])
def test_an_exchange_lecture_is_at_another_lecturers_unit(host, host_in_tour, own_unit, host_unit, ok):
    assert domain.exchange_host_ok(5, own_unit, host, host_in_tour, host_unit) is ok


def test_the_exchange_host_check_applies_to_exchange_lectures_only():
    bad = domain.TourFacts(True, KEY, TOUR.tour_start, TOUR.tour_end, host_ok=False)
    assert domain.check_report(make(kind="exchange"), bad).rules == ["exchange_host"]
    assert domain.check_report(make(kind="self_hosted"), bad).passed


def test_exchange_reports_name_their_host():
    base = {"cycle": "2022", "candidate_id": 1, "lecturer_name": "张三", "id_number": "11010519491231002X",
            "lecture_date": "2022-10-20", "venue": "某公司", "audience_count": 30, "bank": "工行",
            "branch": "东城支行", "account_number": "622202123456", "contact": "13812345678"}
    with pytest.raises(ValidationError) as missing:
        schemas.LectureIn().load(dict(base, kind="exchange"))
    assert "host_candidate_id" in missing.value.messages
    with pytest.raises(ValidationError) as stray:
        schemas.LectureIn().load(dict(base, kind="self_hosted", host_candidate_id=7))
    assert "host_candidate_id" in stray.value.messages
    assert schemas.LectureIn().load(dict(base, kind="exchange", host_candidate_id=7))["host_candidate_id"] == 7


# ---- rules the entrypoints apply ------------------------------------------------------------------

def test_a_lecture_is_reported_after_it_took_place_in_shanghai():
    late_evening_utc = datetime(2022, 10, 9, 17, 0, tzinfo=timezone.utc)  # 01:00 on the 10th in Beijing
    domain.ensure_lecture_past(date(2022, 10, 10), late_evening_utc)
    with pytest.raises(ValidationFailed) as err:
        domain.ensure_lecture_past(date(2022, 10, 11), late_evening_utc)
    assert "lecture_date" in err.value.fields


def test_evidence_received_by_other_means_is_dated_between_the_lecture_and_now():
    now = datetime(2022, 10, 12, 8, 0, tzinfo=timezone.utc)
    domain.ensure_received_between(datetime(2022, 10, 11, 8, 0, tzinfo=timezone.utc), date(2022, 10, 10), now)
    for received in (datetime(2022, 10, 12, 9, 0, tzinfo=timezone.utc),
                     datetime(2022, 10, 9, 8, 0, tzinfo=timezone.utc)):
        with pytest.raises(ValidationFailed):
            domain.ensure_received_between(received, date(2022, 10, 10), now)


def test_orders_approvals_and_batches_refuse_by_rule():
    domain.ensure_tour_lecturer(True)
    with pytest.raises(RuleViolation) as err:
        domain.ensure_tour_lecturer(False)
    assert err.value.rule == "lecturer_not_in_tour"
    domain.ensure_subsidy_revocable(None)
    domain.ensure_subsidy_revocable(domain.UNPAID)
    with pytest.raises(RuleViolation) as err:
        domain.ensure_subsidy_revocable(domain.IN_BATCH)
    assert err.value.rule == "subsidy_in_payment" and err.value.fields == {"subsidy": ["in_batch"]}
    with pytest.raises(RuleViolation) as err:
        domain.ensure_something_to_pay(0)
    assert err.value.rule == "nothing_to_pay"


def test_only_a_revoked_subsidy_is_reinstated_by_a_new_approval():
    domain.ensure_subsidy_reinstatable(domain.REVOKED)
    for status in (domain.UNPAID, domain.IN_BATCH, domain.PAID):
        with pytest.raises(RuleViolation) as refused:
            domain.ensure_subsidy_reinstatable(status)
        assert refused.value.rule == "subsidy_exists"
