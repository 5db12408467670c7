"""The HTTP surface: one table drives both dispatch and the OpenAPI document.

A route forwards to ``service.method(*path_args, body)`` for writes and
``service.method(*path_args, query)`` for reads with a query schema; the service
validates. The gateway itself only authenticates, parses JSON and maps errors.
Each service's routes live in ``gateway/routes/<service>.py`` as ``ROUTES``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import import_module


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
    roles: tuple[str, ...] = field(default=())   # documentation; services enforce
    # The service answers {"filename", "content_type", "data_base64"}; the gateway sends the bytes.
    file: bool = False
    # The request body is a raw file: the service gets {"filename", "content_type", "data_base64", "query"}.
    upload: bool = False
    max_upload_bytes: int = 64 * 1024 * 1024

    @property
    def body_required(self) -> bool:
        """A body with a required field must be sent; one with only optional fields may be left out."""
        if self.body is None:
            return False
        return any(f.required for f in self.body._declared_fields.values())

    @property
    def path_args(self) -> list[str]:
        return [m.split(":")[-1] for m in re.findall(r"<([^>]+)>", self.path)]


STAFF = ("admin", "operator")


def _collect() -> list[Route]:
    from shared.catalogue import SERVICES
    routes: list[Route] = []
    for c in SERVICES:
        routes.extend(import_module(f"{__name__}.{c.name}").ROUTES)
    return routes


ROUTES: list[Route] = _collect()
