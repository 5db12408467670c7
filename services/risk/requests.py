"""Service requests from enterprises, dispatch, one rating per closed service, insurer appraisal."""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

from sqlalchemy import func, select

from shared.db import transactional
from shared.entrypoints import rpc
from shared.errors import Conflict, NotFound, RuleViolation, ValidationFailed
from shared.schemas import load, paginate, schema_instance
from shared.workdays import utcnow

from . import domain, roles, schemas
from .models import Appraisal, Enterprise, Hazard, Inspection, Insurer, Policy, ServiceRequest


class RequestsMixin:
    @rpc(roles=roles.ENTERPRISE_DESK)
    @transactional
    def request_service(self, payload):
        data = load(schemas.RequestIn, payload)
        if self.caller.role == "enterprise":
            enterprise = self.db.session.scalar(select(Enterprise).where(
                Enterprise.agency_id == self.db.agency, Enterprise.credit_code == (self.caller.person or "")))
            if enterprise is None:
                raise NotFound("this token's enterprise is not registered", {"enterprise_id": ["not registered"]})
        elif data["enterprise_id"] is None:
            raise ValidationFailed("say for which enterprise", {"enterprise_id": ["required for staff"]})
        else:
            enterprise = self._ref(Enterprise, data["enterprise_id"], "enterprise_id", "enterprise")
        policy = self._latest_policy(enterprise.id)
        now = utcnow()
        req = ServiceRequest(agency_id=self.db.agency, enterprise_id=enterprise.id,
                             insurer_id=policy.insurer_id if policy else None, kind=data["kind"],
                             status=domain.REQUESTED, description=data["description"], wished_date=data["wished_date"],
                             created_at=now, updated_at=now)
        self.db.session.add(req)
        self.db.session.flush()
        self._request_changed(req, "request.create")
        if req.kind == "lecture":
            # the subsidies service runs on-demand lectures: this event is the order
            self.db.emit("lecture_requested", req.id, dict(
                request_id=req.id, enterprise_name=enterprise.name, credit_code=enterprise.credit_code,
                district=enterprise.district, town=enterprise.town, topic=req.description[:200], wished_date=req.wished_date,
                audience_size=max(1, enterprise.staff_count)))
        return schema_instance(schemas.RequestOut).dump(req)

    @rpc(roles=roles.READERS)
    def list_requests(self, query=None):
        params = load(schemas.PageQuery, query)
        stmt = select(ServiceRequest).join(Enterprise, Enterprise.id == ServiceRequest.enterprise_id).where(
            ServiceRequest.agency_id == self.db.agency, self._enterprise_filter())
        return paginate(self.db.session, stmt, ServiceRequest.id, params, schemas.RequestOut().dump)

    @rpc(roles=roles.STAFF)
    @transactional
    def assign_request(self, request_id, payload):
        """The dispatch center sends a service organisation (and technician)."""
        data = load(schemas.RequestAssignIn, payload)
        req = self._request(request_id)
        org = self._organisation(data["organisation_id"])
        if data["technician_id"] is not None:
            self._technician(data["technician_id"], org.id)
        req.status = domain.next_request_status(req.status, "assign")
        req.organisation_id, req.technician_id = org.id, data["technician_id"]
        self._request_changed(req, "request.assign")
        return schema_instance(schemas.RequestOut).dump(req)

    @rpc(roles=roles.VISITORS)
    @transactional
    def close_request(self, request_id, payload):
        data = load(schemas.RequestCloseIn, payload)
        req = self._request(request_id)
        if self.caller.role == "service_org" and req.organisation_id != self.caller.unit_id:
            raise NotFound(f"service request {req.id} not found")
        req.status = domain.next_request_status(req.status, "close")
        req.report, req.closed_at = data["report"], utcnow()
        if data["cost_fen"]:
            policy = self._latest_policy(req.enterprise_id)
            if policy is None:
                raise RuleViolation("an uninsured enterprise's service is not paid from a prevention fund",
                                    {"cost_fen": ["the enterprise has no policy"]}, rule="no_fund")
            enterprise = self.db.session.get(Enterprise, req.enterprise_id)
            req.cost_fen = data["cost_fen"]
            self._post(policy.insurer_id, policy.year, "debit", data["cost_fen"], f"request:{req.id}",
                       f"企业{enterprise.id}{domain.SERVICE_KINDS[req.kind]}服务", enterprise.district)
        self._request_changed(req, "request.close")
        return schema_instance(schemas.RequestOut).dump(req)

    @rpc(roles=roles.RATERS)
    @transactional
    def rate_request(self, request_id, payload):
        """The enterprise rates a closed service once, within the window."""
        data = load(schemas.RatingIn, payload)
        req = self._request(request_id)
        if req.rating is not None:
            raise Conflict("this service was already rated", {"score": ["one rating per service"]})
        domain.ensure_rating_window(req.closed_at, utcnow())
        req.rating, req.rating_comment, req.rated_at = data["score"], data["comment"], utcnow()
        self.db.emit("service_rated", req.id, dict(request_id=req.id, enterprise_id=req.enterprise_id,
                                                   organisation_id=req.organisation_id, score=req.rating))
        self.db.audit(self.caller, "request.rate", "service_request", req.id, {"score": req.rating})
        return schema_instance(schemas.RequestOut).dump(req)

    def _request(self, request_id) -> ServiceRequest:
        req = self._row(ServiceRequest, request_id, "request_id", "service request")
        self._enterprise(req.enterprise_id)
        return req

    def _latest_policy(self, enterprise_id) -> Policy | None:
        return self.db.session.scalar(select(Policy).where(Policy.enterprise_id == enterprise_id)
                                      .order_by(Policy.year.desc()).limit(1))

    def _request_changed(self, req, action):
        req.updated_at = utcnow()
        self.db.emit("service_request_changed", req.id, dict(request_id=req.id, enterprise_id=req.enterprise_id,
                                                             kind=req.kind, status=req.status))
        self.db.audit(self.caller, action, "service_request", req.id, {"status": req.status})

    # ---- insurer appraisal -------------------------------------------------------------------

    @rpc(roles=roles.STAFF)
    @transactional
    def set_appraisal(self, year, insurer_id, payload):
        """The operation center's scores for the five dimensions it judges; prevention is computed."""
        year = _year(year)
        data = load(schemas.AppraisalIn, payload)
        insurer = self._row(Insurer, insurer_id, "insurer_id", "insurer")
        row = self.db.session.scalar(select(Appraisal).where(Appraisal.insurer_id == insurer.id, Appraisal.year == year))
        if row is None:
            row = Appraisal(agency_id=self.db.agency, insurer_id=insurer.id, year=year, scores={})
            self.db.session.add(row)
        row.scores = {**row.scores, **{k: str(v) for k, v in data["scores"].items()}}
        row.updated_at = utcnow()
        self.db.session.flush()
        out = self._appraisal(insurer, year, row)
        self.db.emit("insurer_appraised", insurer.id, dict(insurer_id=insurer.id, year=year, total=out["total"],
                                                           stars=out["stars"]))
        self.db.audit(self.caller, "appraisal.set", "insurer", insurer.id, {"year": year, "scores": row.scores})
        return schema_instance(schemas.AppraisalOut).dump(out)

    @rpc(roles=roles.FUND_READERS)
    def get_appraisal(self, year, insurer_id):
        year = _year(year)
        insurer = self._row(Insurer, insurer_id, "insurer_id", "insurer")
        if not self._own_insurer(insurer.id):
            raise NotFound(f"insurer {insurer.id} not found")
        row = self.db.session.scalar(select(Appraisal).where(Appraisal.insurer_id == insurer.id, Appraisal.year == year))
        return schema_instance(schemas.AppraisalOut).dump(self._appraisal(insurer, year, row))

    def _appraisal(self, insurer, year, row) -> dict:
        due, on_time = self.db.session.execute(
            select(func.count(Inspection.id), func.count(Inspection.id).filter(Inspection.on_time.is_(True)))
            .where(Inspection.insurer_id == insurer.id, Inspection.year == year, Inspection.kind == "routine")).one()
        found, closed = self.db.session.execute(
            select(func.count(Hazard.id), func.count(Hazard.id).filter(Hazard.status == domain.CLOSED))
            .join(Inspection, Inspection.id == Hazard.inspection_id)
            .where(Inspection.insurer_id == insurer.id, Inspection.year == year)).one()
        start, end = (datetime(year, 1, 1, tzinfo=timezone.utc), datetime(year + 1, 1, 1, tzinfo=timezone.utc))
        rating_sum, ratings = self.db.session.execute(
            select(func.coalesce(func.sum(ServiceRequest.rating), 0), func.count(ServiceRequest.rating))
            .where(ServiceRequest.insurer_id == insurer.id, ServiceRequest.rated_at >= start,
                   ServiceRequest.rated_at < end)).one()
        prevention, parts = domain.prevention_score(due, on_time, found, closed, int(rating_sum), ratings)
        scores = {k: Decimal(v) for k, v in (row.scores if row else {}).items()}
        scores["prevention"] = prevention
        result = domain.appraise(scores)
        return dict(result, insurer_id=insurer.id, insurer=insurer.name, year=year, prevention_parts=parts,
                    facts={"inspections_due": due, "inspections_on_time": on_time, "hazards_found": found,
                           "hazards_closed": closed, "ratings": ratings, "rating_sum": int(rating_sum),
                           "scored_dimensions": sorted(scores)})


def _year(value) -> int:
    try:
        year = int(str(value))
    except ValueError:
        raise ValidationFailed("year must be a number", {"year": ["Not a valid integer."]}) from None
    if not 2000 <= year <= 2100:
        raise ValidationFailed("year out of range", {"year": ["Must be between 2000 and 2100."]})
    return year
