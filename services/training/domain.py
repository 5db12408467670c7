"""Training and exam rules (seed 000 §五–七 and 附件2–4; seed 004 §六–七 and 附件2–3).

Pure functions and constants: no I/O, no framework. ``now`` is always passed in.
"""
from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import yaml

from shared.errors import Conflict, RuleViolation, ValidationFailed
from shared.lifecycle import Lifecycle
from shared.workdays import SHANGHAI

DATA_DIR = Path(__file__).parent / "data"

# ---- lecturer programme stages (000 §五–七) ---------------------------------------------------

BASIC, KEY, INTENSIVE = "basic", "key", "intensive"
STAGES = (BASIC, KEY, INTENSIVE)
STAGE_ORDER = {s: i for i, s in enumerate(STAGES)}

# 000 §六(二)4(1): the six typical enterprises the key-training groups work on, in the
# order the plan lists them (mandatory, key and encouraged industries).
SCENARIOS = {
    "hazardous_chemicals": "危险化学品企业",
    "construction": "建筑施工企业",
    "commercial_complex": "城市商业综合体",
    "gas_company": "燃气公司",
    "restaurant": "餐馆",
    "manufacturing": "加工制造企业",
}

# How each offline stage is split: batches x groups, and trainees per batch.
# Key: 150 in 3 batches of 50, each batch in 6 groups (one per scenario) -> 9,9,8,8,8,8.
# Intensive: 80 in 5 groups of 16.
LAYOUT = {
    KEY: {"batches": 3, "groups": 6, "per_batch": 50},
    INTENSIVE: {"batches": 1, "groups": 5, "per_batch": 80},
}

ACTIVE, WITHDRAWN, NOT_ADVANCED = "active", "withdrawn", "not_advanced"
TRAINEE_STATUSES = (ACTIVE, WITHDRAWN, NOT_ADVANCED)

# Which exam / expert part belongs to which stage (docs/event-contracts.md).
EXAM_STAGE = {"basic_test": BASIC, "key_theory": KEY}
CLASS_EXAM = "class_exam"
EXAM_KINDS = (*EXAM_STAGE, CLASS_EXAM)
PART_STAGE = {"key_expert": KEY, "intensive_review": INTENSIVE}


def load_plan(name: str) -> dict:
    """A published course plan (附件2–4) shipped as ``data/course_plans_<name>.yml``."""
    # the name is checked before it touches the filesystem: it comes from a request
    valid = isinstance(name, str) and 0 < len(name) <= 20 and name.isascii() and name.isalnum()
    path = DATA_DIR / f"course_plans_{name}.yml" if valid else None
    if path is None or not path.is_file():
        known = sorted(p.stem.removeprefix("course_plans_") for p in DATA_DIR.glob("course_plans_*.yml"))
        raise ValidationFailed(f"no course plan {name!r}", {"plan": [f"unknown plan; known: {', '.join(known)}"]})
    plan = yaml.safe_load(path.read_text(encoding="utf-8"))
    missing = [s for s in STAGES if s not in plan.get("stages", {})]
    if missing:  # a broken data file is a deployment error, not user input
        raise ValueError(f"{path.name} lacks stages {missing}")
    return plan


def group_layout(stage: str) -> list[tuple[int, int, str | None, int]]:
    """(batch, number, scenario, capacity) of every group of an offline stage.

    A batch's trainees are spread as evenly as possible: 50 in 6 groups -> 9,9,8,8,8,8.
    """
    if stage not in LAYOUT:
        raise RuleViolation(f"the {stage} stage has no groups (online)", {"stage": ["has no groups"]},
                            rule="stage_has_groups")
    spec = LAYOUT[stage]
    base, extra = divmod(spec["per_batch"], spec["groups"])
    scenarios = list(SCENARIOS) if stage == KEY else [None] * spec["groups"]
    return [(batch, n + 1, scenarios[n], base + (1 if n < extra else 0))
            for batch in range(1, spec["batches"] + 1) for n in range(spec["groups"])]


@dataclass
class Seat:
    """A group as the assignment sees it: capacity and who is already in it."""
    group_id: int
    capacity: int
    districts: Counter = field(default_factory=Counter)
    kinds: Counter = field(default_factory=Counter)
    size: int = 0


def assign_groups(trainees: list[tuple[int, str | None, str | None]], seats: list[Seat]) -> dict[int, int]:
    """Place ``(trainee_id, district, unit_kind)`` into groups: trainee_id -> group_id.

    Balanced and deterministic: trainees of the commonest district go first, each to
    the group with room that has the fewest of their district, then of their unit
    kind, then the fewest members, then the lowest group id. Capacity is never
    exceeded: more trainees than seats is refused before anything moves.
    """
    free = sum(s.capacity - s.size for s in seats)
    if len(trainees) > free:
        raise RuleViolation(f"{len(trainees)} trainees to place but only {free} free seats",
                            {"trainees": [f"{len(trainees)} > {free} seats"]}, rule="group_capacity")
    frequency = Counter(d for _, d, _ in trainees)
    ordered = sorted(trainees, key=lambda t: (-frequency[t[1]], t[1] or "", t[2] or "", t[0]))
    placed = {}
    for trainee_id, district, kind in ordered:
        seat = min((s for s in seats if s.size < s.capacity),
                   key=lambda s: (s.districts[district], s.kinds[kind], s.size, s.group_id))
        seat.districts[district] += 1
        seat.kinds[kind] += 1
        seat.size += 1
        placed[trainee_id] = seat.group_id
    return placed


def ensure_room(group_size: int, capacity: int):
    if group_size >= capacity:
        raise RuleViolation(f"the group is full ({group_size} of {capacity})",
                            {"group_id": [f"full: {capacity} seats"]}, rule="group_capacity")


def ensure_movable(trainee_stage: str, trainee_status: str, trainee_cycle: str, candidate_id: int,
                   group_stage: str, group_cycle: str):
    """Only an active trainee of the group's cycle and stage may be put into a group."""
    if trainee_cycle != group_cycle or trainee_stage != group_stage or trainee_status != ACTIVE:
        raise RuleViolation(
            f"trainee {candidate_id} is {trainee_status} at the {trainee_stage} stage of {trainee_cycle}",
            {"candidate_id": [f"not an active {group_stage} trainee of {group_cycle}"]}, rule="group_stage")


def advance_stage(current: str, to_stage: str) -> str:
    """A trainee only moves forward; a replayed or late event never demotes them."""
    if to_stage not in STAGE_ORDER:
        raise ValidationFailed(f"unknown stage {to_stage!r}", {"to_stage": ["unknown stage"]})
    return to_stage if STAGE_ORDER[to_stage] > STAGE_ORDER[current] else current


# ---- scores -----------------------------------------------------------------------------------

HUNDREDTH = Decimal("0.01")
HUNDRED = Decimal(100)


def round_score(value: Decimal) -> Decimal:
    """Two places, half up (86.125 -> 86.13): the rounding every score here uses."""
    return Decimal(value).quantize(HUNDREDTH, rounding=ROUND_HALF_UP)


def check_score(value, field_name: str = "score") -> Decimal:
    """A score as sent by a person: 0–100 with at most two decimal places."""
    try:
        score = Decimal(str(value))
    except ArithmeticError:
        raise ValidationFailed("not a number", {field_name: ["not a number"]}) from None
    if not score.is_finite() or score < 0 or score > HUNDRED:
        raise ValidationFailed("scores are 0–100", {field_name: ["must be between 0 and 100 (score_range)"]})
    if score != score.quantize(HUNDREDTH):
        raise ValidationFailed("two decimal places at most", {field_name: ["at most 2 decimal places"]})
    return round_score(score)


def panel_mean(scores: list[Decimal]) -> Decimal:
    """The trainee's expert score: the mean of the panel's scores, rounded once at the end."""
    if not scores:
        raise ValueError("an empty panel has no mean")
    return round_score(sum(scores, Decimal(0)) / len(scores))


def score_text(value: Decimal) -> str:
    return f"{round_score(value):.2f}"


# ---- question bank and papers ------------------------------------------------------------------

SINGLE, MULTIPLE, TRUE_FALSE = "single", "multiple", "true_false"
QUESTION_KINDS = (SINGLE, MULTIPLE, TRUE_FALSE)
TRUE_FALSE_OPTIONS = {"T": "正确", "F": "错误"}


def normalise_question(kind: str, options: dict | None, answer: list[str]) -> tuple[dict, list[str]]:
    """Options and the sorted answer keys of a question, or 400 naming the broken rule."""
    if kind == TRUE_FALSE:
        options = dict(TRUE_FALSE_OPTIONS)
    if not options or len(options) < 2:
        raise ValidationFailed("a choice question needs options", {"options": ["at least 2 options"]})
    keys = sorted(set(answer))
    if len(keys) != len(answer):
        raise ValidationFailed("an answer key repeats", {"answer": ["repeated option"]})
    unknown = [k for k in keys if k not in options]
    if unknown:
        raise ValidationFailed("the answer names unknown options", {"answer": [f"not an option: {', '.join(unknown)}"]})
    if kind in (SINGLE, TRUE_FALSE) and len(keys) != 1:
        raise ValidationFailed(f"a {kind} question has one right answer", {"answer": ["exactly one option"]})
    if kind == MULTIPLE and len(keys) < 2:
        raise ValidationFailed("a multiple-choice question has two or more right answers",
                               {"answer": ["at least two options"]})
    return options, keys


def draw_paper(bank: dict[str, list[int]], draw: list[tuple[str, int]], seed: int) -> list[int]:
    """Question ids for a paper: ``count`` per topic, random but the same for the same seed.

    The bank is sorted first, so the paper depends on the seed and the bank's content,
    never on the order rows came back from the database.
    """
    rng = random.Random(seed)
    paper: list[int] = []
    seen_topics = set()
    for topic, count in draw:
        if topic in seen_topics:
            raise ValidationFailed("a topic is drawn twice", {"draw": [f"{topic} repeated"]})
        seen_topics.add(topic)
        pool = sorted(bank.get(topic, []))
        if len(pool) < count:
            raise RuleViolation(f"topic {topic!r} has {len(pool)} questions, {count} wanted",
                                {"draw": [f"{topic}: {len(pool)} < {count}"]}, rule="paper_draw")
        paper.extend(rng.sample(pool, count))
    return paper


def grade(paper: list[int], key: dict[int, list[str]], answers: dict) -> tuple[int, Decimal]:
    """(number right, score out of 100). A question is right only when the chosen set is
    exactly the key (no partial credit on multiple choice); every question weighs the same."""
    if not paper:
        raise ValueError("an empty paper cannot be graded")
    right = 0
    for qid in paper:
        chosen = answers.get(str(qid), answers.get(qid))
        if chosen is None:
            continue
        chosen = [chosen] if isinstance(chosen, str) else list(chosen)
        if sorted(set(chosen)) == key[qid] and len(set(chosen)) == len(chosen):
            right += 1
    return right, round_score(Decimal(right) * HUNDRED / Decimal(len(paper)))


# An attempt is started, then submitted (online, or imported from a paper exam); an operator
# may void it so the trainee sits again. Only a void attempt does not count.
STARTED, SUBMITTED, VOID = "started", "submitted", "void"
ATTEMPT = Lifecycle("an attempt", {
    "submit": ((STARTED,), SUBMITTED),
    "reopen": ((STARTED, SUBMITTED), VOID),
})


def ensure_may_sit(exam_kind: str, exam_cycle: str, trainee_cycle: str, trainee_status: str, trainee_stage: str,
                   candidate_id: int):
    """A programme exam is for an active trainee of its cycle who reached the exam's stage."""
    stage = EXAM_STAGE[exam_kind]
    if trainee_cycle != exam_cycle or trainee_status != ACTIVE or STAGE_ORDER[trainee_stage] < STAGE_ORDER[stage]:
        raise RuleViolation(f"candidate {candidate_id} is {trainee_status} at the {trainee_stage} stage",
                            {"candidate_id": [f"not an active {stage} trainee of {exam_cycle}"]}, rule="exam_stage")


def ensure_one_attempt(live_attempt, row: int | None = None):
    """One attempt per trainee per exam: ``live_attempt`` is the id of one that is not void (or True)."""
    if not live_attempt:
        return
    if row is not None:
        raise RuleViolation(f"row {row}: this trainee already has an attempt",
                            {f"rows.{row}": ["one attempt per trainee per exam"]}, rule="one_attempt")
    raise RuleViolation(f"one attempt per trainee per exam (attempt #{live_attempt} exists)",
                        {"exam_id": ["already attempted; an operator may re-open it"]}, rule="one_attempt")


def ensure_submittable(status: str):
    if not ATTEMPT.may(status, "submit"):
        raise RuleViolation(f"the attempt is {status}", {"status": [f"is {status}"]}, rule="one_attempt")


def ensure_reopenable(status: str):
    if not ATTEMPT.may(status, "reopen"):
        raise Conflict("the attempt is already void", {"status": ["void"]})


SUBMIT_GRACE = timedelta(minutes=2)  # network and clock slack for an on-time submission


def ensure_in_time(deadline: datetime, now: datetime):
    if now > deadline + SUBMIT_GRACE:
        raise RuleViolation(f"the attempt's time ran out at {deadline.isoformat()}",
                            {"submitted_at": ["after the time limit"]}, rule="exam_time_limit")


# ---- safety-training classes (004) -------------------------------------------------------------

def _class_rules() -> dict:
    rules = yaml.safe_load((DATA_DIR / "safety_classes.yml").read_text(encoding="utf-8"))
    rules["breaks"] = [(_clock(b["start"]), _clock(b["end"]), b.get("label", "")) for b in rules.get("breaks", [])]
    return rules


def _clock(text: str) -> time:
    hours, minutes = str(text).split(":")
    return time(int(hours), int(minutes))


CLASS_RULES = _class_rules()  # data/safety_classes.yml
CLASS_DAYS = CLASS_RULES["days"]
HOURS_PER_DAY = CLASS_RULES["hours_per_day"]
CLASS_HOUR_MINUTES = CLASS_RULES["class_hour_minutes"]
BREAKS = CLASS_RULES["breaks"]
LATE_GRACE = timedelta(minutes=CLASS_RULES["late_grace_minutes"])
RATING_WINDOW = timedelta(days=CLASS_RULES["rating_window_days"])
CLASS_HOURS = CLASS_DAYS * HOURS_PER_DAY  # 004 §六(一): two days = 16 class hours
DEFAULT_PASS_MARK = Decimal(60)

# 附件2: the basic conditions of a training institution, in the document's order.
# (rule, field, test, message)
INSTITUTION_CONDITIONS = (
    ("institution_managers", "full_time_managers", lambda i: i["full_time_managers"] >= 3,
     "at least 3 full-time training managers"),
    ("institution_management_system", "management_system", lambda i: bool(i["management_system"]),
     "a training management system (records, archives, funds)"),
    ("institution_teacher_experience", "teacher_min_years", lambda i: i["teacher_min_years"] >= 5,
     "teachers with at least 5 years in their field"),
    ("institution_evaluation", "evaluation_mechanism", lambda i: bool(i["evaluation_mechanism"]),
     "a teaching evaluation mechanism"),
    ("institution_premises", "seats", lambda i: i["seats"] >= 60,
     "premises for at least 60 trainees at once"),
)
TEACHER_MIN_YEARS = 5


def ensure_teacher_experienced(name: str, years: int, field: str):
    """附件2: a class's teachers have at least ``TEACHER_MIN_YEARS`` in their field."""
    if years < TEACHER_MIN_YEARS:
        raise RuleViolation(f"teacher {name} has {years} years; 附件2 asks {TEACHER_MIN_YEARS}",
                            {field: [f"fewer than {TEACHER_MIN_YEARS} years in the field"]},
                            rule="teacher_experience")


TEACHER_QUALIFICATIONS = {
    "registered_safety_engineer": "注册安全工程师",
    "senior_title": "高级专业技术职称",
    "mid_title": "中级专业技术职称",
    "safety_manager": "生产经营单位安全生产管理人员",
}


def institution_failures(institution: dict) -> list[tuple[str, str, str]]:
    """(rule, field, condition) for every condition of 附件2 the institution misses."""
    return [(rule, fld, msg) for rule, fld, test, msg in INSTITUTION_CONDITIONS if not test(institution)]


def ensure_institution_qualified(institution: dict):
    failures = institution_failures(institution)
    if failures:
        rule, _, _ = failures[0]
        raise RuleViolation(
            "the institution does not meet 附件2: " + "; ".join(msg for _, _, msg in failures),
            {f"institution.{fld}": [f"{msg} ({r})"] for r, fld, msg in failures}, rule=rule)


# A class is open until completed; a seat is enrolled until cancelled or judged at completion
# (present / left early / absent); a person enrolled by registration until cancelled there.
OPEN, COMPLETED = "open", "completed"
CLASS = Lifecycle("a class", {"complete": ((OPEN,), COMPLETED)}, rule="class_completed")
ENROLLED, CANCELLED = "enrolled", "cancelled"


def ensure_class_open(status: str):
    if not CLASS.may(status, "complete"):
        raise RuleViolation("the class is completed", {"class_id": ["completed"]}, rule="class_completed")


def ensure_class_days(days: list[date]):
    """Two consecutive calendar days of one year: the plan's "两天" class, its hours in one year's ledger."""
    if len(days) != CLASS_DAYS or days[0] >= days[1]:
        raise ValidationFailed("a class runs on two dates in order", {"days": ["two dates, first before second"]})
    for n, (first, second) in enumerate(zip(days, days[1:]), start=1):
        if second - first != timedelta(days=1):
            raise RuleViolation(f"a class runs on consecutive days; {first} and {second} are not",
                                {f"days.{n}": [f"must be {first + timedelta(days=1)}"]}, rule="class_days")
    if days[0].year != days[-1].year:
        raise RuleViolation(f"a class runs within one calendar year; {days[0]}–{days[-1]} spans two",
                            {"days": ["within one calendar year (hours count in the year earned)"]},
                            rule="class_days")


def teaching_minutes(starts: time, ends: time, since: time | None = None, until: time | None = None) -> int:
    """Minutes of teaching in the day window [starts, ends] (optionally cut to [since, until]), breaks excluded."""
    lo, hi = _minutes(max(starts, since or starts)), _minutes(min(ends, until or ends))
    total = max(0, hi - lo)
    for b_start, b_end, _ in BREAKS:
        total -= max(0, min(hi, _minutes(b_end)) - max(lo, _minutes(b_start)))
    return total


def _minutes(t: time) -> int:
    return t.hour * 60 + t.minute


def day_hours(starts: time, ends: time) -> int:
    """Class hours a day window holds: whole class hours of teaching time, at most the plan's 8."""
    return min(HOURS_PER_DAY, teaching_minutes(starts, ends) // CLASS_HOUR_MINUTES)


def class_hours(starts: time, ends: time, days: int = CLASS_DAYS) -> int:
    """A class's hours from its schedule; refused unless every day holds the plan's 8 class hours."""
    if starts >= ends:
        raise ValidationFailed("the day ends after it starts", {"day_end": ["must be after day_start"]})
    held = day_hours(starts, ends)
    if held < HOURS_PER_DAY:
        minutes = teaching_minutes(starts, ends)
        raise RuleViolation(
            f"{starts:%H:%M}–{ends:%H:%M} holds {minutes} minutes of teaching = {held} class hours of "
            f"{CLASS_HOUR_MINUTES} minutes; a class day has {HOURS_PER_DAY} (004 §六(一): two days, "
            f"{CLASS_HOURS} class hours)",
            {"day_end": [f"{held} class hours a day; {HOURS_PER_DAY} needed"]}, rule="class_schedule")
    return held * days


def ensure_class_capacity(capacity: int, seats: int):
    if capacity > seats:
        raise RuleViolation(f"the class of {capacity} does not fit the institution's {seats} seats",
                            {"capacity": [f"> {seats} seats"]}, rule="class_capacity_premises")


def ensure_class_room(enrolled: int, capacity: int):
    if enrolled >= capacity:
        raise RuleViolation(f"the class is full ({enrolled} of {capacity})",
                            {"enrolment_id": [f"class full: {capacity}"]}, rule="class_capacity")


def day_window(day: date, starts: time, ends: time) -> tuple[datetime, datetime]:
    """A class day's start and end as aware datetimes (the class's times are Beijing time)."""
    return datetime.combine(day, starts, SHANGHAI), datetime.combine(day, ends, SHANGHAI)


def ensure_on_class_day(at: datetime, day: date, now: datetime):
    local = at.astimezone(SHANGHAI).date()
    if local != day:
        raise RuleViolation(f"{at.isoformat()} is on {local}, not on class day {day}",
                            {"at": [f"not on {day}"]}, rule="attendance_day")
    if at > now + ATTENDANCE_CLOCK_SLACK:
        raise RuleViolation(f"{at.isoformat()} has not happened yet", {"at": ["in the future"]},
                            rule="attendance_day")


ATTENDANCE_CLOCK_SLACK = timedelta(minutes=2)  # a terminal's clock a little ahead of ours


def class_end(last_day: date, ends: time) -> datetime:
    return datetime.combine(last_day, ends, SHANGHAI)


def ensure_class_over(last_day: date, ends: time, now: datetime):
    """A class is completed (hours, absences, certificates) only once its last day has ended."""
    over = class_end(last_day, ends)
    if now < over:
        raise RuleViolation(f"the class ends {over.isoformat()}; it cannot be completed before",
                            {"class_id": [f"not over until {over.isoformat()}"]}, rule="class_not_over")


# A day's attendance, and a trainee's over the class. "未全程参加" (004 §七(四)) is anything but
# present: late, left early, both, or absent; each day says which and how much teaching was missed.
PRESENT, LATE, LEFT_EARLY, LATE_LEFT_EARLY, ABSENT = "present", "late", "left_early", "late_left_early", "absent"
INCOMPLETE = "incomplete"  # over the class: not the same single shortfall every day it fell short
ATTENDED = (PRESENT, LATE, LEFT_EARLY, INCOMPLETE)  # a seat that was there at least in part


def day_attendance(day: date, starts: time, ends: time, check_in: datetime | None,
                   check_out: datetime | None) -> dict:
    """Status of one class day and the teaching minutes missed (a missing check-out misses the rest)."""
    begin, finish = datetime.combine(day, starts, SHANGHAI), datetime.combine(day, ends, SHANGHAI)
    total = teaching_minutes(starts, ends)
    if check_in is None:
        return {"date": day, "status": ABSENT, "missed_minutes": total, "checked_in_at": None,
                "checked_out_at": None, "ends_at": finish}
    arrived = check_in.astimezone(SHANGHAI)
    late = arrived > begin + LATE_GRACE
    left = check_out is None or check_out < finish
    came = min(max(arrived, begin), finish).time() if late else starts
    went = (max(min(check_out.astimezone(SHANGHAI), finish), begin).time()
            if check_out is not None else came) if left else ends
    missed = total - teaching_minutes(starts, ends, came, went) if went > came else total
    status = LATE_LEFT_EARLY if late and left else LATE if late else LEFT_EARLY if left else PRESENT
    return {"date": day, "status": status, "missed_minutes": missed, "checked_in_at": check_in,
            "checked_out_at": check_out, "ends_at": finish}


def class_outcome(days: list[dict], hours_per_day: int, score: Decimal | None, pass_mark: Decimal,
                  excused: bool = False) -> dict:
    """What a trainee gets from a class: the hours of each day attended in full, the status for the
    district report, and whether they passed (the whole class attended, or excused by the class
    manager, and the exam at the pass mark)."""
    statuses = [d["status"] for d in days]
    full_days = statuses.count(PRESENT)
    if full_days == len(statuses):
        status = PRESENT
    elif all(s == ABSENT for s in statuses):
        status = ABSENT
    else:
        short = {s for s in statuses if s != PRESENT}
        status = short.pop() if len(short) == 1 and short <= {LATE, LEFT_EARLY} else INCOMPLETE
    passed = (status == PRESENT or excused) and score is not None and score >= pass_mark
    missed = [{"day": n, **{k: v for k, v in d.items() if k != "ends_at"}}
              for n, d in enumerate(days, start=1) if d["status"] != PRESENT]
    return {"hours": full_days * hours_per_day, "status": status, "passed": passed, "full_days": full_days,
            "missed": missed, "missed_minutes": sum(d["missed_minutes"] for d in missed)}


def may_sit_class_exam(days: list[dict], now: datetime, excused: bool) -> bool:
    """Whole attendance so far: every ended day in full, and today (if under way) arrived on time and not
    gone. The exam is held before the class ends (004 §七(五)), so the last day is usually under way."""
    if excused:
        return True
    for d in days:
        ended = now >= d["ends_at"]
        if ended and d["status"] != PRESENT:
            return False
        if not ended and (d["checked_in_at"] is None or d["status"] in (LATE, LATE_LEFT_EARLY)
                          or d["checked_out_at"] is not None):
            return False
    return True


def ensure_may_rate(seat_status: str, class_status: str, class_over: datetime, now: datetime):
    """004 §七(三): the people who took part rate each teacher after the class, within the window."""
    if class_status != COMPLETED or seat_status not in ATTENDED:
        raise RuleViolation("only a trainee who attended the class rates its teachers, after the class",
                            {"id_number": ["did not attend this class" if class_status == COMPLETED
                                           else "the class is not completed yet"]}, rule="rating_trainee")
    if now > class_over + RATING_WINDOW:
        closed = class_over + RATING_WINDOW
        raise RuleViolation(f"ratings closed {closed.isoformat()} ({RATING_WINDOW.days} days after the class)",
                            {"class_id": [f"ratings closed {closed.date()}"]}, rule="rating_window")


# ---- certificates ----------------------------------------------------------------------------
# A certificate is valid city-wide (004 §七(五)), but each agency keeps only its own. The
# number starts with the issuing agency, so any agency's verify route can answer without a
# shared register: its own numbers from its database (valid / revoked / unknown), another
# agency's with "foreign" and that agency's id, so the caller asks that agency's verify URL.
# Forwarding the question between agencies (RabbitMQ shovel/federation) can replace that
# answer later without changing a single issued number.

def certificate_number(agency: str, year: int, serial: int) -> str:
    """``<AGENCY>-<year>-<serial>``: the agency in the number says who can answer for it."""
    return f"{agency.upper()}-{year}-{serial:07d}"


def certificate_agency(number: str) -> str | None:
    """The issuing agency of a well-formed number, lower case; None when it is not one."""
    parts = number.rsplit("-", 2)
    if len(parts) != 3 or not parts[0] or not (parts[1].isdigit() and len(parts[1]) == 4) or not parts[2].isdigit():
        return None
    return parts[0].lower()


def verify_url(base_url: str, number: str) -> str:
    return f"{base_url.rstrip('/')}/api/v1/certificates/{number}/verify"


VALID, REVOKED = "valid", "revoked"
CERTIFICATE = Lifecycle("a certificate", {"revoke": ((VALID,), REVOKED)})


def ensure_revocable(status: str):
    if not CERTIFICATE.may(status, "revoke"):
        raise Conflict("the certificate is already revoked", {"status": ["revoked"]})


def certificate_lines(number: str, person_name: str, id_masked: str, class_title: str, institution: str,
                      day1: date, day2: date, class_hours: int, issued_on: date, status: str) -> list[tuple[int, str]]:
    """The certificate's wording, line by line with its font size (the QR code and URL follow)."""
    return [
        (24, "安全生产培训合格证"),
        (14, f"证书编号：{number}"),
        (14, f"姓名：{person_name}    身份证号：{id_masked}"),
        (12, f"培训班：{class_title}（{institution}）"),
        (12, f"培训日期：{day1.isoformat()} 至 {day2.isoformat()}，共 {class_hours} 学时"),
        (12, f"发证日期：{issued_on.isoformat()}    状态：{'有效' if status == VALID else '已撤销'}"),
        (10, "扫描二维码或访问下方网址查验（全市通查通用）"),
    ]


def verify_message(status: str, revoked_reason: str | None) -> str:
    return "valid" if status == VALID else f"revoked: {revoked_reason}"


# ---- ratings ------------------------------------------------------------------------------------

def rating_average(stars: list[int]) -> Decimal | None:
    return round_score(Decimal(sum(stars)) / len(stars)) if stars else None
