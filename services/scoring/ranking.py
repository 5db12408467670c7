"""Scoring rules, second half: stage scores, rankings and the decisions taken at a cut-off.

The arithmetic and the order are described in ``domain``'s docstring; this module
holds the part that turns folded sheets into a ranking (exact integer hundredths in
the hot loop, proven equal to the Decimal explanation) and the decisions of a close.
"""
from __future__ import annotations

import gc
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal

from .domain import (
    APPROVED, LECTURE_OK, LECTURE_REVOKED, PARTS, WITHDRAWN, ZERO, Scheme, Sheet, Stage, half_up,
)


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
