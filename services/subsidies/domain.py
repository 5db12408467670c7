"""Lecture-subsidy rules (seed 000 §八 and 附件5; seed 004 §八(二)).

Pure functions and constants: no I/O, no framework. ``now`` is always passed in.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime

from shared.errors import RuleViolation, ValidationFailed
from shared.lifecycle import Lifecycle
from shared.workdays import CalendarOutOfRange, is_on_time, is_working_day, local_date, working_day_deadline

# 000 §八(二): the three forms of tour lecture.
KINDS = {
    "self_hosted": "自主式宣讲（宣讲员所在单位）",
    "exchange": "交流式宣讲（其他宣讲员所在单位）",
    "on_demand": "点单式宣讲（企业点单，宣讲员承接）",
}

# 000 §八(三)5: evidence within 3 working days after the lecture.
EVIDENCE_WORKING_DAYS = 3
# 000 §八(三)3: at least 4 photos on site.
MIN_SITE_PHOTOS = 4
# 000 §二: not fewer than 150 lectures in the programme.
DEFAULT_TARGET_LECTURES = 150

# ---- lecture reports ----------------------------------------------------------------------------
RECEIVED = "received"              # stored; the automatic checks are queued
CHECKS_FAILED = "checks_failed"    # an automatic check refused it; correct and resubmit while on time
AWAITING_REVIEW = "awaiting_review"  # checks passed; an operator approves or rejects
APPROVED = "approved"
REJECTED = "rejected"              # by an operator, with reasons; correct and resubmit while on time
REPORT_STATUSES = (RECEIVED, CHECKS_FAILED, AWAITING_REVIEW, APPROVED, REJECTED)

REPORT_TRANSITIONS = {
    "checks_passed": ((RECEIVED,), AWAITING_REVIEW),
    "checks_failed": ((RECEIVED,), CHECKS_FAILED),
    "approve": ((AWAITING_REVIEW,), APPROVED),
    "reject": ((AWAITING_REVIEW,), REJECTED),
    "resubmit": ((CHECKS_FAILED, REJECTED), RECEIVED),
    "revoke": ((APPROVED,), REJECTED),   # only while its subsidy is not in a batch or paid
}

# ---- on-demand orders (点单式) -------------------------------------------------------------------
ORDERED = "ordered"
ACCEPTED = "accepted"
SCHEDULED = "scheduled"
HELD = "held"
CANCELLED = "cancelled"
ORDER_STATUSES = (ORDERED, ACCEPTED, SCHEDULED, HELD, CANCELLED)

ORDER_TRANSITIONS = {
    "accept": ((ORDERED,), ACCEPTED),
    "schedule": ((ACCEPTED, SCHEDULED), SCHEDULED),   # rescheduling keeps it scheduled
    "hold": ((SCHEDULED,), HELD),
    "cancel": ((ORDERED, ACCEPTED, SCHEDULED), CANCELLED),
}

# ---- payments -----------------------------------------------------------------------------------
UNPAID = "unpaid"
IN_BATCH = "in_batch"
PAID = "paid"
REVOKED = "revoked"
SUBSIDY_STATUSES = (UNPAID, IN_BATCH, PAID, REVOKED)
ITEM_PENDING, ITEM_PAID, ITEM_FAILED = "pending", "paid", "failed"
BATCH_OPEN, BATCH_EXPORTED, BATCH_SETTLED = "open", "exported", "settled"

# The rules the automatic checks apply, in the order they are reported.
RULES = {
    "lecturer_not_in_tour": "the lecturer was not advanced to the intensive stage (tour) of this cycle",
    "lecturer_id_mismatch": "the ID number does not match the lecturer's registration",
    "outside_tour_window": "the lecture date is outside the cycle's tour window",
    "order_mismatch": "an on-demand lecture needs an order accepted by this lecturer and scheduled",
    "exchange_host": "an exchange lecture is held at another tour lecturer's unit",
    "audience_mismatch": "the audience count differs from the sign-in sheet's head count",
    "evidence_incomplete": "sign-in sheet photo, full video, ≥4 site photos and the banner are all required",
    "evidence_late": "evidence is due within 3 working days after the lecture",
    "calendar_range": "the official holiday calendar does not cover the dates",
}


# rules that apply to one kind of lecture only; ``calendar_range`` is reported only when it fails
KIND_RULES = {"order_mismatch": "on_demand", "exchange_host": "exchange"}


def rule_outcomes(kind: str, failed_rules: list[dict]) -> list[dict]:
    """The checks of a judged report rule by rule: ``failed`` (with the reason), ``passed``, or
    ``not_applicable`` (a rule of another kind of lecture; the ID match when the lecturer is not in the tour)."""
    failed = {f["rule"]: f.get("message") or "" for f in failed_rules}
    out = []
    for rule in RULES:
        if rule in failed:
            out.append({"rule": rule, "outcome": "failed", "message": failed[rule]})
        elif rule == "calendar_range":
            continue
        elif KIND_RULES.get(rule, kind) != kind or (rule == "lecturer_id_mismatch" and "lecturer_not_in_tour" in failed):
            out.append({"rule": rule, "outcome": "not_applicable", "message": ""})
        else:
            out.append({"rule": rule, "outcome": "passed", "message": ""})
    return out


REPORT = Lifecycle("a lecture report", REPORT_TRANSITIONS)
ORDER = Lifecycle("an order", ORDER_TRANSITIONS)


def next_report_status(current: str, action: str) -> str:
    return REPORT.next(current, action)


def next_order_status(current: str, action: str) -> str:
    return ORDER.next(current, action)


def venue_key(venue: str) -> str:
    """The venue as compared for duplicates: width, case and spacing evened out."""
    return " ".join(unicodedata.normalize("NFKC", venue).casefold().split())[:200]


def yuan(fen: int) -> str:
    """Integer fen as a yuan amount with two decimals, without floating point."""
    if isinstance(fen, bool) or not isinstance(fen, int):
        raise TypeError(f"amounts are integer fen, not {type(fen).__name__}")
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100}.{fen % 100:02d}"


def evidence_deadline(lecture_date: date) -> date:
    return working_day_deadline(lecture_date, EVIDENCE_WORKING_DAYS)


def ensure_calendar_covers(lecture_date: date) -> None:
    """Raises CalendarOutOfRange (422 ``calendar_range``) when the deadline cannot be computed."""
    is_working_day(lecture_date)


def ensure_can_resubmit(lecture_date: date, now: datetime) -> None:
    """A corrected report is accepted only while the evidence is still on time."""
    if not is_on_time(lecture_date, now, EVIDENCE_WORKING_DAYS):
        raise RuleViolation(
            f"the evidence of the {lecture_date.isoformat()} lecture was due by "
            f"{evidence_deadline(lecture_date).isoformat()}; it can no longer be corrected",
            {"lecture_date": ["evidence deadline passed"]}, rule="evidence_late")


@dataclass(frozen=True)
class Evidence:
    signin_head_count: int | None
    has_signin_sheet: bool
    has_video: bool
    photo_count: int
    banner_shown: bool


@dataclass(frozen=True)
class TourFacts:
    """What the checks need to know about the lecturer and the cycle."""
    in_tour: bool
    person_key: str | None
    tour_start: date | None
    tour_end: date | None
    order_ok: bool = True
    host_ok: bool = True     # exchange: the host is another tour lecturer, of another unit


def exchange_host_ok(lecturer_id: int, lecturer_unit: int | None, host_id: int | None, host_in_tour: bool,
                     host_unit: int | None) -> bool:
    """交流式宣讲: at another lecturer's unit — the host is a tour lecturer, not the reporter, and
    (where registration told us both units) of a different unit."""
    if host_id is None or host_id == lecturer_id or not host_in_tour:
        return False
    return lecturer_unit is None or host_unit is None or lecturer_unit != host_unit


@dataclass(frozen=True)
class Report:
    kind: str
    lecture_date: date
    audience_count: int
    id_index: str
    received_at: datetime
    evidence: Evidence


@dataclass
class CheckResult:
    failed: list[dict] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failed

    @property
    def rules(self) -> list[str]:
        return [f["rule"] for f in self.failed]

    def fail(self, rule: str, detail: str):
        self.failed.append({"rule": rule, "message": f"{RULES[rule]}: {detail}" if detail else RULES[rule]})


def check_report(report: Report, facts: TourFacts) -> CheckResult:
    """Every automatic check at once, so the lecturer sees all that is wrong in one answer."""
    result = CheckResult()
    if not facts.in_tour:
        result.fail("lecturer_not_in_tour", "")
    elif facts.person_key is None or facts.person_key != report.id_index:
        result.fail("lecturer_id_mismatch", "")
    if facts.tour_start is None or facts.tour_end is None:
        result.fail("outside_tour_window", "the cycle has no tour window")
    elif not facts.tour_start <= report.lecture_date <= facts.tour_end:
        result.fail("outside_tour_window",
                    f"{report.lecture_date} not in {facts.tour_start}..{facts.tour_end}")
    if report.kind == "on_demand" and not facts.order_ok:
        result.fail("order_mismatch", "")
    if report.kind == "exchange" and not facts.host_ok:
        result.fail("exchange_host", "")
    ev = report.evidence
    if ev.has_signin_sheet and ev.signin_head_count is not None and ev.signin_head_count != report.audience_count:
        result.fail("audience_mismatch", f"form says {report.audience_count}, sign-in sheet {ev.signin_head_count}")
    missing = []
    if not ev.has_signin_sheet:
        missing.append("sign-in sheet photo")
    if not ev.has_video:
        missing.append("video")
    if ev.photo_count < MIN_SITE_PHOTOS:
        missing.append(f"{MIN_SITE_PHOTOS - ev.photo_count} more site photo(s)")
    if not ev.banner_shown:
        missing.append("a photo showing the banner")
    if missing:
        result.fail("evidence_incomplete", "missing " + ", ".join(missing))
    try:
        if not is_on_time(report.lecture_date, report.received_at, EVIDENCE_WORKING_DAYS):
            result.fail("evidence_late", f"due by {evidence_deadline(report.lecture_date)}")
    except CalendarOutOfRange as exc:
        result.fail("calendar_range", str(exc))
    return result


def ensure_checks_passed(result: CheckResult) -> None:
    """The checks' outcome as the 422 an HTTP caller gets: ``rule`` is the first, ``fields`` lists all."""
    if result.passed:
        return
    raise RuleViolation(
        "the automatic checks refused the report: " + ", ".join(result.rules),
        {f["rule"]: [f["message"]] for f in result.failed}, rule=result.rules[0])


# ---- compliance ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class LecturerCompliance:
    candidate_id: int
    name: str | None
    by_kind: dict
    total: int
    self_hosted_met: bool


def compliance(lecturers: list[tuple[int, str | None]], approved: list[tuple[int, str]], target: int) -> dict:
    """Approved lectures per lecturer and kind; each tour lecturer owes ≥1 self-hosted (000 §八(三)6)."""
    counts: dict[int, dict[str, int]] = {cid: {k: 0 for k in KINDS} for cid, _ in lecturers}
    for cid, kind in approved:
        counts.setdefault(cid, {k: 0 for k in KINDS})[kind] += 1
    names = dict(lecturers)
    rows = []
    for cid in sorted(counts):
        by_kind = counts[cid]
        rows.append(LecturerCompliance(cid, names.get(cid), by_kind, sum(by_kind.values()),
                                       by_kind["self_hosted"] >= 1))
    total = len(approved)
    return {
        "lecturers": rows,
        "total_lectures": total,
        "by_kind": {k: sum(r.by_kind[k] for r in rows) for k in KINDS},
        "target": target,
        "target_met": total >= target,
        "remaining": max(0, target - total),
        "self_hosted_missing": [r.candidate_id for r in rows if not r.self_hosted_met],
    }


# ---- bank result files --------------------------------------------------------------------------

PAID_WORDS = {"paid", "success", "成功", "已支付", "支付成功"}
FAILED_WORDS = {"failed", "failure", "fail", "失败", "支付失败", "退回"}


def parse_result_status(value: str) -> str | None:
    v = (value or "").strip().casefold()
    if v in PAID_WORDS:
        return ITEM_PAID
    if v in FAILED_WORDS:
        return ITEM_FAILED
    return None


# ---- rules the entrypoints apply ------------------------------------------------------------------

def ensure_lecture_past(lecture_date: date, now: datetime) -> None:
    """A lecture is reported after it took place (its date judged in Asia/Shanghai)."""
    if lecture_date > local_date(now):
        raise ValidationFailed("a lecture is reported after it took place",
                               {"lecture_date": ["is in the future (Asia/Shanghai)"]})


def ensure_received_between(received_at: datetime, lecture_date: date, now: datetime) -> None:
    """Evidence received by other means is dated between the lecture and now."""
    if received_at > now or local_date(received_at) < lecture_date:
        raise ValidationFailed("received_at must lie between the lecture and now",
                               {"received_at": ["between the lecture date and now"]})


def ensure_tour_lecturer(in_tour: bool) -> None:
    """Only a lecturer advanced to the tour takes an on-demand order."""
    if not in_tour:
        raise RuleViolation("only a lecturer of the tour may take an order",
                            {"candidate_id": ["not in the tour"]}, rule="lecturer_not_in_tour")


def ensure_subsidy_revocable(subsidy_status: str | None) -> None:
    """An approval is withdrawn only while its subsidy (if any) is not in a batch or paid."""
    if subsidy_status is not None and subsidy_status != UNPAID:
        raise RuleViolation(f"its subsidy is {subsidy_status}: settle the payment first",
                            {"subsidy": [subsidy_status]}, rule="subsidy_in_payment")


def ensure_subsidy_reinstatable(subsidy_status: str) -> None:
    """A lecture approved again after a revocation gets its revoked subsidy back, never a second one."""
    if subsidy_status != REVOKED:
        raise RuleViolation(f"this lecture already has a subsidy ({subsidy_status})",
                            {"subsidy": [subsidy_status]}, rule="subsidy_exists")


def ensure_something_to_pay(count: int) -> None:
    if not count:
        raise RuleViolation("no approved, unpaid subsidies to pay", {"cycle": ["nothing to pay"]},
                            rule="nothing_to_pay")
