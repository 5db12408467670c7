"""Schemes, rankings, closing and re-opening stages, explanations, flags, rebuilding the sheets."""
from __future__ import annotations

from pathlib import Path

import yaml
from sqlalchemy import delete, select

from shared.auth import STAFF
from shared.db import transactional
from shared.documents import CSV_TYPE, XLSX_TYPE, Column, csv_bytes, file_result, styled_workbook
from shared.entrypoints import rpc
from shared.errors import NotFound, NotReady, ValidationFailed
from shared.schemas import as_code, as_id, load, schema_instance
from shared.workdays import utcnow

from . import domain, schemas
from . import ranking as ranks
from .access import domain_time, logged_event, score_cell
from .models import Decision, Flag, LoggedEvent, SchemeRow, ScoreSheet, SheetLecture, SheetPart, StageState
from .roles import EXPLAIN_READERS, READERS, REBUILDERS

DATA_DIR = Path(__file__).parent / "data"


class StageRpc:

    @rpc(roles=STAFF)
    @transactional
    def load_scheme(self, cycle, payload):
        cycle = as_code(cycle)
        data = load(schemas.SchemeIn, payload)
        if "published" in data:
            data = self._published_scheme(data["published"])
        scheme = domain.scheme_from_data(data)
        definition = domain.scheme_to_data(scheme)
        row = self._scheme_row(cycle, lock=True)
        states = self._states(cycle)
        domain.ensure_scheme_replaceable(sorted(s.stage for s in states.values() if s.status == domain.CLOSED))
        if row is not None and row.definition == definition:
            return self._scheme_out(row, scheme)  # the same scheme again: nothing changes
        now = utcnow()
        if row is None:
            row = SchemeRow(agency_id=self.db.agency, cycle=cycle, version=0)
            self.db.session.add(row)
        row.version += 1
        row.title, row.definition, row.loaded_at, row.loaded_by = scheme.title, definition, now, self.caller.actor
        for stage in scheme.stages:
            if stage.name not in states:
                self.db.session.add(StageState(agency_id=self.db.agency, cycle=cycle, stage=stage.name,
                                               status=domain.OPEN, rounds=0))
        self.db.session.flush()
        self.db.emit("scheme_loaded", cycle, {"cycle": cycle, "version": row.version, "title": scheme.title,
                                              "stages": list(scheme.stage_names), "loaded_by": self.caller.actor})
        self.db.audit(self.caller, "scheme.load", "scheme", cycle, {"version": row.version, "definition": definition})
        return self._scheme_out(row, scheme)

    @rpc(roles=READERS)
    def get_scheme(self, cycle):
        row = self._scheme_row(as_code(cycle))
        if row is None:
            raise NotFound(f"no scoring scheme for cycle {cycle}")
        return self._scheme_out(row, domain.scheme_from_stored(row.definition))


    @rpc(roles=STAFF)
    @transactional
    def close_stage(self, cycle, stage, payload=None):
        data = load(schemas.CloseIn, payload)
        cycle, scheme, stage_def = self._stage_def(cycle, stage)
        state = self._state(cycle, stage_def.name, lock=True)
        if state.status == domain.CLOSED:
            return state.summary  # closing twice: the same answer, no new events
        statuses = {s.stage: s.status for s in self._states(cycle).values()}
        domain.ensure_closable(scheme, stage_def.name, statuses)
        sheets = self._sheets(cycle)
        readiness = self._readiness(cycle, scheme, stage_def, sheets)
        if not readiness["ready"] and not data["confirm_not_ready"]:
            raise NotReady(
                f"stage {stage_def.name} of {cycle} is not ready to close: {readiness['missing_total']} candidate(s) "
                f"lack a score{'' if readiness['in_flight']['clear'] else ', events are still in flight'}; "
                "close with confirm_not_ready to close anyway",
                {"confirm_not_ready": ["required while the stage is not ready"]}, schema_instance(schemas.ReadinessOut).dump(readiness))
        ranking = self._ranking(cycle, scheme, stage_def.name, sheets)
        decisions = ranks.decide(ranking)
        previous = {d.candidate_id: d for d in self.db.session.scalars(select(Decision).where(
            Decision.agency_id == self.db.agency, Decision.cycle == cycle, Decision.stage == stage_def.name))}
        changed = ranks.changed_decisions({k: v.advanced for k, v in previous.items()}, decisions)
        now = utcnow()
        state.rounds += 1
        for d in decisions:
            row = previous.get(d.candidate_id)
            if row is None:
                row = Decision(agency_id=self.db.agency, cycle=cycle, stage=stage_def.name, candidate_id=d.candidate_id)
                self.db.session.add(row)
            row.advanced, row.rank, row.score, row.reason = d.advanced, d.rank, d.score, d.reason
            row.round, row.decided_at = state.rounds, now
        for d in sorted(changed, key=lambda d: (d.rank is None, d.rank or 0, d.candidate_id)):
            if d.advanced and stage_def.gold:
                # the selection is the gold stage's advancement: there is no further training stage
                # for candidate_advanced.to_stage to name (the contract knows key and intensive only)
                self.db.emit("gold_lecturer_selected", d.candidate_id, {
                    "cycle": cycle, "candidate_id": d.candidate_id, "rank": d.rank,
                    "final_score": domain.fmt(d.score)})
            elif d.advanced:
                self.db.emit("candidate_advanced", d.candidate_id, {
                    "cycle": cycle, "candidate_id": d.candidate_id, "from_stage": stage_def.name,
                    "to_stage": stage_def.advances_to, "rank": d.rank, "score": domain.fmt(d.score)})
            else:
                self.db.emit("candidate_not_advanced", d.candidate_id, {
                    "cycle": cycle, "candidate_id": d.candidate_id, "stage": stage_def.name, "rank": d.rank,
                    "score": domain.fmt(d.score), "reason": d.reason})
        advanced = [d for d in decisions if d.advanced]
        state.status, state.closed_at, state.closed_by = domain.CLOSED, now, self.caller.actor
        summary = {
            "cycle": cycle, "stage": stage_def.name, "status": domain.CLOSED, "cutoff": stage_def.cutoff,
            "advanced": len(advanced), "not_advanced": len(decisions) - len(advanced),
            "unranked": len(ranking.unranked), "round": state.rounds, "changed": len(changed),
            "advanced_ids": [d.candidate_id for d in sorted(advanced, key=lambda d: d.rank)],
            "closed_at": domain_time(now), "confirmed_not_ready": not readiness["ready"],
        }
        state.summary = summary
        self.db.emit("stage_closed", f"{cycle}/{stage_def.name}", {
            "cycle": cycle, "stage": stage_def.name, "cutoff": stage_def.cutoff, "advanced": summary["advanced"],
            "not_advanced": summary["not_advanced"], "closed_at": now})
        detail = {k: v for k, v in summary.items() if k != "advanced_ids"}
        if not readiness["ready"]:  # what the operator confirmed closing over
            detail["readiness"] = {"missing_total": readiness["missing_total"], "parts": readiness["parts"],
                                   "in_flight_clear": readiness["in_flight"]["clear"],
                                   "unavailable": readiness["in_flight"]["unavailable"]}
        self.db.audit(self.caller, "stage.close", "stage", f"{cycle}:{stage_def.name}", detail)
        return summary

    @rpc(roles=STAFF)
    def stage_readiness(self, cycle, stage):
        """Before closing: the scores the stage needs, how many arrived, who lacks which part,
        and whether events it needs are still in flight."""
        cycle, scheme, stage_def = self._stage_def(cycle, stage)
        return schema_instance(schemas.ReadinessOut).dump(self._readiness(cycle, scheme, stage_def, self._sheets(cycle)))

    def _readiness(self, cycle, scheme, stage_def, sheets) -> dict:
        entrants = self._entrants(cycle, scheme, stage_def.name)
        scores = ranks.scores_readiness(scheme, stage_def.name, sheets, entrants)
        feeding = ranks.feeding_events(scheme, stage_def.name)
        consumers, unavailable, queued = self.in_flight.report(self, feeding)
        flight = ranks.in_flight(consumers, feeding, unavailable, queued)
        return dict(scores, cycle=cycle, stage=stage_def.name, status=self._state(cycle, stage_def.name).status,
                    entrants_from=stage_def.after if entrants is not None else None, in_flight=flight,
                    ready=not scores["missing_total"] and flight["clear"], checked_at=domain_time(utcnow()))

    @rpc(roles=STAFF)
    @transactional
    def reopen_stage(self, cycle, stage, payload):
        data = load(schemas.ReopenIn, payload)
        cycle, scheme, stage_def = self._stage_def(cycle, stage)
        state = self._state(cycle, stage_def.name, lock=True)
        statuses = {s.stage: s.status for s in self._states(cycle).values()}
        domain.ensure_reopenable(scheme, stage_def.name, statuses)
        now = utcnow()
        state.status, state.reopened_at, state.reopen_reason, state.summary = domain.OPEN, now, data["reason"], None
        self.db.emit("stage_reopened", f"{cycle}/{stage_def.name}", {
            "cycle": cycle, "stage": stage_def.name, "reason": data["reason"], "reopened_by": self.caller.actor})
        self.db.audit(self.caller, "stage.reopen", "stage", f"{cycle}:{stage_def.name}", data)
        return self._state_out(state)


    @rpc(roles=READERS)
    def get_ranking(self, cycle, stage):
        cycle, scheme, stage_def = self._stage_def(cycle, stage)
        return self._ranking_out(cycle, scheme, stage_def)

    @rpc(roles=READERS)
    def export_ranking(self, cycle, stage, query=None):
        params = load(schemas.ExportQuery, query)
        cycle, scheme, stage_def = self._stage_def(cycle, stage)
        header, rows = self._table(cycle, scheme, stage_def)
        base = f"{cycle}-{stage_def.name}-排名"
        if params["format"] == "csv":
            data = csv_bytes(header, rows)
            return file_result(f"{base}.csv", CSV_TYPE, data)
        columns = [_column(h, n, len(header)) for n, h in enumerate(header)]
        shaped = [[score_cell(v)[0] for v in row] for row in rows]
        title = f"{cycle} {stage_def.label}排名"
        return file_result(f"{base}.xlsx", XLSX_TYPE, styled_workbook(title, columns, shaped, sheet_name=stage_def.label))

    @rpc(roles=EXPLAIN_READERS)
    def explain(self, cycle, candidate_id):
        cycle = as_code(cycle)
        candidate_id = as_id(candidate_id)
        sheet_row = self._sheet_row(cycle, candidate_id)
        if self.caller.role == "lecturer":
            # a lecturer reads its own sheet only: its token's person is registration's person_key
            if sheet_row is None or not self.caller.person or sheet_row.person_key != self.caller.person:
                raise NotFound(f"candidate {candidate_id} not found")
        else:
            self.caller.require(*READERS)
        if sheet_row is not None and self.caller.role == "regulator" and sheet_row.district != self.caller.district:
            # a regulator reads its own district's candidates, as registration and training show it; the
            # same answer as for a candidate that does not exist
            sheet_row = None
        if sheet_row is None:
            raise NotFound(f"candidate {candidate_id} not found")
        scheme_row = self._scheme_row(cycle)
        scheme = domain.scheme_from_stored(scheme_row.definition) if scheme_row else None
        return self._explain_out(cycle, scheme, sheet_row)

    @rpc(roles=READERS)
    def list_flags(self, cycle):
        rows = self.db.session.scalars(select(Flag).where(
            Flag.agency_id == self.db.agency, Flag.cycle == as_code(cycle)).order_by(Flag.id)).all()
        return schema_instance(schemas.FlagOut, many=True).dump([{
            "id": f.id, "cycle": f.cycle, "stage": f.stage, "candidate_id": f.candidate_id, "event_id": f.event_id,
            "event_name": f.event_name, "published_score": domain.fmt(f.published_score),
            "current_score": domain.fmt(f.current_score), "detail": f.detail, "created_at": f.created_at,
        } for f in rows])

    @rpc(roles=REBUILDERS)
    @transactional
    def rebuild(self, payload=None):
        """Replay the event log from scratch into fresh sheets (one cycle, or all)."""
        data = load(schemas.RebuildIn, payload)
        stmt = select(LoggedEvent.cycle).where(LoggedEvent.agency_id == self.db.agency).distinct()
        if data["cycle"]:
            stmt = stmt.where(LoggedEvent.cycle == data["cycle"])
        cycles = sorted(self.db.session.scalars(stmt).all())
        sheets = events = 0
        for cycle in cycles:
            old = select(ScoreSheet.id).where(ScoreSheet.agency_id == self.db.agency, ScoreSheet.cycle == cycle)
            self.db.session.execute(delete(SheetPart).where(SheetPart.sheet_id.in_(old)))
            self.db.session.execute(delete(SheetLecture).where(SheetLecture.sheet_id.in_(old)))
            self.db.session.execute(delete(ScoreSheet).where(ScoreSheet.agency_id == self.db.agency,
                                                             ScoreSheet.cycle == cycle))
            self.db.session.expunge_all()
            by_candidate: dict[int, list] = {}
            for row in self.db.session.scalars(select(LoggedEvent).where(
                    LoggedEvent.agency_id == self.db.agency, LoggedEvent.cycle == cycle).order_by(LoggedEvent.id)):
                by_candidate.setdefault(row.candidate_id, []).append(logged_event(row))
                events += 1
            for candidate_id, logged in sorted(by_candidate.items()):
                self._store_sheet(cycle, None, domain.fold(candidate_id, logged))
                sheets += 1
        self.db.audit(self.caller, "sheets.rebuild", "scoring", data["cycle"] or "*",
                      {"cycles": cycles, "events": events, "sheets": sheets})
        return schema_instance(schemas.RebuildOut).dump({"cycles": cycles, "events": events, "sheets": sheets})


    def _published_scheme(self, name) -> dict:
        path = DATA_DIR / f"scheme_{name}.yml"
        if not path.exists():
            raise ValidationFailed(f"no published scheme {name}", {"published": [f"no scheme_{name}.yml shipped"]})
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        return load(schemas.SchemeIn, raw)


def _column(header: str, n: int, count: int) -> Column:
    """Rank, candidate, name, then scores (two places), the result and the reason."""
    if n == 0:
        return Column(header, 8, "0")
    if n == 1:
        return Column(header, 12, "0")
    if n == 2:
        return Column(header, 12)
    if header == "合规宣讲场次":
        return Column(header, 12, "0")
    if n == count - 1:
        return Column(header, 40)
    if n == count - 2:
        return Column(header, 10)
    return Column(header, 16, "0.00")
