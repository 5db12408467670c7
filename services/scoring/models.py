"""Scoring tables (SQLAlchemy 2.0). Every row carries its agency.

``score_events`` is the append-only log of every consumed event: the sheets are
derived from it and can be rebuilt from it at any time. Scores are stored as
integer hundredths (``Hundredths``), so no backend ever holds them as floats
(SQLite has no exact decimal type).
"""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from shared.db import BigId, PlatformTables, UtcDateTime, new_metadata


class Hundredths(TypeDecorator):
    """A ``Decimal`` with two places in Python, an integer count of hundredths in the database."""

    impl = Integer
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        cents = Decimal(value) * 100
        if cents != cents.to_integral_value():
            raise ValueError(f"{value} has more than two decimal places")
        return int(cents)

    def process_result_value(self, value, dialect):
        return None if value is None else Decimal(int(value)).scaleb(-2)


class Base(DeclarativeBase):
    metadata = new_metadata()


platform = PlatformTables(Base.metadata)


class SchemeRow(Base):
    """A cycle's scoring scheme: stage formulas, weights, points per lecture, cut-offs (data, not code)."""

    __tablename__ = "schemes"
    __table_args__ = (UniqueConstraint("agency_id", "cycle"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    cycle: Mapped[str] = mapped_column(String(20))
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    definition: Mapped[dict] = mapped_column(JSON)
    loaded_at: Mapped[datetime] = mapped_column(UtcDateTime)
    loaded_by: Mapped[str] = mapped_column(String(200))


class StageState(Base):
    __tablename__ = "stage_states"
    __table_args__ = (UniqueConstraint("agency_id", "cycle", "stage"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    cycle: Mapped[str] = mapped_column(String(20))
    stage: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(10))
    rounds: Mapped[int] = mapped_column(Integer, default=0)   # how many times it was closed
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    closed_by: Mapped[str | None] = mapped_column(String(200))
    summary: Mapped[dict | None] = mapped_column(JSON)         # the answer of the last close
    reopened_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    reopen_reason: Mapped[str | None] = mapped_column(Text)


class Decision(Base):
    """The published decision of a closed stage for one candidate (the latest close wins)."""

    __tablename__ = "stage_decisions"
    __table_args__ = (UniqueConstraint("agency_id", "cycle", "stage", "candidate_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    cycle: Mapped[str] = mapped_column(String(20))
    stage: Mapped[str] = mapped_column(String(20))
    candidate_id: Mapped[int] = mapped_column(BigInteger)
    advanced: Mapped[bool] = mapped_column(Boolean)
    rank: Mapped[int | None] = mapped_column(Integer)
    score: Mapped[Decimal | None] = mapped_column(Hundredths)
    reason: Mapped[str] = mapped_column(Text)
    round: Mapped[int] = mapped_column(Integer)
    decided_at: Mapped[datetime] = mapped_column(UtcDateTime)


class LoggedEvent(Base):
    """Append-only: every consumed event, as received, so rankings can be rebuilt."""

    __tablename__ = "score_events"
    __table_args__ = (
        UniqueConstraint("agency_id", "event_id"),
        Index("ix_score_events_candidate", "agency_id", "cycle", "candidate_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[str] = mapped_column(String(64))
    event_type: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(60))
    cycle: Mapped[str] = mapped_column(String(20))
    candidate_id: Mapped[int] = mapped_column(BigInteger)
    time: Mapped[datetime] = mapped_column(UtcDateTime)
    data: Mapped[dict] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ScoreSheet(Base):
    """One candidate's derived sheet per cycle."""

    __tablename__ = "score_sheets"
    __table_args__ = (UniqueConstraint("agency_id", "cycle", "candidate_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    cycle: Mapped[str] = mapped_column(String(20))
    candidate_id: Mapped[int] = mapped_column(BigInteger)
    name: Mapped[str | None] = mapped_column(String(50))
    registered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    person_key: Mapped[str | None] = mapped_column(String(64), index=True)
    # the nominating unit's district, from candidate_approved: a regulator reads its own district's sheets
    district: Mapped[str | None] = mapped_column(String(40))
    approved: Mapped[bool] = mapped_column(Boolean, default=False)
    withdrawn: Mapped[bool] = mapped_column(Boolean, default=False)
    lecture_count: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)

    parts: Mapped[list["SheetPart"]] = relationship(
        back_populates="sheet", cascade="all, delete-orphan", lazy="selectin", order_by="SheetPart.part")
    lectures: Mapped[list["SheetLecture"]] = relationship(
        back_populates="sheet", cascade="all, delete-orphan", lazy="selectin", order_by="SheetLecture.lecture_id")


class SheetPart(Base):
    __tablename__ = "sheet_parts"
    __table_args__ = (UniqueConstraint("sheet_id", "part"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    sheet_id: Mapped[int] = mapped_column(ForeignKey("score_sheets.id", ondelete="CASCADE"))
    part: Mapped[str] = mapped_column(String(40))
    score: Mapped[Decimal] = mapped_column(Hundredths)
    event_id: Mapped[str] = mapped_column(String(64))
    scored_at: Mapped[datetime] = mapped_column(UtcDateTime)
    detail: Mapped[dict] = mapped_column(JSON, default=dict)

    sheet: Mapped[ScoreSheet] = relationship(back_populates="parts")


class SheetLecture(Base):
    __tablename__ = "sheet_lectures"
    __table_args__ = (UniqueConstraint("sheet_id", "lecture_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    sheet_id: Mapped[int] = mapped_column(ForeignKey("score_sheets.id", ondelete="CASCADE"))
    lecture_id: Mapped[int] = mapped_column(BigInteger)
    counted: Mapped[bool] = mapped_column(Boolean)
    kind: Mapped[str | None] = mapped_column(String(20))
    lecture_date: Mapped[str | None] = mapped_column(String(10))
    event_id: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    reason: Mapped[str | None] = mapped_column(Text)

    sheet: Mapped[ScoreSheet] = relationship(back_populates="lectures")


class Flag(Base):
    """A score that arrived after a stage it feeds was closed: recorded, not applied to the decision."""

    __tablename__ = "flags"
    __table_args__ = (Index("ix_flags_agency_cycle", "agency_id", "cycle"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    cycle: Mapped[str] = mapped_column(String(20))
    stage: Mapped[str] = mapped_column(String(20))
    candidate_id: Mapped[int] = mapped_column(BigInteger)
    event_id: Mapped[str] = mapped_column(String(64))
    event_name: Mapped[str] = mapped_column(String(60))
    published_score: Mapped[Decimal | None] = mapped_column(Hundredths)
    current_score: Mapped[Decimal | None] = mapped_column(Hundredths)
    detail: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
