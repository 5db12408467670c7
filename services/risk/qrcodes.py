"""One QR code per enterprise (全安码), the scan route, and the enterprise's safety file."""
from __future__ import annotations

import secrets

from sqlalchemy import select

from shared.db import transactional
from shared.entrypoints import rpc
from shared.errors import NotFound
from shared.documents import file_result
from shared.schemas import load, schema_instance
from shared.workdays import local_date, utcnow

from . import qr, roles, schemas
from .models import Enterprise, Hazard, Inspection, Policy, QrCode, ServiceRequest


class QrMixin:
    @rpc(roles=roles.ENTERPRISE_DESK)
    @transactional
    def issue_qr(self, enterprise_id, payload=None):
        """A new unguessable token; the previous one stops working at once (a lost label is revoked)."""
        enterprise = self._enterprise(enterprise_id)
        now = utcnow()
        revoked = 0
        for old in self.db.session.scalars(select(QrCode).where(QrCode.enterprise_id == enterprise.id,
                                                                QrCode.revoked_at.is_(None))).all():
            old.revoked_at = now
            revoked += 1
        code = QrCode(agency_id=self.db.agency, enterprise_id=enterprise.id, token=secrets.token_urlsafe(24),
                      created_at=now)
        self.db.session.add(code)
        self.db.session.flush()
        self.db.emit("qr_code_issued", enterprise.id, {"enterprise_id": enterprise.id, "revoked": revoked})
        self.db.audit(self.caller, "qr.issue", "enterprise", enterprise.id, {"revoked": revoked})
        return self._qr_out(code)

    @rpc(roles=roles.ENTERPRISE_DESK)
    def get_qr(self, enterprise_id):
        return self._qr_out(self._active_qr(self._enterprise(enterprise_id)))

    @rpc(roles=roles.ENTERPRISE_DESK)
    def qr_image(self, enterprise_id, query=None):
        """PNG, SVG or the printable PDF label."""
        kind = load(schemas.QrImageQuery, query)["format"]
        enterprise = self._enterprise(enterprise_id)
        url = self._scan_url(self._active_qr(enterprise).token)
        if kind == "png":
            return file_result(f"全安码-{enterprise.id}.png", schemas.QR_IMAGE_TYPES[kind], qr.png(url))
        if kind == "svg":
            return file_result(f"全安码-{enterprise.id}.svg", schemas.QR_IMAGE_TYPES[kind], qr.svg(url))
        return file_result(f"全安码-{enterprise.id}.pdf", schemas.QR_IMAGE_TYPES[kind],
                               qr.label_pdf("全安码", enterprise.name, "扫码查看企业安责险服务信息", url))

    @rpc
    @transactional
    def scan(self, token):
        """Anyone gets the minimum; a bearer token gets its role's view of what it may see, audited."""
        token = str(token or "")
        code = None
        if qr.TOKEN.match(token):
            code = self.db.session.scalar(select(QrCode).where(QrCode.token == token, QrCode.agency_id == self.db.agency,
                                                               QrCode.revoked_at.is_(None)))
        if code is None:
            raise NotFound("no such code, or it was revoked", {"token": ["unknown or revoked"]})
        enterprise = self.db.session.get(Enterprise, code.enterprise_id)
        today = local_date(utcnow())
        policy = self.db.session.scalar(select(Policy).where(Policy.enterprise_id == enterprise.id)
                                        .order_by(Policy.period_end.desc()).limit(1))
        visited = self.db.session.scalar(select(Inspection.visited_at).where(
            Inspection.enterprise_id == enterprise.id, Inspection.visited_at.is_not(None))
            .order_by(Inspection.visited_at.desc()).limit(1))
        out = {"view": "public", "name": enterprise.name,
               "insured": bool(policy and policy.period_start <= today <= policy.period_end),
               "policy_period": {"start": policy.period_start.isoformat(), "end": policy.period_end.isoformat()}
               if policy else None,
               "last_inspection": local_date(visited) if visited else None}
        if self.caller.role != "public":
            entitled = self.caller.role in roles.READERS and self.db.session.scalar(select(Enterprise.id).where(
                Enterprise.id == enterprise.id, self._enterprise_filter())) is not None
            self.db.audit(self.caller, "qr.scan", "enterprise", enterprise.id, {"entitled": entitled})
            if entitled:
                out["view"] = self.caller.role
                out["file"] = self._safety_file(enterprise)
        return schema_instance(schemas.ScanOut).dump(out)

    @rpc(roles=roles.READERS)
    def safety_file(self, credit_code):
        """The risk part of the safety file, by credit code (the gateway adds the other services' parts)."""
        code = str(credit_code or "").strip().upper()
        enterprise = self.db.session.scalar(select(Enterprise).where(
            Enterprise.agency_id == self.db.agency, Enterprise.credit_code == code[:18], self._enterprise_filter()))
        if enterprise is None:
            raise NotFound("enterprise not found", {"credit_code": ["not found"]})
        return self._safety_file(enterprise)

    def _safety_file(self, enterprise) -> dict:
        session = self.db.session
        inspections = session.scalars(select(Inspection).where(Inspection.enterprise_id == enterprise.id)
                                      .order_by(Inspection.id)).all()
        return schema_instance(schemas.SafetyFileOut).dump({
            "enterprise": enterprise,
            "policies": session.scalars(select(Policy).where(Policy.enterprise_id == enterprise.id)
                                        .order_by(Policy.year)).all(),
            "inspections": self._attach(inspections),
            "hazards": [self._with_overdue(h) for h in session.scalars(
                select(Hazard).where(Hazard.enterprise_id == enterprise.id).order_by(Hazard.id)).all()],
            "requests": session.scalars(select(ServiceRequest).where(ServiceRequest.enterprise_id == enterprise.id)
                                        .order_by(ServiceRequest.id)).all(),
        })

    def _active_qr(self, enterprise) -> QrCode:
        code = self.db.session.scalar(select(QrCode).where(QrCode.enterprise_id == enterprise.id,
                                                           QrCode.revoked_at.is_(None)))
        if code is None:
            raise NotFound("this enterprise has no QR code yet", {"enterprise_id": ["issue one first"]})
        return code

    def _scan_url(self, token: str) -> str:
        base = (self.config.get("PUBLIC_BASE_URL") or "http://127.0.0.1:8001").rstrip("/")
        return f"{base}/api/v1/qr/{token}"

    def _qr_out(self, code) -> dict:
        code.url = self._scan_url(code.token)
        return schema_instance(schemas.QrOut).dump(code)
