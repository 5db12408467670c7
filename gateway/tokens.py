"""Bearer tokens: minted once, stored as a hash, bound to an agency and a role."""
from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from datetime import timedelta

from sqlalchemy import select, update

from shared.auth import ROLES, Principal
from shared.districts import official_district, official_or_none
from shared.errors import Forbidden, Unauthenticated, ValidationFailed
from shared.workdays import utcnow

from .models import ApiToken

log = logging.getLogger(__name__)

PREFIX = "wsli_"
# Roles whose tokens must say which unit / district / person they act for.
# An enterprise acts for its credit code (person); an insurer and a service organisation for
# their id in the risk service (unit_id).
BINDINGS = {"unit": "unit_id", "regulator": "district", "lecturer": "person", "expert": "person",
            "enterprise": "person", "organisation": "unit_id",
            "insurer": "unit_id", "service_org": "unit_id"}


# How long a token lives unless its creator says otherwise: the more a role can do,
# the sooner its token ends.
DEFAULT_TTL_DAYS = {"admin": 30, "operator": 90, "finance": 90, "unit": 365, "expert": 365, "lecturer": 365,
                    "enterprise": 365, "insurer": 365, "regulator": 365, "integrator": 365,
                    "organisation": 365, "service_org": 365}
MAX_TTL_DAYS = 730
LAST_USED_PRECISION = timedelta(minutes=1)  # one write a minute per token, not one per request


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def create_token(session, role: str, agency: str, name: str | None = None, unit_id: int | None = None,
                 district: str | None = None, person: str | None = None,
                 expires_in_days: int | None = None) -> tuple[str, ApiToken]:
    if role not in ROLES or role == "public":
        raise ValidationFailed("unknown role", {"role": [f"must be one of: {', '.join(r for r in ROLES if r != 'public')}"]})
    binding = BINDINGS.get(role)
    if district is not None:  # stored as the official name: 朝阳 and 朝阳区 are one fence
        try:
            district = official_district(district, agency)
        except ValueError as exc:
            raise ValidationFailed("unknown district", {"district": [str(exc)]}) from None
    values = {"unit_id": unit_id, "district": district, "person": person}
    if binding and not values[binding]:
        raise ValidationFailed(f"a {role} token is bound to a {binding}", {binding: ["required for this role"]})
    days = DEFAULT_TTL_DAYS.get(role, 90) if expires_in_days is None else expires_in_days
    if not 1 <= days <= MAX_TTL_DAYS:
        raise ValidationFailed("a token lives 1 to 730 days", {"expires_in_days": [f"between 1 and {MAX_TTL_DAYS}"]})
    token = new_token()
    now = utcnow()
    row = ApiToken(token_hash=hash_token(token), prefix=token[:12], agency_id=agency, role=role,
                   unit_id=unit_id, district=district, person=person, name=name or role, created_at=now,
                   expires_at=now + timedelta(days=days))
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
    now = utcnow()
    if row.expires_at is not None and row.expires_at <= now:
        raise Unauthenticated("this token expired; ask for a new one")
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_PRECISION:
        touch(session, row.id, now)
    if row.agency_id != local_agency:
        raise Forbidden(f"this token belongs to agency {row.agency_id!r}; this deployment serves {local_agency!r}")
    return Principal(role=row.role, agency=row.agency_id, token_id=str(row.id), unit_id=row.unit_id,
                     person=row.person, district=official_or_none(row.district, row.agency_id), name=row.name)


def touch(session, token_id: int, now) -> None:
    """Record the use and commit at once (authentication runs first, so only the token read
    is in the transaction); the request's own work may later roll back."""
    try:
        session.execute(update(ApiToken.__table__).where(ApiToken.__table__.c.id == token_id)
                        .values(last_used_at=now))
        session.commit()
    except Exception as exc:  # bookkeeping must never refuse a valid request
        session.rollback()
        log.warning("could not record the use of token %s: %s", token_id, exc)


def revoke(session, token_id: int, agency: str):
    row = session.get(ApiToken, token_id)
    if row is None or row.agency_id != agency:
        return None
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    return row


def _iso(value):
    return value.isoformat() if value else None


def token_out(row: ApiToken) -> dict:
    return {"id": row.id, "prefix": row.prefix, "agency": row.agency_id, "role": row.role, "unit_id": row.unit_id,
            "district": row.district, "person": row.person, "name": row.name,
            "created_at": row.created_at.isoformat(), "revoked_at": _iso(row.revoked_at),
            "expires_at": _iso(row.expires_at), "last_used_at": _iso(row.last_used_at)}
