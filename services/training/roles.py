"""Who may call what in training: declared once, used by the service and by its gateway routes."""
from __future__ import annotations

READERS = ("admin", "operator", "integrator", "regulator")
CLASS_STAFF = ("admin", "operator", "regulator")  # a regulator acts on its own district's classes
