"""Events the risk service emits (``risk.events``); docs/event-contracts.md describes them."""
from __future__ import annotations

from marshmallow import Schema, fields

from shared.events import event_type

SERVICE = "risk"

__all__ = ["EnterprisesImportedEvent", "PolicyIssuedEvent", "ClaimEvent", "FundPostedEvent", "PlanEvent",
           "InspectionEvent", "HazardEvent", "MajorHazardEvent", "ServiceRequestEvent", "LectureRequestedEvent",
           "RatingEvent", "AppraisalEvent", "QrEvent"]


@event_type(SERVICE, "enterprises_imported", description="Enterprises created or updated, one import or form: the import's summary.")
class EnterprisesImportedEvent(Schema):
    created = fields.Integer(required=True)
    updated = fields.Integer(required=True)
    credit_codes = fields.List(fields.String(), required=True, metadata={"description": "at most the first 100"})
    policies = fields.Integer(required=False, metadata={
        "description": "policies the file issued, each also announced by its own policy_issued (since 2026-12)"})


@event_type(SERVICE, "policy_issued", description="A policy year was issued, by form or as a new policy of a bulk import (one event each; "
                        "a re-import announces nothing again); the rate says whether it floated.")
class PolicyIssuedEvent(Schema):
    policy_id = fields.Integer(required=True)
    enterprise_id = fields.Integer(required=True)
    credit_code = fields.String(required=True)
    insurer_id = fields.Integer(required=True)
    year = fields.Integer(required=True)
    premium_fen = fields.Integer(required=True)
    rate_bp = fields.Integer(required=True)
    floating = fields.Boolean(required=True)
    rate_reason = fields.String(required=True)


@event_type(SERVICE, "claim_changed", description="A claim was reported, surveyed, advanced on or settled.")
class ClaimEvent(Schema):
    claim_id = fields.Integer(required=True)
    policy_id = fields.Integer(required=True)
    status = fields.String(required=True)
    action = fields.String(required=True)
    amount_fen = fields.Integer(allow_none=True)


@event_type(SERVICE, "fund_posted", description="A prevention-fund entry: a premium's share credited or a service debited.")
class FundPostedEvent(Schema):
    insurer_id = fields.Integer(required=True)
    year = fields.Integer(required=True)
    kind = fields.String(required=True)
    amount_fen = fields.Integer(required=True)
    balance_fen = fields.Integer(required=True)
    reference = fields.String(required=True)


@event_type(SERVICE, "inspection_plan_generated", description="The year's inspection obligation was planned.")
class PlanEvent(Schema):
    year = fields.Integer(required=True)
    created = fields.Integer(required=True)
    due = fields.Integer(required=True)


@event_type(SERVICE, "inspection_changed", description="An inspection was assigned, scheduled or recorded.")
class InspectionEvent(Schema):
    inspection_id = fields.Integer(required=True)
    kind = fields.String(required=True)
    enterprise_id = fields.Integer(required=True)
    insurer_id = fields.Integer(required=True)
    status = fields.String(required=True)
    result = fields.String(allow_none=True)


@event_type(SERVICE, "hazard_changed",
            description="A hazard was found or moved in its lifecycle (rectifying, awaiting re-inspection, "
                        "closed, reopened), or became overdue (action overdue). A hazard found past the holiday "
                        "calendar has deadline null and deadline_pending calendar_range until the sweep computes "
                        "it (action deadline_set).")
class HazardEvent(Schema):
    hazard_id = fields.Integer(required=True)
    enterprise_id = fields.Integer(required=True)
    district = fields.String(required=True)
    level = fields.String(required=True)
    status = fields.String(required=True)
    action = fields.String(required=True)
    deadline = fields.Date(required=True, allow_none=True)  # null while deadline_pending
    deadline_pending = fields.String(load_default=None, allow_none=True)


@event_type(SERVICE, "major_hazard_reported",
            description="A major hazard: the district regulator and the operation center see it at once. "
                        "Also emitted with action acknowledged or escalated.")
class MajorHazardEvent(Schema):
    report_id = fields.Integer(required=True)
    hazard_id = fields.Integer(required=True)
    enterprise_id = fields.Integer(required=True)
    enterprise_name = fields.String(required=True)
    district = fields.String(required=True)
    town = fields.String(required=True)
    description = fields.String(required=True)
    action = fields.String(required=True)


@event_type(SERVICE, "service_request_changed", description="An enterprise's service request was made, assigned or closed.")
class ServiceRequestEvent(Schema):
    request_id = fields.Integer(required=True)
    enterprise_id = fields.Integer(required=True)
    kind = fields.String(required=True)
    status = fields.String(required=True)


@event_type(SERVICE, "lecture_requested",
            description="An enterprise asked for an on-demand safety lecture. Consumed by the subsidies service: "
                        "one lecture order per request, in the cycle whose tour window holds wished_date.")
class LectureRequestedEvent(Schema):
    request_id = fields.Integer(required=True)
    enterprise_name = fields.String(required=True)
    credit_code = fields.String(required=True)
    district = fields.String(required=True)
    town = fields.String(required=False, metadata={"description": "since 2026-12; the order's address with district"})
    topic = fields.String(required=True)
    wished_date = fields.Date(allow_none=True)
    audience_size = fields.Integer(required=True)


@event_type(SERVICE, "service_rated", description="An enterprise rated a closed service (1–5).")
class RatingEvent(Schema):
    request_id = fields.Integer(required=True)
    enterprise_id = fields.Integer(required=True)
    organisation_id = fields.Integer(allow_none=True)
    score = fields.Integer(required=True)


@event_type(SERVICE, "insurer_appraised", description="An insurer's yearly appraisal scores were set; stars follow.")
class AppraisalEvent(Schema):
    insurer_id = fields.Integer(required=True)
    year = fields.Integer(required=True)
    total = fields.String(required=True)
    stars = fields.Integer(required=True)


@event_type(SERVICE, "qr_code_issued", description="An enterprise's QR code was issued; any older one is revoked.")
class QrEvent(Schema):
    enterprise_id = fields.Integer(required=True)
    revoked = fields.Integer(required=True)
