"""The lecture-subsidies service: nameko glue around the rules in ``domain``.

Scale-out: ``submit_lecture`` only validates, stores the report as ``received`` and
emits ``report_submitted`` through the outbox; ``run_checks`` (a competing consumer
of that event's queue) runs the automatic checks. Every replica consumes the same
queue, so N replicas share the checks; the inbox claim, a row lock on the report
and its version make a duplicate or redelivered event a no-op.
"""
from __future__ import annotations

import base64
import binascii
import csv
import functools
import io
import logging
import os
import socket
import time

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from shared.auth import STAFF, CallerProvider
from shared.db import Database, transactional
from shared.entrypoints import PlatformRpc, rpc
from shared.errors import Forbidden, NotFound, RuleViolation, ValidationFailed
from shared.pii import get_vault, mask_account, mask_id_number
from shared.providers import FileStore
from shared.schemas import load, page_of
from shared.storage import sniff
from shared.subscriber import subscribe
from shared.workdays import CalendarOutOfRange, local_date, utcnow

import eventlet  # noqa: E402  (after shared: it installs the warning filters)

from . import domain, schemas
from .models import (
    Base, EvidenceFile, Lecture, Lecturer, LectureOrder, PaymentBatch, PaymentItem, Subsidy, SubsidyCycle,
    TrainingSubsidy, platform,
)

log = logging.getLogger(__name__)

READERS = ("admin", "operator", "finance", "integrator")
PAYERS = ("finance", *STAFF)
IMAGE_TYPES = ("image/jpeg", "image/png")
SIGNIN_TYPES = ("image/jpeg", "image/png", "application/pdf")
UPLOAD_TYPES = ("image/jpeg", "image/png", "application/pdf", "video/mp4")
IMAGE_MAX_BYTES = 16 * 1024 * 1024
VIDEO_MAX_BYTES = 64 * 1024 * 1024     # the gateway route admits the same
RESULT_FILE_MAX_BYTES = 4 * 1024 * 1024
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"


def handler_transaction(method):
    """Commit an event handler's work; a unique-key race with another replica is retried.

    A lost race (two replicas inserting the same inbox row, lecturer or training subsidy)
    is not a fault of the event: roll back and run again, and the second run sees the
    winner's row. Anything else propagates to the subscriber's retries.
    """

    @functools.wraps(method)
    def wrapper(self, event):
        for attempt in range(3):
            try:
                method(self, event)
                self.db.commit()
                return
            except IntegrityError:
                self.db.rollback()
                log.info("%s lost a race on %s (attempt %d); re-running", method.__name__, event.id, attempt + 1)
            except BaseException:
                self.db.rollback()
                raise
        raise RuntimeError(f"{method.__name__} kept conflicting on event {event.id}")

    return wrapper


class SubsidiesService(PlatformRpc):
    name = "subsidies"

    db = Database(Base.metadata, platform)
    caller = CallerProvider()
    files = FileStore()

    # ---- cycles ------------------------------------------------------------------------------

    @rpc
    @transactional
    def set_cycle(self, code, payload):
        self.caller.require(*STAFF)
        code = _code(code)
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

    @rpc
    def get_cycle(self, code):
        self.caller.require("lecturer", "enterprise", *READERS)
        return self._cycle_out(self._cycle(code))

    # ---- evidence files ----------------------------------------------------------------------

    @rpc
    @transactional
    def upload_evidence(self, upload):
        """One evidence file (photo, sign-in sheet, video); content-addressed, so re-uploads are free."""
        self.caller.require("lecturer", *STAFF)
        raw = _decode_upload(upload)
        ctype = sniff(raw)
        limit = VIDEO_MAX_BYTES if ctype == "video/mp4" else IMAGE_MAX_BYTES
        stored = self.files.put(raw, "file", UPLOAD_TYPES, limit)
        filename = str((upload or {}).get("filename") or "")[:200] or None
        row = self._file_by_sha(stored.sha256)
        if row is None:
            row = EvidenceFile(agency_id=self.db.agency, sha256=stored.sha256, key=stored.key,
                               content_type=stored.content_type, size=stored.size, filename=filename,
                               uploaded_by=self.caller.actor, uploaded_at=utcnow())
            self.db.session.add(row)
            try:
                self.db.session.flush()
            except IntegrityError:  # another replica stored the same bytes meanwhile: same file
                self.db.rollback()
                row = self._file_by_sha(stored.sha256)
        return schemas.FileOut().dump(row)

    # ---- lecture reports ---------------------------------------------------------------------

    @rpc
    @transactional
    def submit_lecture(self, payload):
        """Store a report as ``received`` and queue its checks; ``lecture_checks`` tells the outcome."""
        self.caller.require("lecturer", *STAFF)
        data = load(schemas.LectureIn, payload)
        now = utcnow()
        cycle = self._cycle(data["cycle"], field="cycle")
        received_at = self._received_at(data.pop("received_at"), data["lecture_date"], now)
        self._ensure_may_report_for(cycle.code, data["candidate_id"])
        self._check_date_and_order(data, cycle.code, now)
        evidence = self._resolve_evidence(data)
        lecture = Lecture(
            agency_id=self.db.agency, cycle=cycle.code, candidate_id=data["candidate_id"], kind=data["kind"],
            order_id=data["order_id"], host_candidate_id=data["host_candidate_id"], status=domain.RECEIVED,
            version=1, lecturer_name=data["lecturer_name"],
            id_number=data["id_number"], id_index=get_vault().blind_index(data["id_number"]),
            id_masked=mask_id_number(data["id_number"]), lecture_date=data["lecture_date"], venue=data["venue"],
            venue_key=domain.venue_key(data["venue"]), audience_count=data["audience_count"], bank=data["bank"],
            branch=data["branch"], account_number=data["account_number"],
            account_masked=mask_account(data["account_number"]), contact=data["contact"], received_at=received_at,
            failed_rules=[], submitted_by=self.caller.actor, created_at=now, updated_at=now, **evidence)
        self.db.session.add(lecture)
        try:
            self.db.session.flush()  # the first write: the unique key answers for every replica at once
        except IntegrityError as exc:
            self.db.rollback()
            if not _is_duplicate_lecture(exc):
                raise
            raise RuleViolation(
                "this lecturer already reported a lecture on that date at that venue",
                {"venue": ["duplicate of an existing report: correct that one instead"]},
                rule="duplicate_lecture") from None
        self._queue_checks(lecture)
        self.db.audit(self.caller, "lecture.submit", "lecture", lecture.id,
                      {"cycle": cycle.code, "kind": lecture.kind, "lecture_date": lecture.lecture_date})
        return self._lecture_out(lecture)

    @rpc
    @transactional
    def resubmit_lecture(self, lecture_id, payload):
        """A corrected report after failed checks or a rejection, while the evidence is still on time."""
        self.caller.require("lecturer", *STAFF)
        data = load(schemas.LectureIn, payload)
        lecture = self._lecture(lecture_id, lock=True)
        if (data["cycle"], data["candidate_id"]) != (lecture.cycle, lecture.candidate_id):
            raise ValidationFailed("a correction cannot move the report to another lecturer or cycle",
                                   {"candidate_id": ["must stay the same"], "cycle": ["must stay the same"]})
        now = utcnow()
        status = domain.next_report_status(lecture.status, "resubmit")
        received_at = self._received_at(data.pop("received_at"), data["lecture_date"], now)
        domain.ensure_can_resubmit(data["lecture_date"], received_at)
        self._check_date_and_order(data, lecture.cycle, now)
        evidence = self._resolve_evidence(data)
        values = dict(
            kind=data["kind"], order_id=data["order_id"], host_candidate_id=data["host_candidate_id"],
            lecturer_name=data["lecturer_name"],
            id_number=data["id_number"], id_index=get_vault().blind_index(data["id_number"]),
            id_masked=mask_id_number(data["id_number"]), lecture_date=data["lecture_date"], venue=data["venue"],
            venue_key=domain.venue_key(data["venue"]), audience_count=data["audience_count"], bank=data["bank"],
            branch=data["branch"], account_number=data["account_number"],
            account_masked=mask_account(data["account_number"]), contact=data["contact"],
            received_at=received_at, **evidence)
        for key, value in values.items():
            setattr(lecture, key, value)
        lecture.status, lecture.failed_rules, lecture.checked_at, lecture.checked_by = status, [], None, None
        lecture.version += 1
        lecture.updated_at = now
        try:
            self.db.session.flush()
        except IntegrityError as exc:
            self.db.rollback()
            if not _is_duplicate_lecture(exc):
                raise
            raise RuleViolation("another report of this lecturer has that date and venue",
                                {"venue": ["duplicate of an existing report"]}, rule="duplicate_lecture") from None
        self._queue_checks(lecture)
        self.db.audit(self.caller, "lecture.resubmit", "lecture", lecture.id, {"version": lecture.version})
        return self._lecture_out(lecture)

    @subscribe("subsidies", "report_submitted")
    @handler_transaction
    def run_checks(self, event):
        """The automatic checks of one report version; any replica may take it, once."""
        data = event.data
        lecture = self.db.session.scalar(
            select(Lecture).where(Lecture.id == data["lecture_id"], Lecture.agency_id == self.db.agency)
            .with_for_update())
        if not self.db.claim(event, "subsidies.run_checks"):
            return
        if lecture is None or lecture.status != domain.RECEIVED or lecture.version != data["version"]:
            return  # a stale or repeated request: that version was already judged or replaced
        result = domain.check_report(self._report_of(lecture), self._facts_of(lecture))
        now = utcnow()
        ref = {"cycle": lecture.cycle, "lecture_id": lecture.id, "candidate_id": lecture.candidate_id,
               "version": lecture.version}
        lecture.failed_rules = result.failed
        lecture.checked_at, lecture.checked_by, lecture.updated_at = now, WORKER_ID, now
        if result.passed:
            lecture.status = domain.next_report_status(lecture.status, "checks_passed")
            self.db.emit("lecture_checks_passed", lecture.id, ref)
        else:
            lecture.status = domain.next_report_status(lecture.status, "checks_failed")
            self.db.emit("lecture_checks_failed", lecture.id, dict(ref, rules=result.rules))

    @rpc
    def lecture_checks(self, lecture_id, query=None):
        """The checks' outcome: 200 pending/passed, 422 naming the failed rules. ``wait`` long-polls."""
        params = load(schemas.CheckQuery, query)
        deadline = time.monotonic() + params["wait"]
        while True:
            lecture = self._lecture(lecture_id)
            if lecture.status != domain.RECEIVED or time.monotonic() >= deadline:
                break
            self.db.session.close()  # see the replica's commit, and hold no connection while waiting
            eventlet.sleep(0.1)
        if lecture.status == domain.CHECKS_FAILED:
            domain.ensure_checks_passed(domain.CheckResult(list(lecture.failed_rules)))
        return schemas.CheckOut().dump({
            "id": lecture.id, "status": lecture.status, "failed_rules": [],
            "checks": "pending" if lecture.status == domain.RECEIVED else "passed"})

    @rpc
    def get_lecture(self, lecture_id):
        return self._lecture_out(self._lecture(lecture_id))

    @rpc
    def list_lectures(self, query=None):
        self.caller.require("lecturer", *READERS)
        params = load(schemas.LectureQuery, query)
        stmt = select(Lecture).where(Lecture.agency_id == self.db.agency)
        if self.caller.role == "lecturer":
            mine = select(Lecturer.candidate_id).where(
                Lecturer.agency_id == self.db.agency, Lecturer.cycle == Lecture.cycle,
                Lecturer.person_key == (self.caller.person or ""))
            stmt = stmt.where(Lecture.candidate_id.in_(mine.scalar_subquery()))
        for key in ("cycle", "status", "candidate_id", "kind"):
            if key in params:
                stmt = stmt.where(getattr(Lecture, key) == params[key])
        total = self.db.session.scalar(select(func.count()).select_from(stmt.subquery()))
        page, per_page = params["page"], params["per_page"]
        rows = self.db.session.scalars(stmt.order_by(Lecture.id).offset((page - 1) * per_page).limit(per_page))
        return page_of([self._lecture_out(r) for r in rows], page, per_page, total)

    @rpc
    @transactional
    def approve_lecture(self, lecture_id, payload):
        self.caller.require(*STAFF)
        data = load(schemas.ReviewIn, payload)
        lecture = self._lecture(lecture_id, lock=True)
        lecture.status = domain.next_report_status(lecture.status, "approve")
        cycle = self._cycle(lecture.cycle)
        now = utcnow()
        lecture.reviewed_by, lecture.review_reasons, lecture.updated_at = data["signed_by"], None, now
        # the unique key on lecture_id: one subsidy per lecture, whatever races
        self.db.session.add(Subsidy(agency_id=self.db.agency, cycle=lecture.cycle, lecture_id=lecture.id,
                                    candidate_id=lecture.candidate_id, amount_fen=cycle.lecture_subsidy_fen,
                                    status=domain.UNPAID, created_at=now))
        self.db.emit("lecture_approved", lecture.id, {
            "cycle": lecture.cycle, "lecture_id": lecture.id, "candidate_id": lecture.candidate_id,
            "kind": lecture.kind, "lecture_date": lecture.lecture_date, "approved_at": now})
        self.db.audit(self.caller, "lecture.approve", "lecture", lecture.id, data)
        return self._lecture_out(lecture)

    @rpc
    @transactional
    def reject_lecture(self, lecture_id, payload):
        self.caller.require(*STAFF)
        data = load(schemas.RejectIn, payload)
        lecture = self._lecture(lecture_id, lock=True)
        lecture.status = domain.next_report_status(lecture.status, "reject")
        lecture.reviewed_by, lecture.review_reasons, lecture.updated_at = data["signed_by"], data["reasons"], utcnow()
        self.db.emit("lecture_rejected", lecture.id, {
            "cycle": lecture.cycle, "lecture_id": lecture.id, "candidate_id": lecture.candidate_id,
            "reasons": data["reasons"]})
        self.db.audit(self.caller, "lecture.reject", "lecture", lecture.id, data)
        return self._lecture_out(lecture)

    @rpc
    @transactional
    def revoke_approval(self, lecture_id, payload):
        self.caller.require(*STAFF)
        data = load(schemas.RevokeIn, payload)
        lecture = self._lecture(lecture_id, lock=True)
        lecture.status = domain.next_report_status(lecture.status, "revoke")
        subsidy = self.db.session.scalar(select(Subsidy).where(Subsidy.lecture_id == lecture.id).with_for_update())
        if subsidy is not None and subsidy.status != domain.UNPAID:
            raise RuleViolation(f"its subsidy is {subsidy.status}: settle the payment first",
                                {"subsidy": [subsidy.status]}, rule="subsidy_in_payment")
        if subsidy is not None:
            subsidy.status = domain.REVOKED
        lecture.review_reasons, lecture.updated_at = [data["reason"]], utcnow()
        self.db.emit("lecture_approval_revoked", lecture.id, {
            "cycle": lecture.cycle, "lecture_id": lecture.id, "candidate_id": lecture.candidate_id,
            "reason": data["reason"]})
        self.db.audit(self.caller, "lecture.revoke", "lecture", lecture.id, data)
        return self._lecture_out(lecture)

    @rpc
    def compliance_report(self, code):
        self.caller.require("regulator", *READERS)
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
        return schemas.ComplianceOut().dump(dict(report, cycle=cycle.code))

    # ---- on-demand orders --------------------------------------------------------------------

    @rpc
    @transactional
    def order_lecture(self, payload):
        self.caller.require("enterprise", *STAFF)
        data = load(schemas.OrderIn, payload)
        cycle = self._cycle(data["cycle"], field="cycle")
        now = utcnow()
        order = LectureOrder(agency_id=self.db.agency, cycle=cycle.code, status=domain.ORDERED,
                             enterprise_name=data["enterprise_name"], ordered_by=self._party(),
                             topic=data["topic"], wished_dates=[d.isoformat() for d in data["wished_dates"]],
                             audience_size=data["audience_size"], address=data["address"],
                             contact=data["contact"], created_at=now, updated_at=now)
        self.db.session.add(order)
        self.db.session.flush()
        self.db.emit("lecture_ordered", order.id, dict(
            self._order_ref(order), enterprise_name=order.enterprise_name, topic=order.topic,
            wished_dates=data["wished_dates"], audience_size=order.audience_size))
        self.db.audit(self.caller, "order.create", "lecture_order", order.id, {"topic": order.topic})
        return self._order_out(order)

    @rpc
    @transactional
    def accept_order(self, order_id, payload):
        self.caller.require("lecturer", *STAFF)
        data = load(schemas.AcceptIn, payload)
        order = self._order(order_id, lock=True)
        if self.caller.role == "lecturer":
            candidate_id = self._own_candidate(order.cycle, data["candidate_id"])
        elif data["candidate_id"] is None:
            raise ValidationFailed("say which lecturer takes it", {"candidate_id": ["required for staff"]})
        else:
            candidate_id = data["candidate_id"]
        if not self._in_tour(order.cycle, candidate_id):
            raise RuleViolation("only a lecturer of the tour may take an order",
                                {"candidate_id": ["not in the tour"]}, rule="lecturer_not_in_tour")
        order.status = domain.next_order_status(order.status, "accept")
        order.candidate_id, order.accepted_by, order.updated_at = candidate_id, self.caller.actor, utcnow()
        self.db.emit("lecture_order_accepted", order.id, dict(self._order_ref(order), candidate_id=candidate_id))
        self.db.audit(self.caller, "order.accept", "lecture_order", order.id, {"candidate_id": candidate_id})
        return self._order_out(order)

    @rpc
    @transactional
    def schedule_order(self, order_id, payload):
        data = load(schemas.ScheduleIn, payload)
        order = self._order(order_id, lock=True, taker=True)
        order.status = domain.next_order_status(order.status, "schedule")
        order.scheduled_date, order.updated_at = data["date"], utcnow()
        self.db.emit("lecture_scheduled", order.id, dict(self._order_ref(order), candidate_id=order.candidate_id,
                                                         date=data["date"]))
        self.db.audit(self.caller, "order.schedule", "lecture_order", order.id, data)
        return self._order_out(order)

    @rpc
    @transactional
    def mark_order_held(self, order_id, payload=None):
        order = self._order(order_id, lock=True, taker=True)
        order.status = domain.next_order_status(order.status, "hold")
        order.updated_at = utcnow()
        self.db.emit("lecture_held", order.id, dict(self._order_ref(order), candidate_id=order.candidate_id,
                                                    date=order.scheduled_date))
        self.db.audit(self.caller, "order.held", "lecture_order", order.id, {})
        return self._order_out(order)

    @rpc
    @transactional
    def cancel_order(self, order_id, payload):
        self.caller.require("enterprise", *STAFF)
        data = load(schemas.CancelIn, payload)
        order = self._order(order_id, lock=True)
        order.status = domain.next_order_status(order.status, "cancel")
        order.cancellation_reason, order.updated_at = data["reason"], utcnow()
        self.db.emit("lecture_order_cancelled", order.id, dict(self._order_ref(order), reason=data["reason"]))
        self.db.audit(self.caller, "order.cancel", "lecture_order", order.id, data)
        return self._order_out(order)

    @rpc
    def get_order(self, order_id):
        return self._order_out(self._order(order_id))

    # ---- payments ----------------------------------------------------------------------------

    @rpc
    @transactional
    def create_batch(self, payload):
        """A batch of approved, unpaid subsidies (failed payments are back in that pool)."""
        self.caller.require(*PAYERS)
        data = load(schemas.BatchIn, payload)
        cycle = self._cycle(data["cycle"], field="cycle")
        # SKIP LOCKED: two operators batching at once split the pool instead of colliding
        subsidies = self.db.session.scalars(
            select(Subsidy).where(Subsidy.agency_id == self.db.agency, Subsidy.cycle == cycle.code,
                                  Subsidy.status == domain.UNPAID)
            .order_by(Subsidy.id).limit(data["limit"]).with_for_update(skip_locked=True)).all()
        if not subsidies:
            raise RuleViolation("no approved, unpaid subsidies to pay", {"cycle": ["nothing to pay"]},
                                rule="nothing_to_pay")
        now = utcnow()
        batch = PaymentBatch(agency_id=self.db.agency, cycle=cycle.code, status=domain.BATCH_OPEN,
                             item_count=len(subsidies), total_fen=sum(s.amount_fen for s in subsidies),
                             created_by=self.caller.actor, created_at=now)
        self.db.session.add(batch)
        self.db.session.flush()
        for s in subsidies:
            s.status = domain.IN_BATCH
            self.db.session.add(PaymentItem(batch_id=batch.id, subsidy_id=s.id, amount_fen=s.amount_fen,
                                            status=domain.ITEM_PENDING))
        self.db.session.flush()
        self.db.emit("payment_batch_created", batch.id, {"batch_id": batch.id, "cycle": batch.cycle,
                                                          "item_count": batch.item_count,
                                                          "total_fen": batch.total_fen})
        self.db.audit(self.caller, "batch.create", "payment_batch", batch.id,
                      {"items": batch.item_count, "total_fen": batch.total_fen})
        return self._batch_out(batch)

    @rpc
    def get_batch(self, batch_id):
        self.caller.require(*PAYERS)
        return self._batch_out(self._batch(batch_id))

    @rpc
    @transactional
    def export_batch(self, batch_id, query=None):
        """The bank file. Accounts and ID numbers unmasked for finance only; every export is audited."""
        self.caller.require(*PAYERS)
        params = load(schemas.ExportQuery, query)
        batch = self._batch(batch_id, lock=True)
        unmasked = self.caller.role == "finance"
        rows = []
        for item, lecture in self._batch_rows(batch):
            rows.append([_reference(batch.id, item.id), lecture.lecturer_name, lecture.bank, lecture.branch,
                         lecture.account_number if unmasked else lecture.account_masked,
                         domain.yuan(item.amount_fen)])
        header = ["reference", "name", "bank", "branch", "account", "amount_yuan"]
        if unmasked and batch.status == domain.BATCH_OPEN:
            batch.status, batch.exported_at = domain.BATCH_EXPORTED, utcnow()
            self.db.emit("payment_batch_exported", batch.id,
                         {"batch_id": batch.id, "format": params["format"], "rows": len(rows)})
        self.db.audit(self.caller, "batch.export", "payment_batch", batch.id,
                      {"format": params["format"], "unmasked": unmasked, "rows": len(rows)})
        name = f"subsidy-batch-{batch.id}{'' if unmasked else '-masked'}.{params['format']}"
        if params["format"] == "csv":
            buf = io.StringIO()
            writer = csv.writer(buf, lineterminator="\r\n")
            writer.writerow(header)
            writer.writerows(rows)
            data, ctype = ("\ufeff" + buf.getvalue()).encode("utf-8"), "text/csv"  # BOM: Excel reads UTF-8
        else:
            data, ctype = _xlsx(header, rows), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        return {"filename": name, "content_type": ctype, "data_base64": base64.b64encode(data).decode("ascii")}

    @rpc
    @transactional
    def import_results(self, batch_id, upload):
        """The bank's result CSV (reference, status, reason): paid, or failed back to the pool."""
        self.caller.require(*PAYERS)
        batch = self._batch(batch_id, lock=True)
        raw = _decode_upload(upload)
        if len(raw) > RESULT_FILE_MAX_BYTES:
            raise ValidationFailed("file too large", {"file": [f"over {RESULT_FILE_MAX_BYTES} bytes"]})
        rows = _read_result_csv(raw)
        items = {i.id: i for i in self.db.session.scalars(
            select(PaymentItem).where(PaymentItem.batch_id == batch.id).with_for_update())}
        now = utcnow()
        paid = failed = unchanged = 0
        errors = []
        for line, row in rows:
            item_id = _item_of_reference(row.get("reference"), batch.id)
            outcome = domain.parse_result_status(row.get("status"))
            item = items.get(item_id)
            if item is None:
                errors.append({"line": line, "error": f"unknown reference {row.get('reference')!r} for this batch"})
                continue
            if outcome is None:
                errors.append({"line": line, "error": f"status {row.get('status')!r} is neither paid nor failed"})
                continue
            if item.status == outcome:
                unchanged += 1  # the same file imported again
                continue
            if item.status != domain.ITEM_PENDING:
                errors.append({"line": line, "error": f"already {item.status}; a settled payment is final"})
                continue
            subsidy = self.db.session.get(Subsidy, item.subsidy_id, with_for_update=True)
            item.status, item.settled_at = outcome, now
            if outcome == domain.ITEM_PAID:
                subsidy.status, subsidy.paid_at = domain.PAID, now
                paid += 1
                self.db.emit("subsidy_paid", subsidy.id, {
                    "subsidy_id": subsidy.id, "lecture_id": subsidy.lecture_id, "candidate_id": subsidy.candidate_id,
                    "batch_id": batch.id, "amount_fen": item.amount_fen})
            else:
                item.failure_reason = (row.get("reason") or "").strip()[:500] or "no reason given"
                subsidy.status = domain.UNPAID   # back in the pool for the next batch
                failed += 1
                self.db.emit("subsidy_payment_failed", subsidy.id, {
                    "subsidy_id": subsidy.id, "lecture_id": subsidy.lecture_id, "batch_id": batch.id,
                    "reason": item.failure_reason})
        if not paid and not failed and not unchanged:
            raise ValidationFailed("no usable row in the result file", {"file": [e["error"] for e in errors[:20]]})
        if all(i.status != domain.ITEM_PENDING for i in items.values()):
            batch.status, batch.settled_at = domain.BATCH_SETTLED, now
        self.db.session.flush()
        self.db.audit(self.caller, "batch.import_results", "payment_batch", batch.id,
                      {"paid": paid, "failed": failed, "unchanged": unchanged, "errors": len(errors)})
        return schemas.ImportOut().dump({"batch": self._batch_out(batch), "paid": paid, "failed": failed,
                                         "unchanged": unchanged, "errors": errors})

    # ---- events from other services ----------------------------------------------------------

    @subscribe("registration", "candidate_approved")
    @handler_transaction
    def on_candidate_approved(self, event):
        data = load(schemas.CandidateApprovedData, event.data)
        if not self.db.claim(event, "subsidies.on_candidate_approved"):
            return
        lecturer = self._lecturer_row(data["cycle"], data["candidate_id"])
        lecturer.name, lecturer.person_key, lecturer.updated_at = data["name"], data["person_key"], utcnow()
        lecturer.unit_id = data["unit_id"]

    @subscribe("scoring", "candidate_advanced")
    @handler_transaction
    def on_candidate_advanced(self, event):
        data = load(schemas.CandidateAdvancedData, event.data)
        if not self.db.claim(event, "subsidies.on_candidate_advanced"):
            return
        if data["to_stage"] != "intensive":
            return  # only the 80 advanced to the intensive stage give tour lectures
        lecturer = self._lecturer_row(data["cycle"], data["candidate_id"])
        lecturer.in_tour, lecturer.advanced_rank, lecturer.updated_at = True, data["rank"], utcnow()

    @subscribe("training", "training_completed")
    @handler_transaction
    def on_training_completed(self, event):
        data = load(schemas.TrainingCompletedData, event.data)
        if not self.db.claim(event, "subsidies.on_training_completed") or not data["passed"]:
            return
        existing = self.db.session.scalar(
            select(TrainingSubsidy).where(TrainingSubsidy.agency_id == self.db.agency,
                                          TrainingSubsidy.person_key == data["person_key"]).with_for_update())
        if existing is not None:
            if existing.class_id != str(data["class_id"]):
                existing.refused_classes += 1   # 004 §八(二): one municipal subsidy per person, ever
            return
        self.db.session.add(TrainingSubsidy(
            agency_id=self.db.agency, person_key=data["person_key"], person_name=data["person_name"],
            class_id=str(data["class_id"]), year=data["year"], class_hours=data["class_hours"],
            completed_at=data["completed_at"], granted_at=utcnow(), refused_classes=0))
        self.db.session.flush()  # a racing replica's row surfaces here; the wrapper re-runs
        self.db.emit("training_subsidy_granted", data["person_key"], {
            k: data[k] for k in ("person_key", "person_name", "class_id", "year")})

    @rpc
    def get_training_subsidy(self, person_key):
        self.caller.require("integrator", *PAYERS)
        row = self.db.session.scalar(select(TrainingSubsidy).where(
            TrainingSubsidy.agency_id == self.db.agency, TrainingSubsidy.person_key == str(person_key)))
        if row is None:
            raise NotFound("no training subsidy for that person")
        return schemas.TrainingSubsidyOut().dump(row)

    # ---- helpers -----------------------------------------------------------------------------

    def _cycle_or_none(self, code, lock=False):
        stmt = select(SubsidyCycle).where(SubsidyCycle.agency_id == self.db.agency, SubsidyCycle.code == str(code))
        return self.db.session.scalar(stmt.with_for_update() if lock else stmt)

    def _cycle(self, code, field=None):
        cycle = self._cycle_or_none(code)
        if cycle is None:
            if field:
                raise ValidationFailed(f"no subsidy cycle {code}", {field: [f"unknown cycle {code!r}: set it first"]})
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
            self.db.session.flush()  # a racing replica's insert surfaces here; the wrapper re-runs
        return row

    def _lecturer(self, cycle, candidate_id) -> Lecturer | None:
        return self.db.session.scalar(select(Lecturer).where(
            Lecturer.agency_id == self.db.agency, Lecturer.cycle == cycle, Lecturer.candidate_id == candidate_id))

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

    def _received_at(self, given, lecture_date, now):
        if given is None:
            return now
        if not self.caller.is_staff:
            raise Forbidden("only the center's staff may date evidence received by other means")
        if given > now or local_date(given) < lecture_date:
            raise ValidationFailed("received_at must lie between the lecture and now",
                                   {"received_at": ["between the lecture date and now"]})
        return given

    def _check_date_and_order(self, data, cycle, now):
        if data["lecture_date"] > local_date(now):
            raise ValidationFailed("a lecture is reported after it took place",
                                   {"lecture_date": ["is in the future (Asia/Shanghai)"]})
        domain.ensure_calendar_covers(data["lecture_date"])
        if data["order_id"] is not None:
            order = self.db.session.get(LectureOrder, data["order_id"])
            if order is None or order.agency_id != self.db.agency or order.cycle != cycle:
                raise ValidationFailed("unknown order", {"order_id": [f"no order {data['order_id']} in cycle {cycle}"]})

    def _file_by_sha(self, sha):
        return self.db.session.scalar(select(EvidenceFile).where(
            EvidenceFile.agency_id == self.db.agency, EvidenceFile.sha256 == sha))

    def _resolve_evidence(self, data) -> dict:
        """Uploaded files by checksum; an unknown file or the wrong type is a 400 on that field."""
        def find(sha, field, types):
            row = self._file_by_sha(sha)
            if row is None:
                raise ValidationFailed("unknown evidence file", {field: ["no uploaded file has this sha256"]})
            if row.content_type not in types:
                raise ValidationFailed("wrong kind of file", {field: [f"is {row.content_type}; needs {', '.join(types)}"]})
            return row

        signin = data.pop("signin_sheet")
        video = data.pop("video")
        photos = data.pop("photos")
        out = {"signin_file_id": None, "signin_head_count": None, "video_file_id": None, "photos": []}
        if signin:
            out["signin_file_id"] = find(signin["file"], "signin_sheet.file", SIGNIN_TYPES).id
            out["signin_head_count"] = signin["head_count"]
        if video:
            out["video_file_id"] = find(video["file"], "video.file", ("video/mp4",)).id
        seen = set()
        for n, photo in enumerate(photos):
            row = find(photo["file"], f"photos.{n}.file", IMAGE_TYPES)
            if row.id in seen:  # the same picture twice is one photo
                raise ValidationFailed("the same photo twice", {f"photos.{n}.file": ["already listed"]})
            seen.add(row.id)
            out["photos"].append({"file_id": row.id, "sha256": row.sha256, "shows_banner": photo["shows_banner"]})
        return out

    def _queue_checks(self, lecture):
        self.db.emit("report_submitted", lecture.id, {
            "cycle": lecture.cycle, "lecture_id": lecture.id, "candidate_id": lecture.candidate_id,
            "kind": lecture.kind, "version": lecture.version})

    @staticmethod
    def _report_of(lecture) -> domain.Report:
        return domain.Report(
            kind=lecture.kind, lecture_date=lecture.lecture_date, audience_count=lecture.audience_count,
            id_index=lecture.id_index, received_at=lecture.received_at,
            evidence=domain.Evidence(
                signin_head_count=lecture.signin_head_count, has_signin_sheet=lecture.signin_file_id is not None,
                has_video=lecture.video_file_id is not None, photo_count=len(lecture.photos or []),
                banner_shown=any(p.get("shows_banner") for p in lecture.photos or [])))

    def _facts_of(self, lecture) -> domain.TourFacts:
        lecturer = self._lecturer(lecture.cycle, lecture.candidate_id)
        cycle = self._cycle_or_none(lecture.cycle)
        order_ok = True
        if lecture.kind == "on_demand":
            order = self.db.session.get(LectureOrder, lecture.order_id) if lecture.order_id else None
            order_ok = bool(order and order.agency_id == self.db.agency and order.cycle == lecture.cycle
                            and order.candidate_id == lecture.candidate_id
                            and order.status in (domain.SCHEDULED, domain.HELD))
        host_ok = True
        if lecture.kind == "exchange":
            host = self._lecturer(lecture.cycle, lecture.host_candidate_id) if lecture.host_candidate_id else None
            host_ok = domain.exchange_host_ok(
                lecture.candidate_id, lecturer.unit_id if lecturer else None, lecture.host_candidate_id,
                bool(host and host.in_tour), host.unit_id if host else None)
        return domain.TourFacts(
            in_tour=bool(lecturer and lecturer.in_tour), person_key=lecturer.person_key if lecturer else None,
            tour_start=cycle.tour_start if cycle else None, tour_end=cycle.tour_end if cycle else None,
            order_ok=order_ok, host_ok=host_ok)

    def _lecture(self, lecture_id, lock=False) -> Lecture:
        stmt = select(Lecture).where(Lecture.id == _as_id(lecture_id), Lecture.agency_id == self.db.agency)
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
        stmt = select(LectureOrder).where(LectureOrder.id == _as_id(order_id),
                                          LectureOrder.agency_id == self.db.agency)
        order = self.db.session.scalar(stmt.with_for_update() if lock else stmt)
        if order is None or (self.caller.role == "enterprise" and order.ordered_by != self._party()):
            raise NotFound(f"order {order_id} not found")
        if taker:
            if self.caller.role == "lecturer":
                lecturer = self._lecturer(order.cycle, order.candidate_id) if order.candidate_id else None
                if lecturer is None or lecturer.person_key != self.caller.person:
                    raise Forbidden("only the lecturer who took the order, or the center, may do this")
            elif not self.caller.is_staff:
                raise Forbidden("only the lecturer who took the order, or the center, may do this")
        return order

    def _batch(self, batch_id, lock=False) -> PaymentBatch:
        stmt = select(PaymentBatch).where(PaymentBatch.id == _as_id(batch_id),
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
        return schemas.SubsidyCycleOut().dump(cycle)

    def _order_out(self, order) -> dict:
        return schemas.OrderOut().dump({
            "id": order.id, "cycle": order.cycle, "status": order.status, "enterprise_name": order.enterprise_name,
            "topic": order.topic, "wished_dates": [_date(d) for d in order.wished_dates],
            "audience_size": order.audience_size, "address": order.address, "contact": order.contact,
            "candidate_id": order.candidate_id, "scheduled_date": order.scheduled_date,
            "cancellation_reason": order.cancellation_reason, "created_at": order.created_at,
            "updated_at": order.updated_at})

    def _lecture_out(self, lecture) -> dict:
        try:
            due = domain.evidence_deadline(lecture.lecture_date)
        except CalendarOutOfRange:
            due = None
        subsidy = self.db.session.scalar(select(Subsidy.amount_fen).where(
            Subsidy.lecture_id == lecture.id, Subsidy.status != domain.REVOKED))
        files = {}
        if lecture.signin_file_id or lecture.video_file_id:
            ids = [i for i in (lecture.signin_file_id, lecture.video_file_id) if i]
            files = dict(self.db.session.execute(select(EvidenceFile.id, EvidenceFile.sha256)
                                                 .where(EvidenceFile.id.in_(ids))).all())
        return schemas.LectureOut().dump({
            "id": lecture.id, "cycle": lecture.cycle, "candidate_id": lecture.candidate_id, "kind": lecture.kind,
            "order_id": lecture.order_id, "host_candidate_id": lecture.host_candidate_id,
            "status": lecture.status, "version": lecture.version,
            "lecturer_name": lecture.lecturer_name, "id_number": lecture.id_masked,
            "lecture_date": lecture.lecture_date, "evidence_due": due, "venue": lecture.venue,
            "audience_count": lecture.audience_count, "bank": lecture.bank, "branch": lecture.branch,
            "account_number": lecture.account_masked, "contact": lecture.contact,
            "signin_sheet": {"file": files.get(lecture.signin_file_id), "head_count": lecture.signin_head_count}
            if lecture.signin_file_id else None,
            "video": {"file": files.get(lecture.video_file_id)} if lecture.video_file_id else None,
            "photos": [{"file": p["sha256"], "shows_banner": p["shows_banner"]} for p in lecture.photos or []],
            "received_at": lecture.received_at, "failed_rules": lecture.failed_rules or [],
            "checked_at": lecture.checked_at, "checked_by": lecture.checked_by,
            "reviewed_by": lecture.reviewed_by, "review_reasons": lecture.review_reasons,
            "subsidy_fen": subsidy, "created_at": lecture.created_at, "updated_at": lecture.updated_at})

    def _batch_out(self, batch) -> dict:
        counts = dict(self.db.session.execute(
            select(PaymentItem.status, func.count()).where(PaymentItem.batch_id == batch.id)
            .group_by(PaymentItem.status)).all())
        return schemas.BatchOut().dump({
            "id": batch.id, "cycle": batch.cycle, "status": batch.status, "item_count": batch.item_count,
            "total_fen": batch.total_fen, "total_yuan": domain.yuan(batch.total_fen),
            "created_at": batch.created_at, "exported_at": batch.exported_at, "settled_at": batch.settled_at,
            "paid": counts.get(domain.ITEM_PAID, 0), "failed": counts.get(domain.ITEM_FAILED, 0),
            "pending": counts.get(domain.ITEM_PENDING, 0)})


def _is_duplicate_lecture(exc: IntegrityError) -> bool:
    text_ = str(exc.orig)
    # PostgreSQL names the constraint; SQLite lists the columns
    return "uq_lectures_" in text_ or "lectures.venue_key" in text_


def _reference(batch_id: int, item_id: int) -> str:
    return f"B{batch_id}-I{item_id}"


def _item_of_reference(value, batch_id: int) -> int | None:
    text_ = str(value or "").strip()
    prefix = f"B{batch_id}-I"
    if not text_.startswith(prefix) or not text_[len(prefix):].isdigit():
        return None
    return int(text_[len(prefix):])


def _read_result_csv(raw: bytes) -> list[tuple[int, dict]]:
    for encoding in ("utf-8-sig", "gb18030"):  # banks hand out either
        try:
            decoded = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes any byte string
        raise ValidationFailed("unreadable file", {"file": ["not UTF-8 or GB18030 text"]})
    reader = csv.DictReader(io.StringIO(decoded))
    columns = {c.strip().lower() for c in reader.fieldnames or []}
    if not {"reference", "status"} <= columns:
        raise ValidationFailed("not a result file", {"file": ["needs the columns reference, status (and reason)"]})
    rows = []
    for n, row in enumerate(reader, start=2):
        rows.append((n, {str(k).strip().lower(): (v or "") for k, v in row.items() if k is not None}))
        if n > 100_000:
            raise ValidationFailed("too many rows", {"file": ["at most 100000 rows"]})
    return rows


def _xlsx(header, rows) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "payments"
    ws.append(header)
    for row in rows:
        ws.append(row)
    for cells in ws.iter_rows(min_row=2):
        for cell in cells:
            cell.number_format = "@"  # text: Excel must not turn a 19-digit account into 6.2E+18
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _decode_upload(upload) -> bytes:
    if not isinstance(upload, dict) or not isinstance(upload.get("data_base64"), str):
        raise ValidationFailed("no file", {"file": ["send the file as the request body"]})
    try:
        return base64.b64decode(upload["data_base64"], validate=True)
    except (binascii.Error, ValueError):
        raise ValidationFailed("file is not base64", {"file": ["not valid base64"]}) from None


def _date(value):
    from datetime import date
    return date.fromisoformat(value) if isinstance(value, str) else value


def _code(value) -> str:
    text_ = str(value or "")
    try:
        schemas.CODE(text_)
    except Exception:
        raise ValidationFailed("bad cycle code", {"code": ["letters, digits, - and _ only (≤20)"]}) from None
    return text_


def _as_id(value) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValidationFailed("ids are positive integers", {"id": [f"{value!r} is not an id"]}) from None
    if number < 1 or number > 2**62:
        raise ValidationFailed("ids are positive integers", {"id": [f"{value!r} is out of range"]})
    return number
