"""Partner agencies' certificates: the replica kept from their broadcasts (docs/agencies.md).

A fact is applied when it is newer than what the replica holds (``as_of``, the issuer's
event time), so a late or repeated message never turns a revoked certificate valid again;
the inbox skips a message seen before.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from shared.agency import from_partners
from shared.errors import RuleViolation
from shared.workdays import utcnow

from . import domain, schemas
from .models import PartnerCertificate


class PartnerFacts:

    @from_partners("training", "certificate_issued", schema=schemas.PartnerCertificateIssued)
    def on_partner_certificate_issued(self, event):
        if not self.db.claim(event):
            return
        d = event.data
        row, when = self._replica(event, d["number"])
        row.holder, row.year, row.class_title = d["holder"], d["year"], d["class_title"]
        row.institution, row.class_hours, row.issued_at = d["institution"], d["class_hours"], d["issued_at"]
        if row.revoked_at is None and (row.as_of is None or when >= row.as_of):
            row.status = domain.VALID
        row.as_of = max(row.as_of or when, when)

    @from_partners("training", "certificate_revoked", schema=schemas.PartnerCertificateRevoked)
    def on_partner_certificate_revoked(self, event):
        if not self.db.claim(event):
            return
        d = event.data
        row, when = self._replica(event, d["number"])
        # revocation is final for a number: whatever arrives later cannot undo it
        row.status, row.revoked_at, row.revoked_reason = domain.REVOKED, d["revoked_at"], d["reason"]
        row.as_of = max(row.as_of or when, when)

    def _replica(self, event, number):
        issuer = domain.certificate_agency(number)
        if issuer != event.agency.lower():
            # a partner speaks for its own certificates only
            raise RuleViolation(f"{event.agency} 不能代 {issuer} 发布证书", {"number": [f"issued by {issuer}"]},
                                rule="agency_not_issuer")
        when = datetime.fromisoformat(event.time.replace("Z", "+00:00"))
        row = self.db.session.scalar(select(PartnerCertificate).where(
            PartnerCertificate.agency_id == self.db.agency, PartnerCertificate.number == number))
        if row is None:
            row = PartnerCertificate(agency_id=self.db.agency, issuer=event.agency.lower(), number=number,
                                     status=domain.VALID, as_of=None, received_at=utcnow())
            self.db.session.add(row)
        row.received_at = utcnow()
        return row, when

    def _partner_certificate(self, number):
        return self.db.session.scalar(select(PartnerCertificate).where(
            PartnerCertificate.agency_id == self.db.agency, PartnerCertificate.number == number))
