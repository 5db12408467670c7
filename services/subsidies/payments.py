"""Payments: batches of approved subsidies, the bank file out, the bank's results in."""
from __future__ import annotations

from sqlalchemy import select

from shared.db import transactional
from shared.documents import decode_upload, file_result
from shared.entrypoints import rpc
from shared.errors import NotFound, ValidationFailed
from shared.schemas import load, schema_instance
from shared.workdays import utcnow

from . import bankfile, domain, schemas
from .models import PaymentBatch, PaymentItem, Subsidy, TrainingSubsidy
from .roles import PAYERS, SUBSIDY_READERS

RESULT_FILE_MAX_BYTES = 4 * 1024 * 1024


class PaymentRpc:

    @rpc(roles=PAYERS)
    @transactional
    def create_batch(self, payload):
        """A batch of approved, unpaid subsidies (failed payments are back in that pool)."""
        data = load(schemas.BatchIn, payload)
        cycle = self._cycle(data["cycle"], field="cycle")
        # SKIP LOCKED: two operators batching at once split the pool instead of colliding
        subsidies = self.db.session.scalars(
            select(Subsidy).where(Subsidy.agency_id == self.db.agency, Subsidy.cycle == cycle.code,
                                  Subsidy.status == domain.UNPAID)
            .order_by(Subsidy.id).limit(data["limit"]).with_for_update(skip_locked=True)).all()
        domain.ensure_something_to_pay(len(subsidies))
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

    @rpc(roles=PAYERS)
    def get_batch(self, batch_id):
        return self._batch_out(self._batch(batch_id))

    @rpc(roles=PAYERS)
    @transactional
    def export_batch(self, batch_id, query=None):
        """The bank file. Accounts and ID numbers unmasked for finance only; every export is audited."""
        params = load(schemas.ExportQuery, query)
        batch = self._batch(batch_id, lock=True)
        unmasked = self.caller.role == "finance"
        rows = [[bankfile.reference(batch.id, item.id), lecture.lecturer_name, lecture.bank, lecture.branch,
                 lecture.account_number if unmasked else lecture.account_masked, domain.yuan(item.amount_fen)]
                for item, lecture in self._batch_rows(batch)]
        if unmasked and batch.status == domain.BATCH_OPEN:
            batch.status, batch.exported_at = domain.BATCH_EXPORTED, utcnow()
            self.db.emit("payment_batch_exported", batch.id,
                         {"batch_id": batch.id, "format": params["format"], "rows": len(rows)})
        self.db.audit(self.caller, "batch.export", "payment_batch", batch.id,
                      {"format": params["format"], "unmasked": unmasked, "rows": len(rows)})
        name = f"subsidy-batch-{batch.id}{'' if unmasked else '-masked'}.{params['format']}"
        data, ctype = bankfile.render(rows, params["format"], f"宣讲补贴拨付批次 {batch.id}（{batch.cycle}）")
        return file_result(name, ctype, data)

    @rpc(roles=PAYERS)
    @transactional
    def import_results(self, batch_id, upload):
        """The bank's result CSV (reference, status, reason): paid, or failed back to the pool."""
        batch = self._batch(batch_id, lock=True)
        raw = decode_upload(upload)
        if len(raw) > RESULT_FILE_MAX_BYTES:
            raise ValidationFailed("file too large", {"file": [f"over {RESULT_FILE_MAX_BYTES} bytes"]})
        rows = bankfile.read_results(raw)
        items = {i.id: i for i in self.db.session.scalars(
            select(PaymentItem).where(PaymentItem.batch_id == batch.id).with_for_update())}
        now = utcnow()
        paid = failed = unchanged = 0
        errors = []
        for line, row in rows:
            item_id = bankfile.item_of_reference(row.get("reference"), batch.id)
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
        return schema_instance(schemas.ImportOut).dump({"batch": self._batch_out(batch), "paid": paid, "failed": failed,
                                         "unchanged": unchanged, "errors": errors})

    @rpc(roles=SUBSIDY_READERS)
    def get_training_subsidy(self, person_key):
        row = self.db.session.scalar(select(TrainingSubsidy).where(
            TrainingSubsidy.agency_id == self.db.agency, TrainingSubsidy.person_key == str(person_key)))
        if row is None:
            raise NotFound("no training subsidy for that person")
        return schema_instance(schemas.TrainingSubsidyOut).dump(row)
