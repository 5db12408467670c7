"""Errors that cross RPC boundaries.

Each class is registered with nameko's ``deserialize_to_instance`` so a caller
(the gateway) gets the same exception back, not a generic ``RemoteError``, and
maps it to an HTTP status without parsing strings.
"""
from __future__ import annotations

import json

from nameko.exceptions import deserialize_to_instance, get_module_path, registry


class WsliError(Exception):
    """Base of every expected error. ``fields`` maps a field to its messages."""

    http_status = 500
    code = "error"

    def __init__(self, message: str, fields: dict | None = None):
        super().__init__(message, fields or {})
        self.message = message
        self.fields = fields or {}

    def __init_subclass__(cls, **kwargs):
        """A subclass not registered itself (``shared.workdays.CalendarOutOfRange``) crosses RPC as its nearest
        registered base, built from the base's args: the gateway still answers the base's status (a 422 with
        its ``rule``), not a ``RemoteError`` (500). ``@deserialize_to_instance`` on the subclass overrides it."""
        super().__init_subclass__(**kwargs)
        for base in cls.__mro__[1:]:
            if registry.get(get_module_path(base)) is base:
                registry[get_module_path(cls)] = base
                break

    def to_dict(self) -> dict:
        body = {"error": self.code, "message": self.message}
        if self.fields:
            body["fields"] = self.fields
        return body

    def __str__(self) -> str:
        return self.message


@deserialize_to_instance
class ValidationFailed(WsliError):
    """Input does not have the right shape: types, required fields, lengths."""

    http_status = 400
    code = "validation_failed"


@deserialize_to_instance
class Unauthenticated(WsliError):
    http_status = 401
    code = "unauthenticated"


@deserialize_to_instance
class Forbidden(WsliError):
    http_status = 403
    code = "forbidden"


@deserialize_to_instance
class NotFound(WsliError):
    http_status = 404
    code = "not_found"


@deserialize_to_instance
class Conflict(WsliError):
    """The request clashes with what exists: a duplicate, a stale state."""

    http_status = 409
    code = "conflict"


@deserialize_to_instance
class NotReady(Conflict):
    """A step that needs everything in (closing a stage) while something is missing or still in flight.

    The answer carries ``readiness`` (what is missing, what is in flight); the caller may
    repeat the request with an explicit confirmation.
    """

    code = "not_ready"

    def __init__(self, message: str, fields: dict | None = None, readiness: dict | str | None = None):
        super().__init__(message, fields)
        # across RPC as JSON text: nameko makes every non-string in an exception's args a string
        self.readiness = json.loads(readiness) if isinstance(readiness, str) else (readiness or {})
        self.args = (message, self.fields, json.dumps(self.readiness, ensure_ascii=False, default=str))

    def to_dict(self) -> dict:
        return dict(super().to_dict(), readiness=self.readiness)


@deserialize_to_instance
class RuleViolation(WsliError):
    """Well-formed input that a rule of the domain refuses (deadline, quota, …)."""

    http_status = 422
    code = "rule_violation"

    def __init__(self, message: str, fields: dict | None = None, rule: str | None = None):
        super().__init__(message, fields)
        self.args = (message, self.fields, rule)
        self.rule = rule

    def to_dict(self) -> dict:
        body = super().to_dict()
        if self.rule:
            body["rule"] = self.rule
        return body


@deserialize_to_instance
class TooManyRequests(WsliError):
    """A caller over its rate limit (public forms): retry later."""

    http_status = 429
    code = "too_many_requests"


def from_marshmallow(err) -> ValidationFailed:
    """Turn a marshmallow ``ValidationError`` into our ``ValidationFailed``."""
    messages = err.messages if isinstance(err.messages, dict) else {"_schema": err.messages}
    names = ", ".join(sorted(str(k) for k in messages))
    return ValidationFailed(f"invalid input: {names}", messages)
