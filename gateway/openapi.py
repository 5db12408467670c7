"""OpenAPI 3 document generated from the route table and the marshmallow schemas."""
from __future__ import annotations

import functools
import re

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec.ext.marshmallow.common import resolve_schema_cls
from marshmallow import fields, validate

from . import schemas
from .routes import ALL_ROUTES

ERRORS = {
    "400": "Invalid input: `fields` names each field and its rule",
    "401": "No or unknown bearer token",
    "403": "The role or agency may not do this",
    "404": "Not found (or not visible to this caller)",
    "409": "Conflict: duplicate or changed meanwhile",
    "422": "A rule of the domain refused it: `rule` names it",
    "429": "Too many requests from this token or address: retry after `Retry-After` seconds",
    "503": "The service behind this route did not answer in time; retry later",
}


def _schema_name(schema) -> str:
    cls = schema if isinstance(schema, type) else type(schema)
    parts = cls.__module__.split(".")
    prefix = parts[1].capitalize() + "." if parts[0] == "services" else ""
    name = prefix + cls.__name__
    modifiers = []
    instance = schema if not isinstance(schema, type) else None
    if instance is not None and instance.partial:
        modifiers.append("Partial")
    return name + "".join(modifiers)


def _field_rules(self, field, **kwargs) -> dict:
    """What a field checks beyond what apispec reads from its validators, so the document says what the
    service's schema loads, from that schema:

    - a custom field's class states its rules (``openapi``: shared.validators, shared.districts);
    - a ``Dict`` whose keys are ``OneOf`` a few names is an object with those properties and no others
      (OpenAPI 3.0 has no ``propertyNames``).
    """
    rules = dict(getattr(field, "openapi", None) or {})
    if isinstance(field, fields.Dict) and field.key_field is not None:
        choices = [v.choices for v in field.key_field.validators if isinstance(v, validate.OneOf)]
        if choices:
            value = self.field2property(field.value_field) if field.value_field is not None else {}
            rules.update(properties={key: value for key in choices[0]}, additionalProperties=False)
    return rules


class _Plugin(MarshmallowPlugin):
    """apispec's plugin, plus the rules a schema states across its fields (its ``openapi`` dict: ``anyOf``
    for a field required with another's value, ``x-ordered`` for dates in order) beside its validators."""

    def schema_helper(self, name, definition, schema=None, **kwargs):
        json_schema = super().schema_helper(name, definition, schema=schema, **kwargs)
        extra = getattr(resolve_schema_cls(schema), "openapi", None) if schema is not None else None
        if json_schema is not None and isinstance(extra, dict):
            required = sorted(set(json_schema.get("required", ())) | set(extra.get("required", ())))
            json_schema = {**json_schema, **extra}
            if required:
                json_schema["required"] = required
        return json_schema


def _oa_path(path: str) -> str:
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", path)


@functools.lru_cache(maxsize=1)
def openapi_document() -> dict:
    marshmallow = _Plugin(schema_name_resolver=_schema_name)
    spec = APISpec(
        title="wsli API", version="1.0.0", openapi_version="3.0.3",
        plugins=[marshmallow],
        info={"description": "Work-safety liability insurance (安责险) programme services. "
                             "Bearer tokens bind a caller to an agency and a role."},
    )
    marshmallow.converter.add_attribute_function(_field_rules)

    def path_parameter(route, name: str) -> dict:
        field = route.path_arg_field(name)
        schema = marshmallow.converter.field2property(field) if field is not None else {"type": "string"}
        return {"in": "path", "name": name, "required": True, "schema": schema}

    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    spec.components.schema("Error", schema=schemas.ErrorOut)
    error_responses = {code: {"description": text, "content": {"application/json": {"schema": "Error"}}}
                       for code, text in ERRORS.items()}

    paths: dict[str, dict] = {}
    for route in ALL_ROUTES:
        op_id = f"{route.service}.{route.rpc}" + (".deprecated" if route.deprecated else "")
        op = {"summary": route.summary, "tags": [route.tag], "operationId": op_id,
              "parameters": [path_parameter(route, n) for n in route.path_args],
              "responses": dict(error_responses)}
        if route.roles:
            op["description"] = "Roles: " + ", ".join(route.roles)
        if route.deprecated:
            op["deprecated"] = True
        if not route.public:
            op["security"] = [{"bearer": []}]
        if route.query is not None and not route.upload:
            op["parameters"].append({"in": "query", "schema": route.query})
        if route.upload:
            op["requestBody"] = {"required": True, "content": {
                media: {"schema": {"type": "string", "format": "binary"}}
                for media in route.upload_types or ("application/octet-stream",)}}
            op["parameters"].append({"in": "query", "name": "filename", "schema": {"type": "string"}})
            if route.query is not None:
                op["parameters"].append({"in": "query", "schema": route.query})
        elif route.multipart:
            parts = {"report": {"type": "string", "description": "the form as JSON"}}
            parts.update({name: {"type": "array", "items": {"type": "string", "format": "binary"},
                                 "description": f"at most {limit} bytes per file"} for name, limit in route.multipart})
            op["requestBody"] = {"required": True, "content": {"multipart/form-data": {"schema": {
                "type": "object", "required": ["report"], "properties": parts}}}}
        elif route.body is not None:
            op["requestBody"] = {"required": route.body_required,
                                 "content": {"application/json": {"schema": route.body}}}
        if route.file:
            op["responses"][str(route.status)] = {"description": "A file download", "content": {
                media: {"schema": {"type": "string", "format": "binary"}}
                for media in route.file_types or ("application/octet-stream",)}}
        elif route.response is not None:
            body = {"type": "array", "items": route.response} if route.many else route.response
            op["responses"][str(route.status)] = {"description": "OK", "content": {"application/json": {"schema": body}}}
        else:
            op["responses"][str(route.status)] = {"description": "OK"}
        paths.setdefault(_oa_path(route.path), {})[route.method.lower()] = op

    _gateway_paths(paths, error_responses)
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


def _gateway_paths(paths: dict, errors: dict) -> None:
    json_of = lambda schema: {"application/json": {"schema": schema}}  # noqa: E731
    paths["/health"] = {"get": {"summary": "Each service's status; 200 while the gateway runs", "tags": ["platform"],
                                "responses": {"200": {"description": "OK", "content": json_of(schemas.HealthOut)}}}}
    paths["/openapi.json"] = {"get": {"summary": "This document", "tags": ["platform"],
                                      "responses": {"200": {"description": "OpenAPI 3"}}}}
