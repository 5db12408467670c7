"""Schemas the gateway owns: tokens, errors, health and the dashboard."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from shared.auth import ROLES
from shared.calendar import MAX_YEAR, MIN_YEAR
from shared.schemas import required_when

from .tokens import BINDINGS


class TokenIn(Schema):
    # the binding a role's token carries (gateway.tokens.create_token refuses a token without it)
    openapi = {"allOf": [required_when("role", [r for r, b in BINDINGS.items() if b == binding], binding)
                         for binding in sorted(set(BINDINGS.values()))]}
    role = fields.String(required=True, validate=validate.OneOf([r for r in ROLES if r != "public"]))
    name = fields.String(validate=validate.Length(min=1, max=100), load_default=None)
    unit_id = fields.Integer(strict=True, validate=validate.Range(min=1, max=2**53), load_default=None)
    district = fields.String(validate=validate.Length(min=1, max=40), load_default=None,
                             metadata={"pattern": r"\S", "description": "a regulator's district (not blank)"})
    person = fields.String(validate=validate.Length(min=1, max=64), load_default=None)
    expires_in_days = fields.Integer(strict=True, validate=validate.Range(min=1, max=730), load_default=None,
                                     metadata={"description": "default: by role (admin 30, operator and finance 90, "
                                                              "others 365)"})


class TokenOut(Schema):
    id = fields.Integer()
    prefix = fields.String()
    agency = fields.String()
    role = fields.String()
    unit_id = fields.Integer(allow_none=True)
    district = fields.String(allow_none=True)
    person = fields.String(allow_none=True)
    name = fields.String()
    created_at = fields.String()
    revoked_at = fields.String(allow_none=True)
    expires_at = fields.String(allow_none=True)
    last_used_at = fields.String(allow_none=True, metadata={"description": "to the minute"})
    token = fields.String(metadata={"description": "shown once, at creation"})


class ErrorOut(Schema):
    error = fields.String(metadata={"example": "validation_failed"})
    message = fields.String()
    rule = fields.String(metadata={"description": "the domain rule refused, for 422"})

    class Meta:
        include = {"fields": fields.Dict(keys=fields.String(), values=fields.Raw(),
                                         metadata={"description": "field name -> messages"})}


class ServiceHealth(Schema):
    status = fields.String(metadata={"example": "ok"})
    error = fields.String()


class CalendarHealth(Schema):
    last_day = fields.String(metadata={"description": "the last day the working-day calendar covers"})
    days_left = fields.Integer()
    warning = fields.String(allow_none=True, metadata={"description": "said well before the calendar runs out"})


class HealthOut(Schema):
    status = fields.String(metadata={"description": "ok, or degraded when a service is down"})
    agency = fields.String()
    services = fields.Dict(keys=fields.String(), values=fields.Nested(ServiceHealth))
    warnings = fields.List(fields.String(), metadata={
        "description": "present when something is unsafe beyond this machine, e.g. the published default PII keys"})
    calendar = fields.Nested(CalendarHealth)


class DashboardQuery(Schema):
    cycle = fields.String(validate=validate.Length(min=1, max=20))
    stage = fields.String(validate=validate.OneOf(["basic", "key", "final"]),
                          metadata={"description": "with cycle: that stage's ranking from scoring"})
    year = fields.Integer(validate=validate.Range(2000, 2100))


class DashboardPart(Schema):
    status = fields.String(metadata={"description": "ok, error or unavailable"})
    data = fields.Raw()
    error = fields.Raw()


class DashboardOut(Schema):
    parts = fields.Dict(keys=fields.String(), values=fields.Nested(DashboardPart))
    missing = fields.List(fields.String(), metadata={"description": "parts whose service did not answer"})


class SafetyFileOut(DashboardOut):
    """An enterprise's safety file (gateway.safety_file.gather): the parts, for this credit code."""

    credit_code = fields.String(metadata={"description": "compact, upper case"})


class CalendarIn(Schema):
    """One year's official holiday arrangement (the State Council notice)."""

    holidays = fields.List(fields.String(metadata={"format": "date"}), required=True,
                           metadata={"description": "rest days of the year, YYYY-MM-DD"})
    workdays = fields.List(fields.String(metadata={"format": "date"}), load_default=list,
                           metadata={"description": "weekend days worked instead, YYYY-MM-DD"})
    source = fields.String(required=True, validate=validate.Length(min=1, max=200),
                           metadata={"description": "the notice it comes from, e.g. 国办发明电〔2026〕X号"})
    replace = fields.Boolean(load_default=False, metadata={"description": "replace a year already added"})


class CalendarYearOut(Schema):
    year = fields.Integer()
    holidays = fields.List(fields.String())
    workdays = fields.List(fields.String())
    source = fields.String()
    added_at = fields.String()
    added_by = fields.String()


class CalendarOut(Schema):
    first_day = fields.String()
    last_day = fields.String()
    days_left = fields.Integer()
    added_years = fields.List(fields.Integer())
    warning = fields.String(allow_none=True)
    years = fields.List(fields.Nested(CalendarYearOut))


# the year in /api/v1/calendar/<int:year>: the years shared.calendar takes an arrangement for
CALENDAR_YEAR = fields.Integer(validate=validate.Range(min=MIN_YEAR, max=MAX_YEAR))
