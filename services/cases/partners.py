"""Cases between agencies (docs/agencies.md): a city or district agency recommends a case to the
national campaign; the national result travels back.

Both ways are directed messages (``shared.agency``): outbox → ``wsli.agency.out`` → the partner's
durable queue → dynamic shovel → the partner's ``wsli.agency.in``. A case's files travel as
``case_file_chunk`` messages (≤ 256 KiB each, sent in the same transaction as the case message,
at most ``FORWARD_MAX_BYTES`` in all). The receiver meets message and chunks in an
``incoming_cases`` row, whichever comes first, and makes the case once every file is whole
and matches its SHA-256.
"""
from __future__ import annotations

import base64
import hashlib

from sqlalchemy import delete, select

from shared import agency
from shared.agency import from_partners
from shared.db import transactional
from shared.entrypoints import rpc
from shared.errors import RuleViolation
from shared.events import rfc3339
from shared.pii import mask_phone
from shared.schemas import load
from shared.subscriber import subscribe
from shared.workdays import utcnow

from . import domain, events, roles, schemas
from .files import put_bytes
from .models import CampaignRow, Case, CaseFile, IncomingCase, IncomingChunk, Organisation

# All files of one forwarded case together (each file is also held to its kind's upload limit).
FORWARD_MAX_BYTES = 64 * 1024 * 1024
NOT_FORWARDABLE = (domain.SCREEN_FAILED, domain.WITHDRAWN)
EXTENSIONS = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}


class PartnerCases:

    # ---- sending: the recommending agency ------------------------------------------------------

    @rpc(roles=roles.STAFF)
    @transactional
    def forward_case(self, case_id, payload):
        """Recommend a case to a partner agency's campaign, its files with it."""
        case = self._case(case_id)
        data = load(schemas.ForwardIn, payload)
        if case.origin_agency:
            raise RuleViolation("收到的案例不再转送", {"case_id": [f"received from {case.origin_agency}"]},
                                rule="case_received_from_partner")
        if case.forwarded_to:
            raise RuleViolation(f"案例已推荐至 {case.forwarded_to}", {"case_id": ["already forwarded"]},
                                rule="case_already_forwarded")
        if case.status in NOT_FORWARDABLE:
            raise RuleViolation(f"{domain.STATUS_LABELS[case.status]}的案例不能推荐",
                                {"status": [case.status]}, rule="status_transition")
        files = self.db.session.scalars(select(CaseFile).where(CaseFile.case_id == case.id)
                                        .order_by(CaseFile.id)).all()
        total = sum(f.size for f in files)
        if total > FORWARD_MAX_BYTES:
            raise RuleViolation(f"案例文件共 {total:,} 字节，超过跨机构推荐上限 {FORWARD_MAX_BYTES:,} 字节",
                                {"files": [f"{total} bytes exceeds {FORWARD_MAX_BYTES}"]}, rule="forward_too_large")
        to, described = data["to"], []
        for f in files:
            content = self.files.get(f.storage_key)
            pieces = [content[i:i + agency.CHUNK_BYTES] for i in range(0, len(content), agency.CHUNK_BYTES)] or [b""]
            for seq, piece in enumerate(pieces):
                agency.send_to(self.db, self.config, to, "cases", "case_file_chunk", case.id, {
                    "origin_case_id": case.id, "sha256": f.sha256, "seq": seq, "count": len(pieces),
                    "data_base64": base64.b64encode(piece).decode("ascii")})
            described.append({"kind": f.kind, "filename": f.filename, "sha256": f.sha256, "size": f.size,
                              "content_type": f.content_type, "dpi": f.dpi, "chunks": len(pieces)})
        org = case.organisation
        agency.send_to(self.db, self.config, to, "cases", "case_forwarded", case.id, {
            "origin_case_id": case.id, "campaign": case.campaign.year, "name": case.name, "category": case.category,
            "category_other": case.category_other, "submitted_on": case.submitted_on,
            "period_start": case.period_start, "period_end": case.period_end, "summary": case.summary,
            "honours": case.honours, "creators": case.creators, "participants": case.participants,
            "organisation": {k: getattr(org, k) for k in (
                "name", "short_name", "credit_code", "kind", "parent_name", "parent_credit_code",
                "declared_no_bad_record", "declared_not_dishonest")},
            "recommendation": {"opinion": data["opinion"], "sealed_or_signed_by": data["sealed_or_signed_by"],
                               "approved_on": data["approved_on"].isoformat(),
                               "head_signed_by": data["head_signed_by"], "contact": data["contact"]},
            "findings": case.findings, "files": described})
        now = utcnow()
        case.forwarded_to, case.forwarded_at = to, now
        case.partner_result = {"agency": to, "status": "sent", "as_of": rfc3339(now)}
        case.version += 1
        case.updated_at = now
        self.db.audit(self.caller, "case.forward", "case", case.id, {"to": to, "files": len(files), "bytes": total})
        return self._case_out(case)

    @from_partners("cases", "case_result", schema=events.CaseResult)
    def on_partner_case_result(self, event):
        if not self.db.claim(event):
            return
        d = event.data
        case = self.db.session.get(Case, d["origin_case_id"])
        if case is None or case.agency_id != self.db.agency or case.forwarded_to != event.agency.lower():
            raise RuleViolation("no case was sent to this agency", {"origin_case_id": [str(d["origin_case_id"])]},
                                rule="case_not_forwarded")
        current = case.partner_result or {}
        if current.get("as_of") and current["as_of"] > event.time and current.get("status") != "sent":
            return  # a later result is already here
        case.partner_result = {"agency": event.agency.lower(), "status": d["status"], "level": d["level"],
                               "certificate_number": d["certificate_number"], "reason": d["reason"],
                               "released_at": event.raw_data.get("released_at"), "as_of": event.time}
        case.updated_at = utcnow()

    # ---- receiving: the national campaign --------------------------------------------------------

    @from_partners("cases", "case_file_chunk", schema=events.CaseFileChunk)
    def on_partner_case_chunk(self, event):
        if not self.db.claim(event):
            return
        d = event.data
        incoming = self._incoming(event.agency, d["origin_case_id"])
        if incoming.case_id is not None:
            return
        self.db.session.add(IncomingChunk(incoming_id=incoming.id, sha256=d["sha256"], seq=d["seq"],
                                          count=d["count"], data=base64.b64decode(d["data_base64"])))
        self.db.session.flush()
        self._complete(incoming, event.agency.lower())

    @from_partners("cases", "case_forwarded", schema=events.CaseForwarded)
    def on_partner_case(self, event):
        if not self.db.claim(event):
            return
        incoming = self._incoming(event.agency, event.data["origin_case_id"])
        if incoming.payload is None:
            incoming.payload = event.raw_data
        self._complete(incoming, event.agency.lower())

    def _incoming(self, origin: str, origin_case_id: int) -> IncomingCase:
        """The meeting row, locked: the handlers of one case run one after the other from here on."""
        origin = origin.lower()
        if self.db.session.get_bind().dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as upsert
        else:
            from sqlalchemy.dialects.sqlite import insert as upsert
        # the first arrival makes it; a concurrent one waits for that commit and makes nothing
        self.db.session.execute(upsert(IncomingCase.__table__).values(
            agency_id=self.db.agency, origin_agency=origin, origin_case_id=origin_case_id, touched=0,
            received_at=utcnow()).on_conflict_do_nothing(index_elements=["agency_id", "origin_agency",
                                                                         "origin_case_id"]))
        row = self.db.session.scalar(select(IncomingCase).where(
            IncomingCase.agency_id == self.db.agency, IncomingCase.origin_agency == origin,
            IncomingCase.origin_case_id == origin_case_id).with_for_update())
        row.touched += 1
        self.db.session.flush()
        return row

    def _complete(self, incoming: IncomingCase, origin: str):
        p = incoming.payload
        if incoming.case_id is not None or p is None:
            return
        chunks = {}
        for c in self.db.session.scalars(select(IncomingChunk).where(IncomingChunk.incoming_id == incoming.id)):
            chunks.setdefault(c.sha256, {})[c.seq] = c.data
        if any(len(chunks.get(f["sha256"], {})) < f["chunks"] for f in p["files"]):
            return  # more pieces to come
        campaign = self.db.session.scalar(select(CampaignRow).where(
            CampaignRow.agency_id == self.db.agency, CampaignRow.year == p["campaign"]))
        if campaign is None:
            raise RuleViolation(f"本机构没有 {p['campaign']} 年的案例征集", {"campaign": [str(p["campaign"])]},
                                rule="partner_campaign_missing")
        now = utcnow()
        org = self._partner_organisation(p["organisation"], now)
        rec = dict(p["recommendation"])
        contact = dict(rec.get("contact") or {})
        office_phone = contact.get("office_phone")
        contact.update(office_phone=mask_phone(office_phone) if office_phone else None, mobile=None)
        rec["contact"] = contact
        case = Case(
            agency_id=self.db.agency, campaign_id=campaign.id, organisation_id=org.id, status=domain.SUBMITTED,
            version=1, channel="organised", name=p["name"], category=p["category"],
            category_other=p.get("category_other"), submitted_on=_date(p["submitted_on"]),
            period_start=p["period_start"], period_end=p["period_end"], summary=p["summary"],
            honours=p.get("honours"), creators=p["creators"], participants=p["participants"],
            recommender={"kind": "unit", "name": rec.get("sealed_or_signed_by") or origin, "credit_code": None,
                         "agency": origin},
            recommendation=rec, recommender_office_phone=office_phone, findings=p["findings"],
            origin_agency=origin, origin_case_id=p["origin_case_id"], created_at=now, updated_at=now)
        case.campaign, case.organisation = campaign, org
        self.db.session.add(case)
        self.db.session.flush()
        for f in p["files"]:
            pieces = chunks[f["sha256"]]
            content = b"".join(pieces[i] for i in range(f["chunks"]))
            if len(content) != f["size"] or hashlib.sha256(content).hexdigest() != f["sha256"]:
                raise RuleViolation(f"文件 {f['filename']} 传输后校验不符", {"files": [f["sha256"]]},
                                    rule="partner_file_corrupt")
            ext = EXTENSIONS.get(f["content_type"], "docx")
            key, digest = put_bytes(self.files, content, ext)
            self.db.session.add(CaseFile(
                agency_id=self.db.agency, organisation_id=org.id, case_id=case.id, kind=f["kind"],
                filename=f["filename"], storage_key=key, sha256=digest, size=len(content),
                content_type=f["content_type"], dpi=f.get("dpi"), uploaded_at=now))
        incoming.case_id = case.id
        self.db.session.execute(delete(IncomingChunk).where(IncomingChunk.incoming_id == incoming.id))
        self.db.emit("case_submitted", case.id, dict(self._ref(case), name=case.name, channel=case.channel,
                                                     category=case.category, warnings=[]))
        self.db.audit(None, "case.receive", "case", case.id, {"from": origin, "origin_case_id": p["origin_case_id"]})

    def _partner_organisation(self, o: dict, now) -> Organisation:
        org = self.db.session.scalar(select(Organisation).where(
            Organisation.agency_id == self.db.agency, Organisation.credit_code == o["credit_code"]))
        if org is None:
            org = Organisation(agency_id=self.db.agency, name=o["name"], short_name=o.get("short_name"),
                               credit_code=o["credit_code"], kind=o["kind"], parent_name=o.get("parent_name"),
                               parent_credit_code=o.get("parent_credit_code"),
                               declared_no_bad_record=o["declared_no_bad_record"],
                               declared_not_dishonest=o["declared_not_dishonest"], declared_at=now, created_at=now)
            self.db.session.add(org)
            self.db.session.flush()
        return org

    # ---- the result goes back to the agency that sent the case -----------------------------------

    @subscribe("cases", "case_levelled", schema=events.CaseLevelled)
    def tell_origin_levelled(self, event):
        self._tell_origin(event, level=event.data["level"], reason=event.data.get("reason"))

    @subscribe("cases", "case_released", schema=events.CaseReleased)
    def tell_origin_released(self, event):
        self._tell_origin(event, level=event.data["level"], certificate_number=event.data["certificate_number"],
                          released_at=event.data["released_at"])

    @subscribe("cases", "case_screened", schema=events.CaseScreened)
    def tell_origin_screened(self, event):
        self._tell_origin(event, reason=event.data.get("reason"))

    @subscribe("cases", "case_withdrawn", schema=events.CaseWithdrawn)
    def tell_origin_withdrawn(self, event):
        self._tell_origin(event, reason=event.data["reason"])

    def _tell_origin(self, event, **result):
        if not self.db.claim(event):
            return
        case = self.db.session.get(Case, event.data["case_id"])
        if case is None or not case.origin_agency:
            return  # our own case: nobody to tell
        data = {"origin_case_id": case.origin_case_id, "status": event.data["status"], "level": None,
                "certificate_number": None, "released_at": None, "reason": None}
        data.update(result)
        agency.send_to(self.db, self.config, case.origin_agency, "cases", "case_result", case.id, data)


def _date(value):
    from datetime import date
    return value if isinstance(value, date) else date.fromisoformat(value)
