"""Events from other services: who lectures in the tour, who earned a training subsidy, and the
on-demand lectures enterprises ask for through risk's service requests."""
from __future__ import annotations

from sqlalchemy import select

from shared.subscriber import subscribe
from shared.workdays import local_date, utcnow

from . import schemas
from .models import LectureOrder, SubsidyCycle, TrainingSubsidy


class EventHandlers:

    @subscribe("registration", "candidate_approved", schema=schemas.CandidateApprovedData)
    def on_candidate_approved(self, event):
        data = event.data
        if not self.db.claim(event):
            return
        lecturer = self._lecturer_row(data["cycle"], data["candidate_id"])
        lecturer.name, lecturer.person_key, lecturer.updated_at = data["name"], data["person_key"], utcnow()
        lecturer.unit_id = data["unit_id"]

    @subscribe("scoring", "candidate_advanced", schema=schemas.CandidateAdvancedData)
    def on_candidate_advanced(self, event):
        data = event.data
        if not self.db.claim(event):
            return
        if data["to_stage"] != "intensive":
            return  # only the 80 advanced to the intensive stage give tour lectures
        lecturer = self._lecturer_row(data["cycle"], data["candidate_id"])
        lecturer.in_tour, lecturer.advanced_rank, lecturer.updated_at = True, data["rank"], utcnow()

    @subscribe("training", "training_completed", schema=schemas.TrainingCompletedData)
    def on_training_completed(self, event):
        data = event.data
        if not self.db.claim(event) or not data["passed"]:
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
        self.db.session.flush()  # a racing replica's row surfaces here; the subscriber re-runs the handler
        self.db.emit("training_subsidy_granted", data["person_key"], {
            k: data[k] for k in ("person_key", "person_name", "class_id", "year")})

    @subscribe("risk", "lecture_requested", schema=schemas.LectureRequestedData)
    def on_lecture_requested(self, event):
        """risk's lecture request is an order here, in the cycle whose tour window holds the wished date."""
        data = event.data
        if not self.db.claim(event):
            return
        if self.db.session.scalar(select(LectureOrder.id).where(
                LectureOrder.agency_id == self.db.agency, LectureOrder.risk_request_id == data["request_id"])):
            return  # the same request emitted again: one order per request
        day = data["wished_date"] or local_date(utcnow())
        cycle = self.db.session.scalar(select(SubsidyCycle).where(
            SubsidyCycle.agency_id == self.db.agency, SubsidyCycle.tour_start <= day, SubsidyCycle.tour_end >= day)
            .order_by(SubsidyCycle.tour_start.desc()).limit(1))
        if cycle is None:
            # no tour to put it in yet: retried, then parked; `wsli dlq` replays it once the cycle is set
            raise LookupError(f"no subsidy cycle's tour window holds {day.isoformat()}")
        order = self._place_order(cycle.code, {
            "enterprise_name": data["enterprise_name"], "topic": data["topic"], "wished_dates": [day],
            "audience_size": data["audience_size"], "address": data["district"] + (data["town"] or ""),
            "contact": None}, data["credit_code"], data["credit_code"], risk_request_id=data["request_id"])
        self.db.session.flush()  # a racing replica's row surfaces here; the subscriber re-runs the handler
        self.db.audit(None, "order.create", "lecture_order", order.id,
                      {"topic": order.topic, "risk_request_id": data["request_id"]})

    @subscribe("training", "certificate_revoked", schema=schemas.CertificateRevokedData)
    def on_certificate_revoked(self, event):
        """004 §八(二) pays for training that qualified: a revoked certificate (cheating, impersonation)
        withdraws the subsidy its class gave. The row stays: the person's one subsidy is spent."""
        data = event.data
        if not self.db.claim(event):
            return
        row = self.db.session.scalar(
            select(TrainingSubsidy).where(TrainingSubsidy.agency_id == self.db.agency,
                                          TrainingSubsidy.person_key == data["person_key"]).with_for_update())
        if row is None or row.withdrawn_at is not None:
            return
        if data["class_id"] is not None and row.class_id != str(data["class_id"]):
            return  # the subsidy came from another class, whose certificate still stands
        row.withdrawn_at, row.withdrawn_reason = utcnow(), f"证书 {data['number']} 已撤销：{data['reason']}"
        self.db.emit("training_subsidy_withdrawn", data["person_key"], {
            "person_key": row.person_key, "class_id": int(row.class_id), "certificate": data["number"],
            "reason": data["reason"], "withdrawn_at": row.withdrawn_at})
