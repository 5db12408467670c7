"""Who is calling: the principal the gateway authenticated, carried in nameko context data.

The gateway puts the principal in the worker context; nameko copies context data
into the headers of every RPC it makes, so a service reads it back here and
enforces object-level access itself (a unit sees its own candidates only, another
agency's records do not exist for it).
"""
from __future__ import annotations

import functools
import json
from dataclasses import asdict, dataclass

from nameko.extensions import DependencyProvider

from shared.errors import Forbidden, Unauthenticated

CONTEXT_KEY = "wsli_principal"

ROLES = (
    "admin",       # runs the deployment: tokens, everything
    "operator",    # the operation center's staff
    "unit",        # a nominating unit (district office, insurer branch, ...)
    "expert",
    "lecturer",
    "enterprise",
    "insurer",
    "service_org",  # a safety service organisation sent to inspect enterprises
    "regulator",   # district safety office / emergency bureau
    "integrator",  # read-only system access for integrations
    "finance",     # payment exports: the only role that sees bank accounts unmasked
    "organisation",  # a case-submitting organisation (cases service), bound to its organisation id
    "public",      # anonymous callers of the few public routes
)

STAFF = ("admin", "operator")


@dataclass(frozen=True)
class Principal:
    role: str
    agency: str
    token_id: str = ""
    unit_id: int | None = None
    person: str | None = None
    district: str | None = None
    name: str = ""

    @property
    def actor(self) -> str:
        return self.name or (f"token:{self.token_id}" if self.token_id else self.role)

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF

    def to_context(self) -> str:
        return _context_of(self)

    @classmethod
    def from_context(cls, raw) -> "Principal | None":
        if not raw:
            return None
        data = json.loads(raw) if isinstance(raw, (str, bytes)) else dict(raw)
        return cls(**{k: data.get(k) for k in cls.__dataclass_fields__ if k in data})

    def require(self, *roles: str) -> "Principal":
        if self.role == FOREIGN:
            raise Forbidden(f"a principal of agency {self.agency!r} has no access to this agency's records")
        if self.role not in roles:
            raise Forbidden(f"role {self.role!r} may not do this (needs one of: {', '.join(roles)})")
        return self

    def require_agency(self, agency: str) -> "Principal":
        if self.agency != agency:
            raise Forbidden("this deployment serves another agency")
        return self


@functools.lru_cache(maxsize=4096)
def _context_of(principal: Principal) -> str:
    # the same few principals call again and again (each token is one): encode each once
    return json.dumps(asdict(principal), ensure_ascii=False)


SYSTEM = "system"
FOREIGN = "foreign"  # a principal of another agency: sees and changes nothing here


class CallerProvider(DependencyProvider):
    """``self.caller`` in a service: the authenticated principal of this call.

    Calls without a principal come from inside the platform (another service, an
    operator command); they act as ``system`` of the local agency.
    """

    def setup(self):
        from shared.config import agency_of

        self.agency = agency_of(self.container.config)

    def get_dependency(self, worker_ctx):
        raw = worker_ctx.data.get(CONTEXT_KEY)
        principal = Principal.from_context(raw)
        if principal is None:
            return Principal(role=SYSTEM, agency=self.agency, name="system")
        if principal.agency != self.agency:
            return Principal(role=FOREIGN, agency=principal.agency, token_id=principal.token_id, name=principal.name)
        return principal


def anonymous(agency: str) -> Principal:
    return Principal(role="public", agency=agency, name="anonymous")


def require_authenticated(principal: Principal | None) -> Principal:
    if principal is None or principal.role == "public":
        raise Unauthenticated("a bearer token is required")
    return principal
