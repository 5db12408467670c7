"""Files, the pre-check, submission and the steps before review (recommendation, screening, visits)."""
from __future__ import annotations

from pathlib import PurePath

from sqlalchemy import select

from shared.db import transactional
from shared.entrypoints import rpc
from shared.errors import RuleViolation, ValidationFailed
from shared.pii import mask_phone
from shared.documents import decode_base64, decode_upload
from shared.schemas import load, paginate, schema_instance
from shared.workdays import local_date, utcnow

from . import domain, report, roles, schemas
from .access import Lookups
from .files import DOCX_TYPE, FILE_KINDS, UPLOAD_MAX, put_bytes  # noqa: F401  (the route names UPLOAD_MAX)
from .models import Case, CaseFile, SiteVisit



class CaseRpc(Lookups):

    # ---- files -----------------------------------------------------------------------------------

    @rpc(roles=roles.ORG)
    @transactional
    def upload_file(self, upload):
        """One file of a case: the report (.docx, .pdf), a photo (its name is its caption) or a chart (JPG)."""
        upload = upload if isinstance(upload, dict) else {}
        query = upload.get("query") if isinstance(upload.get("query"), dict) else {}
        kind = query.get("kind")
        if kind not in FILE_KINDS:
            raise ValidationFailed("say what the file is", {"kind": [f"must be one of: {', '.join(FILE_KINDS)}"]})
        org_id = query.get("organisation_id")
        org = self._acting_org(None if org_id in (None, "") else _int_or_400(org_id, "organisation_id"))
        filename = str(upload.get("filename") or "").strip()
        if not filename or len(filename) > 200 or "/" in filename or "\\" in filename:
            raise ValidationFailed("the file needs its name", {"filename": ["1–200 characters, no path"]})
        data = decode_upload(upload)
        if not data:
            raise ValidationFailed("empty file", {"file": ["file is empty"]})
        if len(data) > FILE_KINDS[kind]:
            raise ValidationFailed("file too large", {"file": [f"{len(data)} bytes exceeds {FILE_KINDS[kind]}"]})
        ctype, ext, dpi = self._inspect(kind, data)
        key, digest = put_bytes(self.files, data, ext)
        caption = PurePath(filename).stem if kind in ("photo", "chart") else filename
        row = CaseFile(agency_id=self.db.agency, organisation_id=org.id, kind=kind, filename=caption[:200],
                       storage_key=key, sha256=digest, size=len(data), content_type=ctype, dpi=dpi,
                       uploaded_at=utcnow())
        self.db.session.add(row)
        self.db.session.flush()
        self.db.audit(self.caller, "file.upload", "case_file", row.id, {"kind": kind, "sha256": digest})
        return schema_instance(schemas.FileOut).dump(row)

    @staticmethod
    def _inspect(kind, data: bytes):
        """Refuse at once what can never pass: a legacy .doc, a file that is not what it claims."""
        try:
            if kind == "report_docx":
                report.read_docx(data)
                return DOCX_TYPE, "docx", None
            if kind == "report_pdf":
                if not data.startswith(b"%PDF-"):
                    raise report.UnreadableFile("文件不是 PDF 文档", "unreadable_file")
                return "application/pdf", "pdf", None
            info = report.read_image(data)
        except report.UnreadableFile as exc:
            raise RuleViolation(str(exc), {"file": [str(exc)]}, rule=exc.rule) from None
        if kind == "chart" and info.format != "JPEG":
            raise RuleViolation("图表须单独提供 JPG 格式图片", {"file": [f"is {info.format}, not JPG"]}, rule="charts_jpg")
        if info.format not in ("JPEG", "PNG"):
            raise RuleViolation("照片须为 JPG 或 PNG 格式", {"file": [f"is {info.format}"]}, rule="photo_format")
        return ("image/jpeg", "jpg", info.dpi and int(info.dpi)) if info.format == "JPEG" else \
            ("image/png", "png", info.dpi and int(info.dpi))

    # ---- pre-check and submission ----------------------------------------------------------------

    @rpc(roles=roles.ORG)
    def precheck(self, payload):
        """Every format rule at once, without submitting anything."""
        data = load(schemas.CheckIn, payload)
        org = self._acting_org(data["organisation_id"])
        findings = self._findings(org, data["files"], data.get("summary"), data["creators"], data["participants"])
        return _check_out(findings)

    @rpc(roles=roles.ORG)
    @transactional
    def submit_case(self, payload):
        data = load(schemas.CaseIn, payload)
        org = self._acting_org(data["organisation_id"])
        row = self._campaign_row(data["campaign"], field="campaign")
        campaign = self._campaign(row)
        now = utcnow()
        domain.ensure_open(campaign, now)
        domain.ensure_declared(org)
        domain.ensure_not_dishonest(self._org_codes(org), self._listed_codes(), "申报")
        domain.check_form(data, campaign, now)
        files = self._files(org, data["files"])
        findings = self._findings(org, data["files"], data["summary"], data["creators"], data["participants"], files)
        refused = report.refusals(findings)
        if refused:
            raise RuleViolation(f"案例报告有 {len(refused)} 项不符合要求，未提交",
                                {f.rule: [f.message] for f in refused}, rule="report_format")
        rec = data["recommender"]
        case = Case(
            agency_id=self.db.agency, campaign_id=row.id, organisation_id=org.id, status=domain.SUBMITTED,
            version=1, channel=data["channel"], name=data["name"], category=data["category"],
            category_other=data["category_other"] if data["category"] == "other" else None,
            submitted_on=data["submitted_on"] or local_date(now), period_start=data["period_start"],
            period_end=data["period_end"], summary=data["summary"], honours=data["honours"],
            creators=data["creators"], participants=data["participants"], recommender=rec,
            findings=schema_instance(schemas.FindingOut, many=True).dump(findings), created_at=now, updated_at=now)
        case.campaign, case.organisation = row, org
        self.db.session.add(case)
        self.db.session.flush()
        for f in files:
            f.case_id = case.id
        self.db.emit("case_submitted", case.id, dict(
            self._ref(case), name=case.name, channel=case.channel, category=case.category,
            warnings=[f.rule for f in findings if f.kind == report.WARNING and f.outcome != report.PASS]))
        self.db.audit(self.caller, "case.submit", "case", case.id, {"campaign": row.year, "name": case.name})
        return self._case_out(case)

    def _files(self, org, refs: dict) -> list[CaseFile]:
        wanted = [("report_docx", refs.get("report_docx"))] if refs.get("report_docx") else []
        wanted += [("report_pdf", refs.get("report_pdf"))] if refs.get("report_pdf") else []
        wanted += [("photo", i) for i in refs.get("photos") or []] + [("chart", i) for i in refs.get("charts") or []]
        found, errors = [], {}
        ids = [i for _, i in wanted]
        if len(set(ids)) != len(ids):
            errors["files"] = ["a file is named twice"]
        rows = {f.id: f for f in self.db.session.scalars(select(CaseFile).where(CaseFile.id.in_(ids or [0])))}
        for kind, file_id in wanted:
            f = rows.get(file_id)
            # another organisation's file is as unknown as a missing one
            if f is None or f.organisation_id != org.id or f.agency_id != self.db.agency:
                errors.setdefault(f"files.{kind}", []).append(f"no file {file_id} of this organisation")
            elif f.kind != kind:
                errors.setdefault(f"files.{kind}", []).append(f"file {file_id} is a {f.kind}")
            elif f.case_id is not None:
                errors.setdefault(f"files.{kind}", []).append(f"file {file_id} belongs to case {f.case_id}")
            else:
                found.append(f)
        if errors:
            raise ValidationFailed("the files named are not usable", errors)
        return found

    def _findings(self, org, refs, summary, creators, participants, files=None) -> list[report.Finding]:
        files = self._files(org, refs) if files is None else files
        by_kind = {}
        for f in files:
            by_kind.setdefault(f.kind, []).append(f)
        sub = report.Submission(
            docx=self.files.get(by_kind["report_docx"][0].storage_key) if "report_docx" in by_kind else None,
            pdf=self.files.get(by_kind["report_pdf"][0].storage_key) if "report_pdf" in by_kind else None,
            photos=[(f.filename, self.files.get(f.storage_key)) for f in by_kind.get("photo", [])],
            charts=[(f.filename, self.files.get(f.storage_key)) for f in by_kind.get("chart", [])],
            organisation_names=[n for n in (org.name, org.short_name) if n],
            person_names=list(creators or []) + list(participants or []), summary=summary)
        return report.check(sub)

    # ---- reading ------------------------------------------------------------------------------------

    @rpc(roles=roles.CASE_READERS)
    def get_case(self, case_id):
        return self._case_out(self._case(case_id))

    @rpc(roles=roles.CASE_READERS)
    def list_cases(self, query=None):
        params = load(schemas.CaseQuery, query)
        from .models import Assignment, CampaignRow, Expert
        stmt = select(Case).where(Case.agency_id == self.db.agency)
        if self.caller.role == "organisation":
            stmt = stmt.where(Case.organisation_id == self.caller.unit_id)
        if self.caller.role == "expert":
            stmt = stmt.where(Case.id.in_(select(Assignment.case_id).join(Expert, Assignment.expert_id == Expert.id)
                                          .where(Expert.code == (self.caller.person or ""),
                                                 Expert.agency_id == self.db.agency)))
        if "campaign" in params:
            stmt = stmt.where(Case.campaign_id.in_(select(CampaignRow.id).where(
                CampaignRow.agency_id == self.db.agency, CampaignRow.year == params["campaign"])))
        if "status" in params:
            stmt = stmt.where(Case.status == params["status"])
        if "organisation_id" in params:
            stmt = stmt.where(Case.organisation_id == params["organisation_id"])
        return paginate(self.db.session, stmt, Case.id, params, self._case_out)

    # ---- before review --------------------------------------------------------------------------

    @rpc(roles=roles.ORG)
    @transactional
    def record_recommendation(self, case_id, payload):
        """The recommender's opinion with seal or signature, its approval and its contact."""
        case = self._case(case_id, write=True)
        data = load(schemas.RecommendationIn, payload)
        if case.channel not in domain.RECOMMENDED:
            raise RuleViolation("自行申报的案例无需推荐意见", {"channel": [case.channel]}, rule="recommendation_not_needed")
        if case.status != domain.SUBMITTED:
            domain.CASE.next(case.status, "screen_pass")  # explains why it is too late
        contact = dict(data["contact"])
        case.recommender_mobile = contact.pop("mobile")
        case.recommender_office_phone = contact.pop("office_phone")
        contact.update(mobile=mask_phone(case.recommender_mobile), office_phone=mask_phone(case.recommender_office_phone))
        case.recommendation = {"opinion": data["opinion"], "sealed_or_signed_by": data["sealed_or_signed_by"],
                               "approved_on": data["approved_on"].isoformat(), "head_signed_by": data["head_signed_by"],
                               "contact": contact}
        case.version += 1
        case.updated_at = utcnow()
        self.db.emit("case_recommendation_recorded", case.id, dict(
            self._ref(case), sealed_or_signed_by=data["sealed_or_signed_by"], approved_on=data["approved_on"]))
        self.db.audit(self.caller, "case.recommendation", "case", case.id,
                      {"sealed_or_signed_by": data["sealed_or_signed_by"]})
        return self._case_out(case)

    @rpc(roles=roles.STAFF)
    @transactional
    def screen_case(self, case_id, payload):
        case = self._case(case_id)
        data = load(schemas.ScreenIn, payload)
        if data["result"] == "pass":
            domain.ensure_recommendation_complete(case.channel, case.recommendation)
        self._move(case, "screen_pass" if data["result"] == "pass" else "screen_fail")
        case.screening_reason = data["reason"]
        self.db.emit("case_screened", case.id, dict(self._ref(case), result=data["result"], reason=data["reason"]))
        self.db.audit(self.caller, "case.screen", "case", case.id, data)
        return self._case_out(case)

    @rpc(roles=roles.STAFF)
    @transactional
    def record_site_visit(self, case_id, payload):
        case = self._case(case_id)
        data = load(schemas.SiteVisitIn, payload)
        if data["visited_on"] > local_date(utcnow()):
            raise ValidationFailed("a visit is recorded after it happened", {"visited_on": ["is in the future"]})
        photos = []
        for i, p in enumerate(data["photos"]):
            raw = decode_base64(p["data_base64"], f"photos.{i}.data_base64")
            stored = self.files.put(raw, f"photos.{i}", ("image/jpeg", "image/png"), 1024 * 1024)
            photos.append({"filename": p["filename"], "key": stored.key, "sha256": stored.sha256, "size": stored.size})
        self._move(case, "site_visit")
        self.db.session.add(SiteVisit(case_id=case.id, visited_on=data["visited_on"], place=data["place"],
                                      visitors=data["visitors"], findings=data["findings"], photos=photos,
                                      recorded_at=utcnow()))
        self.db.emit("case_site_visited", case.id, dict(self._ref(case), visited_on=data["visited_on"]))
        self.db.audit(self.caller, "case.site_visit", "case", case.id,
                      {"visited_on": data["visited_on"], "place": data["place"]})
        return self._case_out(case)

    @rpc(roles=roles.ORG)
    @transactional
    def withdraw_case(self, case_id, payload):
        case = self._case(case_id, write=True)
        data = load(schemas.WithdrawIn, payload)
        previous = self._move(case, "withdraw")
        case.withdrawal_reason = data["reason"]
        self.db.emit("case_withdrawn", case.id, dict(self._ref(case), previous_status=previous, reason=data["reason"]))
        self.db.audit(self.caller, "case.withdraw", "case", case.id, data)
        return self._case_out(case)


def _check_out(findings) -> dict:
    refused = report.refusals(findings)
    return schema_instance(schemas.CheckOut).dump({
        "acceptable": not refused, "refusals": len(refused),
        "warnings": sum(1 for f in findings if f.kind == report.WARNING and f.outcome != report.PASS),
        "counting_rule": domain.COUNTING_RULE, "findings": findings})


def _int_or_400(value, field):
    try:
        number = int(str(value))
    except ValueError:
        raise ValidationFailed("not a number", {field: ["Not a valid integer."]}) from None
    if not 1 <= number <= 2**53:
        raise ValidationFailed("out of range", {field: ["out of range"]})
    return number

