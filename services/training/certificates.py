"""Certificates of a class's passers: issue, verify (public), download, revoke."""
from __future__ import annotations

from shared.auth import STAFF
from shared.db import transactional
from shared.documents import PDF_TYPE, file_result
from shared.entrypoints import rpc
from shared.errors import NotFound
from shared.pii import get_vault, mask_name
from shared.schemas import load
from shared.workdays import utcnow

from sqlalchemy import select

from . import domain, pdf, schemas
from .models import Certificate, TrainingClass
from .roles import READERS


class CertificateRpc:

    @rpc
    def verify_certificate(self, number):
        """Public: valid / revoked / unknown here, or which agency to ask (the number says)."""
        number = str(number)[:80]
        issuer = domain.certificate_agency(number)
        if issuer is not None and issuer != self.db.agency.lower():
            return schemas.VerifyOut().dump({
                "number": number, "status": "foreign", "agency": issuer,
                "message": f"issued by agency {issuer}: ask its verify URL"})
        cert = self._certificate_or_none(number)
        if cert is None:
            return schemas.VerifyOut().dump({"number": number, "status": "unknown", "agency": self.db.agency,
                                             "message": "no certificate with this number"})
        klass = self.db.session.get(TrainingClass, cert.class_id)
        return schemas.VerifyOut().dump({
            "number": cert.number, "status": cert.status, "agency": self.db.agency,
            "name": mask_name(cert.person_name), "issued_at": cert.issued_at,
            "revoked_reason": cert.revoked_reason,
            "training_class": {"id": klass.id, "title": klass.title, "institution": klass.institution.name,
                               "year": klass.year, "days": [klass.day1.isoformat(), klass.day2.isoformat()],
                               "class_hours": klass.class_hours},
            "message": domain.verify_message(cert.status, cert.revoked_reason)})

    @rpc(roles=READERS)
    def get_certificate(self, number):
        return self._certificate_out(self._certificate(number))

    @rpc(roles=READERS)
    def certificate_pdf(self, number):
        return self._pdf(self._certificate(number))

    @rpc
    def download_certificate(self, number, payload):
        """Public: the holder downloads their own certificate with their ID number."""
        data = load(schemas.DownloadIn, payload)
        cert = self._certificate_or_none(str(number))
        if cert is None or cert.person_key != get_vault().blind_index(data["id_number"]):
            raise NotFound(f"certificate {number} not found")
        return self._pdf(cert)

    @rpc(roles=STAFF)
    @transactional
    def revoke_certificate(self, number, payload):
        data = load(schemas.RevokeIn, payload)
        cert = self._certificate(number)
        domain.ensure_revocable(cert.status)
        cert.status = domain.CERTIFICATE.next(cert.status, "revoke")
        cert.revoked_reason, cert.revoked_at = data["reason"], utcnow()
        self.db.emit("certificate_revoked", cert.number, {"number": cert.number, "person_key": cert.person_key,
                                                          "class_id": cert.class_id, "reason": data["reason"],
                                                          "revoked_at": cert.revoked_at})
        self.db.audit(self.caller, "certificate.revoke", "certificate", cert.number, data)
        return self._certificate_out(cert)

    def _issue_certificate(self, seat, klass, now) -> str:
        cert = Certificate(agency_id=self.db.agency, number=f"pending-{seat.id}", seat_id=seat.id, class_id=klass.id,
                           person_key=seat.person_key, person_name=seat.person_name, id_masked=seat.id_masked,
                           year=klass.year, status=domain.VALID, issued_at=now)
        self.db.session.add(cert)
        self.db.session.flush()
        # the row id is unique in the agency's database, so the number is too
        cert.number = domain.certificate_number(self.db.agency, klass.year, cert.id)
        self.db.emit("certificate_issued", cert.number, {"number": cert.number, "person_key": cert.person_key,
                                                         "class_id": klass.id, "year": klass.year, "issued_at": now})
        return cert.number

    def _verify_url(self, number) -> str:
        return domain.verify_url(self.config.get("PUBLIC_BASE_URL") or "http://127.0.0.1:8000", number)

    def _pdf(self, cert) -> dict:
        klass = self.db.session.get(TrainingClass, cert.class_id)
        lines = domain.certificate_lines(
            cert.number, cert.person_name, cert.id_masked, klass.title, klass.institution.name, klass.day1,
            klass.day2, klass.class_hours, cert.issued_at.date(), cert.status)
        return file_result(f"{cert.number}.pdf", PDF_TYPE, pdf.certificate_pdf(lines, self._verify_url(cert.number)))

    def _certificate_or_none(self, number):
        return self.db.session.scalar(select(Certificate).where(
            Certificate.agency_id == self.db.agency, Certificate.number == str(number)))

    def _certificate(self, number):
        """A certificate behind the same district fence as its class (a regulator: its district's only)."""
        cert = self._certificate_or_none(number)
        if cert is None:
            raise NotFound(f"certificate {number} not found")
        if self.caller.role == "regulator":
            klass = self.db.session.get(TrainingClass, cert.class_id)
            if klass is None or klass.district != self.caller.district:
                raise NotFound(f"certificate {number} not found")
        return cert
