"""Who may call what in scoring: declared once, used by the service and by its gateway routes."""
from __future__ import annotations

from shared.auth import STAFF

READERS = ("integrator", "regulator", *STAFF)
EXPLAIN_READERS = (*READERS, "lecturer")         # a lecturer reads its own sheet only
REBUILDERS = (*STAFF, "system")                  # also an operator command, without a token
