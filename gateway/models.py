"""The gateway's own tables: API tokens (hashed) and the platform tables."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import BigId, PlatformTables, UtcDateTime, new_metadata


class Base(DeclarativeBase):
    metadata = new_metadata()


platform = PlatformTables(Base.metadata)


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # SHA-256 of the token: tokens are 256-bit random, so a fast hash is enough and
    # a leaked table reveals no usable token.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    agency_id: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(20))
    unit_id: Mapped[int | None] = mapped_column(Integer)
    person: Mapped[str | None] = mapped_column(String(64))
    district: Mapped[str | None] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Every token ends: a leaked one is useful for a bounded time only.
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Written at most once a minute per token (see tokens.LAST_USED_PRECISION).
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
