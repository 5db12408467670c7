"""Campaigns, organisations, the dishonesty list and experts."""
from __future__ import annotations

from sqlalchemy import delete, func, insert, select

from shared.db import transactional
from shared.entrypoints import rpc
from shared.errors import Conflict, ValidationFailed
from shared.pii import mask_phone
from shared.schemas import load, schema_instance, with_values
from shared.workdays import utcnow

from . import domain, roles, schemas
from .access import Lookups
from .schemas import as_year
from .models import Assignment, CampaignRow, Case, DishonestEntry, Expert, ExpertConflict, Organisation


class SetupRpc(Lookups):

    # ---- campaigns -----------------------------------------------------------------------------

    @rpc(roles=roles.STAFF)
    @transactional
    def load_campaign(self, year, payload):
        """The year's campaign from the shipped file ({"published": 2023}) or from the body."""
        year = as_year(year)
        if isinstance(payload, dict) and set(payload) == {"published"}:
            published = payload["published"]
            if not isinstance(published, int) or isinstance(published, bool) or published != year:
                raise ValidationFailed("published names this year", {"published": [f"must be {year}"]})
            payload = domain.published_campaign(year)
        data = load(schemas.CampaignIn, payload)
        if data["year"] != year:
            raise ValidationFailed("the body is for another year", {"year": [f"must be {year} (the URL's)"]})
        campaign = domain.campaign_from_data(data)
        row = self.db.session.scalar(select(CampaignRow).where(
            CampaignRow.agency_id == self.db.agency, CampaignRow.year == year).with_for_update())
        now = utcnow()
        if row is not None:
            domain.ensure_campaign_replaceable(self.db.session.scalar(
                select(func.count()).select_from(Case).where(Case.campaign_id == row.id)))
            row.data, row.updated_at = domain.campaign_to_data(campaign), now
        else:
            row = CampaignRow(agency_id=self.db.agency, year=year, data=domain.campaign_to_data(campaign),
                              created_at=now, updated_at=now)
            self.db.session.add(row)
        self.db.session.flush()
        self.db.emit("campaign_loaded", year, {"year": year, "title": campaign.title, "deadline": campaign.deadline,
                                               "replaced": row.created_at != now})
        self.db.audit(self.caller, "campaign.load", "campaign", year, {"title": campaign.title})
        return self._campaign_out(row)

    @rpc(roles=roles.CASE_READERS)
    def get_campaign(self, year):
        return self._campaign_out(self._campaign_row(year))

    # ---- organisations ---------------------------------------------------------------------------

    @rpc(roles=roles.STAFF)
    @transactional
    def register_organisation(self, payload):
        data = load(schemas.OrganisationIn, payload)
        exists = self.db.session.scalar(select(Organisation.id).where(
            Organisation.agency_id == self.db.agency, Organisation.credit_code == data["credit_code"]))
        if exists:
            raise Conflict(f"credit code {data['credit_code']} is registered (#{exists})",
                           {"credit_code": ["already registered"]})
        data.pop("branch")
        now = utcnow()
        declared = data["declared_no_bad_record"] or data["declared_not_dishonest"]
        org = Organisation(agency_id=self.db.agency, created_at=now, declared_at=now if declared else None, **data)
        self.db.session.add(org)
        self.db.session.flush()
        self.db.emit("organisation_registered", org.id, {"organisation_id": org.id, "name": org.name,
                                                         "credit_code": org.credit_code, "kind": org.kind})
        self.db.audit(self.caller, "organisation.register", "organisation", org.id, {"name": org.name})
        return self._org_out(org)

    @rpc(roles=roles.ORG_READERS)
    def get_organisation(self, org_id):
        org = self._visible_org(org_id)
        return self._org_out(org)

    @rpc(roles=roles.ORG)
    @transactional
    def declare_eligibility(self, org_id, payload):
        """The organisation's own declaration (申报条件 二); staff may record it from the signed form."""
        org = self._visible_org(org_id)
        data = load(schemas.DeclarationIn, payload)
        org.declared_no_bad_record = data["declared_no_bad_record"]
        org.declared_not_dishonest = data["declared_not_dishonest"]
        org.declared_at = utcnow()
        self.db.emit("organisation_declared", org.id, dict(data, organisation_id=org.id))
        self.db.audit(self.caller, "organisation.declare", "organisation", org.id, data)
        return self._org_out(org)

    @rpc(roles=roles.READERS)
    def list_organisations(self):
        rows = self.db.session.scalars(select(Organisation).where(Organisation.agency_id == self.db.agency)
                                       .order_by(Organisation.id).limit(5000)).all()
        return [self._org_out(o) for o in rows]

    @rpc(roles=roles.STAFF)
    @transactional
    def load_dishonesty_list(self, payload):
        """Replace the work-safety dishonesty list (CSV of credit codes)."""
        codes = domain.parse_dishonesty_csv(load(schemas.DishonestyListIn, payload)["csv"])
        now = utcnow()
        self.db.session.execute(delete(DishonestEntry).where(DishonestEntry.agency_id == self.db.agency))
        if codes:
            self.db.session.execute(insert(DishonestEntry), [
                {"agency_id": self.db.agency, "credit_code": c, "loaded_at": now} for c in codes])
        self.db.emit("dishonesty_list_loaded", self.db.agency, {"codes": len(codes)})
        self.db.audit(self.caller, "dishonesty_list.load", "dishonesty_list", self.db.agency, {"codes": len(codes)})
        return schema_instance(schemas.DishonestyListOut).dump({"codes": len(codes), "loaded_at": now})

    # ---- experts ------------------------------------------------------------------------------------

    @rpc(roles=roles.STAFF)
    @transactional
    def register_expert(self, payload):
        data = load(schemas.ExpertIn, payload)
        if self.db.session.scalar(select(Expert.id).where(Expert.agency_id == self.db.agency,
                                                          Expert.code == data["code"])):
            raise Conflict(f"expert {data['code']} exists", {"code": ["already exists"]})
        expert = Expert(agency_id=self.db.agency, created_at=utcnow(), **data)
        self.db.session.add(expert)
        self.db.session.flush()
        self.db.audit(self.caller, "expert.register", "expert", expert.code, {"name": expert.name})
        return self._expert_out(expert, 0)

    @rpc(roles=roles.STAFF)
    def list_experts(self):
        load_by = dict(self.db.session.execute(select(Assignment.expert_id, func.count()).group_by(
            Assignment.expert_id)).all())
        rows = self.db.session.scalars(select(Expert).where(Expert.agency_id == self.db.agency)
                                       .order_by(Expert.code)).all()
        return [self._expert_out(e, load_by.get(e.id, 0)) for e in rows]

    @rpc(roles=roles.EXPERT_STAFF)
    @transactional
    def declare_conflict(self, code, payload):
        """An expert (or staff for them) declares a conflict with an organisation or a case."""
        expert = self._own_expert(code)
        data = load(schemas.ConflictIn, payload)
        row = ExpertConflict(expert_id=expert.id, credit_code=data["credit_code"], case_id=data["case_id"],
                             reason=data["reason"], declared_at=utcnow())
        self.db.session.add(row)
        self.db.session.flush()
        # Only the expert and staff ever see this; it is audited, not emitted.
        self.db.audit(self.caller, "expert.declare_conflict", "expert", expert.code,
                      {"credit_code": row.credit_code, "case_id": row.case_id})
        self._strike_off(expert, row)
        return schema_instance(schemas.ConflictOut).dump(row)

    def _strike_off(self, expert, conflict):
        """A conflict declared after assignment takes the expert (and any sheet) off panels still in review;
        the operator tops the panel up. A case already levelled keeps its panel: the declaration is on record."""
        rows = self.db.session.execute(select(Assignment, Case).join(Case, Assignment.case_id == Case.id).where(
            Assignment.expert_id == expert.id, Case.status.in_((domain.IN_REVIEW, domain.DELIBERATION)))).all()
        for assignment, case in rows:
            codes = {c for c in (case.organisation.credit_code, case.organisation.parent_credit_code) if c}
            if conflict.case_id != case.id and conflict.credit_code not in codes:
                continue
            self.db.session.delete(assignment)
            self.db.session.flush()
            if case.status == domain.DELIBERATION:
                self._move(case, "reopen_review")
            else:
                case.version += 1
            # who stood down, and why, stays off the event: only the panel's new size travels
            remaining = self.db.session.scalar(select(func.count()).select_from(Assignment).where(
                Assignment.case_id == case.id))
            self.db.emit("case_panel_changed", case.id, dict(self._ref(case), experts=remaining))
            self.db.audit(self.caller, "case.unassign", "case", case.id, {"reason": "declared_conflict"})

    @rpc(roles=roles.EXPERT_STAFF)
    def list_conflicts(self, code):
        expert = self._own_expert(code)
        rows = self.db.session.scalars(select(ExpertConflict).where(ExpertConflict.expert_id == expert.id)
                                       .order_by(ExpertConflict.id)).all()
        return schema_instance(schemas.ConflictOut, many=True).dump(rows)

    def _expert_out(self, e: Expert, assigned: int) -> dict:
        phone = e.phone if self.caller.is_staff else mask_phone(e.phone)
        return schema_instance(schemas.ExpertOut).dump(with_values(e, phone=phone, assigned=assigned))
