"""Lookups and the output of rankings, explanations, schemes and stages."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import select

from shared.errors import NotFound, ValidationFailed
from shared.schemas import as_code, schema_instance

from . import domain, schemas
from . import ranking as ranks
from .models import Decision, Flag, LoggedEvent, SchemeRow, ScoreSheet, StageState

RULES = {
    "panel_mean": "the panel's mean, rounded half up to 2 places as published (scheme: panel_means = published)",
    "stage_reference": "the earlier stage's published score, rounded half up to 2 places "
                       "(scheme: stage_references = published)",
    "stage_score": "the stage score, rounded once half up to 2 places (ROUND_HALF_UP)",
}


class Lookups:

    def _sheets(self, cycle) -> list[domain.Sheet]:
        rows = self.db.session.scalars(select(ScoreSheet).where(
            ScoreSheet.agency_id == self.db.agency, ScoreSheet.cycle == cycle).order_by(ScoreSheet.candidate_id))
        return [to_domain(r) for r in rows]

    def _decisions(self, cycle, stage) -> dict[int, Decision]:
        return {d.candidate_id: d for d in self.db.session.scalars(select(Decision).where(
            Decision.agency_id == self.db.agency, Decision.cycle == cycle, Decision.stage == stage))}

    def _entrants(self, cycle, scheme, stage_name) -> set[int] | None:
        """Who takes part: those advanced from the ``after`` stage once it is closed; everyone before."""
        after = scheme.stage(stage_name).after
        if not after:
            return None
        state = self._states(cycle).get(after)
        if state is None or state.status != domain.CLOSED:
            return None
        return {cid for cid, d in self._decisions(cycle, after).items() if d.advanced}

    def _ranking(self, cycle, scheme, stage_name, sheets=None) -> ranks.Ranking:
        sheets = self._sheets(cycle) if sheets is None else sheets
        return ranks.rank(scheme, stage_name, sheets, self._entrants(cycle, scheme, stage_name))

    def _ranking_out(self, cycle, scheme, stage_def):
        ranking = self._ranking(cycle, scheme, stage_def.name)
        state = self._state(cycle, stage_def.name)
        decisions = self._decisions(cycle, stage_def.name) if state.rounds else {}
        entrants_from = None
        if stage_def.after and self._states(cycle).get(stage_def.after) and \
                self._states(cycle)[stage_def.after].status == domain.CLOSED:
            entrants_from = stage_def.after
        flags = len(self.db.session.scalars(select(Flag.id).where(
            Flag.agency_id == self.db.agency, Flag.cycle == cycle, Flag.stage == stage_def.name)).all())
        return schema_instance(schemas.RankingOut).dump({
            "cycle": cycle, "stage": stage_def.name, "label": stage_def.label, "status": state.status,
            "cutoff": stage_def.cutoff, "advances_to": stage_def.advances_to, "entrants_from": entrants_from,
            "ranked": [_ranked_out(r, decisions) for r in ranking.ranked],
            "unranked": [{"candidate_id": u.sheet.candidate_id, "name": u.sheet.name, "reason": u.reason,
                          "decision": _decision_out(decisions.get(u.sheet.candidate_id))} for u in ranking.unranked],
            "flags": flags,
        })

    def _table(self, cycle, scheme, stage_def):
        """The export: Chinese headers, ranked rows first, then the unranked with the reason."""
        ranking = self._ranking(cycle, scheme, stage_def.name)
        state = self._state(cycle, stage_def.name)
        decisions = self._decisions(cycle, stage_def.name) if state.status == domain.CLOSED else {}
        header = ["排名", "候选人编号", "姓名"] + [scheme.label_of(ref) for ref in stage_def.refs]
        if stage_def.points_per_lecture:
            header += ["合规宣讲场次", "宣讲加分"]
        header += ["最终得分" if stage_def.gold else f"{stage_def.label}得分", "结果", "说明"]
        yes, no = ("金牌宣讲员", "未入选") if stage_def.gold else ("晋级", "未晋级")

        def result(candidate_id):
            d = decisions.get(candidate_id)
            return "" if d is None else (yes if d.advanced else no)

        def values(score):
            cells = [domain.fmt(c.score) or "" for c in score.components]
            if stage_def.points_per_lecture:
                cells += [score.lectures, domain.fmt(score.lecture_points)]
            return cells

        rows = []
        for r in ranking.ranked:
            rows.append([r.rank, r.sheet.candidate_id, r.sheet.name or ""] + values(r.score)
                        + [domain.fmt(r.value), result(r.sheet.candidate_id), ""])
        for u in ranking.unranked:
            rows.append(["", u.sheet.candidate_id, u.sheet.name or ""] + values(u.score)
                        + ["", result(u.sheet.candidate_id), u.reason])
        return header, rows

    def _explain_out(self, cycle, scheme, row):
        sheet = to_domain(row)
        stages = []
        if scheme is not None:
            states = self._states(cycle)
            per_stage = ranks.stage_scores(scheme, sheet)
            sheets = None
            for stage_def in scheme.stages:
                result = per_stage[stage_def.name]
                sheets = self._sheets(cycle) if sheets is None else sheets
                ranking = self._ranking(cycle, scheme, stage_def.name, sheets)
                position = next((r.rank for r in ranking.ranked if r.sheet.candidate_id == sheet.candidate_id), None)
                reason = next((u.reason for u in ranking.unranked if u.sheet.candidate_id == sheet.candidate_id), None)
                decision = self._decisions(cycle, stage_def.name).get(sheet.candidate_id)
                state = states.get(stage_def.name)
                stages.append({
                    "stage": stage_def.name, "label": stage_def.label,
                    "status": state.status if state else domain.OPEN,
                    "score": domain.fmt(result.score), "exact": domain.exact_text(result.exact),
                    "roundings": [{"of": r.of, "kind": r.kind, "exact": domain.exact_text(r.exact),
                                   "rounded": domain.fmt(r.rounded), "rule": RULES[r.kind]} for r in result.roundings],
                    "rank": position, "unranked_reason": reason,
                    "components": [{
                        "ref": c.ref, "label": scheme.label_of(c.ref), "weight": domain.plain(c.weight),
                        "score": domain.fmt(c.score),
                        "contribution": domain.exact_text(c.contribution),
                        "value": domain.exact_text(c.value), "exact": domain.exact_text(c.exact),
                        "unrounded": c.value is not None and c.score is not None and c.value != c.score,
                        "event_id": sheet.parts[c.ref].event_id if c.ref in sheet.parts else None,
                        "at": sheet.parts[c.ref].scored_at if c.ref in sheet.parts else None,
                    } for c in result.components],
                    "lectures": result.lectures, "points_per_lecture": domain.plain(stage_def.points_per_lecture),
                    "lecture_points": domain.fmt(result.lecture_points),
                    "decision": _decision_out(decision),
                })
        return schema_instance(schemas.ExplainOut).dump({
            "cycle": cycle, "candidate_id": sheet.candidate_id, "name": sheet.name,
            "registered_at": sheet.registered_at, "approved": sheet.approved, "withdrawn": sheet.withdrawn,
            "parts": [{"part": p, "label": domain.PARTS.get(p, p), "score": domain.fmt(h.score),
                       "event_id": h.event_id, "scored_at": h.scored_at, "detail": h.detail}
                      for p, h in sorted(sheet.parts.items())],
            "lectures": [{"lecture_id": lec.lecture_id, "counted": lec.counted, "kind": lec.kind,
                          "lecture_date": lec.lecture_date, "event_id": lec.event_id, "at": lec.at,
                          "reason": lec.reason} for _, lec in sorted(sheet.lectures.items())],
            "lecture_count": sheet.lecture_count, "stages": stages,
            "rounding": (scheme.rounding if scheme else domain.Rounding()).describe(),
        })

    def _scheme_row(self, cycle, lock=False):
        stmt = select(SchemeRow).where(SchemeRow.agency_id == self.db.agency, SchemeRow.cycle == cycle)
        if lock:
            stmt = stmt.with_for_update()
        return self.db.session.scalar(stmt)

    def _stage_def(self, cycle, stage):
        cycle = as_code(cycle)
        row = self._scheme_row(cycle)
        if row is None:
            raise NotFound(f"no scoring scheme for cycle {cycle}")
        scheme = domain.scheme_from_stored(row.definition)
        try:
            return cycle, scheme, scheme.stage(str(stage))
        except KeyError:
            raise NotFound(f"cycle {cycle} has no stage {stage!r} (stages: {', '.join(scheme.stage_names)})") from None

    def _states(self, cycle) -> dict[str, StageState]:
        return {s.stage: s for s in self.db.session.scalars(select(StageState).where(
            StageState.agency_id == self.db.agency, StageState.cycle == cycle))}

    def _state(self, cycle, stage, lock=False) -> StageState:
        stmt = select(StageState).where(StageState.agency_id == self.db.agency, StageState.cycle == cycle,
                                        StageState.stage == stage)
        if lock:
            stmt = stmt.with_for_update()
        state = self.db.session.scalar(stmt)
        if state is None:  # a scheme row without its states cannot happen; keep reads total anyway
            state = StageState(agency_id=self.db.agency, cycle=cycle, stage=stage, status=domain.OPEN, rounds=0)
            self.db.session.add(state)
            self.db.session.flush()
        return state

    def _sheet_row(self, cycle, candidate_id):
        return self.db.session.scalar(select(ScoreSheet).where(
            ScoreSheet.agency_id == self.db.agency, ScoreSheet.cycle == cycle, ScoreSheet.candidate_id == candidate_id))

    def _scheme_out(self, row, scheme):
        states = self._states(row.cycle)
        return schema_instance(schemas.SchemeOut).dump({
            "cycle": row.cycle, "version": row.version, "title": row.title, "loaded_at": row.loaded_at,
            "rounding": {"panel_means": scheme.rounding.panel_means,
                         "stage_references": scheme.rounding.stage_references,
                         "description": scheme.rounding.describe()},
            "loaded_by": row.loaded_by,
            "stages": [dict(s, parts=[dict(p, label=scheme.label_of(p["ref"])) for p in s["parts"]],
                            status=states[s["name"]].status if s["name"] in states else domain.OPEN)
                       for s in row.definition["stages"]],
        })

    @staticmethod
    def _state_out(state):
        return schema_instance(schemas.StageStateOut).dump({
            "cycle": state.cycle, "stage": state.stage, "status": state.status, "round": state.rounds,
            "closed_at": state.closed_at, "reopened_at": state.reopened_at, "reopen_reason": state.reopen_reason})


# ---- module helpers ------------------------------------------------------------------------------


def to_domain(row: ScoreSheet) -> domain.Sheet:
    return domain.Sheet(
        candidate_id=row.candidate_id, name=row.name, registered_at=row.registered_at, person_key=row.person_key,
        district=row.district,
        approved=row.approved, withdrawn=row.withdrawn,
        parts={p.part: domain.PartScore(p.score, p.event_id, p.scored_at, p.detail or {}) for p in row.parts},
        lectures={lec.lecture_id: domain.Lecture(lec.lecture_id, lec.counted, lec.kind, lec.lecture_date,
                                                 lec.event_id, lec.at, lec.reason) for lec in row.lectures},
    )


def logged_event(row: LoggedEvent) -> domain.LoggedEvent:
    return domain.LoggedEvent(row.event_id, row.name, row.time, schemas.consumed_data(row.name, row.data))


def _ranked_out(r: ranks.Ranked, decisions) -> dict:
    breakdown = r.score
    return {"rank": r.rank, "candidate_id": r.sheet.candidate_id, "name": r.sheet.name, "score": domain.fmt(r.value),
            "parts": {c.ref: domain.fmt(c.score) for c in breakdown.components}, "lectures": breakdown.lectures,
            "lecture_points": domain.fmt(breakdown.lecture_points),
            "decision": _decision_out(decisions.get(r.sheet.candidate_id))}


def _decision_out(d: Decision | None):
    if d is None:
        return None
    return {"advanced": d.advanced, "rank": d.rank, "score": domain.fmt(d.score), "reason": d.reason,
            "round": d.round, "decided_at": d.decided_at}


def score_cell(value):
    """Scores go in as exact decimals with a two-place format; empty cells stay empty."""
    if isinstance(value, str) and value and _is_score(value):
        return Decimal(value), "0.00"
    return (value if value != "" else None), None


def _is_score(value: str) -> bool:
    head, _, tail = value.partition(".")
    return head.isdigit() and len(tail) == 2 and tail.isdigit()


def domain_time(moment: datetime) -> str:
    from shared.events import rfc3339
    return rfc3339(moment)


def parse_time(raw: str) -> datetime:
    try:
        moment = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        raise ValidationFailed("the envelope time is not RFC 3339", {"time": [str(raw)[:40]]}) from None
    if moment.tzinfo is None:
        raise ValidationFailed("the envelope time has no zone", {"time": [str(raw)[:40]]})
    return moment
