"""Case-collection rules (seed 001 and its 附件一): campaign, lifecycle, form, conflicts, notice.

Pure functions and constants: no I/O, no framework. ``now`` is always passed in.
Format checks of the report live in ``report``; scores, ranking and levels in ``review``.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import yaml

from shared.errors import RuleViolation, ValidationFailed
from shared.lifecycle import Lifecycle
from shared.workdays import add_working_days, is_working_day, local_date, date_deadline_passed

from . import report

DATA_DIR = Path(__file__).parent / "data"

# 001 §一: who may submit (organisations only, never individuals).
ORG_KINDS = {
    "insurer": "承保安责险的保险公司（各级机构）",
    "service_org": "安全生产技术服务机构",
    "broker": "保险经纪公司",
    "social_org": "社会组织",
    "insured_enterprise": "投保企业",
}

# 001 §四(一)1: four channels; the first three need a recommender's opinion and approval.
CHANNELS = {
    "organised": "组织报送",
    "unit_recommended": "单位推荐",
    "expert_recommended": "专家推荐",
    "self": "自行申报",
}
RECOMMENDED = ("organised", "unit_recommended", "expert_recommended")

LEVELS = {"best": "最佳案例", "excellent": "优秀案例", "not_selected": "未入选"}
SELECTED = ("best", "excellent")

# ---- lifecycle ----------------------------------------------------------------------------------

SUBMITTED = "submitted"
SCREENED = "screened"            # passed the initial screening
SCREEN_FAILED = "screen_failed"
SITE_VISITED = "site_visited"
IN_REVIEW = "in_review"          # experts assigned, scoring
DELIBERATION = "deliberation"    # every assigned expert scored; the panel discusses
LEVELLED = "levelled"            # best / excellent / not selected, confirmed by the operator
ON_NOTICE = "on_notice"          # 公示
RELEASED = "released"
WITHDRAWN = "withdrawn"
STATUSES = (SUBMITTED, SCREENED, SCREEN_FAILED, SITE_VISITED, IN_REVIEW, DELIBERATION, LEVELLED, ON_NOTICE,
            RELEASED, WITHDRAWN)
STATUS_LABELS = {
    SUBMITTED: "已申报", SCREENED: "初筛通过", SCREEN_FAILED: "初筛未通过", SITE_VISITED: "已实地调研",
    IN_REVIEW: "专家评审中", DELIBERATION: "论证中", LEVELLED: "已定级", ON_NOTICE: "公示中",
    RELEASED: "已发布", WITHDRAWN: "已撤回",
}

# action -> (states it may start from, state it leads to)
TRANSITIONS = {
    "screen_pass": ((SUBMITTED,), SCREENED),
    "screen_fail": ((SUBMITTED,), SCREEN_FAILED),
    "site_visit": ((SCREENED, SITE_VISITED), SITE_VISITED),
    "assign": ((SCREENED, SITE_VISITED), IN_REVIEW),
    "top_up": ((IN_REVIEW,), IN_REVIEW),                   # replace an expert who declared a conflict
    "complete_review": ((IN_REVIEW,), DELIBERATION),
    "reopen_review": ((DELIBERATION,), IN_REVIEW),         # a sheet was struck out: the panel is short
    "confirm_level": ((DELIBERATION,), LEVELLED),
    "open_notice": ((LEVELLED,), ON_NOTICE),
    "relevel": ((ON_NOTICE,), ON_NOTICE),                 # an upheld objection changes the level
    "drop_from_notice": ((ON_NOTICE,), LEVELLED),          # ... or finds the case not to be selected
    "release": ((ON_NOTICE,), RELEASED),
    "withdraw": ((SUBMITTED, SCREENED, SITE_VISITED, IN_REVIEW, DELIBERATION, LEVELLED, ON_NOTICE), WITHDRAWN),
}


class CaseLifecycle(Lifecycle):
    """The platform's transition check, refusing in the campaign's own words (organisations read them)."""

    def next(self, current: str, action: str) -> str:
        allowed_from, to = self.transitions[action]
        if current not in allowed_from:
            raise RuleViolation(
                f"案例当前状态为“{STATUS_LABELS.get(current, current)}”，不能执行此操作（{action}）",
                {"status": [f"is {current}; {action} needs one of: {', '.join(allowed_from)}"]}, rule=self.rule)
        return to


CASE = CaseLifecycle("a case", TRANSITIONS)
next_status = CASE.next



COUNTING_RULE = ("字数按以下规则统计：每个汉字、每个全角标点符号计 1 字；连续的英文字母或数字计 1 字"
                 "（如“AQ9010”计 1 字，“2023年”计 2 字）；空格和半角标点不计。")


# ---- campaign -----------------------------------------------------------------------------------

PRINCIPLES = {
    "authenticity": "真实性",
    "compliance": "合规性",
    "advancement": "先进性",
    "replicability": "可推广性",
    "effectiveness": "实效性",
}


@dataclass(frozen=True)
class Campaign:
    year: int
    title: str
    deadline: date
    categories: dict[str, str]          # code -> label; "other" takes a free text
    levels: dict[str, int]              # best / excellent -> how many
    min_scores: dict[str, Decimal]      # optional floor per level (absent: none)
    weights: dict[str, Decimal]         # principle -> weight, sum 1
    experts_per_case: int
    disagreement_threshold: Decimal     # points between the highest and lowest expert total
    notice_working_days: int
    ranking_basis: str                  # raw | normalised


def campaign_from_data(data: dict) -> Campaign:
    """Build a campaign from schema-validated data and check what ties its parts together."""
    errors: dict[str, list[str]] = {}
    weights = {p["principle"]: p["weight"] for p in data["scoring_form"]}
    if set(weights) != set(PRINCIPLES) or len(data["scoring_form"]) != len(PRINCIPLES):
        errors["scoring_form"] = [f"list each of the five principles once: {', '.join(PRINCIPLES)}"]
    elif sum(weights.values()) != Decimal(1):
        errors["scoring_form"] = [f"weights must sum to 1, they sum to {sum(weights.values())}"]
    categories = {c["code"]: c["label"] for c in data["categories"]}
    if len(categories) != len(data["categories"]):
        errors["categories"] = ["a category code is listed twice"]
    if "other" not in categories:
        errors.setdefault("categories", []).append("the category 'other' (其他, free text) is required")
    levels = {lv["level"]: lv["count"] for lv in data["levels"]}
    if set(levels) != set(SELECTED) or len(data["levels"]) != 2:
        errors["levels"] = ["give best and excellent once each"]
    if errors:
        raise ValidationFailed("the campaign is inconsistent", errors)
    return Campaign(
        year=data["year"], title=data["title"], deadline=data["deadline"], categories=categories,
        levels=levels, min_scores={lv["level"]: lv["min_score"] for lv in data["levels"]
                                   if lv.get("min_score") is not None},
        weights={k: weights[k] for k in PRINCIPLES}, experts_per_case=data["experts_per_case"],
        disagreement_threshold=data["disagreement_threshold"], notice_working_days=data["notice_working_days"],
        ranking_basis=data["ranking_basis"],
    )


def campaign_to_data(c: Campaign) -> dict:
    """JSON-safe, decimals as strings, so the stored campaign reads back exactly."""
    return {
        "year": c.year, "title": c.title, "deadline": c.deadline.isoformat(),
        "categories": [{"code": k, "label": v} for k, v in c.categories.items()],
        "levels": [{"level": k, "count": v, "min_score": str(c.min_scores[k]) if k in c.min_scores else None}
                   for k, v in c.levels.items()],
        "scoring_form": [{"principle": k, "label": PRINCIPLES[k], "weight": str(v)} for k, v in c.weights.items()],
        "experts_per_case": c.experts_per_case, "disagreement_threshold": str(c.disagreement_threshold),
        "notice_working_days": c.notice_working_days, "ranking_basis": c.ranking_basis,
    }


def published_campaign(year: int) -> dict:
    """The campaign file shipped for a year (2023: seed 001), as plain data for the schema."""
    path = DATA_DIR / f"campaign_{year}.yml"
    if not path.exists():
        raise RuleViolation(f"没有 {year} 年的征集活动文件", {"published": [f"no shipped campaign for {year}"]},
                            rule="campaign_unknown")
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def ensure_campaign_replaceable(cases: int) -> None:
    if cases:
        raise RuleViolation(f"已有 {cases} 件案例依据本活动申报，活动设置不能再替换",
                            {"year": [f"{cases} cases depend on it"]}, rule="campaign_in_use")


def ensure_open(campaign: Campaign, now: datetime) -> None:
    """The deadline runs to the end of its day in Asia/Shanghai."""
    if date_deadline_passed(campaign.deadline, now):
        raise RuleViolation(f"{campaign.year} 年案例征集已于 {campaign.deadline.isoformat()} 截止",
                            {"campaign": [f"deadline {campaign.deadline.isoformat()} has passed"]},
                            rule="submission_deadline")


# ---- the application form (附件一) ----------------------------------------------------------------

def month_index(value: str) -> int:
    year, month = value.split("-")
    return int(year) * 12 + int(month) - 1


def check_form(form: dict, campaign: Campaign, now: datetime) -> None:
    """Cross-field rules of the form; shapes and lengths are the schema's."""
    errors: dict[str, list[str]] = {}
    start, end = form["period_start"], form["period_end"]
    if month_index(start) > month_index(end):
        errors["period_end"] = [f"案例实施周期结束月份 {end} 早于开始月份 {start}"]
    today = local_date(now)
    if form.get("submitted_on") and form["submitted_on"] > today:
        errors["submitted_on"] = [f"报送时间 {form['submitted_on'].isoformat()} 晚于今天"]
    if month_index(end) > today.year * 12 + today.month - 1:
        errors.setdefault("period_end", []).append(f"案例实施周期结束月份 {end} 晚于当前月份")
    if form["category"] not in campaign.categories:
        errors["category"] = [f"must be one of: {', '.join(campaign.categories)}"]
    elif form["category"] == "other" and not (form.get("category_other") or "").strip():
        errors["category_other"] = ["案例类别为“其他”时须具体说明"]
    n = report.count_chars(form["summary"])
    if n > report.SUMMARY_MAX:
        errors["summary"] = [f"案例简介 {n} 字；要求 {report.SUMMARY_MAX} 字以内"]
    channel = form["channel"]
    rec = form.get("recommender")
    if channel in RECOMMENDED and not rec:
        errors["recommender"] = [f"{CHANNELS[channel]}的案例须填写推荐单位或推荐专家"]
    if channel == "self" and rec:
        errors["recommender"] = ["自行申报的案例无需推荐单位或推荐专家"]
    if rec:
        want = "expert" if channel == "expert_recommended" else "unit"
        if rec["kind"] != want:
            errors["recommender.kind"] = [f"{CHANNELS[channel]} needs a recommender of kind {want}"]
        if rec["kind"] == "unit" and not rec.get("credit_code"):
            errors["recommender.credit_code"] = ["推荐单位须填写统一社会信用代码"]
        if rec["kind"] == "expert" and not rec.get("expert_code"):
            errors["recommender.expert_code"] = ["推荐专家须填写专家编号"]
    if errors:
        raise ValidationFailed("the application form is not acceptable", errors)


def ensure_recommendation_complete(channel: str, recommendation: dict | None) -> None:
    """Before screening a recommended case: opinion, seal or signature, approval and contact."""
    if channel not in RECOMMENDED:
        return
    missing = []
    rec = recommendation or {}
    for key, label in (("opinion", "推荐意见"), ("sealed_or_signed_by", "盖章或签字"), ("approved_on", "审核通过日期"),
                       ("contact", "推荐单位联系人")):
        if not rec.get(key):
            missing.append(label)
    if missing:
        raise RuleViolation(f"{CHANNELS[channel]}的案例须在初筛前补齐推荐材料：缺少{'、'.join(missing)}",
                            {"recommendation": missing}, rule="recommendation_incomplete")


# ---- eligibility ----------------------------------------------------------------------------------

def ensure_declared(org) -> None:
    missing = []
    if not org.declared_no_bad_record:
        missing.append("近三年在市场监管、税务、银行等部门无不良行为记录")
    if not org.declared_not_dishonest:
        missing.append("未纳入安全生产违法失信名单")
    if missing:
        raise RuleViolation("申报单位须声明：" + "；".join(missing), {"organisation": missing},
                            rule="eligibility_declaration")


def ensure_not_dishonest(credit_codes: list[str], listed: set[str], stage: str) -> None:
    hit = [c for c in credit_codes if c in listed]
    if hit:
        raise RuleViolation(
            f"申报单位已被列入安全生产违法失信名单（{'、'.join(hit)}），{stage}被拒绝",
            {"organisation": [f"{c} is on the dishonesty list" for c in hit]}, rule="dishonesty_list")


def parse_dishonesty_csv(text: str) -> list[str]:
    """One code per row; a header row and blank lines are skipped; each code validated."""
    import csv
    import io

    from shared.validators import normalize_uscc
    from marshmallow import ValidationError

    codes, errors = [], {}
    for n, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        cells = [c.strip() for c in row if c.strip()]
        if not cells:
            continue
        value = cells[0]
        if n == 1 and not any(ch.isdigit() for ch in value):
            continue  # header
        try:
            codes.append(normalize_uscc(value))
        except ValidationError as exc:
            errors[f"line {n}"] = [str(m) for m in exc.messages]
    if errors:
        raise ValidationFailed("the list has invalid credit codes", dict(list(errors.items())[:20]))
    return sorted(set(codes))


# ---- experts: conflicts and assignment ----------------------------------------------------------

@dataclass(frozen=True)
class CaseParty:
    """What a conflict is judged on: the submitter's codes and the recommending expert."""
    case_id: int
    credit_codes: frozenset[str]       # the organisation and, for a branch, its parent
    recommender_expert: str | None
    recommender_code: str | None


@dataclass(frozen=True)
class ExpertProfile:
    code: str
    employer_code: str | None
    declared_orgs: frozenset[str]      # credit codes the expert declared a conflict with
    declared_cases: frozenset[int]


def conflict_reason(expert: ExpertProfile, party: CaseParty) -> str | None:
    if expert.employer_code and expert.employer_code in party.credit_codes:
        return "same_organisation"
    if expert.employer_code and party.recommender_code and expert.employer_code == party.recommender_code:
        return "recommending_unit"
    if party.recommender_expert and expert.code == party.recommender_expert:
        return "recommender"
    if party.case_id in expert.declared_cases or expert.declared_orgs & party.credit_codes:
        return "declared"
    return None


def ensure_panel_size(chosen: list[str], already: int, per_case: int) -> None:
    if already + len(chosen) != per_case:
        raise ValidationFailed("the panel has a fixed size", {"experts": [
            f"name {per_case - already} expert(s): the campaign wants {per_case} per case, {already} assigned"]})


def assign(parties: list[CaseParty], experts: list[ExpertProfile], per_case: int,
           load: dict[str, int], already: dict[int, set[str]]) -> dict[int, list[str]]:
    """N conflict-free experts per case, least-loaded first (ties: expert code), deterministic.

    Cases are served in id order; a case that cannot get N conflict-free experts is
    refused as a whole, naming the case but never the conflicted experts.
    """
    load = dict(load)
    result: dict[int, list[str]] = {}
    short = []
    for party in sorted(parties, key=lambda p: p.case_id):
        have = set(already.get(party.case_id, set()))
        need = per_case - len(have)
        if need <= 0:
            continue
        pool = sorted((e for e in experts if e.code not in have and conflict_reason(e, party) is None),
                      key=lambda e: (load.get(e.code, 0), e.code))
        if len(pool) < need:
            short.append(party.case_id)
            continue
        chosen = [e.code for e in pool[:need]]
        for code in chosen:
            load[code] = load.get(code, 0) + 1
        result[party.case_id] = chosen
    if short:
        raise RuleViolation(f"{len(short)} 件案例没有足够的无利益冲突专家（每件需 {per_case} 位）",
                            {"cases": [str(c) for c in short[:50]]}, rule="not_enough_experts")
    return result


# ---- public notice ------------------------------------------------------------------------------

def notice_window(starts_on: date, working_days: int) -> tuple[date, date]:
    """The notice runs N working days: from the first working day on or after ``starts_on``."""
    first = starts_on if is_working_day(starts_on) else add_working_days(starts_on, 1)
    last = first if working_days == 1 else add_working_days(first, working_days - 1)
    return first, last


def ensure_notice_start(starts_on: date, now: datetime) -> None:
    if starts_on > local_date(now):
        raise ValidationFailed("the notice cannot start in the future",
                               {"starts_on": [f"{starts_on.isoformat()} is after today"]})


def ensure_notice_over(ends_on: date, now: datetime) -> None:
    if local_date(now) <= ends_on:
        raise RuleViolation(f"公示期至 {ends_on.isoformat()} 结束，公示期满后方可发布",
                            {"notice": [f"runs until the end of {ends_on.isoformat()}"]}, rule="notice_window")


def ensure_no_open_objection(open_objections: list[int]) -> None:
    if open_objections:
        raise RuleViolation(f"尚有 {len(open_objections)} 件异议未处理，不能发布",
                            {"objections": [str(i) for i in open_objections]}, rule="objection_open")


def ensure_objection_window(starts_on: date | None, ends_on: date | None, received_on: date) -> None:
    """An objection counts when it reached the agency during the notice (by the form, post or phone)."""
    if starts_on is None or not (starts_on <= received_on <= ends_on):
        raise RuleViolation("案例不在公示期内，不受理异议", {"case_id": ["not on public notice"]},
                            rule="objection_window")


OBJECTIONS_PER_CONTACT_PER_DAY = 3


def ensure_objection_rate(recent_from_contact: int) -> None:
    """At most a few objections a day from one contact: the public form is not a mailbox for floods."""
    from shared.errors import TooManyRequests
    if recent_from_contact >= OBJECTIONS_PER_CONTACT_PER_DAY:
        raise TooManyRequests(f"同一联系方式 24 小时内最多提出 {OBJECTIONS_PER_CONTACT_PER_DAY} 件异议",
                              {"contact": ["rate limit reached; try again later"]})


def reviewer_conflict(reviewer_person: str | None, reviewer_name: str, objector_name: str,
                      assigned_experts: set[str], conflicted_experts: set[str]) -> str | None:
    """Staff with a stake in the decision do not judge the objection to it."""
    if reviewer_person and reviewer_person in assigned_experts:
        return "reviewed_the_case"
    if reviewer_person and reviewer_person in conflicted_experts:
        return "declared_conflict"
    if reviewer_name and reviewer_name == objector_name:
        return "objector"
    return None


def certificate_number(year: int, level: str, seq: int) -> str:
    return f"AZX{year}-{'ZJ' if level == 'best' else 'YX'}-{seq:04d}"
