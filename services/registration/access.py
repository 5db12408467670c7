"""Lookups with their access checks, and the output of records."""
from __future__ import annotations

from sqlalchemy import bindparam, select

from shared.auth import STAFF
from shared.errors import Conflict, Forbidden, NotFound, ValidationFailed
from shared.pii import mask_phone
from shared.schemas import agency_row, as_id, paginate, schema_instance, with_values
from shared.workdays import date_deadline_passed, utcnow

from . import domain, schemas
from .models import Candidate, Cycle, DistrictQuota, Enrolment, Unit
from .roles import READERS


# Built once: a statement reused with new parameters skips its construction and reuses its cache key
# (the cycle is read on nearly every call).
_CYCLE_BY_CODE = select(Cycle).where(Cycle.agency_id == bindparam("agency"), Cycle.code == bindparam("code"))


class Lookups:

    def _require_reader(self):
        self.caller.require(*READERS)

    def _cycle_or_none(self, code):
        return self.db.session.scalar(_CYCLE_BY_CODE, {"agency": self.db.agency, "code": str(code)})

    def _cycle(self, code, field=None):
        cycle = self._cycle_or_none(code)
        if cycle is None:
            if field:  # named in a body: a well-formed code of no cycle, 404 naming the field
                raise NotFound(f"cycle {code} not found", {field: [f"unknown cycle {code!r}"]})
            raise NotFound(f"cycle {code} not found")
        return cycle

    def _unit(self, unit_id):
        return agency_row(self.db.session, Unit, self.db.agency, unit_id, not_found="unit")

    def _nominating_unit(self, unit_id):
        if self.caller.role == "unit":
            if unit_id is not None and unit_id != self.caller.unit_id:
                raise Forbidden("a unit nominates for itself only")
            unit_id = self.caller.unit_id
        if unit_id is None:
            raise ValidationFailed("which unit nominates?", {"unit_id": ["Missing data for required field."]})
        try:
            return self._unit(unit_id)
        except NotFound:
            raise NotFound(f"unit {unit_id} not found", {"unit_id": [f"no unit {unit_id}"]}) from None

    def _ensure_not_registered(self, cycle, id_index):
        existing = self.db.session.scalar(
            select(Candidate.id).where(Candidate.cycle_id == cycle.id, Candidate.id_index == id_index))
        if existing:
            raise Conflict(f"this ID number is already registered in cycle {cycle.code}",
                           {"id_number": ["already registered in this cycle"]})

    def _ensure_ref_free(self, cycle_id, unit_id, external_ref):
        if not external_ref:
            return
        existing = self.db.session.scalar(select(Candidate.id).where(
            Candidate.cycle_id == cycle_id, Candidate.unit_id == unit_id, Candidate.external_ref == external_ref))
        if existing:
            raise Conflict(f"the unit's reference {external_ref} is already used in this cycle (candidate {existing})",
                           {"external_ref": ["already used by this unit in this cycle"]})

    def _visible(self, stmt):
        if self.caller.role == "unit":
            return stmt.where(Candidate.unit_id == self.caller.unit_id)
        if self.caller.role == "regulator":
            return stmt.where(Unit.district == self.caller.district)
        return stmt

    def _candidate(self, candidate_id, own_unit_or_staff=False, lock=False):
        self._require_reader()
        # lock: a bulk action holds the row until it commits, so a concurrent one waits and sees the result
        if lock:  # the row alone (not the joined unit and cycle), then read it afresh
            self.db.session.execute(select(Candidate.id).where(Candidate.id == as_id(candidate_id))
                                    .with_for_update())
        candidate = self.db.session.get(Candidate, as_id(candidate_id), populate_existing=lock)
        visible = candidate is not None and candidate.agency_id == self.db.agency and (
            self.caller.role != "unit" or candidate.unit_id == self.caller.unit_id) and (
            self.caller.role != "regulator" or candidate.unit.district == self.caller.district)
        if not visible:
            # the same answer whether it does not exist or is someone else's
            raise NotFound(f"candidate {candidate_id} not found")
        if own_unit_or_staff and self.caller.role not in ("unit", *STAFF):
            raise Forbidden(f"role {self.caller.role!r} may not change a registration")
        return candidate

    def _enrolment(self, enrolment_id):
        enrolment = self.db.session.get(Enrolment, as_id(enrolment_id))
        if enrolment is None or enrolment.agency_id != self.db.agency or (
                self.caller.role == "regulator" and enrolment.district != self.caller.district):
            raise NotFound(f"enrolment {enrolment_id} not found")
        return enrolment

    def _quotas(self, year) -> dict[str, int]:
        return dict(self.db.session.execute(
            select(DistrictQuota.district, DistrictQuota.quota).where(
                DistrictQuota.agency_id == self.db.agency, DistrictQuota.year == year)
            .order_by(DistrictQuota.id)).all())

    def _page(self, stmt, order_column, params, render):
        return paginate(self.db.session, stmt, order_column, params, render)

    @staticmethod
    def _touch(candidate):
        now = utcnow()
        candidate.updated_at = now
        candidate.version += 1
        return now

    @staticmethod
    def _ref(candidate) -> dict:
        return {"candidate_id": candidate.id, "cycle": candidate.cycle.code, "unit_id": candidate.unit_id,
                "status": candidate.status}

    @staticmethod
    def _cycle_event(cycle) -> dict:
        return {"cycle": cycle.code, "title": cycle.title, "deadline": cycle.deadline, "minimums": cycle.minimums}

    def _cycle_out(self, cycle) -> dict:
        return schema_instance(schemas.CycleOut).dump(with_values(cycle, open=not date_deadline_passed(cycle.deadline, utcnow())))

    def _sees_contact(self, unit_id) -> bool:
        return self.caller.is_staff or (self.caller.role == "unit" and self.caller.unit_id == unit_id)

    def _unit_out(self, unit) -> dict:
        phone = unit.contact_phone
        return schema_instance(schemas.UnitOut).dump(with_values(
            unit, kind_label=domain.UNIT_KINDS[unit.kind],
            contact_phone=phone if self._sees_contact(unit.id) else mask_phone(phone)))

    def _candidate_out(self, c) -> dict:
        return schema_instance(schemas.CandidateOut).dump(with_values(
            c, phone=c.phone if self._sees_contact(c.unit_id) else mask_phone(c.phone),
            unit_seal={"signed_by": c.unit_signed_by, "opinion": c.unit_opinion, "sealed_at": c.unit_sealed_at},
            center_seal={"signed_by": c.center_signed_by, "opinion": c.center_opinion,
                         "sealed_at": c.center_sealed_at}))

    def _enrolment_out(self, e) -> dict:
        return schema_instance(schemas.EnrolmentOut).dump(with_values(
            e, person_phone=e.person_phone if self.caller.is_staff else mask_phone(e.person_phone)))
