"""Who may call what in registration: declared once, used by the service and by its gateway routes."""
from __future__ import annotations

from shared.auth import STAFF

READERS = ("admin", "operator", "unit", "regulator", "integrator")
ENROLLERS = ("admin", "operator", "regulator")
NOMINATORS = ("unit", *STAFF)                     # a unit nominates and seals for itself
QUOTA_READERS = ("regulator", "integrator", *STAFF)
ENROLMENT_READERS = ("integrator", *ENROLLERS)
# an enterprise's safety file: the unit itself (an enterprise token bound to its credit code), a regulator
# for units operating in its district, the center and integrations
SAFETY_FILE_READERS = ("enterprise", *ENROLMENT_READERS)
