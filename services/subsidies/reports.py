"""Lecture reports: evidence files, submission and correction, the automatic checks."""
from __future__ import annotations

import os
import socket

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from shared.auth import STAFF
from shared.bulk import ALREADY, APPLIED, apply_each
from shared.db import transactional
from shared.documents import decode_upload, file_result
from shared.entrypoints import rpc
from shared.errors import Forbidden, NotFound, RuleViolation, ValidationFailed
from shared.pii import get_vault, mask_account, mask_id_number
from shared.polling import long_poll
from shared.schemas import load, paginate, schema_instance
from shared.storage import EXTENSIONS, sniff
from shared.subscriber import subscribe
from shared.workdays import utcnow

from . import domain, schemas
from .models import EvidenceFile, Lecture, Lecturer, LectureOrder
from .roles import EVIDENCE_READERS, LECTURE_READERS, REPORTERS

IMAGE_TYPES = ("image/jpeg", "image/png")
SIGNIN_TYPES = ("image/jpeg", "image/png", "application/pdf")
UPLOAD_TYPES = schemas.UPLOAD_TYPES
IMAGE_MAX_BYTES = 16 * 1024 * 1024
VIDEO_MAX_BYTES = 64 * 1024 * 1024     # the gateway route admits the same
# the parts of a report sent with its files (multipart); the gateway enforces the same limits per file
EVIDENCE_PARTS = ("signin_sheet", "video", "photos", "banner_photos")
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"


class ReportRpc:

    @rpc(roles=REPORTERS)
    @transactional
    def upload_evidence(self, upload):
        """One evidence file (photo, sign-in sheet, video); content-addressed, so re-uploads are free."""
        raw = decode_upload(upload)
        ctype = sniff(raw)
        limit = VIDEO_MAX_BYTES if ctype == "video/mp4" else IMAGE_MAX_BYTES
        stored = self.files.put(raw, "file", UPLOAD_TYPES, limit)
        filename = str((upload or {}).get("filename") or "")[:200] or None
        row = self._file_by_sha(stored.sha256)
        if row is None:
            row = EvidenceFile(agency_id=self.db.agency, sha256=stored.sha256, key=stored.key,
                               content_type=stored.content_type, size=stored.size, filename=filename,
                               uploaded_by=self.caller.actor, uploaded_at=utcnow())
            self.db.session.add(row)
            try:
                self.db.session.flush()
            except IntegrityError:  # another replica stored the same bytes meanwhile: same file
                self.db.rollback()
                row = self._file_by_sha(stored.sha256)
        return schema_instance(schemas.FileOut).dump(row)


    @rpc(roles=REPORTERS)
    @transactional
    def submit_lecture(self, payload):
        """Store a report as ``received`` and queue its checks; ``lecture_checks`` tells the outcome."""
        return self._submit(payload)

    def _submit(self, payload):
        data = load(schemas.LectureIn, payload)
        lecture = self._new_report(data, utcnow())
        self._flush_report("this lecturer already reported a lecture on that date at that venue",
                           "duplicate of an existing report: correct that one instead")
        self._after_new_report(lecture)
        return self._lecture_out(lecture)

    @rpc(roles=REPORTERS)
    @transactional
    def submit_lecture_with_evidence(self, payload):
        """A report and its evidence files in one request (the gateway's multipart route).

        ``payload``: ``{"report": <LectureIn without file references>, "files": {part: [file, …]}}``
        with the parts ``signin_sheet`` (one), ``video`` (one), ``photos`` and ``banner_photos``
        (photos showing the uniform banner). Each file is stored as ``upload_evidence`` stores it
        and named ``<part>.<n>`` when refused; the report then goes as ``submit_lecture``.
        """
        if not isinstance(payload, dict) or not isinstance(payload.get("report"), dict):
            raise ValidationFailed("no report", {"report": ["send the 附件5 form as JSON in the part 'report'"]})
        report, parts = dict(payload["report"]), payload.get("files") or {}
        unknown = sorted(set(parts) - set(EVIDENCE_PARTS))
        if unknown:
            raise ValidationFailed("unknown file parts", {p: [f"not one of {', '.join(EVIDENCE_PARTS)}"]
                                                          for p in unknown})
        for part in ("signin_sheet", "video"):
            if len(parts.get(part) or []) > 1:
                raise ValidationFailed(f"one {part}", {part: ["send one file"]})
        stored = {part: [self._store_evidence(decode_upload(f), f.get("filename"), f"{part}.{n}").sha256
                         for n, f in enumerate(parts.get(part) or [])] for part in EVIDENCE_PARTS}
        if stored["signin_sheet"]:
            report["signin_sheet"] = dict(report.get("signin_sheet") or {}, file=stored["signin_sheet"][0])
        if stored["video"]:
            report["video"] = {"file": stored["video"][0]}
        report["photos"] = list(report.get("photos") or []) + \
            [{"file": sha} for sha in stored["photos"]] + [{"file": sha, "shows_banner": True}
                                                          for sha in stored["banner_photos"]]
        return self._submit(report)

    def _store_evidence(self, raw, filename, field):
        ctype = sniff(raw)
        if ctype not in UPLOAD_TYPES:
            raise RuleViolation("evidence type not accepted", {field: [
                f"content is {ctype or 'unrecognised'}; accepted: {', '.join(UPLOAD_TYPES)}"]}, rule="evidence_type")
        stored = self.files.put(raw, field, UPLOAD_TYPES, VIDEO_MAX_BYTES if ctype == "video/mp4" else IMAGE_MAX_BYTES)
        if self._file_by_sha(stored.sha256) is None:
            try:
                with self.db.session.begin_nested():  # a twin stored meanwhile by another replica is the same file
                    self.db.session.add(EvidenceFile(
                        agency_id=self.db.agency, sha256=stored.sha256, key=stored.key,
                        content_type=stored.content_type, size=stored.size, filename=str(filename or "")[:200] or None,
                        uploaded_by=self.caller.actor, uploaded_at=utcnow()))
            except IntegrityError:
                pass
        return stored

    @rpc(roles=STAFF)
    @transactional
    def bulk_submit_lectures(self, payload):
        """Reports that reached the center by email, entered at once: one result per report (shared.bulk).

        A report already stored (same lecturer, date and venue) is ``already`` with its id, so
        entering the same batch again stores nothing twice.
        """
        data = load(schemas.BulkLecturesIn, payload)
        reports, now = data["reports"], utcnow()

        def apply(key):
            index = key[-1]
            try:
                report = load(schemas.LectureIn, reports[index])
            except ValidationFailed as exc:
                raise ValidationFailed(exc.message, exc.fields) from None

            def stored():
                return self.db.session.scalar(select(Lecture).where(
                    Lecture.agency_id == self.db.agency, Lecture.cycle == report["cycle"],
                    Lecture.candidate_id == report["candidate_id"], Lecture.lecture_date == report["lecture_date"],
                    Lecture.venue_key == domain.venue_key(report["venue"])))

            existing = stored()
            if existing is None:
                try:
                    with self.db.session.begin_nested():
                        lecture = self._new_report(report, now)
                        self.db.session.flush()
                except IntegrityError:
                    # a concurrent call entered the same report (it has committed): that one stands
                    existing = stored()
                    if existing is None:
                        raise
            if existing is not None:
                return ALREADY, {"lecture_id": existing.id, "report_status": existing.status}
            self._after_new_report(lecture)
            return APPLIED, {"lecture_id": lecture.id, "report_status": lecture.status}

        def natural(index):
            """Reports are stored in (cycle, lecturer, date, venue) order, whatever order they came in:
            two calls entering the same reports wait for each other instead of deadlocking."""
            raw = reports[index] if isinstance(reports[index], dict) else {}
            return (str(raw.get("cycle")), str(raw.get("candidate_id")), str(raw.get("lecture_date")),
                    domain.venue_key(str(raw.get("venue"))), index)

        result = apply_each(self.db, [natural(i) for i in range(len(reports))], apply,
                            lambda key: {"index": key[-1]})
        return schema_instance(schemas.BulkLecturesOut).dump(result)

    def _new_report(self, data, now) -> Lecture:
        cycle = self._cycle(data["cycle"], field="cycle")
        received_at = self._received_at(data.pop("received_at"), data["lecture_date"], now)
        self._ensure_may_report_for(cycle.code, data["candidate_id"])
        self._check_date_and_order(data, cycle.code, now)
        lecture = Lecture(
            agency_id=self.db.agency, cycle=cycle.code, candidate_id=data["candidate_id"], status=domain.RECEIVED,
            version=1, failed_rules=[], submitted_by=self.caller.actor, created_at=now, updated_at=now,
            **self._report_values(data, received_at))
        self.db.session.add(lecture)
        return lecture

    def _after_new_report(self, lecture):
        self._queue_checks(lecture)
        self.db.audit(self.caller, "lecture.submit", "lecture", lecture.id,
                      {"cycle": lecture.cycle, "kind": lecture.kind, "lecture_date": lecture.lecture_date})

    @rpc(roles=REPORTERS)
    @transactional
    def resubmit_lecture(self, lecture_id, payload):
        """A corrected report after failed checks or a rejection, while the evidence is still on time."""
        data = load(schemas.LectureIn, payload)
        lecture = self._lecture(lecture_id, lock=True)
        if (data["cycle"], data["candidate_id"]) != (lecture.cycle, lecture.candidate_id):
            raise ValidationFailed("a correction cannot move the report to another lecturer or cycle",
                                   {"candidate_id": ["must stay the same"], "cycle": ["must stay the same"]})
        now = utcnow()
        status = domain.next_report_status(lecture.status, "resubmit")
        received_at = self._received_at(data.pop("received_at"), data["lecture_date"], now)
        domain.ensure_can_resubmit(data["lecture_date"], received_at)
        self._check_date_and_order(data, lecture.cycle, now)
        for key, value in self._report_values(data, received_at).items():
            setattr(lecture, key, value)
        lecture.status, lecture.failed_rules, lecture.checked_at, lecture.checked_by = status, [], None, None
        lecture.version += 1
        lecture.updated_at = now
        self._flush_report("another report of this lecturer has that date and venue",
                           "duplicate of an existing report")
        self._queue_checks(lecture)
        self.db.audit(self.caller, "lecture.resubmit", "lecture", lecture.id, {"version": lecture.version})
        return self._lecture_out(lecture)

    @subscribe("subsidies", "report_submitted", schema=schemas.ReportSubmittedEvent)
    def run_checks(self, event):
        """The automatic checks of one report version; any replica may take it, once."""
        data = event.data
        # lock the report first: a duplicate delivered at once waits here, then its claim sees the inbox row
        lecture = self.db.session.scalar(
            select(Lecture).where(Lecture.id == data["lecture_id"], Lecture.agency_id == self.db.agency)
            .with_for_update())
        if not self.db.claim(event):
            return
        if lecture is None or lecture.status != domain.RECEIVED or lecture.version != data["version"]:
            return  # a stale or repeated request: that version was already judged or replaced
        result = domain.check_report(self._report_of(lecture), self._facts_of(lecture))
        now = utcnow()
        ref = {"cycle": lecture.cycle, "lecture_id": lecture.id, "candidate_id": lecture.candidate_id,
               "version": lecture.version}
        lecture.failed_rules = result.failed
        lecture.checked_at, lecture.checked_by, lecture.updated_at = now, WORKER_ID, now
        if result.passed:
            lecture.status = domain.next_report_status(lecture.status, "checks_passed")
            self.db.emit("lecture_checks_passed", lecture.id, ref)
        else:
            lecture.status = domain.next_report_status(lecture.status, "checks_failed")
            self.db.emit("lecture_checks_failed", lecture.id, dict(ref, rules=result.rules))

    @rpc(roles=LECTURE_READERS)
    def lecture_checks(self, lecture_id, query=None):
        """The checks' outcome: 200 pending/passed, 422 naming the failed rules. ``wait`` long-polls."""
        params = load(schemas.CheckQuery, query)
        # close the session between reads: see the replica's commit, hold no connection while waiting
        lecture = long_poll(lambda: self._lecture(lecture_id), lambda row: row.status != domain.RECEIVED,
                            params["wait"], between=self.db.session.close)
        if lecture.status == domain.CHECKS_FAILED:
            domain.ensure_checks_passed(domain.CheckResult(list(lecture.failed_rules)))
        return schema_instance(schemas.CheckOut).dump({
            "id": lecture.id, "status": lecture.status, "failed_rules": [],
            "checks": "pending" if lecture.status == domain.RECEIVED else "passed"})

    @rpc(roles=EVIDENCE_READERS)
    def get_evidence_file(self, lecture_id, file_id):
        """One evidence file of a report (``file_id``: its sha256, as the report lists it), with the report's
        fence: a lecturer reads its own reports' files only; a file not of this report is not found."""
        lecture = self._lecture(lecture_id)
        ids = [i for i in (lecture.signin_file_id, lecture.video_file_id) if i] + \
            [p["file_id"] for p in lecture.photos or []]
        row = self._file_by_sha(str(file_id or "").lower()) if ids else None
        if row is None or row.id not in ids:
            raise NotFound(f"evidence file {file_id} of lecture {lecture_id} not found")
        name = row.filename or f"{row.sha256[:12]}.{EXTENSIONS.get(row.content_type, 'bin')}"
        return file_result(name, row.content_type, self.files.get(row.key))

    @rpc(roles=LECTURE_READERS)
    def get_lecture(self, lecture_id):
        return self._lecture_out(self._lecture(lecture_id))

    @rpc(roles=LECTURE_READERS)
    def list_lectures(self, query=None):
        params = load(schemas.LectureQuery, query)
        stmt = select(Lecture).where(Lecture.agency_id == self.db.agency)
        if self.caller.role == "lecturer":
            mine = select(Lecturer.candidate_id).where(
                Lecturer.agency_id == self.db.agency, Lecturer.cycle == Lecture.cycle,
                Lecturer.person_key == (self.caller.person or ""))
            stmt = stmt.where(Lecture.candidate_id.in_(mine.scalar_subquery()))
        for key in ("cycle", "status", "candidate_id", "kind"):
            if key in params:
                stmt = stmt.where(getattr(Lecture, key) == params[key])
        return paginate(self.db.session, stmt, Lecture.id, params, self._lecture_out)

    def _report_values(self, data, received_at) -> dict:
        """The columns a report's form sets, on submission and on correction alike."""
        evidence = self._resolve_evidence(data)
        vault = get_vault()
        return dict(
            kind=data["kind"], order_id=data["order_id"], host_candidate_id=data["host_candidate_id"],
            lecturer_name=data["lecturer_name"], id_number=data["id_number"],
            id_index=vault.blind_index(data["id_number"]), id_masked=mask_id_number(data["id_number"]),
            lecture_date=data["lecture_date"], venue=data["venue"], venue_key=domain.venue_key(data["venue"]),
            audience_count=data["audience_count"], bank=data["bank"], branch=data["branch"],
            account_number=data["account_number"], account_masked=mask_account(data["account_number"]),
            contact=data["contact"], received_at=received_at, **evidence)

    def _flush_report(self, message, field_message):
        """Write the report; the unique key (lecturer, date, venue) refuses a duplicate for every replica."""
        try:
            self.db.session.flush()
        except IntegrityError as exc:
            self.db.rollback()
            if not _is_duplicate_lecture(exc):
                raise
            raise RuleViolation(message, {"venue": [field_message]}, rule="duplicate_lecture") from None

    def _received_at(self, given, lecture_date, now):
        if given is None:
            return now
        if not self.caller.is_staff:
            raise Forbidden("only the center's staff may date evidence received by other means")
        domain.ensure_received_between(given, lecture_date, now)
        return given

    def _check_date_and_order(self, data, cycle, now):
        domain.ensure_lecture_past(data["lecture_date"], now)
        domain.ensure_calendar_covers(data["lecture_date"])
        if data["order_id"] is not None:
            order = self.db.session.get(LectureOrder, data["order_id"])
            if order is None or order.agency_id != self.db.agency or order.cycle != cycle:
                raise ValidationFailed("unknown order", {"order_id": [f"no order {data['order_id']} in cycle {cycle}"]})

    def _resolve_evidence(self, data) -> dict:
        """Uploaded files by checksum; an unknown file or the wrong type is a 400 on that field."""
        def find(sha, field, types):
            row = self._file_by_sha(sha)
            if row is None:
                raise ValidationFailed("unknown evidence file", {field: ["no uploaded file has this sha256"]})
            if row.content_type not in types:
                raise ValidationFailed("wrong kind of file", {field: [f"is {row.content_type}; needs {', '.join(types)}"]})
            return row

        signin = data.pop("signin_sheet")
        video = data.pop("video")
        photos = data.pop("photos")
        out = {"signin_file_id": None, "signin_head_count": None, "video_file_id": None, "photos": []}
        if signin:
            out["signin_file_id"] = find(signin["file"], "signin_sheet.file", SIGNIN_TYPES).id
            out["signin_head_count"] = signin["head_count"]
        if video:
            out["video_file_id"] = find(video["file"], "video.file", ("video/mp4",)).id
        seen = set()
        for n, photo in enumerate(photos):
            row = find(photo["file"], f"photos.{n}.file", IMAGE_TYPES)
            if row.id in seen:  # the same picture twice is one photo
                raise ValidationFailed("the same photo twice", {f"photos.{n}.file": ["already listed"]})
            seen.add(row.id)
            out["photos"].append({"file_id": row.id, "sha256": row.sha256, "shows_banner": photo["shows_banner"]})
        return out

    def _queue_checks(self, lecture):
        self.db.emit("report_submitted", lecture.id, {
            "cycle": lecture.cycle, "lecture_id": lecture.id, "candidate_id": lecture.candidate_id,
            "kind": lecture.kind, "version": lecture.version})

    @staticmethod
    def _report_of(lecture) -> domain.Report:
        return domain.Report(
            kind=lecture.kind, lecture_date=lecture.lecture_date, audience_count=lecture.audience_count,
            id_index=lecture.id_index, received_at=lecture.received_at,
            evidence=domain.Evidence(
                signin_head_count=lecture.signin_head_count, has_signin_sheet=lecture.signin_file_id is not None,
                has_video=lecture.video_file_id is not None, photo_count=len(lecture.photos or []),
                banner_shown=any(p.get("shows_banner") for p in lecture.photos or [])))

    def _facts_of(self, lecture) -> domain.TourFacts:
        lecturer = self._lecturer(lecture.cycle, lecture.candidate_id)
        cycle = self._cycle_or_none(lecture.cycle)
        order_ok = True
        if lecture.kind == "on_demand":
            order = self.db.session.get(LectureOrder, lecture.order_id) if lecture.order_id else None
            order_ok = bool(order and order.agency_id == self.db.agency and order.cycle == lecture.cycle
                            and order.candidate_id == lecture.candidate_id
                            and order.status in (domain.SCHEDULED, domain.HELD))
        host_ok = True
        if lecture.kind == "exchange":
            host = self._lecturer(lecture.cycle, lecture.host_candidate_id) if lecture.host_candidate_id else None
            host_ok = domain.exchange_host_ok(
                lecture.candidate_id, lecturer.unit_id if lecturer else None, lecture.host_candidate_id,
                bool(host and host.in_tour), host.unit_id if host else None)
        return domain.TourFacts(
            in_tour=bool(lecturer and lecturer.in_tour), person_key=lecturer.person_key if lecturer else None,
            tour_start=cycle.tour_start if cycle else None, tour_end=cycle.tour_end if cycle else None,
            order_ok=order_ok, host_ok=host_ok)


def _is_duplicate_lecture(exc: IntegrityError) -> bool:
    text_ = str(exc.orig)
    # PostgreSQL names the constraint; SQLite lists the columns
    return "uq_lectures_" in text_ or "lectures.venue_key" in text_
