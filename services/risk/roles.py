"""Who may call what in risk: declared once, used by the service and by its gateway routes.

Record-level access (a regulator's district, an insurer's own policies, an enterprise
itself, an organisation the enterprises it was sent to) stays in ``base.py``.
"""
from __future__ import annotations

from shared.auth import STAFF

READERS = (*STAFF, "integrator", "regulator", "insurer", "enterprise", "service_org")
OVERSIGHT = (*STAFF, "integrator", "regulator")   # a regulator sees its own district
EVERYWHERE = (*STAFF, "integrator")               # sees every enterprise of the agency
UNDERWRITERS = (*STAFF, "insurer")                # an insurer acts on its own policies
FUND_READERS = (*UNDERWRITERS, "integrator", "regulator")
PHOTO_SENDERS = ("service_org", "enterprise", "insurer", *STAFF)
CLAIMANTS = ("enterprise", "insurer", *STAFF)
VISITORS = ("service_org", *STAFF)                # an organisation visits what it was sent to
ENTERPRISE_DESK = ("enterprise", *STAFF)          # an enterprise acts as itself
ACKNOWLEDGERS = ("regulator", "admin")            # a regulator its own district
RATERS = ("enterprise",)
