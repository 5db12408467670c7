"""The scoring service: one nameko class assembled from its areas, glue around the rules in ``domain``.

Sheets are built only from events (registration, training, subsidies), each kept
in the append-only ``score_events`` log; rankings are computed from the sheets on
read; an operator closes a stage to publish its decisions.

Closing a stage publishes ``candidate_advanced`` for each candidate within the cut-off (for
the gold stage, ``final`` in 2022, ``gold_lecturer_selected`` instead: training and subsidies
read ``candidate_advanced.to_stage`` as the next training stage, and there is none),
``candidate_not_advanced`` for every other candidate of the cycle (rank and score null when
unranked) and one ``stage_closed``.

Closing again after a re-open publishes ``candidate_advanced`` / ``candidate_not_advanced``
only for candidates whose advance/not-advance decision flipped (or who had none):
a mere change of rank or score within the same side is stored (the decision row is
updated) but not announced, so consumers such as subsidies see one event per real
change. ``gold_lecturer_selected`` likewise goes out only for newly selected gold
lecturers; one who drops out gets ``candidate_not_advanced``. ``stage_closed`` is
emitted on every close (not on a repeated close of a closed stage).

The areas: ``consumers`` (the events folded into sheets), ``stages`` (schemes,
rankings, close and re-open, explanations, flags, rebuild); ``access`` holds the
lookups and output.
"""
from __future__ import annotations

from shared.auth import CallerProvider
from shared.db import Database
from shared.entrypoints import PlatformRpc

from .access import Lookups
from .consumers import EventHandlers
from .models import Base, platform
from .readiness import InFlight
from .stages import StageRpc


class ScoringService(EventHandlers, StageRpc, Lookups, PlatformRpc):
    name = "scoring"

    db = Database(Base.metadata, platform)
    caller = CallerProvider()
    in_flight = InFlight()
