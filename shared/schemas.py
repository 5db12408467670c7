"""Schema helpers every service uses at its entrypoints."""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields

from shared.errors import ValidationFailed, from_marshmallow


def load(schema_cls: type[Schema], payload, partial: bool = False) -> dict:
    """Validate untrusted input; any problem becomes ``ValidationFailed`` naming the fields."""
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise ValidationFailed("the body must be a JSON object", {"_schema": ["must be a JSON object"]})
    try:
        return schema_cls(partial=partial).load(payload)
    except ValidationError as err:
        raise from_marshmallow(err) from None


def page_of(items: list, page: int, per_page: int, total: int) -> dict:
    return {"items": items, "page": page, "per_page": per_page, "total": total}


class AuditOut(Schema):
    """One entry of a record's audit trail (every service keeps one in ``audit_log``)."""

    at = fields.AwareDateTime()
    actor = fields.String()
    actor_role = fields.String()
    action = fields.String()
    entity_type = fields.String()
    entity_id = fields.String()
    detail = fields.Dict()
