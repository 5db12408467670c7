"""The gateway's token cache: fewer database reads, and a revoked token refused within a stated bound."""
from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.orm import sessionmaker

from gateway import tokens
from gateway.models import ApiToken, Base
from shared.db import make_engine
from shared.errors import Unauthenticated
from shared.workdays import utcnow

AGENCY = "beijing"


@pytest.fixture
def db(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'gateway.db'}")
    Base.metadata.create_all(engine)
    maker = sessionmaker(bind=engine, expire_on_commit=False)
    yield engine, maker
    engine.dispose()


def mint(maker, **kwargs):
    with maker() as session:
        token, row = tokens.create_token(session, role="operator", agency=AGENCY, **kwargs)
        session.commit()
        return token, row.id


class Sessions:
    """A session factory that counts how often authentication needed the database."""

    def __init__(self, maker):
        self.maker, self.opened, self.sessions = maker, 0, []

    def __call__(self):
        self.opened += 1
        session = self.maker()
        self.sessions.append(session)
        return session

    def close(self):
        for s in self.sessions:
            s.close()


def auth(sessions, token, cache):
    return tokens.authenticate(sessions, f"Bearer {token}", AGENCY, None, cache=cache)


def set_column(engine, token_id, **values):
    with engine.begin() as conn:
        conn.execute(update(ApiToken.__table__).where(ApiToken.__table__.c.id == token_id).values(**values))


def test_a_cached_token_costs_no_database_read(db):
    engine, maker = db
    token, _ = mint(maker)
    sessions, cache = Sessions(maker), tokens.TokenCache(ttl=60)
    try:
        assert auth(sessions, token, cache).role == "operator"
        assert sessions.opened == 1
        for _ in range(5):
            assert auth(sessions, token, cache).role == "operator"
        assert sessions.opened == 1, "later requests within the TTL read no row"
    finally:
        sessions.close()


def test_a_token_revoked_elsewhere_is_refused_within_the_ttl(db):
    engine, maker = db
    token, token_id = mint(maker)
    ttl = 0.5
    sessions, cache = Sessions(maker), tokens.TokenCache(ttl=ttl)
    try:
        auth(sessions, token, cache)
        set_column(engine, token_id, revoked_at=utcnow())  # as `wsli token revoke` or another replica does
        revoked_at = time.monotonic()
        deadline = revoked_at + ttl + 2.0
        while True:
            try:
                auth(sessions, token, cache)
            except Unauthenticated as exc:
                assert "revoked" in str(exc)
                break
            assert time.monotonic() < deadline, "a revoked token was still accepted after the TTL"
            time.sleep(0.02)
        assert time.monotonic() - revoked_at <= ttl + 0.3, "refused within the TTL (plus scheduling slack)"
    finally:
        sessions.close()


def test_forgetting_a_token_refuses_it_at_once(db):
    engine, maker = db
    token, token_id = mint(maker)
    sessions, cache = Sessions(maker), tokens.TokenCache(ttl=3600)
    try:
        auth(sessions, token, cache)
        set_column(engine, token_id, revoked_at=utcnow())
        assert auth(sessions, token, cache).role == "operator", "cached: not read again within the TTL"
        cache.forget(token_id)  # what the gateway's own revoke route does after committing
        with pytest.raises(Unauthenticated):
            auth(sessions, token, cache)
    finally:
        sessions.close()


def test_expiry_is_checked_on_cached_tokens_too(db, monkeypatch):
    engine, maker = db
    token, token_id = mint(maker)
    expires_at = utcnow() + timedelta(minutes=5)
    set_column(engine, token_id, expires_at=expires_at)
    sessions, cache = Sessions(maker), tokens.TokenCache(ttl=3600)
    try:
        auth(sessions, token, cache)
        monkeypatch.setattr(tokens, "utcnow", lambda: expires_at + timedelta(seconds=1))
        with pytest.raises(Unauthenticated, match="expired"):
            auth(sessions, token, cache)
        assert sessions.opened == 1, "refused from the cached entry, by the clock"
    finally:
        sessions.close()


def test_ttl_zero_reads_every_time_and_last_use_is_still_recorded(db):
    engine, maker = db
    token, token_id = mint(maker)
    sessions, cache = Sessions(maker), tokens.TokenCache(ttl=0)
    try:
        auth(sessions, token, cache)
        auth(sessions, token, cache)
        assert sessions.opened == 2
    finally:
        sessions.close()
    with maker() as session:
        assert session.get(ApiToken, token_id).last_used_at is not None
