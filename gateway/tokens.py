"""Bearer tokens: minted once, stored as a hash, bound to an agency and a role."""
from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from datetime import timedelta

from sqlalchemy import select, update

from shared.auth import ROLES, Principal
from shared.districts import binding_district, official_or_none
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
            district = binding_district(district, agency)
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


class TokenCache:
    """Recently seen tokens, so a request does not cost a database read and a commit.

    An entry lives ``ttl`` seconds; a revocation through this gateway drops it at once
    (``forget``), one made elsewhere (another gateway replica, ``wsli token revoke``)
    is seen within ``ttl``: that is the bound on how long a revoked token still works.
    Expiry is checked against the clock on every request, cached or not. ``ttl`` 0
    turns the cache off (every request reads the row, as before).
    """

    def __init__(self, ttl: float, max_entries: int = 10000):
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, dict]] = {}

    def get(self, token_hash: str) -> dict | None:
        entry = self._entries.get(token_hash)
        if entry is None:
            return None
        if time.monotonic() - entry[0] >= self.ttl:
            self._entries.pop(token_hash, None)
            return None
        return entry[1]

    def put(self, token_hash: str, snapshot: dict) -> None:
        if self.ttl <= 0:
            return
        if len(self._entries) >= self.max_entries:
            self._entries.clear()  # a crude bound: refilling costs one read per token
        self._entries[token_hash] = (time.monotonic(), snapshot)

    def forget(self, token_id) -> None:
        for key, (_, snapshot) in list(self._entries.items()):
            if str(snapshot["id"]) == str(token_id):
                self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()


_FIELDS = ("id", "agency_id", "role", "unit_id", "person", "district", "name", "revoked_at", "expires_at",
           "last_used_at")


def authenticate(session, header: str | None, local_agency: str, bootstrap: str | None,
                 cache: TokenCache | None = None) -> Principal | None:
    """The principal of an ``Authorization`` header; None when there is no header.

    ``session`` may be a callable returning the session, so a cached token opens none.
    """
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("use 'Authorization: Bearer <token>'")
    token = token.strip()
    if bootstrap and hmac.compare_digest(token.encode(), bootstrap.encode()):
        return Principal(role="admin", agency=local_agency, token_id="bootstrap", name="bootstrap-admin")
    digest = hash_token(token)
    row = cache.get(digest) if cache is not None else None
    fresh = row is None
    if fresh:
        db = session() if callable(session) else session
        found = db.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
        row = None if found is None else {f: getattr(found, f) for f in _FIELDS}
        if row is not None and cache is not None:
            cache.put(digest, row)
    if row is None or row["revoked_at"] is not None:
        raise Unauthenticated("unknown or revoked token")
    now = utcnow()
    if row["expires_at"] is not None and row["expires_at"] <= now:
        raise Unauthenticated("this token expired; ask for a new one")
    if fresh and (row["last_used_at"] is None or now - row["last_used_at"] >= LAST_USED_PRECISION):
        # only on a read from the database: at most one write per token per cache lifetime
        touch(db, row["id"], now)
        row["last_used_at"] = now
    if row["agency_id"] != local_agency:
        raise Forbidden(f"this token belongs to agency {row['agency_id']!r}; this deployment serves {local_agency!r}")
    principal = row.get("principal")  # built once per cached row: it is the same until the row is read again
    if principal is None:
        principal = row["principal"] = Principal(
            role=row["role"], agency=row["agency_id"], token_id=str(row["id"]), unit_id=row["unit_id"],
            person=row["person"], district=official_or_none(row["district"], row["agency_id"]), name=row["name"])
    return principal


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
