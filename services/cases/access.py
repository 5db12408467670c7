"""Loading, access and output helpers every area of the service uses.

Access, in one place: staff (admin, operator) see everything; an ``organisation``
principal (bound to its organisation id) sees its own organisation, files and cases;
an ``expert`` (bound to their expert code) sees only the cases assigned to them. A case
outside the caller's view answers 404, the same as a case that does not exist, so a
conflicted expert cannot even learn that it exists.
"""
from __future__ import annotations

from sqlalchemy import select

from shared.auth import STAFF
from shared.errors import Forbidden, NotFound, ValidationFailed
from shared.pii import mask_phone
from shared.schemas import as_id, schema_instance, with_values
from shared.workdays import date_deadline_passed, utcnow

from . import domain, schemas
from .roles import READERS
from .schemas import as_year
from .models import Assignment, CampaignRow, Case, CaseFile, DishonestEntry, Expert, Organisation, SiteVisit


class Lookups:
    """Mixed into the service class: needs ``db``, ``caller`` and ``files``."""

    # ---- loading ------------------------------------------------------------------------------

    def _campaign_row(self, year, field=None, lock=False) -> CampaignRow:
        year = as_year(year, field or "year")
        stmt = select(CampaignRow).where(CampaignRow.agency_id == self.db.agency, CampaignRow.year == year)
        row = self.db.session.scalar(stmt.with_for_update() if lock else stmt)
        if row is None:
            if field:
                raise ValidationFailed(f"no campaign {year}", {field: [f"no campaign for {year}"]})
            raise NotFound(f"campaign {year} not found")
        return row

    @staticmethod
    def _campaign(row: CampaignRow) -> domain.Campaign:
        return domain.campaign_from_data(schema_instance(schemas.CampaignIn).load(_loadable(row.data)))

    def _org(self, org_id, field=None) -> Organisation:
        org = self.db.session.get(Organisation, as_id(org_id, field or "id"))
        if org is None or org.agency_id != self.db.agency:
            if field:
                raise NotFound(f"organisation {org_id} not found", {field: [f"no organisation {org_id}"]})
            raise NotFound(f"organisation {org_id} not found")
        return org

    def _visible_org(self, org_id) -> Organisation:
        """An organisation by id as the caller may see it: another organisation's answers 404, as a missing one."""
        org = self._org(org_id)
        if self.caller.role == "organisation" and org.id != self.caller.unit_id:
            raise NotFound(f"organisation {org_id} not found")
        return org

    def _own_expert(self, code) -> Expert:
        """An expert by code; an expert principal reaches its own only, another's answers 404 as a missing one."""
        expert = self._expert_by_code(code)
        if self.caller.role == "expert" and self.caller.person != expert.code:
            raise NotFound(f"expert {str(code)[:64]} not found")
        return expert

    def _acting_org(self, org_id) -> Organisation:
        """The organisation a write is for: an organisation principal acts for itself only."""
        if self.caller.role == "organisation":
            if org_id is not None and org_id != self.caller.unit_id:
                raise Forbidden("an organisation acts for itself only")
            return self._org(self.caller.unit_id, "organisation_id")
        self.caller.require(*STAFF)
        if org_id is None:
            raise ValidationFailed("which organisation?", {"organisation_id": ["Missing data for required field."]})
        return self._org(org_id, "organisation_id")

    def _expert_by_code(self, code, field=None) -> Expert:
        expert = self.db.session.scalar(select(Expert).where(Expert.agency_id == self.db.agency,
                                                             Expert.code == str(code)[:64]))
        if expert is None:
            if field:
                raise ValidationFailed("unknown expert", {field: [f"no expert {str(code)[:64]!r}"]})
            raise NotFound(f"expert {str(code)[:64]} not found")
        return expert

    def _case(self, case_id, write=False) -> Case:
        self.caller.require("organisation", "expert", *READERS)
        case = self.db.session.get(Case, as_id(case_id, "case_id"))
        if case is None or case.agency_id != self.db.agency or not self._sees(case):
            raise NotFound(f"case {case_id} not found")
        if write and self.caller.role not in ("organisation", *STAFF):
            raise Forbidden(f"role {self.caller.role!r} may not change a case")
        return case

    def _sees(self, case: Case) -> bool:
        role = self.caller.role
        if role == "organisation":
            return case.organisation_id == self.caller.unit_id
        if role == "expert":
            return self._my_assignment(case.id) is not None
        return role in READERS

    def _my_assignment(self, case_id) -> Assignment | None:
        if not self.caller.person:
            return None
        return self.db.session.scalar(select(Assignment).join(Expert, Assignment.expert_id == Expert.id).where(
            Assignment.case_id == case_id, Expert.code == self.caller.person, Expert.agency_id == self.db.agency))

    def _listed_codes(self) -> set[str]:
        return set(self.db.session.scalars(
            select(DishonestEntry.credit_code).where(DishonestEntry.agency_id == self.db.agency)))

    @staticmethod
    def _org_codes(org: Organisation) -> list[str]:
        return [c for c in (org.credit_code, org.parent_credit_code) if c]

    # ---- output ----------------------------------------------------------------------------

    def _sees_contact(self, org_id) -> bool:
        return self.caller.is_staff or (self.caller.role == "organisation" and self.caller.unit_id == org_id)

    def _org_out(self, org: Organisation) -> dict:
        phone = org.contact_phone if self._sees_contact(org.id) else mask_phone(org.contact_phone)
        return schema_instance(schemas.OrganisationOut).dump(with_values(org, kind_label=domain.ORG_KINDS[org.kind],
                                                          contact_phone=phone))

    def _campaign_out(self, row: CampaignRow) -> dict:
        deadline = domain.date.fromisoformat(row.data["deadline"])
        return schema_instance(schemas.CampaignOut).dump(dict(
            row.data, deadline=deadline, open=not date_deadline_passed(deadline, utcnow()),
            counting_rule=domain.COUNTING_RULE, levels_confirmed_at=row.levels_confirmed_at,
            notice_first_day=row.notice_first_day, notice_ends_on=row.notice_ends_on, released_at=row.released_at))

    def _case_out(self, c: Case) -> dict:
        files = self.db.session.scalars(select(CaseFile).where(CaseFile.case_id == c.id).order_by(CaseFile.id)).all()
        visits = self.db.session.scalars(select(SiteVisit).where(SiteVisit.case_id == c.id)
                                         .order_by(SiteVisit.id)).all()
        campaign = c.campaign.data
        categories = {x["code"]: x["label"] for x in campaign["categories"]}
        recommendation = dict(c.recommendation) if c.recommendation else None
        if recommendation and self._sees_contact(c.organisation_id):
            contact = dict(recommendation.get("contact") or {})
            contact.update(mobile=c.recommender_mobile, office_phone=c.recommender_office_phone)
            recommendation["contact"] = contact
        return schema_instance(schemas.CaseOut).dump(with_values(
            c, campaign=c.campaign.year, organisation_name=c.organisation.name,
            status_label=domain.STATUS_LABELS[c.status], channel_label=domain.CHANNELS[c.channel],
            category_label=categories.get(c.category, c.category), recommendation=recommendation, files=files,
            site_visits=[{"visited_on": v.visited_on.isoformat(), "place": v.place, "visitors": v.visitors,
                          "findings": v.findings, "photos": [p["filename"] for p in v.photos]} for v in visits],
            level_label=domain.LEVELS.get(c.level) if c.level else None))

    @staticmethod
    def _ref(c: Case) -> dict:
        return {"case_id": c.id, "campaign": c.campaign.year, "organisation_id": c.organisation_id,
                "status": c.status}

    def _move(self, case: Case, action: str) -> str:
        previous = case.status
        case.status = domain.CASE.next(previous, action)
        case.version += 1
        case.updated_at = utcnow()
        return previous


def _loadable(data: dict) -> dict:
    """Stored campaign data back into schema input (labels are output only)."""
    out = dict(data)
    out["scoring_form"] = [{"principle": p["principle"], "weight": p["weight"]} for p in data["scoring_form"]]
    return out

