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
from fractions import Fraction
from math import gcd

from .domain import (
    APPROVED, EXACT, EXAM, EXAM_PARTS, EXPERT, EXPERT_PARTS, LECTURE_OK, LECTURE_REVOKED, PARTS, WITHDRAWN, Scheme, Sheet, Stage, half_up_exact,
)


# ---- scores and rankings ---------------------------------------------------------------------

@dataclass(frozen=True)
class Component:
    ref: str
    weight: Decimal
    score: Decimal | None             # the two-place figure as published (by training, or by the earlier stage)
    contribution: Fraction | None     # value × weight, exact
    value: Fraction | None = None     # what entered the sum under the scheme's rounding
    exact: Fraction | None = None     # the exact figure behind ``score`` (a panel's mean, an earlier stage's sum)


@dataclass(frozen=True)
class Rounded:
    """One rounding applied on the way to a stage score: what, from which exact value, to which figure."""
    of: str
    kind: str            # panel_mean | stage_reference | stage_score
    exact: Fraction
    rounded: Decimal


@dataclass(frozen=True)
class StageScore:
    stage: str
    score: Decimal | None
    components: tuple[Component, ...]
    lectures: int
    lecture_points: Decimal
    missing: tuple[str, ...]
    exact: Fraction | None = None
    roundings: tuple[Rounded, ...] = ()


def stage_scores(scheme: Scheme, sheet: Sheet) -> dict[str, StageScore]:
    """Every stage's score for one sheet, in scheme order (later stages reuse earlier ones)."""
    out: dict[str, StageScore] = {}
    for stage in scheme.stages:
        out[stage.name] = _stage_score(scheme, stage, sheet, out)
    return out


def _stage_score(scheme: Scheme, stage: Stage, sheet: Sheet, earlier: dict[str, StageScore]) -> StageScore:
    rounding = scheme.rounding
    components, missing, roundings = [], [], []
    total = Fraction(0)
    for part in stage.parts:
        if part.ref in PARTS:
            held = sheet.parts.get(part.ref)
            published, exact = (held.score, held.exact) if held else (None, None)
            value = held.value(rounding) if held else None
            if held is not None and value != exact:
                roundings.append(Rounded(part.ref, "panel_mean", exact, published))
        else:
            before = earlier[part.ref]
            published, exact = before.score, before.exact
            value = None if exact is None else (exact if rounding.stage_references == EXACT else Fraction(published))
            if value is not None and value != exact:
                roundings.append(Rounded(part.ref, "stage_reference", exact, published))
        if value is None:
            missing.append(part.ref)
            components.append(Component(part.ref, part.weight, None, None))
            continue
        contribution = value * Fraction(part.weight)
        total += contribution
        components.append(Component(part.ref, part.weight, published, contribution, value, exact))
    lectures = sheet.lecture_count
    points = lectures * stage.points_per_lecture
    exact_total = None if missing else total + Fraction(points)
    score = None if missing else half_up_exact(exact_total)
    if score is not None:
        roundings.append(Rounded(stage.name, "stage_score", exact_total, score))
    return StageScore(stage.name, score, tuple(components), lectures, points, tuple(missing), exact_total,
                      tuple(roundings))


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


def _compile(stages: dict[str, Stage], stage: Stage, rounding):
    """A stage score as one closure ``value(sheet, memo) -> (numerator, denominator) | None``.

    Exactly the arithmetic of ``stage_scores``, in integers: the value is
    ``numerator / denominator`` hundredths, exact. A weight with k decimals becomes
    ``weight × 10^k``; a two-place score is integer hundredths over 1, a panel's exact
    mean its total in hundredths over the panel size. The caller rounds half up with
    ``(2n + d) // 2d`` (these sums are non-negative). A full re-rank runs it for every
    sheet, and integers are several times faster than Decimal or Fraction here. The
    published (rounded) scores of earlier stages it uses are left in ``memo`` (the
    tie-break reads them).
    """
    k = max([_decimals(p.weight) for p in stage.parts] + [max(0, _decimals(stage.points_per_lecture) - 2)])
    scale = 10 ** k
    exact_means = rounding.panel_means == EXACT
    exact_refs = rounding.stage_references == EXACT
    getters = []
    for part in stage.parts:
        weight = int(part.weight * scale)
        if part.ref in PARTS:
            getters.append((part.ref, None, weight))
        else:
            getters.append((part.ref, _compile(stages, stages[part.ref], rounding), weight))
    points = int(stage.points_per_lecture * 100 * scale)

    def value(sheet: Sheet, memo: dict):
        num, den = 0, 1
        parts = sheet.parts
        for ref, inner, weight in getters:
            if inner is None:
                held = parts.get(ref)
                if held is None:
                    return None
                if exact_means and held.exact.denominator != 1:
                    hundredths = held.exact * 100
                    n, d = hundredths.numerator, hundredths.denominator
                else:
                    n, d = held.cents, 1
            else:
                inner_value = inner(sheet, memo)
                if inner_value is None:
                    return None
                n, d = inner_value
                cents = memo[ref] = (2 * n + d) // (2 * d)
                if not exact_refs:
                    n, d = cents, 1
            if d == den:
                num += n * weight
            else:
                num, den = num * d + n * weight * den, den * d
        if points:
            num += sheet.lecture_count * points * den
        den *= scale
        if den != 1:
            common = gcd(num, den)
            if common != 1:
                num, den = num // common, den // common
        return num, den

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
    compiled = _compile(stages, stage, scheme.rounding)
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
        exact = compiled(sheet, memo)
        if exact is None:
            missing = stage_scores(scheme, sheet)[stage_name].missing
            unranked.append(Unranked(sheet, "missing " + ", ".join(missing), scheme, stage_name))
            continue
        cents = (2 * exact[0] + exact[1]) // (2 * exact[1])
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


# ---- readiness before a close ----------------------------------------------------------------

# Which events feed what a stage needs: (source service, event name).
_REGISTRATION = (("registration", APPROVED), ("registration", WITHDRAWN))
_LECTURES = (("subsidies", LECTURE_OK), ("subsidies", LECTURE_REVOKED))


def feeding_events(scheme: Scheme, stage_name: str) -> list[tuple[str, str]]:
    """The events a stage's scores come from: approvals always, training's scores for its parts, lectures."""
    inputs = scheme.inputs_of(stage_name)
    found = list(_REGISTRATION)
    if inputs & set(EXAM_PARTS):
        found.append(("training", EXAM))
    if inputs & set(EXPERT_PARTS):
        found.append(("training", EXPERT))
    if "lectures" in inputs:
        found += list(_LECTURES)
    return found


def scores_readiness(scheme: Scheme, stage_name: str, sheets, entrants: set[int] | None, limit: int = 1000) -> dict:
    """The scores a stage needs, how many arrived, and who lacks which part.

    Those taking part: approved, not withdrawn, and advanced from the ``after`` stage once it is
    closed. Lectures add points but are never "missing": a candidate may have given none.
    """
    inputs = scheme.inputs_of(stage_name)
    needs = [p for p in PARTS if p in inputs]
    taking_part = [s for s in sheets if s.approved and not s.withdrawn
                   and (entrants is None or s.candidate_id in entrants)]
    arrived = {p: 0 for p in needs}
    missing = []
    for sheet in taking_part:
        lacking = []
        for part in needs:
            if part in sheet.parts:
                arrived[part] += 1
            else:
                lacking.append(part)
        if lacking:
            missing.append({"candidate_id": sheet.candidate_id, "name": sheet.name, "parts": lacking})
    return {
        "needs": needs, "counts_lectures": "lectures" in inputs, "taking_part": len(taking_part),
        "parts": [{"part": p, "label": PARTS[p], "arrived": arrived[p], "missing": len(taking_part) - arrived[p]}
                  for p in needs],
        "missing_total": len(missing), "missing": missing[:limit],
    }


def in_flight(consumers: list[dict], feeding: list[tuple[str, str]], unavailable: list[str],
              queued: dict[str, int | None] | None) -> dict:
    """From the lag report (``shared.lag.combine``) of this service's own handlers: is any event a stage
    needs still on its way? Published but not processed, waiting in its producer's outbox, queued at the
    broker, or unknown because the producer or the broker did not answer."""
    wanted = {f"wsli.{source}.{name}.v1" for source, name in feeding}
    rows = []
    for c in consumers:
        if c["event_type"] not in wanted:
            continue
        rows.append({"handler": c["handler"], "source": c["source"], "event": c["event"],
                     "published": c["published"], "processed": c["processed"], "behind": c["behind"],
                     "waiting_in_outbox": c["waiting_in_outbox"],
                     "queued": None if queued is None else queued.get(c["handler"])})
    sources = sorted({source for source, _ in feeding})
    unknown = sorted(set(unavailable) & set(sources))
    clear = not unknown and queued is not None and all(
        not r["behind"] and not r["waiting_in_outbox"] and not r["queued"] for r in rows)
    return {"clear": clear, "sources": sources, "unavailable": unknown, "broker": "ok" if queued is not None
            else "unavailable", "consumers": rows}
