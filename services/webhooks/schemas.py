"""Input and output schemas of the webhooks service (marshmallow 4).

It consumes every service's events and emits none of its own: the payloads it
sends are the producers' envelopes, byte for byte.
"""
from __future__ import annotations

import re

from marshmallow import Schema, ValidationError, fields, validate, validates

from shared.schemas import AuditOut  # noqa: F401  (the route tables name it per service)

SERVICE = "webhooks"
PATTERN = validate.Regexp(r"^[a-z0-9_*?]{1,60}$", error="lower-case letters, digits, _ and the wildcards * ? (≤60)")
MAX_FILTERS = 50


def _version(value):
    if value == "*":
        return
    if not isinstance(value, (int, str)) or isinstance(value, bool) or not re.fullmatch(r"[1-9][0-9]{0,2}", str(value)):
        raise ValidationError("a major version (1, 2, …) or *")


class EventTypeFilter(Schema):
    service = fields.String(load_default="*", validate=PATTERN,
                            metadata={"description": "producing service, e.g. registration; * for any"})
    event = fields.String(load_default="*", validate=PATTERN,
                          metadata={"description": "event name, e.g. candidate_approved or candidate_*; * for any"})
    version = fields.Raw(load_default="1", validate=_version, metadata={
        "description": "the major version you are written against (default 1); * for all",
        "anyOf": [{"type": "integer", "minimum": 1, "maximum": 999},  # as _version takes it
                  {"type": "string", "pattern": r"^([1-9][0-9]{0,2}|\*)$"}]})


class EndpointIn(Schema):
    url = fields.String(required=True, validate=validate.Length(min=1, max=2000),
                        metadata={"description": "http(s) URL that receives POSTs; private targets are refused"})
    description = fields.String(load_default="", validate=validate.Length(max=500))
    event_types = fields.List(fields.Nested(EventTypeFilter), required=True,
                              validate=validate.Length(min=1, max=MAX_FILTERS))

    @validates("url")
    def _no_controls(self, value, **kwargs):
        if any(ord(ch) < 33 for ch in value):
            raise ValidationError("no spaces or control characters")


class EndpointPatch(EndpointIn):
    url = fields.String(validate=validate.Length(min=1, max=2000))
    event_types = fields.List(fields.Nested(EventTypeFilter), validate=validate.Length(min=1, max=MAX_FILTERS))
    description = fields.String(validate=validate.Length(max=500))
    enabled = fields.Boolean(metadata={"description": "true re-enables a disabled endpoint; its pending "
                                                      "deliveries resume"})


class RotateIn(Schema):
    grace_seconds = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=0, max=7 * 86400),
                                   metadata={"description": "how long the old secret still signs (default: config)"})


class ReplaySinceIn(Schema):
    since = fields.AwareDateTime(required=True, metadata={"description": "every matching event received since"})


class DeliveryQuery(Schema):
    status = fields.String(validate=validate.OneOf(["pending", "succeeded", "failed"]))
    before = fields.Integer(validate=validate.Range(min=1, max=2**63 - 1),
                            metadata={"description": "delivery id to page back from"})
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class FeedQuery(Schema):
    after = fields.String(validate=validate.Length(max=200), metadata={"description": "opaque cursor from `next`"})
    type = fields.String(validate=[validate.Length(max=2000), validate.Regexp(
        r"^[a-z0-9_.*?,]+$", error="CloudEvents types or patterns, comma-separated (wsli.registration.*)")])
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500))


# ---- output ------------------------------------------------------------------------------------

class EndpointOut(Schema):
    id = fields.Integer()
    url = fields.String()
    description = fields.String()
    event_types = fields.List(fields.Dict())
    status = fields.String()
    disabled_reason = fields.String(allow_none=True)
    disabled_at = fields.AwareDateTime(allow_none=True)
    rotating_until = fields.AwareDateTime(attribute="previous_secret_until", allow_none=True)
    owner = fields.String()
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()
    version = fields.Integer()


class EndpointWithSecretOut(EndpointOut):
    secret = fields.String(metadata={"description": "shown once: keep it to verify webhook-signature"})


class AttemptOut(Schema):
    at = fields.AwareDateTime()
    outcome = fields.String()
    status_code = fields.Integer(allow_none=True)
    latency_ms = fields.Integer()
    response_excerpt = fields.String()
    error = fields.String(allow_none=True)


class DeliveryOut(Schema):
    id = fields.Integer()
    endpoint_id = fields.Integer()
    event_id = fields.String(metadata={"description": "= webhook-id"})
    event_type = fields.String()
    status = fields.String()
    attempts = fields.Integer()
    total_attempts = fields.Integer()
    next_attempt_at = fields.AwareDateTime(allow_none=True)
    created_at = fields.AwareDateTime()
    last_attempt_at = fields.AwareDateTime(allow_none=True)
    delivered_at = fields.AwareDateTime(allow_none=True)
    last_status_code = fields.Integer(allow_none=True)
    last_error = fields.String(allow_none=True)


class DeliveryDetailOut(DeliveryOut):
    attempt_log = fields.List(fields.Nested(AttemptOut))


class ReplayOut(Schema):
    replayed = fields.Integer()
    deliveries = fields.List(fields.Integer())


class EventTypeOut(Schema):
    type = fields.String()
    service = fields.String()
    event = fields.String()
    version = fields.Integer()
    description = fields.String()


class FeedOut(Schema):
    items = fields.List(fields.Dict(), metadata={"description": "CloudEvents envelopes, oldest first"})
    next = fields.String(metadata={"description": "cursor for the next page (pass as ?after=)"})
    has_more = fields.Boolean()
