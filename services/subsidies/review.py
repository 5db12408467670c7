"""The center's side of the tour: a cycle's window and subsidy, review of checked reports, compliance."""
from __future__ import annotations

from sqlalchemy import select

from shared.auth import STAFF
from shared.bulk import ALREADY, APPLIED, apply_each, unique
from shared.db import transactional
from shared.entrypoints import rpc
from shared.schemas import as_code, load, schema_instance
from shared.workdays import utcnow

from . import domain, schemas
from .models import Lecture, Lecturer, Subsidy, SubsidyCycle
from .roles import COMPLIANCE_READERS, PARTIES


class ReviewRpc:

    @rpc(roles=STAFF)
    @transactional
    def set_cycle(self, code, payload):
        code = as_code(code, field="code")
        data = load(schemas.SubsidyCycleIn, payload)
        cycle = self._cycle_or_none(code, lock=True)
        now = utcnow()
        if cycle is None:
            cycle = SubsidyCycle(agency_id=self.db.agency, code=code, created_at=now, **data)
            self.db.session.add(cycle)
        else:
            for key, value in data.items():
                setattr(cycle, key, value)
        cycle.updated_at = now
        self.db.session.flush()
        self.db.emit("subsidy_cycle_set", code, dict(data, cycle=code))
        self.db.audit(self.caller, "subsidy_cycle.set", "subsidy_cycle", code, data)
        return self._cycle_out(cycle)

    @rpc(roles=PARTIES)
    def get_cycle(self, code):
        return self._cycle_out(self._cycle(code))

    @rpc(roles=STAFF)
    @transactional
    def approve_lecture(self, lecture_id, payload):
        data = load(schemas.ReviewIn, payload)
        lecture = self._lecture(lecture_id, lock=True)
        self._approve(lecture, data)
        return self._lecture_out(lecture)

    @rpc(roles=STAFF)
    @transactional
    def reject_lecture(self, lecture_id, payload):
        data = load(schemas.RejectIn, payload)
        lecture = self._lecture(lecture_id, lock=True)
        self._reject(lecture, data)
        return self._lecture_out(lecture)

    @rpc(roles=STAFF)
    @transactional
    def bulk_approve_lectures(self, payload):
        """Approve many checked reports: one result per report (shared.bulk), repeat-safe."""
        data = load(schemas.BulkReviewIn, payload)
        review = {"signed_by": data["signed_by"]}

        def apply(lecture_id):
            lecture = self._lecture(lecture_id, lock=True)
            if lecture.status == domain.APPROVED:
                return ALREADY, {"report_status": lecture.status}
            self._approve(lecture, review)
            return APPLIED, {"report_status": lecture.status}

        return self._bulk(data["lecture_ids"], apply)

    @rpc(roles=STAFF)
    @transactional
    def bulk_reject_lectures(self, payload):
        """Reject many checked reports with the same reasons: one result per report (shared.bulk)."""
        data = load(schemas.BulkRejectIn, payload)
        review = {"signed_by": data["signed_by"], "reasons": data["reasons"]}

        def apply(lecture_id):
            lecture = self._lecture(lecture_id, lock=True)
            if lecture.status == domain.REJECTED:
                return ALREADY, {"report_status": lecture.status}
            self._reject(lecture, review)
            return APPLIED, {"report_status": lecture.status}

        return self._bulk(data["lecture_ids"], apply)

    def _bulk(self, lecture_ids, apply):
        result = apply_each(self.db, unique(lecture_ids, "lecture_ids"), apply, lambda key: {"lecture_id": key})
        return schema_instance(schemas.BulkReviewOut).dump(result)

    def _approve(self, lecture, data):
        lecture.status = domain.next_report_status(lecture.status, "approve")
        cycle = self._cycle(lecture.cycle)
        now = utcnow()
        lecture.reviewed_by, lecture.review_reasons, lecture.updated_at = data["signed_by"], None, now
        # the unique key on lecture_id: one subsidy per lecture, whatever races. An approval that was
        # revoked left its subsidy REVOKED (never paid): approving again reinstates that same row.
        subsidy = self.db.session.scalar(select(Subsidy).where(Subsidy.lecture_id == lecture.id).with_for_update())
        if subsidy is None:
            self.db.session.add(Subsidy(agency_id=self.db.agency, cycle=lecture.cycle, lecture_id=lecture.id,
                                        candidate_id=lecture.candidate_id, amount_fen=cycle.lecture_subsidy_fen,
                                        status=domain.UNPAID, created_at=now))
            self.db.session.flush()
        else:
            domain.ensure_subsidy_reinstatable(subsidy.status)
            subsidy.status, subsidy.amount_fen = domain.UNPAID, cycle.lecture_subsidy_fen
        self.db.emit("lecture_approved", lecture.id, {
            "cycle": lecture.cycle, "lecture_id": lecture.id, "candidate_id": lecture.candidate_id,
            "kind": lecture.kind, "lecture_date": lecture.lecture_date, "approved_at": now})
        self.db.audit(self.caller, "lecture.approve", "lecture", lecture.id, data)

    def _reject(self, lecture, data):
        lecture.status = domain.next_report_status(lecture.status, "reject")
        lecture.reviewed_by, lecture.review_reasons, lecture.updated_at = data["signed_by"], data["reasons"], utcnow()
        self.db.emit("lecture_rejected", lecture.id, {
            "cycle": lecture.cycle, "lecture_id": lecture.id, "candidate_id": lecture.candidate_id,
            "reasons": data["reasons"]})
        self.db.audit(self.caller, "lecture.reject", "lecture", lecture.id, data)

    @rpc(roles=STAFF)
    @transactional
    def revoke_approval(self, lecture_id, payload):
        data = load(schemas.RevokeIn, payload)
        lecture = self._lecture(lecture_id, lock=True)
        lecture.status = domain.next_report_status(lecture.status, "revoke")
        subsidy = self.db.session.scalar(select(Subsidy).where(Subsidy.lecture_id == lecture.id).with_for_update())
        domain.ensure_subsidy_revocable(subsidy.status if subsidy is not None else None)
        if subsidy is not None:
            subsidy.status = domain.REVOKED
        lecture.review_reasons, lecture.updated_at = [data["reason"]], utcnow()
        self.db.emit("lecture_approval_revoked", lecture.id, {
            "cycle": lecture.cycle, "lecture_id": lecture.id, "candidate_id": lecture.candidate_id,
            "reason": data["reason"]})
        self.db.audit(self.caller, "lecture.revoke", "lecture", lecture.id, data)
        return self._lecture_out(lecture)

    @rpc(roles=COMPLIANCE_READERS)
    def compliance_report(self, code):
        cycle = self._cycle(code)
        lecturers = self.db.session.execute(
            select(Lecturer.candidate_id, Lecturer.name).where(
                Lecturer.agency_id == self.db.agency, Lecturer.cycle == cycle.code, Lecturer.in_tour.is_(True))
        ).all()
        approved = self.db.session.execute(
            select(Lecture.candidate_id, Lecture.kind).where(
                Lecture.agency_id == self.db.agency, Lecture.cycle == cycle.code,
                Lecture.status == domain.APPROVED)).all()
        report = domain.compliance([tuple(r) for r in lecturers], [tuple(r) for r in approved],
                                   cycle.target_lectures)
        return schema_instance(schemas.ComplianceOut).dump(dict(report, cycle=cycle.code))
