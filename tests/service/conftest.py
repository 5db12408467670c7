"""The middle layer: a service's entrypoints run in this process, without the broker.

nameko's ``worker_factory`` builds the service instance; its ``db`` is the real unit of
work (``shared.db.UnitOfWork``: session, outbox, inbox, audit) on SQLite in memory, its
``caller`` the principal a test names. Each call is one worker: a fresh unit of work,
closed afterwards, as in a running container. Emitted events are read back from the
outbox; a consumed event is handed to the handler the way the subscriber would.
Rules that need RabbitMQ (delivery, retries, the relay) stay in tests/integration.
"""
from __future__ import annotations

import copy
import json
import uuid
from types import SimpleNamespace

import pytest
from nameko.testing.services import worker_factory
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from shared.auth import Principal
from shared.catalogue import component
from shared.db import UnitOfWork, create_all
from shared.events import Event, rfc3339
from shared.storage import LocalStorage
from shared.workdays import utcnow
from tests.conftest import AGENCY


class Harness:
    def __init__(self, service_cls, tmp_path):
        self.cls = service_cls
        db = service_cls.db
        self.engine = create_all("sqlite://", db.metadata)
        self.provider = SimpleNamespace(
            sessionmaker=sessionmaker(bind=self.engine, expire_on_commit=False), tables=db.tables, agency=AGENCY,
            service_name=service_cls.name, relay_committed=lambda rows: None, statements={})
        self.extra = {}
        if hasattr(service_cls, "files"):
            self.extra["files"] = LocalStorage(tmp_path / "files")
        if hasattr(service_cls, "config"):
            self.extra["config"] = {"PUBLIC_BASE_URL": "http://wsli.test"}
        if hasattr(service_cls, "in_flight"):
            # no broker here: nothing is in flight (tests/e2e asks the real producers and queues)
            self.extra["in_flight"] = SimpleNamespace(report=lambda service, feeding: ([], [], {}))

    def as_(self, role: str, **binding) -> "Caller":
        return Caller(self, Principal(role=role, agency=AGENCY, name=f"test-{role}", **binding))

    def call(self, principal, method: str, *args):
        uow = UnitOfWork(self.provider)
        service = worker_factory(self.cls, db=uow, caller=principal, **self.extra)
        try:
            return getattr(service, method)(*args)
        finally:
            uow.close()

    def deliver(self, method: str, data: dict, event_id: str | None = None) -> Event:
        """Hand ``data`` to an event handler as the subscriber does (its schema loads it)."""
        (prototype,) = getattr(self.cls, method).nameko_entrypoints
        subscriber = copy.copy(prototype)
        event = Event(id=event_id or str(uuid.uuid4()), type=f"wsli.{subscriber.source_service}."
                      f"{subscriber.event_type}.v1", source=f"/agencies/{AGENCY}/{subscriber.source_service}",
                      subject="", time=rfc3339(utcnow()), agency=AGENCY, data=data)
        subscriber.container = SimpleNamespace(service_name=self.cls.name)
        subscriber.method_name = method
        event = subscriber.read(event)
        self.call(Principal(role="system", agency=AGENCY, name="system"), method, event)
        return event

    def emitted(self, name: str) -> list[dict]:
        outbox = self.provider.tables.outbox
        with self.engine.connect() as conn:
            bodies = conn.execute(select(outbox.c.body).where(outbox.c.routing_key == name)
                                  .order_by(outbox.c.id)).scalars().all()
        return [json.loads(b)["data"] for b in bodies]

    def close(self):
        self.engine.dispose()


class Caller:
    """``harness.as_("operator").create_cycle(payload)``: one worker per call."""

    def __init__(self, harness, principal):
        self._harness, self.principal = harness, principal

    def __getattr__(self, method):
        return lambda *args: self._harness.call(self.principal, method, *args)


@pytest.fixture
def service(request, tmp_path):
    """``@pytest.mark.parametrize("service", ["training"], indirect=True)`` or a module's SERVICE."""
    name = getattr(request, "param", None) or request.module.SERVICE
    harness = Harness(component(name).service(), tmp_path)
    yield harness
    harness.close()
