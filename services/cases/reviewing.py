"""Expert review: assignment without conflicts, score sheets, results, explanation, levels."""
from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, select

from shared.db import transactional
from shared.entrypoints import rpc
from shared.errors import RuleViolation, ValidationFailed
from shared.schemas import load, schema_instance
from shared.workdays import utcnow

from . import domain, review, roles, schemas
from .access import Lookups
from .models import Assignment, CampaignRow, Case, Expert, ExpertConflict


class ReviewRpc(Lookups):

    # ---- assignment ------------------------------------------------------------------------------

    @rpc(roles=roles.STAFF)
    @transactional
    def assign_campaign(self, year, payload=None):
        """N conflict-free experts for every screened case of the campaign, balanced."""
        row = self._campaign_row(year, lock=True)
        campaign = self._campaign(row)
        # screened cases, and panels left short by a conflict declared after assignment
        cases = self.db.session.scalars(select(Case).where(
            Case.campaign_id == row.id, Case.status.in_((domain.SCREENED, domain.SITE_VISITED, domain.IN_REVIEW)))
            .order_by(Case.id)).all()
        return self._assign(campaign, cases, self._profiles(), None)

    @rpc(roles=roles.STAFF)
    @transactional
    def assign_case(self, case_id, payload):
        """Assign chosen experts (or a balanced choice) to one case; a conflicted expert is refused."""
        case = self._case(case_id)
        data = load(schemas.AssignIn, payload)
        campaign = self._campaign(case.campaign)
        experts = self._profiles()
        chosen = None
        if data["experts"] is not None:
            known = {e.code for e in experts}
            unknown = [c for c in data["experts"] if c not in known]
            if unknown:
                raise ValidationFailed("unknown experts", {"experts": [f"no expert {c!r}" for c in unknown]})
            if len(set(data["experts"])) != len(data["experts"]):
                raise ValidationFailed("an expert is named twice", {"experts": ["repeated"]})
            chosen = data["experts"]
        return self._assign(campaign, [case], experts, chosen)

    def _assign(self, campaign, cases, experts, chosen) -> dict:
        parties = [self._party(c) for c in cases]
        by_code = {e.code: e for e in experts}
        already: dict[int, set[str]] = {c.id: set() for c in cases}
        for case_id, code in self.db.session.execute(select(Assignment.case_id, Expert.code).join(
                Expert, Assignment.expert_id == Expert.id).where(Assignment.case_id.in_(list(already) or [0]))):
            already[case_id].add(code)
        if chosen is not None:
            party = parties[0]
            if set(chosen) & already[party.case_id]:
                raise ValidationFailed("already on the panel", {"experts": sorted(set(chosen) & already[party.case_id])})
            domain.ensure_panel_size(chosen, len(already[party.case_id]), campaign.experts_per_case)
            if any(domain.conflict_reason(by_code[c], party) for c in chosen):
                # the reason stays unsaid: a declared conflict is the expert's own business
                raise RuleViolation("所选专家中有人与该案例存在利益冲突，不能分配", {"experts": ["conflict of interest"]},
                                    rule="conflict_of_interest")
            plan = {party.case_id: list(chosen)}
        else:
            load_now = dict(self.db.session.execute(select(Expert.code, func.count()).join(
                Assignment, Assignment.expert_id == Expert.id).where(Expert.agency_id == self.db.agency)
                .group_by(Expert.code)).all())
            plan = domain.assign(parties, experts, campaign.experts_per_case, load_now, already)
        ids = {e.code: e for e in self.db.session.scalars(select(Expert).where(
            Expert.agency_id == self.db.agency, Expert.code.in_([c for v in plan.values() for c in v] or [""])))}
        now = utcnow()
        cases_by_id = {c.id: c for c in cases}
        for case_id, codes in plan.items():
            case = cases_by_id[case_id]
            self._move(case, "top_up" if case.status == domain.IN_REVIEW else "assign")
            for code in codes:
                self.db.session.add(Assignment(case_id=case_id, expert_id=ids[code].id, assigned_at=now))
            self.db.emit("case_review_started", case_id, dict(self._ref(case), experts=len(codes) + len(already[case_id])))
            self.db.audit(self.caller, "case.assign", "case", case_id, {"experts": codes})
        return schema_instance(schemas.AssignmentOut).dump({"assigned": {str(k): v for k, v in plan.items()}, "cases": len(plan)})

    def _profiles(self) -> list[domain.ExpertProfile]:
        experts = self.db.session.scalars(select(Expert).where(Expert.agency_id == self.db.agency)).all()
        conflicts = self.db.session.scalars(select(ExpertConflict).where(
            ExpertConflict.expert_id.in_([e.id for e in experts] or [0]))).all()
        orgs, cases = {}, {}
        for c in conflicts:
            if c.credit_code:
                orgs.setdefault(c.expert_id, set()).add(c.credit_code)
            if c.case_id:
                cases.setdefault(c.expert_id, set()).add(c.case_id)
        return [domain.ExpertProfile(e.code, e.employer_credit_code, frozenset(orgs.get(e.id, ())),
                                     frozenset(cases.get(e.id, ()))) for e in experts]

    def _party(self, case: Case) -> domain.CaseParty:
        rec = case.recommender or {}
        return domain.CaseParty(case.id, frozenset(self._org_codes(case.organisation)),
                                rec.get("expert_code") if rec.get("kind") == "expert" else None,
                                rec.get("credit_code") if rec.get("kind") == "unit" else None)

    # ---- scores ------------------------------------------------------------------------------------

    @rpc(roles=roles.EXPERTS)
    @transactional
    def submit_score(self, case_id, payload):
        """An assigned expert's score sheet; it may be replaced until deliberation starts."""
        case = self._case(case_id)
        mine = self._my_assignment(case.id)
        data = load(schemas.ScoreIn, payload)
        if case.status != domain.IN_REVIEW:
            raise RuleViolation("案例不在专家评审阶段，不能评分", {"status": [case.status]}, rule="not_in_review")
        campaign = self._campaign(case.campaign)
        marks = {k: Decimal(v) for k, v in data["marks"].items()}
        total = review.weighted_total(marks, campaign.weights)
        mine.marks = {k: str(v) for k, v in marks.items()}
        mine.total, mine.comment, mine.scored_at = str(total), data["comment"], utcnow()
        self.db.session.flush()
        self.db.emit("case_scored", case.id, dict(self._ref(case), expert=mine.expert.code, total=str(total)))
        self.db.audit(self.caller, "case.score", "case", case.id, {"expert": mine.expert.code, "total": str(total)})
        assigned = self.db.session.scalars(select(Assignment).where(Assignment.case_id == case.id)).all()
        if all(a.total is not None for a in assigned):
            self._move(case, "complete_review")
            totals = [Decimal(a.total) for a in assigned]
            mean = sum(totals) / len(totals)
            self.db.emit("case_deliberation_started", case.id, dict(
                self._ref(case), mean=str(review.half_up(mean)),
                disagreement=max(totals) - min(totals) > campaign.disagreement_threshold))
        return self._scores_out(case, mine)

    @rpc(roles=roles.EXPERT_STAFF)
    def get_scores(self, case_id):
        """Staff see every sheet; an assigned expert sees the others' only after submitting their own."""
        case = self._case(case_id)
        mine = self._my_assignment(case.id) if self.caller.role == "expert" else None
        return self._scores_out(case, mine)

    def _scores_out(self, case, mine) -> dict:
        rows = self.db.session.scalars(select(Assignment).where(Assignment.case_id == case.id)
                                       .order_by(Assignment.id)).all()
        own_done = mine is not None and mine.total is not None
        if self.caller.role == "expert" and not own_done:
            rows = [r for r in rows if mine is not None and r.id == mine.id]
        return schema_instance(schemas.ScoresOut).dump({"case_id": case.id, "own_submitted": own_done, "scores": [
            {"expert": r.expert.code, "marks": r.marks, "total": r.total and str(review.half_up(Decimal(r.total))),
             "comment": r.comment, "scored_at": r.scored_at} for r in rows]})

    # ---- results and levels ------------------------------------------------------------------------

    def _results(self, row: CampaignRow):
        campaign = self._campaign(row)
        cases = self.db.session.scalars(select(Case).where(Case.campaign_id == row.id, Case.status.in_(
            (domain.IN_REVIEW, domain.DELIBERATION, domain.LEVELLED, domain.ON_NOTICE, domain.RELEASED)))).all()
        assigned = self.db.session.execute(select(Assignment.case_id, Assignment.total, Expert.code, Assignment.marks)
                                           .join(Expert, Assignment.expert_id == Expert.id)
                                           .where(Assignment.case_id.in_([c.id for c in cases] or [0]))).all()
        counts: dict[int, int] = {}
        scores = []
        for case_id, total, code, marks in assigned:
            counts[case_id] = counts.get(case_id, 0) + 1
            if total is not None:
                scores.append(review.Score(case_id, code, Decimal(total), Decimal(marks["effectiveness"])))
        entries = [review.Entry(c.id, c.created_at, counts.get(c.id, 0)) for c in cases]
        return campaign, {c.id: c for c in cases}, review.results(campaign, entries, scores), counts

    @rpc(roles=roles.STAFF)
    def campaign_results(self, year):
        _, cases, results, counts = self._results(self._campaign_row(year))
        return schema_instance(schemas.ResultOut, many=True).dump([_result_dump(r, cases[r.case_id], counts.get(r.case_id, 0))
                                                  for r in results])

    @rpc(roles=roles.STAFF)
    def explain_case(self, case_id):
        case = self._case(case_id)
        campaign, _, results, _ = self._results(case.campaign)
        found = next((r for r in results if r.case_id == case.id), None)
        if found is None:
            return schema_instance(schemas.ExplainOut).dump({"case_id": case.id, "lines": ["案例尚未进入专家评审"]})
        return schema_instance(schemas.ExplainOut).dump(review.explain(campaign, found))

    @rpc(roles=roles.STAFF)
    @transactional
    def confirm_levels(self, year, payload=None):
        """Levels from the ranking (counts and floors of the campaign), with the operator's overrides."""
        data = load(schemas.LevelsIn, payload)
        row = self._campaign_row(year, lock=True)
        if row.notice_first_day is not None:
            raise RuleViolation("公示已开始，级别只能经异议处理调整", {"notice": [f"opened {row.notice_first_day}"]},
                                rule="notice_opened")
        campaign, cases, results, _ = self._results(row)
        pending = [c.id for c in cases.values() if c.status == domain.IN_REVIEW]
        if pending:
            raise RuleViolation(f"尚有 {len(pending)} 件案例专家评分未完成", {"cases": [str(i) for i in pending[:50]]},
                                rule="review_incomplete")
        overrides = {o["case_id"]: o for o in data["overrides"]}
        by_case = {r.case_id: r for r in results}
        bad = [str(i) for i in overrides if i not in cases or cases[i].status != domain.DELIBERATION]
        if bad:
            raise ValidationFailed("overrides name cases not in deliberation", {"overrides": bad})
        counts = {"best": 0, "excellent": 0, "not_selected": 0}
        for case in sorted(cases.values(), key=lambda c: c.id):
            if case.status != domain.DELIBERATION:
                continue
            result = by_case[case.id]
            o = overrides.get(case.id)
            case.level = o["level"] if o else result.proposed_level
            case.level_reason = o["reason"] if o else None
            self._move(case, "confirm_level")
            counts[case.level] += 1
            self.db.emit("case_levelled", case.id, dict(self._ref(case), level=case.level, rank=result.rank,
                                                        reason=case.level_reason))
            self.db.audit(self.caller, "case.level", "case", case.id,
                          {"level": case.level, "rank": result.rank, "override": bool(o)})
        row.levels_confirmed_at = utcnow()
        return schema_instance(schemas.LevelsOut).dump(dict(counts, levelled=sum(counts.values())))


def _result_dump(r: review.CaseResult, case: Case, assigned: int) -> dict:
    return {"case_id": r.case_id, "name": case.name, "organisation_name": case.organisation.name,
            "status": case.status, "rank": r.rank,
            "mean": None if r.mean is None else str(review.half_up(r.mean)),
            "normalised": None if r.normalised is None else str(r.normalised),
            "spread": None if r.spread is None else str(review.half_up(r.spread)),
            "disagreement": r.disagreement, "proposed_level": r.proposed_level, "level": case.level,
            "scored": len(r.totals), "assigned": assigned}

