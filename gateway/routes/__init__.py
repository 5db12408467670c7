"""The HTTP surface: one table drives both dispatch and the OpenAPI document.

A route forwards to ``service.method(*path_args, body)`` for writes and
``service.method(*path_args, query)`` for reads with a query schema; the service
validates. The gateway itself only authenticates, checks the route's roles, parses
JSON and maps errors. Each service's routes live in ``gateway/routes/<service>.py``
as ``ROUTES``, their roles taken from ``services/<service>/roles.py`` (the tuples the
service's ``@rpc(roles=...)`` checks too); the gateway's own routes (tokens, the
dashboard) are in ``local.py``. Every service's audit trail answers at
``/api/v1/audit/<service>/<entity_type>/<entity_id>``.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from importlib import import_module

from shared.auth import ROLES, STAFF

# every caller with a token; the parts a route gathers check their own roles
AUTHENTICATED = tuple(r for r in ROLES if r != "public")


@dataclass(frozen=True)
class Route:
    method: str
    path: str               # werkzeug syntax: /api/v1/candidates/<int:candidate_id>
    service: str
    rpc: str
    summary: str
    tag: str
    body: type | None = None
    query: type | None = None
    response: type | None = None
    many: bool = False
    status: int = 200
    public: bool = False
    roles: tuple[str, ...] = field(default=())   # checked by the gateway, and by the service again
    # The service answers {"filename", "content_type", "data_base64"}; the gateway sends the bytes.
    file: bool = False
    # The media types such a file may be (the document lists them); application/octet-stream when empty.
    file_types: tuple[str, ...] = ()
    # The request body is a raw file: the service gets {"filename", "content_type", "data_base64", "query"}.
    upload: bool = False
    max_upload_bytes: int = 64 * 1024 * 1024
    # The media types an upload may be (the service sniffs the content and refuses others); any when empty.
    upload_types: tuple[str, ...] = ()
    # A multipart/form-data body: (part, most bytes per file) for each file part; a JSON part "report".
    # The service gets {"report": {...}, "files": {part: [{filename, content_type, data_base64}, …]}};
    # max_upload_bytes bounds the whole request.
    multipart: tuple[tuple[str, int], ...] = ()
    # A bulk route (shared.bulk, ≤ 500 items) may take this many times the RPC timeout to answer.
    timeout_scale: float = 1.0
    # An older URL kept answering for clients that use it; the document marks it deprecated.
    deprecated: bool = False
    # The field a path parameter holds when its name does not say it (see ``path_arg_field``).
    args: dict = field(default_factory=dict, hash=False, compare=False)

    @functools.cached_property
    def body_required(self) -> bool:
        """A body with a required field must be sent; one with only optional fields may be left out."""
        if self.body is None:
            return False
        return any(f.required for f in self.body._declared_fields.values())

    @functools.cached_property  # asked on every request it serves
    def path_args(self) -> tuple[str, ...]:
        return tuple(m.split(":")[-1] for m in re.findall(r"<([^>]+)>", self.path))

    def path_arg_field(self, name: str):
        """The marshmallow field the service checks this path parameter with (None: any text)."""
        from shared.schemas import URL_CODE, URL_ID, URL_YEAR
        from shared.validators import SocialCreditCode

        if name in self.args:
            return self.args[name]
        if name.endswith("_id") and name != "entity_id":
            return URL_ID
        return {"year": URL_YEAR, "cycle": URL_CODE, "credit_code": SocialCreditCode()}.get(name)


LOCAL = "gateway"  # a route the gateway answers itself


def audit_route(service: str) -> Route:
    """The one URL shape of an audit trail: every service answers ``audit_trail`` (PlatformRpc)."""
    from shared.schemas import AuditOut

    return Route("GET", f"/api/v1/audit/{service}/<entity_type>/<entity_id>", service, "audit_trail",
                 f"Audit trail of a {service} record", "audit", response=AuditOut, many=True, roles=STAFF)


def _collect() -> list[Route]:
    from shared.catalogue import SERVICES
    routes: list[Route] = []
    for c in SERVICES:
        routes.extend(import_module(f"{__name__}.{c.name}").ROUTES)
        routes.append(audit_route(c.name))
    return routes


BULK_TIMEOUT_SCALE = 10.0

ROUTES: list[Route] = _collect()
ALL_ROUTES: list[Route] = ROUTES + import_module(f"{__name__}.local").ROUTES
