"""Rules of the work-safety liability insurance service programme.

Pure functions over plain values: no I/O, no framework; ``now`` is always passed in.
The numbers (tiers, rates, fund ratio, deadlines, appraisal weights) live in
``data/programme_2017.yml`` so a changed rule is a changed file.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from pathlib import Path

import yaml

from shared.errors import RuleViolation
from shared.lifecycle import Lifecycle
from shared.workdays import CalendarOutOfRange, add_working_days, date_deadline_passed, local_date

DATA = Path(__file__).parent / "data" / "programme_2017.yml"

TIER_LABELS = {"mandatory": "强制实施", "key": "重点推行", "encouraged": "积极推动"}
HAZARD_LEVELS = {"general": "一般隐患", "major": "重大隐患"}
SERVICE_KINDS = {"consultation": "安全咨询", "training": "安全培训", "inspection": "隐患排查", "lecture": "安全宣讲"}
APPRAISAL_DIMENSIONS = {
    "organisation": "组织管理", "underwriting": "承保服务", "claims": "理赔服务",
    "prevention": "事故预防服务", "publicity": "宣传培训", "complaints": "客户投诉",
}


@lru_cache(maxsize=1)
def programme() -> dict:
    with DATA.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


# ---- tiers -----------------------------------------------------------------------------------

def tier_of(industry: str, rules: dict | None = None) -> str:
    tiers = (rules or programme())["tiers"]
    for tier in ("mandatory", "key"):
        if industry in tiers[tier]:
            return tier
    return "encouraged"


# ---- premiums and the floating rate ----------------------------------------------------------

@dataclass(frozen=True)
class Rate:
    rate_bp: int
    floating: bool
    reason: str


def rate_for(industry: str, previous_policy_claims: int | None, rules: dict | None = None) -> Rate:
    """The rate of a new policy year. ``previous_policy_claims`` is None when there was no
    previous policy year (a first policy pays the base rate)."""
    rules = rules or programme()
    table = rules["rates"]
    row = table["by_industry"].get(industry) or table["by_tier"].get(tier_of(industry, rules)) or table["default"]
    if previous_policy_claims is None:
        return Rate(row["base_bp"], False, "首次投保，适用基准费率")
    if previous_policy_claims == 0:
        return Rate(row["floating_bp"], True, "上一保单年度无理赔，适用下浮费率")
    return Rate(row["base_bp"], False, f"上一保单年度发生理赔{previous_policy_claims}起，适用基准费率")


def premium_fen(insured_workers: int, sum_insured_fen: int, rate_bp: int) -> int:
    """workers × sum insured × rate, rounded half up to the fen (exact integer arithmetic)."""
    numerator = insured_workers * sum_insured_fen * rate_bp
    return (numerator + 5000) // 10000


def fund_credit_fen(premium: int, ratio_bp: int | None = None) -> int:
    """The prevention-fund share of a premium, rounded down: never credit more than was set aside."""
    ratio = programme()["prevention_fund_ratio_bp"] if ratio_bp is None else ratio_bp
    return premium * ratio // 10000


def fund_balance_after(balance: int, kind: str, amount: int) -> int:
    """What the ledger row will hold; the database refuses a negative result on its own."""
    if amount <= 0:
        raise RuleViolation("an amount must be positive", {"amount_fen": ["must be > 0"]}, rule="fund_amount")
    return balance + amount if kind == "credit" else balance - amount


# ---- hazards ---------------------------------------------------------------------------------

FOUND, RECTIFYING, AWAITING, CLOSED, REOPENED = "found", "rectifying", "awaiting_reinspection", "closed", "reopened"
HAZARD_STATUSES = (FOUND, RECTIFYING, AWAITING, CLOSED, REOPENED)
OPEN_HAZARD = (FOUND, RECTIFYING, AWAITING, REOPENED)

# action -> (states it may start from, state it leads to)
HAZARD_TRANSITIONS = {
    "rectify": ((FOUND, REOPENED, RECTIFYING), RECTIFYING),      # the enterprise uploads evidence
    "request_reinspection": ((RECTIFYING,), AWAITING),
    "pass": ((AWAITING,), CLOSED),                                # the re-inspection confirms it
    "fail": ((AWAITING,), REOPENED),                              # "corrected, violations remaining"
}


HAZARD_LIFECYCLE = Lifecycle("a hazard", HAZARD_TRANSITIONS, rule="hazard_transition")
next_hazard_status = HAZARD_LIFECYCLE.next  # a refused move: 422 naming the statuses it may start from


DEADLINE_PENDING = {
    # the official holiday arrangement of a year the deadline reaches into is not known yet:
    # the deadline is computed once an agency adds it (``wsli calendar add``)
    "calendar_range": "整改期限待定：所需年份的法定节假日安排尚未录入，录入后自动计算",
}


def rectification_working_days(level: str, working_days: int | None = None) -> int:
    """The working days allowed to rectify: as set on the hazard, else the programme's for its level."""
    return working_days or programme()["rectification_working_days"][level]


def rectification_deadline(found_on: date, working_days: int) -> date:
    """``working_days`` official working days after the visit. A working day is never guessed:
    past the known holiday calendar this raises ``CalendarOutOfRange``."""
    return add_working_days(found_on, working_days)


def deadline_or_pending(found_on: date, working_days: int) -> tuple[date | None, str | None]:
    """The deadline, or ``(None, reason)`` while the calendar does not cover it (a key of DEADLINE_PENDING)."""
    try:
        return rectification_deadline(found_on, working_days), None
    except CalendarOutOfRange:
        return None, "calendar_range"


def local_today(now: datetime) -> date:
    return local_date(now)


def is_overdue(status: str, deadline: date | None, now: datetime) -> bool:
    """Open past the end of its deadline day (Asia/Shanghai): computed, never stored by hand.
    A hazard whose deadline is still pending is not overdue."""
    return status in OPEN_HAZARD and deadline is not None and date_deadline_passed(deadline, now)


def major_escalation_due(reported_at: datetime, acknowledged: bool, now: datetime, hours: int | None = None) -> bool:
    limit = timedelta(hours=hours or programme()["major_ack_hours"])
    return not acknowledged and now - reported_at >= limit


# ---- inspections -----------------------------------------------------------------------------

PLANNED, ASSIGNED, SCHEDULED, DONE = "planned", "assigned", "scheduled", "done"
INSPECTION_TRANSITIONS = {
    "assign": ((PLANNED, ASSIGNED, SCHEDULED), ASSIGNED),
    "schedule": ((ASSIGNED, SCHEDULED), SCHEDULED),
    "record": ((ASSIGNED, SCHEDULED), DONE),
}


INSPECTION_LIFECYCLE = Lifecycle("an inspection", INSPECTION_TRANSITIONS, rule="inspection_transition")
next_inspection_status = INSPECTION_LIFECYCLE.next  # a refused move: 422 naming the statuses it may start from


def done_on_time(visited_on: date | None, period_end: date) -> bool:
    return visited_on is not None and visited_on <= period_end


# ---- claims ----------------------------------------------------------------------------------

REPORTED, SURVEYED, SETTLED = "reported", "surveyed", "settled"
CLAIM_TRANSITIONS = {
    "survey": ((REPORTED,), SURVEYED),
    "advance": ((REPORTED, SURVEYED), None),   # rescue and medical costs may be advanced before the survey
    "settle": ((SURVEYED,), SETTLED),
}


CLAIM_LIFECYCLE = Lifecycle("a claim", CLAIM_TRANSITIONS, rule="claim_transition")


def next_claim_status(current: str, action: str) -> str:
    """The status after ``action``; an action leading nowhere (an advance) keeps the status."""
    return CLAIM_LIFECYCLE.next(current, action) or current


# ---- service requests and ratings ------------------------------------------------------------

REQUESTED, REQ_ASSIGNED, REQ_CLOSED = "requested", "assigned", "closed"
REQUEST_TRANSITIONS = {"assign": ((REQUESTED, REQ_ASSIGNED), REQ_ASSIGNED), "close": ((REQ_ASSIGNED,), REQ_CLOSED)}


REQUEST_LIFECYCLE = Lifecycle("a service request", REQUEST_TRANSITIONS, rule="request_transition")
next_request_status = REQUEST_LIFECYCLE.next  # a refused move: 422 naming the statuses it may start from


def ensure_rating_window(closed_at: datetime | None, now: datetime, days: int | None = None) -> None:
    if closed_at is None:
        raise RuleViolation("only a closed service can be rated", {"status": ["not closed"]}, rule="rating_not_closed")
    window = days or programme()["rating_window_days"]
    if now - closed_at > timedelta(days=window):
        raise RuleViolation(f"ratings are taken within {window} days of closing", {"score": ["window has passed"]},
                            rule="rating_window")


# ---- coverage --------------------------------------------------------------------------------

def share(part: int, whole: int) -> str:
    """A percentage with two places as a decimal string; '0.00' of nothing."""
    if not whole:
        return "0.00"
    return str((Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.01"), ROUND_HALF_UP))


def targets(insured_share: str, mandatory_share: str, rules: dict | None = None) -> dict:
    """Each coverage target with whether the figures meet it (≥ 6 % of units, 100 % mandatory)."""
    wanted = (rules or programme())["coverage_targets"]
    have = {"insured_share": insured_share, "mandatory_share": mandatory_share}
    return {k: {"target": str(Decimal(v)), "actual": have[k], "met": Decimal(have[k]) >= Decimal(v)}
            for k, v in wanted.items()}


def hazard_figures(counts: dict[tuple[str, str], int]) -> dict:
    """counts: (level, status) -> n. Found = all, rectified = closed, as Nanhai's report (佛山市南海区安责险事故预防共同服务体模式) counts them."""
    general = sum(n for (level, _), n in counts.items() if level == "general")
    major = sum(n for (level, _), n in counts.items() if level == "major")
    rectified = sum(n for (_, status), n in counts.items() if status == CLOSED)
    return {"general": general, "major": major, "found": general + major, "rectified": rectified,
            "open": general + major - rectified}


# ---- insurer appraisal -----------------------------------------------------------------------

TWO = Decimal("0.01")


def _dec(value) -> Decimal:
    return Decimal(str(value))


def prevention_score(inspections_due: int, on_time: int, hazards_found: int, hazards_closed: int,
                     rating_sum: int, ratings: int, rules: dict | None = None) -> tuple[Decimal, list[dict]]:
    """Prevention service out of 100: on-time inspections, closed hazards, enterprise ratings.

    A part with nothing to measure (no hazards found, no ratings) counts as full marks:
    an insurer is not penalised for a clean year.
    """
    parts_w = (rules or programme())["appraisal"]["prevention_parts"]
    ratios = {
        "inspections_on_time": (_dec(on_time) / inspections_due) if inspections_due else Decimal(1),
        "hazards_closed": (_dec(hazards_closed) / hazards_found) if hazards_found else Decimal(1),
        "ratings": (_dec(rating_sum) / (5 * ratings)) if ratings else Decimal(1),
    }
    total, parts = Decimal(0), []
    for name, weight in parts_w.items():
        points = (ratios[name] * weight).quantize(TWO, ROUND_HALF_UP)
        total += points
        parts.append({"part": name, "weight": weight, "ratio": str(ratios[name].quantize(Decimal("0.0001"), ROUND_HALF_UP)),
                      "points": str(points)})
    return total, parts


def stars_for(score: Decimal, rules: dict | None = None) -> int:
    for threshold, stars in (rules or programme())["appraisal"]["stars"]:
        if score >= threshold:
            return stars
    return 1


def appraise(scores: dict[str, Decimal], rules: dict | None = None) -> dict:
    """Weighted total of the six dimensions (each 0–100) and the stars it earns, explained."""
    weights = (rules or programme())["appraisal"]["weights"]
    total, lines = Decimal(0), []
    for dim, weight in weights.items():
        score = _dec(scores.get(dim, 0))
        contribution = (score * weight / 100).quantize(TWO, ROUND_HALF_UP)
        total += contribution
        lines.append({"dimension": dim, "label": APPRAISAL_DIMENSIONS[dim], "score": str(score.quantize(TWO)),
                      "weight": weight, "contribution": str(contribution)})
    return {"total": str(total.quantize(TWO)), "stars": stars_for(total, rules), "dimensions": lines}


# ---- the risk map's district areas ---------------------------------------------------------------
# No licensed boundary data ships with the platform (what the npm registry offers for China's districts
# is AMap's, not free to redistribute), so a district is drawn as the area its insured enterprises
# cover: the convex hull of their positions, each widened by a small margin so one or two enterprises
# still give an area. It says where the district's enterprises are, not where its legal border runs.

HULL_MARGIN_DEGREES = 0.01     # about 1 km around each enterprise
_MARGIN_STEPS = 8


def _cross(o, a, b) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def convex_hull(points) -> list[tuple[float, float]]:
    """The convex hull of (lon, lat) points, counter-clockwise, first point not repeated (Andrew's monotone chain)."""
    pts = sorted(set((float(x), float(y)) for x, y in points))
    if len(pts) <= 2:
        return pts
    lower: list = []
    for p in pts:
        while len(lower) >= 2 and _cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    upper: list = []
    for p in reversed(pts):
        while len(upper) >= 2 and _cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return lower[:-1] + upper[:-1]


def enterprise_area(points, margin: float = HULL_MARGIN_DEGREES) -> dict | None:
    """A GeoJSON Polygon around enterprise positions: the hull of each point widened to an octagon of
    ``margin`` degrees; None without positions."""
    import math

    spread = [(x + margin * math.cos(2 * math.pi * k / _MARGIN_STEPS), y + margin * math.sin(2 * math.pi * k / _MARGIN_STEPS))
              for x, y in points for k in range(_MARGIN_STEPS)]
    ring = convex_hull(spread)
    if len(ring) < 3:
        return None
    ring = [[round(x, 6), round(y, 6)] for x, y in ring]
    return {"type": "Polygon", "coordinates": [ring + [ring[0]]]}
