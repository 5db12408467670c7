"""Webhook tables (SQLAlchemy 2.0): endpoints, the event log, deliveries and their attempts.

``events`` is the durable log of every envelope consumed (also the source of the
event feed, ``id`` is its order); ``deliveries`` holds one row per event × matching
endpoint, written in the transaction that consumed the event, so an event is
never lost between the broker and the HTTP call: the dispatcher works off rows.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import BigId, PlatformTables, UtcDateTime, new_metadata
from shared.pii import EncryptedString


class Base(DeclarativeBase):
    metadata = new_metadata()


platform = PlatformTables(Base.metadata)


class Endpoint(Base):
    """An integrator's receiver: where to POST, which events, the signing secret(s)."""

    __tablename__ = "endpoints"
    __table_args__ = (Index("ix_endpoints_agency_owner", "agency_id", "owner"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    owner: Mapped[str] = mapped_column(String(200))          # the integrator (token name or id)
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(500), default="")
    event_types: Mapped[list] = mapped_column(JSON)            # [{"service", "event", "version"}]
    # Encrypted at rest like personal data: whoever reads the database must not forge deliveries.
    secret: Mapped[str] = mapped_column(EncryptedString)
    previous_secret: Mapped[str | None] = mapped_column(EncryptedString, nullable=True)
    previous_secret_until: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    status: Mapped[str] = mapped_column(String(20))
    disabled_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    disabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)


class LoggedEvent(Base):
    """Every envelope consumed, in commit order (the feed's cursor is ``id``)."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_agency_id", "agency_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(200))
    service: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer)
    subject: Mapped[str] = mapped_column(String(200))
    time: Mapped[datetime] = mapped_column(UtcDateTime)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    body: Mapped[str] = mapped_column(Text)                  # the envelope as sent and signed


class Delivery(Base):
    """One event to one endpoint; retried until it succeeds or the schedule is spent."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_row_id"),
        Index("ix_deliveries_due", "status", "next_attempt_at"),
        Index("ix_deliveries_endpoint", "endpoint_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("endpoints.id", ondelete="CASCADE"))
    event_row_id: Mapped[int] = mapped_column(ForeignKey("events.id"))
    event_id: Mapped[str] = mapped_column(String(64))
    event_type: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, default=0)        # in the current round (a replay restarts it)
    total_attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)


class Attempt(Base):
    """One HTTP call: what came back and how long it took."""

    __tablename__ = "attempts"
    __table_args__ = (Index("ix_attempts_delivery", "delivery_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id", ondelete="CASCADE"))
    endpoint_id: Mapped[int] = mapped_column(BigId)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    outcome: Mapped[str] = mapped_column(String(20))                 # ok, retry, gone, refused
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    latency_ms: Mapped[int] = mapped_column(Integer)
    response_excerpt: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
