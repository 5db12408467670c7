"""Input, output and event schemas of the registration service (marshmallow 4)."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

from marshmallow import Schema, ValidationError, fields, pre_dump, validate, validates_schema

from shared.bulk import MAX_ITEMS, bulk_out, ids_field
from shared.districts import District
from shared.events import event_type
from shared.schemas import CODE, AuditOut  # noqa: F401  (one definition for all; route tables name AuditOut per service)
from shared.workdays import SHANGHAI
from shared.validators import Email, MobilePhone, ResidentId, SocialCreditCode

from . import domain

SERVICE = "registration"
Text = lambda max_len, **kw: fields.String(validate=validate.Length(min=kw.pop("min", 1), max=max_len), **kw)  # noqa: E731
MAX_PHOTO_BASE64 = 2 * 1024 * 1024 * 4 // 3 + 4


# ---- input -----------------------------------------------------------------------------------

class CycleIn(Schema):
    code = fields.String(required=True, validate=CODE, metadata={"example": "2022"})
    title = Text(200, required=True, metadata={"example": "2022年北京安责险金牌宣讲员培养计划"})
    deadline = fields.Date(required=True, metadata={"description": "last day forms are accepted (Asia/Shanghai)"})
    minimums = fields.Dict(keys=fields.String(validate=validate.OneOf(list(domain.UNIT_KINDS))),
                           values=fields.Integer(strict=True, validate=validate.Range(0, 1000)),
                           load_default=dict)


class CyclePatch(Schema):
    title = Text(200)
    deadline = fields.Date()
    minimums = fields.Dict(keys=fields.String(validate=validate.OneOf(list(domain.UNIT_KINDS))),
                           values=fields.Integer(strict=True, validate=validate.Range(0, 1000)))


class UnitIn(Schema):
    name = Text(200, required=True)
    kind = fields.String(required=True, validate=validate.OneOf(list(domain.UNIT_KINDS)))
    district = District(load_default=None)
    credit_code = SocialCreditCode(load_default=None)
    contact_name = Text(50, load_default=None)
    contact_phone = MobilePhone(load_default=None)

    @validates_schema(skip_on_field_errors=False)
    def district_for_safety_office(self, data, **kwargs):
        if data.get("kind") == "district_safety_office" and not data.get("district"):
            raise ValidationError("required for a district safety office", "district")


class PhotoIn(Schema):
    data_base64 = fields.String(required=True, validate=validate.Length(min=8, max=MAX_PHOTO_BASE64))


EXTERNAL_REF = validate.Regexp(r"^[0-9A-Za-z][0-9A-Za-z._/-]{0,39}$",
                               error="letters, digits and . _ / - only, starting with a letter or digit (≤40)")


class CandidateFields(Schema):
    name = Text(50)
    birth_month = fields.String(validate=validate.Regexp(r"^\d{4}-(0[1-9]|1[0-2])$", error="must be YYYY-MM"))
    gender = fields.String(validate=validate.OneOf(["male", "female"]))
    title = Text(100, load_default=None)
    email = Email()
    phone = MobilePhone()
    education = Text(50)
    id_number = ResidentId()
    school_major = Text(200)
    employer_position = Text(200)
    deeds = Text(5000, metadata={"description": "主要事迹（或参加宣讲活动情况）"})
    recommendation_reason = Text(2000)
    remarks = Text(2000, min=0, load_default=None)
    speech_draft = Text(20000, min=0, load_default=None)
    photo = fields.Nested(PhotoIn, load_default=None, metadata={"description": "colour photo, JPEG or PNG ≤2 MiB"})
    external_ref = fields.String(allow_none=True, validate=EXTERNAL_REF, metadata={
        "description": "the nominating unit's own reference number; unique per unit and cycle"})


_REQUIRED_ON_REGISTER = ("name", "email", "phone", "education", "id_number", "school_major",
                         "employer_position", "deeds", "recommendation_reason")


class CandidateIn(CandidateFields):
    openapi = {"required": list(_REQUIRED_ON_REGISTER)}  # checked by required_fields below

    cycle = fields.String(required=True, validate=CODE)
    unit_id = fields.Integer(strict=True, validate=validate.Range(min=1, max=2**53), load_default=None,
                             metadata={"description": "the nominating unit; a unit token's own unit by default"})

    @validates_schema(skip_on_field_errors=False, pass_original=True)
    def required_fields(self, data, original, partial=None, **kwargs):
        # judged on what was sent: a field that failed its own validation is not also "missing"
        sent = original if isinstance(original, dict) else {}
        missing = {f: ["Missing data for required field."] for f in _REQUIRED_ON_REGISTER if f not in sent}
        if missing:
            raise ValidationError(missing)


class LateEntryIn(CandidateIn):
    # staff enter it (no unit token to default from): the nominating unit is named
    openapi = {"required": [*_REQUIRED_ON_REGISTER, "unit_id"]}

    late_entry_reason = fields.String(required=True, validate=validate.Length(
        min=domain.LATE_ENTRY_REASON_MIN, max=2000,
        error=f"give the reason in {domain.LATE_ENTRY_REASON_MIN}–2000 characters"), metadata={
        "description": "why the center enters this form after the deadline (kept with the form and in the audit trail)"})


class IdLookupIn(Schema):
    id_number = ResidentId(required=True)
    cycle = fields.String(validate=CODE, load_default=None, metadata={"description": "one cycle; every cycle when omitted"})


class CandidatePatch(CandidateFields):
    expected_version = fields.Integer(strict=True, load_default=None,
                                      metadata={"description": "optimistic lock: 409 when the form changed meanwhile"})


class SealIn(Schema):
    signed_by = Text(50, required=True, metadata={"description": "who applied the seal"})
    opinion = Text(2000, min=0, load_default="")


class BulkSealIn(Schema):
    candidate_ids = ids_field("candidate_ids")
    signed_by = Text(50, required=True, metadata={"description": "who applied the seal"})
    opinion = Text(2000, min=0, load_default="")


BulkSealOut = bulk_out("BulkSealOut", {"candidate_id": fields.Integer(), "candidate_status": fields.String()})


class BulkCandidatesIn(Schema):
    forms = fields.List(fields.Dict(), required=True, validate=validate.Length(
        min=1, max=MAX_ITEMS, error=f"between {{min}} and {{max}} forms per call (bulk limit {MAX_ITEMS})"),
        metadata={"description": "附件1 forms as for POST /api/v1/candidates (at most 500)"})


BulkCandidatesOut = bulk_out("BulkCandidatesOut", {
    "index": fields.Integer(metadata={"description": "the form's place in the call"}),
    "candidate_id": fields.Integer(), "candidate_status": fields.String()})


class RejectIn(Schema):
    signed_by = Text(50, required=True)
    reason = Text(2000, required=True)


class WithdrawIn(Schema):
    reason = Text(2000, required=True)


class CandidateQuery(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100000))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=200))
    cycle = fields.String(validate=CODE)
    status = fields.String(validate=validate.OneOf(domain.STATUSES))
    unit_id = fields.Integer(validate=validate.Range(min=1, max=2**53))
    district = District()
    kind = fields.String(validate=validate.OneOf(list(domain.UNIT_KINDS)))
    q = Text(50, metadata={"description": "name or the unit's reference number contains"})
    external_ref = fields.String(validate=EXTERNAL_REF, metadata={"description": "the unit's reference number, exactly"})


class UnitQuery(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100000))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    kind = fields.String(validate=validate.OneOf(list(domain.UNIT_KINDS)))
    district = District()


class DistrictQuotaIn(Schema):
    district = District(required=True)
    quota = fields.Integer(strict=True, required=True, validate=validate.Range(min=0, max=10_000_000))


class QuotaTableIn(Schema):
    year = fields.Integer(strict=True, required=True, validate=validate.Range(2000, 2100))
    districts = fields.List(fields.Nested(DistrictQuotaIn), validate=validate.Length(min=1, max=500),
                            load_default=None, metadata={
                                "description": "the whole table, every district once; omit to load the published "
                                               "table of that year"})
    replace = fields.Boolean(load_default=False, metadata={
        "description": "confirms replacing a year's table that differs from this one (audited with both tables)"})
    reason = Text(500, load_default=None, metadata={"description": "why the table is replaced; required with replace"})


class EnrolUnitIn(Schema):
    name = Text(200, required=True)
    credit_code = SocialCreditCode(required=True)
    staff_count = fields.Integer(strict=True, required=True, validate=validate.Range(min=1, max=10_000_000))
    operating_district = District(required=True, metadata={
        "description": "where the unit operates: enrols it (any common form; answered by its official name)"})
    registered_district = Text(40, load_default=None, metadata={
        "description": "where its licence is registered: may be outside the agency; a known district is "
                       "stored by its official name"})
    industry = Text(100, load_default=None)


class EnrolPersonIn(Schema):
    name = Text(50, required=True)
    id_number = ResidentId(required=True)
    phone = MobilePhone(load_default=None)


class EnrolmentIn(Schema):
    year = fields.Integer(strict=True, required=True, validate=validate.Range(2000, 2100))
    role = fields.String(required=True, validate=validate.OneOf(list(domain.ENROLMENT_ROLES)))
    unit = fields.Nested(EnrolUnitIn, required=True)
    person = fields.Nested(EnrolPersonIn, required=True)
    organised_by = Text(200, load_default=None, metadata={"description": "industry authority or township/street"})


class EnrolmentQuery(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100000))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    year = fields.Integer(validate=validate.Range(2000, 2100))
    district = District()
    role = fields.String(validate=validate.OneOf(list(domain.ENROLMENT_ROLES)))
    status = fields.String(validate=validate.OneOf(["enrolled", "cancelled"]))


class CancelIn(Schema):
    reason = Text(2000, required=True)


# ---- output ----------------------------------------------------------------------------------

class CycleOut(Schema):
    code = fields.String()
    title = fields.String()
    deadline = fields.Date()
    minimums = fields.Dict(keys=fields.String(), values=fields.Integer())
    open = fields.Boolean()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class UnitOut(Schema):
    id = fields.Integer()
    name = fields.String()
    kind = fields.String()
    kind_label = fields.String()
    district = fields.String(allow_none=True)
    credit_code = fields.String(allow_none=True)
    contact_name = fields.String(allow_none=True)
    contact_phone = fields.String(allow_none=True, metadata={"description": "masked unless staff or the unit itself"})
    created_at = fields.DateTime()


class SealOut(Schema):
    signed_by = fields.String(allow_none=True)
    opinion = fields.String(allow_none=True)
    sealed_at = fields.DateTime(allow_none=True)


class CandidateOut(Schema):
    id = fields.Integer()
    cycle = fields.String(attribute="cycle.code")
    unit_id = fields.Integer()
    unit_name = fields.String(attribute="unit.name")
    unit_kind = fields.String(attribute="unit.kind")
    district = fields.String(attribute="unit.district", allow_none=True)
    status = fields.String()
    version = fields.Integer()
    name = fields.String()
    birth_month = fields.String()
    gender = fields.String()
    title = fields.String(allow_none=True)
    email = fields.String()
    phone = fields.String(metadata={"description": "masked unless staff or the nominating unit"})
    education = fields.String()
    # the masked column: the row also holds the plain number, never dumped
    id_number = fields.String(attribute="id_masked",
                              metadata={"description": "always masked; GET …/identity reveals it (audited)"})
    school_major = fields.String()
    employer_position = fields.String()
    deeds = fields.String()
    recommendation_reason = fields.String()
    remarks = fields.String(allow_none=True)
    speech_draft = fields.String(allow_none=True)
    photo_sha256 = fields.String(allow_none=True)
    external_ref = fields.String(allow_none=True, metadata={"description": "the nominating unit's own number"})
    late_entry = fields.Boolean(metadata={"description": "entered by the center after the deadline"})
    late_entry_reason = fields.String(allow_none=True)
    unit_seal = fields.Nested(SealOut)
    center_seal = fields.Nested(SealOut)
    rejected_stage = fields.String(allow_none=True)
    rejection_reason = fields.String(allow_none=True)
    withdrawal_reason = fields.String(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class IdentityOut(Schema):
    id = fields.Integer()
    name = fields.String()
    id_number = fields.String()
    phone = fields.String()


class Page(Schema):
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


class CandidatePage(Page):
    items = fields.List(fields.Nested(CandidateOut))


class UnitPage(Page):
    items = fields.List(fields.Nested(UnitOut))


class QuotaRowOut(Schema):
    unit_id = fields.Integer()
    unit_name = fields.String()
    kind = fields.String()
    district = fields.String(allow_none=True)
    nominated = fields.Integer()
    minimum = fields.Integer()
    shortfall = fields.Integer()
    flagged = fields.Boolean()


class QuotaReportOut(Schema):
    cycle = fields.String()
    deadline = fields.Date()
    closed = fields.Boolean()
    nominated = fields.Integer()
    units_short = fields.Integer()
    units_flagged = fields.Integer()
    rows = fields.List(fields.Nested(QuotaRowOut))


class EnrolmentOut(Schema):
    id = fields.Integer()
    year = fields.Integer()
    district = fields.String()
    status = fields.String()
    role = fields.String()
    unit_name = fields.String()
    unit_credit_code = fields.String()
    staff_count = fields.Integer()
    registered_district = fields.String(allow_none=True)
    industry = fields.String(allow_none=True)
    organised_by = fields.String(allow_none=True)
    person_name = fields.String()
    person_id_number = fields.String(attribute="person_id_masked", metadata={"description": "masked"})
    person_phone = fields.String(allow_none=True)
    cancellation_reason = fields.String(allow_none=True)
    created_at = fields.DateTime()


class UnitPersonOut(Schema):
    enrolment_id = fields.Integer()
    year = fields.Integer()
    role = fields.String(metadata={"description": "principal | safety_manager"})
    role_label = fields.String()
    status = fields.String()
    district = fields.String()
    name = fields.String(metadata={"description": "masked unless the center asks"})
    id_number = fields.String(metadata={"description": "always masked"})
    phone = fields.String(allow_none=True, metadata={"description": "masked unless the center asks"})
    created_at = fields.DateTime()


class UnitEnrolmentsOut(Schema):
    credit_code = fields.String()
    unit_name = fields.String(allow_none=True)
    principal = fields.Integer(allow_none=True, metadata={"description": "enrolment id of the current principal"})
    safety_manager = fields.Integer(allow_none=True,
                                    metadata={"description": "enrolment id of the current safety manager"})
    enrolments = fields.List(fields.Nested(UnitPersonOut))


class EnrolmentPage(Page):
    items = fields.List(fields.Nested(EnrolmentOut))


class ProgressRowOut(Schema):
    district = fields.String()
    quota = fields.Integer()
    enrolled = fields.Integer()
    remaining = fields.Integer()
    percent = fields.Float()


class ProgressOut(Schema):
    year = fields.Integer()
    quota = fields.Integer()
    enrolled = fields.Integer()
    percent = fields.Float()
    rows = fields.List(fields.Nested(ProgressRowOut))


class QuotaTableOut(Schema):
    year = fields.Integer(metadata={"description": "the year's table as stored after this call"})
    districts = fields.Integer()
    total = fields.Integer()
    replaced = fields.Boolean(metadata={"description": "an existing, different table was replaced"})
    previous_total = fields.Integer(allow_none=True)




# ---- events ----------------------------------------------------------------------------------

@event_type(SERVICE, "cycle_created", description="A programme cycle was opened for nominations.")
class CycleEvent(Schema):
    cycle = fields.String(required=True)
    title = fields.String(required=True)
    deadline = fields.Date(required=True)
    minimums = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)


class MinimumV2(Schema):
    kind = fields.String(required=True)
    count = fields.Integer(required=True)


@event_type(SERVICE, "cycle_created", version=2, description=(
    "A programme cycle was opened for nominations (v2: the deadline as the instant nominations close, "
    "the end of the day in Asia/Shanghai, in UTC; the minimums as a list). Emitted beside v1."))
class CycleEventV2(Schema):
    cycle = fields.String(required=True)
    title = fields.String(required=True)
    closes_at = fields.AwareDateTime(required=True)
    minimums = fields.List(fields.Nested(MinimumV2), required=True)

    @pre_dump
    def _from_v1(self, data, **kwargs):
        """The producer hands every major the same dict; v2 reshapes it."""
        if "closes_at" in data:
            return data
        return {"cycle": data["cycle"], "title": data["title"], "closes_at": closing_instant(data["deadline"]),
                "minimums": [{"kind": k, "count": v} for k, v in sorted(data["minimums"].items())]}


def closing_instant(deadline) -> datetime:
    """The last microsecond of the deadline day in Asia/Shanghai, in UTC (2022-08-10 → 2022-08-10T15:59:59.999999Z)."""
    if isinstance(deadline, str):
        deadline = date.fromisoformat(deadline)
    local_end = datetime.combine(deadline + timedelta(days=1), time.min, tzinfo=SHANGHAI) - timedelta(microseconds=1)
    return local_end.astimezone(timezone.utc)


@event_type(SERVICE, "cycle_updated", description="A cycle's title, deadline or minimum quotas changed.")
class CycleUpdatedEvent(CycleEvent):
    changed = fields.List(fields.String(), required=True)


@event_type(SERVICE, "unit_created", description="A nominating unit was registered.")
class UnitCreatedEvent(Schema):
    unit_id = fields.Integer(required=True)
    name = fields.String(required=True)
    kind = fields.String(required=True)
    district = fields.String(allow_none=True)


class CandidateRef(Schema):
    candidate_id = fields.Integer(required=True)
    cycle = fields.String(required=True)
    unit_id = fields.Integer(required=True)
    status = fields.String(required=True)


@event_type(SERVICE, "candidate_registered",
            description="A nominating unit submitted a lecturer candidate's form (附件1).")
class CandidateRegisteredEvent(CandidateRef):
    unit_kind = fields.String(required=True)
    district = fields.String(allow_none=True)
    name = fields.String(required=True)
    id_number_masked = fields.String(required=True)
    person_key = fields.String(required=True, metadata={
        "description": "HMAC-SHA256 of the ID number under the agency's index key: matches a person across services "
                       "without revealing the number"})
    late_entry = fields.Boolean(metadata={"description": "entered by the center after the deadline, with a reason"})


@event_type(SERVICE, "candidate_edited", description="A submitted form was corrected before the unit's seal.")
class CandidateEditedEvent(CandidateRef):
    changed = fields.List(fields.String(), required=True)


class SealEvent(CandidateRef):
    signed_by = fields.String(required=True)
    opinion = fields.String(allow_none=True)
    sealed_at = fields.DateTime(required=True)


@event_type(SERVICE, "candidate_unit_approved", description="The nominating unit sealed the form.")
class CandidateUnitApprovedEvent(SealEvent):
    pass


@event_type(SERVICE, "candidate_approved",
            description="The operation center approved the candidate: a trainee of the cycle's basic stage.")
class CandidateApprovedEvent(SealEvent):
    unit_kind = fields.String(required=True)
    district = fields.String(allow_none=True)
    name = fields.String(required=True)
    gender = fields.String(required=True)
    id_number_masked = fields.String(required=True)
    person_key = fields.String(required=True)
    registered_at = fields.DateTime(required=True)


@event_type(SERVICE, "candidate_rejected", description="The unit or the center rejected the form, with a reason.")
class CandidateRejectedEvent(CandidateRef):
    stage = fields.String(required=True, validate=validate.OneOf(["unit", "center"]))
    reason = fields.String(required=True)
    signed_by = fields.String(required=True)


@event_type(SERVICE, "candidate_withdrawn", description="A registration was withdrawn.")
class CandidateWithdrawnEvent(CandidateRef):
    previous_status = fields.String(required=True)
    reason = fields.String(required=True)


@event_type(SERVICE, "district_quotas_loaded", description="A year's district training quotas were (re)loaded.")
class QuotasLoadedEvent(Schema):
    year = fields.Integer(required=True)
    districts = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    total = fields.Integer(required=True)


@event_type(SERVICE, "trainee_enrolled",
            description="A principal person or safety manager was enrolled into the year's mandatory training.")
class TraineeEnrolledEvent(Schema):
    enrolment_id = fields.Integer(required=True)
    year = fields.Integer(required=True)
    district = fields.String(required=True)
    role = fields.String(required=True)
    unit_name = fields.String(required=True)
    unit_credit_code = fields.String(required=True)
    person_name = fields.String(required=True)
    id_number_masked = fields.String(required=True)
    person_key = fields.String(required=True)


@event_type(SERVICE, "enrolment_cancelled", description="An enrolment was cancelled; its place is free again.")
class EnrolmentCancelledEvent(Schema):
    enrolment_id = fields.Integer(required=True)
    year = fields.Integer(required=True)
    district = fields.String(required=True)
    role = fields.String(required=True)
    person_key = fields.String(required=True)
    reason = fields.String(required=True)
