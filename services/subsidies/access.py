"""Lookups with their access checks, and the output of records (schemas dump rows)."""
from __future__ import annotations

from datetime import date

from sqlalchemy import bindparam, func, select

from shared.errors import Forbidden, NotFound
from shared.pii import mask_contact
from shared.schemas import as_id, schema_instance, with_values
from shared.workdays import CalendarOutOfRange, utcnow

from . import domain, schemas
from .models import EvidenceFile, Lecture, Lecturer, LectureOrder, PaymentBatch, PaymentItem, Subsidy, SubsidyCycle
from .roles import READERS


# Built once: a statement reused with new parameters skips its construction and reuses its cache key
# (every report's checks read the cycle and the lecturer).
_CYCLE_BY_CODE = select(SubsidyCycle).where(SubsidyCycle.agency_id == bindparam("agency"),
                                            SubsidyCycle.code == bindparam("code"))
_CYCLE_BY_CODE_LOCKED = _CYCLE_BY_CODE.with_for_update()
_LECTURER = select(Lecturer).where(Lecturer.agency_id == bindparam("agency"), Lecturer.cycle == bindparam("cycle"),
                                   Lecturer.candidate_id == bindparam("candidate_id"))


class Lookups:

    def _cycle_or_none(self, code, lock=False):
        return self.db.session.scalar(_CYCLE_BY_CODE_LOCKED if lock else _CYCLE_BY_CODE,
                                      {"agency": self.db.agency, "code": str(code)})

    def _cycle(self, code, field=None):
        cycle = self._cycle_or_none(code)
        if cycle is None:
            if field:
                raise NotFound(f"subsidy cycle {code} not found", {field: [f"unknown cycle {code!r}: set it first"]})
            raise NotFound(f"subsidy cycle {code} not found")
        return cycle

    def _lecturer_row(self, cycle, candidate_id) -> Lecturer:
        row = self.db.session.scalar(select(Lecturer).where(
            Lecturer.agency_id == self.db.agency, Lecturer.cycle == cycle,
            Lecturer.candidate_id == candidate_id).with_for_update())
        if row is None:
            row = Lecturer(agency_id=self.db.agency, cycle=cycle, candidate_id=candidate_id, in_tour=False,
                           updated_at=utcnow())
            self.db.session.add(row)
            self.db.session.flush()  # a racing replica's insert surfaces here; the subscriber re-runs the handler
        return row

    def _lecturer(self, cycle, candidate_id) -> Lecturer | None:
        return self.db.session.scalar(_LECTURER, {"agency": self.db.agency, "cycle": cycle,
                                                  "candidate_id": candidate_id})

    def _in_tour(self, cycle, candidate_id) -> bool:
        lecturer = self._lecturer(cycle, candidate_id)
        return bool(lecturer and lecturer.in_tour)

    def _own_candidate(self, cycle, candidate_id) -> int:
        """A lecturer acts for itself: the candidate whose person_key its token is bound to."""
        mine = self.db.session.scalars(select(Lecturer.candidate_id).where(
            Lecturer.agency_id == self.db.agency, Lecturer.cycle == cycle,
            Lecturer.person_key == (self.caller.person or ""))).all()
        if not mine or (candidate_id is not None and candidate_id not in mine):
            raise Forbidden("a lecturer acts for itself only")
        return candidate_id if candidate_id is not None else mine[0]

    def _ensure_may_report_for(self, cycle, candidate_id):
        if self.caller.role == "lecturer":
            self._own_candidate(cycle, candidate_id)

    def _file_by_sha(self, sha):
        return self.db.session.scalar(select(EvidenceFile).where(
            EvidenceFile.agency_id == self.db.agency, EvidenceFile.sha256 == sha))

    def _lecture(self, lecture_id, lock=False) -> Lecture:
        stmt = select(Lecture).where(Lecture.id == as_id(lecture_id), Lecture.agency_id == self.db.agency)
        lecture = self.db.session.scalar(stmt.with_for_update() if lock else stmt)
        role = self.caller.role
        visible = lecture is not None and (role in READERS or (role == "lecturer" and self._is_mine(lecture)))
        if not visible:
            self.caller.require("lecturer", *READERS)
            raise NotFound(f"lecture {lecture_id} not found")
        return lecture

    def _is_mine(self, lecture) -> bool:
        """A lecturer sees the reports of the candidate its token is bound to (by person_key)."""
        lecturer = self._lecturer(lecture.cycle, lecture.candidate_id)
        return bool(lecturer and self.caller.person and lecturer.person_key == self.caller.person)

    def _order(self, order_id, lock=False, taker=False) -> LectureOrder:
        self.caller.require("lecturer", "enterprise", *READERS)
        stmt = select(LectureOrder).where(LectureOrder.id == as_id(order_id),
                                          LectureOrder.agency_id == self.db.agency)
        order = self.db.session.scalar(stmt.with_for_update() if lock else stmt)
        if order is None or (self.caller.role == "enterprise" and order.ordered_by != self._party()) or (
                self.caller.role == "lecturer" and order.candidate_id and not self._took(order)):
            # a lecturer sees the orders still open (to take one) and those it took, not another's
            raise NotFound(f"order {order_id} not found")
        if taker:
            if self.caller.role == "lecturer":
                if not self._took(order):
                    raise Forbidden("only the lecturer who took the order, or the center, may do this")
            elif not self.caller.is_staff:
                raise Forbidden("only the lecturer who took the order, or the center, may do this")
        return order

    def _batch(self, batch_id, lock=False) -> PaymentBatch:
        stmt = select(PaymentBatch).where(PaymentBatch.id == as_id(batch_id),
                                          PaymentBatch.agency_id == self.db.agency)
        batch = self.db.session.scalar(stmt.with_for_update() if lock else stmt)
        if batch is None:
            raise NotFound(f"payment batch {batch_id} not found")
        return batch

    def _batch_rows(self, batch):
        return self.db.session.execute(
            select(PaymentItem, Lecture).join(Subsidy, PaymentItem.subsidy_id == Subsidy.id)
            .join(Lecture, Subsidy.lecture_id == Lecture.id)
            .where(PaymentItem.batch_id == batch.id).order_by(PaymentItem.id)).all()

    def _party(self) -> str:
        return self.caller.person or self.caller.actor

    @staticmethod
    def _order_ref(order) -> dict:
        return {"order_id": order.id, "cycle": order.cycle, "status": order.status}

    @staticmethod
    def _cycle_out(cycle) -> dict:
        return schema_instance(schemas.SubsidyCycleOut).dump(cycle)

    def _took(self, order) -> bool:
        lecturer = self._lecturer(order.cycle, order.candidate_id) if order.candidate_id else None
        return bool(lecturer and self.caller.person and lecturer.person_key == self.caller.person)

    def _sees_order_contact(self, order) -> bool:
        """The order's contact phone, whole: for the center (it arranges and checks orders), the enterprise
        that ordered (its own number) and the lecturer who took the order (they call to fix the date);
        masked for everyone else (integrator, finance, lecturers looking at an order still open)."""
        role = self.caller.role
        if self.caller.is_staff:
            return True
        if role == "enterprise":
            return order.ordered_by == self._party()
        return role == "lecturer" and self._took(order)

    def _order_out(self, order) -> dict:
        contact = order.contact if self._sees_order_contact(order) else mask_contact(order.contact)
        return schema_instance(schemas.OrderOut).dump(with_values(order, wished_dates=[_date(d) for d in order.wished_dates],
                                                   contact=contact))

    def _lecture_out(self, lecture) -> dict:
        try:
            due = domain.evidence_deadline(lecture.lecture_date)
        except CalendarOutOfRange:
            due = None
        subsidy = self.db.session.scalar(select(Subsidy.amount_fen).where(
            Subsidy.lecture_id == lecture.id, Subsidy.status != domain.REVOKED))
        files, none = {}, (None, None)
        if lecture.signin_file_id or lecture.video_file_id:
            ids = [i for i in (lecture.signin_file_id, lecture.video_file_id) if i]
            files = {i: (sha, ctype) for i, sha, ctype in self.db.session.execute(
                select(EvidenceFile.id, EvidenceFile.sha256, EvidenceFile.content_type)
                .where(EvidenceFile.id.in_(ids))).all()}
        # the report's contact phone, whole: for the center (it reviews the report and calls back) and the
        # lecturer who filed it (a lecturer reads its own reports only); masked for integrator and finance,
        # who have no need for it (finance pays to the account, not to a phone)
        contact = lecture.contact if self.caller.is_staff or self.caller.role == "lecturer" else \
            mask_contact(lecture.contact)
        return schema_instance(schemas.LectureOut).dump(with_values(
            lecture, contact=contact, evidence_due=due, subsidy_fen=subsidy, failed_rules=lecture.failed_rules or [],
            checks=domain.rule_outcomes(lecture.kind, lecture.failed_rules or []) if lecture.checked_at else [],
            # the sheet may be a photo or a PDF: its type says how to show it
            signin_sheet={"file": files.get(lecture.signin_file_id, none)[0], "head_count": lecture.signin_head_count,
                          "content_type": files.get(lecture.signin_file_id, none)[1]}
            if lecture.signin_file_id else None,
            video={"file": files.get(lecture.video_file_id, none)[0]} if lecture.video_file_id else None,
            photos=[{"file": p["sha256"], "shows_banner": p["shows_banner"]} for p in lecture.photos or []]))

    def _batch_out(self, batch) -> dict:
        counts = dict(self.db.session.execute(
            select(PaymentItem.status, func.count()).where(PaymentItem.batch_id == batch.id)
            .group_by(PaymentItem.status)).all())
        return schema_instance(schemas.BatchOut).dump(with_values(
            batch, total_yuan=domain.yuan(batch.total_fen), paid=counts.get(domain.ITEM_PAID, 0),
            failed=counts.get(domain.ITEM_FAILED, 0), pending=counts.get(domain.ITEM_PENDING, 0)))

def _date(value):
    return date.fromisoformat(value) if isinstance(value, str) else value
