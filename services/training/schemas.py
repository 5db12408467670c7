"""Input, output and event schemas of the training service (marshmallow 4)."""
from __future__ import annotations

from decimal import Decimal

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from shared.bulk import MAX_ITEMS as MAX_BULK, bulk_out
from shared.schemas import CODE, MAX_ID, AuditOut, PageQuery, ordered, page_schema, required_when  # noqa: F401  (one definition for all; route tables name AuditOut per service)
from shared.districts import District
from shared.validators import MobilePhone, ResidentId

from . import domain

# a stage in a URL (/cycles/<cycle>/stages/<stage>/…): access._stage_or_400 refuses any other
URL_STAGE = fields.String(validate=validate.OneOf(domain.STAGES))

SERVICE = "training"


class ScoreText(fields.String):
    """A score as the API writes it: two decimals (``domain.score_text``); None stays None."""

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else domain.score_text(Decimal(value))


Text = lambda max_len, **kw: fields.String(validate=validate.Length(min=kw.pop("min", 1), max=max_len), **kw)  # noqa: E731
HHMM = validate.Regexp(r"^([01][0-9]|2[0-3]):[0-5][0-9]$", error="HH:MM")
Id = lambda **kw: fields.Integer(strict=True, validate=validate.Range(min=1, max=2**53), **kw)  # noqa: E731
# Scores come in as decimal strings ("86.50") or numbers; the service checks range and places (domain.check_score).
# The document states the forms a client can always send exactly: a whole number or a decimal string.
SCORE_FORMS = {"anyOf": [{"type": "integer", "minimum": 0, "maximum": 100},
                         {"type": "string", "pattern": r"^\s*(100(\.0{1,2})?|[0-9]{1,2}(\.[0-9]{1,2})?)\s*$"}]}
ScoreIn = lambda **kw: fields.Raw(metadata={"description": "0–100, at most 2 decimal places (a number with at most 2 "  # noqa: E731
                                            "decimal places is taken too)", "example": "86.50", **SCORE_FORMS}, **kw)




# ---- stages, trainees, groups ------------------------------------------------------------------

class StagesIn(Schema):
    plan = fields.String(load_default="2022", validate=validate.Regexp(r"^[0-9A-Za-z]{1,20}$"), metadata={"description": "course plan file data/course_plans_<plan>.yml"})


class StageOut(Schema):
    cycle = fields.String()
    stage = fields.String()
    title = fields.String()
    mode = fields.String()
    plan = fields.String()
    sessions = fields.List(fields.Dict())
    courses = fields.List(fields.Dict())
    trainees = fields.Integer(metadata={"description": "active trainees at this stage"})


class TraineeQuery(PageQuery):
    stage = fields.String(validate=validate.OneOf(domain.STAGES))
    status = fields.String(validate=validate.OneOf(domain.TRAINEE_STATUSES))
    district = District()


class TraineeOut(Schema):
    id = fields.Integer()
    cycle = fields.String()
    candidate_id = fields.Integer()
    name = fields.String()
    gender = fields.String(allow_none=True)
    id_number = fields.String(attribute="id_masked", allow_none=True, metadata={"description": "masked"})
    unit_id = fields.Integer(allow_none=True)
    unit_kind = fields.String(allow_none=True)
    district = fields.String(allow_none=True)
    stage = fields.String()
    status = fields.String()
    status_reason = fields.String(allow_none=True)
    groups = fields.Dict(keys=fields.String(), values=fields.Integer())


TraineePage = page_schema(TraineeOut)


class MemberOut(Schema):
    trainee_id = fields.Integer(attribute="id")
    candidate_id = fields.Integer()
    name = fields.String()
    district = fields.String(allow_none=True)
    unit_kind = fields.String(allow_none=True)


class GroupOut(Schema):
    id = fields.Integer()
    cycle = fields.String()
    stage = fields.String()
    batch = fields.Integer()
    number = fields.Integer()
    scenario = fields.String(allow_none=True)
    scenario_label = fields.String(allow_none=True)
    capacity = fields.Integer()
    members = fields.List(fields.Nested(MemberOut))
    experts = fields.List(fields.String())


class AssignmentOut(Schema):
    cycle = fields.String()
    stage = fields.String()
    assigned = fields.Integer(metadata={"description": "trainees placed by this run"})
    groups = fields.List(fields.Nested(GroupOut))


class ExpertIn(Schema):
    expert = Text(64, required=True, metadata={"description": "the expert token's bound person"})
    name = Text(50, load_default=None)


class BulkExpertItem(ExpertIn):
    group_id = fields.Integer(required=True, strict=False, validate=validate.Range(min=1, max=MAX_ID))


class BulkExpertsIn(Schema):
    items = fields.List(fields.Nested(BulkExpertItem), required=True, validate=validate.Length(
        min=1, max=MAX_BULK, error=f"between {{min}} and {{max}} items per call (bulk limit {MAX_BULK})"))


BulkExpertsOut = bulk_out("BulkExpertsOut", {"group_id": fields.Integer(), "expert": fields.String()})


# ---- question bank and exams -------------------------------------------------------------------

class QuestionIn(Schema):
    topic = Text(60, required=True)
    kind = fields.String(required=True, validate=validate.OneOf(domain.QUESTION_KINDS))
    text = Text(4000, required=True)
    options = fields.Dict(keys=fields.String(validate=validate.Regexp(r"^[A-Z]$", error="one capital letter")),
                          values=Text(1000), load_default=None,
                          metadata={"description": "A–Z -> text; true/false questions get T/F"})
    answer = fields.List(fields.String(), required=True, validate=validate.Length(min=1, max=26))


class QuestionBatchIn(Schema):
    questions = fields.List(fields.Nested(QuestionIn), required=True, validate=validate.Length(min=1, max=2000))


class QuestionOut(Schema):
    id = fields.Integer()
    topic = fields.String()
    kind = fields.String()
    text = fields.String()
    options = fields.Dict()
    answer = fields.List(fields.String())


class QuestionBatchOut(Schema):
    created = fields.Integer()
    ids = fields.List(fields.Integer())


class QuestionQuery(PageQuery):
    topic = Text(60)


QuestionPage = page_schema(QuestionOut)


class DrawIn(Schema):
    topic = Text(60, required=True)
    count = fields.Integer(strict=True, required=True, validate=validate.Range(min=1, max=500))


class ExamIn(Schema):
    openapi = {"allOf": [required_when("kind", [domain.CLASS_EXAM], "class_id"),  # owner below
                         required_when("kind", list(domain.EXAM_STAGE), "cycle")]}
    kind = fields.String(required=True, validate=validate.OneOf(domain.EXAM_KINDS))
    title = Text(200, required=True)
    cycle = fields.String(validate=CODE, load_default=None, metadata={"description": "programme exams"})
    class_id = Id(load_default=None, metadata={"description": "a safety-training class's exam"})
    draw = fields.List(fields.Nested(DrawIn), required=True, validate=validate.Length(min=1, max=50))
    seed = fields.Integer(strict=True, validate=validate.Range(min=0, max=2**53), load_default=None,
                          metadata={"description": "the same seed and bank draw the same paper; random when omitted"})
    duration_minutes = fields.Integer(strict=True, validate=validate.Range(min=1, max=600), load_default=60)
    pass_mark = ScoreIn(load_default=None)

    @validates_schema(skip_on_field_errors=False)
    def owner(self, data, **kwargs):
        if data.get("kind") == domain.CLASS_EXAM and not data.get("class_id"):
            raise ValidationError("required for a class exam", "class_id")
        if data.get("kind") in domain.EXAM_STAGE and not data.get("cycle"):
            raise ValidationError("required for a programme exam", "cycle")


class ExamOut(Schema):
    id = fields.Integer()
    kind = fields.String()
    title = fields.String()
    cycle = fields.String(allow_none=True)
    stage = fields.String(allow_none=True)
    class_id = fields.Integer(allow_none=True)
    seed = fields.Integer()
    draw = fields.List(fields.Dict())
    questions = fields.Integer()
    duration_minutes = fields.Integer()
    pass_mark = ScoreText()


class TakerIn(Schema):
    candidate_id = Id(load_default=None, metadata={"description": "programme exams (a lecturer token: itself)"})
    id_number = ResidentId(load_default=None, metadata={"description": "class exams: the trainee's ID number"})


class AnswersIn(Schema):
    answers = fields.Dict(keys=fields.String(), values=fields.Raw(), required=True,
                          metadata={"description": "question id -> option key, or a list of keys"})


class PaperQuestionOut(Schema):
    id = fields.Integer()
    kind = fields.String()
    text = fields.String()
    options = fields.Dict()


class AttemptOut(Schema):
    id = fields.Integer()
    exam_id = fields.Integer()
    candidate_id = fields.Integer(allow_none=True)
    status = fields.String()
    source = fields.String()
    started_at = fields.DateTime()
    deadline_at = fields.DateTime(allow_none=True)
    submitted_at = fields.DateTime(allow_none=True)
    correct = fields.Integer(allow_none=True)
    score = ScoreText(allow_none=True)
    paper = fields.List(fields.Nested(PaperQuestionOut))


class ReopenIn(Schema):
    reason = Text(2000, required=True)


class PaperScoreRow(Schema):
    candidate_id = Id(load_default=None)
    id_number = ResidentId(load_default=None)
    score = ScoreIn(required=True)


class PaperScoresIn(Schema):
    rows = fields.List(fields.Nested(PaperScoreRow), required=True, validate=validate.Length(min=1, max=5000))


class PaperScoresOut(Schema):
    imported = fields.Integer()
    attempt_ids = fields.List(fields.Integer())


class ExpertScoreIn(Schema):
    candidate_id = Id(required=True)
    part = fields.String(required=True, validate=validate.OneOf(list(domain.PART_STAGE)))
    score = ScoreIn(required=True)
    comment = Text(2000, min=0, load_default=None)


EXTERNAL_MAX_ROWS = 5000
EXTERNAL_HEADERS = {"candidate_id": "学员编号", "id_number": "身份证号", "score": "分数"}


class ExternalSource(Schema):
    exam = fields.String(required=True, validate=validate.OneOf(list(domain.EXAM_STAGE)))
    platform = Text(60, required=True, metadata={"description": "where the test was taken, e.g. 安责险学习小程序"})
    reference = Text(100, required=True, metadata={"description": "the platform's export or batch reference"})


class ExternalRow(Schema):
    candidate_id = fields.Integer(load_default=None, validate=validate.Range(min=1, max=MAX_ID))
    id_number = ResidentId(load_default=None)
    score = ScoreIn(required=True)


class ExternalResultsIn(ExternalSource):
    rows = fields.List(fields.Dict(), required=True, validate=validate.Length(min=1, max=EXTERNAL_MAX_ROWS))


class ExternalResultsQuery(ExternalSource):
    pass


class ExternalRowError(Schema):
    row = fields.Integer()
    message = fields.String()
    fields_ = fields.Dict(data_key="fields", attribute="fields")
    rule = fields.String(allow_none=True)


class ExternalResultsOut(Schema):
    exam_id = fields.Integer()
    exam = fields.String()
    platform = fields.String()
    reference = fields.String()
    imported = fields.Integer()
    unchanged = fields.Integer()
    errors = fields.List(fields.Nested(ExternalRowError))


SHEET_MAX_ROWS = 1000
# a sheet's columns: the Chinese header a paper form's spreadsheet carries, or the field name itself
SHEET_HEADERS = {"expert": "专家", "candidate_id": "学员编号", "score": "分数", "comment": "评语"}


class ScoreSheetRow(Schema):
    expert = Text(64, required=True, metadata={"description": "the expert's bound person (as on the panel)"})
    candidate_id = Id(required=True)
    score = ScoreIn(required=True)
    comment = Text(2000, min=0, load_default=None)


class ScoreSheetIn(Schema):
    part = fields.String(required=True, validate=validate.OneOf(list(domain.PART_STAGE)))
    reference = Text(100, load_default=None, metadata={"description": "the paper sheet's number, if any"})
    rows = fields.List(fields.Nested(ScoreSheetRow), required=True,
                       validate=validate.Length(min=1, max=SHEET_MAX_ROWS))


class ScoreSheetQuery(Schema):
    part = fields.String(required=True, validate=validate.OneOf(list(domain.PART_STAGE)))
    reference = Text(100, load_default=None)


class ScoreSheetRowOut(Schema):
    row = fields.String(metadata={"description": "the row as named in a refusal: rows.N (JSON) or row N (a file)"})
    expert = fields.String()
    candidate_id = fields.Integer()
    score = fields.String()
    replaced = fields.String(allow_none=True, metadata={"description": "the expert's previous score, if any"})
    unchanged = fields.Boolean(metadata={"description": "already stored as on the sheet: nothing done"})
    panel_mean = fields.String(metadata={"description": "the candidate's panel mean after the sheet"})


class ScoreSheetOut(Schema):
    group_id = fields.Integer()
    part = fields.String()
    rows = fields.Integer(metadata={"description": "the score rows on the sheet"})
    changed = fields.Integer(metadata={"description": "rows stored now (new scores or scores that differ)"})
    unchanged = fields.Integer(metadata={"description": "rows already stored as on the sheet: nothing done"})
    candidates = fields.Integer(metadata={"description": "candidates whose panel mean was emitted again"})
    panel = fields.List(fields.String(), metadata={"description": "the experts whose scores the sheet carries"})
    entered_by = fields.String(metadata={"description": "the staff member who entered it"})
    reference = fields.String(allow_none=True)
    results = fields.List(fields.Nested(ScoreSheetRowOut), metadata={"description": "one per row, in the sheet's order"})


class ExpertScoreOut(Schema):
    candidate_id = fields.Integer()
    cycle = fields.String()
    part = fields.String()
    expert = fields.String()
    score = fields.String()
    replaced = fields.String(allow_none=True, metadata={"description": "the expert's previous score, if any"})
    panel_mean = fields.String()
    panel_size = fields.Integer()


# ---- institutions, teachers, classes -----------------------------------------------------------

class InstitutionIn(Schema):
    name = Text(200, required=True)
    district = District(load_default=None)
    full_time_managers = fields.Integer(strict=True, required=True, validate=validate.Range(min=0, max=10000))
    management_system = fields.Boolean(required=True, metadata={"description": "records, archives, funds"})
    teacher_min_years = fields.Integer(strict=True, required=True, validate=validate.Range(min=0, max=80),
                                       metadata={"description": "the least experienced teacher's years in the field"})
    evaluation_mechanism = fields.Boolean(required=True)
    seats = fields.Integer(strict=True, required=True, validate=validate.Range(min=0, max=100000))


class InstitutionOut(Schema):
    id = fields.Integer()
    name = fields.String()
    district = fields.String(allow_none=True)
    full_time_managers = fields.Integer()
    management_system = fields.Boolean()
    teacher_min_years = fields.Integer()
    evaluation_mechanism = fields.Boolean()
    seats = fields.Integer()
    qualified = fields.Boolean()
    failed_conditions = fields.List(fields.Dict())


class TeacherIn(Schema):
    name = Text(50, required=True)
    qualification = fields.String(required=True, validate=validate.OneOf(list(domain.TEACHER_QUALIFICATIONS)))
    title = Text(100, load_default=None)
    field = Text(100, load_default=None)
    years_experience = fields.Integer(strict=True, required=True, validate=validate.Range(min=0, max=80))


class TeacherOut(Schema):
    id = fields.Integer()
    name = fields.String()
    qualification = fields.String()
    title = fields.String(allow_none=True)
    field = fields.String(allow_none=True)
    years_experience = fields.Integer()
    ratings = fields.Integer()
    average = ScoreText(allow_none=True)


class ClassManagerIn(Schema):
    institution_id = Id(required=True)
    name = Text(50, required=True)
    id_number = ResidentId(required=True, metadata={"description": "the manager's ID number: one record per person"})
    phone = MobilePhone(load_default=None)


class ClassManagerOut(Schema):
    id = fields.Integer()
    institution_id = fields.Integer()
    name = fields.String()
    id_number = fields.String(attribute="id_masked", metadata={"description": "masked"})


class ClassIn(Schema):
    openapi = {"x-ordered": [ordered("days/0", "days/1")]}  # domain.ensure_class_days
    title = Text(200, required=True)
    institution_id = Id(required=True)
    district = District(required=True, metadata={"description": "any common form; stored and answered official"})
    days = fields.List(fields.Date(), required=True, metadata={"description": "the two class days",
                                                               "minItems": domain.CLASS_DAYS, "maxItems": domain.CLASS_DAYS})
    day_start = fields.String(load_default="09:00", validate=HHMM)
    day_end = fields.String(load_default="17:00", validate=HHMM)
    manager_id = Id(required=True, metadata={"description": "班主任, the full-time class manager (POST /class-managers)"})
    capacity = fields.Integer(strict=True, required=True, validate=validate.Range(min=1, max=1000))
    teacher_ids = fields.List(Id(), load_default=list, validate=validate.Length(max=50))
    pass_mark = ScoreIn(load_default=None)


class SeatOut(Schema):
    id = fields.Integer()
    enrolment_id = fields.Integer()
    person_name = fields.String()
    id_number = fields.String(attribute="id_masked", metadata={"description": "masked"})
    district = fields.String()
    status = fields.String()
    hours = fields.Integer(allow_none=True)
    passed = fields.Boolean(allow_none=True)
    score = ScoreText(allow_none=True)
    excused_reason = fields.String(allow_none=True)


class ClassOut(Schema):
    id = fields.Integer()
    title = fields.String()
    institution_id = fields.Integer()
    institution = fields.String(attribute="institution.name")
    year = fields.Integer()
    district = fields.String()
    days = fields.List(fields.Date())
    day_start = fields.String()
    day_end = fields.String()
    manager_name = fields.String()
    manager_id = fields.Integer(allow_none=True)
    capacity = fields.Integer()
    class_hours = fields.Integer()
    pass_mark = ScoreText()
    status = fields.String()
    teacher_ids = fields.List(fields.Integer())
    seats = fields.List(fields.Nested(SeatOut))


class SeatIn(Schema):
    enrolment_id = Id(required=True, metadata={"description": "registration's enrolment (trainee_enrolled)"})


class AttendanceIn(Schema):
    seat_id = Id(required=True)
    id_number = ResidentId(required=True, metadata={"description": "the ID number presented at the desk"})
    day = fields.Integer(strict=True, required=True, validate=validate.OneOf([1, 2]))
    action = fields.String(required=True, validate=validate.OneOf(["check_in", "check_out"]))
    at = fields.AwareDateTime(load_default=None, metadata={"description": "the terminal's time; now when omitted"})


class ExcusalIn(Schema):
    reason = Text(500, required=True, metadata={"description": "why the class manager excuses the absence"})


class AttendanceOut(Schema):
    seat_id = fields.Integer()
    day = fields.Integer()
    checked_in_at = fields.DateTime(allow_none=True)
    checked_out_at = fields.DateTime(allow_none=True)


class CompletionOut(Schema):
    class_id = fields.Integer()
    completed = fields.Integer()
    passed = fields.Integer()
    reported = fields.Integer(metadata={"description": "absent or left early: reported to their district"})
    certificates = fields.List(fields.String())


class AbsenceQuery(PageQuery):
    year = fields.Integer(validate=validate.Range(2000, 2100))
    district = District()


class AbsenceOut(Schema):
    class_id = fields.Integer()
    year = fields.Integer()
    district = fields.String()
    person_name = fields.String()
    id_number = fields.String(attribute="id_masked")
    status = fields.String(metadata={"description": "absent | late | left_early | incomplete (未全程参加)"})
    full_days = fields.Integer()
    missed = fields.List(fields.Dict(), allow_none=True, metadata={
        "description": "each day short of full: day, date, status (absent | late | left_early | "
                       "late_left_early), missed_minutes, checked_in_at, checked_out_at"})
    missed_minutes = fields.Integer(allow_none=True, metadata={"description": "teaching minutes missed in all"})
    excused_reason = fields.String(allow_none=True)
    reported_at = fields.DateTime()


AbsencePage = page_schema(AbsenceOut)


class HoursLookupIn(Schema):
    id_number = ResidentId(required=True)
    year = fields.Integer(strict=True, load_default=None, validate=validate.Range(2000, 2100))


class HoursOut(Schema):
    person_key = fields.String()
    years = fields.Dict(keys=fields.String(), values=fields.Integer(), metadata={"description": "year -> hours"})
    classes = fields.List(fields.Dict())


class RatingIn(Schema):
    id_number = ResidentId(required=True, metadata={"description": "the trainee's ID number: one rating per teacher"})
    teacher_id = Id(required=True)
    stars = fields.Integer(strict=True, required=True, validate=validate.Range(min=1, max=5))
    comment = Text(1000, min=0, load_default=None)


class RatingOut(Schema):
    id = fields.Integer()
    class_id = fields.Integer()
    teacher_id = fields.Integer()
    stars = fields.Integer()
    comment = fields.String(allow_none=True)


# ---- certificates ------------------------------------------------------------------------------

class CertificateOut(Schema):
    number = fields.String()
    status = fields.String()
    person_name = fields.String()
    id_number = fields.String(attribute="id_masked")
    class_id = fields.Integer()
    year = fields.Integer()
    issued_at = fields.DateTime()
    revoked_at = fields.DateTime(allow_none=True)
    revoked_reason = fields.String(allow_none=True)
    verify_url = fields.String()


class UnitCertificateOut(Schema):
    number = fields.String()
    status = fields.String(metadata={"description": "valid | revoked"})
    class_id = fields.Integer()
    class_title = fields.String()
    institution = fields.String()
    year = fields.Integer()
    class_hours = fields.Integer()
    issued_at = fields.DateTime()
    revoked_reason = fields.String(allow_none=True)
    verify_url = fields.String()


class UnitPersonOut(Schema):
    enrolment_id = fields.Integer()
    year = fields.Integer()
    role = fields.String(metadata={"description": "principal | safety_manager"})
    status = fields.String(metadata={"description": "enrolled | cancelled"})
    name = fields.String(metadata={"description": "masked unless the center asks"})
    id_number = fields.String(metadata={"description": "masked"})
    hours = fields.Dict(keys=fields.String(), values=fields.Integer(), metadata={"description": "year -> hours"})
    certificates = fields.List(fields.Nested(UnitCertificateOut))


class UnitCertificatesOut(Schema):
    credit_code = fields.String()
    people = fields.List(fields.Nested(UnitPersonOut))


class VerifyOut(Schema):
    number = fields.String()
    status = fields.String(metadata={"description": "valid | revoked | unknown | foreign"})
    agency = fields.String(allow_none=True)
    name = fields.String(allow_none=True, metadata={"description": "masked"})
    training_class = fields.Dict(allow_none=True, data_key="class")
    issued_at = fields.DateTime(allow_none=True)
    revoked_reason = fields.String(allow_none=True)
    source = fields.String(allow_none=True, metadata={
        "description": "issuer (this agency's own record) | partner_replica (a partner's broadcasts)"})
    as_of = fields.DateTime(allow_none=True, metadata={
        "description": "for a partner's certificate: time of the issuer's latest fact the replica applied"})
    message = fields.String()


class RevokeIn(Schema):
    reason = Text(2000, required=True)


class DownloadIn(Schema):
    id_number = ResidentId(required=True, metadata={"description": "the holder's ID number"})


# The event schemas live in events.py; their names stay importable from here.
from .events import (  # noqa: E402,F401
    CandidateApprovedData, CandidateWithdrawnData, TraineeEnrolledData, EnrolmentCancelledData, AdvancedData,
    NotAdvancedData, StagesPlannedEvent, Placement, GroupsAssignedEvent, TraineeMovedEvent, GroupExpertEvent,
    QuestionsAddedEvent, ExamCreatedEvent, AttemptRef, AttemptStartedEvent, AttemptReopenedEvent,
    InstitutionRegisteredEvent, TeacherRegisteredEvent, ClassCreatedEvent, TraineeSeatedEvent,
    AttendanceRecordedEvent, TeacherRatedEvent, ExamScoredEvent, ExpertScoredEvent, TrainingCompletedEvent,
    AbsenceReportedEvent, CertificateIssuedEvent, CertificateRevokedEvent, PartnerCertificateIssued,
    PartnerCertificateRevoked,
)
