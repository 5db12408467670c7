"""Scoring rules (seed 000 §六(二)4(2), §九): composite scores, rankings, cut-offs.

Pure functions and small classes: no I/O, no framework.

Arithmetic. Every score is a ``Decimal``; a stage score is the exact sum of
``part × weight`` (plus ``lectures × points_per_lecture``) rounded once, half up,
to two places (``ROUND_HALF_UP``: 86.125 → 86.13). A part fed to a later stage as
a stage reference (the final score's "key-training score") is that stage's rounded
score, the figure that was published. Scores coming in from events are rounded to
two places half up on arrival (the contract sends two places already).

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

import gc
from dataclasses import dataclass, field
from functools import cached_property
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

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
class Scheme:
    title: str
    stages: tuple[Stage, ...]

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
    return Scheme(title=data.get("title") or "", stages=tuple(stages))


def scheme_to_data(scheme: Scheme) -> dict:
    """JSON-safe: decimals as strings, so the stored scheme reads back exactly."""
    return {"title": scheme.title, "stages": [{
        "name": s.name, "label": s.label, "cutoff": s.cutoff, "advances_to": s.advances_to, "after": s.after,
        "parts": [{"ref": p.ref, "weight": plain(p.weight)} for p in s.parts],
        "points_per_lecture": plain(s.points_per_lecture), "tie_break": list(s.tie_break), "gold": s.gold,
    } for s in scheme.stages]}


def scheme_from_stored(data: dict) -> Scheme:
    return Scheme(title=data.get("title") or "", stages=tuple(Stage(
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

    def __post_init__(self):
        # the ranking loop works in integer hundredths (exact: scores have two places)
        object.__setattr__(self, "cents", int((self.score * 100).to_integral_value(ROUND_HALF_UP)))


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
    if "registration" in status:
        sheet.withdrawn = status["registration"][1].name == WITHDRAWN
    for part, (_, e) in sorted(parts.items()):
        detail = {k: e.data[k] for k in ("source", "panel_size", "attempt_id", "stage") if k in e.data}
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


# ---- scores and rankings ---------------------------------------------------------------------

@dataclass(frozen=True)
class Component:
    ref: str
    weight: Decimal
    score: Decimal | None
    contribution: Decimal | None


@dataclass(frozen=True)
class StageScore:
    stage: str
    score: Decimal | None
    components: tuple[Component, ...]
    lectures: int
    lecture_points: Decimal
    missing: tuple[str, ...]


def stage_scores(scheme: Scheme, sheet: Sheet) -> dict[str, StageScore]:
    """Every stage's score for one sheet, in scheme order (later stages reuse earlier ones)."""
    out: dict[str, StageScore] = {}
    for stage in scheme.stages:
        out[stage.name] = _stage_score(stage, sheet, out)
    return out


def _stage_score(stage: Stage, sheet: Sheet, earlier: dict[str, StageScore]) -> StageScore:
    components, missing = [], []
    total = ZERO
    for part in stage.parts:
        if part.ref in PARTS:
            held = sheet.parts.get(part.ref)
            value = held.score if held else None
        else:
            value = earlier[part.ref].score
        if value is None:
            missing.append(part.ref)
            components.append(Component(part.ref, part.weight, None, None))
            continue
        contribution = value * part.weight
        total += contribution
        components.append(Component(part.ref, part.weight, value, contribution))
    lectures = sheet.lecture_count
    points = lectures * stage.points_per_lecture
    score = None if missing else half_up(total + points)
    return StageScore(stage.name, score, tuple(components), lectures, points, tuple(missing))


class Ranked:
    """One ranked sheet: its rank and stage score; the breakdown is computed when shown."""

    __slots__ = ("rank", "sheet", "cents", "_scheme", "_stage")

    def __init__(self, rank: int, sheet: Sheet, cents: int, scheme: Scheme, stage: str):
        self.rank, self.sheet, self.cents, self._scheme, self._stage = rank, sheet, cents, scheme, stage

    @property
    def value(self) -> Decimal:
        # made on demand: a re-rank of the whole cohort shows only a page of it
        return Decimal(self.cents).scaleb(-2)

    @property
    def score(self) -> StageScore:
        return stage_scores(self._scheme, self.sheet)[self._stage]

    def __repr__(self) -> str:
        return f"Ranked({self.rank}, {self.sheet.candidate_id}, {self.value})"


class Unranked:
    """A sheet the stage cannot rank, with the reason; the breakdown is computed when shown."""

    __slots__ = ("sheet", "reason", "_scheme", "_stage")

    def __init__(self, sheet: Sheet, reason: str, scheme: Scheme, stage: str):
        self.sheet, self.reason, self._scheme, self._stage = sheet, reason, scheme, stage

    @property
    def score(self) -> StageScore:
        return stage_scores(self._scheme, self.sheet)[self._stage]

    def __repr__(self) -> str:
        return f"Unranked({self.sheet.candidate_id}, {self.reason!r})"


@dataclass(frozen=True)
class Ranking:
    stage: Stage
    ranked: list[Ranked]
    unranked: list[Unranked]

    def advanced(self) -> list[Ranked]:
        return self.ranked[: self.stage.cutoff]

    def not_advanced(self) -> list[Ranked]:
        return self.ranked[self.stage.cutoff:]


_NO_TIME = datetime.max.replace(tzinfo=timezone.utc)


def _decimals(value: Decimal) -> int:
    exponent = Decimal(value).normalize().as_tuple().exponent
    return -exponent if exponent < 0 else 0


def _compile(stages: dict[str, Stage], stage: Stage):
    """A stage score as one closure ``value(sheet, memo) -> hundredths | None``.

    Exactly the arithmetic of ``stage_scores`` (exact sum, one ROUND_HALF_UP to two
    places), done in integers: a weight with k decimals becomes ``weight × 10^k``,
    scores are integer hundredths, so the sum is exact in units of 10^-(2+k) and
    half-up is ``(sum + 10^k / 2) // 10^k`` for these non-negative sums. A full
    re-rank runs it for every sheet, and integers are several times faster than
    Decimal here. Scores of earlier stages it uses are left in ``memo`` (the
    tie-break reads them).
    """
    k = max([_decimals(p.weight) for p in stage.parts] + [max(0, _decimals(stage.points_per_lecture) - 2)])
    scale = 10 ** k
    getters = []
    for part in stage.parts:
        weight = int(part.weight * scale)
        if part.ref in PARTS:
            getters.append((part.ref, None, weight))
        else:
            getters.append((part.ref, _compile(stages, stages[part.ref]), weight))
    points = int(stage.points_per_lecture * 100 * scale)
    half = scale // 2

    def value(sheet: Sheet, memo: dict) -> int | None:
        total = 0
        parts = sheet.parts
        for ref, inner, weight in getters:
            if inner is None:
                held = parts.get(ref)
                if held is None:
                    return None
                total += held.cents * weight
            else:
                score = memo[ref] = inner(sheet, memo)
                if score is None:
                    return None
                total += score * weight
        if points:
            total += sheet.lecture_count * points
        return (total + half) // scale if scale > 1 else total

    return value


def rank(scheme: Scheme, stage_name: str, sheets, entrants: set[int] | None = None) -> Ranking:
    """Rank the sheets for one stage.

    ``entrants``: the candidates advanced from the stage's ``after`` stage (None when
    the stage has no entry condition, or that stage is not closed yet).
    """
    # The loop allocates a few objects per sheet and creates no cycles: the cyclic
    # collector would only rescan the whole cohort again and again (a third of the time).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _rank(scheme, stage_name, sheets, entrants)
    finally:
        if collecting:
            gc.enable()


def _rank(scheme: Scheme, stage_name: str, sheets, entrants: set[int] | None) -> Ranking:
    stage = scheme.stage(stage_name)
    stages = {s.name: s for s in scheme.stages}
    not_entered = f"not advanced from stage {stage.after} ({scheme.stage(stage.after).label})" if stage.after else ""
    keyed, unranked = [], []
    ties = [(ref in PARTS, ref) for ref in stage.tie_break]
    score_of = _compile(stages, stage)
    for sheet in sheets:
        if not sheet.approved:
            unranked.append(Unranked(sheet, "not approved by registration (no candidate_approved received)",
                                     scheme, stage_name))
            continue
        if sheet.withdrawn:
            unranked.append(Unranked(sheet, "withdrawn", scheme, stage_name))
            continue
        if entrants is not None and sheet.candidate_id not in entrants:
            unranked.append(Unranked(sheet, not_entered, scheme, stage_name))
            continue
        memo: dict = {}
        cents = score_of(sheet, memo)
        if cents is None:
            missing = stage_scores(scheme, sheet)[stage_name].missing
            unranked.append(Unranked(sheet, "missing " + ", ".join(missing), scheme, stage_name))
            continue
        parts = sheet.parts
        # (score, tie-break parts…) descending, then registration time and candidate id ascending;
        # the candidate id is unique, so the comparison never reaches the sheet behind it
        keyed.append((-cents, *[-(parts[ref].cents if is_part else memo[ref]) for is_part, ref in ties],
                      sheet.registered_at or _NO_TIME, sheet.candidate_id, sheet, cents))
    keyed.sort()
    ranked = [Ranked(i + 1, item[-2], item[-1], scheme, stage_name) for i, item in enumerate(keyed)]
    unranked.sort(key=lambda u: u.sheet.candidate_id)
    return Ranking(stage, ranked, unranked)


# ---- decisions -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Decision:
    candidate_id: int
    advanced: bool
    rank: int | None
    score: Decimal | None
    reason: str


def decide(ranking: Ranking) -> list[Decision]:
    """Top ``cutoff`` of the ranked advance; the rest of the ranked and every unranked do not."""
    stage = ranking.stage
    out = []
    for r in ranking.ranked:
        if r.rank <= stage.cutoff:
            out.append(Decision(r.sheet.candidate_id, True, r.rank, r.value,
                                f"rank {r.rank} within the top {stage.cutoff}"))
        else:
            out.append(Decision(r.sheet.candidate_id, False, r.rank, r.value,
                                f"rank {r.rank} below the cut-off of {stage.cutoff}"))
    for u in ranking.unranked:
        out.append(Decision(u.sheet.candidate_id, False, None, None, f"unranked: {u.reason}"))
    return sorted(out, key=lambda d: d.candidate_id)


def changed_decisions(previous: dict[int, bool], decisions: list[Decision]) -> list[Decision]:
    """On closing again after a re-open, only candidates whose advance/not-advance flipped (or who are new)."""
    return [d for d in decisions if previous.get(d.candidate_id) is not d.advanced]


def affected_stages(scheme: Scheme, closed: list[str], event_name: str, part: str | None) -> list[str]:
    """Closed stages an event after closing could have changed: those get a flag."""
    found = []
    for name in closed:
        inputs = scheme.inputs_of(name)
        if event_name in (APPROVED, WITHDRAWN):
            found.append(name)
        elif event_name in (LECTURE_OK, LECTURE_REVOKED):
            if "lectures" in inputs:
                found.append(name)
        elif part in inputs:
            found.append(name)
    return found
