"""Events from registration, training and subsidies, each kept in the append-only log, folded into sheets."""
from __future__ import annotations

from sqlalchemy import select

from shared.errors import RuleViolation
from shared.subscriber import subscribe
from shared.workdays import utcnow

from . import domain, schemas
from . import ranking as ranks
from .access import logged_event, parse_time
from .models import Decision, Flag, LoggedEvent, ScoreSheet, SheetLecture, SheetPart


class EventHandlers:

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
        at = parse_time(event.time)
        cycle, candidate_id = typed["cycle"], typed["candidate_id"]
        self.db.session.add(LoggedEvent(
            agency_id=self.db.agency, event_id=event.id, event_type=event.type, name=name, cycle=cycle,
            candidate_id=candidate_id, time=at, data=event.raw_data, received_at=utcnow()))
        self.db.session.flush()
        sheet_row = self._sheet_row(cycle, candidate_id)
        logged = [logged_event(r) for r in self.db.session.scalars(select(LoggedEvent).where(
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
        stages = ranks.affected_stages(scheme, closed, name, part)
        if not stages:
            return
        now_scores = ranks.stage_scores(scheme, after)
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
        row.district = sheet.district
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
