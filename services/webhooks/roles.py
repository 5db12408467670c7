"""Who may call what in webhooks: declared once, used by the service and by its gateway routes."""
from __future__ import annotations

from shared.auth import STAFF

# an integrator manages its own endpoints; staff see and repair every endpoint of the agency
MANAGERS = ("integrator", *STAFF)
