"""Routes of the registration service."""
from __future__ import annotations

from services.registration import roles as rl
from services.registration import schemas as reg
from shared.schemas import URL_CODE

from . import BULK_TIMEOUT_SCALE, STAFF, Route


R = "registration"

ROUTES: list[Route] = [
    # cycles
    Route("GET", "/api/v1/cycles", R, "list_cycles", "List programme cycles", "cycles",
          response=reg.CycleOut, many=True, roles=rl.READERS),
    Route("POST", "/api/v1/cycles", R, "create_cycle", "Open a cycle (deadline, minimum quotas)", "cycles",
          body=reg.CycleIn, response=reg.CycleOut, status=201, roles=STAFF),
    Route("GET", "/api/v1/cycles/<code>", R, "get_cycle", "One cycle", "cycles", response=reg.CycleOut,
          roles=rl.READERS, args={"code": URL_CODE}),
    Route("PATCH", "/api/v1/cycles/<code>", R, "update_cycle", "Change a cycle", "cycles",
          body=reg.CyclePatch, response=reg.CycleOut, roles=STAFF, args={"code": URL_CODE}),
    Route("GET", "/api/v1/cycles/<code>/quota-report", R, "quota_report",
          "Nominated vs minimum per unit; short units flagged after the deadline", "cycles",
          response=reg.QuotaReportOut, roles=rl.QUOTA_READERS, args={"code": URL_CODE}),
    # units
    Route("GET", "/api/v1/units", R, "list_units", "List nominating units", "units",
          query=reg.UnitQuery, response=reg.UnitPage, roles=rl.READERS),
    Route("POST", "/api/v1/units", R, "create_unit", "Register a nominating unit", "units",
          body=reg.UnitIn, response=reg.UnitOut, status=201, roles=STAFF),
    Route("GET", "/api/v1/units/<unit_id>", R, "get_unit", "One unit", "units", response=reg.UnitOut, roles=rl.READERS),
    # candidates
    Route("GET", "/api/v1/candidates", R, "list_candidates", "Search candidates (paginated)", "candidates",
          query=reg.CandidateQuery, response=reg.CandidatePage, roles=rl.READERS),
    Route("POST", "/api/v1/candidates", R, "register_candidate", "Submit a registration form (附件1)",
          "candidates", body=reg.CandidateIn, response=reg.CandidateOut, status=201, roles=rl.NOMINATORS),
    Route("POST", "/api/v1/candidates/batch", R, "bulk_register",
          "Many registration forms (附件1, ≤ 500) in one call: a result per form, each registered whole or not at "
          "all; a form this unit already registered in the cycle (same ID number) is `already` with its id",
          "candidates", body=reg.BulkCandidatesIn, response=reg.BulkCandidatesOut, roles=rl.NOMINATORS,
          timeout_scale=BULK_TIMEOUT_SCALE),
    Route("POST", "/api/v1/candidates/late-entries", R, "late_entry",
          "The center enters one form after the deadline, with a reason (audited; the form is marked late)",
          "candidates", body=reg.LateEntryIn, response=reg.CandidateOut, status=201, roles=STAFF),
    Route("POST", "/api/v1/candidates/id-lookup", R, "lookup_by_id_number",
          "Find registrations by the exact resident ID number (blind index; audited; masked answer; 404 when none)",
          "candidates", body=reg.IdLookupIn, response=reg.CandidateOut, many=True, roles=STAFF),
    Route("GET", "/api/v1/candidates/<candidate_id>", R, "get_candidate", "One candidate", "candidates",
          response=reg.CandidateOut, roles=rl.READERS),
    Route("PATCH", "/api/v1/candidates/<candidate_id>", R, "edit_candidate",
          "Correct a form before the unit's seal", "candidates", body=reg.CandidatePatch,
          response=reg.CandidateOut, roles=rl.NOMINATORS),
    Route("GET", "/api/v1/candidates/<candidate_id>/identity", R, "reveal_identity",
          "Unmasked ID number and phone (audited)", "candidates", response=reg.IdentityOut, roles=STAFF),
    Route("POST", "/api/v1/candidates/<candidate_id>/unit-approval", R, "unit_approve",
          "The nominating unit's seal", "candidates", body=reg.SealIn, response=reg.CandidateOut, roles=rl.NOMINATORS),
    Route("POST", "/api/v1/candidates/<candidate_id>/center-approval", R, "center_approve",
          "The operation center's approval", "candidates", body=reg.SealIn, response=reg.CandidateOut, roles=STAFF),
    Route("POST", "/api/v1/candidates/unit-approvals", R, "bulk_unit_approve",
          "The unit's seal on many candidates (≤ 500): a result per candidate, each applied whole or not at all",
          "candidates", body=reg.BulkSealIn, response=reg.BulkSealOut, roles=rl.NOMINATORS,
          timeout_scale=BULK_TIMEOUT_SCALE),
    Route("POST", "/api/v1/candidates/center-approvals", R, "bulk_center_approve",
          "The center's approval of many candidates (≤ 500): a result per candidate, repeat-safe",
          "candidates", body=reg.BulkSealIn, response=reg.BulkSealOut, roles=STAFF,
          timeout_scale=BULK_TIMEOUT_SCALE),
    Route("POST", "/api/v1/candidates/<candidate_id>/rejection", R, "reject_candidate",
          "Reject with a reason (unit before its seal, center after)", "candidates", body=reg.RejectIn,
          response=reg.CandidateOut, roles=rl.NOMINATORS),
    Route("POST", "/api/v1/candidates/<candidate_id>/withdrawal", R, "withdraw_candidate",
          "Withdraw a registration", "candidates", body=reg.WithdrawIn, response=reg.CandidateOut, roles=rl.NOMINATORS),
    Route("GET", "/api/v1/audit/<entity_type>/<entity_id>", R, "audit_trail", "Audit trail of a record (older URL)",
          "audit", response=reg.AuditOut, many=True, roles=STAFF, deprecated=True),
    # enrolment (seed 004)
    Route("PUT", "/api/v1/district-quotas", R, "load_district_quotas",
          "Load a year's district training quotas (the published 2018 table when no rows are given)",
          "enrolment", body=reg.QuotaTableIn, response=reg.QuotaTableOut, roles=STAFF),
    Route("POST", "/api/v1/enrolments", R, "enrol", "Enrol a principal person or safety manager", "enrolment",
          body=reg.EnrolmentIn, response=reg.EnrolmentOut, status=201, roles=rl.ENROLLERS),
    Route("GET", "/api/v1/enrolments", R, "list_enrolments", "List enrolments (paginated)", "enrolment",
          query=reg.EnrolmentQuery, response=reg.EnrolmentPage, roles=rl.ENROLMENT_READERS),
    Route("POST", "/api/v1/enrolments/<enrolment_id>/cancellation", R, "cancel_enrolment",
          "Cancel an enrolment", "enrolment", body=reg.CancelIn, response=reg.EnrolmentOut, roles=rl.ENROLLERS),
    Route("GET", "/api/v1/enrolment-progress/<year>", R, "enrolment_progress",
          "Enrolled vs quota per district", "enrolment", response=reg.ProgressOut, roles=rl.ENROLMENT_READERS),
]
