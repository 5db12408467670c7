"""Routes the gateway answers itself: API tokens (admin), the aggregates and the event lag."""
from __future__ import annotations

from gateway import schemas as gw
from shared.schemas import AuditOut

from . import AUTHENTICATED, LOCAL, Route

ADMINS = ("admin",)
STAFF = ("admin", "operator")

ROUTES: list[Route] = [
    Route("POST", "/api/v1/tokens", LOCAL, "create_token", "Mint a token (admin); the secret is returned once",
          "tokens", body=gw.TokenIn, response=gw.TokenOut, status=201, roles=ADMINS),
    Route("GET", "/api/v1/tokens", LOCAL, "list_tokens", "List tokens (admin), without secrets", "tokens",
          response=gw.TokenOut, many=True, roles=ADMINS),
    Route("DELETE", "/api/v1/tokens/<int:token_id>", LOCAL, "revoke_token", "Revoke a token (admin)", "tokens",
          response=gw.TokenOut, roles=ADMINS),
    Route("GET", "/api/v1/dashboard", LOCAL, "dashboard",
          "Aggregated view from several services, fetched concurrently; a part whose service is down "
          "is reported missing", "aggregation", query=gw.DashboardQuery, response=gw.DashboardOut,
          roles=AUTHENTICATED),
    Route("GET", "/api/v1/safety-files/<credit_code>", LOCAL, "safety_file",
          "An enterprise's safety file: risk (policies, inspections, hazards, requests) and the parts of other "
          "services, fetched concurrently; a part that cannot be fetched is reported", "aggregation",
          response=gw.SafetyFileOut, roles=AUTHENTICATED),
    Route("GET", "/api/v1/calendar", LOCAL, "calendar",
          "The working-day calendar: its known range, a warning before it ends, the years the agency added",
          "operations", response=gw.CalendarOut, roles=AUTHENTICATED),
    Route("PUT", "/api/v1/calendar/<int:year>", LOCAL, "put_calendar_year",
          "Add (or, with replace, correct) a year's official holiday arrangement; audited; takes precedence "
          "over the calendar package for that year", "operations", body=gw.CalendarIn,
          response=gw.CalendarYearOut, roles=STAFF, args={"year": gw.CALENDAR_YEAR}),
    Route("GET", "/api/v1/audit/gateway/<entity_type>/<entity_id>", LOCAL, "gateway_audit_trail",
          "Audit trail of a gateway record (tokens, calendar years)", "audit", response=AuditOut, many=True,
          roles=STAFF),
    Route("GET", "/api/v1/status/lag", LOCAL, "lag",
          "Per consumer: events published vs processed, queued in the broker, oldest unprocessed age",
          "operations", roles=STAFF),
]
