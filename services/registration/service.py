"""The registration service: nameko glue around the rules in ``domain``."""
from __future__ import annotations

import base64
import binascii

from shared.entrypoints import PlatformRpc, rpc
from sqlalchemy import func, select

from shared.auth import STAFF, CallerProvider
from shared.db import Database, transactional
from shared.errors import Conflict, Forbidden, NotFound, ValidationFailed
from shared.pii import get_vault, mask_id_number, mask_phone
from shared.providers import FileStore
from shared.schemas import as_id, load, paginate
from shared.workdays import date_deadline_passed, utcnow

from . import domain, schemas
from .roles import ENROLLERS, ENROLMENT_READERS, NOMINATORS, QUOTA_READERS, READERS
from .models import Base, Candidate, Cycle, DistrictQuota, Enrolment, Unit, platform

PHOTO_TYPES = ("image/jpeg", "image/png")
PHOTO_MAX_BYTES = 2 * 1024 * 1024


class RegistrationService(PlatformRpc):
    name = "registration"

    db = Database(Base.metadata, platform)
    caller = CallerProvider()
    files = FileStore()

    # ---- cycles ------------------------------------------------------------------------------

    @rpc(roles=STAFF)
    @transactional
    def create_cycle(self, payload):
        data = load(schemas.CycleIn, payload)
        if self._cycle_or_none(data["code"]):
            raise Conflict(f"cycle {data['code']} exists", {"code": ["already exists"]})
        now = utcnow()
        cycle = Cycle(agency_id=self.db.agency, code=data["code"], title=data["title"], deadline=data["deadline"],
                      minimums=domain.merge_minimums(data["minimums"]), created_at=now, updated_at=now)
        self.db.session.add(cycle)
        self.db.session.flush()
        self.db.emit("cycle_created", cycle.code, self._cycle_event(cycle))
        self.db.audit(self.caller, "cycle.create", "cycle", cycle.code, data)
        return self._cycle_out(cycle)

    @rpc(roles=STAFF)
    @transactional
    def update_cycle(self, code, payload):
        data = load(schemas.CyclePatch, payload)
        cycle = self._cycle(code)
        changed = []
        for field in ("title", "deadline"):
            if field in data and data[field] != getattr(cycle, field):
                setattr(cycle, field, data[field])
                changed.append(field)
        if "minimums" in data:
            minimums = domain.merge_minimums(data["minimums"])
            if minimums != cycle.minimums:
                cycle.minimums = minimums
                changed.append("minimums")
        if changed:
            cycle.updated_at = utcnow()
            self.db.emit("cycle_updated", cycle.code, dict(self._cycle_event(cycle), changed=changed))
            self.db.audit(self.caller, "cycle.update", "cycle", cycle.code, {"changed": changed})
        return self._cycle_out(cycle)

    @rpc(roles=READERS)
    def list_cycles(self):
        cycles = self.db.session.scalars(
            select(Cycle).where(Cycle.agency_id == self.db.agency).order_by(Cycle.code.desc())).all()
        return [self._cycle_out(c) for c in cycles]

    @rpc(roles=READERS)
    def get_cycle(self, code):
        return self._cycle_out(self._cycle(code))

    # ---- units -------------------------------------------------------------------------------

    @rpc(roles=STAFF)
    @transactional
    def create_unit(self, payload):
        data = load(schemas.UnitIn, payload)
        exists = self.db.session.scalar(
            select(Unit.id).where(Unit.agency_id == self.db.agency, Unit.name == data["name"]))
        if exists:
            raise Conflict(f"unit {data['name']!r} exists (#{exists})", {"name": ["already exists"]})
        unit = Unit(agency_id=self.db.agency, created_at=utcnow(), **data)
        self.db.session.add(unit)
        self.db.session.flush()
        self.db.emit("unit_created", unit.id, {"unit_id": unit.id, "name": unit.name, "kind": unit.kind,
                                               "district": unit.district})
        self.db.audit(self.caller, "unit.create", "unit", unit.id, {"name": unit.name, "kind": unit.kind})
        return self._unit_out(unit)

    @rpc(roles=READERS)
    def list_units(self, query=None):
        params = load(schemas.UnitQuery, query)
        stmt = select(Unit).where(Unit.agency_id == self.db.agency)
        if self.caller.role == "unit":
            stmt = stmt.where(Unit.id == self.caller.unit_id)
        if self.caller.role == "regulator":
            stmt = stmt.where(Unit.district == self.caller.district)
        if "kind" in params:
            stmt = stmt.where(Unit.kind == params["kind"])
        if "district" in params:
            stmt = stmt.where(Unit.district == params["district"])
        return self._page(stmt, Unit.id, params, self._unit_out)

    @rpc(roles=READERS)
    def get_unit(self, unit_id):
        unit = self._unit(unit_id)
        if self.caller.role == "unit" and unit.id != self.caller.unit_id:
            raise NotFound(f"unit {unit_id} not found")
        return self._unit_out(unit)

    # ---- candidates --------------------------------------------------------------------------

    @rpc(roles=NOMINATORS)
    @transactional
    def register_candidate(self, payload):
        data = load(schemas.CandidateIn, payload)
        cycle = self._cycle(data.pop("cycle"), field="cycle")
        domain.ensure_registration_open(cycle.code, cycle.deadline, utcnow())
        unit = self._nominating_unit(data.pop("unit_id"))
        birth_month, gender = domain.reconcile_identity(data["id_number"], data.get("birth_month"), data.get("gender"))
        id_index = get_vault().blind_index(data["id_number"])
        self._ensure_not_registered(cycle, id_index)
        photo = self._store_photo(data.pop("photo", None))
        now = utcnow()
        candidate = Candidate(
            agency_id=self.db.agency, cycle_id=cycle.id, unit_id=unit.id, status=domain.SUBMITTED, version=1,
            birth_month=birth_month, gender=gender, id_index=id_index,
            id_masked=mask_id_number(data["id_number"]),
            photo_key=photo.key if photo else None, photo_sha256=photo.sha256 if photo else None,
            created_at=now, updated_at=now,
            **{k: v for k, v in data.items() if k not in ("birth_month", "gender")},
        )
        candidate.cycle, candidate.unit = cycle, unit
        self.db.session.add(candidate)
        self.db.session.flush()
        self.db.emit("candidate_registered", candidate.id, dict(
            self._ref(candidate), unit_kind=unit.kind, district=unit.district, name=candidate.name,
            id_number_masked=candidate.id_masked, person_key=candidate.id_index))
        self.db.audit(self.caller, "candidate.register", "candidate", candidate.id, {"cycle": cycle.code})
        return self._candidate_out(candidate)

    @rpc(roles=NOMINATORS)
    @transactional
    def edit_candidate(self, candidate_id, payload):
        data = load(schemas.CandidatePatch, payload)
        candidate = self._candidate(candidate_id, own_unit_or_staff=True)
        expected = data.pop("expected_version", None)
        if expected is not None and expected != candidate.version:
            raise Conflict("the form changed meanwhile; reload it", {"expected_version": [
                f"is {expected}, current is {candidate.version}"]})
        domain.next_status(candidate.status, "edit")
        domain.ensure_registration_open(candidate.cycle.code, candidate.cycle.deadline, utcnow())
        if "id_number" in data:
            id_index = get_vault().blind_index(data["id_number"])
            if id_index != candidate.id_index:
                self._ensure_not_registered(candidate.cycle, id_index)
                candidate.id_index, candidate.id_masked = id_index, mask_id_number(data["id_number"])
        id_number = data.get("id_number", candidate.id_number)
        month, gender = domain.reconcile_identity(id_number, data.get("birth_month"), data.get("gender"))
        data["birth_month"], data["gender"] = month, gender
        if "photo" in data:
            photo = self._store_photo(data.pop("photo"))
            data["photo_key"], data["photo_sha256"] = (photo.key, photo.sha256) if photo else (None, None)
        changed = sorted(k for k, v in data.items() if getattr(candidate, k) != v)
        for key in changed:
            setattr(candidate, key, data[key])
        if changed:
            candidate.version += 1
            candidate.updated_at = utcnow()
            self.db.emit("candidate_edited", candidate.id, dict(self._ref(candidate), changed=changed))
            self.db.audit(self.caller, "candidate.edit", "candidate", candidate.id, {"changed": changed})
        return self._candidate_out(candidate)

    @rpc(roles=READERS)
    def get_candidate(self, candidate_id):
        return self._candidate_out(self._candidate(candidate_id))

    @rpc(roles=STAFF)
    @transactional
    def reveal_identity(self, candidate_id):
        """The unmasked ID number and phone, for the center's staff only; every read is audited."""
        candidate = self._candidate(candidate_id)
        self.db.audit(self.caller, "pii.reveal", "candidate", candidate.id, {"fields": ["id_number", "phone"]})
        return {"id": candidate.id, "name": candidate.name, "id_number": candidate.id_number,
                "phone": candidate.phone}

    @rpc(roles=READERS)
    def list_candidates(self, query=None):
        params = load(schemas.CandidateQuery, query)
        stmt = select(Candidate).join(Unit, Candidate.unit_id == Unit.id).where(
            Candidate.agency_id == self.db.agency)
        stmt = self._visible(stmt)
        if "cycle" in params:
            stmt = stmt.join(Cycle, Candidate.cycle_id == Cycle.id).where(Cycle.code == params["cycle"])
        if "status" in params:
            stmt = stmt.where(Candidate.status == params["status"])
        if "unit_id" in params:
            stmt = stmt.where(Candidate.unit_id == params["unit_id"])
        if "district" in params:
            stmt = stmt.where(Unit.district == params["district"])
        if "kind" in params:
            stmt = stmt.where(Unit.kind == params["kind"])
        if "q" in params:
            stmt = stmt.where(Candidate.name.contains(params["q"], autoescape=True))
        return self._page(stmt, Candidate.id, params, self._candidate_out)

    @rpc(roles=NOMINATORS)
    @transactional
    def unit_approve(self, candidate_id, payload):
        data = load(schemas.SealIn, payload)
        candidate = self._candidate(candidate_id, own_unit_or_staff=True)
        candidate.status = domain.next_status(candidate.status, "unit_approve")
        candidate.unit_signed_by, candidate.unit_opinion = data["signed_by"], data["opinion"]
        candidate.unit_sealed_at = self._touch(candidate)
        self.db.emit("candidate_unit_approved", candidate.id, dict(
            self._ref(candidate), signed_by=data["signed_by"], opinion=data["opinion"],
            sealed_at=candidate.unit_sealed_at))
        self.db.audit(self.caller, "candidate.unit_approve", "candidate", candidate.id, data)
        return self._candidate_out(candidate)

    @rpc(roles=STAFF)
    @transactional
    def center_approve(self, candidate_id, payload):
        data = load(schemas.SealIn, payload)
        candidate = self._candidate(candidate_id)
        candidate.status = domain.next_status(candidate.status, "center_approve")
        candidate.center_signed_by, candidate.center_opinion = data["signed_by"], data["opinion"]
        candidate.center_sealed_at = self._touch(candidate)
        self.db.emit("candidate_approved", candidate.id, dict(
            self._ref(candidate), signed_by=data["signed_by"], opinion=data["opinion"],
            sealed_at=candidate.center_sealed_at, unit_kind=candidate.unit.kind, district=candidate.unit.district,
            name=candidate.name, gender=candidate.gender, id_number_masked=candidate.id_masked,
            person_key=candidate.id_index, registered_at=candidate.created_at))
        self.db.audit(self.caller, "candidate.center_approve", "candidate", candidate.id, data)
        return self._candidate_out(candidate)

    @rpc(roles=NOMINATORS)
    @transactional
    def reject_candidate(self, candidate_id, payload):
        data = load(schemas.RejectIn, payload)
        candidate = self._candidate(candidate_id, own_unit_or_staff=True)
        stage = domain.rejection_stage(candidate.status)
        if stage == "center" and not self.caller.is_staff:
            raise Forbidden("after the unit's seal only the center may reject")
        candidate.status = domain.next_status(candidate.status, "reject")
        candidate.rejected_stage, candidate.rejection_reason = stage, data["reason"]
        self._touch(candidate)
        self.db.emit("candidate_rejected", candidate.id, dict(self._ref(candidate), stage=stage, **data))
        self.db.audit(self.caller, "candidate.reject", "candidate", candidate.id, dict(data, stage=stage))
        return self._candidate_out(candidate)

    @rpc(roles=NOMINATORS)
    @transactional
    def withdraw_candidate(self, candidate_id, payload):
        data = load(schemas.WithdrawIn, payload)
        candidate = self._candidate(candidate_id, own_unit_or_staff=True)
        previous = candidate.status
        candidate.status = domain.next_status(previous, "withdraw")
        candidate.withdrawal_reason = data["reason"]
        self._touch(candidate)
        self.db.emit("candidate_withdrawn", candidate.id, dict(
            self._ref(candidate), previous_status=previous, reason=data["reason"]))
        self.db.audit(self.caller, "candidate.withdraw", "candidate", candidate.id, data)
        return self._candidate_out(candidate)

    @rpc(roles=QUOTA_READERS)
    def quota_report(self, code):
        cycle = self._cycle(code)
        unit_stmt = select(Unit).where(Unit.agency_id == self.db.agency).order_by(Unit.kind, Unit.district, Unit.id)
        if self.caller.role == "regulator":
            unit_stmt = unit_stmt.where(Unit.district == self.caller.district)
        units = self.db.session.scalars(unit_stmt).all()
        counts = dict(self.db.session.execute(
            select(Candidate.unit_id, func.count()).where(
                Candidate.cycle_id == cycle.id, Candidate.status.in_(domain.ACTIVE)).group_by(Candidate.unit_id)
        ).all())
        report = domain.quota_report(units, counts, cycle.minimums, cycle.deadline, utcnow())
        return schemas.QuotaReportOut().dump(dict(report, cycle=cycle.code, deadline=cycle.deadline))

    # ---- enrolment (seed 004) ----------------------------------------------------------------

    @rpc(roles=STAFF)
    @transactional
    def load_district_quotas(self, payload):
        data = load(schemas.QuotaTableIn, payload)
        year = data["year"]
        if data["districts"] is None:
            table = domain.seed_quotas(year)
        else:
            table = {}
            for row in data["districts"]:
                if row["district"] in table:
                    raise ValidationFailed("a district appears twice", {"districts": [f"{row['district']} repeated"]})
                table[row["district"]] = row["quota"]
        existing = {q.district: q for q in self.db.session.scalars(
            select(DistrictQuota).where(DistrictQuota.agency_id == self.db.agency, DistrictQuota.year == year))}
        for district, quota in table.items():
            if district in existing:
                existing[district].quota = quota
            else:
                self.db.session.add(DistrictQuota(agency_id=self.db.agency, year=year, district=district, quota=quota))
        total = sum(table.values())
        self.db.emit("district_quotas_loaded", year, {"year": year, "districts": table, "total": total})
        self.db.audit(self.caller, "quotas.load", "quota_table", year, {"total": total})
        return {"year": year, "districts": len(table), "total": total}

    @rpc(roles=ENROLLERS)
    @transactional
    def enrol(self, payload):
        data = load(schemas.EnrolmentIn, payload)
        unit, person, year = data["unit"], data["person"], data["year"]
        district = unit["operating_district"]
        if self.caller.role == "regulator" and district != self.caller.district:
            raise Forbidden(f"a regulator of {self.caller.district} enrols units operating there only")
        domain.ensure_enrolable(unit["staff_count"], district, set(self._quotas(year)), year)
        taken = self.db.session.scalar(select(Enrolment.id).where(
            Enrolment.agency_id == self.db.agency, Enrolment.year == year, Enrolment.status == "enrolled",
            Enrolment.unit_credit_code == unit["credit_code"], Enrolment.role == data["role"]))
        if taken:
            raise Conflict(f"this unit already enrolled its {data['role']} for {year} (enrolment #{taken})",
                           {"role": ["one principal and one safety manager per unit per year"]})
        vault = get_vault()
        now = utcnow()
        enrolment = Enrolment(
            agency_id=self.db.agency, year=year, district=district, status="enrolled",
            unit_name=unit["name"], unit_credit_code=unit["credit_code"], staff_count=unit["staff_count"],
            registered_district=unit["registered_district"], industry=unit["industry"],
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
        if enrolment.status != "enrolled":
            raise Conflict("the enrolment is already cancelled", {"status": [enrolment.status]})
        enrolment.status, enrolment.cancellation_reason, enrolment.updated_at = "cancelled", data["reason"], utcnow()
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

    @rpc(roles=ENROLMENT_READERS)
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
                Enrolment.agency_id == self.db.agency, Enrolment.year == year, Enrolment.status == "enrolled")
            .group_by(Enrolment.district)).all())
        progress = domain.enrolment_progress(quotas, enrolled)
        if self.caller.role == "regulator":
            progress["rows"] = [r for r in progress["rows"] if r.district == self.caller.district]
        return schemas.ProgressOut().dump(dict(progress, year=year))

    # ---- helpers -----------------------------------------------------------------------------

    def _require_reader(self):
        self.caller.require(*READERS)

    def _cycle_or_none(self, code):
        return self.db.session.scalar(select(Cycle).where(Cycle.agency_id == self.db.agency, Cycle.code == str(code)))

    def _cycle(self, code, field=None):
        cycle = self._cycle_or_none(code)
        if cycle is None:
            if field:  # named in a body: the body is wrong, not the URL
                raise ValidationFailed(f"no cycle {code}", {field: [f"unknown cycle {code!r}"]})
            raise NotFound(f"cycle {code} not found")
        return cycle

    def _unit(self, unit_id):
        unit = self.db.session.get(Unit, as_id(unit_id))
        if unit is None or unit.agency_id != self.db.agency:
            raise NotFound(f"unit {unit_id} not found")
        return unit

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
            raise ValidationFailed("unknown unit", {"unit_id": [f"no unit {unit_id}"]}) from None

    def _ensure_not_registered(self, cycle, id_index):
        existing = self.db.session.scalar(
            select(Candidate.id).where(Candidate.cycle_id == cycle.id, Candidate.id_index == id_index))
        if existing:
            raise Conflict(f"this ID number is already registered in cycle {cycle.code}",
                           {"id_number": ["already registered in this cycle"]})

    def _visible(self, stmt):
        if self.caller.role == "unit":
            return stmt.where(Candidate.unit_id == self.caller.unit_id)
        if self.caller.role == "regulator":
            return stmt.where(Unit.district == self.caller.district)
        return stmt

    def _candidate(self, candidate_id, own_unit_or_staff=False):
        self._require_reader()
        candidate = self.db.session.get(Candidate, as_id(candidate_id))
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

    def _store_photo(self, photo):
        if not photo:
            return None
        try:
            raw = base64.b64decode(photo["data_base64"], validate=True)
        except (binascii.Error, ValueError):
            raise ValidationFailed("photo is not base64", {"photo.data_base64": ["not valid base64"]}) from None
        return self.files.put(raw, "photo", PHOTO_TYPES, PHOTO_MAX_BYTES)

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
        return schemas.CycleOut().dump({
            "code": cycle.code, "title": cycle.title, "deadline": cycle.deadline, "minimums": cycle.minimums,
            "open": not date_deadline_passed(cycle.deadline, utcnow()),
            "created_at": cycle.created_at, "updated_at": cycle.updated_at})

    def _sees_contact(self, unit_id) -> bool:
        return self.caller.is_staff or (self.caller.role == "unit" and self.caller.unit_id == unit_id)

    def _unit_out(self, unit) -> dict:
        phone = unit.contact_phone
        return schemas.UnitOut().dump({
            "id": unit.id, "name": unit.name, "kind": unit.kind, "kind_label": domain.UNIT_KINDS[unit.kind],
            "district": unit.district, "credit_code": unit.credit_code, "contact_name": unit.contact_name,
            "contact_phone": phone if self._sees_contact(unit.id) else mask_phone(phone),
            "created_at": unit.created_at})

    def _candidate_out(self, c) -> dict:
        return schemas.CandidateOut().dump({
            "id": c.id, "cycle": c.cycle.code, "unit_id": c.unit_id, "unit_name": c.unit.name,
            "unit_kind": c.unit.kind, "district": c.unit.district, "status": c.status, "version": c.version,
            "name": c.name, "birth_month": c.birth_month, "gender": c.gender, "title": c.title, "email": c.email,
            "phone": c.phone if self._sees_contact(c.unit_id) else mask_phone(c.phone),
            "education": c.education, "id_number": c.id_masked, "school_major": c.school_major,
            "employer_position": c.employer_position, "deeds": c.deeds,
            "recommendation_reason": c.recommendation_reason, "remarks": c.remarks,
            "speech_draft": c.speech_draft, "photo_sha256": c.photo_sha256,
            "unit_seal": {"signed_by": c.unit_signed_by, "opinion": c.unit_opinion, "sealed_at": c.unit_sealed_at},
            "center_seal": {"signed_by": c.center_signed_by, "opinion": c.center_opinion,
                            "sealed_at": c.center_sealed_at},
            "rejected_stage": c.rejected_stage, "rejection_reason": c.rejection_reason,
            "withdrawal_reason": c.withdrawal_reason, "created_at": c.created_at, "updated_at": c.updated_at})

    def _enrolment_out(self, e) -> dict:
        return schemas.EnrolmentOut().dump({
            "id": e.id, "year": e.year, "district": e.district, "status": e.status, "role": e.role,
            "unit_name": e.unit_name, "unit_credit_code": e.unit_credit_code, "staff_count": e.staff_count,
            "registered_district": e.registered_district, "industry": e.industry, "organised_by": e.organised_by,
            "person_name": e.person_name, "person_id_number": e.person_id_masked,
            "person_phone": e.person_phone if self.caller.is_staff else mask_phone(e.person_phone),
            "cancellation_reason": e.cancellation_reason, "created_at": e.created_at})
