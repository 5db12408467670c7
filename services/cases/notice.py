"""Public notice (公示), objections, release, certificates and the exports."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from shared.auth import STAFF
from shared.db import transactional
from shared.entrypoints import rpc
from shared.errors import NotFound, RuleViolation, ValidationFailed
from shared.pii import get_vault, mask_email, mask_phone
from shared.documents import XLSX_TYPE, decode_base64, file_result
from shared.schemas import as_id, load, paginate, schema_instance, with_values
from shared.workdays import local_date, utcnow

from . import domain, exports, roles, schemas
from .access import Lookups
from .files import DOCX_TYPE
from .models import Assignment, Case, CaseFile, Expert, ExpertConflict, Objection

LEVEL_ORDER = {"best": 0, "excellent": 1}


class NoticeRpc(Lookups):

    @rpc(roles=roles.STAFF)
    @transactional
    def open_notice(self, year, payload):
        """Put every selected case on public notice for the campaign's N working days."""
        data = load(schemas.NoticeIn, payload)
        row = self._campaign_row(year, lock=True)
        campaign = self._campaign(row)
        if row.levels_confirmed_at is None:
            raise RuleViolation("级别确认后方可公示", {"levels": ["not confirmed"]}, rule="levels_unconfirmed")
        if row.notice_first_day is not None:
            raise RuleViolation("本活动已公示", {"notice": [f"opened {row.notice_first_day}"]}, rule="notice_opened")
        domain.ensure_notice_start(data["starts_on"], utcnow())
        first, last = domain.notice_window(data["starts_on"], campaign.notice_working_days)
        row.notice_starts_on, row.notice_first_day, row.notice_ends_on = data["starts_on"], first, last
        cases = self.db.session.scalars(select(Case).where(
            Case.campaign_id == row.id, Case.status == domain.LEVELLED, Case.level.in_(domain.SELECTED))
            .order_by(Case.id)).all()
        for case in cases:
            self._move(case, "open_notice")
            self.db.emit("case_notice_opened", case.id, dict(self._ref(case), level=case.level,
                                                             notice_first_day=first, notice_ends_on=last))
        self.db.audit(self.caller, "campaign.notice", "campaign", row.year,
                      {"first_day": first, "ends_on": last, "cases": len(cases)})
        return self._campaign_out(row)

    @rpc
    def public_list(self, year):
        """The proposed cases during the notice, the published list after release: no token needed."""
        row = self._campaign_row(year)
        if row.notice_first_day is None:
            raise NotFound(f"campaign {row.year} has no public list yet")
        status = domain.RELEASED if row.released_at else domain.ON_NOTICE
        cases = self.db.session.scalars(select(Case).where(Case.campaign_id == row.id, Case.status == status)).all()
        cases = sorted(cases, key=lambda c: (LEVEL_ORDER[c.level], c.id))
        categories = {x["code"]: x["label"] for x in row.data["categories"]}
        return schema_instance(schemas.PublicListOut).dump({
            "campaign": row.year, "title": row.data["title"], "notice_first_day": row.notice_first_day,
            "notice_ends_on": row.notice_ends_on, "released": row.released_at is not None,
            "cases": [{"case_id": c.id, "name": c.name, "organisation_name": c.organisation.name,
                       "category_label": categories.get(c.category, c.category), "level": c.level,
                       "level_label": domain.LEVELS[c.level], "certificate_number": c.certificate_number}
                      for c in cases]})

    # ---- objections ------------------------------------------------------------------------------

    @rpc
    @transactional
    def file_objection(self, payload):
        """Anyone, named with a contact, may object to a case on notice; a few a day per contact."""
        data = load(schemas.ObjectionIn, payload)
        case = self.db.session.get(Case, data["case_id"])
        if case is None or case.agency_id != self.db.agency or case.status != domain.ON_NOTICE:
            raise NotFound("no such case on public notice", {"case_id": ["not a case on public notice"]})
        now = utcnow()
        received = data["received_on"]
        if received is not None:  # entered by staff from a letter or a call
            self.caller.require(*STAFF)
            domain.ensure_notice_start(received, now)
        domain.ensure_objection_window(case.campaign.notice_first_day, case.campaign.notice_ends_on,
                                       received or local_date(now))
        contact = data["contact"].strip()
        index = get_vault().blind_index(contact.lower())
        if received is None:
            recent = self.db.session.scalar(select(func.count()).select_from(Objection).where(
                Objection.contact_index == index, Objection.created_at > now - timedelta(hours=24)))
            domain.ensure_objection_rate(recent)
        files = []
        for i, f in enumerate(data["files"]):
            raw = decode_base64(f["data_base64"], f"files.{i}.data_base64")
            stored = self.files.put(raw, f"files.{i}", ("image/jpeg", "image/png", "application/pdf"), 1024 * 1024)
            files.append({"filename": f["filename"], "key": stored.key, "sha256": stored.sha256, "size": stored.size})
        obj = Objection(agency_id=self.db.agency, case_id=case.id, name=data["name"], contact=contact,
                        contact_index=index, reasons=data["reasons"], files=files, status="open", created_at=now)
        self.db.session.add(obj)
        self.db.session.flush()
        self.db.emit("objection_filed", obj.id, {"objection_id": obj.id, "case_id": case.id})
        self.db.audit(self.caller, "objection.file", "case", case.id, {"objection_id": obj.id})
        return self._objection_out(obj)

    @rpc(roles=roles.STAFF)
    def list_objections(self, year, query=None):
        params = load(schemas.ObjectionQuery, query)
        row = self._campaign_row(year)
        stmt = select(Objection).where(Objection.case_id.in_(select(Case.id).where(Case.campaign_id == row.id)))
        if "status" in params:
            stmt = stmt.where(Objection.status == params["status"])
        return paginate(self.db.session, stmt, Objection.id, params, self._objection_out)

    @rpc(roles=roles.STAFF)
    @transactional
    def resolve_objection(self, objection_id, payload):
        """Staff with no stake in the case decide: upheld (withdraw or re-level) or dismissed."""
        data = load(schemas.ObjectionResolveIn, payload)
        obj = self.db.session.get(Objection, as_id(objection_id, "objection_id"))
        if obj is None or obj.agency_id != self.db.agency:
            raise NotFound(f"objection {objection_id} not found")
        if obj.status != "open":
            raise RuleViolation("该异议已处理", {"status": [obj.status]}, rule="objection_closed")
        case = self._case(obj.case_id)
        assigned = set(self.db.session.scalars(select(Expert.code).join(Assignment, Assignment.expert_id == Expert.id)
                                               .where(Assignment.case_id == case.id)))
        conflicted = set(self.db.session.scalars(select(Expert.code).join(
            ExpertConflict, ExpertConflict.expert_id == Expert.id).where(
            (ExpertConflict.case_id == case.id) | ExpertConflict.credit_code.in_(self._org_codes(case.organisation)))))
        why = domain.reviewer_conflict(self.caller.person, self.caller.name, obj.name, assigned, conflicted)
        if why:
            raise RuleViolation("处理人与该案例存在利益关系，须由其他工作人员处理", {"reviewer": [why]},
                                rule="reviewer_conflict")
        obj.status, obj.resolution = data["decision"], data["resolution"]
        obj.resolved_by, obj.resolved_at = self.caller.actor, utcnow()
        if data["decision"] == "upheld":
            obj.outcome = data["outcome"]
            if data["outcome"] == "withdrawn":
                previous = self._move(case, "withdraw")
                case.withdrawal_reason = f"异议成立：{data['resolution']}"
                self.db.emit("case_withdrawn", case.id, dict(self._ref(case), previous_status=previous,
                                                             reason=case.withdrawal_reason))
            else:
                obj.new_level = data["new_level"]
                self._move(case, "drop_from_notice" if data["new_level"] == "not_selected" else "relevel")
                case.level, case.level_reason = data["new_level"], f"异议成立：{data['resolution']}"
                self.db.emit("case_levelled", case.id, dict(self._ref(case), level=case.level, rank=None,
                                                            reason=case.level_reason))
        self.db.emit("objection_resolved", obj.id, {"objection_id": obj.id, "case_id": case.id,
                                                    "decision": obj.status, "outcome": obj.outcome})
        self.db.audit(self.caller, "objection.resolve", "case", case.id, dict(data, objection_id=obj.id))
        return self._objection_out(obj)

    def _objection_out(self, o: Objection) -> dict:
        masked = mask_email(o.contact) if "@" in o.contact else mask_phone(o.contact)
        files = [{"filename": f["filename"], "sha256": f["sha256"], "size": f["size"]} for f in o.files]
        return schema_instance(schemas.ObjectionOut).dump(with_values(o, contact=masked, files=files))

    # ---- release ---------------------------------------------------------------------------------

    @rpc(roles=roles.STAFF)
    @transactional
    def release(self, year, payload=None):
        """After the window, with no open objection and no listed organisation: publish, certify, emit."""
        row = self._campaign_row(year, lock=True)
        if row.released_at is not None:
            raise RuleViolation("本活动已发布", {"campaign": ["already released"]}, rule="already_released")
        if row.notice_ends_on is None:
            raise RuleViolation("未经公示不能发布", {"notice": ["not opened"]}, rule="notice_window")
        now = utcnow()
        domain.ensure_notice_over(row.notice_ends_on, now)
        cases = self.db.session.scalars(select(Case).where(Case.campaign_id == row.id,
                                                           Case.status == domain.ON_NOTICE)).all()
        open_ids = list(self.db.session.scalars(select(Objection.id).where(
            Objection.case_id.in_([c.id for c in cases] or [0]), Objection.status == "open")))
        domain.ensure_no_open_objection(open_ids)
        listed = self._listed_codes()
        for case in cases:
            domain.ensure_not_dishonest(self._org_codes(case.organisation), listed, f"案例 {case.id} 发布")
        numbers = []
        seq = {"best": 0, "excellent": 0}
        for case in sorted(cases, key=lambda c: (LEVEL_ORDER[c.level], c.id)):
            seq[case.level] += 1
            case.certificate_number = domain.certificate_number(row.year, case.level, seq[case.level])
            case.released_at = now
            self._move(case, "release")
            numbers.append(case.certificate_number)
            self.db.emit("case_released", case.id, dict(
                self._ref(case), name=case.name, organisation_name=case.organisation.name, category=case.category,
                level=case.level, certificate_number=case.certificate_number, summary=case.summary,
                released_at=now))
            self.db.audit(self.caller, "case.release", "case", case.id, {"certificate": case.certificate_number})
        row.released_at = now
        return schema_instance(schemas.ReleaseOut).dump({"campaign": row.year, "released": len(numbers), "certificates": numbers})

    @rpc
    def verify_certificate(self, number):
        number = str(number)[:40]
        case = self.db.session.scalar(select(Case).where(Case.agency_id == self.db.agency,
                                                         Case.certificate_number == number))
        if case is None or case.status != domain.RELEASED:
            return schema_instance(schemas.VerifyOut).dump({"number": number, "status": "unknown"})
        return schema_instance(schemas.VerifyOut).dump({"number": number, "status": "valid", "case_name": case.name,
                                         "organisation_name": case.organisation.name,
                                         "level_label": domain.LEVELS[case.level], "campaign": case.campaign.year})

    @rpc(roles=roles.ORG_READERS)
    def certificate_pdf(self, number):
        case = self.db.session.scalar(select(Case).where(Case.agency_id == self.db.agency,
                                                         Case.certificate_number == str(number)[:40]))
        if case is None or not self._sees(case):
            raise NotFound(f"certificate {str(number)[:40]} not found")
        return file_result(f"{case.certificate_number}.pdf", "application/pdf", exports.certificate_pdf(
            case.certificate_number, case.campaign.data["title"], case.name, case.organisation.name,
            domain.LEVELS[case.level], case.released_at))

    # ---- exports ---------------------------------------------------------------------------------

    def _released(self, year):
        row = self._campaign_row(year)
        cases = self.db.session.scalars(select(Case).where(Case.campaign_id == row.id,
                                                           Case.status == domain.RELEASED)).all()
        return row, sorted(cases, key=lambda c: (LEVEL_ORDER[c.level], c.certificate_number))

    @rpc(roles=roles.READERS)
    def export_released(self, year):
        row, cases = self._released(year)
        categories = {x["code"]: x["label"] for x in row.data["categories"]}
        return file_result(f"{row.year}年入选案例.xlsx", XLSX_TYPE, exports.released_xlsx(row.year, cases, categories))

    @rpc(roles=roles.READERS)
    def export_book(self, year):
        row, cases = self._released(year)
        reports = {}
        for case in cases:
            f = self.db.session.scalar(select(CaseFile).where(CaseFile.case_id == case.id,
                                                              CaseFile.kind == "report_docx"))
            reports[case.id] = self.files.get(f.storage_key) if f else None
        return file_result(f"{row.year}年入选案例汇编.docx", DOCX_TYPE,
                        exports.compiled_docx(row.data["title"], cases, reports))
