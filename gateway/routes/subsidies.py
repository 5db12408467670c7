"""Routes of the lecture-subsidies service."""
from __future__ import annotations

from services.subsidies import roles as rl
from services.subsidies import schemas as sub
from shared.schemas import URL_CODE

from . import BULK_TIMEOUT_SCALE, STAFF, Route

S = "subsidies"
VIDEO_MAX_BYTES = 64 * 1024 * 1024
IMAGE_MAX_BYTES = 16 * 1024 * 1024     # services/subsidies/reports.py holds the same limits
MULTIPART_MAX_BYTES = 96 * 1024 * 1024

ROUTES: list[Route] = [
    # per-cycle data
    Route("PUT", "/api/v1/subsidy-cycles/<code>", S, "set_cycle",
          "Set a cycle's tour window and subsidy per lecture (integer fen)", "subsidies",
          body=sub.SubsidyCycleIn, response=sub.SubsidyCycleOut, roles=STAFF, args={"code": URL_CODE}),
    Route("GET", "/api/v1/subsidy-cycles/<code>", S, "get_cycle", "A cycle's tour window and subsidy",
          "subsidies", response=sub.SubsidyCycleOut, roles=rl.PARTIES, args={"code": URL_CODE}),
    Route("GET", "/api/v1/subsidy-cycles/<code>/compliance", S, "compliance_report",
          "Approved lectures per lecturer and kind, self-hosted minimum, progress to the target", "subsidies",
          response=sub.ComplianceOut, roles=rl.COMPLIANCE_READERS, args={"code": URL_CODE}),
    # evidence and reports (附件5)
    Route("POST", "/api/v1/lecture-files", S, "upload_evidence",
          "Upload one evidence file (JPEG/PNG photo or sign-in sheet, PDF sheet, MP4 video); raw body",
          "lectures", response=sub.FileOut, status=201, upload=True, max_upload_bytes=VIDEO_MAX_BYTES,
          upload_types=sub.UPLOAD_TYPES,
          roles=rl.REPORTERS),
    Route("POST", "/api/v1/lectures", S, "submit_lecture",
          "Report a lecture (附件5 form + evidence); the automatic checks run asynchronously", "lectures",
          body=sub.LectureIn, response=sub.LectureOut, status=201, roles=rl.REPORTERS),
    Route("POST", "/api/v1/lectures/with-evidence", S, "submit_lecture_with_evidence",
          "Report a lecture with its evidence in one multipart/form-data request: part 'report' (the 附件5 form "
          "as JSON, signin_sheet.head_count inside), files signin_sheet (1), video (1), photos, banner_photos; "
          f"a photo or sheet ≤ {IMAGE_MAX_BYTES // 2**20} MiB, the video ≤ {VIDEO_MAX_BYTES // 2**20} MiB, "
          f"≤ {MULTIPART_MAX_BYTES // 2**20} MiB in all (413 naming the part)", "lectures",
          response=sub.LectureOut, status=201, roles=rl.REPORTERS, max_upload_bytes=MULTIPART_MAX_BYTES,
          multipart=(("signin_sheet", IMAGE_MAX_BYTES), ("video", VIDEO_MAX_BYTES), ("photos", IMAGE_MAX_BYTES),
                     ("banner_photos", IMAGE_MAX_BYTES))),
    Route("GET", "/api/v1/lectures", S, "list_lectures", "List lecture reports (paginated)", "lectures",
          query=sub.LectureQuery, response=sub.LecturePage, roles=rl.LECTURE_READERS),
    Route("GET", "/api/v1/lectures/<lecture_id>", S, "get_lecture", "One lecture report (masked)", "lectures",
          response=sub.LectureOut, roles=rl.LECTURE_READERS),
    Route("GET", "/api/v1/lectures/<lecture_id>/evidence/<file_id>", S, "get_evidence_file",
          "One evidence file of a report (file_id: its sha256 as the report lists it): the center, finance and "
          "the lecturer who filed it; a file not of this report is 404", "lectures", file=True,
          roles=rl.EVIDENCE_READERS),
    Route("GET", "/api/v1/lectures/<lecture_id>/checks", S, "lecture_checks",
          "Outcome of the automatic checks: 200 pending/passed, 422 with the failed rules (wait=seconds)",
          "lectures", query=sub.CheckQuery, response=sub.CheckOut, roles=rl.LECTURE_READERS),
    Route("PUT", "/api/v1/lectures/<lecture_id>", S, "resubmit_lecture",
          "Correct and resubmit a refused report while the evidence is on time", "lectures",
          body=sub.LectureIn, response=sub.LectureOut, roles=rl.REPORTERS),
    Route("POST", "/api/v1/lectures/<lecture_id>/approval", S, "approve_lecture",
          "Approve a checked report: one subsidy, lecture_approved", "lectures", body=sub.ReviewIn,
          response=sub.LectureOut, roles=STAFF),
    Route("POST", "/api/v1/lectures/<lecture_id>/rejection", S, "reject_lecture", "Reject with reasons",
          "lectures", body=sub.RejectIn, response=sub.LectureOut, roles=STAFF),
    Route("POST", "/api/v1/lectures/batch", S, "bulk_submit_lectures",
          "The center enters reports that came by email (≤ 500): a result per report, repeat-safe", "lectures",
          body=sub.BulkLecturesIn, response=sub.BulkLecturesOut, roles=STAFF, timeout_scale=BULK_TIMEOUT_SCALE),
    Route("POST", "/api/v1/lectures/approvals", S, "bulk_approve_lectures",
          "Approve many checked reports (≤ 500): a result per report, each applied whole or not at all",
          "lectures", body=sub.BulkReviewIn, response=sub.BulkReviewOut, roles=STAFF,
          timeout_scale=BULK_TIMEOUT_SCALE),
    Route("POST", "/api/v1/lectures/rejections", S, "bulk_reject_lectures",
          "Reject many checked reports with the same reasons (≤ 500): a result per report", "lectures",
          body=sub.BulkRejectIn, response=sub.BulkReviewOut, roles=STAFF,
          timeout_scale=BULK_TIMEOUT_SCALE),
    Route("POST", "/api/v1/lectures/<lecture_id>/revocation", S, "revoke_approval",
          "Withdraw an approval whose subsidy is not in payment", "lectures", body=sub.RevokeIn,
          response=sub.LectureOut, roles=STAFF),
    # on-demand orders (点单式)
    Route("POST", "/api/v1/lecture-orders", S, "order_lecture", "An enterprise orders a lecture", "orders",
          body=sub.OrderIn, response=sub.OrderOut, status=201, roles=rl.ORDERERS),
    Route("GET", "/api/v1/lecture-orders/<order_id>", S, "get_order", "One order", "orders",
          response=sub.OrderOut, roles=rl.PARTIES),
    Route("POST", "/api/v1/lecture-orders/<order_id>/acceptance", S, "accept_order",
          "The center or a tour lecturer takes the order", "orders", body=sub.AcceptIn, response=sub.OrderOut,
          roles=rl.REPORTERS),
    Route("POST", "/api/v1/lecture-orders/<order_id>/schedule", S, "schedule_order", "Fix the date", "orders",
          body=sub.ScheduleIn, response=sub.OrderOut, roles=rl.REPORTERS),
    Route("POST", "/api/v1/lecture-orders/<order_id>/held", S, "mark_order_held", "The lecture took place",
          "orders", response=sub.OrderOut, roles=rl.REPORTERS),
    Route("POST", "/api/v1/lecture-orders/<order_id>/cancellation", S, "cancel_order", "Cancel with a reason",
          "orders", body=sub.CancelIn, response=sub.OrderOut, roles=rl.ORDERERS),
    # payments
    Route("POST", "/api/v1/payment-batches", S, "create_batch", "Batch the approved, unpaid subsidies",
          "payments", body=sub.BatchIn, response=sub.BatchOut, status=201, roles=rl.PAYERS),
    Route("GET", "/api/v1/payment-batches/<batch_id>", S, "get_batch", "One batch", "payments",
          response=sub.BatchOut, roles=rl.PAYERS),
    Route("GET", "/api/v1/payment-batches/<batch_id>/bank-file", S, "export_batch",
          "Bank file (format=xlsx|csv): accounts unmasked for finance only, masked for the center; audited",
          "payments", query=sub.ExportQuery, file=True, roles=rl.PAYERS),
    Route("POST", "/api/v1/payment-batches/<batch_id>/results", S, "import_results",
          "Import the bank's result CSV (reference,status,reason): paid, or failed back to the pool",
          "payments", response=sub.ImportOut, upload=True, max_upload_bytes=4 * 1024 * 1024, roles=rl.PAYERS),
    Route("GET", "/api/v1/training-subsidies/<person_key>", S, "get_training_subsidy",
          "A person's municipal training subsidy (at most one)", "payments", response=sub.TrainingSubsidyOut,
          roles=rl.SUBSIDY_READERS),
    Route("GET", "/api/v1/subsidies-audit/<entity_type>/<entity_id>", S, "audit_trail",
          "Audit trail of a lecture, batch or order (exports included) (older URL)", "payments", response=sub.AuditOut,
          many=True, roles=STAFF, deprecated=True),
]
