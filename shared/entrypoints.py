"""nameko's ``@rpc`` with the platform's expected errors declared and the caller's role checked,
on the consumer that rides through a broker restart (``shared.amqp``).

A refused request (validation, access, rule) is a normal answer, not a fault:
nameko then logs it as one warning line instead of an error with a traceback.

``@rpc(roles=roles.READERS)`` refuses any other role before the method runs. The
tuples live in the service's ``roles.py``, and the gateway's route for the RPC
names the same tuple, so the gateway and the service refuse the same callers
(a test holds every route to it). Checks that depend on the record (a unit sees
its own candidates) stay in the method.
"""
from __future__ import annotations

import functools
import inspect
import json

from sqlalchemy import select, text

from shared.amqp import rpc as _rpc
from shared.auth import STAFF
from shared.errors import ValidationFailed, WsliError
from shared.telemetry import Telemetry
from shared.schemas import schema_instance


# At most this many reads in one ``read_many`` call (the dashboard asks three of one service).
MAX_COMBINED_READS = 10


def rpc(fn=None, *, roles: tuple[str, ...] | None = None, combinable: bool = False, **options):
    """``combinable``: a read a caller may also ask within ``read_many`` (several in one round trip)."""
    options.setdefault("expected_exceptions", (WsliError,))
    entrypoint = _rpc(**options)

    def decorate(method):
        if roles is not None:
            method = _requiring(method, tuple(roles))
        if combinable:
            method.combinable = True
        return entrypoint(method)

    return decorate(fn) if fn is not None else decorate


def _requiring(method, roles: tuple[str, ...]):
    @functools.wraps(method)
    def guarded(self, *args, **kwargs):
        self.caller.require(*roles)
        return method(self, *args, **kwargs)

    guarded.roles = roles
    return guarded


def roles_of(service_cls, method_name: str) -> tuple[str, ...] | None:
    """The roles an RPC admits (None: it checks none itself, e.g. a public route)."""
    return getattr(getattr(service_cls, method_name), "roles", None)


class PlatformRpc:
    """The two RPCs every service answers: ``health`` (for the gateway) and ``audit_trail``.

    A service class inherits them; it needs ``db`` (shared.db.Database) and
    ``caller`` (shared.auth.CallerProvider) like every service here. It also
    inherits ``telemetry``: structured log lines and metrics for every entrypoint.
    """

    telemetry = Telemetry()

    @rpc
    def health(self):
        self.db.session.execute(text("SELECT 1"))
        return {"service": self.name, "status": "ok", "agency": self.db.agency}

    @rpc
    def read_many(self, calls):
        """Several combinable reads of this service in one round trip, each as the caller may:
        ``[[method, [args...]], ...]`` answers ``[{"ok": true, "data": ...} | {"ok": false, "error": {...}}, ...]``
        in the same order. Each read checks its own roles and records, as when asked alone; one refused
        read does not stop the others. They run in one worker, one after the other, so an aggregate
        pays this service's per-call cost once instead of once per part."""
        if not isinstance(calls, list) or not 1 <= len(calls) <= MAX_COMBINED_READS:
            raise ValidationFailed("calls must be a list of 1 to %d reads" % MAX_COMBINED_READS,
                                   {"calls": [f"between 1 and {MAX_COMBINED_READS} items"]})
        methods = []
        for n, call in enumerate(calls):
            name, args = (call if isinstance(call, (list, tuple)) and len(call) == 2 else (None, None))
            method = getattr(type(self), name, None) if isinstance(name, str) else None
            if not getattr(method, "combinable", False) or not isinstance(args, list):
                raise ValidationFailed("not a combinable read", {f"calls.{n}": [f"{name!r} cannot be combined"]})
            try:
                inspect.signature(method).bind(self, *args)
            except TypeError as exc:  # the wrong number of arguments: the caller's mistake, not a 500
                raise ValidationFailed("wrong arguments", {f"calls.{n}": [f"{name}: {exc}"]}) from None
            methods.append((getattr(self, name), args))
        answers = []
        for method, args in methods:
            try:
                answers.append({"ok": True, "data": method(*args)})
            except WsliError as exc:
                self.db.rollback()
                answers.append({"ok": False, "error": exc.to_dict(), "status": exc.http_status})
        return answers

    @rpc(roles=STAFF)
    def lag_report(self):
        """This service's outbox (published, pending) and inbox (processed per handler), see shared.lag."""
        from shared.lag import service_stats

        return service_stats(self.db.session.connection(), self.db.tables, type(self))

    @rpc(roles=STAFF)
    def published_at(self, event_type, offset):
        from shared.lag import published_at

        return published_at(self.db.session.connection(), self.db.tables, str(event_type), max(0, int(offset)))

    @rpc(roles=STAFF)
    def audit_trail(self, entity_type, entity_id):
        from shared.schemas import AuditOut

        audit = self.db.tables.audit
        rows = self.db.session.execute(
            select(audit).where(audit.c.agency_id == self.db.agency, audit.c.entity_type == str(entity_type),
                                audit.c.entity_id == str(entity_id)).order_by(audit.c.id)
        ).mappings().all()
        return schema_instance(AuditOut, many=True).dump([dict(r, detail=json.loads(r["detail"] or "{}")) for r in rows])
