"""Event schemas of training: the events it consumes (the fields it reads) and the events it emits."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from shared.agency import BROADCAST, agency_message
from shared.events import event_type

from . import domain

SERVICE = "training"

SCORE_TEXT = validate.Regexp(r"^(100\.00|[0-9]{1,2}\.[0-9]{2})$", error="a score 0.00–100.00 as text")


# ---- events we consume but do not own: the fields training reads (the subscriber loads them) ----

class CandidateApprovedData(Schema):
    cycle = fields.String(required=True)
    candidate_id = fields.Integer(required=True)
    person_key = fields.String(required=True)
    name = fields.String(required=True)
    gender = fields.String(allow_none=True, load_default=None)
    id_number_masked = fields.String(allow_none=True, load_default=None)
    unit_id = fields.Integer(allow_none=True, load_default=None)
    unit_kind = fields.String(allow_none=True, load_default=None)
    district = fields.String(allow_none=True, load_default=None)


class CandidateWithdrawnData(Schema):
    candidate_id = fields.Integer(required=True)
    reason = fields.String(required=True)


class TraineeEnrolledData(Schema):
    enrolment_id = fields.Integer(required=True)
    year = fields.Integer(required=True)
    district = fields.String(required=True)
    role = fields.String(required=True)
    unit_name = fields.String(required=True)
    # in every trainee_enrolled registration emitted; kept to answer the enterprise's safety file
    unit_credit_code = fields.String(load_default=None)
    person_name = fields.String(required=True)
    id_number_masked = fields.String(required=True)
    person_key = fields.String(required=True)


class EnrolmentCancelledData(Schema):
    enrolment_id = fields.Integer(required=True)


class AdvancedData(Schema):
    cycle = fields.String(required=True)
    candidate_id = fields.Integer(required=True)
    from_stage = fields.String(required=True)
    to_stage = fields.String(required=True, validate=validate.OneOf([domain.KEY, domain.INTENSIVE]))


class NotAdvancedData(Schema):
    cycle = fields.String(required=True)
    candidate_id = fields.Integer(required=True)
    stage = fields.String(required=True)
    reason = fields.String(required=True)


# ---- events ----------------------------------------------------------------------------------

@event_type(SERVICE, "stages_planned", description="A cycle's three stages and course plans were set up.")
class StagesPlannedEvent(Schema):
    cycle = fields.String(required=True)
    plan = fields.String(required=True)
    stages = fields.List(fields.String(), required=True)


class Placement(Schema):
    candidate_id = fields.Integer(required=True)
    group_id = fields.Integer(required=True)


@event_type(SERVICE, "groups_assigned", description="Waiting trainees of a stage were placed in its groups.")
class GroupsAssignedEvent(Schema):
    cycle = fields.String(required=True)
    stage = fields.String(required=True)
    placements = fields.List(fields.Nested(Placement), required=True)


@event_type(SERVICE, "trainee_moved", description="An operator moved a trainee to another group.")
class TraineeMovedEvent(Schema):
    cycle = fields.String(required=True)
    stage = fields.String(required=True)
    candidate_id = fields.Integer(required=True)
    from_group = fields.Integer(allow_none=True)
    to_group = fields.Integer(required=True)


@event_type(SERVICE, "group_expert_assigned", description="An expert was put on a group's panel.")
class GroupExpertEvent(Schema):
    group_id = fields.Integer(required=True)
    expert = fields.String(required=True)


@event_type(SERVICE, "questions_added", description="Questions were added to the bank.")
class QuestionsAddedEvent(Schema):
    question_ids = fields.List(fields.Integer(), required=True)


class ExternalSourceFields(Schema):
    """Where an external test was taken and the reference of the export its results came in
    (both null for an exam drawn from this bank; absent from events before these fields)."""
    platform = fields.String(allow_none=True, load_default=None, metadata={
        "description": "the platform the test was taken on (e.g. 安责险学习小程序); null for an exam drawn here"})
    reference = fields.String(allow_none=True, load_default=None, metadata={
        "description": "the platform's export or batch reference; null for an exam drawn here"})


@event_type(SERVICE, "exam_created",
            description="An exam paper was drawn from the bank (reproducible from its seed), "
                        "or results of a test taken on another platform were first imported (platform, reference).")
class ExamCreatedEvent(ExternalSourceFields):
    exam_id = fields.Integer(required=True)
    kind = fields.String(required=True)
    cycle = fields.String(allow_none=True)
    class_id = fields.Integer(allow_none=True)
    question_count = fields.Integer(required=True)


class AttemptRef(Schema):
    attempt_id = fields.Integer(required=True)
    exam_id = fields.Integer(required=True)
    candidate_id = fields.Integer(allow_none=True)
    person_key = fields.String(allow_none=True)


@event_type(SERVICE, "attempt_started", description="A trainee started a timed attempt.")
class AttemptStartedEvent(AttemptRef):
    deadline_at = fields.DateTime(required=True)


@event_type(SERVICE, "attempt_reopened",
            description="An operator voided an attempt so the trainee may sit the exam again.")
class AttemptReopenedEvent(AttemptRef):
    reason = fields.String(required=True)


@event_type(SERVICE, "institution_registered",
            description="A training institution was registered, with whether it meets 附件2's conditions.")
class InstitutionRegisteredEvent(Schema):
    institution_id = fields.Integer(required=True)
    name = fields.String(required=True)
    qualified = fields.Boolean(required=True)


@event_type(SERVICE, "teacher_registered", description="A teacher joined the teacher pool.")
class TeacherRegisteredEvent(Schema):
    teacher_id = fields.Integer(required=True)
    name = fields.String(required=True)


@event_type(SERVICE, "class_created", description="A 2-day (16 class hours) safety-training class was scheduled.")
class ClassCreatedEvent(Schema):
    class_id = fields.Integer(required=True)
    institution_id = fields.Integer(required=True)
    year = fields.Integer(required=True)
    district = fields.String(required=True)
    capacity = fields.Integer(required=True)


@event_type(SERVICE, "trainee_seated", description="An enrolled person was given a seat in a class.")
class TraineeSeatedEvent(Schema):
    class_id = fields.Integer(required=True)
    seat_id = fields.Integer(required=True)
    person_key = fields.String(required=True)
    district = fields.String(allow_none=True)


@event_type(SERVICE, "attendance_recorded", description="A trainee checked in or out on a class day (ID checked).")
class AttendanceRecordedEvent(Schema):
    class_id = fields.Integer(required=True)
    seat_id = fields.Integer(required=True)
    day = fields.Integer(required=True)
    action = fields.String(required=True)
    at = fields.DateTime(required=True)


@event_type(SERVICE, "teacher_rated", description="A trainee rated a teacher of their class (1–5).")
class TeacherRatedEvent(Schema):
    class_id = fields.Integer(required=True)
    teacher_id = fields.Integer(required=True)
    stars = fields.Integer(required=True)


@event_type(SERVICE, "exam_scored",
            description="A programme exam was graded (online), imported (paper) or imported from another platform "
                        "(online, with platform and reference); the latest scored_at wins.")
class ExamScoredEvent(ExternalSourceFields):
    cycle = fields.String(required=True)
    candidate_id = fields.Integer(required=True)
    stage = fields.String(required=True, validate=validate.OneOf([domain.BASIC, domain.KEY]))
    exam = fields.String(required=True, validate=validate.OneOf(list(domain.EXAM_STAGE)))
    score = fields.String(required=True, validate=SCORE_TEXT)
    attempt_id = fields.Integer(required=True)
    scored_at = fields.DateTime(required=True)
    source = fields.String(required=True, validate=validate.OneOf(["online", "paper"]))


@event_type(SERVICE, "expert_scored",
            description="An expert scored a trainee; score is the mean of the panel so far (latest scored_at wins).")
class ExpertScoredEvent(Schema):
    cycle = fields.String(required=True)
    candidate_id = fields.Integer(required=True)
    stage = fields.String(required=True, validate=validate.OneOf([domain.KEY, domain.INTENSIVE]))
    part = fields.String(required=True, validate=validate.OneOf(list(domain.PART_STAGE)))
    score = fields.String(required=True, validate=SCORE_TEXT)
    panel_size = fields.Integer(required=True)
    panel_total = fields.String(validate=validate.Regexp(r"^[0-9]{1,5}\.[0-9]{2}$", error="a sum with two places"),
                                metadata={
        "description": "the exact sum of the panel's scores (two places); panel_total / panel_size is the exact "
                       "mean that score rounds half up"})
    scored_at = fields.DateTime(required=True)


@event_type(SERVICE, "training_completed",
            description="A person finished a safety-training class (seed 004): hours credited, passed or not.")
class TrainingCompletedEvent(Schema):
    person_key = fields.String(required=True)
    person_name = fields.String(required=True)
    class_id = fields.Integer(required=True)
    year = fields.Integer(required=True)
    class_hours = fields.Integer(required=True)
    passed = fields.Boolean(required=True)
    completed_at = fields.DateTime(required=True)


@event_type(SERVICE, "absence_reported",
            description="After a class, the people of one district who did not attend it throughout (未全程参加, "
                        "004 §七(四)): absent, late, left early, with what each missed.")
class AbsenceReportedEvent(Schema):
    class_id = fields.Integer(required=True)
    year = fields.Integer(required=True)
    district = fields.String(required=True)
    people = fields.List(fields.Dict(), required=True, metadata={
        "description": "person_key, person_name, enrolment_id, status (absent | late | left_early | incomplete), "
                       "full_days, missed_minutes, missed (per day short of full: day, date, status, "
                       "missed_minutes, checked_in_at, checked_out_at)"})


@event_type(SERVICE, "certificate_issued", description="A passer's training certificate was issued.")
class CertificateIssuedEvent(Schema):
    number = fields.String(required=True)
    person_key = fields.String(required=True)
    class_id = fields.Integer(required=True)
    year = fields.Integer(required=True)
    issued_at = fields.DateTime(required=True)


@event_type(SERVICE, "certificate_revoked", description="A certificate was revoked; its number stays, with the reason.")
class CertificateRevokedEvent(Schema):
    number = fields.String(required=True)
    person_key = fields.String(required=True)
    class_id = fields.Integer(load_default=None, metadata={
        "description": "the certificate's class (absent from events before this field)"})
    reason = fields.String(required=True)
    revoked_at = fields.DateTime(required=True)


# ---- facts broadcast to partner agencies (wsli.agency.facts, federated; docs/agencies.md) -----------
# Only what a partner needs to answer "is this certificate valid?": no person key, no ID number,
# the holder's name masked as the public verify route shows it.

@agency_message(SERVICE, "certificate_issued", BROADCAST,
                description="A certificate this agency issued, for partners' verify routes.")
class PartnerCertificateIssued(Schema):
    number = fields.String(required=True)
    holder = fields.String(required=True, metadata={"description": "masked name"})
    year = fields.Integer(required=True)
    class_title = fields.String(required=True)
    institution = fields.String(required=True)
    class_hours = fields.Integer(required=True)
    issued_at = fields.AwareDateTime(required=True)


@agency_message(SERVICE, "certificate_revoked", BROADCAST,
                description="A certificate this agency revoked, for partners' verify routes.")
class PartnerCertificateRevoked(Schema):
    number = fields.String(required=True)
    reason = fields.String(required=True)
    revoked_at = fields.AwareDateTime(required=True)
