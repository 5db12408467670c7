"""Who may call what in subsidies: declared once, used by the service and by its gateway routes."""
from __future__ import annotations

from shared.auth import STAFF

READERS = ("admin", "operator", "finance", "integrator")
PAYERS = ("finance", *STAFF)
