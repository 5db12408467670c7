"""The case-collection service (seed 001): one nameko class assembled from its areas.

The areas: ``registry`` (campaigns, organisations, the dishonesty list, experts and
their conflicts), ``submissions`` (files, the pre-check, submission, recommendation,
screening, site visits, withdrawal), ``reviewing`` (assignments, scores, results,
levels), ``notice`` (public notice, objections, release, certificates, exports);
``access`` holds the lookups, access checks and output, ``roles`` who may call what.
The rules they apply live in ``domain``, ``report`` (the format checks) and ``review``
(the scoring). Every state change writes its event to the outbox in the same
transaction and an audit row naming who did it.
"""
from __future__ import annotations

from nameko.dependency_providers import Config

from shared.auth import CallerProvider
from shared.db import Database
from shared.entrypoints import PlatformRpc
from shared.providers import FileStore

from .access import Lookups
from .models import Base, platform
from .notice import NoticeRpc
from .partners import PartnerCases
from .registry import SetupRpc
from .reviewing import ReviewRpc
from .submissions import CaseRpc


class CasesService(PlatformRpc, SetupRpc, CaseRpc, ReviewRpc, NoticeRpc, PartnerCases, Lookups):
    name = "cases"

    db = Database(Base.metadata, platform)
    caller = CallerProvider()
    files = FileStore()
    config = Config()
