"""A valid data body for any registered event, built from its marshmallow schema.

Choices of ``OneOf`` come first, ``Range`` minimums are honoured, and strings try a few
shapes until the field's validators accept one, so a new event type needs no new sample.
"""
from __future__ import annotations

import datetime
import decimal

from marshmallow import fields, validate

NOW = datetime.datetime(2026, 12, 2, 8, 0, tzinfo=datetime.timezone.utc)
STRING_SHAPES = ("x", "1.00", "2022", "a", "1", "x_1")


def value_for(field):
    validators = list(getattr(field, "validators", []))
    for v in validators:
        if isinstance(v, validate.OneOf):
            return list(v.choices)[0]
    if isinstance(field, fields.Nested):
        return [sample(field.schema)] if field.many else sample(field.schema)
    if isinstance(field, fields.List):
        return [value_for(field.inner)]
    if isinstance(field, fields.Dict):
        return {"k": 1} if isinstance(getattr(field, "value_field", None), fields.Integer) else {}
    if isinstance(field, (fields.AwareDateTime, fields.DateTime)):
        return NOW
    if isinstance(field, fields.Date):
        return NOW.date()
    if isinstance(field, fields.Decimal):
        return decimal.Decimal("1.00")
    if isinstance(field, fields.Integer):
        minimum = next((v.min for v in validators if isinstance(v, validate.Range) and v.min is not None), 1)
        return minimum
    if isinstance(field, fields.Float):
        return 1.0
    if isinstance(field, fields.Boolean):
        return True
    for candidate in STRING_SHAPES:
        try:
            for v in validators:
                v(candidate)
        except Exception:  # this shape is refused: try the next
            continue
        return candidate
    return "x"


def sample(schema) -> dict:
    return {(f.attribute or name): value_for(f) for name, f in schema.fields.items() if not f.dump_only}
