"""Hazards and their rectification, major-hazard reports, the overdue sweep, coverage and the risk map."""
from __future__ import annotations

from collections import defaultdict

from nameko.timer import timer
from sqlalchemy import func, select

from shared.db import transactional
from shared.entrypoints import rpc
from shared.errors import NotFound
from shared.schemas import load, paginate, schema_instance, with_values
from shared.workdays import utcnow

from . import domain, roles, schemas
from .models import Enterprise, Hazard, Inspection, MajorReport, Policy

SWEEP_SECONDS = 600


class HazardsMixin:
    @rpc(roles=roles.READERS)
    def list_hazards(self, query=None):
        params = load(schemas.HazardQuery, query)
        stmt = select(Hazard).join(Enterprise, Enterprise.id == Hazard.enterprise_id).where(
            Hazard.agency_id == self.db.agency, self._enterprise_filter())
        for key in ("status", "level", "enterprise_id"):
            if key in params:
                stmt = stmt.where(getattr(Hazard, key) == params[key])
        if "district" in params:
            stmt = stmt.where(Enterprise.district == params["district"])
        if "overdue" in params:
            # overdue is derived: open and past the deadline day in Shanghai
            today = domain.local_today(utcnow())
            clause = Hazard.status.in_(domain.OPEN_HAZARD) & Hazard.deadline.is_not(None) & (Hazard.deadline < today)
            stmt = stmt.where(clause if params["overdue"] else ~clause)
        return paginate(self.db.session, stmt, Hazard.id, params,
                        lambda h: schema_instance(schemas.HazardOut).dump(self._with_overdue(h)))

    @rpc(roles=roles.READERS)
    def get_hazard(self, hazard_id):
        return schema_instance(schemas.HazardOut).dump(self._with_overdue(self._hazard(hazard_id)))

    @rpc(roles=roles.ENTERPRISE_DESK)
    @transactional
    def add_evidence(self, hazard_id, payload):
        """The enterprise shows its rectification; ``done`` asks for the re-inspection."""
        data = load(schemas.EvidenceIn, payload)
        hazard = self._hazard(hazard_id)
        hazard.status = domain.next_hazard_status(hazard.status, "rectify")
        hazard.evidence = [*hazard.evidence, {"at": utcnow().isoformat(), "by": self.caller.actor, "note": data["note"],
                                              "photos": self._check_files(data["photos"])}]
        action = "rectifying"
        if data["done"]:
            hazard.status = domain.next_hazard_status(hazard.status, "request_reinspection")
            action = "awaiting_reinspection"
        hazard.updated_at = utcnow()
        self._hazard_changed(hazard, action)
        self.db.audit(self.caller, "hazard.evidence", "hazard", hazard.id, {"done": data["done"]})
        return schema_instance(schemas.HazardOut).dump(self._with_overdue(hazard))

    # ---- major hazards -----------------------------------------------------------------------

    @rpc(roles=roles.OVERSIGHT)
    def list_major_reports(self, query=None):
        stmt = select(MajorReport).where(MajorReport.agency_id == self.db.agency)
        if self.caller.role == "regulator":
            stmt = stmt.where(MajorReport.district == (self.caller.district or ""))
        return schema_instance(schemas.MajorReportOut, many=True).dump(self.db.session.scalars(stmt.order_by(MajorReport.id)).all())

    @rpc(roles=roles.ACKNOWLEDGERS)
    @transactional
    def acknowledge_major(self, report_id, payload):
        """The district regulator confirms it has seen the report; acknowledging twice changes nothing."""
        load(schemas.AckIn, payload)
        report = self._row(MajorReport, report_id, "report_id", "major-hazard report")
        if self.caller.role == "regulator" and report.district != self.caller.district:
            raise NotFound(f"major-hazard report {report.id} not found")
        if report.acknowledged_at is None:
            report.acknowledged_at, report.acknowledged_by = utcnow(), self.caller.actor
            hazard = self.db.session.get(Hazard, report.hazard_id)
            self._major_event(report, hazard, self.db.session.get(Enterprise, hazard.enterprise_id), "acknowledged")
        return schema_instance(schemas.MajorReportOut).dump(report)

    # ---- the sweep ---------------------------------------------------------------------------

    @timer(interval=SWEEP_SECONDS)
    def sweep_timer(self):
        self._sweep()

    @rpc(roles=roles.STAFF)
    def sweep(self, payload=None):
        """Emit what time made true: hazards gone overdue, major reports left unacknowledged."""
        return schema_instance(schemas.SweepOut).dump(self._sweep())

    @transactional
    def _sweep(self) -> dict:
        now = utcnow()
        today = domain.local_today(now)
        dated = self._date_pending_deadlines()
        overdue = self.db.session.scalars(select(Hazard).where(
            Hazard.agency_id == self.db.agency, Hazard.status.in_(domain.OPEN_HAZARD), Hazard.deadline < today,
            Hazard.overdue_notified_at.is_(None)).limit(5000)).all()
        for hazard in overdue:
            hazard.overdue_notified_at = now  # once per hazard: the sweep may run any number of times
            self._hazard_changed(hazard, "overdue")
        escalated = 0
        for report in self.db.session.scalars(select(MajorReport).where(
                MajorReport.agency_id == self.db.agency, MajorReport.acknowledged_at.is_(None),
                MajorReport.escalated_at.is_(None))).all():
            if domain.major_escalation_due(report.reported_at, False, now):
                report.escalated_at = now
                hazard = self.db.session.get(Hazard, report.hazard_id)
                self._major_event(report, hazard, self.db.session.get(Enterprise, hazard.enterprise_id), "escalated")
                escalated += 1
        return {"overdue": len(overdue), "escalated": escalated, "deadlines_set": dated}

    def _date_pending_deadlines(self) -> int:
        """Hazards found past the holiday calendar get their deadline once the calendar covers it."""
        dated = 0
        for hazard in self.db.session.scalars(select(Hazard).where(
                Hazard.agency_id == self.db.agency, Hazard.deadline.is_(None),
                Hazard.deadline_pending.is_not(None)).order_by(Hazard.id).limit(5000)).all():
            working_days = hazard.working_days or domain.rectification_working_days(hazard.level)
            deadline, pending = domain.deadline_or_pending(hazard.found_on, working_days)
            if deadline is None:
                continue
            hazard.deadline, hazard.deadline_pending, hazard.updated_at = deadline, pending, utcnow()
            self._hazard_changed(hazard, "deadline_set")
            self.db.audit(self.caller, "hazard.deadline", "hazard", hazard.id, {"deadline": deadline.isoformat()})
            dated += 1
        return dated

    # ---- coverage and the map ----------------------------------------------------------------

    @rpc(roles=roles.OVERSIGHT)
    def coverage(self, query=None):
        """Insured share per district and industry, inspections per insurer, hazards found and rectified."""
        year = load(schemas.CoverageQuery, query)["year"]
        district = self.caller.district if self.caller.role == "regulator" else None
        e_where = [Enterprise.agency_id == self.db.agency] + ([Enterprise.district == district] if district else [])
        grouped = self.db.session.execute(
            select(Enterprise.district, Enterprise.industry, Enterprise.tier, func.count(Enterprise.id),
                   func.count(Policy.id), func.coalesce(func.sum(Policy.insured_workers), 0),
                   func.coalesce(func.sum(Policy.premium_fen), 0))
            .outerjoin(Policy, (Policy.enterprise_id == Enterprise.id) & (Policy.year == year))
            .where(*e_where).group_by(Enterprise.district, Enterprise.industry, Enterprise.tier)
            .order_by(Enterprise.district, Enterprise.industry)).all()
        rows = [{"district": d, "industry": i, "tier": t, "enterprises": n, "insured": k,
                 "insured_share": domain.share(k, n)} for d, i, t, n, k, _, _ in grouped]
        total = sum(r["enterprises"] for r in rows)
        insured = sum(r["insured"] for r in rows)
        mandatory = [r for r in rows if r["tier"] == "mandatory"]
        m_total, m_insured = sum(r["enterprises"] for r in mandatory), sum(r["insured"] for r in mandatory)
        i_where = [Inspection.agency_id == self.db.agency, Inspection.year == year, Inspection.kind == "routine"]
        if district:
            i_where.append(Inspection.enterprise_id.in_(select(Enterprise.id).where(*e_where)))
        per_insurer = self.db.session.execute(
            select(Inspection.insurer_id, func.count(Inspection.id), func.count(Inspection.visited_at),
                   func.count(Inspection.on_time).filter(Inspection.on_time.is_(True)))
            .where(*i_where).group_by(Inspection.insurer_id).order_by(Inspection.insurer_id)).all()
        h_where = [Hazard.agency_id == self.db.agency,
                   Hazard.inspection_id.in_(select(Inspection.id).where(Inspection.year == year))]
        if district:
            h_where.append(Hazard.enterprise_id.in_(select(Enterprise.id).where(*e_where)))
        counts = dict(((lvl, st), n) for lvl, st, n in self.db.session.execute(
            select(Hazard.level, Hazard.status, func.count()).where(*h_where).group_by(Hazard.level, Hazard.status)))
        return schema_instance(schemas.CoverageOut).dump({
            "year": year, "enterprises": total, "insured": insured, "insured_share": domain.share(insured, total),
            "mandatory_enterprises": m_total, "mandatory_insured": m_insured,
            "mandatory_share": domain.share(m_insured, m_total),
            "insured_workers": sum(g[5] for g in grouped), "premium_fen": sum(g[6] for g in grouped), "rows": rows,
            "inspections": [{"insurer_id": i, "due": due, "done": done, "on_time": on_time}
                            for i, due, done, on_time in per_insurer],
            "hazards": domain.hazard_figures(counts),
            "targets": domain.targets(domain.share(insured, total), domain.share(m_insured, m_total))})

    @rpc(roles=roles.OVERSIGHT)
    def risk_map(self, query=None):
        """Open hazards per district and town as a GeoJSON FeatureCollection (points at the mean position
        of the enterprises that have them; no geometry where none carries coordinates)."""
        params = load(schemas.MapQuery, query)
        stmt = select(Enterprise.district, Enterprise.town, Hazard.level, Enterprise.longitude, Enterprise.latitude,
                      Enterprise.id).join(Hazard, Hazard.enterprise_id == Enterprise.id).where(
            Enterprise.agency_id == self.db.agency, Hazard.status.in_(domain.OPEN_HAZARD), self._enterprise_filter())
        if "district" in params:
            stmt = stmt.where(Enterprise.district == params["district"])
        towns: dict = defaultdict(lambda: {"general": 0, "major": 0, "points": {}, "enterprises": set()})
        for district, town, level, lon, lat, eid in self.db.session.execute(stmt):
            cell = towns[(district, town)]
            cell[level] += 1
            cell["enterprises"].add(eid)
            if lon is not None and lat is not None:
                cell["points"][eid] = (lon, lat)
        features = []
        for (district, town), cell in sorted(towns.items()):
            points = list(cell["points"].values())
            geometry = None if not points else {"type": "Point", "coordinates": [
                round(sum(p[0] for p in points) / len(points), 6), round(sum(p[1] for p in points) / len(points), 6)]}
            features.append({"type": "Feature", "geometry": geometry, "properties": {
                "district": district, "town": town, "open_general": cell["general"], "open_major": cell["major"],
                "enterprises": len(cell["enterprises"])}})
        return schema_instance(schemas.MapOut).dump({"type": "FeatureCollection", "features": features,
                                      "districts": self._district_areas(params, towns)})

    def _district_areas(self, params, towns) -> list[dict]:
        """One Polygon per district with enterprises: the area its enterprises cover (``domain.enterprise_area``),
        with the district's open hazards for the map's colours."""
        stmt = select(Enterprise.district, Enterprise.longitude, Enterprise.latitude).where(
            Enterprise.agency_id == self.db.agency, self._enterprise_filter())
        if "district" in params:
            stmt = stmt.where(Enterprise.district == params["district"])
        districts: dict = defaultdict(lambda: {"enterprises": 0, "points": []})
        for district, lon, lat in self.db.session.execute(stmt):
            districts[district]["enterprises"] += 1
            if lon is not None and lat is not None:
                districts[district]["points"].append((lon, lat))
        areas = []
        for district, cell in sorted(districts.items()):
            open_general = sum(c["general"] for (d, _), c in towns.items() if d == district)
            open_major = sum(c["major"] for (d, _), c in towns.items() if d == district)
            areas.append({"type": "Feature", "geometry": domain.enterprise_area(cell["points"]), "properties": {
                "district": district, "open_general": open_general, "open_major": open_major,
                "enterprises": cell["enterprises"], "located": len(cell["points"]), "basis": "enterprise_hull"}})
        return areas

    # ---- helpers -----------------------------------------------------------------------------

    def _hazard(self, hazard_id) -> Hazard:
        hazard = self._row(Hazard, hazard_id, "hazard_id", "hazard")
        self._enterprise(hazard.enterprise_id)
        return hazard

    @staticmethod
    def _with_overdue(hazard):
        """The hazard as HazardOut dumps it: overdue is computed, never stored."""
        return with_values(hazard, overdue=domain.is_overdue(hazard.status, hazard.deadline, utcnow()))

    def _hazard_changed(self, hazard, action, enterprise=None):
        enterprise = enterprise or self.db.session.get(Enterprise, hazard.enterprise_id)
        self.db.emit("hazard_changed", hazard.id, dict(
            hazard_id=hazard.id, enterprise_id=hazard.enterprise_id, district=enterprise.district, level=hazard.level,
            status=hazard.status, action=action, deadline=hazard.deadline, deadline_pending=hazard.deadline_pending))

    def _major_event(self, report, hazard, enterprise, action):
        self.db.emit("major_hazard_reported", report.id, dict(
            report_id=report.id, hazard_id=hazard.id, enterprise_id=enterprise.id, enterprise_name=enterprise.name,
            district=enterprise.district, town=enterprise.town, description=hazard.description, action=action))
        self.db.audit(self.caller, f"major.{action}", "major_report", report.id, {"hazard_id": hazard.id})
