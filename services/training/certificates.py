"""Certificates of a class's passers: issue, verify (public), download, revoke."""
from __future__ import annotations

from shared import agency
from shared.auth import STAFF
from shared.db import transactional
from shared.documents import PDF_TYPE, file_result
from shared.entrypoints import rpc
from shared.errors import NotFound
from shared.pii import get_vault, mask_name
from shared.schemas import as_credit_code, load, schema_instance
from shared.workdays import SHANGHAI, utcnow

from collections import defaultdict

from sqlalchemy import func, select

from . import domain, pdf, schemas
from .models import Certificate, EnrolledPerson, HoursEntry, TrainingClass
from .roles import READERS, SAFETY_FILE_READERS


class CertificateRpc:

    @rpc
    def verify_certificate(self, number):
        """Public: valid / revoked / unknown here, or which agency to ask (the number says)."""
        number = str(number)[:80]
        issuer = domain.certificate_agency(number)
        if issuer is not None and issuer != self.db.agency.lower():
            copy = self._partner_certificate(number)
            if copy is None or copy.issuer != issuer:
                return schema_instance(schemas.VerifyOut).dump({
                    "number": number, "status": "foreign", "agency": issuer,
                    "message": f"issued by agency {issuer}: ask its verify URL"})
            # a partner's certificate, answered from the replica of its broadcasts: as of the latest one
            return schema_instance(schemas.VerifyOut).dump({
                "number": copy.number, "status": copy.status, "agency": issuer, "name": copy.holder,
                "issued_at": copy.issued_at, "revoked_reason": copy.revoked_reason, "as_of": copy.as_of,
                "source": "partner_replica",
                "training_class": {"title": copy.class_title, "institution": copy.institution, "year": copy.year,
                                   "class_hours": copy.class_hours},
                "message": domain.verify_message(copy.status, copy.revoked_reason)
                + f"（{issuer} 签发，信息截至 {copy.as_of.astimezone(SHANGHAI):%Y-%m-%d %H:%M}）"})
        cert = self._certificate_or_none(number)
        if cert is None:
            return schema_instance(schemas.VerifyOut).dump({"number": number, "status": "unknown", "agency": self.db.agency,
                                             "source": "issuer",
                                             "message": "no certificate with this number"})
        klass = self.db.session.get(TrainingClass, cert.class_id)
        return schema_instance(schemas.VerifyOut).dump({
            "number": cert.number, "status": cert.status, "agency": self.db.agency,
            "name": mask_name(cert.person_name), "issued_at": cert.issued_at,
            "revoked_reason": cert.revoked_reason, "source": "issuer",
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
        agency.broadcast(self.db, "training", "certificate_revoked", cert.number, {
            "number": cert.number, "reason": data["reason"], "revoked_at": cert.revoked_at})
        self.db.audit(self.caller, "certificate.revoke", "certificate", cert.number, data)
        return self._certificate_out(cert)

    @rpc(roles=SAFETY_FILE_READERS)
    def unit_certificates(self, credit_code):
        """The training part of an enterprise's safety file: its enrolled people's certificates and hours.

        The people are registration's enrolments of the unit as this service received them
        (``trainee_enrolled`` carries the unit's credit code); their certificates and hours are
        found by the person key. An enterprise sees its own people, a regulator the people
        enrolled in its district; names are masked but for the center.
        """
        code = as_credit_code(credit_code)
        if self.caller.role == "enterprise" and code != (self.caller.person or ""):
            raise NotFound("unit not found", {"credit_code": ["not found"]})
        stmt = select(EnrolledPerson).where(EnrolledPerson.agency_id == self.db.agency,
                                            EnrolledPerson.unit_credit_code == code)
        if self.caller.role == "regulator":
            stmt = stmt.where(EnrolledPerson.district == self.caller.district)
        enrolled = self.db.session.scalars(stmt.order_by(EnrolledPerson.year.desc(), EnrolledPerson.id)).all()
        keys = list(dict.fromkeys(p.person_key for p in enrolled))
        certs = self.db.session.execute(
            select(Certificate, TrainingClass).join(TrainingClass, TrainingClass.id == Certificate.class_id).where(
                Certificate.agency_id == self.db.agency, Certificate.person_key.in_(keys))
            .order_by(Certificate.issued_at, Certificate.id)).all() if keys else []
        hours = defaultdict(dict)
        if keys:
            for key, year, total in self.db.session.execute(
                    select(HoursEntry.person_key, HoursEntry.year, func.sum(HoursEntry.hours)).where(
                        HoursEntry.agency_id == self.db.agency, HoursEntry.person_key.in_(keys))
                    .group_by(HoursEntry.person_key, HoursEntry.year)):
                hours[key][str(year)] = int(total)
        full = self.caller.is_staff
        by_key = defaultdict(list)
        for cert, klass in certs:
            by_key[cert.person_key].append({
                "number": cert.number, "status": cert.status, "class_id": klass.id, "class_title": klass.title,
                "institution": klass.institution.name, "year": cert.year, "class_hours": klass.class_hours,
                "issued_at": cert.issued_at, "revoked_reason": cert.revoked_reason,
                "verify_url": self._verify_url(cert.number)})
        people = [{"enrolment_id": p.enrolment_id, "year": p.year, "role": p.role, "status": p.status,
                   "name": p.person_name if full else mask_name(p.person_name), "id_number": p.id_masked,
                   "hours": hours.get(p.person_key, {}), "certificates": by_key.get(p.person_key, [])}
                  for p in enrolled]
        return schema_instance(schemas.UnitCertificatesOut).dump({"credit_code": code, "people": people})

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
        agency.broadcast(self.db, "training", "certificate_issued", cert.number, {
            "number": cert.number, "holder": mask_name(cert.person_name), "year": klass.year,
            "class_title": klass.title, "institution": klass.institution.name, "class_hours": klass.class_hours,
            "issued_at": now})
        return cert.number

    def _verify_url(self, number) -> str:
        return domain.verify_url(self.config.get("PUBLIC_BASE_URL") or "http://127.0.0.1:8001", number)

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
