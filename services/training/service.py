"""The training service: one nameko class assembled from its areas.

Lecturer programme (seed 000 §五–七): stages and course plans, trainees from
registration's approvals, advancement from scoring's decisions, groups, exams,
expert panels. Safety-training classes (seed 004): institutions, teachers,
classes, attendance with identity check, hours, certificates, ratings.

The areas: ``consumers`` (events of other services), ``programme`` (stages,
trainees, groups), ``exams`` (question bank, exams, attempts, expert scores),
``classes`` (institutions, teachers, classes, attendance, hours, ratings),
``certificates``; ``access`` holds the lookups, access checks and output. The
rules they apply live in ``domain``.
"""
from __future__ import annotations

from nameko.dependency_providers import Config

from shared.auth import CallerProvider
from shared.db import Database
from shared.entrypoints import PlatformRpc

from .access import Lookups
from .certificates import CertificateRpc
from .classes import ClassRpc
from .consumers import EventHandlers
from .cycles import CycleRegistry
from .exams import ExamRpc
from .models import Base, platform
from .partners import PartnerFacts
from .programme import ProgrammeRpc


class TrainingService(EventHandlers, PartnerFacts, ProgrammeRpc, ExamRpc, ClassRpc, CertificateRpc, Lookups, PlatformRpc):
    name = "training"

    db = Database(Base.metadata, platform)
    caller = CallerProvider()
    config = Config()
    cycles = CycleRegistry()
