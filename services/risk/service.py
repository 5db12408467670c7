"""The risk service: one nameko class combining the areas (each a mixin in its own module)."""
from __future__ import annotations

from nameko.dependency_providers import Config

from shared.auth import CallerProvider
from shared.db import Database
from shared.entrypoints import PlatformRpc
from shared.providers import FileStore

from .access import Lookups
from .enterprises import EnterprisesMixin
from .hazards import HazardsMixin
from .inspections import InspectionsMixin
from .models import Base, platform
from .policies import PoliciesMixin
from .qrcodes import QrMixin
from .requests import RequestsMixin


class RiskService(EnterprisesMixin, PoliciesMixin, InspectionsMixin, HazardsMixin, RequestsMixin, QrMixin,
                  Lookups, PlatformRpc):
    name = "risk"

    db = Database(Base.metadata, platform)
    caller = CallerProvider()
    files = FileStore()
    config = Config()
