"""Scoring rules (seed 000 §六(二)4(2), §九): composite scores, rankings, cut-offs.

This module: schemes, score parsing and the fold of the event log into sheets; the
ranking and the decisions of a close are in ``ranking``.

Pure functions and small classes: no I/O, no framework.

Arithmetic. Every score is exact (``Decimal`` for two-place scores, ``Fraction`` where a
mean does not end: a panel of three). Where rounding happens is scheme data
(``Rounding``), and the default rounds only what is published: a stage score is the
exact sum of ``part × weight`` (plus ``lectures × points_per_lecture``) rounded once,
half up, to two places (``ROUND_HALF_UP``: 86.125 → 86.13); an expert part enters as
the panel's exact mean (its total over its size, both in ``expert_scored``), not as
the two-place mean training publishes; a stage used as a part of a later stage (the
final score's "key-training score") enters with its exact, unrounded score. A scheme
may instead say ``panel_means: published`` and/or ``stage_references: published``: the
two-place figures are then used, and the explanation names each such rounding.
Scores coming in from events have two places (the contract); a longer one is rounded
half up on arrival.

Ranking. Higher stage score first; equal scores are separated by the stage's
``tie_break`` references in order (higher first; for 2022 the later-stage part
first), then by the earlier ``registered_at`` (registration's own timestamp), then
by the lower ``candidate_id``. The order is total, so it never depends on the order
events arrived in. A candidate lacking a part the stage needs, not approved by
registration, withdrawn, or not advanced from the stage's ``after`` stage is not
ranked: it is listed apart with the reason, never ranked with 0.

Sheets are folded from the event log: for each part the event with the latest
``scored_at`` wins (ties: the greater envelope id); for each lecture and for the
registration status the latest envelope ``time`` wins (same tie rule). Folding is
therefore independent of arrival order and of duplicates.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from fractions import Fraction

from shared.errors import RuleViolation, ValidationFailed

CENT = Decimal("0.01")
HUNDRED = Decimal("100")
ZERO = Decimal("0")

# Parts measured by the training service (event contract: exam_scored / expert_scored).
PARTS = {
    "basic_test": "基础培训测试成绩",
    "key_theory": "重点培训理论考核成绩",
    "key_expert": "重点培训专家复评成绩",
    "intensive_review": "集中强化培训专家评议成绩",
}
EXAM_PARTS = ("basic_test", "key_theory")           # exam_scored.exam
EXPERT_PARTS = ("key_expert", "intensive_review")    # expert_scored.part

# Event names this service folds into a sheet (source service, event name).
APPROVED, WITHDRAWN = "candidate_approved", "candidate_withdrawn"
EXAM, EXPERT = "exam_scored", "expert_scored"
LECTURE_OK, LECTURE_REVOKED = "lecture_approved", "lecture_approval_revoked"

OPEN, CLOSED = "open", "closed"

# Where a scheme rounds (``Rounding``): an exact value, or the two-place figure that was published.
EXACT, PUBLISHED = "exact", "published"
ROUNDING_CHOICES = (EXACT, PUBLISHED)


def half_up(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def parse_score(raw, field_name: str = "score") -> Decimal:
    """A decimal string 0–100 from an event, rounded half up to two places."""
    try:
        value = Decimal(str(raw))
    except (InvalidOperation, ValueError):
        raise ValidationFailed("a score must be a decimal string", {field_name: [f"{raw!r} is not a decimal"]}) from None
    if not value.is_finite() or value < ZERO or value > HUNDRED:
        raise ValidationFailed("a score lies between 0 and 100", {field_name: [f"{raw!r} is outside 0–100"]})
    return half_up(value)


def fmt(value: Decimal | None) -> str | None:
    """Two places, as the contract writes scores ("86.50")."""
    return None if value is None else str(half_up(value))


def half_up_exact(value: Fraction) -> Decimal:
    """An exact (possibly non-terminating) non-negative value, rounded half up to two places."""
    hundredths = value * 100
    cents = (2 * hundredths.numerator + hundredths.denominator) // (2 * hundredths.denominator)
    return Decimal(cents).scaleb(-2)


def exact_text(value: Fraction | Decimal | None) -> str | None:
    """An exact value as text: a plain decimal when it ends ("82.865"), else the fraction ("257/3")."""
    if value is None:
        return None
    value = Fraction(value)
    den = value.denominator
    for p in (2, 5):
        while den % p == 0:
            den //= p
    if den != 1:
        return f"{value.numerator}/{value.denominator}"
    return plain(Decimal(value.numerator) / Decimal(value.denominator))


def plain(value: Decimal) -> str:
    """A weight or contribution without trailing zeros ("0.4", "17.3", "20")."""
    text = format(value.normalize(), "f")
    return text


# ---- schemes ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Part:
    ref: str                 # a measured part or an earlier stage
    weight: Decimal


@dataclass(frozen=True)
class Stage:
    name: str
    label: str
    parts: tuple[Part, ...]
    cutoff: int
    advances_to: str
    after: str | None = None
    points_per_lecture: Decimal = ZERO
    tie_break: tuple[str, ...] = ()
    gold: bool = False

    @property
    def refs(self) -> tuple[str, ...]:
        return tuple(p.ref for p in self.parts)


@dataclass(frozen=True)
class Rounding:
    """Where a scheme rounds. Every published stage score is rounded once, half up, to two places;
    these say whether the inputs of a sum are exact (the default) or their published two-place figures."""
    panel_means: str = EXACT        # exact: the panel's total / its size; published: training's two-place mean
    stage_references: str = EXACT   # exact: an earlier stage's unrounded score; published: its rounded score

    def describe(self) -> str:
        means = ("an expert part is the panel's exact mean (total / panel size)" if self.panel_means == EXACT
                 else "an expert part is the panel mean as published, rounded half up to 2 places")
        refs = ("a stage used as a part contributes its exact, unrounded score" if self.stage_references == EXACT
                else "a stage used as a part contributes its published score, rounded half up to 2 places")
        return ("stage score = Σ part × weight (+ lectures × points), exact, then rounded once to 2 places, "
                f"ROUND_HALF_UP; {means}; {refs}")


@dataclass(frozen=True)
class Scheme:
    title: str
    stages: tuple[Stage, ...]
    rounding: Rounding = Rounding()

    def stage(self, name: str) -> Stage:
        for s in self.stages:
            if s.name == name:
                return s
        raise KeyError(name)

    @property
    def stage_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.stages)

    def label_of(self, ref: str) -> str:
        if ref in PARTS:
            return PARTS[ref]
        return self.stage(ref).label + "成绩"

    def inputs_of(self, stage_name: str) -> set[str]:
        """Every measured part a stage depends on, through earlier stages too; "lectures" if it counts them."""
        stage = self.stage(stage_name)
        found: set[str] = set()
        if stage.points_per_lecture:
            found.add("lectures")
        for ref in stage.refs:
            found |= {ref} if ref in PARTS else self.inputs_of(ref)
        return found

    def later_stages(self, stage_name: str) -> list[str]:
        """Stages that take this one's advancement as their entry condition."""
        return [s.name for s in self.stages if s.after == stage_name]


def scheme_from_data(data: dict) -> Scheme:
    """Build a scheme from validated input and check the rules between its stages.

    Shape errors are the schema's job; here: weights sum to 1, references point to
    known parts or earlier stages, tie-breaks are among the stage's references.
    """
    errors: dict[str, list[str]] = {}
    stages: list[Stage] = []
    seen: list[str] = []
    for i, raw in enumerate(data["stages"]):
        where = f"stages.{i}"
        name = raw["name"]
        if name in seen:
            errors.setdefault(f"{where}.name", []).append(f"stage {name!r} is defined twice")
        if name in PARTS or name == "lectures":
            errors.setdefault(f"{where}.name", []).append(f"{name!r} is a part, not a stage name")
        refs = [p["ref"] for p in raw["parts"]]
        for j, ref in enumerate(refs):
            if ref not in PARTS and ref not in seen:
                errors.setdefault(f"{where}.parts.{j}.ref", []).append(
                    f"{ref!r} is neither a known part ({', '.join(PARTS)}) nor an earlier stage")
        if len(set(refs)) != len(refs):
            errors.setdefault(f"{where}.parts", []).append("a part is listed twice")
        total = sum((p["weight"] for p in raw["parts"]), ZERO)
        if total != Decimal(1):
            errors.setdefault(f"{where}.parts", []).append(f"weights must sum to 1, they sum to {plain(total)}")
        after = raw.get("after")
        if after is not None and after not in seen:
            errors.setdefault(f"{where}.after", []).append(f"{after!r} is not an earlier stage")
        for ref in raw.get("tie_break") or []:
            if ref not in refs:
                errors.setdefault(f"{where}.tie_break", []).append(f"{ref!r} is not one of this stage's parts")
        seen.append(name)
        stages.append(Stage(
            name=name, label=raw.get("label") or name, cutoff=raw["cutoff"], advances_to=raw["advances_to"],
            parts=tuple(Part(p["ref"], p["weight"]) for p in raw["parts"]), after=after,
            points_per_lecture=raw.get("points_per_lecture") or ZERO,
            tie_break=tuple(raw.get("tie_break") or ()), gold=bool(raw.get("gold")),
        ))
    if sum(1 for s in stages if s.gold) > 1:
        errors.setdefault("stages", []).append("only one stage selects the gold lecturers")
    if errors:
        raise ValidationFailed("the scheme is inconsistent", errors)
    return Scheme(title=data.get("title") or "", stages=tuple(stages), rounding=_rounding(data.get("rounding")))


def _rounding(raw: dict | None) -> Rounding:
    raw = raw or {}
    return Rounding(panel_means=raw.get("panel_means") or EXACT, stage_references=raw.get("stage_references") or EXACT)


def scheme_to_data(scheme: Scheme) -> dict:
    """JSON-safe: decimals as strings, so the stored scheme reads back exactly."""
    return {"title": scheme.title, "rounding": {"panel_means": scheme.rounding.panel_means,
                                                "stage_references": scheme.rounding.stage_references},
            "stages": [{
        "name": s.name, "label": s.label, "cutoff": s.cutoff, "advances_to": s.advances_to, "after": s.after,
        "parts": [{"ref": p.ref, "weight": plain(p.weight)} for p in s.parts],
        "points_per_lecture": plain(s.points_per_lecture), "tie_break": list(s.tie_break), "gold": s.gold,
    } for s in scheme.stages]}


def scheme_from_stored(data: dict) -> Scheme:
    # a scheme stored before rounding was data reads with today's default (exact inputs)
    return Scheme(title=data.get("title") or "", rounding=_rounding(data.get("rounding")), stages=tuple(Stage(
        name=s["name"], label=s["label"], cutoff=int(s["cutoff"]), advances_to=s["advances_to"], after=s.get("after"),
        parts=tuple(Part(p["ref"], Decimal(p["weight"])) for p in s["parts"]),
        points_per_lecture=Decimal(s.get("points_per_lecture") or "0"),
        tie_break=tuple(s.get("tie_break") or ()), gold=bool(s.get("gold")),
    ) for s in data["stages"]))


def ensure_scheme_replaceable(closed_stages: list[str]) -> None:
    if closed_stages:
        raise RuleViolation(
            f"stage(s) {', '.join(closed_stages)} of this cycle are closed: re-open them before changing the scheme",
            {"stages": [f"{s} is closed" for s in closed_stages]}, rule="scheme_locked")


def ensure_closable(scheme: Scheme, stage: str, statuses: dict[str, str]) -> None:
    after = scheme.stage(stage).after
    if after and statuses.get(after) != CLOSED:
        raise RuleViolation(f"close stage {after} before {stage}: its advancement decides who takes part",
                            {"stage": [f"{after} is not closed"]}, rule="stage_order")


def ensure_reopenable(scheme: Scheme, stage: str, statuses: dict[str, str]) -> None:
    if statuses.get(stage) != CLOSED:
        raise RuleViolation(f"stage {stage} is not closed", {"stage": ["is open"]}, rule="stage_not_closed")
    later = [s for s in scheme.later_stages(stage) if statuses.get(s) == CLOSED]
    if later:
        raise RuleViolation(f"re-open {', '.join(later)} first: it was decided on this stage's result",
                            {"stage": [f"{s} is closed" for s in later]}, rule="stage_order")


# ---- sheets ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class LoggedEvent:
    """One consumed event as the log keeps it."""
    event_id: str
    name: str
    time: datetime           # envelope time
    data: dict


@dataclass(frozen=True)
class PartScore:
    score: Decimal
    event_id: str
    scored_at: datetime
    detail: dict = field(default_factory=dict)
    cents: int = field(init=False, repr=False, compare=False)
    exact: Fraction = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        # the ranking loop works in integer hundredths (exact: scores have two places)
        object.__setattr__(self, "cents", int((self.score * 100).to_integral_value(ROUND_HALF_UP)))
        # a panel's mean is exact from its total and size when the event carries them (expert_scored)
        total, size = self.detail.get("panel_total"), self.detail.get("panel_size")
        exact = Fraction(Decimal(str(total))) / int(size) if total is not None and size else Fraction(self.score)
        object.__setattr__(self, "exact", exact)

    def value(self, rounding: Rounding) -> Fraction:
        """What enters a sum under the scheme's rounding."""
        return self.exact if rounding.panel_means == EXACT else Fraction(self.score)


@dataclass(frozen=True)
class Lecture:
    lecture_id: int
    counted: bool
    kind: str | None
    lecture_date: str | None
    event_id: str
    at: datetime
    reason: str | None = None


@dataclass
class Sheet:
    candidate_id: int
    name: str | None = None
    registered_at: datetime | None = None
    person_key: str | None = None
    district: str | None = None
    approved: bool = False
    withdrawn: bool = False
    parts: dict[str, PartScore] = field(default_factory=dict)
    lectures: dict[int, Lecture] = field(default_factory=dict)

    @cached_property
    def lecture_count(self) -> int:
        # a sheet is built whole (fold, or read from the database) and not changed afterwards
        return sum(1 for lec in self.lectures.values() if lec.counted)


def _latest(found: dict, slot, key: tuple, value) -> None:
    current = found.get(slot)
    if current is None or key > current[0]:
        found[slot] = (key, value)


def fold(candidate_id: int, events) -> Sheet:
    """The sheet of one candidate from its logged events, in any order, duplicates included.

    Each slot keeps the event with the greatest (time, event id): the result is the
    same for any permutation of the same events.
    """
    status: dict = {}        # "registration" -> the latest approval/withdrawal
    approval: dict = {}      # "approval" -> the latest approval (name, registered_at)
    parts: dict = {}         # part -> latest by scored_at
    lecture_state: dict = {}  # lecture id -> latest approval/revocation
    lecture_info: dict = {}  # lecture id -> latest approval (kind, date)
    for e in events:
        data = e.data
        if e.name in (APPROVED, WITHDRAWN):
            _latest(status, "registration", (e.time, e.event_id), e)
            if e.name == APPROVED:
                _latest(approval, "approval", (e.time, e.event_id), e)
        elif e.name in (EXAM, EXPERT):
            part = data["exam"] if e.name == EXAM else data["part"]
            _latest(parts, part, (data["scored_at"], e.event_id), e)
        elif e.name in (LECTURE_OK, LECTURE_REVOKED):
            lecture_id = int(data["lecture_id"])
            _latest(lecture_state, lecture_id, (e.time, e.event_id), e)
            if e.name == LECTURE_OK:
                _latest(lecture_info, lecture_id, (e.time, e.event_id), e)
    sheet = Sheet(candidate_id)
    if "approval" in approval:
        data = approval["approval"][1].data
        sheet.approved = True
        sheet.name, sheet.registered_at, sheet.person_key = data["name"], data["registered_at"], data.get("person_key")
        sheet.district = data.get("district")
    if "registration" in status:
        sheet.withdrawn = status["registration"][1].name == WITHDRAWN
    for part, (_, e) in sorted(parts.items()):
        detail = {k: e.data[k] for k in ("source", "panel_size", "attempt_id", "stage") if k in e.data}
        # an external test's source stays with its score (the explanation shows where it was taken)
        detail.update({k: e.data[k] for k in ("platform", "reference") if e.data.get(k) is not None})
        if e.data.get("panel_total") is not None:
            detail["panel_total"] = str(e.data["panel_total"])
        sheet.parts[part] = PartScore(parse_score(e.data["score"]), e.event_id, e.data["scored_at"], detail)
    for lecture_id, (_, e) in sorted(lecture_state.items()):
        info = lecture_info.get(lecture_id)
        kind = info[1].data.get("kind") if info else None
        day = _text(info[1].data.get("lecture_date")) if info else None
        counted = e.name == LECTURE_OK
        sheet.lectures[lecture_id] = Lecture(lecture_id, counted, kind, day, e.event_id, e.time,
                                             None if counted else e.data.get("reason"))
    return sheet


def _text(value) -> str | None:
    return None if value is None else str(value)
