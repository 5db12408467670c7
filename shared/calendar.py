"""Official holiday arrangements added by an agency, for years the calendar package does not know.

Every December the State Council publishes next year's arrangement (rest days and
the weekend days worked instead). ``chinese_calendar`` learns it only in a new
release; until then ``shared.workdays`` would refuse every date of the new year.
An agency therefore adds the year as data: one JSON file per year in the calendar
directory (``CALENDAR_DIR``, default ``var/calendar``), shared by every process of
the deployment (a volume in compose and Kubernetes). An added year takes precedence
over the package for that year, so a correction of the package can be made too.

Every change is appended to ``audit.jsonl`` in the same directory: who, when, the
year, the notice it came from and the whole arrangement it replaced.

Processes notice an added year without restarting: the directory is looked at
again at most once per ``RELOAD_SECONDS``.
"""
from __future__ import annotations

import datetime
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from shared.errors import Conflict, NotFound, ValidationFailed

DEFAULT_DIRECTORY = "var/calendar"
RELOAD_SECONDS = 2.0
WARN_DAYS = 60  # /health warns this many days before the known calendar ends
AUDIT_FILE = "audit.jsonl"
MIN_YEAR, MAX_YEAR = 2000, 2200


@dataclass(frozen=True)
class Arrangement:
    """One year's official arrangement: holidays off, listed weekend days worked."""

    year: int
    holidays: frozenset
    workdays: frozenset
    source: str
    added_at: str = ""
    added_by: str = ""

    def is_working_day(self, day: datetime.date) -> bool:
        if day in self.workdays:
            return True
        if day in self.holidays:
            return False
        return day.weekday() < 5

    def to_dict(self) -> dict:
        return {
            "year": self.year,
            "holidays": sorted(d.isoformat() for d in self.holidays),
            "workdays": sorted(d.isoformat() for d in self.workdays),
            "source": self.source,
            "added_at": self.added_at,
            "added_by": self.added_by,
        }


def _dates(year: int, values, field: str, errors: dict) -> frozenset:
    if not isinstance(values, list):
        errors[field] = ["must be a list of dates (YYYY-MM-DD)"]
        return frozenset()
    days, bad = set(), []
    for value in values:
        try:
            day = datetime.date.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            day = None
        if day is None or len(value) != 10:
            bad.append(f"{value!r} is not a date (YYYY-MM-DD)")
        elif day.year != year:
            bad.append(f"{value} is not in {year}")
        else:
            days.add(day)
    if bad:
        errors[field] = bad
    return frozenset(days)


def parse_arrangement(data, year: int | None = None) -> Arrangement:
    """Validate an arrangement; every problem is named with its field at once."""
    if not isinstance(data, dict):
        raise ValidationFailed("the arrangement must be an object", {"_schema": ["must be an object"]})
    errors: dict[str, list[str]] = {}
    raw_year = data.get("year", year)
    if isinstance(raw_year, bool) or not isinstance(raw_year, int) or not MIN_YEAR <= raw_year <= MAX_YEAR:
        errors["year"] = [f"must be a whole year between {MIN_YEAR} and {MAX_YEAR}"]
        raw_year = 0
    elif year is not None and raw_year != year:
        errors["year"] = [f"the body says {raw_year} but the path says {year}"]
    holidays = _dates(raw_year, data.get("holidays", []), "holidays", errors)
    workdays = _dates(raw_year, data.get("workdays", []), "workdays", errors)
    weekdays_worked = sorted(d.isoformat() for d in workdays if d.weekday() < 5)
    if weekdays_worked:
        # Only a weekend day can be an adjusted working day; a weekday already is one.
        errors.setdefault("workdays", []).append(
            "an adjusted working day falls on a weekend; not: " + ", ".join(weekdays_worked))
    both = sorted(d.isoformat() for d in holidays & workdays)
    if both:
        errors.setdefault("workdays", []).append("listed as holiday and working day: " + ", ".join(both))
    source = data.get("source")
    if not isinstance(source, str) or not source.strip() or len(source) > 200:
        errors["source"] = ["name the notice it comes from (1–200 characters), e.g. 国办发明电〔2026〕X号"]
    if not holidays and "holidays" not in errors:
        errors["holidays"] = ["an official arrangement has holidays; none given"]
    unknown = sorted(set(data) - {"year", "holidays", "workdays", "source", "added_at", "added_by"})
    if unknown:
        for key in unknown:
            errors[str(key)[:40]] = ["unknown field"]
    if errors:
        raise ValidationFailed("the holiday arrangement is not valid", errors)
    return Arrangement(raw_year, holidays, workdays, source.strip(),
                       str(data.get("added_at") or ""), str(data.get("added_by") or ""))


class CalendarStore:
    """The calendar directory: one ``<year>.json`` per added year and the audit trail."""

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)
        self._lock = threading.Lock()

    def _path(self, year: int) -> Path:
        return self.directory / f"{year}.json"

    def load(self) -> dict[int, Arrangement]:
        found = {}
        if not self.directory.is_dir():
            return found
        for path in sorted(self.directory.glob("[0-9][0-9][0-9][0-9].json")):
            try:
                arrangement = parse_arrangement(json.loads(path.read_text("utf-8")))
            except (ValueError, ValidationFailed):
                continue  # a damaged file counts as an unknown year: refusing beats guessing
            found[arrangement.year] = arrangement
        return found

    def get(self, year: int) -> Arrangement:
        arrangement = self.load().get(year)
        if arrangement is None:
            raise NotFound(f"no holiday arrangement added for {year}")
        return arrangement

    def add(self, data, actor: str, replace: bool = False, year: int | None = None,
            now: datetime.datetime | None = None) -> Arrangement:
        arrangement = parse_arrangement(data, year)
        now = now or datetime.datetime.now(datetime.timezone.utc)
        stamped = Arrangement(arrangement.year, arrangement.holidays, arrangement.workdays, arrangement.source,
                              now.isoformat(timespec="seconds"), actor)
        with self._lock:
            self.directory.mkdir(parents=True, exist_ok=True)
            path = self._path(stamped.year)
            previous = None
            if path.exists():
                if not replace:
                    raise Conflict(f"{stamped.year} already has an arrangement; replace it explicitly",
                                   {"year": ["already added; send replace=true to replace it"]})
                previous = json.loads(path.read_text("utf-8"))
            tmp = path.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(stamped.to_dict(), ensure_ascii=False, indent=1), "utf-8")
            os.replace(tmp, path)  # readers see the old file or the new one, never half of one
            with open(self.directory / AUDIT_FILE, "a", encoding="utf-8") as audit:
                audit.write(json.dumps({"at": stamped.added_at, "actor": actor, "action": (
                    "calendar_replaced" if previous else "calendar_added"), "year": stamped.year,
                    "source": stamped.source, "previous": previous}, ensure_ascii=False) + "\n")
        _CACHE.invalidate()
        return stamped

    def audit_trail(self) -> list[dict]:
        path = self.directory / AUDIT_FILE
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


class _Cache:
    def __init__(self):
        self.store: CalendarStore | None = None
        self.years: dict[int, Arrangement] = {}
        self.checked = 0.0
        self.signature = None
        self.lock = threading.Lock()

    def configure(self, directory):
        with self.lock:
            self.store = CalendarStore(directory) if directory else None
            self.years, self.signature, self.checked = {}, None, 0.0

    def invalidate(self):
        self.checked = 0.0

    def _signature(self):
        try:
            return tuple(sorted((p.name, p.stat().st_mtime_ns) for p in self.store.directory.glob("*.json")))
        except OSError:
            return None

    def get(self) -> dict[int, Arrangement]:
        if self.store is None:
            return self.years
        now = time.monotonic()
        if now - self.checked >= RELOAD_SECONDS:
            with self.lock:
                signature = self._signature()
                if signature != self.signature:
                    self.years = self.store.load()
                    self.signature = signature
                self.checked = now
        return self.years


_CACHE = _Cache()
_CACHE.configure(os.environ.get("CALENDAR_DIR") or DEFAULT_DIRECTORY)


def configure_calendar(directory: str | os.PathLike | None) -> None:
    """Point this process at a calendar directory (``None``: package years only)."""
    _CACHE.configure(directory)


def configured_store() -> CalendarStore | None:
    return _CACHE.store


def added_arrangements() -> dict[int, Arrangement]:
    return _CACHE.get()


def calendar_status(today: datetime.date, warn_days: int = WARN_DAYS) -> dict:
    """How long the known calendar lasts from ``today``; a warning once fewer than ``warn_days`` remain."""
    from shared.workdays import known_range

    first, last = known_range()
    days_left = (last - today).days
    status = {"first_day": first.isoformat(), "last_day": last.isoformat(), "days_left": days_left,
              "added_years": sorted(added_arrangements()), "warning": None}
    if days_left < warn_days:
        status["warning"] = (
            f"工作日历只到 {last.isoformat()}（还剩 {max(days_left, 0)} 天）：请录入 {last.year + 1} 年国务院节假日安排"
            f"（wsli calendar add 或 PUT /api/v1/calendar/{last.year + 1}），否则之后的工作日期限无法计算")
    return status
