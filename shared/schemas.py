"""Schema helpers every service uses at its entrypoints."""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate
from sqlalchemy import func, select

from shared.errors import ValidationFailed, from_marshmallow

# A cycle (or other short business code) as it appears in URLs and bodies.
CODE = validate.Regexp(r"^[0-9A-Za-z][0-9A-Za-z_-]{0,19}$", error="letters, digits, - and _ only (≤20)")
MAX_ID = 2**62  # beyond any row id, and within every backend's bigint
YEARS = validate.Range(min=2000, max=2100, error="Must be between 2000 and 2100.")

# What a URL segment holds, as the fields the gateway's OpenAPI document states for its path
# parameters; as_id and as_code below, and each service's year check, apply the same bounds.
URL_ID = fields.Integer(validate=validate.Range(min=1, max=MAX_ID))
URL_CODE = fields.String(validate=CODE)
URL_YEAR = fields.Integer(validate=YEARS)


def required_when(field: str, values, *required: str) -> dict:
    """JSON Schema (OpenAPI 3.0) for "when ``field`` is one of ``values``, each of ``required`` is given".

    A schema whose ``@validates_schema`` checks such a rule states it beside the validator, in its
    ``openapi`` dict (``{"allOf": [required_when(...), ...]}``); the gateway's document carries it.
    """
    return {"anyOf": [{"properties": {field: {"not": {"enum": list(values)}}}},
                      {"required": list(required), "properties": {name: {"not": {"enum": [None]}} for name in required}}]}


def only_when(field: str, values, *names: str) -> dict:
    """JSON Schema for "``names`` are given (not null) only when ``field`` is one of ``values``"."""
    return {"anyOf": [{"required": [field], "properties": {field: {"enum": list(values)}}},
                      {"properties": {name: {"enum": [None]} for name in names}}]}


def one_of_required(*names: str) -> dict:
    """JSON Schema for "exactly one of ``names``" (a schema's ``openapi`` dict, beside its validator)."""
    return {"oneOf": [{"required": [name]} for name in names]}


def any_of_required(*names: str) -> dict:
    """JSON Schema for "at least one of ``names``, not null" (a schema's ``openapi`` dict, beside its validator)."""
    return {"anyOf": [{"required": [name], "properties": {name: {"not": {"enum": [None]}}}} for name in names]}


def ordered(earlier: str, later: str, strict: bool = True) -> list:
    """An ``x-ordered`` rule of a schema's ``openapi`` dict: ``later`` (a date) comes after ``earlier`` (``strict``)
    or not before it. JSON Schema cannot compare two values; the extension says it, and the suite's fuzzing
    honours it. Paths are ``field`` or ``field/0`` (an item of a list)."""
    return [earlier, later, "<" if strict else "<="]


_INSTANCES: dict[tuple, Schema] = {}


def schema_instance(schema_cls: type[Schema], **options) -> Schema:
    """One shared instance per schema class and options.

    Building a schema deep-copies its declared fields, which cost ~9 % of a service's
    CPU when done on every call. A marshmallow (4) schema keeps no per-call state in
    the instance (no ``context`` any more), so one instance serves every worker; a
    race between two first calls only builds it twice.
    """
    key = (schema_cls, tuple(sorted(options.items())))
    schema = _INSTANCES.get(key)
    if schema is None:
        schema = _INSTANCES[key] = schema_cls(**options)
    return schema


def load(schema_cls: type[Schema], payload, partial: bool = False) -> dict:
    """Validate untrusted input; any problem becomes ``ValidationFailed`` naming the fields."""
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise ValidationFailed("the body must be a JSON object", {"_schema": ["must be a JSON object"]})
    try:
        return schema_instance(schema_cls, partial=partial).load(payload)
    except ValidationError as err:
        raise from_marshmallow(err) from None


def page_of(items: list, page: int, per_page: int, total: int) -> dict:
    return {"items": items, "page": page, "per_page": per_page, "total": total}


def paginate(session, stmt, order_column, params: dict, render) -> dict:
    """One page of ``stmt`` (``params`` has ``page`` and ``per_page``), rendered, with the total.

    The count drops any ORDER BY (it cannot change a count and makes PostgreSQL sort
    the whole set); ``unique()`` folds the duplicate rows a joined eager load yields.
    """
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    page, per_page = params["page"], params["per_page"]
    rows = session.scalars(stmt.order_by(order_column).offset((page - 1) * per_page).limit(per_page))
    return page_of([render(r) for r in rows.unique()], page, per_page, total)


def as_id(value, field: str = "id") -> int:
    """A row id from a URL or body: a positive integer, else a 400 on ``field`` (never a 500 from the database)."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValidationFailed("ids are positive integers", {field: [f"{value!r} is not an id"]}) from None
    if number < 1 or number > MAX_ID:
        raise ValidationFailed("ids are positive integers", {field: [f"{value!r} is out of range"]})
    return number


def as_code(value, field: str = "cycle") -> str:
    """A cycle code from a URL: checked before it reaches a query or a file name."""
    text = "" if value is None else str(value)
    try:
        CODE(text)
    except ValidationError:
        raise ValidationFailed("bad cycle code", {field: ["letters, digits, - and _ only (≤20)"]}) from None
    return text


def as_credit_code(value, field: str = "credit_code") -> str:
    """A unified social credit code from a URL: checked and compacted (upper case), else a 400 on ``field``."""
    from .validators import normalize_uscc
    try:
        return normalize_uscc("" if value is None else str(value))
    except ValidationError as exc:
        raise ValidationFailed("bad unified social credit code", {field: exc.messages}) from None


class AuditOut(Schema):
    """One entry of a record's audit trail (every service keeps one in ``audit_log``)."""

    at = fields.AwareDateTime()
    actor = fields.String()
    actor_role = fields.String()
    action = fields.String()
    entity_type = fields.String()
    entity_id = fields.String()
    detail = fields.Dict()


def with_values(row, **values):
    """``row`` as an output schema sees it, plus the ``values`` a query or a rule computed.

    Output is ``SomethingOut().dump(with_values(row, count=3))``: the schema names every
    field, renames with ``attribute=`` (``id_number`` from ``id_masked``), and dumps the
    row itself; only what is not a column comes in ``values``.
    """
    return _RowWith(row, values)


class _RowWith:
    __slots__ = ("_row", "_values")

    def __init__(self, row, values: dict):
        self._row, self._values = row, values

    def __getattr__(self, name):
        values = object.__getattribute__(self, "_values")
        if name in values:
            return values[name]
        return getattr(object.__getattribute__(self, "_row"), name)


def agency_row(session, model, agency: str, raw_id, not_found: str | None = None):
    """The ``model`` row with this id in ``agency``; another agency's rows do not exist here.

    With ``not_found`` ("exam"), a missing row is ``NotFound("exam 7 not found")``; without,
    it is None.
    """
    from shared.errors import NotFound

    row = session.get(model, as_id(raw_id))
    if row is not None and row.agency_id == agency:
        return row
    if not_found:
        raise NotFound(f"{not_found} {raw_id} not found")
    return None


# Listing routes: one query shape and one page shape for every service.
class PageQuery(Schema):
    """?page=&per_page= of a listing (at most 200 a page)."""

    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100000))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


def page_schema(item):
    return type(f"{item.__name__.removesuffix('Out')}Page", (Schema,), {
        "items": fields.List(fields.Nested(item)), "page": fields.Integer(), "per_page": fields.Integer(),
        "total": fields.Integer()})
