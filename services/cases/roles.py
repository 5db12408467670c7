"""Who may call what in cases: declared once, used by the service and by its gateway routes."""
from __future__ import annotations

from shared.auth import STAFF

READERS = ("integrator", "regulator", *STAFF)
ORG = ("organisation", *STAFF)                        # an organisation acts for itself only
ORG_READERS = ("organisation", *READERS)              # an organisation sees its own records only
CASE_READERS = ("organisation", "expert", *READERS)   # an expert sees the cases assigned to them only
EXPERT_STAFF = ("expert", *STAFF)                     # an expert sees and declares for itself only
EXPERTS = ("expert",)
