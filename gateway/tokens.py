"""Bearer tokens: minted once, stored as a hash, bound to an agency and a role."""
from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import select

from shared.auth import ROLES, Principal
from shared.errors import Forbidden, Unauthenticated, ValidationFailed
from shared.workdays import utcnow

from .models import ApiToken

PREFIX = "wsli_"
# Roles whose tokens must say which unit / district / person they act for.
# An enterprise acts for its credit code (person); an insurer and a service organisation for
# their id in the risk service (unit_id).
BINDINGS = {"unit": "unit_id", "regulator": "district", "lecturer": "person", "expert": "person",
            "enterprise": "person", "insurer": "unit_id", "service_org": "unit_id"}


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def create_token(session, role: str, agency: str, name: str | None = None, unit_id: int | None = None,
                 district: str | None = None, person: str | None = None) -> tuple[str, ApiToken]:
    if role not in ROLES or role == "public":
        raise ValidationFailed("unknown role", {"role": [f"must be one of: {', '.join(r for r in ROLES if r != 'public')}"]})
    binding = BINDINGS.get(role)
    values = {"unit_id": unit_id, "district": district, "person": person}
    if binding and not values[binding]:
        raise ValidationFailed(f"a {role} token is bound to a {binding}", {binding: ["required for this role"]})
    token = new_token()
    row = ApiToken(token_hash=hash_token(token), prefix=token[:12], agency_id=agency, role=role,
                   unit_id=unit_id, district=district, person=person, name=name or role, created_at=utcnow())
    session.add(row)
    session.flush()
    return token, row


def authenticate(session, header: str | None, local_agency: str, bootstrap: str | None) -> Principal | None:
    """The principal of an ``Authorization`` header; None when there is no header."""
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("use 'Authorization: Bearer <token>'")
    token = token.strip()
    if bootstrap and hmac.compare_digest(token.encode(), bootstrap.encode()):
        return Principal(role="admin", agency=local_agency, token_id="bootstrap", name="bootstrap-admin")
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    if row is None or row.revoked_at is not None:
        raise Unauthenticated("unknown or revoked token")
    if row.agency_id != local_agency:
        raise Forbidden(f"this token belongs to agency {row.agency_id!r}; this deployment serves {local_agency!r}")
    return Principal(role=row.role, agency=row.agency_id, token_id=str(row.id), unit_id=row.unit_id,
                     person=row.person, district=row.district, name=row.name)


def token_out(row: ApiToken) -> dict:
    return {"id": row.id, "prefix": row.prefix, "agency": row.agency_id, "role": row.role, "unit_id": row.unit_id,
            "district": row.district, "person": row.person, "name": row.name,
            "created_at": row.created_at.isoformat(), "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None}
