"""Bulk actions: many items in one call, each applied whole or not at all, each with its own result.

A bulk route does what its single route does, item by item, in one transaction with a
savepoint per item: an item that the single route would refuse is rolled back alone and
reported with the single route's HTTP status, error code, message, fields and rule; the
others stand. Items are locked and applied in key order, so two bulk calls over the same
items wait for each other instead of deadlocking; the second one finds the first one's
work done and reports ``already`` for it (nothing applied twice). Repeating a call is
therefore harmless: what was done is reported ``already``, what failed is tried again.
"""
from __future__ import annotations

import sys
from typing import Callable, Hashable, Iterable

from marshmallow import Schema, fields, validate
from sqlalchemy.exc import IntegrityError

from shared.db import conflict_from
from shared.errors import ValidationFailed, WsliError

MAX_ITEMS = 500

APPLIED = "applied"     # this call changed the item
ALREADY = "already"     # the item was already in the wanted state: nothing changed


def ids_field(name: str) -> fields.List:
    """1–500 positive ids; the rule is named in the message when broken."""
    return fields.List(
        fields.Integer(strict=False, validate=validate.Range(min=1, error="must be a positive id")),
        required=True,
        validate=validate.Length(min=1, max=MAX_ITEMS,
                                 error=f"between {{min}} and {{max}} {name} per call (bulk limit {MAX_ITEMS})"),
        metadata={"description": f"at most {MAX_ITEMS} ids"})


def unique(keys: list, field: str) -> list:
    """A key named twice in one call is refused: its result would be ambiguous."""
    seen, twice = set(), []
    for key in keys:
        if key in seen:
            twice.append(key)
        seen.add(key)
    if twice:
        raise ValidationFailed(f"{field}: repeated items", {field: [f"repeated: {', '.join(map(str, twice[:10]))}"]})
    return keys


def apply_each(db, keys: Iterable[Hashable], apply: Callable[[Hashable], tuple[str, dict]],
               describe: Callable[[Hashable], dict]) -> dict:
    """Run ``apply(key)`` for every key in its own savepoint; collect one result per key.

    ``apply`` returns ``(APPLIED or ALREADY, extra fields)`` or raises the single route's
    ``WsliError``. ``describe(key)`` gives the fields naming the item in its result.
    Results come back in the order the caller sent the keys.
    """
    keys = list(keys)
    results: dict = {}
    for key in sorted(keys):
        try:
            with db.session.begin_nested():
                outcome, extra = apply(key)
        except WsliError as exc:
            results[key] = dict(describe(key), ok=False, status=exc.http_status, **exc.to_dict())
            continue
        except IntegrityError as exc:  # a concurrent call made the same row first: the single route's 409
            error = conflict_from(exc, getattr(db, "metadata", None))
            results[key] = dict(describe(key), ok=False, status=error.http_status, **error.to_dict())
            continue
        results[key] = dict(describe(key), ok=True, outcome=outcome, **extra)
    items = [results[k] for k in keys]
    return {"total": len(items), "succeeded": sum(1 for i in items if i["ok"]),
            "failed": sum(1 for i in items if not i["ok"]),
            "applied": sum(1 for i in items if i.get("outcome") == APPLIED), "items": items}


class BulkItemOut(Schema):
    ok = fields.Boolean(required=True)
    outcome = fields.String(metadata={"description": "applied (changed now) or already (nothing to do)"})
    status = fields.Integer(metadata={"description": "the single route's HTTP status for a refused item"})
    error = fields.String()
    message = fields.String()
    fields_ = fields.Dict(data_key="fields", attribute="fields")
    rule = fields.String()


def bulk_out(name: str, item_fields: dict) -> type[Schema]:
    """The response schema ``name`` (``BulkSealOut``) of a bulk route whose items carry ``item_fields``.

    Each bulk route's items differ, so each gets its own names (``BulkSealOut``, ``BulkSealItem``) in the
    caller's module: the OpenAPI document then holds one component per route, not one name for several shapes.
    """
    module = sys._getframe(1).f_globals["__name__"]
    item = type(name.removesuffix("Out") + "Item", (BulkItemOut,), {**item_fields, "__module__": module})
    return type(name, (Schema,), {
        "total": fields.Integer(), "succeeded": fields.Integer(), "failed": fields.Integer(),
        "applied": fields.Integer(), "items": fields.List(fields.Nested(item)), "__module__": module})
