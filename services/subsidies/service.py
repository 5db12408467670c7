"""The lecture-subsidies service: one nameko class assembled from its areas.

Scale-out: ``submit_lecture`` only validates, stores the report as ``received`` and
emits ``report_submitted`` through the outbox; ``run_checks`` (a competing consumer
of that event's queue) runs the automatic checks. Every replica consumes the same
queue, so N replicas share the checks; the inbox claim, a row lock on the report
and its version make a duplicate or redelivered event a no-op.

The areas: ``reports`` (evidence, reports, the checks), ``review`` (a cycle's
settings, approval and rejection, compliance), ``orders``
(on-demand lectures), ``payments`` (batches, bank files), ``consumers`` (events of
other services); ``access`` holds the lookups, access checks and output.
"""
from __future__ import annotations

from shared.auth import CallerProvider
from shared.db import Database
from shared.entrypoints import PlatformRpc
from shared.providers import FileStore

from .access import Lookups
from .consumers import EventHandlers
from .models import Base, platform
from .orders import OrderRpc
from .payments import PaymentRpc
from .reports import ReportRpc
from .review import ReviewRpc


class SubsidiesService(ReportRpc, ReviewRpc, OrderRpc, PaymentRpc, EventHandlers, Lookups, PlatformRpc):
    name = "subsidies"

    db = Database(Base.metadata, platform)
    caller = CallerProvider()
    files = FileStore()
