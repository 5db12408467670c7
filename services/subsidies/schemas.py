"""Input, output and event schemas of the subsidies service (marshmallow 4)."""
from __future__ import annotations

import re

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from shared.bulk import MAX_ITEMS as MAX_BULK, bulk_out, ids_field
from shared.events import event_type
from shared.schemas import CODE, MAX_ID, AuditOut, only_when, ordered, required_when  # noqa: F401  (one definition for all; route tables name AuditOut per service)
from shared.validators import ResidentId, SocialCreditCode

from . import domain

SERVICE = "subsidies"
Text = lambda max_len, **kw: fields.String(validate=validate.Length(min=kw.pop("min", 1), max=max_len), **kw)  # noqa: E731
SHA256 = validate.Regexp(r"^[0-9a-f]{64}$", error="the sha256 an upload returned (64 lowercase hex digits)")
Id = lambda **kw: fields.Integer(strict=True, validate=validate.Range(min=1, max=2**53), **kw)  # noqa: E731
MAX_FEN = 10**9  # ten million yuan: far above any subsidy, below any overflow


# what an evidence file may be (its content is sniffed: shared.storage.sniff)
UPLOAD_TYPES = ("image/jpeg", "image/png", "application/pdf", "video/mp4")


class BankAccount(fields.String):
    """A bank account number: 12–19 digits once spaces are removed.

    No Luhn check: it holds for most debit cards but not for passbook and corporate
    accounts, which are valid payees here; the bank's result file catches the rest.
    """

    default_error_messages = {"account": "must be 12–19 digits (rule: bank_account_format)"}
    openapi = {"pattern": "^[0-9]{12,19}$"}  # as loaded; spaces between groups are taken and removed

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        digits = re.sub(r"[ \u3000]", "", text)
        if not re.fullmatch(r"[0-9]{12,19}", digits):
            raise self.make_error("account")
        return digits


# ---- input -----------------------------------------------------------------------------------

class SubsidyCycleIn(Schema):
    openapi = {"x-ordered": [ordered("tour_start", "tour_end", strict=False)]}  # window below
    tour_start = fields.Date(required=True, metadata={"example": "2022-10-01"})
    tour_end = fields.Date(required=True, metadata={"example": "2023-04-30"})
    lecture_subsidy_fen = fields.Integer(strict=True, required=True, validate=validate.Range(0, MAX_FEN),
                                         metadata={"description": "subsidy per compliant lecture, integer fen"})
    target_lectures = fields.Integer(strict=True, load_default=domain.DEFAULT_TARGET_LECTURES,
                                     validate=validate.Range(1, 100000))

    @validates_schema(skip_on_field_errors=True)
    def window(self, data, **kwargs):
        if data["tour_end"] < data["tour_start"]:
            raise ValidationError("must not be before tour_start", "tour_end")


class SigninIn(Schema):
    file = fields.String(required=True, validate=SHA256)
    head_count = fields.Integer(strict=True, required=True, validate=validate.Range(1, 100000),
                                metadata={"description": "people on the sign-in sheet"})


class VideoIn(Schema):
    file = fields.String(required=True, validate=SHA256)


class PhotoIn(Schema):
    file = fields.String(required=True, validate=SHA256)
    shows_banner = fields.Boolean(load_default=False, metadata={"description": "the uniform banner is visible"})


class LectureIn(Schema):
    """附件5 宣讲统计表 plus references to the uploaded evidence."""
    cycle = fields.String(required=True, validate=CODE)
    candidate_id = Id(required=True, metadata={"description": "registration's candidate id of the lecturer"})
    kind = fields.String(required=True, validate=validate.OneOf(list(domain.KINDS)))
    order_id = Id(load_default=None, metadata={"description": "the order, for an on_demand lecture"})
    host_candidate_id = Id(load_default=None, metadata={
        "description": "an exchange lecture: the tour lecturer whose unit hosted it"})
    lecturer_name = Text(50, required=True)
    id_number = ResidentId(required=True)
    lecture_date = fields.Date(required=True)
    venue = Text(200, required=True, metadata={"description": "the exact company or unit"})
    audience_count = fields.Integer(strict=True, required=True, validate=validate.Range(1, 100000))
    bank = Text(100, required=True, metadata={"example": "中国工商银行"})
    branch = Text(100, required=True, metadata={"example": "北京东城支行"})
    account_number = BankAccount(required=True, metadata={"description": "12–19 digits; no Luhn check"})
    contact = Text(100, required=True)
    signin_sheet = fields.Nested(SigninIn, load_default=None)
    video = fields.Nested(VideoIn, load_default=None)
    photos = fields.List(fields.Nested(PhotoIn), load_default=list, validate=validate.Length(max=50))
    received_at = fields.AwareDateTime(load_default=None, metadata={
        "description": "staff only: when emailed evidence arrived (default: now)"})

    openapi = {"allOf": [required_when("kind", ["on_demand"], "order_id"), only_when("kind", ["on_demand"], "order_id"),
                         required_when("kind", ["exchange"], "host_candidate_id"),
                         only_when("kind", ["exchange"], "host_candidate_id")]}  # order_for_on_demand

    @validates_schema(skip_on_field_errors=True)
    def order_for_on_demand(self, data, **kwargs):
        if data["kind"] == "on_demand" and not data.get("order_id"):
            raise ValidationError("required for an on_demand lecture", "order_id")
        if data["kind"] != "on_demand" and data.get("order_id"):
            raise ValidationError("only an on_demand lecture has an order", "order_id")
        if data["kind"] == "exchange" and not data.get("host_candidate_id"):
            raise ValidationError("required for an exchange lecture: whose unit hosted it", "host_candidate_id")
        if data["kind"] != "exchange" and data.get("host_candidate_id"):
            raise ValidationError("only an exchange lecture has a host lecturer", "host_candidate_id")


class CheckQuery(Schema):
    wait = fields.Float(load_default=0, validate=validate.Range(0, 10),
                        metadata={"description": "seconds to wait for the automatic checks (≤10)"})


class ReviewIn(Schema):
    signed_by = Text(50, required=True)


class RejectIn(Schema):
    signed_by = Text(50, required=True)
    reasons = fields.List(Text(500), required=True, validate=validate.Length(min=1, max=20))


class BulkReviewIn(Schema):
    lecture_ids = ids_field("lecture_ids")
    signed_by = Text(50, required=True)


class BulkRejectIn(BulkReviewIn):
    reasons = fields.List(Text(500), required=True, validate=validate.Length(min=1, max=20))


class BulkLecturesIn(Schema):
    reports = fields.List(fields.Dict(), required=True, validate=validate.Length(
        min=1, max=MAX_BULK, error=f"between {{min}} and {{max}} reports per call (bulk limit {MAX_BULK})"),
        metadata={"description": "附件5 reports as for POST /api/v1/lectures (received_at: when the email came)"})


BulkLecturesOut = bulk_out("BulkLecturesOut", {"index": fields.Integer(), "lecture_id": fields.Integer(),
                            "report_status": fields.String()})


BulkReviewOut = bulk_out("BulkReviewOut", {"lecture_id": fields.Integer(), "report_status": fields.String()})


class RevokeIn(Schema):
    reason = Text(500, required=True)


class LectureQuery(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100000))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=200))
    cycle = fields.String(validate=CODE)
    status = fields.String(validate=validate.OneOf(domain.REPORT_STATUSES))
    candidate_id = fields.Integer(validate=validate.Range(min=1, max=2**53))
    kind = fields.String(validate=validate.OneOf(list(domain.KINDS)))


class OrderIn(Schema):
    cycle = fields.String(required=True, validate=CODE)
    enterprise_name = Text(200, required=True)
    topic = Text(200, required=True)
    wished_dates = fields.List(fields.Date(), required=True, validate=validate.Length(min=1, max=10))
    audience_size = fields.Integer(strict=True, required=True, validate=validate.Range(1, 100000))
    address = Text(300, required=True)
    contact = Text(100, load_default=None)
    credit_code = SocialCreditCode(load_default=None, metadata={
        "description": "the enterprise's unified social credit code (staff orders; an enterprise orders as itself)"})


class AcceptIn(Schema):
    candidate_id = Id(load_default=None, metadata={"description": "the lecturer taking it (staff assign one)"})


class ScheduleIn(Schema):
    date = fields.Date(required=True)


class CancelIn(Schema):
    reason = Text(500, required=True)


class BatchIn(Schema):
    cycle = fields.String(required=True, validate=CODE)
    limit = fields.Integer(strict=True, load_default=1000, validate=validate.Range(1, 10000))


class ExportQuery(Schema):
    format = fields.String(load_default="xlsx", validate=validate.OneOf(["xlsx", "csv"]))


# ---- events we consume (their producers own the contracts: docs/event-contracts.md) ----------

class CandidateAdvancedData(Schema):
    class Meta:
        unknown = EXCLUDE
    cycle = fields.String(required=True)
    candidate_id = fields.Integer(required=True)
    to_stage = fields.String(required=True)
    rank = fields.Integer(allow_none=True, load_default=None)


class CandidateApprovedData(Schema):
    class Meta:
        unknown = EXCLUDE
    cycle = fields.String(required=True)
    candidate_id = fields.Integer(required=True)
    unit_id = fields.Integer(load_default=None)
    name = fields.String(required=True)
    person_key = fields.String(required=True, validate=validate.Length(equal=64))


class LectureRequestedData(Schema):
    """risk's lecture_requested: an enterprise's service request for an on-demand lecture."""
    class Meta:
        unknown = EXCLUDE
    request_id = fields.Integer(required=True, validate=validate.Range(min=1, max=2**53))
    enterprise_name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    credit_code = SocialCreditCode(required=True)
    district = fields.String(required=True, validate=validate.Length(min=1, max=40))
    town = fields.String(load_default=None, validate=validate.Length(max=60))
    topic = fields.String(required=True, validate=validate.Length(min=1, max=200))
    wished_date = fields.Date(allow_none=True, load_default=None)
    audience_size = fields.Integer(required=True, validate=validate.Range(1, 100000))


class TrainingCompletedData(Schema):
    class Meta:
        unknown = EXCLUDE
    person_key = fields.String(required=True, validate=validate.Length(equal=64))
    person_name = fields.String(required=True, validate=validate.Length(min=1, max=50))
    class_id = fields.Integer(required=True, validate=validate.Range(min=1, max=MAX_ID))
    year = fields.Integer(required=True)
    class_hours = fields.Integer(allow_none=True, load_default=None)
    passed = fields.Boolean(required=True)
    completed_at = fields.AwareDateTime(required=True)


class CertificateRevokedData(Schema):
    class Meta:
        unknown = EXCLUDE
    number = fields.String(required=True)
    person_key = fields.String(required=True, validate=validate.Length(equal=64))
    class_id = fields.Integer(load_default=None)
    reason = fields.String(required=True)
    revoked_at = fields.AwareDateTime(required=True)


# ---- output ----------------------------------------------------------------------------------

class SubsidyCycleOut(Schema):
    code = fields.String()
    tour_start = fields.Date()
    tour_end = fields.Date()
    lecture_subsidy_fen = fields.Integer()
    target_lectures = fields.Integer()
    updated_at = fields.AwareDateTime()


class FileOut(Schema):
    sha256 = fields.String()
    content_type = fields.String()
    size = fields.Integer()
    filename = fields.String(allow_none=True)


class RuleOut(Schema):
    rule = fields.String()
    message = fields.String()


class RuleOutcomeOut(Schema):
    rule = fields.String()
    outcome = fields.String(metadata={"description": "passed | failed | not_applicable"})
    message = fields.String()


class LectureOut(Schema):
    id = fields.Integer()
    cycle = fields.String()
    candidate_id = fields.Integer()
    kind = fields.String()
    order_id = fields.Integer(allow_none=True)
    host_candidate_id = fields.Integer(allow_none=True)
    status = fields.String()
    version = fields.Integer()
    lecturer_name = fields.String()
    # the masked columns: the row also holds the plain ID and account numbers, never dumped
    id_number = fields.String(attribute="id_masked", metadata={"description": "masked"})
    lecture_date = fields.Date()
    evidence_due = fields.Date(allow_none=True)
    venue = fields.String()
    audience_count = fields.Integer()
    bank = fields.String()
    branch = fields.String()
    account_number = fields.String(attribute="account_masked", metadata={"description": "masked"})
    contact = fields.String()
    signin_sheet = fields.Dict(allow_none=True)
    video = fields.Dict(allow_none=True)
    photos = fields.List(fields.Dict())
    received_at = fields.AwareDateTime()
    failed_rules = fields.List(fields.Nested(RuleOut))
    checks = fields.List(fields.Nested(RuleOutcomeOut), metadata={
        "description": "once checked: every rule with its outcome, in the order reported (empty while pending)"})
    checked_at = fields.AwareDateTime(allow_none=True)
    checked_by = fields.String(allow_none=True)
    reviewed_by = fields.String(allow_none=True)
    review_reasons = fields.List(fields.String(), allow_none=True)
    subsidy_fen = fields.Integer(allow_none=True)
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()


class LecturePage(Schema):
    items = fields.List(fields.Nested(LectureOut))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


class CheckOut(Schema):
    id = fields.Integer()
    status = fields.String()
    checks = fields.String(metadata={"description": "pending | passed"})
    failed_rules = fields.List(fields.Nested(RuleOut))


class OrderOut(Schema):
    id = fields.Integer()
    cycle = fields.String()
    status = fields.String()
    enterprise_name = fields.String()
    topic = fields.String()
    wished_dates = fields.List(fields.Date())
    audience_size = fields.Integer()
    address = fields.String()
    contact = fields.String(allow_none=True)
    candidate_id = fields.Integer(allow_none=True)
    scheduled_date = fields.Date(allow_none=True)
    cancellation_reason = fields.String(allow_none=True)
    credit_code = fields.String(allow_none=True)
    risk_request_id = fields.Integer(allow_none=True, metadata={"description": "risk's service request, if ordered there"})
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()


class LecturerComplianceOut(Schema):
    candidate_id = fields.Integer()
    name = fields.String(allow_none=True)
    by_kind = fields.Dict(keys=fields.String(), values=fields.Integer())
    total = fields.Integer()
    self_hosted_met = fields.Boolean()


class ComplianceOut(Schema):
    cycle = fields.String()
    lecturers = fields.List(fields.Nested(LecturerComplianceOut))
    total_lectures = fields.Integer()
    by_kind = fields.Dict(keys=fields.String(), values=fields.Integer())
    target = fields.Integer()
    target_met = fields.Boolean()
    remaining = fields.Integer()
    self_hosted_missing = fields.List(fields.Integer())


class BatchOut(Schema):
    id = fields.Integer()
    cycle = fields.String()
    status = fields.String()
    item_count = fields.Integer()
    total_fen = fields.Integer()
    total_yuan = fields.String()
    created_at = fields.AwareDateTime()
    exported_at = fields.AwareDateTime(allow_none=True)
    settled_at = fields.AwareDateTime(allow_none=True)
    paid = fields.Integer()
    failed = fields.Integer()
    pending = fields.Integer()


class ImportOut(Schema):
    batch = fields.Dict(metadata={"description": "the batch after the import (BatchOut)"})
    paid = fields.Integer()
    failed = fields.Integer()
    unchanged = fields.Integer()
    errors = fields.List(fields.Dict())


class TrainingSubsidyOut(Schema):
    person_key = fields.String()
    person_name = fields.String()
    class_id = fields.Integer()
    year = fields.Integer()
    granted_at = fields.AwareDateTime()
    refused_classes = fields.Integer()
    status = fields.Method("_status", metadata={"description": "granted | withdrawn (its certificate revoked)"})
    withdrawn_at = fields.AwareDateTime(allow_none=True)
    withdrawn_reason = fields.String(allow_none=True)

    def _status(self, row):
        return "withdrawn" if row.withdrawn_at is not None else "granted"




# ---- events ----------------------------------------------------------------------------------

@event_type(SERVICE, "subsidy_cycle_set", description="A cycle's tour window or subsidy amount was set.")
class SubsidyCycleEvent(Schema):
    cycle = fields.String(required=True)
    tour_start = fields.Date(required=True)
    tour_end = fields.Date(required=True)
    lecture_subsidy_fen = fields.Integer(required=True)
    target_lectures = fields.Integer(required=True)


class LectureRef(Schema):
    cycle = fields.String(required=True)
    lecture_id = fields.Integer(required=True)
    candidate_id = fields.Integer(required=True)


@event_type(SERVICE, "report_submitted",
            description="A lecture report (附件5) was stored as received; its automatic checks are due. "
                        "Consumed by the subsidies service itself: replicas share the checks.")
class ReportSubmittedEvent(LectureRef):
    kind = fields.String(required=True)
    version = fields.Integer(required=True)


@event_type(SERVICE, "lecture_checks_failed", description="The automatic checks refused a report; rules listed.")
class ChecksFailedEvent(LectureRef):
    version = fields.Integer(required=True)
    rules = fields.List(fields.String(), required=True)


@event_type(SERVICE, "lecture_checks_passed", description="A report passed the automatic checks; awaits review.")
class ChecksPassedEvent(LectureRef):
    version = fields.Integer(required=True)


@event_type(SERVICE, "lecture_approved",
            description="One compliant lecture: scoring adds 20 points for it; a subsidy is due.")
class LectureApprovedEvent(LectureRef):
    kind = fields.String(required=True, validate=validate.OneOf(list(domain.KINDS)))
    lecture_date = fields.Date(required=True)
    approved_at = fields.AwareDateTime(required=True)


@event_type(SERVICE, "lecture_approval_revoked", description="An approval withdrawn: scoring stops counting it.")
class LectureApprovalRevokedEvent(LectureRef):
    reason = fields.String(required=True)


@event_type(SERVICE, "lecture_rejected", description="An operator rejected a report, with reasons.")
class LectureRejectedEvent(LectureRef):
    reasons = fields.List(fields.String(), required=True)


class OrderRef(Schema):
    order_id = fields.Integer(required=True)
    cycle = fields.String(required=True)
    status = fields.String(required=True)


@event_type(SERVICE, "lecture_ordered", description="An enterprise ordered an on-demand lecture.")
class LectureOrderedEvent(OrderRef):
    enterprise_name = fields.String(required=True)
    topic = fields.String(required=True)
    wished_dates = fields.List(fields.Date(), required=True)
    audience_size = fields.Integer(required=True)


@event_type(SERVICE, "lecture_order_accepted", description="The center or a lecturer accepted an order.")
class OrderAcceptedEvent(OrderRef):
    candidate_id = fields.Integer(required=True)


@event_type(SERVICE, "lecture_scheduled", description="An accepted order got its date.")
class OrderScheduledEvent(OrderRef):
    candidate_id = fields.Integer(required=True)
    date = fields.Date(required=True)


@event_type(SERVICE, "lecture_held", description="An ordered lecture took place.")
class OrderHeldEvent(OrderRef):
    candidate_id = fields.Integer(required=True)
    date = fields.Date(required=True)


@event_type(SERVICE, "lecture_order_cancelled", description="An order was cancelled, with a reason.")
class OrderCancelledEvent(OrderRef):
    reason = fields.String(required=True)


@event_type(SERVICE, "payment_batch_created", description="Approved, unpaid subsidies were put in a batch.")
class BatchCreatedEvent(Schema):
    batch_id = fields.Integer(required=True)
    cycle = fields.String(required=True)
    item_count = fields.Integer(required=True)
    total_fen = fields.Integer(required=True)


@event_type(SERVICE, "payment_batch_exported",
            description="Finance took the unmasked bank file of a batch: it is now with the bank.")
class BatchExportedEvent(Schema):
    batch_id = fields.Integer(required=True)
    format = fields.String(required=True)
    rows = fields.Integer(required=True)


@event_type(SERVICE, "subsidy_paid", description="The bank reported a lecture subsidy paid.")
class SubsidyPaidEvent(Schema):
    subsidy_id = fields.Integer(required=True)
    lecture_id = fields.Integer(required=True)
    candidate_id = fields.Integer(required=True)
    batch_id = fields.Integer(required=True)
    amount_fen = fields.Integer(required=True)


@event_type(SERVICE, "subsidy_payment_failed",
            description="The bank refused a payment; the subsidy returns to the pool for the next batch.")
class SubsidyPaymentFailedEvent(Schema):
    subsidy_id = fields.Integer(required=True)
    lecture_id = fields.Integer(required=True)
    batch_id = fields.Integer(required=True)
    reason = fields.String(required=True)


@event_type(SERVICE, "training_subsidy_withdrawn",
            description="A training subsidy was withdrawn: the certificate of its class was revoked (the "
                        "training did not qualify); the person's once-only right stays spent.")
class TrainingSubsidyWithdrawnEvent(Schema):
    person_key = fields.String(required=True)
    class_id = fields.Integer(required=True, metadata={"description": "training's class id"})
    certificate = fields.String(required=True)
    reason = fields.String(required=True)
    withdrawn_at = fields.AwareDateTime(required=True)


@event_type(SERVICE, "training_subsidy_granted",
            description="A person's municipal training subsidy (at most once per person, seed 004 §八(二)).")
class TrainingSubsidyGrantedEvent(Schema):
    person_key = fields.String(required=True)
    person_name = fields.String(required=True)
    class_id = fields.Integer(required=True, metadata={"description": "training's class id"})
    year = fields.Integer(required=True)
