"""Holiday arrangements added as data for years the calendar package does not know.

Every arrangement here is invented (source "虚构"): the tests prove the mechanism,
not any real year's holidays.
"""
import datetime
import json

import pytest

from shared import calendar as cal
from shared.cli import main as wsli
from shared.errors import Conflict, NotFound, ValidationFailed
from shared.workdays import (
    CALENDAR_LAST_DAY,
    CalendarOutOfRange,
    add_working_days,
    is_on_time,
    is_working_day,
    known_range,
)

D = datetime.date
SHANGHAI_NOON = datetime.timezone(datetime.timedelta(hours=8))

# A made-up year far away: Tue 2099-06-02 and Wed 2099-06-03 off, Sat 2099-06-06 worked.
FICTION_2099 = {"year": 2099, "holidays": ["2099-06-02", "2099-06-03"], "workdays": ["2099-06-06"],
                "source": "虚构安排（测试）"}


@pytest.fixture
def store(tmp_path, monkeypatch):
    previous = cal.configured_store()
    monkeypatch.setattr(cal, "RELOAD_SECONDS", 0.0)
    cal.configure_calendar(tmp_path / "calendar")
    yield cal.CalendarStore(tmp_path / "calendar")
    cal.configure_calendar(previous.directory if previous else None)


def test_a_year_beyond_the_package_is_refused_until_added(store):
    assert CALENDAR_LAST_DAY.year < 2099
    with pytest.raises(CalendarOutOfRange):
        is_working_day(D(2099, 6, 2))
    store.add(FICTION_2099, actor="tester")
    assert is_working_day(D(2099, 6, 1)) is True      # Monday
    assert is_working_day(D(2099, 6, 2)) is False     # listed holiday (a Tuesday)
    assert is_working_day(D(2099, 6, 6)) is True      # adjusted working Saturday
    assert is_working_day(D(2099, 6, 7)) is False     # ordinary Sunday
    # Three working days after Mon 06-01: Thu 06-04, Fri 06-05, Sat 06-06.
    assert add_working_days(D(2099, 6, 1), 3) == D(2099, 6, 6)
    submitted = datetime.datetime(2099, 6, 6, 20, 0, tzinfo=SHANGHAI_NOON)
    assert is_on_time(D(2099, 6, 1), submitted, 3) is True
    assert is_on_time(D(2099, 6, 1), submitted + datetime.timedelta(days=1), 3) is False


def test_an_added_year_takes_precedence_over_the_package(store):
    year = CALENDAR_LAST_DAY.year
    weekday = next(D(year, 3, d) for d in range(2, 9) if D(year, 3, d).weekday() < 5
                   and is_working_day(D(year, 3, d)))
    store.add({"year": year, "holidays": [weekday.isoformat()], "source": "虚构更正（测试）"}, actor="tester")
    assert is_working_day(weekday) is False


def test_the_known_range_grows_only_with_the_next_year(store):
    first, last = known_range()
    assert last == CALENDAR_LAST_DAY
    store.add(FICTION_2099, actor="tester")
    assert known_range()[1] == CALENDAR_LAST_DAY          # 2099 is known, but not contiguous
    nxt = CALENDAR_LAST_DAY.year + 1
    store.add({"year": nxt, "holidays": [f"{nxt}-01-01"], "source": "虚构安排（测试）"}, actor="tester")
    assert known_range() == (first, D(nxt, 12, 31))
    with pytest.raises(CalendarOutOfRange) as excinfo:
        is_working_day(D(nxt + 1, 1, 2))
    assert f"..{nxt}-12-31)" in str(excinfo.value)


def test_bad_arrangements_name_every_field():
    with pytest.raises(ValidationFailed) as excinfo:
        cal.parse_arrangement({"year": 2099, "holidays": ["2099-13-01", "2098-05-01"],
                               "workdays": ["2099-06-01", "2099-06-02"], "source": "", "extra": 1})
    fields = excinfo.value.fields
    assert fields["holidays"] == ["'2099-13-01' is not a date (YYYY-MM-DD)", "2098-05-01 is not in 2099"]
    assert "an adjusted working day falls on a weekend; not: 2099-06-01, 2099-06-02" in fields["workdays"]
    assert set(fields) == {"holidays", "workdays", "source", "extra"}
    with pytest.raises(ValidationFailed) as excinfo:
        cal.parse_arrangement({"year": True, "holidays": "2099-01-01", "source": "x"})
    assert set(excinfo.value.fields) == {"year", "holidays"}
    with pytest.raises(ValidationFailed) as excinfo:
        cal.parse_arrangement(dict(FICTION_2099), year=2098)
    assert "path says 2098" in excinfo.value.fields["year"][0]
    with pytest.raises(ValidationFailed):
        cal.parse_arrangement(["not", "an", "object"])


def test_replacing_needs_consent_and_is_audited(store):
    store.add(FICTION_2099, actor="alice")
    with pytest.raises(Conflict):
        store.add(FICTION_2099, actor="bob")
    changed = dict(FICTION_2099, holidays=["2099-06-02"], source="虚构更正（测试）")
    store.add(changed, actor="bob", replace=True)
    assert is_working_day(D(2099, 6, 3)) is True
    trail = store.audit_trail()
    assert [(e["action"], e["actor"], e["year"]) for e in trail] == [
        ("calendar_added", "alice", 2099), ("calendar_replaced", "bob", 2099)]
    assert trail[1]["previous"]["holidays"] == ["2099-06-02", "2099-06-03"]
    assert store.get(2099).added_by == "bob"
    with pytest.raises(NotFound):
        store.get(2098)


def test_a_damaged_file_is_an_unknown_year_not_a_guess(store):
    store.directory.mkdir(parents=True)
    (store.directory / "2099.json").write_text("{not json", "utf-8")
    with pytest.raises(CalendarOutOfRange):
        is_working_day(D(2099, 6, 1))


def test_another_process_adding_a_year_is_seen_without_restart(store):
    with pytest.raises(CalendarOutOfRange):
        is_working_day(D(2099, 6, 1))
    other_process = cal.CalendarStore(store.directory)   # same directory, another writer
    other_process.add(FICTION_2099, actor="elsewhere")
    assert is_working_day(D(2099, 6, 1)) is True


def test_status_warns_before_the_calendar_runs_out(store):
    last = CALENDAR_LAST_DAY
    early = cal.calendar_status(last - datetime.timedelta(days=200))
    assert early["warning"] is None and early["last_day"] == last.isoformat()
    late = cal.calendar_status(last - datetime.timedelta(days=29))
    assert late["days_left"] == 29
    assert f"请录入 {last.year + 1} 年国务院节假日安排" in late["warning"]


def test_wsli_calendar_commands(store, tmp_path, capsys):
    source = tmp_path / "2099.yml"
    source.write_text(json.dumps(FICTION_2099, ensure_ascii=False), "utf-8")
    directory = str(store.directory)
    assert wsli(["calendar", "add", str(source), "--dir", directory, "--by", "operator-li"]) == 0
    assert "2099: 2 holidays, 1 adjusted working days" in capsys.readouterr().out
    assert wsli(["calendar", "add", str(source), "--dir", directory]) == 1
    assert "already has an arrangement" in capsys.readouterr().err
    assert wsli(["calendar", "show", "2099", "--dir", directory]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["holidays"] == ["2099-06-02", "2099-06-03"] and shown["added_by"] == "cli:operator-li"
    assert wsli(["calendar", "list", "--dir", directory]) == 0
    assert capsys.readouterr().out.startswith("2099\t虚构安排（测试）")
    bad = tmp_path / "bad.yml"
    bad.write_text("year: 2099\nholidays: [2099-02-30]\nsource: x\n", "utf-8")
    assert wsli(["calendar", "add", str(bad), "--dir", directory, "--replace"]) == 1
    assert "holidays" in capsys.readouterr().err
