"""Business dates: UTC storage, Asia/Shanghai calendar days, official working days.

Timestamps are stored in UTC. Deadlines in the programme's rules are stated in
calendar days or working days as seen in China, so both are computed on the
Asia/Shanghai date, with the State Council holiday arrangement published each
year (holidays off, adjusted weekends worked) from ``chinese_calendar``.

That package only knows the years it was released with; beyond them a
working-day count would silently treat holidays as working days, so this module
refuses with ``CalendarOutOfRange`` instead. An agency that has the State
Council's notice for a later year adds it as data (``shared.calendar``: the API's
``/api/v1/calendar`` or ``wsli calendar add``); an added year takes precedence
over the package for that year.
"""
from __future__ import annotations

import datetime
import zoneinfo

import chinese_calendar

from shared.errors import RuleViolation

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")

_KNOWN_DATES = [*chinese_calendar.holidays, *chinese_calendar.workdays]
CALENDAR_FIRST_DAY = datetime.date(min(_KNOWN_DATES).year, 1, 1)
CALENDAR_LAST_DAY = datetime.date(max(_KNOWN_DATES).year, 12, 31)


class CalendarOutOfRange(RuleViolation):
    """A working-day computation needs a year the holiday calendar does not cover."""

    def __init__(self, day: datetime.date):
        first, last = known_range()
        super().__init__(
            f"{day.isoformat()} is outside the official holiday calendar "
            f"({first.isoformat()}..{last.isoformat()}); "
            "working days cannot be computed",
            rule="calendar_range",
        )
        self.day = day


def _added_years() -> dict:
    from shared.calendar import added_arrangements  # late: calendar imports this module

    return added_arrangements()


def known_range() -> tuple[datetime.date, datetime.date]:
    """First and last day of the unbroken run of known years (package + added years)."""
    years = set(range(CALENDAR_FIRST_DAY.year, CALENDAR_LAST_DAY.year + 1)) | set(_added_years())
    first = last = CALENDAR_LAST_DAY.year
    while first - 1 in years:
        first -= 1
    while last + 1 in years:
        last += 1
    return datetime.date(first, 1, 1), datetime.date(last, 12, 31)


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _require_aware(dt: datetime.datetime) -> datetime.datetime:
    if not isinstance(dt, datetime.datetime):
        raise TypeError(f"expected a datetime, not {type(dt).__name__}")
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(
            f"naive datetime {dt.isoformat()} is ambiguous; "
            "attach a time zone (UTC or Asia/Shanghai)"
        )
    return dt


def to_utc(dt: datetime.datetime) -> datetime.datetime:
    """The same instant in UTC. Naive datetimes are refused: their zone is unknown."""
    return _require_aware(dt).astimezone(datetime.timezone.utc)


def local_date(dt: datetime.datetime) -> datetime.date:
    """The Asia/Shanghai calendar date of an aware datetime."""
    return _require_aware(dt).astimezone(SHANGHAI).date()


def _require_date(d: datetime.date) -> datetime.date:
    # datetime is a subclass of date; accepting one would silently use its own
    # (often UTC) date instead of the Shanghai one.
    if isinstance(d, datetime.datetime) or not isinstance(d, datetime.date):
        raise TypeError(
            f"expected a date, not {type(d).__name__}; use local_date() for a datetime"
        )
    return d


def _require_working_day_count(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"number of working days must be an integer >= 1, not {n!r}")


def is_working_day(d: datetime.date) -> bool:
    """Official working day: weekdays except holidays, plus adjusted working weekends."""
    _require_date(d)
    added = _added_years().get(d.year)
    if added is not None:
        return added.is_working_day(d)
    if not CALENDAR_FIRST_DAY <= d <= CALENDAR_LAST_DAY:
        raise CalendarOutOfRange(d)
    return chinese_calendar.is_workday(d)


def add_working_days(d: datetime.date, n: int) -> datetime.date:
    """The n-th working day after ``d`` (n >= 1); ``d`` itself never counts."""
    _require_date(d)
    _require_working_day_count(n)
    day = d
    remaining = n
    while remaining:
        day += datetime.timedelta(days=1)
        if is_working_day(day):
            remaining -= 1
    return day


def working_day_deadline(event_date: datetime.date, days: int) -> datetime.date:
    """Last day (inclusive) for something due within ``days`` working days after ``event_date``."""
    return add_working_days(event_date, days)


def is_on_time(event_date: datetime.date, submitted_at: datetime.datetime, days: int) -> bool:
    """Whether ``submitted_at`` falls on or before the working-day deadline, in Shanghai.

    Same answer as ``local_date(submitted_at) <= working_day_deadline(...)``,
    but counted only up to the submission day, so a submission already in hand
    is judged even when the deadline itself would lie beyond the calendar.
    """
    _require_date(event_date)
    _require_working_day_count(days)
    submitted_on = local_date(submitted_at)
    # Late exactly when `days` working days have gone by before the submission day.
    elapsed = 0
    day = event_date + datetime.timedelta(days=1)
    while day < submitted_on:
        if is_working_day(day):
            elapsed += 1
            if elapsed >= days:
                return False
        day += datetime.timedelta(days=1)
    return True


def date_deadline_passed(deadline: datetime.date, now: datetime.datetime) -> bool:
    """A calendar-date deadline runs to the end of that day in Asia/Shanghai."""
    return local_date(now) > _require_date(deadline)
