"""People's accounts: argon2 passwords, lockout with back-off, sessions and their CSRF tokens.

Kept free of nameko and HTTP so the rules of logging in are tested directly. Every
function takes the SQLAlchemy session and ``now``; the caller commits.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select

from gateway.tokens import BINDINGS
from shared.auth import ROLES, Principal
from shared.districts import binding_district, official_or_none
from shared.errors import ValidationFailed

from .models import WebSession, WebUser

# argon2id with the library's defaults (RFC 9106 low-memory profile).
HASHER = PasswordHasher()
# Verified against when the username is unknown, so both answers take as long.
_DUMMY_HASH = HASHER.hash("wsli-no-such-user")

MIN_PASSWORD = 10
LOGIN_ROLES = tuple(r for r in ROLES if r != "public")


@dataclass(frozen=True)
class LoginPolicy:
    """After ``max_failures`` wrong passwords in a row the account locks for ``lock_seconds``,
    doubling with every further failure up to ``max_lock_seconds``; a success resets it."""

    max_failures: int = 5
    lock_seconds: int = 300
    max_lock_seconds: int = 3600
    session_hours: float = 8.0

    @classmethod
    def from_config(cls, config: dict) -> "LoginPolicy":
        return cls(max_failures=int(config.get("LOGIN_MAX_FAILURES") or 5),
                   lock_seconds=int(config.get("LOGIN_LOCK_SECONDS") or 300),
                   max_lock_seconds=int(config.get("LOGIN_MAX_LOCK_SECONDS") or 3600),
                   session_hours=float(config.get("SESSION_HOURS") or 8))

    def lock_for(self, failures: int) -> timedelta | None:
        if failures < self.max_failures:
            return None
        seconds = self.lock_seconds * 2 ** (failures - self.max_failures)
        return timedelta(seconds=min(seconds, self.max_lock_seconds))


class LoginRefused(Exception):
    """Why a login failed, in the words shown to the person (never which part was wrong)."""

    def __init__(self, message: str, locked_until: datetime | None = None):
        super().__init__(message)
        self.message = message
        self.locked_until = locked_until


WRONG = "用户名或密码错误"


def hash_secret(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_user(session, agency: str, username: str, password: str, role: str, display_name: str | None = None,
                unit_id: int | None = None, district: str | None = None, person: str | None = None,
                now: datetime | None = None) -> WebUser:
    errors: dict[str, list[str]] = {}
    username = (username or "").strip()
    if not username or len(username) > 64 or any(c.isspace() for c in username):
        errors["username"] = ["用户名：1–64 个字符，不含空格"]
    if role not in LOGIN_ROLES:
        errors["role"] = [f"角色：须为 {', '.join(LOGIN_ROLES)} 之一"]
    if len(password or "") < MIN_PASSWORD:
        errors["password"] = [f"密码：至少 {MIN_PASSWORD} 个字符"]
    binding = BINDINGS.get(role)
    if district is not None:  # stored as the official name, as a token's binding
        try:
            district = binding_district(district, agency)
        except ValueError as exc:
            errors["district"] = [f"区：{exc}"]
    values = {"unit_id": unit_id, "district": district, "person": person}
    if binding and not values[binding]:
        errors[binding] = [f"{binding}：角色 {role} 的账户必须绑定"]
    if not errors and session.scalar(select(WebUser).where(WebUser.agency_id == agency,
                                                           WebUser.username == username)):
        errors["username"] = [f"用户名 {username} 已存在"]
    if errors:
        raise ValidationFailed("账户信息有误", errors)
    user = WebUser(agency_id=agency, username=username, display_name=display_name or username, role=role,
                   unit_id=unit_id, district=district, person=person, password_hash=HASHER.hash(password),
                   failed_logins=0, created_at=now)
    session.add(user)
    session.flush()
    return user


def check_login(session, agency: str, username: str, password: str, policy: LoginPolicy, now: datetime) -> WebUser:
    """The account, or ``LoginRefused``. Counts failures and locks; the caller commits either way."""
    user = session.scalar(select(WebUser).where(WebUser.agency_id == agency, WebUser.username == (username or "")))
    if user is None or user.disabled_at is not None:
        _verify(_DUMMY_HASH, password)
        raise LoginRefused(WRONG)
    if user.locked_until is not None and user.locked_until > now:
        # checked before the password: a locked account gives no oracle for guesses
        raise LoginRefused(_locked_message(user.locked_until, now), user.locked_until)
    if not _verify(user.password_hash, password):
        user.failed_logins = (user.failed_logins or 0) + 1
        lock = policy.lock_for(user.failed_logins)
        if lock is not None:
            user.locked_until = now + lock
            raise LoginRefused(_locked_message(user.locked_until, now), user.locked_until)
        raise LoginRefused(WRONG)
    user.failed_logins, user.locked_until, user.last_login_at = 0, None, now
    if HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = HASHER.hash(password)
    return user


def _verify(encoded: str, password: str) -> bool:
    try:
        return HASHER.verify(encoded, password or "")
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _locked_message(until: datetime, now: datetime) -> str:
    minutes = max(1, int((until - now).total_seconds() + 59) // 60)
    return f"连续登录失败次数过多，账户已临时锁定，请 {minutes} 分钟后再试"


def set_password(session, user: WebUser, password: str) -> None:
    if len(password or "") < MIN_PASSWORD:
        raise ValidationFailed("密码太短", {"password": [f"密码：至少 {MIN_PASSWORD} 个字符"]})
    user.password_hash = HASHER.hash(password)
    user.failed_logins, user.locked_until = 0, None


def start_session(session, user: WebUser, policy: LoginPolicy, now: datetime) -> tuple[str, WebSession]:
    """A new session (never reuse one from before the login: no session fixation)."""
    token = secrets.token_urlsafe(32)
    row = WebSession(token_hash=hash_secret(token), user_id=user.id, csrf_token=secrets.token_urlsafe(32),
                     created_at=now, last_seen_at=now, expires_at=now + timedelta(hours=policy.session_hours))
    session.add(row)
    session.flush()
    return token, row


def find_session(session, token: str | None, now: datetime) -> tuple[WebSession, WebUser] | None:
    if not token:
        return None
    row = session.scalar(select(WebSession).where(WebSession.token_hash == hash_secret(token)))
    if row is None or row.ended_at is not None or row.expires_at <= now:
        return None
    user = session.get(WebUser, row.user_id)
    if user is None or user.disabled_at is not None:
        return None
    return row, user


def end_session(row: WebSession, now: datetime) -> None:
    row.ended_at = now


def same_token(expected: str | None, given: str | None) -> bool:
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))


def principal_of(user: WebUser) -> Principal:
    """What the services see: the same shape a bearer token gives."""
    return Principal(role=user.role, agency=user.agency_id, token_id=f"web:{user.id}", unit_id=user.unit_id,
                     person=user.person, district=official_or_none(user.district, user.agency_id),
                     name=user.username)


def principal_of_name(username: str) -> Principal:
    """For auditing a refused login: who was tried, not who is logged in."""
    return Principal(role="public", agency="", name=f"login:{username[:64]}")
