"""The registration service: one nameko class assembled from its areas, glue around the rules in ``domain``.

The areas: ``nominations`` (cycles, units, candidates and their seals, seed 000) and
``enrolment`` (district quotas and the mandatory training's enrolments, seed 004);
``access`` holds the lookups, access checks and output.
"""
from __future__ import annotations

from shared.auth import CallerProvider
from shared.db import Database
from shared.entrypoints import PlatformRpc
from shared.providers import FileStore

from .access import Lookups
from .enrolment import EnrolmentRpc
from .models import Base, platform
from .nominations import NominationRpc


class RegistrationService(NominationRpc, EnrolmentRpc, Lookups, PlatformRpc):
    name = "registration"

    db = Database(Base.metadata, platform)
    caller = CallerProvider()
    files = FileStore()
