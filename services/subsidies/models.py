"""Lecture-subsidy tables (SQLAlchemy 2.0). Every row carries its agency.

The money invariants live in unique keys, so they hold whatever the number of
replicas or redeliveries: one subsidy per lecture, one live payment item per
subsidy, one municipal training subsidy per person.
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON, BigInteger, Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import BigId, PlatformTables, UtcDateTime, new_metadata
from shared.pii import EncryptedString


class Base(DeclarativeBase):
    metadata = new_metadata()


platform = PlatformTables(Base.metadata)


class SubsidyCycle(Base):
    """Per-cycle data: the tour window and the subsidy per compliant lecture."""
    __tablename__ = "subsidy_cycles"
    __table_args__ = (UniqueConstraint("agency_id", "code"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    code: Mapped[str] = mapped_column(String(20))
    tour_start: Mapped[date] = mapped_column(Date)
    tour_end: Mapped[date] = mapped_column(Date)
    lecture_subsidy_fen: Mapped[int] = mapped_column(BigInteger)
    target_lectures: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Lecturer(Base):
    """A candidate as the tour sees it: who (registration) and whether in the tour (scoring)."""
    __tablename__ = "lecturers"
    __table_args__ = (UniqueConstraint("agency_id", "cycle", "candidate_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    cycle: Mapped[str] = mapped_column(String(20))
    candidate_id: Mapped[int] = mapped_column(BigInteger)
    name: Mapped[str | None] = mapped_column(String(50))
    person_key: Mapped[str | None] = mapped_column(String(64), index=True)
    unit_id: Mapped[int | None] = mapped_column(BigInteger)  # registration's nominating unit
    in_tour: Mapped[bool] = mapped_column(Boolean, default=False)
    advanced_rank: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class EvidenceFile(Base):
    """An uploaded file, content-addressed: the same bytes are one row."""
    __tablename__ = "evidence_files"
    __table_args__ = (UniqueConstraint("agency_id", "sha256"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(40))
    size: Mapped[int] = mapped_column(BigInteger)
    filename: Mapped[str | None] = mapped_column(String(200))
    uploaded_by: Mapped[str] = mapped_column(String(200))
    uploaded_at: Mapped[datetime] = mapped_column(UtcDateTime)


class LectureOrder(Base):
    """An enterprise's on-demand order (点单式宣讲), made here or as risk's service request."""
    __tablename__ = "lecture_orders"
    # one order per risk service request, whatever the envelope a re-emission carries
    __table_args__ = (UniqueConstraint("agency_id", "risk_request_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64), index=True)
    cycle: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(12))
    enterprise_name: Mapped[str] = mapped_column(String(200))
    # the enterprise's unified social credit code: its safety file lists its orders by it
    credit_code: Mapped[str | None] = mapped_column(String(18), index=True)
    risk_request_id: Mapped[int | None] = mapped_column(BigInteger)
    ordered_by: Mapped[str] = mapped_column(String(200))
    topic: Mapped[str] = mapped_column(String(200))
    wished_dates: Mapped[list] = mapped_column(JSON)
    audience_size: Mapped[int] = mapped_column(Integer)
    address: Mapped[str] = mapped_column(String(300))
    contact: Mapped[str | None] = mapped_column(String(100))
    candidate_id: Mapped[int | None] = mapped_column(BigInteger)
    accepted_by: Mapped[str | None] = mapped_column(String(200))
    scheduled_date: Mapped[date | None] = mapped_column(Date)
    cancellation_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Lecture(Base):
    """A lecture report (附件5 宣讲统计表) with its evidence and the checks' outcome."""
    __tablename__ = "lectures"
    __table_args__ = (
        # not a duplicate of the same lecturer, date and venue
        UniqueConstraint("agency_id", "cycle", "candidate_id", "lecture_date", "venue_key"),
        Index("ix_lectures_agency_cycle_status", "agency_id", "cycle", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    cycle: Mapped[str] = mapped_column(String(20))
    candidate_id: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(12))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("lecture_orders.id"))
    host_candidate_id: Mapped[int | None] = mapped_column(BigInteger)  # exchange: whose unit hosted it
    status: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer, default=1)

    lecturer_name: Mapped[str] = mapped_column(String(50))
    id_number: Mapped[str] = mapped_column(EncryptedString)
    id_index: Mapped[str] = mapped_column(String(64))
    id_masked: Mapped[str] = mapped_column(String(18))
    lecture_date: Mapped[date] = mapped_column(Date)
    venue: Mapped[str] = mapped_column(String(200))
    venue_key: Mapped[str] = mapped_column(String(200))
    audience_count: Mapped[int] = mapped_column(Integer)
    bank: Mapped[str] = mapped_column(String(100))
    branch: Mapped[str] = mapped_column(String(100))
    account_number: Mapped[str] = mapped_column(EncryptedString)
    account_masked: Mapped[str] = mapped_column(String(19))
    contact: Mapped[str] = mapped_column(String(100))

    signin_file_id: Mapped[int | None] = mapped_column(ForeignKey("evidence_files.id"))
    signin_head_count: Mapped[int | None] = mapped_column(Integer)
    video_file_id: Mapped[int | None] = mapped_column(ForeignKey("evidence_files.id"))
    photos: Mapped[list] = mapped_column(JSON, default=list)   # [{"file_id", "shows_banner"}]

    received_at: Mapped[datetime] = mapped_column(UtcDateTime)   # when the evidence came in
    failed_rules: Mapped[list] = mapped_column(JSON, default=list)
    checked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    checked_by: Mapped[str | None] = mapped_column(String(120))  # host:pid of the replica that ran the checks
    reviewed_by: Mapped[str | None] = mapped_column(String(200))
    review_reasons: Mapped[list | None] = mapped_column(JSON)
    submitted_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Subsidy(Base):
    """One per approved lecture: the unique key on lecture_id is the at-most-once guarantee."""
    __tablename__ = "subsidies"
    __table_args__ = (
        UniqueConstraint("lecture_id"),
        Index("ix_subsidies_agency_status", "agency_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    cycle: Mapped[str] = mapped_column(String(20))
    lecture_id: Mapped[int] = mapped_column(ForeignKey("lectures.id"))
    candidate_id: Mapped[int] = mapped_column(BigInteger)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(10))
    paid_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class PaymentBatch(Base):
    __tablename__ = "payment_batches"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64), index=True)
    cycle: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(10))
    item_count: Mapped[int] = mapped_column(Integer)
    total_fen: Mapped[int] = mapped_column(BigInteger)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    exported_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    settled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class PaymentItem(Base):
    """A subsidy in a batch. A subsidy has at most one pending-or-paid item: a second
    batch, a second replica or a replayed import cannot pay it twice."""
    __tablename__ = "payment_items"
    __table_args__ = (
        Index("uq_payment_items_live_subsidy", "subsidy_id", unique=True,
              sqlite_where=text("status IN ('pending', 'paid')"),
              postgresql_where=text("status IN ('pending', 'paid')")),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("payment_batches.id"), index=True)
    subsidy_id: Mapped[int] = mapped_column(ForeignKey("subsidies.id"))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(10))
    failure_reason: Mapped[str | None] = mapped_column(Text)
    settled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class TrainingSubsidy(Base):
    """The municipal training subsidy: at most once per person (seed 004 §八(二))."""
    __tablename__ = "training_subsidies"
    __table_args__ = (UniqueConstraint("agency_id", "person_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    person_key: Mapped[str] = mapped_column(String(64))
    person_name: Mapped[str] = mapped_column(String(50))
    class_id: Mapped[str] = mapped_column(String(64))
    year: Mapped[int] = mapped_column(Integer)
    class_hours: Mapped[int | None] = mapped_column(Integer)
    completed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    granted_at: Mapped[datetime] = mapped_column(UtcDateTime)
    refused_classes: Mapped[int] = mapped_column(Integer, default=0)  # later classes that gave no second subsidy
    # a revoked certificate withdraws the subsidy (the training did not qualify); the row stays,
    # so the once-only right stays spent
    withdrawn_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    withdrawn_reason: Mapped[str | None] = mapped_column(Text)
