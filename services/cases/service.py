"""The case-collection service (seed 001): nameko glue around ``domain``, ``report`` and ``review``.

The RPCs are grouped by area in ``api_*.py`` mixins; this class only wires the
dependencies. Every state change writes its event to the outbox in the same
transaction and an audit row naming who did it.
"""
from __future__ import annotations

from shared.auth import CallerProvider
from shared.db import Database
from shared.entrypoints import PlatformRpc
from shared.providers import FileStore

from .api_cases import CaseRpc
from .api_notice import NoticeRpc
from .api_review import ReviewRpc
from .api_setup import SetupRpc
from .models import Base, platform


class CasesService(PlatformRpc, SetupRpc, CaseRpc, ReviewRpc, NoticeRpc):
    name = "cases"

    db = Database(Base.metadata, platform)
    caller = CallerProvider()
    files = FileStore()
