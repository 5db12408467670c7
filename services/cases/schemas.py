"""Input, output and event schemas of the case-collection service (marshmallow 4)."""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from shared.errors import ValidationFailed
from shared.schemas import AuditOut, any_of_required, required_when  # noqa: F401  (the route tables name it per service)
from shared.validators import Email, MobilePhone, SocialCreditCode

from . import domain, report

SERVICE = "cases"
Text = lambda max_len, **kw: fields.String(validate=validate.Length(min=kw.pop("min", 1), max=max_len), **kw)  # noqa: E731
MONTH = validate.Regexp(r"^(19|20)\d{2}-(0[1-9]|1[0-2])$", error="must be YYYY-MM (month precision)")
CODE = validate.Regexp(r"^[0-9A-Za-z][0-9A-Za-z_-]{0,63}$", error="letters, digits, - and _ only (≤64)")
Year = lambda **kw: fields.Integer(strict=True, validate=validate.Range(2000, 2100), **kw)  # noqa: E731
Id = lambda **kw: fields.Integer(strict=True, validate=validate.Range(1, 2**53), **kw)  # noqa: E731



def as_year(value, field: str = "year") -> int:
    """A campaign year from a URL: 2000–2100, else a 400 naming the field."""
    try:
        year = int(str(value))
    except (TypeError, ValueError):
        raise ValidationFailed("a year is a number", {field: ["Not a valid integer."]}) from None
    if not 2000 <= year <= 2100:
        raise ValidationFailed("year out of range", {field: ["Must be between 2000 and 2100."]})
    return year

def between(low, high):
    """A bounds check for Decimal fields (apispec would print validate.Range's bounds as strings)."""
    def check(value):
        if value is not None and not (low <= value <= high):
            raise ValidationError(f"Must be between {low} and {high}.")
    return check


Mark = lambda **kw: fields.Decimal(validate=between(0, 100), places=None, as_string=True, **kw)  # noqa: E731
MAX_SMALL_FILE_B64 = 1024 * 1024 * 4 // 3 + 4


class Page(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100000))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class SmallFileIn(Schema):
    filename = Text(100, required=True, metadata={"description": "for a photo: its caption"})
    data_base64 = fields.String(required=True, validate=validate.Length(min=8, max=MAX_SMALL_FILE_B64))


# ---- campaign ------------------------------------------------------------------------------------

class CategoryIn(Schema):
    code = fields.String(required=True, validate=validate.Regexp(r"^[a-z][a-z_]{0,39}$"))
    label = Text(50, required=True)


class LevelIn(Schema):
    level = fields.String(required=True, validate=validate.OneOf(list(domain.SELECTED)))
    count = fields.Integer(strict=True, required=True, validate=validate.Range(0, 10000))
    min_score = fields.Decimal(validate=between(0, 100), load_default=None, allow_none=True, places=None)


class WeightIn(Schema):
    principle = fields.String(required=True, validate=validate.OneOf(list(domain.PRINCIPLES)))
    weight = fields.Decimal(required=True, validate=between(0, 1), places=None)
    label = fields.String(load_default=None)   # ignored: the label comes from the principle


class CampaignIn(Schema):
    year = Year(required=True)
    title = Text(200, required=True)
    deadline = fields.Date(required=True, metadata={"description": "last day (Asia/Shanghai) cases are accepted"})
    categories = fields.List(fields.Nested(CategoryIn), required=True, validate=validate.Length(1, 20))
    levels = fields.List(fields.Nested(LevelIn), required=True, validate=validate.Length(2, 2))
    scoring_form = fields.List(fields.Nested(WeightIn), required=True, validate=validate.Length(5, 5))
    experts_per_case = fields.Integer(strict=True, required=True, validate=validate.Range(1, 15))
    disagreement_threshold = fields.Decimal(required=True, validate=between(0, 100), places=None)
    notice_working_days = fields.Integer(strict=True, required=True, validate=validate.Range(1, 30))
    ranking_basis = fields.String(load_default="normalised", validate=validate.OneOf(["raw", "normalised"]))


class CampaignOut(Schema):
    year = fields.Integer()
    title = fields.String()
    deadline = fields.Date()
    open = fields.Boolean(metadata={"description": "cases are still accepted"})
    categories = fields.List(fields.Dict())
    levels = fields.List(fields.Dict())
    scoring_form = fields.List(fields.Dict())
    experts_per_case = fields.Integer()
    disagreement_threshold = fields.String()
    notice_working_days = fields.Integer()
    ranking_basis = fields.String()
    counting_rule = fields.String(metadata={"description": "how 字数 are counted, shown to submitters"})
    levels_confirmed_at = fields.AwareDateTime(allow_none=True)
    notice_first_day = fields.Date(allow_none=True)
    notice_ends_on = fields.Date(allow_none=True)
    released_at = fields.AwareDateTime(allow_none=True)


# ---- organisations, dishonesty list, experts ------------------------------------------------------

class OrganisationIn(Schema):
    openapi = required_when("branch", [True], "parent_name")  # a branch names its parent (below)
    name = Text(200, required=True)
    short_name = Text(50, load_default=None)
    credit_code = SocialCreditCode(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(list(domain.ORG_KINDS)))
    branch = fields.Boolean(load_default=False, metadata={"description": "a 下属机构: name the parent"})
    parent_name = Text(200, load_default=None)
    parent_credit_code = SocialCreditCode(load_default=None)
    declared_no_bad_record = fields.Boolean(load_default=False)
    declared_not_dishonest = fields.Boolean(load_default=False)
    contact_name = Text(50, load_default=None)
    contact_phone = MobilePhone(load_default=None)

    @validates_schema(skip_on_field_errors=False)
    def branch_names_parent(self, data, **kwargs):
        if data.get("branch") and not data.get("parent_name"):
            raise ValidationError("a branch (下属机构) names its parent organisation", "parent_name")


class DeclarationIn(Schema):
    declared_no_bad_record = fields.Boolean(required=True, metadata={
        "description": "no bad record with market, tax or bank regulators in the last three years"})
    declared_not_dishonest = fields.Boolean(required=True, metadata={
        "description": "not on the work-safety dishonesty list"})


class OrganisationOut(Schema):
    id = fields.Integer()
    name = fields.String()
    short_name = fields.String(allow_none=True)
    credit_code = fields.String()
    kind = fields.String()
    kind_label = fields.String()
    parent_name = fields.String(allow_none=True)
    parent_credit_code = fields.String(allow_none=True)
    declared_no_bad_record = fields.Boolean()
    declared_not_dishonest = fields.Boolean()
    declared_at = fields.AwareDateTime(allow_none=True)
    contact_name = fields.String(allow_none=True)
    contact_phone = fields.String(allow_none=True, metadata={"description": "masked unless staff or the org"})
    created_at = fields.AwareDateTime()


class DishonestyListIn(Schema):
    csv = fields.String(required=True, validate=validate.Length(1, 2 * 1024 * 1024),
                        metadata={"description": "one unified social credit code per row; a header row is allowed"})


class DishonestyListOut(Schema):
    codes = fields.Integer()
    loaded_at = fields.AwareDateTime()


class ExpertIn(Schema):
    code = fields.String(required=True, validate=CODE, metadata={"description": "what the expert's token is bound to"})
    name = Text(50, required=True)
    employer_name = Text(200, load_default=None)
    employer_credit_code = SocialCreditCode(load_default=None)
    phone = MobilePhone(load_default=None)


class ExpertOut(Schema):
    id = fields.Integer()
    code = fields.String()
    name = fields.String()
    employer_name = fields.String(allow_none=True)
    employer_credit_code = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    assigned = fields.Integer()


class ConflictIn(Schema):
    openapi = any_of_required("credit_code", "case_id")  # below
    credit_code = SocialCreditCode(load_default=None)
    case_id = Id(load_default=None)
    reason = Text(500, required=True)

    @validates_schema(skip_on_field_errors=False)
    def one_target(self, data, **kwargs):
        if not data.get("credit_code") and not data.get("case_id"):
            raise ValidationError("name an organisation (credit_code) or a case (case_id)", "credit_code")


class ConflictOut(Schema):
    id = fields.Integer()
    credit_code = fields.String(allow_none=True)
    case_id = fields.Integer(allow_none=True)
    reason = fields.String()
    declared_at = fields.AwareDateTime()


# ---- files, pre-check, the form -------------------------------------------------------------------

class FileOut(Schema):
    id = fields.Integer()
    kind = fields.String()
    filename = fields.String()
    sha256 = fields.String()
    size = fields.Integer()
    content_type = fields.String()
    dpi = fields.Integer(allow_none=True, metadata={"description": "stated density; null = unknown"})
    case_id = fields.Integer(allow_none=True)


class FilesIn(Schema):
    report_docx = Id(load_default=None)
    report_pdf = Id(load_default=None)
    photos = fields.List(Id(), load_default=list, validate=validate.Length(max=30))
    charts = fields.List(Id(), load_default=list, validate=validate.Length(max=30))


class RecommenderIn(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(["unit", "expert"]))
    name = Text(200, required=True)
    credit_code = SocialCreditCode(load_default=None)
    expert_code = fields.String(validate=CODE, load_default=None)


class CheckIn(Schema):
    organisation_id = Id(load_default=None)
    summary = fields.String(validate=validate.Length(max=20000), load_default=None)
    creators = fields.List(Text(50), load_default=list, validate=validate.Length(max=2))
    participants = fields.List(Text(50), load_default=list, validate=validate.Length(max=4))
    files = fields.Nested(FilesIn, required=True)


class CaseIn(Schema):
    campaign = Year(required=True)
    organisation_id = Id(load_default=None)
    channel = fields.String(required=True, validate=validate.OneOf(list(domain.CHANNELS)))
    name = Text(200, required=True)
    category = fields.String(required=True, validate=validate.Length(1, 40))
    category_other = Text(200, load_default=None)
    submitted_on = fields.Date(load_default=None, metadata={"description": "报送时间; default today"})
    period_start = fields.String(required=True, validate=MONTH)
    period_end = fields.String(required=True, validate=MONTH)
    summary = fields.String(required=True, validate=validate.Length(1, 20000),
                            metadata={"description": f"≤{report.SUMMARY_MAX} 字 by the counting rule"})
    honours = Text(2000, load_default=None)
    creators = fields.List(Text(50), required=True, validate=validate.Length(1, 2),
                           metadata={"description": "主要创造人, at most 2"})
    participants = fields.List(Text(50), load_default=list, validate=validate.Length(max=4),
                               metadata={"description": "参与创造人, at most 4"})
    recommender = fields.Nested(RecommenderIn, load_default=None)
    files = fields.Nested(FilesIn, required=True)


class FindingOut(Schema):
    rule = fields.String()
    kind = fields.String(metadata={"description": "hard (refuses) or warning (shown, never refuses)"})
    outcome = fields.String(metadata={"description": "pass, fail or unknown (unknown never passes)"})
    measured = fields.String()
    message = fields.String()


class CheckOut(Schema):
    acceptable = fields.Boolean(metadata={"description": "no hard rule fails"})
    refusals = fields.Integer()
    warnings = fields.Integer()
    counting_rule = fields.String()
    findings = fields.List(fields.Nested(FindingOut))


class ContactIn(Schema):
    name = Text(50, required=True)
    department = Text(100, required=True)
    title = Text(50, required=True)
    office_phone = fields.String(required=True, validate=validate.Regexp(r"^[0-9()\-+ ]{7,20}$"))
    mobile = MobilePhone(required=True)
    email = Email(required=True)


class RecommendationIn(Schema):
    opinion = Text(2000, required=True)
    sealed_or_signed_by = Text(200, required=True, metadata={"description": "the seal (unit) or signature (expert)"})
    approved_on = fields.Date(required=True, metadata={"description": "the recommender's approval"})
    head_signed_by = Text(50, load_default=None, metadata={"description": "推荐单位负责人签字"})
    contact = fields.Nested(ContactIn, required=True)


class OfficeContactIn(Schema):
    """The forwarding agency's office: what crosses to the partner instead of a person's mobile."""
    name = Text(50, required=True)
    department = Text(100, required=True)
    title = Text(50, required=True)
    office_phone = fields.String(required=True, validate=validate.Regexp(r"^[0-9()\-+ ]{7,20}$"))


class ForwardIn(Schema):
    to = fields.String(required=True, validate=validate.Regexp(r"^[a-z][a-z0-9_-]{0,63}$"),
                       metadata={"description": "the partner agency (AGENCY_PARTNERS), e.g. national"})
    opinion = Text(2000, required=True)
    sealed_or_signed_by = Text(200, required=True, metadata={"description": "the forwarding agency's seal"})
    approved_on = fields.Date(required=True)
    head_signed_by = Text(50, load_default=None)
    contact = fields.Nested(OfficeContactIn, required=True)


class ScreenIn(Schema):
    result = fields.String(required=True, validate=validate.OneOf(["pass", "fail"]))
    reason = Text(2000, load_default=None)

    @validates_schema(skip_on_field_errors=False)
    def reason_on_fail(self, data, **kwargs):
        if data.get("result") == "fail" and not data.get("reason"):
            raise ValidationError("a failed screening gives its reason", "reason")


class SiteVisitIn(Schema):
    visited_on = fields.Date(required=True)
    place = Text(200, required=True)
    visitors = fields.List(Text(50), required=True, validate=validate.Length(1, 10))
    findings = Text(5000, required=True)
    photos = fields.List(fields.Nested(SmallFileIn), load_default=list, validate=validate.Length(max=3))


class WithdrawIn(Schema):
    reason = Text(1000, required=True)


class CaseQuery(Page):
    # query strings carry text: these integers are parsed, not strict
    campaign = fields.Integer(validate=validate.Range(2000, 2100))
    status = fields.String(validate=validate.OneOf(list(domain.STATUSES)))
    organisation_id = fields.Integer(validate=validate.Range(1, 2**53))


class CaseOut(Schema):
    id = fields.Integer()
    campaign = fields.Integer()
    organisation_id = fields.Integer()
    organisation_name = fields.String()
    status = fields.String()
    status_label = fields.String()
    version = fields.Integer()
    channel = fields.String()
    channel_label = fields.String()
    name = fields.String()
    category = fields.String()
    category_label = fields.String()
    category_other = fields.String(allow_none=True)
    submitted_on = fields.Date()
    period_start = fields.String()
    period_end = fields.String()
    summary = fields.String()
    honours = fields.String(allow_none=True)
    creators = fields.List(fields.String())
    participants = fields.List(fields.String())
    recommender = fields.Dict(allow_none=True)
    recommendation = fields.Dict(allow_none=True)
    files = fields.List(fields.Nested(FileOut))
    findings = fields.List(fields.Nested(FindingOut))
    screening_reason = fields.String(allow_none=True)
    site_visits = fields.List(fields.Dict())
    level = fields.String(allow_none=True)
    level_label = fields.String(allow_none=True)
    origin_agency = fields.String(allow_none=True, metadata={"description": "a case received from a partner"})
    origin_case_id = fields.Integer(allow_none=True)
    forwarded_to = fields.String(allow_none=True, metadata={"description": "the partner this case was sent to"})
    forwarded_at = fields.DateTime(allow_none=True)
    partner_result = fields.Dict(allow_none=True, metadata={
        "description": "the partner campaign's latest result: status, level, certificate_number, released_at, as_of"})
    level_reason = fields.String(allow_none=True)
    withdrawal_reason = fields.String(allow_none=True)
    certificate_number = fields.String(allow_none=True)
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()


class CasePage(Page):
    items = fields.List(fields.Nested(CaseOut))
    total = fields.Integer()


# ---- review ----------------------------------------------------------------------------------------

class AssignIn(Schema):
    experts = fields.List(fields.String(validate=CODE), load_default=None, validate=validate.Length(1, 15),
                          metadata={"description": "for one case: these experts; absent: balanced automatic choice"})


class AssignmentOut(Schema):
    assigned = fields.Dict(keys=fields.String(), values=fields.List(fields.String()),
                           metadata={"description": "case id -> expert codes"})
    cases = fields.Integer()


class ScoreIn(Schema):
    marks = fields.Dict(keys=fields.String(validate=validate.OneOf(list(domain.PRINCIPLES))), values=Mark(),
                        required=True)
    comment = Text(2000, load_default=None)


class ExpertScoreOut(Schema):
    expert = fields.String()
    marks = fields.Dict(allow_none=True)
    total = fields.String(allow_none=True)
    comment = fields.String(allow_none=True)
    scored_at = fields.AwareDateTime(allow_none=True)


class ScoresOut(Schema):
    case_id = fields.Integer()
    own_submitted = fields.Boolean()
    scores = fields.List(fields.Nested(ExpertScoreOut))


class ResultOut(Schema):
    case_id = fields.Integer()
    name = fields.String()
    organisation_name = fields.String()
    status = fields.String()
    rank = fields.Integer(allow_none=True)
    mean = fields.String(allow_none=True, metadata={"description": "two places half up; ranking uses the exact"})
    normalised = fields.String(allow_none=True)
    spread = fields.String(allow_none=True)
    disagreement = fields.Boolean()
    proposed_level = fields.String(allow_none=True)
    level = fields.String(allow_none=True)
    scored = fields.Integer()
    assigned = fields.Integer()


class ExplainOut(Schema):
    case_id = fields.Integer()
    lines = fields.List(fields.String())


class LevelOverrideIn(Schema):
    case_id = Id(required=True)
    level = fields.String(required=True, validate=validate.OneOf(list(domain.LEVELS)))
    reason = Text(1000, required=True)


class LevelsIn(Schema):
    overrides = fields.List(fields.Nested(LevelOverrideIn), load_default=list, validate=validate.Length(max=2000))


class LevelsOut(Schema):
    levelled = fields.Integer()
    best = fields.Integer()
    excellent = fields.Integer()
    not_selected = fields.Integer()


class NoticeIn(Schema):
    starts_on = fields.Date(required=True, metadata={"description": "the day the notice was posted (not future)"})


class PublicCaseOut(Schema):
    case_id = fields.Integer()
    name = fields.String()
    organisation_name = fields.String()
    category_label = fields.String()
    level = fields.String()
    level_label = fields.String()
    certificate_number = fields.String(allow_none=True)


class PublicListOut(Schema):
    campaign = fields.Integer()
    title = fields.String()
    notice_first_day = fields.Date(allow_none=True)
    notice_ends_on = fields.Date(allow_none=True)
    released = fields.Boolean()
    cases = fields.List(fields.Nested(PublicCaseOut))


class ObjectionIn(Schema):
    case_id = Id(required=True)
    name = Text(50, required=True, metadata={"description": "objections are named"})
    contact = Text(100, required=True, metadata={"description": "phone or email"})
    reasons = Text(3000, required=True, min=10)
    files = fields.List(fields.Nested(SmallFileIn), load_default=list, validate=validate.Length(max=2))
    received_on = fields.Date(load_default=None, metadata={
        "description": "staff only: the day an objection sent by post or phone reached the agency"})


class ObjectionResolveIn(Schema):
    openapi = {"allOf": [required_when("decision", ["upheld"], "outcome"),  # upheld_has_outcome below
                         required_when("outcome", ["relevelled"], "new_level")]}
    decision = fields.String(required=True, validate=validate.OneOf(["upheld", "dismissed"]))
    resolution = Text(2000, required=True)
    outcome = fields.String(load_default=None, validate=validate.OneOf(["withdrawn", "relevelled"]))
    new_level = fields.String(load_default=None, validate=validate.OneOf(list(domain.LEVELS)))

    @validates_schema(skip_on_field_errors=False)
    def upheld_has_outcome(self, data, **kwargs):
        if data.get("decision") == "upheld" and not data.get("outcome"):
            raise ValidationError("an upheld objection withdraws or re-levels the case", "outcome")
        if data.get("outcome") == "relevelled" and not data.get("new_level"):
            raise ValidationError("say the new level", "new_level")


class ObjectionOut(Schema):
    id = fields.Integer()
    case_id = fields.Integer()
    name = fields.String()
    contact = fields.String(metadata={"description": "masked"})
    reasons = fields.String()
    files = fields.List(fields.Dict())
    status = fields.String()
    outcome = fields.String(allow_none=True)
    new_level = fields.String(allow_none=True)
    resolution = fields.String(allow_none=True)
    resolved_by = fields.String(allow_none=True)
    created_at = fields.AwareDateTime()
    resolved_at = fields.AwareDateTime(allow_none=True)


class ObjectionQuery(Page):
    status = fields.String(validate=validate.OneOf(["open", "upheld", "dismissed"]))


class ObjectionPage(Page):
    items = fields.List(fields.Nested(ObjectionOut))
    total = fields.Integer()


class ReleaseOut(Schema):
    campaign = fields.Integer()
    released = fields.Integer()
    certificates = fields.List(fields.String())


class VerifyOut(Schema):
    number = fields.String()
    status = fields.String(metadata={"description": "valid or unknown"})
    case_name = fields.String(allow_none=True)
    organisation_name = fields.String(allow_none=True)
    level_label = fields.String(allow_none=True)
    campaign = fields.Integer(allow_none=True)


# the event schemas register themselves on import; the catalogue imports this module to find them
from . import events  # noqa: E402,F401
