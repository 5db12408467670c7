"""Event data schemas of the case-collection service (the contract in docs/event-contracts.md)."""
from __future__ import annotations

from marshmallow import Schema, fields

from shared.agency import DIRECTED, agency_message
from shared.events import event_type

SERVICE = "cases"


class CaseRef(Schema):
    case_id = fields.Integer(required=True)
    campaign = fields.Integer(required=True)
    organisation_id = fields.Integer(required=True)
    status = fields.String(required=True)


@event_type(SERVICE, "campaign_loaded", description="A year's campaign settings were loaded or replaced.")
class CampaignLoaded(Schema):
    year = fields.Integer(required=True)
    title = fields.String(required=True)
    deadline = fields.Date(required=True)
    replaced = fields.Boolean(required=True)


@event_type(SERVICE, "organisation_registered", description="An organisation may submit cases.")
class OrganisationRegistered(Schema):
    organisation_id = fields.Integer(required=True)
    name = fields.String(required=True)
    credit_code = fields.String(required=True)
    kind = fields.String(required=True)


@event_type(SERVICE, "organisation_declared", description="An organisation's eligibility declaration changed.")
class OrganisationDeclared(Schema):
    organisation_id = fields.Integer(required=True)
    declared_no_bad_record = fields.Boolean(required=True)
    declared_not_dishonest = fields.Boolean(required=True)


@event_type(SERVICE, "dishonesty_list_loaded", description="The work-safety dishonesty list was replaced.")
class DishonestyListLoaded(Schema):
    codes = fields.Integer(required=True)


@event_type(SERVICE, "case_submitted", description="An organisation submitted a case; its format checks passed.")
class CaseSubmitted(CaseRef):
    name = fields.String(required=True)
    channel = fields.String(required=True)
    category = fields.String(required=True)
    warnings = fields.List(fields.String(), required=True)


@event_type(SERVICE, "case_recommendation_recorded", description="The recommender's opinion, approval and contact.")
class CaseRecommended(CaseRef):
    sealed_or_signed_by = fields.String(required=True)
    approved_on = fields.Date(required=True)


@event_type(SERVICE, "case_screened", description="Initial screening: passed, or failed with the reason.")
class CaseScreened(CaseRef):
    result = fields.String(required=True)
    reason = fields.String(allow_none=True)


@event_type(SERVICE, "case_site_visited", description="A site visit was recorded for a case.")
class CaseSiteVisited(CaseRef):
    visited_on = fields.Date(required=True)


@event_type(SERVICE, "case_review_started", description="Experts were assigned; the case is under review.")
class CaseReviewStarted(CaseRef):
    experts = fields.Integer(required=True)


@event_type(SERVICE, "case_panel_changed", description="An expert left a case's panel (the panel is topped up).")
class CasePanelChanged(CaseRef):
    experts = fields.Integer(required=True, metadata={"description": "experts on the panel now"})


@event_type(SERVICE, "case_scored", description="An assigned expert submitted a score sheet.")
class CaseScored(CaseRef):
    expert = fields.String(required=True)
    total = fields.String(required=True)


@event_type(SERVICE, "case_deliberation_started", description="Every assigned expert scored; deliberation.")
class CaseDeliberation(CaseRef):
    mean = fields.String(required=True)
    disagreement = fields.Boolean(required=True)


@event_type(SERVICE, "case_levelled", description="The operator confirmed a case's level (or changed it).")
class CaseLevelled(CaseRef):
    level = fields.String(required=True)
    rank = fields.Integer(allow_none=True)
    reason = fields.String(allow_none=True)


@event_type(SERVICE, "case_notice_opened", description="A selected case is on public notice (公示).")
class CaseOnNotice(CaseRef):
    level = fields.String(required=True)
    notice_first_day = fields.Date(required=True)
    notice_ends_on = fields.Date(required=True)


@event_type(SERVICE, "objection_filed", description="Someone objected to a case on notice.")
class ObjectionFiled(Schema):
    objection_id = fields.Integer(required=True)
    case_id = fields.Integer(required=True)


@event_type(SERVICE, "objection_resolved", description="An objection was upheld or dismissed.")
class ObjectionResolved(Schema):
    objection_id = fields.Integer(required=True)
    case_id = fields.Integer(required=True)
    decision = fields.String(required=True)
    outcome = fields.String(allow_none=True)


@event_type(SERVICE, "case_released", description="A selected case was released with its certificate.")
class CaseReleased(CaseRef):
    name = fields.String(required=True)
    organisation_name = fields.String(required=True)
    category = fields.String(required=True)
    level = fields.String(required=True)
    certificate_number = fields.String(required=True)
    summary = fields.String(required=True)
    released_at = fields.AwareDateTime(required=True)


@event_type(SERVICE, "case_withdrawn", description="A case left the campaign: by its organisation or an objection.")
class CaseWithdrawn(CaseRef):
    previous_status = fields.String(required=True)
    reason = fields.String(required=True)


# ---- directed messages between agencies (wsli.agency.out → shovel → wsli.agency.in; docs/agencies.md) ----
# Only what the receiving campaign needs: no ID numbers, no bank accounts, no personal phones; the
# forwarding agency's office contact stands in for the recommender's.

class PartnerOrganisation(Schema):
    name = fields.String(required=True)
    short_name = fields.String(allow_none=True)
    credit_code = fields.String(required=True)
    kind = fields.String(required=True)
    parent_name = fields.String(allow_none=True)
    parent_credit_code = fields.String(allow_none=True)
    declared_no_bad_record = fields.Boolean(required=True)
    declared_not_dishonest = fields.Boolean(required=True)


class PartnerFile(Schema):
    kind = fields.String(required=True)
    filename = fields.String(required=True)
    sha256 = fields.String(required=True)
    size = fields.Integer(required=True)
    content_type = fields.String(required=True)
    dpi = fields.Integer(allow_none=True)
    chunks = fields.Integer(required=True, metadata={"description": "case_file_chunk messages carrying it"})


@agency_message(SERVICE, "case_forwarded", DIRECTED,
                description="A city or district agency recommends one of its cases to a partner's campaign.")
class CaseForwarded(Schema):
    origin_case_id = fields.Integer(required=True)
    campaign = fields.Integer(required=True)
    name = fields.String(required=True)
    category = fields.String(required=True)
    category_other = fields.String(allow_none=True)
    submitted_on = fields.Date(required=True)
    period_start = fields.String(required=True)
    period_end = fields.String(required=True)
    summary = fields.String(required=True)
    honours = fields.String(allow_none=True)
    creators = fields.List(fields.String(), required=True)
    participants = fields.List(fields.String(), required=True)
    organisation = fields.Nested(PartnerOrganisation, required=True)
    recommendation = fields.Dict(required=True, metadata={
        "description": "opinion, sealed_or_signed_by, approved_on, head_signed_by, contact (office: name, "
                       "department, title, office_phone)"})
    findings = fields.List(fields.Dict(), required=True)
    files = fields.List(fields.Nested(PartnerFile), required=True)


@agency_message(SERVICE, "case_file_chunk", DIRECTED,
                description="One piece (≤ 256 KiB) of a forwarded case's file; sent before the case message.")
class CaseFileChunk(Schema):
    origin_case_id = fields.Integer(required=True)
    sha256 = fields.String(required=True)
    seq = fields.Integer(required=True, metadata={"description": "0-based"})
    count = fields.Integer(required=True)
    data_base64 = fields.String(required=True)


@agency_message(SERVICE, "case_result", DIRECTED,
                description="The receiving campaign's result for a forwarded case, sent back to its agency.")
class CaseResult(Schema):
    origin_case_id = fields.Integer(required=True)
    status = fields.String(required=True)
    level = fields.String(allow_none=True)
    certificate_number = fields.String(allow_none=True)
    released_at = fields.AwareDateTime(allow_none=True)
    reason = fields.String(allow_none=True)
