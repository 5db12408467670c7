"""Registration rules (seed 000 §四 and 附件1; seed 004 §六–七, §八(二)).

Pure functions and constants: no I/O, no framework. ``now`` is always passed in.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from marshmallow import ValidationError

from shared.districts import official_district
from shared.errors import RuleViolation, ValidationFailed
from shared.lifecycle import Lifecycle
from shared.validators import birth_date_of, ensure_plausible_age, gender_of
from shared.workdays import date_deadline_passed

# The five kinds of nominating unit that may put lecturer candidates forward (000 §四(一)).
UNIT_KINDS = {
    "district_safety_office": "乡镇、街道（园区）、区级职能部门专职安全员",
    "insurer_branch": "提供安责险服务的保险公司北京分公司",
    "insured_enterprise": "已投保安责险的企业",
    "safety_service_org": "安全技术服务机构",
    "social_org": "社会组织和志愿团体",
}

# 000 §四(四): at least 6 nominees per district's safety officers and per insurer branch;
# the others have no limit. A cycle may override these.
DEFAULT_MINIMUMS = {"district_safety_office": 6, "insurer_branch": 6}

SUBMITTED = "submitted"          # form in, waiting for the nominating unit's seal
UNIT_APPROVED = "unit_approved"  # sealed by the unit, waiting for the center
APPROVED = "approved"            # approved by the center: a candidate of the programme
REJECTED = "rejected"
WITHDRAWN = "withdrawn"
STATUSES = (SUBMITTED, UNIT_APPROVED, APPROVED, REJECTED, WITHDRAWN)
ACTIVE = (SUBMITTED, UNIT_APPROVED, APPROVED)

# action -> (states it may start from, state it leads to)
TRANSITIONS = {
    "unit_approve": ((SUBMITTED,), UNIT_APPROVED),
    "center_approve": ((UNIT_APPROVED,), APPROVED),
    "reject": ((SUBMITTED, UNIT_APPROVED), REJECTED),
    "withdraw": ((SUBMITTED, UNIT_APPROVED, APPROVED), WITHDRAWN),
    "edit": ((SUBMITTED,), SUBMITTED),
}

# An enrolment stands until cancelled (a unit's place is then free again).
ENROLLED, CANCELLED = "enrolled", "cancelled"
ENROLMENT = Lifecycle("an enrolment", {"cancel": ((ENROLLED,), CANCELLED)})

# Seed 004: principals and safety managers of units with 10 or more staff, one of each.
MIN_STAFF_FOR_ENROLMENT = 10
ENROLMENT_ROLES = {"principal": "主要负责人", "safety_manager": "安全生产管理人员"}

DATA_DIR = Path(__file__).parent / "data"


CANDIDATE = Lifecycle("a candidate", TRANSITIONS)


def next_status(current: str, action: str) -> str:
    return CANDIDATE.next(current, action)


def rejection_stage(current: str) -> str:
    """Who rejects depends on where the form is: the unit before its seal, the center after."""
    return "unit" if current == SUBMITTED else "center"


def ensure_registration_open(cycle_code: str, deadline: date, now: datetime) -> None:
    if date_deadline_passed(deadline, now):
        raise RuleViolation(
            f"registration for cycle {cycle_code} closed at the end of {deadline.isoformat()} (Asia/Shanghai)",
            {"cycle": [f"deadline {deadline.isoformat()} has passed"]}, rule="registration_deadline",
        )


# A late entry names its reason; a word or two is not a reason.
LATE_ENTRY_REASON_MIN = 10


def ensure_registration_closed(cycle_code: str, deadline: date, now: datetime) -> None:
    """A late entry is for a closed window only; while it is open the form goes in the ordinary way."""
    if not date_deadline_passed(deadline, now):
        raise RuleViolation(
            f"registration for cycle {cycle_code} is open until the end of {deadline.isoformat()}: submit the form "
            "normally", {"cycle": [f"deadline {deadline.isoformat()} has not passed"]}, rule="late_entry_window_open")


def ensure_unit_kind(kind: str) -> None:
    if kind not in UNIT_KINDS:
        raise ValidationFailed("unknown unit kind", {"kind": [f"must be one of: {', '.join(UNIT_KINDS)}"]})


def merge_minimums(overrides: dict | None) -> dict[str, int]:
    minimums = dict(DEFAULT_MINIMUMS)
    for kind, value in (overrides or {}).items():
        ensure_unit_kind(kind)
        minimums[kind] = int(value)
    return minimums


def reconcile_identity(id_number: str, birth_month: str | None, gender: str | None) -> tuple[str, str]:
    """Birth month and gender on the form must agree with the ID number; absent ones are derived."""
    born = birth_date_of(id_number)
    derived_month = f"{born.year:04d}-{born.month:02d}"
    derived_gender = gender_of(id_number)
    errors = {}
    if birth_month and birth_month != derived_month:
        errors["birth_month"] = [f"does not match the ID number (which says {derived_month})"]
    if gender and gender != derived_gender:
        errors["gender"] = [f"does not match the ID number (which says {derived_gender})"]
    if errors:
        raise ValidationFailed("form disagrees with the ID number", errors)
    return derived_month, derived_gender


@dataclass(frozen=True)
class QuotaRow:
    unit_id: int
    unit_name: str
    kind: str
    district: str | None
    nominated: int
    minimum: int
    shortfall: int
    flagged: bool


def quota_report(units, active_counts: dict[int, int], minimums: dict[str, int], deadline: date,
                 now: datetime) -> dict:
    """Nominated vs minimum per unit; short units are flagged once the window has closed."""
    closed = date_deadline_passed(deadline, now)
    rows = []
    for unit in units:
        minimum = int(minimums.get(unit.kind, 0))
        nominated = int(active_counts.get(unit.id, 0))
        shortfall = max(0, minimum - nominated)
        rows.append(QuotaRow(unit.id, unit.name, unit.kind, unit.district, nominated, minimum, shortfall,
                             flagged=closed and shortfall > 0))
    return {
        "closed": closed,
        "rows": rows,
        "units_short": sum(1 for r in rows if r.shortfall),
        "units_flagged": sum(1 for r in rows if r.flagged),
        "nominated": sum(r.nominated for r in rows),
    }


def ensure_enrolable(staff_count: int, operating_district: str, known_districts: set[str], year: int) -> None:
    if staff_count < MIN_STAFF_FOR_ENROLMENT:
        raise RuleViolation(
            f"units with fewer than {MIN_STAFF_FOR_ENROLMENT} staff are not enrolled in mandatory training",
            {"unit.staff_count": [f"{staff_count} < {MIN_STAFF_FOR_ENROLMENT}"]}, rule="enrolment_staff_minimum",
        )
    if operating_district not in known_districts:
        raise RuleViolation(
            f"{operating_district} has no training quota for {year}; load the year's district quotas first",
            {"unit.operating_district": ["not a district of this year's quota table"]},
            rule="enrolment_district_unknown",
        )


@dataclass(frozen=True)
class ProgressRow:
    district: str
    quota: int
    enrolled: int
    remaining: int
    percent: float


def enrolment_progress(quotas: dict[str, int], enrolled: dict[str, int]) -> dict:
    rows = []
    for district, quota in quotas.items():
        count = int(enrolled.get(district, 0))
        rows.append(ProgressRow(district, quota, count, max(0, quota - count),
                                round(100.0 * count / quota, 2) if quota else 0.0))
    total_quota = sum(quotas.values())
    total = sum(r.enrolled for r in rows)
    return {
        "rows": rows,
        "quota": total_quota,
        "enrolled": total,
        "percent": round(100.0 * total / total_quota, 2) if total_quota else 0.0,
    }


def ensure_whole_quota_table(table: dict[str, int], districts: list[str]) -> None:
    """A quota table is the whole city's: every district of the agency once (a quota may be 0)."""
    missing = [d for d in districts if d not in table]
    if missing:
        raise RuleViolation(
            f"a quota table lists every district; missing {len(missing)}: {', '.join(missing)}",
            {"districts": [f"missing: {', '.join(missing)}"]}, rule="quota_table_incomplete")


def ensure_replacement_confirmed(year: int, previous: dict[str, int], replace: bool, reason: str | None) -> None:
    """Replacing a year's published table is a decision: confirmed with ``replace`` and a reason."""
    if not replace:
        raise RuleViolation(
            f"{year} already has a quota table ({len(previous)} districts, {sum(previous.values())} in all); "
            "send the whole new table with replace: true and a reason to replace it",
            {"replace": ["required to replace the existing table"]}, rule="quota_table_exists")
    if not reason:
        raise ValidationFailed("say why the table is replaced", {"reason": ["required with replace"]})


# Enrolment in the mandatory training is for people heading or managing a unit's safety: adults
# (18, full civil capacity) and at most 80 — no statutory retirement binds an owner, but a number
# saying 81 or more is far likelier a typing error or invented than a working principal.
ENROLMENT_AGE = (18, 80)


def ensure_enrolment_age(id_number: str, today: date) -> int:
    try:
        return ensure_plausible_age(id_number, today, *ENROLMENT_AGE)
    except ValidationError as exc:
        raise ValidationFailed("implausible age for a principal or safety manager",
                               {"person.id_number": exc.messages}) from None


def seed_quotas(year: int) -> dict[str, int]:
    """The published district quota table of a year (only 2018 is published in the seeds)."""
    path = DATA_DIR / f"district_quotas_{year}.csv"
    if not path.exists():
        raise RuleViolation(f"no published district quota table for {year}", {"year": ["no seed data"]},
                            rule="quota_table_unknown")
    with path.open(encoding="utf-8") as fh:
        return {official_district(row["district"]): int(row["quota"]) for row in csv.DictReader(fh)}
