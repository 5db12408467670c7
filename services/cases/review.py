"""Expert scores, normalisation, ranking and levels. Pure: no I/O, no framework.

Arithmetic. An expert marks each of the five principles 0–100 (two places at most); the
expert's weighted total is the exact sum of mark × weight (weights from the campaign,
summing to 1). A case's score is the exact mean of its experts' totals; shown rounded
half up to two places, compared exact.

Normalisation (per expert, z-score). For each expert, over every total that expert gave
in the campaign: z = (total − mean) / population standard deviation. An expert who gave
one score, or the same score to every case, has no spread: their z is 0 (their marks
say nothing about order). A case's normalised score is the mean z of its experts, to
six places half up. So a harsh or lenient expert shifts nothing, and a case is not
decided by whom it drew.

Disagreement. A case whose highest and lowest expert totals differ by more than the
campaign's threshold is flagged for deliberation (the flag never changes the score).

Ranking. Only cases whose assigned experts have all scored are ranked. Order: the
campaign's basis (raw mean or normalised) higher first; then the other measure higher
first; then the higher mean 实效性 mark (effect is what the campaign is for); then the
earlier submission; then the lower case id. The order is total.

Levels. Down the ranking: the first ``best`` count of cases reaching the best floor
(when set) are best, the next ``excellent`` count reaching the excellent floor are
excellent, the rest not selected. The operator confirms, and may override a case with
a reason.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, localcontext

from shared.errors import ValidationFailed

from .domain import LEVELS, PRINCIPLES, Campaign

CENT = Decimal("0.01")
MICRO = Decimal("0.000001")
ZERO = Decimal(0)
HUNDRED = Decimal(100)


def half_up(value: Decimal, step: Decimal = CENT) -> Decimal:
    return value.quantize(step, rounding=ROUND_HALF_UP)


def weighted_total(marks: dict[str, Decimal], weights: dict[str, Decimal]) -> Decimal:
    missing = [p for p in PRINCIPLES if p not in marks]
    if missing:
        raise ValidationFailed("every principle needs a mark", {f"marks.{p}": ["required"] for p in missing})
    for p, v in marks.items():
        if p not in PRINCIPLES:
            raise ValidationFailed("unknown principle", {f"marks.{p}": [f"must be one of {', '.join(PRINCIPLES)}"]})
        if not (ZERO <= v <= HUNDRED) or v != v.quantize(CENT):
            raise ValidationFailed("a mark is 0–100 with at most two places", {f"marks.{p}": [f"{v} is not"]})
    return sum((marks[p] * weights[p] for p in PRINCIPLES), ZERO)


@dataclass(frozen=True)
class Score:
    case_id: int
    expert: str
    total: Decimal
    effectiveness: Decimal


@dataclass(frozen=True)
class Entry:
    case_id: int
    submitted_at: datetime
    assigned: int                    # experts assigned


@dataclass
class CaseResult:
    case_id: int
    totals: dict[str, Decimal]
    mean: Decimal | None
    normalised: Decimal | None
    spread: Decimal | None
    disagreement: bool
    effectiveness: Decimal | None
    complete: bool
    rank: int | None = None
    proposed_level: str | None = None
    z: dict[str, Decimal] = field(default_factory=dict)


def _sqrt(value: Decimal) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = 28
        return value.sqrt()


def expert_stats(scores: list[Score]) -> dict[str, tuple[Decimal, Decimal]]:
    """expert -> (mean, population standard deviation) over every total they gave."""
    by_expert: dict[str, list[Decimal]] = {}
    for s in scores:
        by_expert.setdefault(s.expert, []).append(s.total)
    stats = {}
    for expert, totals in by_expert.items():
        n = Decimal(len(totals))
        mean = sum(totals, ZERO) / n
        var = sum(((t - mean) ** 2 for t in totals), ZERO) / n
        stats[expert] = (mean, _sqrt(var) if var > 0 else ZERO)
    return stats


def results(campaign: Campaign, entries: list[Entry], scores: list[Score]) -> list[CaseResult]:
    """Per case: exact mean, normalised score, spread and flag, rank and proposed level."""
    stats = expert_stats(scores)
    by_case: dict[int, list[Score]] = {}
    for s in scores:
        by_case.setdefault(s.case_id, []).append(s)
    out: list[CaseResult] = []
    submitted = {}
    for e in entries:
        submitted[e.case_id] = e.submitted_at
        got = by_case.get(e.case_id, [])
        totals = {s.expert: s.total for s in got}
        complete = e.assigned > 0 and len(got) >= e.assigned
        if not got:
            out.append(CaseResult(e.case_id, {}, None, None, None, False, None, False))
            continue
        n = Decimal(len(got))
        mean = sum(totals.values(), ZERO) / n
        z = {}
        for s in got:
            mu, sd = stats[s.expert]
            z[s.expert] = half_up((s.total - mu) / sd, MICRO) if sd else ZERO
        normalised = half_up(sum(z.values(), ZERO) / n, MICRO)
        spread = max(totals.values()) - min(totals.values())
        eff = sum((s.effectiveness for s in got), ZERO) / n
        out.append(CaseResult(e.case_id, totals, mean, normalised, spread,
                              spread > campaign.disagreement_threshold, eff, complete, z=z))
    ranked = [r for r in out if r.complete]
    raw_first = campaign.ranking_basis == "raw"
    ranked.sort(key=lambda r: (
        -(r.mean if raw_first else r.normalised), -(r.normalised if raw_first else r.mean),
        -r.effectiveness, submitted[r.case_id], r.case_id))
    quotas = dict(campaign.levels)
    for i, r in enumerate(ranked, start=1):
        r.rank = i
        r.proposed_level = "not_selected"
        for level in ("best", "excellent"):
            floor = campaign.min_scores.get(level)
            if quotas.get(level, 0) > 0 and (floor is None or r.mean >= floor):
                r.proposed_level = level
                quotas[level] -= 1
                break
    return sorted(out, key=lambda r: (r.rank is None, r.rank or 0, r.case_id))


def explain(campaign: Campaign, result: CaseResult) -> dict:
    """How a case's figures came about, in the words shown to staff (like scoring's explanation)."""
    lines = []
    for expert, total in sorted(result.totals.items()):
        lines.append(f"专家 {expert}：加权总分 {half_up(total)}，标准分 {result.z.get(expert, ZERO)}")
    if result.mean is not None:
        lines.append(f"平均分 = {' + '.join(str(half_up(t)) for _, t in sorted(result.totals.items()))} ÷ "
                     f"{len(result.totals)} = {half_up(result.mean)}")
        lines.append(f"标准化得分（各专家标准分的平均） = {result.normalised}")
        lines.append(f"专家分差 {half_up(result.spread)}，阈值 {campaign.disagreement_threshold}"
                     + ("：分歧较大，提交论证" if result.disagreement else ""))
    if result.rank:
        basis = "平均分" if campaign.ranking_basis == "raw" else "标准化得分"
        lines.append(f"按{basis}排名第 {result.rank}，建议级别：{LEVELS[result.proposed_level]}")
    else:
        lines.append("尚有专家未评分，暂不排名")
    return {"case_id": result.case_id, "lines": lines}
