"""The scoring service: nameko glue around the rules in ``domain``.

Sheets are built only from events (registration, training, subsidies), each kept
in the append-only ``score_events`` log; rankings are computed from the sheets on
read; an operator closes a stage to publish its decisions.

Closing a stage publishes ``candidate_advanced`` for each candidate within the cut-off (for
the gold stage, ``final`` in 2022, ``gold_lecturer_selected`` instead: training and subsidies
read ``candidate_advanced.to_stage`` as the next training stage, and there is none),
``candidate_not_advanced`` for every other candidate of the cycle (rank and score null when
unranked) and one ``stage_closed``.

Closing again after a re-open publishes ``candidate_advanced`` / ``candidate_not_advanced``
only for candidates whose advance/not-advance decision flipped (or who had none):
a mere change of rank or score within the same side is stored (the decision row is
updated) but not announced, so consumers such as subsidies see one event per real
change. ``gold_lecturer_selected`` likewise goes out only for newly selected gold
lecturers; one who drops out gets ``candidate_not_advanced``. ``stage_closed`` is
emitted on every close (not on a repeated close of a closed stage).
"""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path

import yaml
from sqlalchemy import delete, select

from shared.auth import STAFF, CallerProvider
from shared.db import Database, transactional
from shared.entrypoints import PlatformRpc, rpc
from shared.errors import NotFound, RuleViolation, ValidationFailed
from shared.documents import CSV_TYPE, XLSX_TYPE, csv_bytes, file_result, xlsx_bytes
from shared.schemas import as_code, as_id, load
from shared.subscriber import subscribe
from shared.workdays import utcnow

from . import domain, schemas
from .roles import EXPLAIN_READERS, READERS, REBUILDERS
from .models import (
    Base, Decision, Flag, LoggedEvent, SchemeRow, ScoreSheet, SheetLecture, SheetPart, StageState, platform,
)

DATA_DIR = Path(__file__).parent / "data"
ROUNDING = ("stage score = Σ part × weight (+ lectures × points), exact, then rounded once to 2 places, "
            "ROUND_HALF_UP; a stage used as a part contributes its rounded score")


class ScoringService(PlatformRpc):
    name = "scoring"

    db = Database(Base.metadata, platform)
    caller = CallerProvider()

    # ---- consumed events ---------------------------------------------------------------------

    @subscribe("registration", "candidate_approved", schema=schemas.CandidateApprovedData)
    def on_candidate_approved(self, event):
        self._lock_sheet_of(event)
        if self.db.claim(event):
            self._ingest(event, domain.APPROVED)

    @subscribe("registration", "candidate_withdrawn", schema=schemas.CandidateWithdrawnData)
    def on_candidate_withdrawn(self, event):
        self._lock_sheet_of(event)
        if self.db.claim(event):
            self._ingest(event, domain.WITHDRAWN)

    @subscribe("training", "exam_scored", schema=schemas.ExamScoredData)
    def on_exam_scored(self, event):
        self._lock_sheet_of(event)
        if self.db.claim(event):
            self._ingest(event, domain.EXAM)

    @subscribe("training", "expert_scored", schema=schemas.ExpertScoredData)
    def on_expert_scored(self, event):
        self._lock_sheet_of(event)
        if self.db.claim(event):
            self._ingest(event, domain.EXPERT)

    @subscribe("subsidies", "lecture_approved", schema=schemas.LectureApprovedData)
    def on_lecture_approved(self, event):
        self._lock_sheet_of(event)
        if self.db.claim(event):
            self._ingest(event, domain.LECTURE_OK)

    @subscribe("subsidies", "lecture_approval_revoked", schema=schemas.LectureRevokedData)
    def on_lecture_revoked(self, event):
        self._lock_sheet_of(event)
        if self.db.claim(event):
            self._ingest(event, domain.LECTURE_REVOKED)

    # ---- schemes -----------------------------------------------------------------------------

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

    # ---- stages ------------------------------------------------------------------------------

    @rpc(roles=STAFF)
    @transactional
    def close_stage(self, cycle, stage, payload=None):
        load(schemas.CloseIn, payload)
        cycle, scheme, stage_def = self._stage_def(cycle, stage)
        state = self._state(cycle, stage_def.name, lock=True)
        if state.status == domain.CLOSED:
            return state.summary  # closing twice: the same answer, no new events
        statuses = {s.stage: s.status for s in self._states(cycle).values()}
        domain.ensure_closable(scheme, stage_def.name, statuses)
        ranking = self._ranking(cycle, scheme, stage_def.name)
        decisions = domain.decide(ranking)
        previous = {d.candidate_id: d for d in self.db.session.scalars(select(Decision).where(
            Decision.agency_id == self.db.agency, Decision.cycle == cycle, Decision.stage == stage_def.name))}
        changed = domain.changed_decisions({k: v.advanced for k, v in previous.items()}, decisions)
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
            "closed_at": domain_time(now),
        }
        state.summary = summary
        self.db.emit("stage_closed", f"{cycle}/{stage_def.name}", {
            "cycle": cycle, "stage": stage_def.name, "cutoff": stage_def.cutoff, "advanced": summary["advanced"],
            "not_advanced": summary["not_advanced"], "closed_at": now})
        self.db.audit(self.caller, "stage.close", "stage", f"{cycle}:{stage_def.name}",
                      {k: v for k, v in summary.items() if k != "advanced_ids"})
        return summary

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

    # ---- rankings ----------------------------------------------------------------------------

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
        return file_result(f"{base}.xlsx", XLSX_TYPE, xlsx_bytes(f"{stage_def.label}", header, rows, _score_cell))

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
        if sheet_row is None:
            raise NotFound(f"candidate {candidate_id} not found")
        scheme_row = self._scheme_row(cycle)
        scheme = domain.scheme_from_stored(scheme_row.definition) if scheme_row else None
        return self._explain_out(cycle, scheme, sheet_row)

    @rpc(roles=READERS)
    def list_flags(self, cycle):
        rows = self.db.session.scalars(select(Flag).where(
            Flag.agency_id == self.db.agency, Flag.cycle == as_code(cycle)).order_by(Flag.id)).all()
        return schemas.FlagOut(many=True).dump([{
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
                by_candidate.setdefault(row.candidate_id, []).append(_logged(row))
                events += 1
            for candidate_id, logged in sorted(by_candidate.items()):
                self._store_sheet(cycle, None, domain.fold(candidate_id, logged))
                sheets += 1
        self.db.audit(self.caller, "sheets.rebuild", "scoring", data["cycle"] or "*",
                      {"cycles": cycles, "events": events, "sheets": sheets})
        return schemas.RebuildOut().dump({"cycles": cycles, "events": events, "sheets": sheets})

    # ---- ingest ------------------------------------------------------------------------------

    def _lock_sheet_of(self, event):
        """Lock the event's candidate's sheet (creating it) before anything else.

        Events of one candidate are applied one at a time: a second worker waits here
        until the first commits, then sees its log row and its inbox row (so a duplicate
        delivered concurrently is skipped by ``claim`` instead of colliding on insert).
        """
        if event.agency and event.agency != self.db.agency:
            raise RuleViolation(f"an event of agency {event.agency!r} reached agency {self.db.agency!r}",
                                {"agency": [event.agency]}, rule="foreign_agency")
        typed = event.data
        session = self.db.session
        dialect = session.get_bind().dialect.name
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as upsert
        else:
            from sqlalchemy.dialects.sqlite import insert as upsert
        session.execute(upsert(ScoreSheet.__table__).values(
            agency_id=self.db.agency, cycle=typed["cycle"], candidate_id=typed["candidate_id"], approved=False,
            withdrawn=False, lecture_count=0, updated_at=utcnow(),
        ).on_conflict_do_nothing(index_elements=["agency_id", "cycle", "candidate_id"]))
        session.scalar(select(ScoreSheet.id).where(
            ScoreSheet.agency_id == self.db.agency, ScoreSheet.cycle == typed["cycle"],
            ScoreSheet.candidate_id == typed["candidate_id"]).with_for_update())

    def _ingest(self, event, name):
        typed = event.data
        at = _parse_time(event.time)
        cycle, candidate_id = typed["cycle"], typed["candidate_id"]
        self.db.session.add(LoggedEvent(
            agency_id=self.db.agency, event_id=event.id, event_type=event.type, name=name, cycle=cycle,
            candidate_id=candidate_id, time=at, data=event.raw_data, received_at=utcnow()))
        self.db.session.flush()
        sheet_row = self._sheet_row(cycle, candidate_id)
        logged = [_logged(r) for r in self.db.session.scalars(select(LoggedEvent).where(
            LoggedEvent.agency_id == self.db.agency, LoggedEvent.cycle == cycle,
            LoggedEvent.candidate_id == candidate_id))]
        sheet = domain.fold(candidate_id, logged)
        self._store_sheet(cycle, sheet_row, sheet)
        self._flag_if_late(cycle, event, name, typed, sheet)

    def _flag_if_late(self, cycle, event, name, typed, after):
        scheme_row = self._scheme_row(cycle)
        if scheme_row is None:
            return
        scheme = domain.scheme_from_stored(scheme_row.definition)
        closed = [s.stage for s in self._states(cycle).values()
                  if s.status == domain.CLOSED and s.stage in scheme.stage_names]
        part = typed.get("exam") or typed.get("part")
        stages = domain.affected_stages(scheme, closed, name, part)
        if not stages:
            return
        now_scores = domain.stage_scores(scheme, after)
        for stage in stages:
            published = self.db.session.scalar(select(Decision).where(
                Decision.agency_id == self.db.agency, Decision.cycle == cycle, Decision.stage == stage,
                Decision.candidate_id == after.candidate_id))
            current = now_scores[stage].score
            what = f"{name}" + (f" ({part})" if part else "")
            detail = (f"{what} arrived after stage {stage} was closed; the published decision stands until the "
                      f"stage is re-opened and closed again")
            flag = Flag(agency_id=self.db.agency, cycle=cycle, stage=stage, candidate_id=after.candidate_id,
                        event_id=event.id, event_name=name, published_score=published.score if published else None,
                        current_score=current, detail=detail, created_at=utcnow())
            self.db.session.add(flag)
            self.db.emit("score_flagged", after.candidate_id, {
                "cycle": cycle, "stage": stage, "candidate_id": after.candidate_id, "event_id": event.id,
                "event_name": name, "published_score": domain.fmt(flag.published_score),
                "current_score": domain.fmt(current)})
            self.db.audit(None, "score.flag", "stage", f"{cycle}:{stage}",
                          {"candidate_id": after.candidate_id, "event_id": event.id, "event_name": name})

    def _store_sheet(self, cycle, row, sheet: domain.Sheet):
        if row is None:
            row = ScoreSheet(agency_id=self.db.agency, cycle=cycle, candidate_id=sheet.candidate_id)
            row.parts, row.lectures = [], []
            self.db.session.add(row)
        row.name, row.registered_at, row.person_key = sheet.name, sheet.registered_at, sheet.person_key
        row.approved, row.withdrawn, row.lecture_count = sheet.approved, sheet.withdrawn, sheet.lecture_count
        row.updated_at = utcnow()
        parts = {p.part: p for p in row.parts}
        for part, held in sheet.parts.items():
            target = parts.get(part)
            if target is None:
                target = SheetPart(part=part)
                row.parts.append(target)
            target.score, target.event_id, target.scored_at, target.detail = (
                held.score, held.event_id, held.scored_at, held.detail)
        lectures = {lec.lecture_id: lec for lec in row.lectures}
        for lecture_id, lec in sheet.lectures.items():
            target = lectures.get(lecture_id)
            if target is None:
                target = SheetLecture(lecture_id=lecture_id)
                row.lectures.append(target)
            target.counted, target.kind, target.lecture_date = lec.counted, lec.kind, lec.lecture_date
            target.event_id, target.at, target.reason = lec.event_id, lec.at, lec.reason
        self.db.session.flush()

    # ---- views -------------------------------------------------------------------------------

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

    def _ranking(self, cycle, scheme, stage_name, sheets=None) -> domain.Ranking:
        sheets = self._sheets(cycle) if sheets is None else sheets
        return domain.rank(scheme, stage_name, sheets, self._entrants(cycle, scheme, stage_name))

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
        return schemas.RankingOut().dump({
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
            per_stage = domain.stage_scores(scheme, sheet)
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
                    "score": domain.fmt(result.score), "rank": position, "unranked_reason": reason,
                    "components": [{
                        "ref": c.ref, "label": scheme.label_of(c.ref), "weight": domain.plain(c.weight),
                        "score": domain.fmt(c.score),
                        "contribution": None if c.contribution is None else domain.plain(c.contribution),
                        "event_id": sheet.parts[c.ref].event_id if c.ref in sheet.parts else None,
                        "at": sheet.parts[c.ref].scored_at if c.ref in sheet.parts else None,
                    } for c in result.components],
                    "lectures": result.lectures, "points_per_lecture": domain.plain(stage_def.points_per_lecture),
                    "lecture_points": domain.fmt(result.lecture_points),
                    "decision": _decision_out(decision),
                })
        return schemas.ExplainOut().dump({
            "cycle": cycle, "candidate_id": sheet.candidate_id, "name": sheet.name,
            "registered_at": sheet.registered_at, "approved": sheet.approved, "withdrawn": sheet.withdrawn,
            "parts": [{"part": p, "label": domain.PARTS.get(p, p), "score": domain.fmt(h.score),
                       "event_id": h.event_id, "scored_at": h.scored_at, "detail": h.detail}
                      for p, h in sorted(sheet.parts.items())],
            "lectures": [{"lecture_id": lec.lecture_id, "counted": lec.counted, "kind": lec.kind,
                          "lecture_date": lec.lecture_date, "event_id": lec.event_id, "at": lec.at,
                          "reason": lec.reason} for _, lec in sorted(sheet.lectures.items())],
            "lecture_count": sheet.lecture_count, "stages": stages, "rounding": ROUNDING,
        })

    # ---- helpers -----------------------------------------------------------------------------

    def _published_scheme(self, name) -> dict:
        path = DATA_DIR / f"scheme_{name}.yml"
        if not path.exists():
            raise ValidationFailed(f"no published scheme {name}", {"published": [f"no scheme_{name}.yml shipped"]})
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        return load(schemas.SchemeIn, raw)

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
        return schemas.SchemeOut().dump({
            "cycle": row.cycle, "version": row.version, "title": row.title, "loaded_at": row.loaded_at,
            "loaded_by": row.loaded_by,
            "stages": [dict(s, parts=[dict(p, label=scheme.label_of(p["ref"])) for p in s["parts"]],
                            status=states[s["name"]].status if s["name"] in states else domain.OPEN)
                       for s in row.definition["stages"]],
        })

    @staticmethod
    def _state_out(state):
        return schemas.StageStateOut().dump({
            "cycle": state.cycle, "stage": state.stage, "status": state.status, "round": state.rounds,
            "closed_at": state.closed_at, "reopened_at": state.reopened_at, "reopen_reason": state.reopen_reason})


# ---- module helpers ------------------------------------------------------------------------------

def to_domain(row: ScoreSheet) -> domain.Sheet:
    return domain.Sheet(
        candidate_id=row.candidate_id, name=row.name, registered_at=row.registered_at, person_key=row.person_key,
        approved=row.approved, withdrawn=row.withdrawn,
        parts={p.part: domain.PartScore(p.score, p.event_id, p.scored_at, p.detail or {}) for p in row.parts},
        lectures={lec.lecture_id: domain.Lecture(lec.lecture_id, lec.counted, lec.kind, lec.lecture_date,
                                                 lec.event_id, lec.at, lec.reason) for lec in row.lectures},
    )


def _logged(row: LoggedEvent) -> domain.LoggedEvent:
    return domain.LoggedEvent(row.event_id, row.name, row.time, schemas.consumed_data(row.name, row.data))


def _ranked_out(r: domain.Ranked, decisions) -> dict:
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


def _score_cell(value):
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


def _parse_time(raw: str) -> datetime:
    try:
        moment = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        raise ValidationFailed("the envelope time is not RFC 3339", {"time": [str(raw)[:40]]}) from None
    if moment.tzinfo is None:
        raise ValidationFailed("the envelope time has no zone", {"time": [str(raw)[:40]]})
    return moment
