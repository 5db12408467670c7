"""Who may call what in training: declared once, used by the service and by its gateway routes."""
from __future__ import annotations

from shared.auth import STAFF

READERS = (*STAFF, "integrator", "regulator")
CLASS_STAFF = (*STAFF, "regulator")  # a regulator acts on its own district's classes
PROGRAMME_READERS = (*READERS, "expert", "lecturer")  # a lecturer sees itself only
PANEL_READERS = (*READERS, "expert")              # an expert sees its own groups only
EXAM_READERS = (*READERS, "lecturer")
TAKERS = ("lecturer", *CLASS_STAFF)               # a lecturer sits programme exams as itself
EXPERTS = ("expert",)
SAFETY_FILE_READERS = ("enterprise", *READERS)   # an enterprise its own people; a regulator its district
