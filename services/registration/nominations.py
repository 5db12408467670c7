"""Programme nominations (seed 000): cycles, nominating units, candidates and their seals."""
from __future__ import annotations

import base64
import binascii

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from shared.auth import STAFF
from shared.bulk import ALREADY, APPLIED, apply_each, unique
from shared.db import transactional
from shared.entrypoints import rpc
from shared.errors import Conflict, Forbidden, NotFound, ValidationFailed
from shared.pii import get_vault, mask_id_number
from shared.schemas import load, schema_instance
from shared.workdays import utcnow

from . import domain, schemas
from .models import Candidate, Cycle, Unit
from .roles import NOMINATORS, QUOTA_READERS, READERS

PHOTO_TYPES = ("image/jpeg", "image/png")
PHOTO_MAX_BYTES = 2 * 1024 * 1024


class NominationRpc:

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

    @rpc(roles=READERS, combinable=True)
    def get_cycle(self, code):
        return self._cycle_out(self._cycle(code))


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
        # fenced like list_units: a unit sees itself, a regulator the units of its district
        if (self.caller.role == "unit" and unit.id != self.caller.unit_id) or (
                self.caller.role == "regulator" and unit.district != self.caller.district):
            raise NotFound(f"unit {unit_id} not found")
        return self._unit_out(unit)


    @rpc(roles=NOMINATORS)
    @transactional
    def register_candidate(self, payload):
        data = load(schemas.CandidateIn, payload)
        cycle = self._cycle(data.pop("cycle"), field="cycle")
        domain.ensure_registration_open(cycle.code, cycle.deadline, utcnow())
        return self._register(cycle, data)

    @rpc(roles=NOMINATORS)
    @transactional
    def bulk_register(self, payload):
        """Many registration forms (附件1) in one call: one result per form (shared.bulk), in the order sent.

        Each form is what ``register_candidate`` takes and is answered as it would be, except that a
        form whose ID number the same unit already registered in the cycle is ``already`` with that
        candidate's id: sending the same batch again, or twice at once, registers nobody twice.
        """
        data = load(schemas.BulkCandidatesIn, payload)
        forms = data["forms"]

        def apply(key):
            try:
                form = load(schemas.CandidateIn, forms[key[-1]])
            except ValidationFailed as exc:
                raise ValidationFailed(exc.message, exc.fields) from None
            cycle = self._cycle(form.pop("cycle"), field="cycle")
            domain.ensure_registration_open(cycle.code, cycle.deadline, utcnow())
            id_index = get_vault().blind_index(form["id_number"])

            def stored():
                return self.db.session.scalar(select(Candidate).where(
                    Candidate.cycle_id == cycle.id, Candidate.id_index == id_index))

            existing = stored()
            if existing is None:
                try:
                    with self.db.session.begin_nested():
                        out = self._register(cycle, dict(form))
                    return APPLIED, {"candidate_id": out["id"], "candidate_status": out["status"]}
                except IntegrityError:  # the same form registered by a concurrent call, now committed
                    existing = stored()
                    if existing is None:
                        raise
            if existing.unit_id != self._nominating_unit(form.get("unit_id")).id:
                self._ensure_not_registered(cycle, id_index)  # another unit's: the single route's 409
            return ALREADY, {"candidate_id": existing.id, "candidate_status": existing.status}

        def natural(index):
            """Forms are registered in (cycle, ID number) order, whatever order they came in: two calls
            with the same forms wait for each other on the unique key instead of deadlocking."""
            raw = forms[index] if isinstance(forms[index], dict) else {}
            return str(raw.get("cycle")), str(raw.get("id_number")).strip().upper(), index

        result = apply_each(self.db, [natural(i) for i in range(len(forms))], apply,
                            lambda key: {"index": key[-1]})
        return schema_instance(schemas.BulkCandidatesOut).dump(result)

    @rpc(roles=STAFF)
    @transactional
    def late_entry(self, payload):
        """The center enters one form into a closed window, with a reason, instead of moving the
        deadline for every unit; the form is marked and the audit trail keeps the reason."""
        data = load(schemas.LateEntryIn, payload)
        reason = data.pop("late_entry_reason").strip()
        if len(reason) < domain.LATE_ENTRY_REASON_MIN:
            raise ValidationFailed("the reason is too short", {"late_entry_reason": [
                f"give the reason in {domain.LATE_ENTRY_REASON_MIN}–2000 characters"]})
        cycle = self._cycle(data.pop("cycle"), field="cycle")
        domain.ensure_registration_closed(cycle.code, cycle.deadline, utcnow())
        return self._register(cycle, data, late_reason=reason)

    def _register(self, cycle, data, late_reason=None):
        unit = self._nominating_unit(data.pop("unit_id"))
        birth_month, gender = domain.reconcile_identity(data["id_number"], data.get("birth_month"), data.get("gender"))
        id_index = get_vault().blind_index(data["id_number"])
        self._ensure_not_registered(cycle, id_index)
        self._ensure_ref_free(cycle.id, unit.id, data.get("external_ref"))
        photo = self._store_photo(data.pop("photo", None))
        now = utcnow()
        candidate = Candidate(
            agency_id=self.db.agency, cycle_id=cycle.id, unit_id=unit.id, status=domain.SUBMITTED, version=1,
            birth_month=birth_month, gender=gender, id_index=id_index,
            id_masked=mask_id_number(data["id_number"]),
            photo_key=photo.key if photo else None, photo_sha256=photo.sha256 if photo else None,
            late_entry=late_reason is not None, late_entry_reason=late_reason,
            created_at=now, updated_at=now,
            **{k: v for k, v in data.items() if k not in ("birth_month", "gender")},
        )
        candidate.cycle, candidate.unit = cycle, unit
        self.db.session.add(candidate)
        self.db.session.flush()
        self.db.emit("candidate_registered", candidate.id, dict(
            self._ref(candidate), unit_kind=unit.kind, district=unit.district, name=candidate.name,
            id_number_masked=candidate.id_masked, person_key=candidate.id_index, late_entry=candidate.late_entry))
        if late_reason is None:
            self.db.audit(self.caller, "candidate.register", "candidate", candidate.id, {"cycle": cycle.code})
        else:
            self.db.audit(self.caller, "candidate.late_entry", "candidate", candidate.id, {
                "cycle": cycle.code, "deadline": cycle.deadline.isoformat(), "unit_id": unit.id,
                "reason": late_reason})
        return self._candidate_out(candidate)

    @rpc(roles=STAFF)
    @transactional
    def lookup_by_id_number(self, payload):
        """Staff find a person's registrations by the exact ID number, through its blind index
        (the number itself is stored encrypted); each record found is audited as looked up."""
        data = load(schemas.IdLookupIn, payload)
        stmt = select(Candidate).where(Candidate.agency_id == self.db.agency,
                                       Candidate.id_index == get_vault().blind_index(data["id_number"]))
        if data["cycle"]:
            stmt = stmt.join(Cycle, Candidate.cycle_id == Cycle.id).where(Cycle.code == data["cycle"])
        found = self.db.session.scalars(stmt.order_by(Candidate.id)).all()
        if not found:
            raise NotFound("no registration with this ID number")
        for candidate in found:
            self.db.audit(self.caller, "pii.lookup", "candidate", candidate.id, {
                "by": "id_number", "id_number": candidate.id_masked, "cycle": data["cycle"]})
        return [self._candidate_out(c) for c in found]

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
        if data.get("external_ref") and data["external_ref"] != candidate.external_ref:
            self._ensure_ref_free(candidate.cycle_id, candidate.unit_id, data["external_ref"])
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
            stmt = stmt.where(Candidate.name.contains(params["q"], autoescape=True)
                              | Candidate.external_ref.contains(params["q"], autoescape=True))
        if "external_ref" in params:
            stmt = stmt.where(Candidate.external_ref == params["external_ref"])
        return self._page(stmt, Candidate.id, params, self._candidate_out)

    @rpc(roles=NOMINATORS)
    @transactional
    def unit_approve(self, candidate_id, payload):
        data = load(schemas.SealIn, payload)
        candidate = self._candidate(candidate_id, own_unit_or_staff=True)
        self._unit_seal(candidate, data)
        return self._candidate_out(candidate)

    @rpc(roles=STAFF)
    @transactional
    def center_approve(self, candidate_id, payload):
        data = load(schemas.SealIn, payload)
        candidate = self._candidate(candidate_id)
        self._center_seal(candidate, data)
        return self._candidate_out(candidate)

    @rpc(roles=NOMINATORS)
    @transactional
    def bulk_unit_approve(self, payload):
        """The unit's seal on many candidates: one result per candidate (shared.bulk)."""
        data = load(schemas.BulkSealIn, payload)
        seal = {"signed_by": data["signed_by"], "opinion": data["opinion"]}

        def apply(candidate_id):
            candidate = self._candidate(candidate_id, own_unit_or_staff=True, lock=True)
            if candidate.status in (domain.UNIT_APPROVED, domain.APPROVED):
                return ALREADY, {"candidate_status": candidate.status}
            self._unit_seal(candidate, seal)
            return APPLIED, {"candidate_status": candidate.status}

        return self._bulk(data["candidate_ids"], apply)

    @rpc(roles=STAFF)
    @transactional
    def bulk_center_approve(self, payload):
        """The center's approval of many candidates: one result per candidate (shared.bulk)."""
        data = load(schemas.BulkSealIn, payload)
        seal = {"signed_by": data["signed_by"], "opinion": data["opinion"]}

        def apply(candidate_id):
            candidate = self._candidate(candidate_id, lock=True)
            if candidate.status == domain.APPROVED:
                return ALREADY, {"candidate_status": candidate.status}
            self._center_seal(candidate, seal)
            return APPLIED, {"candidate_status": candidate.status}

        return self._bulk(data["candidate_ids"], apply)

    def _bulk(self, candidate_ids, apply):
        result = apply_each(self.db, unique(candidate_ids, "candidate_ids"), apply,
                            lambda key: {"candidate_id": key})
        return schema_instance(schemas.BulkSealOut).dump(result)

    def _unit_seal(self, candidate, data):
        candidate.status = domain.next_status(candidate.status, "unit_approve")
        candidate.unit_signed_by, candidate.unit_opinion = data["signed_by"], data["opinion"]
        candidate.unit_sealed_at = self._touch(candidate)
        self.db.emit("candidate_unit_approved", candidate.id, dict(
            self._ref(candidate), signed_by=data["signed_by"], opinion=data["opinion"],
            sealed_at=candidate.unit_sealed_at))
        self.db.audit(self.caller, "candidate.unit_approve", "candidate", candidate.id, data)

    def _center_seal(self, candidate, data):
        candidate.status = domain.next_status(candidate.status, "center_approve")
        candidate.center_signed_by, candidate.center_opinion = data["signed_by"], data["opinion"]
        candidate.center_sealed_at = self._touch(candidate)
        self.db.emit("candidate_approved", candidate.id, dict(
            self._ref(candidate), signed_by=data["signed_by"], opinion=data["opinion"],
            sealed_at=candidate.center_sealed_at, unit_kind=candidate.unit.kind, district=candidate.unit.district,
            name=candidate.name, gender=candidate.gender, id_number_masked=candidate.id_masked,
            person_key=candidate.id_index, registered_at=candidate.created_at))
        self.db.audit(self.caller, "candidate.center_approve", "candidate", candidate.id, data)

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

    @rpc(roles=QUOTA_READERS, combinable=True)
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
        return schema_instance(schemas.QuotaReportOut).dump(dict(report, cycle=cycle.code, deadline=cycle.deadline))

    def _store_photo(self, photo):
        if not photo:
            return None
        try:
            raw = base64.b64decode(photo["data_base64"], validate=True)
        except (binascii.Error, ValueError):
            raise ValidationFailed("photo is not base64", {"photo.data_base64": ["not valid base64"]}) from None
        return self.files.put(raw, "photo", PHOTO_TYPES, PHOTO_MAX_BYTES)
