"""Mandatory safety training enrolment (seed 004): district quotas, enrolments, progress."""
from __future__ import annotations

from sqlalchemy import func, select

from shared.auth import STAFF
from shared.db import transactional
from shared.entrypoints import rpc
from shared.districts import official_names, official_or_none
from shared.errors import Conflict, Forbidden, NotFound, ValidationFailed
from shared.pii import get_vault, mask_id_number, mask_name, mask_phone
from shared.schemas import as_credit_code, load, schema_instance
from shared.workdays import local_date, utcnow

from . import domain, schemas
from .models import DistrictQuota, Enrolment
from .roles import ENROLLERS, ENROLMENT_READERS, SAFETY_FILE_READERS


class EnrolmentRpc:

    @rpc(roles=STAFF)
    @transactional
    def load_district_quotas(self, payload):
        """A year's district quota table: loaded whole; replacing a different one is explicit and audited."""
        data = load(schemas.QuotaTableIn, payload)
        year = data["year"]
        if data["districts"] is None:
            table = domain.seed_quotas(year)
        else:
            table = {}
            for i, row in enumerate(data["districts"]):
                if row["district"] in table:
                    raise ValidationFailed("a district appears twice",
                                           {f"districts.{i}.district": [f"{row['district']} repeated"]})
                table[row["district"]] = row["quota"]
            domain.ensure_whole_quota_table(table, official_names(self.db.agency))
        existing = {q.district: q for q in self.db.session.scalars(
            select(DistrictQuota).where(DistrictQuota.agency_id == self.db.agency, DistrictQuota.year == year)
            .with_for_update())}
        previous = {d: q.quota for d, q in existing.items()}
        if previous == table:  # the same table again: nothing changes, nothing to confirm
            return self._quota_answer(year, table, replaced=False, previous_total=sum(previous.values()))
        if previous:
            domain.ensure_replacement_confirmed(year, previous, data["replace"], data["reason"])
        for district, row in existing.items():
            if district not in table:
                self.db.session.delete(row)
        for district, quota in table.items():
            if district in existing:
                existing[district].quota = quota
            else:
                self.db.session.add(DistrictQuota(agency_id=self.db.agency, year=year, district=district, quota=quota))
        total = sum(table.values())
        self.db.emit("district_quotas_loaded", year, {"year": year, "districts": table, "total": total})
        self.db.audit(self.caller, "quotas.replace" if previous else "quotas.load", "quota_table", year,
                      {"total": total, "table": table, "previous": previous or None, "reason": data["reason"]})
        return self._quota_answer(year, table, replaced=bool(previous),
                                  previous_total=sum(previous.values()) if previous else None)

    def _quota_answer(self, year, table, replaced, previous_total):
        stored = self._quotas(year)  # the answer is what is stored, not what was sent
        return schema_instance(schemas.QuotaTableOut).dump({"year": year, "districts": len(stored), "total": sum(stored.values()),
                                             "replaced": replaced, "previous_total": previous_total})

    @rpc(roles=ENROLLERS)
    @transactional
    def enrol(self, payload):
        data = load(schemas.EnrolmentIn, payload)
        unit, person, year = data["unit"], data["person"], data["year"]
        district = unit["operating_district"]
        if self.caller.role == "regulator" and district != self.caller.district:
            raise Forbidden(f"a regulator of {self.caller.district} enrols units operating there only")
        domain.ensure_enrolable(unit["staff_count"], district, set(self._quotas(year)), year)
        domain.ensure_enrolment_age(person["id_number"], local_date(utcnow()))
        taken = self.db.session.scalar(select(Enrolment.id).where(
            Enrolment.agency_id == self.db.agency, Enrolment.year == year, Enrolment.status == domain.ENROLLED,
            Enrolment.unit_credit_code == unit["credit_code"], Enrolment.role == data["role"]))
        if taken:
            raise Conflict(f"this unit already enrolled its {data['role']} for {year} (enrolment #{taken})",
                           {"role": ["one principal and one safety manager per unit per year"]})
        vault = get_vault()
        now = utcnow()
        enrolment = Enrolment(
            agency_id=self.db.agency, year=year, district=district, status=domain.ENROLLED,
            unit_name=unit["name"], unit_credit_code=unit["credit_code"], staff_count=unit["staff_count"],
            registered_district=official_or_none(unit["registered_district"], self.db.agency), industry=unit["industry"],
            organised_by=data["organised_by"], role=data["role"], person_name=person["name"],
            person_id_number=person["id_number"], person_index=vault.blind_index(person["id_number"]),
            person_id_masked=mask_id_number(person["id_number"]), person_phone=person["phone"],
            created_at=now, updated_at=now,
        )
        self.db.session.add(enrolment)
        self.db.session.flush()
        self.db.emit("trainee_enrolled", enrolment.id, {
            "enrolment_id": enrolment.id, "year": year, "district": district, "role": enrolment.role,
            "unit_name": enrolment.unit_name, "unit_credit_code": enrolment.unit_credit_code,
            "person_name": enrolment.person_name, "id_number_masked": enrolment.person_id_masked,
            "person_key": enrolment.person_index})
        self.db.audit(self.caller, "enrolment.create", "enrolment", enrolment.id, {"year": year, "district": district})
        return self._enrolment_out(enrolment)

    @rpc(roles=ENROLLERS)
    @transactional
    def cancel_enrolment(self, enrolment_id, payload):
        data = load(schemas.CancelIn, payload)
        enrolment = self._enrolment(enrolment_id)
        if not domain.ENROLMENT.may(enrolment.status, "cancel"):
            raise Conflict("the enrolment is already cancelled", {"status": [enrolment.status]})
        enrolment.status = domain.ENROLMENT.next(enrolment.status, "cancel")
        enrolment.cancellation_reason, enrolment.updated_at = data["reason"], utcnow()
        self.db.emit("enrolment_cancelled", enrolment.id, {
            "enrolment_id": enrolment.id, "year": enrolment.year, "district": enrolment.district,
            "role": enrolment.role, "person_key": enrolment.person_index, "reason": data["reason"]})
        self.db.audit(self.caller, "enrolment.cancel", "enrolment", enrolment.id, data)
        return self._enrolment_out(enrolment)

    @rpc(roles=ENROLMENT_READERS)
    def list_enrolments(self, query=None):
        params = load(schemas.EnrolmentQuery, query)
        stmt = select(Enrolment).where(Enrolment.agency_id == self.db.agency)
        if self.caller.role == "regulator":
            stmt = stmt.where(Enrolment.district == self.caller.district)
        for key in ("year", "district", "role", "status"):
            if key in params:
                stmt = stmt.where(getattr(Enrolment, key) == params[key])
        return self._page(stmt, Enrolment.id, params, self._enrolment_out)

    @rpc(roles=ENROLMENT_READERS, combinable=True)
    def enrolment_progress(self, year):
        try:
            year = int(year)
        except (TypeError, ValueError):
            raise ValidationFailed("year must be a number", {"year": ["Not a valid integer."]}) from None
        if not 2000 <= year <= 2100:
            raise ValidationFailed("year out of range", {"year": ["Must be between 2000 and 2100."]})
        quotas = self._quotas(year)
        if not quotas:
            raise NotFound(f"no district quotas loaded for {year}")
        enrolled = dict(self.db.session.execute(
            select(Enrolment.district, func.count()).where(
                Enrolment.agency_id == self.db.agency, Enrolment.year == year, Enrolment.status == domain.ENROLLED)
            .group_by(Enrolment.district)).all())
        progress = domain.enrolment_progress(quotas, enrolled)
        if self.caller.role == "regulator":
            progress["rows"] = [r for r in progress["rows"] if r.district == self.caller.district]
        return schema_instance(schemas.ProgressOut).dump(dict(progress, year=year))

    @rpc(roles=SAFETY_FILE_READERS)
    def unit_enrolments(self, credit_code):
        """The registration part of an enterprise's safety file: its enrolled principal and safety manager.

        Enrolment keeps the unit's credit code (compact, upper case) on each row, so the lookup is
        direct. An enterprise sees its own unit only, a regulator the enrolments of its district;
        ID numbers are always masked, names and phones in full for the center only.
        """
        code = as_credit_code(credit_code)
        if self.caller.role == "enterprise" and code != (self.caller.person or ""):
            raise NotFound("unit not found", {"credit_code": ["not found"]})
        stmt = select(Enrolment).where(Enrolment.agency_id == self.db.agency, Enrolment.unit_credit_code == code)
        if self.caller.role == "regulator":
            stmt = stmt.where(Enrolment.district == self.caller.district)
        rows = self.db.session.scalars(stmt.order_by(Enrolment.year.desc(), Enrolment.id)).all()
        full = self.caller.is_staff
        people = [{
            "enrolment_id": e.id, "year": e.year, "role": e.role, "role_label": domain.ENROLMENT_ROLES[e.role],
            "status": e.status, "district": e.district,
            "name": e.person_name if full else mask_name(e.person_name),
            "id_number": e.person_id_masked, "phone": e.person_phone if full else mask_phone(e.person_phone),
            "created_at": e.created_at} for e in rows]
        current = {}
        for person in people:   # newest year first: the first enrolled row per role is the current one
            if person["status"] == domain.ENROLLED:
                current.setdefault(person["role"], person["enrolment_id"])
        return schema_instance(schemas.UnitEnrolmentsOut).dump({
            "credit_code": code, "unit_name": rows[0].unit_name if rows else None,
            "principal": current.get("principal"), "safety_manager": current.get("safety_manager"),
            "enrolments": people})
