import datetime

import chinese_calendar
import pytest

from shared.errors import RuleViolation
from shared.workdays import (
    CALENDAR_FIRST_DAY,
    CALENDAR_LAST_DAY,
    SHANGHAI,
    CalendarOutOfRange,
    add_working_days,
    date_deadline_passed,
    is_on_time,
    is_working_day,
    local_date,
    to_utc,
    utcnow,
    working_day_deadline,
)

D = datetime.date
UTC = datetime.timezone.utc


def utc(*args) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=UTC)


def shanghai(*args) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=SHANGHAI)


# Time zones -------------------------------------------------------------------

def test_shanghai_zone():
    assert SHANGHAI.key == "Asia/Shanghai"
    assert shanghai(2022, 8, 10, 12).utcoffset() == datetime.timedelta(hours=8)


def test_utcnow_is_aware_utc_and_current():
    now = utcnow()
    assert now.utcoffset() == datetime.timedelta(0)
    assert abs(now - datetime.datetime.now(UTC)) < datetime.timedelta(seconds=5)


def test_to_utc_converts_aware_datetimes():
    converted = to_utc(shanghai(2022, 8, 10, 23, 59, 59))
    assert converted == utc(2022, 8, 10, 15, 59, 59)
    assert converted.tzinfo is UTC
    assert to_utc(utc(2022, 8, 10, 1)) == utc(2022, 8, 10, 1)


def test_to_utc_refuses_naive():
    with pytest.raises(ValueError, match="naive"):
        to_utc(datetime.datetime(2022, 8, 10, 12))


def test_to_utc_refuses_dates():
    with pytest.raises(TypeError):
        to_utc(D(2022, 8, 10))


@pytest.mark.parametrize(
    "moment, expected",
    [
        (utc(2022, 8, 10, 15, 59, 59), D(2022, 8, 10)),
        (utc(2022, 8, 10, 16, 0, 0), D(2022, 8, 11)),
        (utc(2022, 12, 31, 16, 0, 0), D(2023, 1, 1)),
        (shanghai(2022, 8, 10, 0, 0, 0), D(2022, 8, 10)),
    ],
)
def test_local_date_is_the_shanghai_calendar_date(moment, expected):
    assert local_date(moment) == expected


def test_local_date_refuses_naive():
    with pytest.raises(ValueError):
        local_date(datetime.datetime(2022, 8, 10, 16))


# Calendar range ---------------------------------------------------------------

def test_calendar_range_comes_from_the_package_data():
    years = {d.year for d in [*chinese_calendar.holidays, *chinese_calendar.workdays]}
    assert CALENDAR_FIRST_DAY == D(min(years), 1, 1)
    assert CALENDAR_LAST_DAY == D(max(years), 12, 31)


def test_calendar_range_edges():
    assert is_working_day(CALENDAR_LAST_DAY) in (True, False)
    assert is_working_day(CALENDAR_FIRST_DAY) in (True, False)
    with pytest.raises(CalendarOutOfRange):
        is_working_day(CALENDAR_LAST_DAY + datetime.timedelta(days=1))
    with pytest.raises(CalendarOutOfRange):
        is_working_day(CALENDAR_FIRST_DAY - datetime.timedelta(days=1))


def test_calendar_out_of_range_error():
    with pytest.raises(CalendarOutOfRange) as excinfo:
        is_working_day(D(2027, 1, 4))
    error = excinfo.value
    assert isinstance(error, RuleViolation)
    assert error.rule == "calendar_range"
    assert error.http_status == 422
    assert error.day == D(2027, 1, 4)
    # The installed chinese-calendar 1.11.0 covers 2004..2026.
    assert str(error) == (
        "2027-01-04 is outside the official holiday calendar (2004-01-01..2026-12-31); "
        "working days cannot be computed"
    )
    assert error.to_dict()["rule"] == "calendar_range"


# Working days -----------------------------------------------------------------

@pytest.mark.parametrize(
    "day, expected",
    [
        (D(2022, 8, 10), True),  # ordinary Wednesday
        (D(2022, 8, 13), False),  # ordinary Saturday
        (D(2022, 8, 14), False),  # ordinary Sunday
        (D(2022, 10, 3), False),  # National Day, Monday
        (D(2022, 10, 7), False),  # National Day, Friday
        (D(2022, 10, 8), True),  # adjusted working Saturday
        (D(2022, 10, 9), True),  # adjusted working Sunday
        (D(2023, 1, 23), False),  # Spring Festival, Monday
        (D(2023, 1, 28), True),  # adjusted working Saturday
        (D(2026, 1, 1), False),  # New Year's Day
        (D(2026, 1, 4), True),  # adjusted working Sunday
        (D(2026, 12, 31), True),
    ],
)
def test_is_working_day(day, expected):
    assert is_working_day(day) is expected


def test_is_working_day_refuses_datetimes():
    # A UTC datetime's own date can differ from the Shanghai date.
    with pytest.raises(TypeError, match="local_date"):
        is_working_day(utc(2022, 10, 7, 16))


@pytest.mark.parametrize(
    "start, n, expected",
    [
        # a normal week
        (D(2022, 8, 8), 1, D(2022, 8, 9)),
        (D(2022, 8, 8), 3, D(2022, 8, 11)),
        (D(2022, 8, 8), 4, D(2022, 8, 12)),
        # across a weekend
        (D(2022, 8, 12), 1, D(2022, 8, 15)),
        (D(2022, 8, 11), 3, D(2022, 8, 16)),
        # the start day does not count even when it is not a working day
        (D(2022, 8, 13), 1, D(2022, 8, 15)),
        (D(2022, 10, 3), 1, D(2022, 10, 8)),
        # National Day 2022: 10-01..10-07 off, Sat 10-08 and Sun 10-09 worked
        (D(2022, 9, 30), 1, D(2022, 10, 8)),
        (D(2022, 9, 30), 2, D(2022, 10, 9)),
        (D(2022, 9, 30), 3, D(2022, 10, 10)),
        # Spring Festival 2023: 01-21..01-27 off, Sat 01-28 and Sun 01-29 worked
        (D(2023, 1, 20), 1, D(2023, 1, 28)),
        (D(2023, 1, 19), 5, D(2023, 1, 31)),
        (D(2023, 1, 20), 3, D(2023, 1, 30)),
        # year end 2026, still inside the calendar
        (D(2026, 12, 29), 2, D(2026, 12, 31)),
        (D(2026, 12, 24), 3, D(2026, 12, 29)),
    ],
)
def test_add_working_days(start, n, expected):
    assert add_working_days(start, n) == expected
    assert working_day_deadline(start, n) == expected


def test_add_working_days_past_the_calendar_raises():
    # 2026-12-31 is the last known working day; the second would fall in 2027.
    with pytest.raises(CalendarOutOfRange) as excinfo:
        add_working_days(D(2026, 12, 30), 2)
    assert excinfo.value.day == D(2027, 1, 1)
    assert str(excinfo.value).startswith("2027-01-01 is outside the official holiday calendar")


def test_add_working_days_before_the_calendar_raises():
    with pytest.raises(CalendarOutOfRange):
        add_working_days(D(2003, 12, 29), 1)


@pytest.mark.parametrize("n", [0, -1, 1.5, True, "3"])
def test_add_working_days_refuses_bad_counts(n):
    with pytest.raises(ValueError):
        add_working_days(D(2022, 8, 8), n)


def test_add_working_days_refuses_datetimes():
    with pytest.raises(TypeError):
        add_working_days(utc(2022, 8, 8), 1)


# On time ----------------------------------------------------------------------

def test_is_on_time_boundary_in_shanghai():
    # Deadline for 3 working days after Fri 2022-09-30 is Mon 2022-10-10.
    assert is_on_time(D(2022, 9, 30), utc(2022, 10, 10, 15, 59, 59), 3) is True
    assert is_on_time(D(2022, 9, 30), utc(2022, 10, 10, 16, 0, 0), 3) is False
    assert is_on_time(D(2022, 9, 30), shanghai(2022, 10, 10, 23, 59, 59), 3) is True
    assert is_on_time(D(2022, 9, 30), shanghai(2022, 10, 11, 0, 0, 0), 3) is False


def test_is_on_time_during_a_holiday_and_before_the_event():
    assert is_on_time(D(2022, 9, 30), utc(2022, 10, 5, 3), 1) is True
    assert is_on_time(D(2022, 9, 30), utc(2022, 9, 29, 3), 1) is True


def test_is_on_time_refuses_naive_submission():
    with pytest.raises(ValueError):
        is_on_time(D(2022, 9, 30), datetime.datetime(2022, 10, 8, 9), 3)


@pytest.mark.parametrize("days", [0, -2])
def test_is_on_time_refuses_bad_counts(days):
    with pytest.raises(ValueError):
        is_on_time(D(2022, 9, 30), utc(2022, 10, 8, 3), days)


def test_is_on_time_agrees_with_the_deadline_definition():
    events = [D(2022, 9, 24) + datetime.timedelta(days=i) for i in range(14)]
    submissions = [D(2022, 9, 24) + datetime.timedelta(days=i) for i in range(28)]
    for event in events:
        for days in (1, 2, 3, 5):
            deadline = working_day_deadline(event, days)
            for submitted_on in submissions:
                submitted_at = shanghai(*submitted_on.timetuple()[:3], 12)
                assert is_on_time(event, submitted_at, days) is (submitted_on <= deadline), (
                    event,
                    days,
                    submitted_on,
                )


def test_is_on_time_judges_submissions_in_hand_at_the_calendar_edge():
    # The 5-working-day deadline after 2026-12-30 is in 2027 and unknown ...
    with pytest.raises(CalendarOutOfRange):
        working_day_deadline(D(2026, 12, 30), 5)
    # ... but a submission on 2026-12-31 is on time whatever 2027 brings.
    assert is_on_time(D(2026, 12, 30), shanghai(2026, 12, 31, 10), 5) is True
    # 2 working days after 2026-12-28 end on 12-30, so 2027 is late without knowing 2027.
    assert is_on_time(D(2026, 12, 28), shanghai(2027, 1, 5, 10), 2) is False


def test_is_on_time_needing_unknown_days_raises():
    with pytest.raises(CalendarOutOfRange):
        is_on_time(D(2026, 12, 30), shanghai(2027, 1, 6, 10), 5)


# Calendar-date deadlines ------------------------------------------------------

@pytest.mark.parametrize(
    "now, passed",
    [
        (utc(2022, 8, 10, 15, 59, 59), False),  # 23:59:59 in Shanghai
        (utc(2022, 8, 10, 16, 0, 0), True),  # 00:00:00 on the 11th in Shanghai
        (utc(2022, 8, 9, 20, 0, 0), False),  # already the 10th in Shanghai
        (shanghai(2022, 8, 10, 23, 59, 59), False),
        (shanghai(2022, 8, 11, 0, 0, 0), True),
    ],
)
def test_date_deadline_passed_boundary(now, passed):
    assert date_deadline_passed(D(2022, 8, 10), now) is passed


def test_date_deadline_passed_refuses_naive_now():
    with pytest.raises(ValueError):
        date_deadline_passed(D(2022, 8, 10), datetime.datetime(2022, 8, 11))


def test_date_deadline_passed_works_outside_the_holiday_calendar():
    assert date_deadline_passed(D(2027, 3, 1), utc(2027, 3, 1, 16)) is True
