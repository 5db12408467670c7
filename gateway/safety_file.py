"""The enterprise safety file: one aggregate over several services, fetched concurrently.

Like the dashboard, every part is started before any is awaited, all share one time
budget, and a part whose service is down or refuses is reported, not fatal: each
service answers its part by the unified social credit code and decides itself what
the caller may see (an enterprise its own file, a regulator its district).
"""
from __future__ import annotations

from shared.schemas import as_credit_code

# part -> (service, rpc) called with the credit code
PARTS = {
    "risk": ("risk", "safety_file"),                          # policies, inspections, hazards, requests
    "registration": ("registration", "unit_enrolments"),      # enrolled principal and safety manager
    "training": ("training", "unit_certificates"),            # their certificates and class hours
    "subsidies": ("subsidies", "enterprise_orders"),          # on-demand lectures it ordered
}


def gather(gateway, credit_code: str) -> dict:
    credit_code = as_credit_code(credit_code)  # junk is one 400, not four
    gathered = gateway._gather({part: (service, method, credit_code) for part, (service, method) in PARTS.items()})
    return {"credit_code": credit_code, **gathered}
