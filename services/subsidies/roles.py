"""Who may call what in subsidies: declared once, used by the service and by its gateway routes."""
from __future__ import annotations

from shared.auth import STAFF

READERS = ("admin", "operator", "finance", "integrator")
PAYERS = ("finance", *STAFF)
REPORTERS = ("lecturer", *STAFF)                 # a lecturer reports and takes orders for itself
LECTURE_READERS = ("lecturer", *READERS)         # a lecturer sees its own reports only
# a report's evidence files (photos of people, the signed sheet): the center, finance and the lecturer
# who filed it; an integrator reads the report's record, not the pictures
EVIDENCE_READERS = ("lecturer", "finance", *STAFF)
PARTIES = ("lecturer", "enterprise", *READERS)   # an enterprise sees its own orders only
ORDERERS = ("enterprise", *STAFF)
COMPLIANCE_READERS = ("regulator", *READERS)
SUBSIDY_READERS = ("integrator", *PAYERS)
SAFETY_FILE_READERS = ("enterprise", *COMPLIANCE_READERS)  # an enterprise its own orders
