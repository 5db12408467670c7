"""Who may call what in subsidies: declared once, used by the service and by its gateway routes."""
from __future__ import annotations

from shared.auth import STAFF

READERS = ("admin", "operator", "finance", "integrator")
PAYERS = ("finance", *STAFF)
REPORTERS = ("lecturer", *STAFF)                 # a lecturer reports and takes orders for itself
LECTURE_READERS = ("lecturer", *READERS)         # a lecturer sees its own reports only
PARTIES = ("lecturer", "enterprise", *READERS)   # an enterprise sees its own orders only
ORDERERS = ("enterprise", *STAFF)
COMPLIANCE_READERS = ("regulator", *READERS)
SUBSIDY_READERS = ("integrator", *PAYERS)
SAFETY_FILE_READERS = ("enterprise", *COMPLIANCE_READERS)  # an enterprise its own orders
