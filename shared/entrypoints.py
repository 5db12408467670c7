"""nameko's ``@rpc`` with the platform's expected errors declared, on the consumer that
rides through a broker restart (``shared.amqp``).

A refused request (validation, access, rule) is a normal answer, not a fault:
nameko then logs it as one warning line instead of an error with a traceback.
"""
from __future__ import annotations

import json

from sqlalchemy import select, text

from shared.amqp import rpc as _rpc
from shared.auth import STAFF
from shared.errors import WsliError
from shared.telemetry import Telemetry


def rpc(fn=None, **options):
    options.setdefault("expected_exceptions", (WsliError,))
    decorator = _rpc(**options)
    return decorator(fn) if fn is not None else decorator


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
    def lag_report(self):
        """This service's outbox (published, pending) and inbox (processed per handler), see shared.lag."""
        from shared.lag import service_stats

        self.caller.require(*STAFF)
        return service_stats(self.db.session.connection(), self.db.tables, type(self))

    @rpc
    def published_at(self, event_type, offset):
        from shared.lag import published_at

        self.caller.require(*STAFF)
        return published_at(self.db.session.connection(), self.db.tables, str(event_type), max(0, int(offset)))

    @rpc
    def audit_trail(self, entity_type, entity_id):
        from shared.schemas import AuditOut

        self.caller.require(*STAFF)
        audit = self.db.tables.audit
        rows = self.db.session.execute(
            select(audit).where(audit.c.agency_id == self.db.agency, audit.c.entity_type == str(entity_type),
                                audit.c.entity_id == str(entity_id)).order_by(audit.c.id)
        ).mappings().all()
        return AuditOut(many=True).dump([dict(r, detail=json.loads(r["detail"] or "{}")) for r in rows])
