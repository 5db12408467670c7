"""Risk-service tables (SQLAlchemy 2.0). Every row carries its agency; money is integer fen."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON, BigInteger, Boolean, CheckConstraint, Date, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import BigId, PlatformTables, UtcDateTime, new_metadata
from shared.pii import EncryptedString


class Base(DeclarativeBase):
    metadata = new_metadata()


platform = PlatformTables(Base.metadata)


class Enterprise(Base):
    __tablename__ = "enterprises"
    __table_args__ = (UniqueConstraint("agency_id", "credit_code"),
                      Index("ix_enterprises_agency_district_industry", "agency_id", "district", "industry"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    credit_code: Mapped[str] = mapped_column(String(18))
    name: Mapped[str] = mapped_column(String(200))
    district: Mapped[str] = mapped_column(String(40))
    town: Mapped[str] = mapped_column(String(60))
    industry: Mapped[str] = mapped_column(String(40))
    tier: Mapped[str] = mapped_column(String(12))
    staff_count: Mapped[int] = mapped_column(Integer)
    contact_name: Mapped[str | None] = mapped_column(String(50))
    contact_phone: Mapped[str | None] = mapped_column(EncryptedString)
    phone_masked: Mapped[str | None] = mapped_column(String(20))
    longitude: Mapped[float | None] = mapped_column(Float)
    latitude: Mapped[float | None] = mapped_column(Float)
    baseline_risk: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Insurer(Base):
    __tablename__ = "insurers"
    __table_args__ = (UniqueConstraint("agency_id", "name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("insurers.id"))  # a branch names its company
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Organisation(Base):
    __tablename__ = "organisations"
    __table_args__ = (UniqueConstraint("agency_id", "name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Technician(Base):
    __tablename__ = "technicians"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    name: Mapped[str] = mapped_column(String(50))
    phone: Mapped[str | None] = mapped_column(EncryptedString)
    phone_masked: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Substation(Base):
    __tablename__ = "substations"
    __table_args__ = (UniqueConstraint("agency_id", "name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    district: Mapped[str] = mapped_column(String(40))
    town: Mapped[str] = mapped_column(String(60))
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Policy(Base):
    __tablename__ = "policies"
    # one policy per enterprise per policy year: the year is the obligation's unit
    __table_args__ = (UniqueConstraint("enterprise_id", "year"),
                      CheckConstraint("premium_fen >= 0", name="premium_not_negative"),
                      Index("ix_policies_agency_year_insurer", "agency_id", "year", "insurer_id"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"))
    insurer_id: Mapped[int] = mapped_column(ForeignKey("insurers.id"))
    year: Mapped[int] = mapped_column(Integer)
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    insured_workers: Mapped[int] = mapped_column(Integer)
    sum_insured_fen: Mapped[int] = mapped_column(BigInteger)
    rate_bp: Mapped[int] = mapped_column(Integer)
    floating: Mapped[bool] = mapped_column(Boolean)
    rate_reason: Mapped[str] = mapped_column(String(200))
    premium_fen: Mapped[int] = mapped_column(BigInteger)
    previous_policy_id: Mapped[int | None] = mapped_column(ForeignKey("policies.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Claim(Base):
    __tablename__ = "claims"
    __table_args__ = (CheckConstraint("advance_paid_fen >= 0", name="advance_not_negative"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    policy_id: Mapped[int] = mapped_column(ForeignKey("policies.id"), index=True)
    status: Mapped[str] = mapped_column(String(20))
    accident_date: Mapped[date] = mapped_column(Date)
    description: Mapped[str] = mapped_column(Text)
    casualties: Mapped[int] = mapped_column(Integer)
    survey_notes: Mapped[str | None] = mapped_column(Text)
    advance_paid_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    settled_fen: Mapped[int | None] = mapped_column(BigInteger)
    reported_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class FundAccount(Base):
    """The running balance of one insurer's prevention fund for one year.

    The CHECK is the guard against overspending: a debit is an UPDATE of this row
    in the same transaction as its ledger entry, so no interleaving of writers (and
    no code path that forgets to check) can take the balance below zero.
    """
    __tablename__ = "fund_accounts"
    __table_args__ = (UniqueConstraint("insurer_id", "year"),
                      CheckConstraint("balance_fen >= 0", name="balance_not_negative"),
                      CheckConstraint("balance_fen = credited_fen - debited_fen", name="balance_adds_up"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    insurer_id: Mapped[int] = mapped_column(ForeignKey("insurers.id"))
    year: Mapped[int] = mapped_column(Integer)
    credited_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    debited_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    balance_fen: Mapped[int] = mapped_column(BigInteger, default=0)


class FundEntry(Base):
    __tablename__ = "fund_entries"
    __table_args__ = (CheckConstraint("amount_fen > 0", name="amount_positive"),
                      CheckConstraint("balance_after_fen >= 0", name="balance_after_not_negative"),
                      CheckConstraint("kind IN ('credit', 'debit')", name="kind_known"),
                      # one credit per policy, one debit per service: re-posting is a no-op
                      UniqueConstraint("account_id", "reference"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("fund_accounts.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    balance_after_fen: Mapped[int] = mapped_column(BigInteger)
    district: Mapped[str | None] = mapped_column(String(40))
    reference: Mapped[str] = mapped_column(String(80))
    memo: Mapped[str] = mapped_column(String(200))
    posted_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Inspection(Base):
    __tablename__ = "inspections"
    __table_args__ = (UniqueConstraint("plan_key"),
                      Index("ix_inspections_agency_year_insurer", "agency_id", "year", "insurer_id"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    # "policy:<id>" for the yearly obligation (one per policy), null for re-inspections
    plan_key: Mapped[str | None] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(20))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("inspections.id"))
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"), index=True)
    policy_id: Mapped[int] = mapped_column(ForeignKey("policies.id"))
    insurer_id: Mapped[int] = mapped_column(ForeignKey("insurers.id"))
    year: Mapped[int] = mapped_column(Integer)
    due_by: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20))
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    technician_id: Mapped[int | None] = mapped_column(ForeignKey("technicians.id"))
    scheduled_for: Mapped[date | None] = mapped_column(Date)
    visited_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    findings: Mapped[str | None] = mapped_column(Text)
    photos: Mapped[list] = mapped_column(JSON, default=list)
    result: Mapped[str | None] = mapped_column(String(20))
    on_time: Mapped[bool | None] = mapped_column(Boolean)   # visited within the policy period
    cost_fen: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Hazard(Base):
    __tablename__ = "hazards"
    __table_args__ = (Index("ix_hazards_agency_status", "agency_id", "status"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    inspection_id: Mapped[int] = mapped_column(ForeignKey("inspections.id"), index=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"), index=True)
    level: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(24))
    description: Mapped[str] = mapped_column(Text)
    location: Mapped[str] = mapped_column(String(200))
    photos: Mapped[list] = mapped_column(JSON, default=list)
    evidence: Mapped[list] = mapped_column(JSON, default=list)
    found_on: Mapped[date] = mapped_column(Date)
    working_days: Mapped[int | None] = mapped_column(Integer)  # allowed to rectify (NULL: before 0002)
    # NULL while it cannot be computed yet; deadline_pending then says why (domain.DEADLINE_PENDING)
    deadline: Mapped[date | None] = mapped_column(Date)
    deadline_pending: Mapped[str | None] = mapped_column(String(32))
    # when hazard_overdue was emitted: the sweep's bookkeeping, not the overdue state
    overdue_notified_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ReinspectionItem(Base):
    __tablename__ = "reinspection_items"
    __table_args__ = (UniqueConstraint("inspection_id", "hazard_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    inspection_id: Mapped[int] = mapped_column(ForeignKey("inspections.id"), index=True)
    hazard_id: Mapped[int] = mapped_column(ForeignKey("hazards.id"))
    outcome: Mapped[str | None] = mapped_column(String(10))
    note: Mapped[str | None] = mapped_column(Text)


class MajorReport(Base):
    __tablename__ = "major_reports"
    __table_args__ = (UniqueConstraint("hazard_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    hazard_id: Mapped[int] = mapped_column(ForeignKey("hazards.id"))
    district: Mapped[str] = mapped_column(String(40), index=True)
    reported_at: Mapped[datetime] = mapped_column(UtcDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    acknowledged_by: Mapped[str | None] = mapped_column(String(200))
    escalated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class ServiceRequest(Base):
    __tablename__ = "service_requests"
    __table_args__ = (CheckConstraint("rating IS NULL OR (rating >= 1 AND rating <= 5)", name="rating_range"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"), index=True)
    insurer_id: Mapped[int | None] = mapped_column(ForeignKey("insurers.id"))
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    description: Mapped[str] = mapped_column(Text)
    wished_date: Mapped[date | None] = mapped_column(Date)
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    technician_id: Mapped[int | None] = mapped_column(ForeignKey("technicians.id"))
    report: Mapped[str | None] = mapped_column(Text)
    cost_fen: Mapped[int | None] = mapped_column(BigInteger)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    rating: Mapped[int | None] = mapped_column(Integer)
    rating_comment: Mapped[str | None] = mapped_column(Text)
    rated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Appraisal(Base):
    __tablename__ = "appraisals"
    __table_args__ = (UniqueConstraint("insurer_id", "year"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    insurer_id: Mapped[int] = mapped_column(ForeignKey("insurers.id"))
    year: Mapped[int] = mapped_column(Integer)
    scores: Mapped[dict] = mapped_column(JSON, default=dict)   # the five dimensions the center scores
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class QrCode(Base):
    __tablename__ = "qr_codes"
    __table_args__ = (UniqueConstraint("token"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"), index=True)
    token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
