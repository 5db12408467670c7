"""OpenAPI 3 document generated from the route table and the marshmallow schemas."""
from __future__ import annotations

import functools
import re

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from . import schemas
from .routes import ROUTES

ERRORS = {
    "400": "Invalid input: `fields` names each field and its rule",
    "401": "No or unknown bearer token",
    "403": "The role or agency may not do this",
    "404": "Not found (or not visible to this caller)",
    "409": "Conflict: duplicate or changed meanwhile",
    "422": "A rule of the domain refused it: `rule` names it",
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


def _oa_path(path: str) -> str:
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", path)


@functools.lru_cache(maxsize=1)
def openapi_document() -> dict:
    spec = APISpec(
        title="wsli API", version="1.0.0", openapi_version="3.0.3",
        plugins=[MarshmallowPlugin(schema_name_resolver=_schema_name)],
        info={"description": "Work-safety liability insurance (安责险) programme services. "
                             "Bearer tokens bind a caller to an agency and a role."},
    )
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    spec.components.schema("Error", schema=schemas.ErrorOut)
    error_responses = {code: {"description": text, "content": {"application/json": {"schema": "Error"}}}
                       for code, text in ERRORS.items()}

    paths: dict[str, dict] = {}
    for route in ROUTES:
        op = {"summary": route.summary, "tags": [route.tag], "operationId": f"{route.service}.{route.rpc}",
              "parameters": [{"in": "path", "name": n, "required": True, "schema": {"type": "string"}}
                             for n in route.path_args],
              "responses": dict(error_responses)}
        if route.roles:
            op["description"] = "Roles: " + ", ".join(route.roles)
        if not route.public:
            op["security"] = [{"bearer": []}]
        if route.query is not None and not route.upload:
            op["parameters"].append({"in": "query", "schema": route.query})
        if route.upload:
            op["requestBody"] = {"required": True, "content": {"application/octet-stream": {
                "schema": {"type": "string", "format": "binary"}}}}
            op["parameters"].append({"in": "query", "name": "filename", "schema": {"type": "string"}})
            if route.query is not None:
                op["parameters"].append({"in": "query", "schema": route.query})
        elif route.body is not None:
            op["requestBody"] = {"required": True, "content": {"application/json": {"schema": route.body}}}
        if route.file:
            op["responses"][str(route.status)] = {"description": "A file download", "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}
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
    paths["/api/v1/tokens"] = {
        "post": {"summary": "Mint a token (admin); the secret is returned once", "tags": ["tokens"],
                 "security": [{"bearer": []}], "requestBody": {"required": True, "content": json_of(schemas.TokenIn)},
                 "responses": {"201": {"description": "Created", "content": json_of(schemas.TokenOut)}, **errors}},
        "get": {"summary": "List tokens (admin), without secrets", "tags": ["tokens"], "security": [{"bearer": []}],
                "responses": {"200": {"description": "OK", "content": json_of(
                    {"type": "array", "items": schemas.TokenOut})}, **errors}},
    }
    paths["/api/v1/tokens/{token_id}"] = {"delete": {
        "summary": "Revoke a token (admin)", "tags": ["tokens"], "security": [{"bearer": []}],
        "parameters": [{"in": "path", "name": "token_id", "required": True, "schema": {"type": "integer"}}],
        "responses": {"200": {"description": "Revoked", "content": json_of(schemas.TokenOut)}, **errors}}}
    paths["/api/v1/dashboard"] = {"get": {
        "summary": "Aggregated view from several services, fetched concurrently; a part whose service is down "
                   "is reported missing", "tags": ["aggregation"], "security": [{"bearer": []}],
        "parameters": [{"in": "query", "schema": schemas.DashboardQuery}],
        "responses": {"200": {"description": "OK", "content": json_of(schemas.DashboardOut)}, **errors}}}
    paths["/api/v1/safety-files/{credit_code}"] = {"get": {
        "summary": "An enterprise's safety file: risk (policies, inspections, hazards, requests) and the parts of "
                   "other services, fetched concurrently; a part that cannot be fetched is reported",
        "tags": ["aggregation"], "security": [{"bearer": []}],
        "parameters": [{"in": "path", "name": "credit_code", "required": True, "schema": {"type": "string"}}],
        "responses": {"200": {"description": "OK", "content": json_of(schemas.DashboardOut)}, **errors}}}
