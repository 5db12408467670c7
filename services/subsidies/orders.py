"""On-demand lectures (点单式): an enterprise orders, a tour lecturer accepts, schedules, holds."""
from __future__ import annotations

from shared.db import transactional
from shared.entrypoints import rpc
from sqlalchemy import select

from shared.errors import NotFound, ValidationFailed
from shared.schemas import as_credit_code, load
from shared.workdays import utcnow

from . import domain, schemas
from .models import LectureOrder
from .roles import ORDERERS, PARTIES, REPORTERS, SAFETY_FILE_READERS


class OrderRpc:

    @rpc(roles=ORDERERS)
    @transactional
    def order_lecture(self, payload):
        data = load(schemas.OrderIn, payload)
        cycle = self._cycle(data["cycle"], field="cycle")
        # an enterprise's token is bound to its credit code: it orders as itself
        credit_code = self.caller.person if self.caller.role == "enterprise" else data["credit_code"]
        order = self._place_order(cycle.code, data, credit_code, self._party())
        self.db.audit(self.caller, "order.create", "lecture_order", order.id, {"topic": order.topic})
        return self._order_out(order)

    def _place_order(self, cycle, data, credit_code, ordered_by, risk_request_id=None) -> LectureOrder:
        """One order, from this service's route or from risk's lecture_requested; lecture_ordered either way."""
        now = utcnow()
        order = LectureOrder(agency_id=self.db.agency, cycle=cycle, status=domain.ORDERED,
                             enterprise_name=data["enterprise_name"], ordered_by=ordered_by,
                             credit_code=credit_code, risk_request_id=risk_request_id,
                             topic=data["topic"], wished_dates=[d.isoformat() for d in data["wished_dates"]],
                             audience_size=data["audience_size"], address=data["address"],
                             contact=data["contact"], created_at=now, updated_at=now)
        self.db.session.add(order)
        self.db.session.flush()
        self.db.emit("lecture_ordered", order.id, dict(
            self._order_ref(order), enterprise_name=order.enterprise_name, topic=order.topic,
            wished_dates=data["wished_dates"], audience_size=order.audience_size))
        return order

    @rpc(roles=SAFETY_FILE_READERS)
    def enterprise_orders(self, credit_code):
        """The subsidies part of an enterprise's safety file: the lectures it ordered and their status.

        Orders keep the enterprise's credit code (its own orders, staff orders naming it, and
        risk's lecture requests); an enterprise sees its own only.
        """
        code = as_credit_code(credit_code)
        if self.caller.role == "enterprise" and code != (self.caller.person or ""):
            raise NotFound("enterprise not found", {"credit_code": ["not found"]})
        orders = self.db.session.scalars(select(LectureOrder).where(
            LectureOrder.agency_id == self.db.agency, LectureOrder.credit_code == code)
            .order_by(LectureOrder.id)).all()
        return {"credit_code": code, "orders": [self._order_out(o) for o in orders]}

    @rpc(roles=REPORTERS)
    @transactional
    def accept_order(self, order_id, payload):
        data = load(schemas.AcceptIn, payload)
        order = self._order(order_id, lock=True)
        if self.caller.role == "lecturer":
            candidate_id = self._own_candidate(order.cycle, data["candidate_id"])
        elif data["candidate_id"] is None:
            raise ValidationFailed("say which lecturer takes it", {"candidate_id": ["required for staff"]})
        else:
            candidate_id = data["candidate_id"]
        domain.ensure_tour_lecturer(self._in_tour(order.cycle, candidate_id))
        order.status = domain.next_order_status(order.status, "accept")
        order.candidate_id, order.accepted_by, order.updated_at = candidate_id, self.caller.actor, utcnow()
        self.db.emit("lecture_order_accepted", order.id, dict(self._order_ref(order), candidate_id=candidate_id))
        self.db.audit(self.caller, "order.accept", "lecture_order", order.id, {"candidate_id": candidate_id})
        return self._order_out(order)

    @rpc(roles=REPORTERS)
    @transactional
    def schedule_order(self, order_id, payload):
        data = load(schemas.ScheduleIn, payload)
        order = self._order(order_id, lock=True, taker=True)
        order.status = domain.next_order_status(order.status, "schedule")
        order.scheduled_date, order.updated_at = data["date"], utcnow()
        self.db.emit("lecture_scheduled", order.id, dict(self._order_ref(order), candidate_id=order.candidate_id,
                                                         date=data["date"]))
        self.db.audit(self.caller, "order.schedule", "lecture_order", order.id, data)
        return self._order_out(order)

    @rpc(roles=REPORTERS)
    @transactional
    def mark_order_held(self, order_id, payload=None):
        order = self._order(order_id, lock=True, taker=True)
        order.status = domain.next_order_status(order.status, "hold")
        order.updated_at = utcnow()
        self.db.emit("lecture_held", order.id, dict(self._order_ref(order), candidate_id=order.candidate_id,
                                                    date=order.scheduled_date))
        self.db.audit(self.caller, "order.held", "lecture_order", order.id, {})
        return self._order_out(order)

    @rpc(roles=ORDERERS)
    @transactional
    def cancel_order(self, order_id, payload):
        data = load(schemas.CancelIn, payload)
        order = self._order(order_id, lock=True)
        order.status = domain.next_order_status(order.status, "cancel")
        order.cancellation_reason, order.updated_at = data["reason"], utcnow()
        self.db.emit("lecture_order_cancelled", order.id, dict(self._order_ref(order), reason=data["reason"]))
        self.db.audit(self.caller, "order.cancel", "lecture_order", order.id, data)
        return self._order_out(order)

    @rpc(roles=PARTIES)
    def get_order(self, order_id):
        return self._order_out(self._order(order_id))
