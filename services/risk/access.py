"""What every area of the risk service shares: who may see which enterprise, and lookups.

Object-level access is enforced here, once: a regulator sees its district, an
insurer the enterprises it insures (itself or its branches), an enterprise
itself, a service organisation the enterprises it was sent to. Anything else
does not exist for the caller (404, never 403, so ids cannot be probed).
"""
from __future__ import annotations

from sqlalchemy import false, or_, select

from shared.errors import NotFound, ValidationFailed
from shared.schemas import as_id

from .roles import EVERYWHERE
from .models import Enterprise, Inspection, Insurer, Organisation, Policy, ServiceRequest, Technician


class Lookups:
    # ---- access ------------------------------------------------------------------------------

    def _insurer_ids(self) -> list[int]:
        """The insurer a token is bound to and its branches."""
        own = self.caller.unit_id or 0
        branches = self.db.session.scalars(select(Insurer.id).where(
            Insurer.agency_id == self.db.agency, Insurer.parent_id == own)).all()
        return [own, *branches]

    def _enterprise_filter(self):
        """A WHERE clause on Enterprise limiting rows to what the caller may see."""
        role = self.caller.role
        if role in EVERYWHERE:
            return Enterprise.agency_id == self.db.agency
        if role == "regulator":
            return Enterprise.district == (self.caller.district or "")
        if role == "insurer":
            return Enterprise.id.in_(select(Policy.enterprise_id).where(Policy.insurer_id.in_(self._insurer_ids())))
        if role == "enterprise":
            return Enterprise.credit_code == (self.caller.person or "")
        if role == "service_org":
            own = self.caller.unit_id or 0
            return or_(Enterprise.id.in_(select(Inspection.enterprise_id).where(Inspection.organisation_id == own)),
                       Enterprise.id.in_(select(ServiceRequest.enterprise_id)
                                         .where(ServiceRequest.organisation_id == own)))
        return false()

    def _enterprise(self, enterprise_id, field: str = "enterprise_id") -> Enterprise:
        eid = as_id(enterprise_id, field)
        row = self.db.session.scalar(select(Enterprise).where(
            Enterprise.id == eid, Enterprise.agency_id == self.db.agency, self._enterprise_filter()))
        if row is None:
            raise NotFound(f"enterprise {eid} not found", {field: ["not found"]})
        return row

    def _is_mine(self, enterprise: Enterprise) -> bool:
        return self.caller.role == "enterprise" and enterprise.credit_code == self.caller.person

    def _own_insurer(self, insurer_id: int) -> bool:
        return self.caller.role != "insurer" or insurer_id in self._insurer_ids()

    def _own_organisation(self, organisation_id: int) -> bool:
        """A service organisation sees its own records (its technicians) only; other roles are not bound to one."""
        return self.caller.role != "service_org" or organisation_id == self.caller.unit_id

    # ---- lookups -----------------------------------------------------------------------------

    def _row(self, model, row_id, field: str, label: str):
        rid = as_id(row_id, field)
        row = self.db.session.get(model, rid)
        if row is None or getattr(row, "agency_id", self.db.agency) != self.db.agency:
            raise NotFound(f"{label} {rid} not found", {field: ["not found"]})
        return row

    def _ref(self, model, row_id, field: str, label: str):
        """A referenced row in a body: a well-formed id of a row that does not exist is a 404 naming the field
        (the request's shape is right; what it names is missing), a malformed one a 400 (``as_id``)."""
        try:
            return self._row(model, row_id, field, label)
        except NotFound:
            raise NotFound(f"{label} {row_id} not found", {field: [f"no {label} {row_id}"]}) from None

    def _insurer(self, insurer_id, field="insurer_id") -> Insurer:
        return self._ref(Insurer, insurer_id, field, "insurer")

    def _organisation(self, organisation_id, field="organisation_id") -> Organisation:
        return self._ref(Organisation, organisation_id, field, "organisation")

    def _technician(self, technician_id, organisation_id=None, field="technician_id") -> Technician:
        tech = self._ref(Technician, technician_id, field, "technician")
        if organisation_id is not None and tech.organisation_id != organisation_id:
            raise ValidationFailed("the technician works for another organisation",
                                   {field: [f"not a technician of organisation {organisation_id}"]})
        return tech

    def _check_files(self, keys: list[str], field: str = "photos") -> list[str]:
        for key in keys:
            if not (self.files.root / key).is_file():
                raise ValidationFailed("unknown photo", {field: [f"{key} was not uploaded"]})
        return keys
