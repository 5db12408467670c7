"""Enterprises (one form or a bulk file), insurers, service organisations, technicians, sub-stations."""
from __future__ import annotations

from datetime import date

from marshmallow import ValidationError
from sqlalchemy import select

from shared.db import transactional
from shared.entrypoints import rpc
from shared.errors import Conflict, NotFound, ValidationFailed
from shared.pii import mask_phone
from shared.documents import decode_upload
from shared.schemas import load, paginate, schema_instance
from shared.workdays import utcnow

from . import domain, roles, schemas, tables
from .models import Enterprise, Insurer, Organisation, Policy, Substation, Technician

PHOTO_TYPES = schemas.PHOTO_TYPES
PHOTO_MAX_BYTES = 8 * 1024 * 1024
MAX_IMPORT_ROWS = 200_000

# Bulk-file columns: the Chinese header a template carries, or the field name itself.
COLUMNS = {
    "统一社会信用代码": "credit_code", "企业名称": "name", "区": "district", "镇街": "town", "行业": "industry",
    "从业人数": "staff_count", "联系人": "contact_name", "联系电话": "contact_phone", "经度": "longitude",
    "纬度": "latitude", "保险机构": "insurer", "保单年度": "year", "起保日期": "period_start",
    "终保日期": "period_end", "参保人数": "insured_workers",
}
ENTERPRISE_FIELDS = ("name", "district", "town", "industry", "staff_count", "contact_name", "contact_phone",
                     "longitude", "latitude", "baseline_risk")
NUMBERS = {"staff_count": int, "year": int, "insured_workers": int, "longitude": float, "latitude": float}


class EnterprisesMixin:
    # ---- enterprises -------------------------------------------------------------------------

    @rpc(roles=roles.STAFF)
    @transactional
    def register_enterprise(self, payload):
        data = load(schemas.EnterpriseIn, payload)
        if self.db.session.scalar(select(Enterprise.id).where(
                Enterprise.agency_id == self.db.agency, Enterprise.credit_code == data["credit_code"])):
            raise Conflict("an enterprise with this credit code exists", {"credit_code": ["already registered"]})
        enterprise = self._new_enterprise(data)
        self.db.session.flush()
        self.db.emit("enterprises_imported", enterprise.id, {"created": 1, "updated": 0,
                                                             "credit_codes": [enterprise.credit_code]})
        self.db.audit(self.caller, "enterprise.register", "enterprise", enterprise.id, {"name": enterprise.name})
        return schema_instance(schemas.EnterpriseOut).dump(enterprise)

    def _new_enterprise(self, data) -> Enterprise:
        now = utcnow()
        enterprise = Enterprise(agency_id=self.db.agency, credit_code=data["credit_code"],
                                tier=domain.tier_of(data["industry"]), created_at=now, updated_at=now,
                                phone_masked=mask_phone(data.get("contact_phone")),
                                **{k: data.get(k) for k in ENTERPRISE_FIELDS})
        self.db.session.add(enterprise)
        return enterprise

    @rpc(roles=roles.READERS)
    def get_enterprise(self, enterprise_id):
        return schema_instance(schemas.EnterpriseOut).dump(self._enterprise(enterprise_id))

    @rpc(roles=roles.READERS)
    def list_enterprises(self, query=None):
        params = load(schemas.EnterpriseQuery, query)
        stmt = select(Enterprise).where(Enterprise.agency_id == self.db.agency, self._enterprise_filter())
        for key in ("district", "town", "industry", "tier"):
            if key in params:
                stmt = stmt.where(getattr(Enterprise, key) == params[key])
        if "q" in params:
            stmt = stmt.where(Enterprise.name.contains(params["q"], autoescape=True))
        return paginate(self.db.session, stmt, Enterprise.id, params, schemas.EnterpriseOut().dump)

    @rpc(roles=roles.STAFF)
    @transactional
    def import_enterprises(self, upload):
        """A CSV/XLSX of enterprises, optionally with this year's policy on the same row.

        Each row is validated on its own: bad rows are reported with their number and
        fields, good rows are kept. The credit code is the key, so importing the same
        file again changes nothing.
        """
        raw = decode_upload(upload)
        rows = tables.read_table(raw, str(upload.get("filename") or ""))
        if len(rows) > MAX_IMPORT_ROWS:
            raise ValidationFailed("too many rows", {"file": [f"at most {MAX_IMPORT_ROWS} rows"]})
        existing = {e.credit_code: e for e in self.db.session.scalars(
            select(Enterprise).where(Enterprise.agency_id == self.db.agency)).all()}
        insurers = {i.name: i for i in self.db.session.scalars(
            select(Insurer).where(Insurer.agency_id == self.db.agency)).all()}
        result = {"rows": len(rows), "created": 0, "updated": 0, "unchanged": 0, "policies": 0, "errors": []}
        wanted_policies, touched = [], []
        seen = set()
        loader = schemas.EnterpriseIn()
        for number, raw_row in enumerate(rows, start=2):  # row 1 is the header
            row = {COLUMNS.get(k, k): v for k, v in raw_row.items() if v not in (None, "")}
            policy_part = {k: row.pop(k) for k in ("insurer", "year", "period_start", "period_end", "insured_workers")
                           if k in row}
            try:
                row = _numbers(row)
                data = loader.load(row)
                policy = self._policy_row(policy_part, insurers) if policy_part else None
            except ValidationError as err:
                result["errors"].append({"row": number, "fields": err.messages})
                continue
            except ValidationFailed as err:
                result["errors"].append({"row": number, "fields": err.fields})
                continue
            code = data["credit_code"]
            if code in seen:
                result["errors"].append({"row": number, "fields": {"credit_code": ["repeats an earlier row"]}})
                continue
            seen.add(code)
            enterprise = existing.get(code)
            if enterprise is None:
                enterprise = existing[code] = self._new_enterprise(data)
                result["created"] += 1
                touched.append(code)
            elif self._refresh(enterprise, data):
                result["updated"] += 1
                touched.append(code)
            else:
                result["unchanged"] += 1
            if policy:
                wanted_policies.append((enterprise, policy))
        self.db.session.flush()
        result["policies"] = self._import_policies(wanted_policies)
        if touched or result["policies"]:
            self.db.emit("enterprises_imported", "import", {"created": result["created"], "updated": result["updated"],
                                                            "credit_codes": touched[:100],
                                                            "policies": result["policies"]})
        self.db.audit(self.caller, "enterprise.import", "enterprise", "import",
                      {k: v for k, v in result.items() if k != "errors"} | {"errors": len(result["errors"])})
        return schema_instance(schemas.ImportOut).dump(result)

    def _refresh(self, enterprise, data) -> bool:
        changed = False
        for key in ENTERPRISE_FIELDS:
            if key in data and data[key] is not None and getattr(enterprise, key) != data[key]:
                setattr(enterprise, key, data[key])
                changed = True
        if changed:
            enterprise.tier = domain.tier_of(enterprise.industry)
            enterprise.phone_masked = mask_phone(enterprise.contact_phone)
            enterprise.updated_at = utcnow()
        return changed

    def _policy_row(self, part: dict, insurers: dict) -> dict:
        missing = [k for k in ("insurer", "year", "period_start", "period_end", "insured_workers") if k not in part]
        if missing:
            raise ValidationFailed("incomplete policy", {k: ["required when a policy is given"] for k in missing})
        insurer = insurers.get(part["insurer"])
        if insurer is None:
            raise ValidationFailed("unknown insurer", {"insurer": [f"no insurer named {part['insurer']}"]})
        try:
            data = schema_instance(schemas.PolicyIn).load({
                "enterprise_id": 1, "insurer_id": insurer.id, "year": int(part["year"]),
                "period_start": _iso(part["period_start"]), "period_end": _iso(part["period_end"]),
                "insured_workers": int(float(part["insured_workers"]))})
        except (TypeError, ValueError, OverflowError):
            raise ValidationFailed("bad policy numbers", {"year": ["year and insured_workers must be numbers"]}) from None
        return dict(data, insurer=insurer)

    def _import_policies(self, wanted) -> int:
        """Issue the policies a file names, skipping those already issued (idempotent)."""
        if not wanted:
            return 0
        created = 0
        by_year: dict[int, list] = {}
        for enterprise, data in wanted:
            by_year.setdefault(data["year"], []).append((enterprise, data))
        for year, items in by_year.items():
            have = set(self.db.session.scalars(select(Policy.enterprise_id).where(
                Policy.agency_id == self.db.agency, Policy.year == year)).all())
            previous = self._previous_claims([e.id for e, _ in items], year)
            issued, announced = [], []
            for enterprise, data in items:
                if enterprise.id in have:
                    continue  # issued before: a re-import announces nothing again
                have.add(enterprise.id)
                policy = self._issue(enterprise, data["insurer"], data, previous, emit=False)
                issued.append((policy, enterprise.district))
                announced.append((policy, enterprise))
            self.db.session.flush()
            self._credit_many(issued)
            # one policy_issued per new policy, as a form issues it; written to the outbox in one statement
            self.db.emit_many("policy_issued", [(p.id, self._issued_event(p, e)) for p, e in announced])
            created += len(issued)
        return created

    # ---- insurers, organisations, technicians, sub-stations ---------------------------------

    @rpc(roles=roles.STAFF)
    @transactional
    def create_insurer(self, payload):
        data = load(schemas.InsurerIn, payload)
        if data["parent_id"] is not None:
            self._insurer(data["parent_id"], "parent_id")
        row = self._unique_named(Insurer, data)
        return schema_instance(schemas.InsurerOut).dump(row)

    @rpc(roles=roles.READERS)
    def list_insurers(self):
        return schema_instance(schemas.InsurerOut, many=True).dump(self.db.session.scalars(
            select(Insurer).where(Insurer.agency_id == self.db.agency).order_by(Insurer.id)).all())

    @rpc(roles=roles.STAFF)
    @transactional
    def create_organisation(self, payload):
        return schema_instance(schemas.OrganisationOut).dump(self._unique_named(Organisation, load(schemas.OrganisationIn, payload)))

    @rpc(roles=roles.READERS)
    def list_organisations(self):
        return schema_instance(schemas.OrganisationOut, many=True).dump(self.db.session.scalars(
            select(Organisation).where(Organisation.agency_id == self.db.agency).order_by(Organisation.id)).all())

    @rpc(roles=roles.STAFF)
    @transactional
    def create_technician(self, payload):
        data = load(schemas.TechnicianIn, payload)
        self._organisation(data["organisation_id"])
        tech = Technician(agency_id=self.db.agency, phone_masked=mask_phone(data["phone"]), created_at=utcnow(), **data)
        self.db.session.add(tech)
        self.db.session.flush()
        self.db.audit(self.caller, "technician.create", "technician", tech.id, {"organisation_id": tech.organisation_id})
        return schema_instance(schemas.TechnicianOut).dump(tech)

    @rpc(roles=roles.READERS)
    def list_technicians(self, organisation_id):
        org = self._row(Organisation, organisation_id, "organisation_id", "organisation")
        if not self._own_organisation(org.id):   # another organisation's staff do not exist for it
            raise NotFound(f"organisation {org.id} not found", {"organisation_id": ["not found"]})
        return schema_instance(schemas.TechnicianOut, many=True).dump(self.db.session.scalars(
            select(Technician).where(Technician.organisation_id == org.id).order_by(Technician.id)).all())

    @rpc(roles=roles.STAFF)
    @transactional
    def create_substation(self, payload):
        data = load(schemas.SubstationIn, payload)
        if data["organisation_id"] is not None:
            self._organisation(data["organisation_id"])
        return schema_instance(schemas.SubstationOut).dump(self._unique_named(Substation, data))

    @rpc(roles=roles.READERS)
    def list_substations(self):
        return schema_instance(schemas.SubstationOut, many=True).dump(self.db.session.scalars(
            select(Substation).where(Substation.agency_id == self.db.agency).order_by(Substation.id)).all())

    def _unique_named(self, model, data):
        if self.db.session.scalar(select(model.id).where(model.agency_id == self.db.agency, model.name == data["name"])):
            raise Conflict(f"{data['name']!r} exists", {"name": ["already exists"]})
        row = model(agency_id=self.db.agency, created_at=utcnow(), **data)
        self.db.session.add(row)
        self.db.session.flush()
        self.db.audit(self.caller, f"{model.__tablename__}.create", model.__tablename__, row.id, {"name": row.name})
        return row

    # ---- photos ------------------------------------------------------------------------------

    @rpc(roles=roles.PHOTO_SENDERS)
    def upload_photo(self, upload):
        """A photo for a visit record, a hazard or rectification evidence; the key goes in the form."""
        stored = self.files.put(decode_upload(upload), "file", PHOTO_TYPES, PHOTO_MAX_BYTES)
        return schema_instance(schemas.FileOut).dump(stored)


def _numbers(row: dict) -> dict:
    """Spreadsheet cells arrive as text ("35", "35.0"); the schema wants numbers."""
    out = dict(row)
    errors = {}
    for key, kind in NUMBERS.items():
        if key in out and isinstance(out[key], str):
            try:
                out[key] = kind(float(out[key])) if kind is int else kind(out[key])
            except (ValueError, OverflowError):
                errors[key] = ["Not a valid number."]
    if errors:
        raise ValidationError(errors)
    return out


def _iso(value) -> str:
    text = str(value).strip()[:10]
    try:
        return date.fromisoformat(text.replace("/", "-")).isoformat()
    except ValueError:
        return text  # the schema names the field
