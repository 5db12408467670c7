"""The yearly inspection obligation: plan, assignment, scheduling, visits and re-inspections."""
from __future__ import annotations

from datetime import date

from sqlalchemy import insert, select

from shared.db import transactional
from shared.entrypoints import rpc
from shared.errors import NotFound, RuleViolation, ValidationFailed
from shared.schemas import load, paginate, schema_instance, with_values
from shared.workdays import local_date, utcnow

from . import domain, roles, schemas
from .models import Enterprise, Hazard, Inspection, MajorReport, Policy, ReinspectionItem



class InspectionsMixin:
    @rpc(roles=roles.STAFF)
    @transactional
    def generate_plan(self, payload):
        """Every policy of the year is due one on-site inspection; running it again adds only new policies."""
        year = load(schemas.PlanIn, payload)["year"]
        planned = set(self.db.session.scalars(select(Inspection.policy_id).where(
            Inspection.agency_id == self.db.agency, Inspection.year == year, Inspection.kind == "routine")).all())
        policies = self.db.session.execute(select(Policy.id, Policy.enterprise_id, Policy.insurer_id, Policy.period_end)
                                           .where(Policy.agency_id == self.db.agency, Policy.year == year)).all()
        now = utcnow()
        rows = [dict(agency_id=self.db.agency, plan_key=f"policy:{pid}", kind="routine", enterprise_id=eid,
                     policy_id=pid, insurer_id=iid, year=year, due_by=end, status=domain.PLANNED, photos=[],
                     created_at=now, updated_at=now)
                for pid, eid, iid, end in policies if pid not in planned]
        for start in range(0, len(rows), 2000):
            self.db.session.execute(insert(Inspection), rows[start:start + 2000])
        result = {"year": year, "created": len(rows), "due": len(policies)}
        self.db.emit("inspection_plan_generated", year, result)
        self.db.audit(self.caller, "inspection.plan", "plan", year, result)
        return schema_instance(schemas.PlanOut).dump(result)

    @rpc(roles=roles.READERS)
    def list_inspections(self, query=None):
        params = load(schemas.InspectionQuery, query)
        stmt = select(Inspection).join(Enterprise, Enterprise.id == Inspection.enterprise_id).where(
            Inspection.agency_id == self.db.agency, self._enterprise_filter())
        if self.caller.role == "service_org":
            stmt = stmt.where(Inspection.organisation_id == self.caller.unit_id)
        for key in ("year", "status", "insurer_id", "organisation_id", "enterprise_id"):
            if key in params:
                stmt = stmt.where(getattr(Inspection, key) == params[key])
        page = paginate(self.db.session, stmt, Inspection.id, params, lambda row: row)
        page["items"] = self._inspections_out(page["items"])  # hazards and items fetched for the page at once
        return page

    @rpc(roles=roles.READERS)
    def get_inspection(self, inspection_id):
        return self._inspections_out([self._inspection(inspection_id)])[0]

    @rpc(roles=roles.UNDERWRITERS)
    @transactional
    def assign_inspection(self, inspection_id, payload):
        """The dispatch center (or the paying insurer) sends an organisation and technician."""
        data = load(schemas.AssignIn, payload)
        inspection = self._inspection(inspection_id)
        if not self._own_insurer(inspection.insurer_id):
            raise NotFound(f"inspection {inspection.id} not found")
        org = self._organisation(data["organisation_id"])
        tech = self._technician(data["technician_id"], org.id)
        inspection.status = domain.next_inspection_status(inspection.status, "assign")
        inspection.organisation_id, inspection.technician_id = org.id, tech.id
        if data["scheduled_for"] is not None:
            inspection.status = domain.next_inspection_status(inspection.status, "schedule")
            inspection.scheduled_for = data["scheduled_for"]
        self._inspection_changed(inspection, "inspection.assign", data)
        return self._inspections_out([inspection])[0]

    @rpc(roles=roles.VISITORS)
    @transactional
    def record_visit(self, inspection_id, payload):
        """The visit record: time, technician, findings, photos; hazards found; a re-inspection's outcomes."""
        data = load(schemas.VisitIn, payload)
        inspection = self._inspection(inspection_id)
        if self.caller.role == "service_org" and inspection.organisation_id != self.caller.unit_id:
            raise NotFound(f"inspection {inspection.id} not found")
        if data["visited_at"] > utcnow():
            raise ValidationFailed("a visit cannot be in the future", {"visited_at": ["is in the future"]})
        tech = self._technician(data["technician_id"], inspection.organisation_id)
        inspection.status = domain.next_inspection_status(inspection.status, "record")
        visited_on = local_date(data["visited_at"])
        inspection.visited_at, inspection.technician_id = data["visited_at"], tech.id
        inspection.findings, inspection.photos = data["findings"], self._check_files(data["photos"])
        inspection.on_time = domain.done_on_time(visited_on, inspection.due_by)
        enterprise = self.db.session.get(Enterprise, inspection.enterprise_id)
        if inspection.kind == "reinspection":
            inspection.result = self._judge_items(inspection, data["items"])
        elif data["items"]:
            raise ValidationFailed("items belong to a re-inspection", {"items": ["only for a re-inspection"]})
        for found in data["hazards"]:
            self._new_hazard(inspection, enterprise, found, visited_on)
        if data["cost_fen"]:
            inspection.cost_fen = data["cost_fen"]
            self._post(inspection.insurer_id, inspection.year, "debit", data["cost_fen"], f"inspection:{inspection.id}",
                       f"企业{enterprise.id}隐患排查服务", enterprise.district)
        self._inspection_changed(inspection, "inspection.record",
                                 {"hazards": len(data["hazards"]), "result": inspection.result})
        return self._inspections_out([inspection])[0]

    @rpc(roles=roles.UNDERWRITERS)
    @transactional
    def create_reinspection(self, inspection_id, payload):
        """A re-inspection linked to the original, carrying only the hazards still open."""
        data = load(schemas.ReinspectionIn, payload)
        original = self._inspection(inspection_id)
        if original.parent_id is not None:
            original = self._inspection(original.parent_id)
        if not self._own_insurer(original.insurer_id):
            raise NotFound(f"inspection {original.id} not found")
        if original.status != domain.DONE:
            raise RuleViolation("re-inspect only after the visit", {"status": [f"is {original.status}"]},
                                rule="reinspect_before_visit")
        chain = select(Inspection.id).where((Inspection.id == original.id) | (Inspection.parent_id == original.id))
        open_items = self.db.session.scalars(select(Hazard).where(
            Hazard.inspection_id.in_(chain), Hazard.status.in_(domain.OPEN_HAZARD)).order_by(Hazard.id)).all()
        if not open_items:
            raise RuleViolation("every hazard of this inspection is closed", {"inspection_id": ["nothing open"]},
                                rule="nothing_to_reinspect")
        now = utcnow()
        re = Inspection(agency_id=self.db.agency, kind="reinspection", parent_id=original.id,
                        enterprise_id=original.enterprise_id, policy_id=original.policy_id,
                        insurer_id=original.insurer_id, year=original.year, due_by=_due_by(original, open_items),
                        status=domain.ASSIGNED, organisation_id=original.organisation_id,
                        technician_id=original.technician_id, scheduled_for=data["scheduled_for"], photos=[],
                        created_at=now, updated_at=now)
        if data["technician_id"] is not None:
            re.technician_id = self._technician(data["technician_id"], original.organisation_id).id
        self.db.session.add(re)
        self.db.session.flush()
        self.db.session.add_all([ReinspectionItem(inspection_id=re.id, hazard_id=h.id) for h in open_items])
        self.db.session.flush()
        self._inspection_changed(re, "inspection.reinspect", {"original": original.id, "items": len(open_items)})
        return self._inspections_out([re])[0]

    # ---- helpers -----------------------------------------------------------------------------

    def _judge_items(self, inspection, outcomes) -> str:
        items = {i.hazard_id: i for i in self.db.session.scalars(
            select(ReinspectionItem).where(ReinspectionItem.inspection_id == inspection.id)).all()}
        given = {o["hazard_id"]: o for o in outcomes}
        if set(given) != set(items):
            raise ValidationFailed("judge every open item, and only those", {"items": [
                f"expected hazards {sorted(items)}, got {sorted(given)}"]})
        failed = 0
        for hazard_id, item in sorted(items.items()):
            outcome = given[hazard_id]
            hazard = self.db.session.get(Hazard, hazard_id)
            action = "pass" if outcome["passed"] else "fail"
            hazard.status = domain.next_hazard_status(hazard.status, action)
            hazard.updated_at = utcnow()
            if action == "pass":
                hazard.closed_at = hazard.updated_at
            else:
                failed += 1
            item.outcome, item.note = ("passed" if outcome["passed"] else "failed"), outcome["note"]
            self._hazard_changed(hazard, {"pass": "closed", "fail": "reopened"}[action])
        return "failed" if failed else "passed"

    def _inspection(self, inspection_id) -> Inspection:
        inspection = self._row(Inspection, inspection_id, "inspection_id", "inspection")
        self._enterprise(inspection.enterprise_id)
        return inspection

    def _inspection_changed(self, inspection, action, detail):
        inspection.updated_at = utcnow()
        self.db.emit("inspection_changed", inspection.id, dict(
            inspection_id=inspection.id, kind=inspection.kind, enterprise_id=inspection.enterprise_id,
            insurer_id=inspection.insurer_id, status=inspection.status, result=inspection.result))
        self.db.audit(self.caller, action, "inspection", inspection.id, detail)

    def _inspections_out(self, rows) -> list[dict]:
        return schema_instance(schemas.InspectionOut, many=True).dump(self._attach(rows))

    def _attach(self, rows):
        """Each inspection with its hazards and re-inspection items, as the schema dumps it."""
        ids = [r.id for r in rows]
        if ids:
            hazards = self.db.session.scalars(select(Hazard).where(Hazard.inspection_id.in_(ids))).all()
            items = self.db.session.scalars(select(ReinspectionItem).where(ReinspectionItem.inspection_id.in_(ids))).all()
        else:
            hazards, items = [], []
        return [with_values(r, hazards=[self._with_overdue(h) for h in hazards if h.inspection_id == r.id],
                            items=[i for i in items if i.inspection_id == r.id]) for r in rows]

    def _new_hazard(self, inspection, enterprise, found, visited_on) -> Hazard:
        now = utcnow()
        # never lost to the calendar: past its known years the deadline waits (see HazardsMixin._sweep)
        working_days = domain.rectification_working_days(found["level"], found["rectify_working_days"])
        deadline, pending = domain.deadline_or_pending(visited_on, working_days)
        hazard = Hazard(agency_id=self.db.agency, inspection_id=inspection.id, enterprise_id=enterprise.id,
                        level=found["level"], status=domain.FOUND, description=found["description"],
                        location=found["location"], photos=self._check_files(found["photos"], "hazards.photos"),
                        evidence=[], found_on=visited_on, working_days=working_days, deadline=deadline,
                        deadline_pending=pending,
                        created_at=now, updated_at=now)
        self.db.session.add(hazard)
        self.db.session.flush()
        self._hazard_changed(hazard, "found", enterprise)
        if hazard.level == "major":
            report = MajorReport(agency_id=self.db.agency, hazard_id=hazard.id, district=enterprise.district,
                                 reported_at=now)
            self.db.session.add(report)
            self.db.session.flush()
            self._major_event(report, hazard, enterprise, "reported")
        return hazard


def _due_by(original: Inspection, open_items) -> date:
    """The latest known rectification deadline; while every one is pending, the original's due date."""
    return max([h.deadline for h in open_items if h.deadline is not None] or [original.due_by])
