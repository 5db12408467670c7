"""Registration tables (SQLAlchemy 2.0). Every row carries its agency."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from shared.db import BigId, PlatformTables, UtcDateTime, new_metadata
from shared.pii import EncryptedString


class Base(DeclarativeBase):
    metadata = new_metadata()


platform = PlatformTables(Base.metadata)


class Cycle(Base):
    __tablename__ = "cycles"
    __table_args__ = (UniqueConstraint("agency_id", "code"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64), index=True)
    code: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(200))
    deadline: Mapped[date] = mapped_column(Date)
    minimums: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Unit(Base):
    __tablename__ = "units"
    __table_args__ = (UniqueConstraint("agency_id", "name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40))
    district: Mapped[str | None] = mapped_column(String(40))
    credit_code: Mapped[str | None] = mapped_column(String(18))
    contact_name: Mapped[str | None] = mapped_column(String(50))
    contact_phone: Mapped[str | None] = mapped_column(EncryptedString)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Candidate(Base):
    __tablename__ = "candidates"
    # The natural key: one registration per person per cycle, enforced by the database.
    # The unit's own reference number is unique per unit and cycle (several NULLs are allowed).
    __table_args__ = (
        UniqueConstraint("cycle_id", "id_index"),
        UniqueConstraint("unit_id", "cycle_id", "external_ref"),
        Index("ix_candidates_agency_cycle_status", "agency_id", "cycle_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycles.id"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    status: Mapped[str] = mapped_column(String(20))
    version: Mapped[int] = mapped_column(Integer, default=1)

    name: Mapped[str] = mapped_column(String(50))
    birth_month: Mapped[str] = mapped_column(String(7))
    gender: Mapped[str] = mapped_column(String(6))
    title: Mapped[str | None] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(254))
    phone: Mapped[str] = mapped_column(EncryptedString)
    education: Mapped[str] = mapped_column(String(50))
    id_number: Mapped[str] = mapped_column(EncryptedString)
    id_index: Mapped[str] = mapped_column(String(64))
    id_masked: Mapped[str] = mapped_column(String(18))
    school_major: Mapped[str] = mapped_column(String(200))
    employer_position: Mapped[str] = mapped_column(String(200))
    deeds: Mapped[str] = mapped_column(Text)
    recommendation_reason: Mapped[str] = mapped_column(Text)
    remarks: Mapped[str | None] = mapped_column(Text)
    speech_draft: Mapped[str | None] = mapped_column(Text)
    photo_key: Mapped[str | None] = mapped_column(String(200))
    photo_sha256: Mapped[str | None] = mapped_column(String(64))
    external_ref: Mapped[str | None] = mapped_column(String(40))
    # entered by the center after the window closed, with the reason (the audit trail keeps who and when)
    late_entry: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    late_entry_reason: Mapped[str | None] = mapped_column(Text)

    unit_opinion: Mapped[str | None] = mapped_column(Text)
    unit_signed_by: Mapped[str | None] = mapped_column(String(50))
    unit_sealed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    center_opinion: Mapped[str | None] = mapped_column(Text)
    center_signed_by: Mapped[str | None] = mapped_column(String(50))
    center_sealed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    rejected_stage: Mapped[str | None] = mapped_column(String(10))
    rejection_reason: Mapped[str | None] = mapped_column(Text)
    withdrawal_reason: Mapped[str | None] = mapped_column(Text)

    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)

    cycle: Mapped[Cycle] = relationship(lazy="joined")
    unit: Mapped[Unit] = relationship(lazy="joined")


class DistrictQuota(Base):
    __tablename__ = "district_quotas"
    __table_args__ = (UniqueConstraint("agency_id", "year", "district"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    year: Mapped[int] = mapped_column(Integer)
    district: Mapped[str] = mapped_column(String(40))
    quota: Mapped[int] = mapped_column(Integer)


class Enrolment(Base):
    __tablename__ = "enrolments"
    # One principal and one safety manager per unit per year; a cancelled enrolment frees its place.
    __table_args__ = (
        Index("uq_enrolments_active_role", "agency_id", "year", "unit_credit_code", "role", unique=True,
              sqlite_where=text("status = 'enrolled'"), postgresql_where=text("status = 'enrolled'")),
        Index("ix_enrolments_agency_year_district", "agency_id", "year", "district"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    year: Mapped[int] = mapped_column(Integer)
    district: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(12))
    unit_name: Mapped[str] = mapped_column(String(200))
    unit_credit_code: Mapped[str] = mapped_column(String(18))
    staff_count: Mapped[int] = mapped_column(Integer)
    registered_district: Mapped[str | None] = mapped_column(String(40))
    industry: Mapped[str | None] = mapped_column(String(100))
    organised_by: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    person_name: Mapped[str] = mapped_column(String(50))
    person_id_number: Mapped[str] = mapped_column(EncryptedString)
    person_index: Mapped[str] = mapped_column(String(64), index=True)
    person_id_masked: Mapped[str] = mapped_column(String(18))
    person_phone: Mapped[str | None] = mapped_column(EncryptedString)
    cancellation_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
