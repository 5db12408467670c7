"""Risk-service request and response schemas; the events are in ``events.py``."""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from shared.districts import District
from shared.schemas import AuditOut, PageQuery, ordered, page_schema  # noqa: F401  (the route table names it per service)
from shared.validators import MobilePhone, SocialCreditCode

from . import domain
from .events import *  # noqa: F401,F403  (registers the events with the catalogue's import of schemas)

Text = lambda max_len, **kw: fields.String(validate=validate.Length(min=kw.pop("min", 1), max=max_len), **kw)  # noqa: E731
Id = lambda **kw: fields.Integer(strict=True, validate=validate.Range(min=1, max=2**53), **kw)  # noqa: E731
# query strings carry text: their numbers are parsed, not strict
QId = lambda **kw: fields.Integer(validate=validate.Range(min=1, max=2**53), **kw)  # noqa: E731
QYear = lambda **kw: fields.Integer(validate=validate.Range(2000, 2100), **kw)  # noqa: E731
Year = lambda **kw: fields.Integer(strict=True, validate=validate.Range(2000, 2100), **kw)  # noqa: E731
# what a photo may be (its content is sniffed: shared.storage.sniff)
PHOTO_TYPES = ("image/jpeg", "image/png")
MAX_FEN = 10**12  # ten billion yuan: above any premium book, far below an overflow
Fen = lambda **kw: fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_FEN), **kw)  # noqa: E731
FILE_KEY = validate.Regexp(r"^[0-9a-f]{2}/[0-9a-f]{64}\.(jpg|png)$", error="a key an upload returned")
Photos = lambda: fields.List(fields.String(validate=FILE_KEY), load_default=list, validate=validate.Length(max=20))  # noqa: E731




# ---- enterprises and parties -----------------------------------------------------------------

class EnterpriseIn(Schema):
    credit_code = SocialCreditCode(required=True, metadata={"description": "统一社会信用代码"})
    name = Text(200, required=True)
    district = District(lenient=True, required=True)
    town = Text(60, required=True, metadata={"description": "镇/街道"})
    industry = Text(40, required=True)
    staff_count = fields.Integer(strict=True, required=True, validate=validate.Range(0, 10**6))
    contact_name = Text(50, load_default=None)
    contact_phone = MobilePhone(load_default=None)
    longitude = fields.Float(load_default=None, validate=validate.Range(-180, 180))
    latitude = fields.Float(load_default=None, validate=validate.Range(-90, 90))
    baseline_risk = Text(4000, load_default=None, metadata={"description": "基础风险评估"})


class EnterpriseQuery(PageQuery):
    district = District(lenient=True)
    town = Text(60)
    industry = Text(40)
    tier = fields.String(validate=validate.OneOf(list(domain.TIER_LABELS)))
    q = Text(100)


class EnterpriseOut(Schema):
    id = fields.Integer()
    credit_code = fields.String()
    name = fields.String()
    district = fields.String()
    town = fields.String()
    industry = fields.String()
    tier = fields.String()
    tier_label = fields.Function(lambda e: domain.TIER_LABELS[e.tier])
    staff_count = fields.Integer()
    contact_name = fields.String(allow_none=True)
    phone_masked = fields.String(allow_none=True)
    longitude = fields.Float(allow_none=True)
    latitude = fields.Float(allow_none=True)
    baseline_risk = fields.String(allow_none=True)
    created_at = fields.AwareDateTime()


EnterprisePage = page_schema(EnterpriseOut)


class ImportOut(Schema):
    rows = fields.Integer()
    created = fields.Integer()
    updated = fields.Integer()
    unchanged = fields.Integer()
    policies = fields.Integer(metadata={"description": "policies created (rows naming insurer and year)"})
    errors = fields.List(fields.Dict(), metadata={"description": "[{row, fields: {column: [messages]}}]"})


class InsurerIn(Schema):
    name = Text(200, required=True)
    parent_id = Id(load_default=None, metadata={"description": "the company of a branch"})


class InsurerOut(Schema):
    id = fields.Integer()
    name = fields.String()
    parent_id = fields.Integer(allow_none=True)


class OrganisationIn(Schema):
    name = Text(200, required=True)


class OrganisationOut(Schema):
    id = fields.Integer()
    name = fields.String()


class TechnicianIn(Schema):
    organisation_id = Id(required=True)
    name = Text(50, required=True)
    phone = MobilePhone(load_default=None)


class TechnicianOut(Schema):
    id = fields.Integer()
    organisation_id = fields.Integer()
    name = fields.String()
    phone_masked = fields.String(allow_none=True)


class SubstationIn(Schema):
    name = Text(200, required=True)
    district = District(lenient=True, required=True)
    town = Text(60, required=True)
    organisation_id = Id(load_default=None)


class SubstationOut(Schema):
    id = fields.Integer()
    name = fields.String()
    district = fields.String()
    town = fields.String()
    organisation_id = fields.Integer(allow_none=True)


# ---- policies, claims, fund ------------------------------------------------------------------

class PolicyIn(Schema):
    openapi = {"x-ordered": [ordered("period_start", "period_end")]}  # _period below
    enterprise_id = Id(required=True)
    insurer_id = Id(required=True)
    year = Year(required=True)
    period_start = fields.Date(required=True)
    period_end = fields.Date(required=True)
    insured_workers = fields.Integer(strict=True, required=True, validate=validate.Range(1, 10**6))
    sum_insured_fen = Fen(load_default=None, metadata={"description": "per worker; the programme's when omitted"})

    @validates_schema
    def _period(self, data, **_):
        if data["period_end"] <= data["period_start"]:
            raise ValidationError("must be after period_start", "period_end")
        if data["period_start"].year != data["year"]:
            raise ValidationError("the policy year is the year the period starts in", "period_start")
        if (data["period_end"] - data["period_start"]).days > 366:
            raise ValidationError("a policy runs for at most one year", "period_end")


class PolicyOut(Schema):
    id = fields.Integer()
    enterprise_id = fields.Integer()
    insurer_id = fields.Integer()
    year = fields.Integer()
    period_start = fields.Date()
    period_end = fields.Date()
    insured_workers = fields.Integer()
    sum_insured_fen = fields.Integer()
    rate_bp = fields.Integer(metadata={"description": "basis points (‱) of the sum insured"})
    floating = fields.Boolean(metadata={"description": "the lower rate for no claim in the previous year"})
    rate_reason = fields.String()
    premium_fen = fields.Integer()
    previous_policy_id = fields.Integer(allow_none=True)


class PolicyQuery(PageQuery):
    enterprise_id = QId()
    insurer_id = QId()
    year = QYear()


PolicyPage = page_schema(PolicyOut)


class ClaimIn(Schema):
    policy_id = Id(required=True)
    accident_date = fields.Date(required=True)
    description = Text(4000, required=True)
    casualties = fields.Integer(strict=True, load_default=0, validate=validate.Range(0, 10000))


class SurveyIn(Schema):
    notes = Text(4000, required=True)


class AmountIn(Schema):
    amount_fen = Fen(required=True)


class ClaimOut(Schema):
    id = fields.Integer()
    policy_id = fields.Integer()
    status = fields.String()
    accident_date = fields.Date()
    description = fields.String()
    casualties = fields.Integer()
    survey_notes = fields.String(allow_none=True)
    advance_paid_fen = fields.Integer()
    settled_fen = fields.Integer(allow_none=True)
    reported_at = fields.AwareDateTime()


class FundDebitIn(Schema):
    insurer_id = Id(required=True)
    year = Year(required=True)
    amount_fen = Fen(required=True)
    reference = Text(80, required=True, metadata={"description": "what was paid for; posting it twice is a no-op"})
    memo = Text(200, required=True)
    district = District(lenient=True, load_default=None)


class FundQuery(Schema):
    year = QYear(required=True)


class FundEntryOut(Schema):
    id = fields.Integer()
    kind = fields.String()
    amount_fen = fields.Integer()
    balance_after_fen = fields.Integer()
    district = fields.String(allow_none=True)
    reference = fields.String()
    memo = fields.String()
    posted_at = fields.AwareDateTime()


class DistrictFundOut(Schema):
    district = fields.String(allow_none=True)
    credited_fen = fields.Integer()
    debited_fen = fields.Integer()


class FundOut(Schema):
    insurer_id = fields.Integer()
    year = fields.Integer()
    credited_fen = fields.Integer()
    debited_fen = fields.Integer()
    balance_fen = fields.Integer()
    districts = fields.List(fields.Nested(DistrictFundOut))
    entries = fields.List(fields.Nested(FundEntryOut))


# ---- inspections, hazards --------------------------------------------------------------------

class PlanIn(Schema):
    year = Year(required=True)


class PlanOut(Schema):
    year = fields.Integer()
    created = fields.Integer()
    due = fields.Integer()


class InspectionQuery(PageQuery):
    year = QYear()
    status = fields.String(validate=validate.OneOf(["planned", "assigned", "scheduled", "done"]))
    insurer_id = QId()
    organisation_id = QId()
    enterprise_id = QId()


class AssignIn(Schema):
    organisation_id = Id(required=True)
    technician_id = Id(required=True)
    scheduled_for = fields.Date(load_default=None)


class HazardFoundIn(Schema):
    level = fields.String(required=True, validate=validate.OneOf(list(domain.HAZARD_LEVELS)))
    description = Text(2000, required=True)
    location = Text(200, required=True)
    photos = Photos()
    rectify_working_days = fields.Integer(strict=True, load_default=None, validate=validate.Range(1, 250))


class ItemOutcomeIn(Schema):
    hazard_id = Id(required=True)
    passed = fields.Boolean(required=True)
    note = Text(2000, load_default=None)


class VisitIn(Schema):
    visited_at = fields.AwareDateTime(required=True)
    technician_id = Id(required=True)
    findings = Text(4000, required=True)
    photos = Photos()
    cost_fen = Fen(load_default=None, metadata={"description": "debited from the insurer's prevention fund"})
    hazards = fields.List(fields.Nested(HazardFoundIn), load_default=list, validate=validate.Length(max=200))
    items = fields.List(fields.Nested(ItemOutcomeIn), load_default=list, validate=validate.Length(max=200),
                        metadata={"description": "a re-inspection: the outcome of each open item"})


class ReinspectionIn(Schema):
    scheduled_for = fields.Date(load_default=None)
    technician_id = Id(load_default=None)


class ItemOut(Schema):
    hazard_id = fields.Integer()
    outcome = fields.String(allow_none=True)
    note = fields.String(allow_none=True)


class HazardOut(Schema):
    id = fields.Integer()
    inspection_id = fields.Integer()
    enterprise_id = fields.Integer()
    level = fields.String()
    level_label = fields.Function(lambda h: domain.HAZARD_LEVELS[h.level])
    status = fields.String()
    description = fields.String()
    location = fields.String()
    photos = fields.List(fields.String())
    evidence = fields.List(fields.Dict())
    found_on = fields.Date()
    deadline = fields.Date(allow_none=True, metadata={"description": "null while deadline_pending says why"})
    deadline_pending = fields.String(allow_none=True, metadata={
        "description": "why there is no deadline yet (calendar_range: the holiday arrangement of a year it "
                       "reaches into is not recorded; it is computed once it is)"})
    deadline_pending_label = fields.Function(
        lambda h: domain.DEADLINE_PENDING.get(h.deadline_pending) if h.deadline_pending else None, allow_none=True)
    overdue = fields.Boolean(metadata={"description": "computed from the deadline, never set"})
    closed_at = fields.AwareDateTime(allow_none=True)


class InspectionOut(Schema):
    id = fields.Integer()
    kind = fields.String()
    parent_id = fields.Integer(allow_none=True)
    enterprise_id = fields.Integer()
    policy_id = fields.Integer()
    insurer_id = fields.Integer()
    year = fields.Integer()
    due_by = fields.Date()
    status = fields.String()
    organisation_id = fields.Integer(allow_none=True)
    technician_id = fields.Integer(allow_none=True)
    scheduled_for = fields.Date(allow_none=True)
    visited_at = fields.AwareDateTime(allow_none=True)
    findings = fields.String(allow_none=True)
    photos = fields.List(fields.String())
    result = fields.String(allow_none=True)
    cost_fen = fields.Integer(allow_none=True)
    items = fields.List(fields.Nested(ItemOut))
    hazards = fields.List(fields.Nested(HazardOut))


InspectionPage = page_schema(InspectionOut)


class HazardQuery(PageQuery):
    status = fields.String(validate=validate.OneOf(list(domain.HAZARD_STATUSES)))
    level = fields.String(validate=validate.OneOf(list(domain.HAZARD_LEVELS)))
    enterprise_id = QId()
    district = District(lenient=True)
    overdue = fields.Boolean()


HazardPage = page_schema(HazardOut)


class EvidenceIn(Schema):
    photos = Photos()
    note = Text(2000, required=True)
    done = fields.Boolean(load_default=False, metadata={"description": "rectified: ask for the re-inspection"})


class AckIn(Schema):
    note = Text(2000, load_default=None)


class MajorReportOut(Schema):
    id = fields.Integer()
    hazard_id = fields.Integer()
    district = fields.String()
    reported_at = fields.AwareDateTime()
    acknowledged_at = fields.AwareDateTime(allow_none=True)
    acknowledged_by = fields.String(allow_none=True)
    escalated_at = fields.AwareDateTime(allow_none=True)


class SweepOut(Schema):
    overdue = fields.Integer()
    escalated = fields.Integer()
    deadlines_set = fields.Integer(metadata={"description": "pending deadlines computed now the calendar covers them"})


# ---- service requests, appraisal -------------------------------------------------------------

class RequestIn(Schema):
    enterprise_id = Id(load_default=None, metadata={"description": "staff say for whom; an enterprise asks for itself"})
    kind = fields.String(required=True, validate=validate.OneOf(list(domain.SERVICE_KINDS)))
    description = Text(2000, required=True)
    wished_date = fields.Date(load_default=None)


class RequestAssignIn(Schema):
    organisation_id = Id(required=True)
    technician_id = Id(load_default=None)


class RequestCloseIn(Schema):
    report = Text(4000, required=True)
    cost_fen = Fen(load_default=None)


class RatingIn(Schema):
    score = fields.Integer(strict=True, required=True, validate=validate.Range(1, 5))
    comment = Text(1000, load_default=None)


class RequestOut(Schema):
    id = fields.Integer()
    enterprise_id = fields.Integer()
    insurer_id = fields.Integer(allow_none=True)
    kind = fields.String()
    status = fields.String()
    description = fields.String()
    wished_date = fields.Date(allow_none=True)
    organisation_id = fields.Integer(allow_none=True)
    technician_id = fields.Integer(allow_none=True)
    report = fields.String(allow_none=True)
    cost_fen = fields.Integer(allow_none=True)
    closed_at = fields.AwareDateTime(allow_none=True)
    rating = fields.Integer(allow_none=True)
    rating_comment = fields.String(allow_none=True)


RequestPage = page_schema(RequestOut)


from .schemas_views import *  # noqa: E402,F401,F403  (one namespace for the route table)
