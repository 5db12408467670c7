"""Events from other services: trainees from registration's approvals, stages from scoring's decisions,
enrolled people from registration's enrolments."""
from __future__ import annotations

from sqlalchemy import select

from shared.districts import official_or_none
from shared.subscriber import subscribe
from shared.workdays import utcnow

from . import domain, schemas
from .models import ClassSeat, EnrolledPerson, GroupMember, Trainee, TrainingClass


class EventHandlers:

    @subscribe("registration", "candidate_approved", schema=schemas.CandidateApprovedData)
    def on_candidate_approved(self, event):
        if not self.db.claim(event):
            return
        d = event.data
        trainee = self._trainee_or_none(d["candidate_id"])
        now = utcnow()
        if trainee is None:
            self.db.session.add(Trainee(
                agency_id=self.db.agency, cycle=d["cycle"], candidate_id=d["candidate_id"],
                person_key=d["person_key"], name=d["name"], gender=d["gender"],
                id_masked=d["id_number_masked"], unit_id=d["unit_id"], unit_kind=d["unit_kind"],
                district=official_or_none(d["district"], self.db.agency), stage=domain.BASIC, status=domain.ACTIVE, created_at=now, updated_at=now))

    @subscribe("registration", "candidate_withdrawn", schema=schemas.CandidateWithdrawnData)
    def on_candidate_withdrawn(self, event):
        if not self.db.claim(event):
            return
        trainee = self._trainee_or_none(event.data["candidate_id"])
        if trainee is None:  # withdrawn before approval: never a trainee
            return
        trainee.status, trainee.status_reason, trainee.updated_at = domain.WITHDRAWN, event.data["reason"], utcnow()
        # the seat in a group is freed for someone else
        for member in self.db.session.scalars(select(GroupMember).where(GroupMember.trainee_id == trainee.id)):
            self.db.session.delete(member)

    @subscribe("scoring", "candidate_advanced", schema=schemas.AdvancedData)
    def on_candidate_advanced(self, event):
        if not self.db.claim(event):
            return
        data = event.data
        trainee = self._trainee_or_none(data["candidate_id"])
        if trainee is None:
            # not yet approved here (registration's event still on its way): retried, then parked
            raise LookupError(f"candidate {data['candidate_id']} is not a trainee here yet")
        trainee.stage = domain.advance_stage(trainee.stage, data["to_stage"])
        if trainee.status == domain.NOT_ADVANCED:
            trainee.status, trainee.status_reason = domain.ACTIVE, None
        trainee.updated_at = utcnow()

    @subscribe("scoring", "candidate_not_advanced", schema=schemas.NotAdvancedData)
    def on_candidate_not_advanced(self, event):
        if not self.db.claim(event):
            return
        data = event.data
        trainee = self._trainee_or_none(data["candidate_id"])
        if trainee is None or trainee.status == domain.WITHDRAWN:
            return
        # a decision about an earlier stage than the trainee reached is stale
        if domain.STAGE_ORDER.get(data["stage"], -1) >= domain.STAGE_ORDER[trainee.stage]:
            trainee.status, trainee.status_reason, trainee.updated_at = \
                domain.NOT_ADVANCED, data["reason"], utcnow()

    @subscribe("registration", "trainee_enrolled", schema=schemas.TraineeEnrolledData)
    def on_trainee_enrolled(self, event):
        if not self.db.claim(event):
            return
        d = event.data
        if self._enrolled_or_none(d["enrolment_id"]) is None:
            self.db.session.add(EnrolledPerson(
                agency_id=self.db.agency, enrolment_id=d["enrolment_id"], year=d["year"],
                district=official_or_none(d["district"], self.db.agency),
                role=d["role"], unit_name=d["unit_name"], unit_credit_code=d["unit_credit_code"],
                person_name=d["person_name"],
                id_masked=d["id_number_masked"], person_key=d["person_key"], status=domain.ENROLLED,
                received_at=utcnow()))

    @subscribe("registration", "enrolment_cancelled", schema=schemas.EnrolmentCancelledData)
    def on_enrolment_cancelled(self, event):
        if not self.db.claim(event):
            return
        person = self._enrolled_or_none(event.data["enrolment_id"])
        if person is None:
            return
        person.status = domain.CANCELLED
        open_seats = self.db.session.scalars(
            select(ClassSeat).join(TrainingClass, ClassSeat.class_id == TrainingClass.id).where(
                ClassSeat.enrolment_id == person.enrolment_id, ClassSeat.status == domain.ENROLLED,
                TrainingClass.status == domain.OPEN, TrainingClass.agency_id == self.db.agency))
        for seat in open_seats:
            seat.status = domain.CANCELLED
