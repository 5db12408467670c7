"""Case-collection tables (SQLAlchemy 2.0). Every row carries its agency."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import LargeBinary, JSON, Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from shared.db import BigId, PlatformTables, UtcDateTime, new_metadata
from shared.pii import EncryptedString


class Base(DeclarativeBase):
    metadata = new_metadata()


platform = PlatformTables(Base.metadata)


class CampaignRow(Base):
    __tablename__ = "campaigns"
    __table_args__ = (UniqueConstraint("agency_id", "year"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    year: Mapped[int] = mapped_column(Integer)
    data: Mapped[dict] = mapped_column(JSON)          # domain.campaign_to_data
    levels_confirmed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    notice_starts_on: Mapped[date | None] = mapped_column(Date)
    notice_first_day: Mapped[date | None] = mapped_column(Date)
    notice_ends_on: Mapped[date | None] = mapped_column(Date)
    released_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Organisation(Base):
    __tablename__ = "organisations"
    __table_args__ = (UniqueConstraint("agency_id", "credit_code"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    short_name: Mapped[str | None] = mapped_column(String(50))
    credit_code: Mapped[str] = mapped_column(String(18))
    kind: Mapped[str] = mapped_column(String(30))
    parent_name: Mapped[str | None] = mapped_column(String(200))       # a branch (下属机构) names its parent
    parent_credit_code: Mapped[str | None] = mapped_column(String(18))
    declared_no_bad_record: Mapped[bool] = mapped_column(Boolean, default=False)
    declared_not_dishonest: Mapped[bool] = mapped_column(Boolean, default=False)
    declared_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    contact_name: Mapped[str | None] = mapped_column(String(50))
    contact_phone: Mapped[str | None] = mapped_column(EncryptedString)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class DishonestEntry(Base):
    __tablename__ = "dishonesty_list"
    __table_args__ = (UniqueConstraint("agency_id", "credit_code"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    credit_code: Mapped[str] = mapped_column(String(18))
    loaded_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Expert(Base):
    __tablename__ = "experts"
    __table_args__ = (UniqueConstraint("agency_id", "code"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    code: Mapped[str] = mapped_column(String(64))           # what an expert token is bound to
    name: Mapped[str] = mapped_column(String(50))
    employer_name: Mapped[str | None] = mapped_column(String(200))
    employer_credit_code: Mapped[str | None] = mapped_column(String(18))
    phone: Mapped[str | None] = mapped_column(EncryptedString)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ExpertConflict(Base):
    """A conflict of interest an expert declared: with an organisation or with one case."""
    __tablename__ = "expert_conflicts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    expert_id: Mapped[int] = mapped_column(ForeignKey("experts.id"), index=True)
    credit_code: Mapped[str | None] = mapped_column(String(18))
    case_id: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    declared_at: Mapped[datetime] = mapped_column(UtcDateTime)


class CaseFile(Base):
    """An uploaded file, owned by an organisation until a case takes it."""
    __tablename__ = "case_files"
    __table_args__ = (Index("ix_case_files_org_case", "organisation_id", "case_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    case_id: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20))           # report_docx | report_pdf | photo | chart
    filename: Mapped[str] = mapped_column(String(200))      # a photo's or chart's caption
    storage_key: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    content_type: Mapped[str] = mapped_column(String(100))
    dpi: Mapped[int | None] = mapped_column(Integer)
    uploaded_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (Index("ix_cases_agency_campaign_status", "agency_id", "campaign_id", "status"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    status: Mapped[str] = mapped_column(String(20))
    version: Mapped[int] = mapped_column(Integer, default=1)
    channel: Mapped[str] = mapped_column(String(30))

    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(40))
    category_other: Mapped[str | None] = mapped_column(String(200))
    submitted_on: Mapped[date] = mapped_column(Date)
    period_start: Mapped[str] = mapped_column(String(7))
    period_end: Mapped[str] = mapped_column(String(7))
    summary: Mapped[str] = mapped_column(Text)
    honours: Mapped[str | None] = mapped_column(Text)
    creators: Mapped[list] = mapped_column(JSON)
    participants: Mapped[list] = mapped_column(JSON)

    recommender: Mapped[dict | None] = mapped_column(JSON)            # kind, name, credit_code / expert_code
    recommendation: Mapped[dict | None] = mapped_column(JSON)         # opinion, seal, approval, contact (masked)
    recommender_mobile: Mapped[str | None] = mapped_column(EncryptedString)
    recommender_office_phone: Mapped[str | None] = mapped_column(EncryptedString)

    findings: Mapped[list] = mapped_column(JSON)                      # the format checks at submission
    screening_reason: Mapped[str | None] = mapped_column(Text)
    level: Mapped[str | None] = mapped_column(String(20))
    level_reason: Mapped[str | None] = mapped_column(Text)
    withdrawal_reason: Mapped[str | None] = mapped_column(Text)
    certificate_number: Mapped[str | None] = mapped_column(String(40), unique=True)
    released_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # cross-agency (docs/agencies.md): a case received from a partner names where it came from;
    # a case sent on names where to and keeps the receiver's latest result
    origin_agency: Mapped[str | None] = mapped_column(String(64))
    origin_case_id: Mapped[int | None] = mapped_column(Integer)
    forwarded_to: Mapped[str | None] = mapped_column(String(64))
    forwarded_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    partner_result: Mapped[dict | None] = mapped_column(JSON)   # status, level, certificate_number, released_at, as_of

    campaign: Mapped[CampaignRow] = relationship(lazy="joined")
    organisation: Mapped[Organisation] = relationship(lazy="joined")


class SiteVisit(Base):
    __tablename__ = "site_visits"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    visited_on: Mapped[date] = mapped_column(Date)
    place: Mapped[str] = mapped_column(String(200))
    visitors: Mapped[list] = mapped_column(JSON)
    findings: Mapped[str] = mapped_column(Text)
    photos: Mapped[list] = mapped_column(JSON)                      # [{filename, key, sha256, size}]
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Assignment(Base):
    __tablename__ = "assignments"
    __table_args__ = (UniqueConstraint("case_id", "expert_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    expert_id: Mapped[int] = mapped_column(ForeignKey("experts.id"), index=True)
    assigned_at: Mapped[datetime] = mapped_column(UtcDateTime)
    marks: Mapped[dict | None] = mapped_column(JSON)                  # principle -> decimal string
    total: Mapped[str | None] = mapped_column(String(20))             # exact decimal string
    comment: Mapped[str | None] = mapped_column(Text)
    scored_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    expert: Mapped[Expert] = relationship(lazy="joined")


class Objection(Base):
    __tablename__ = "objections"
    __table_args__ = (Index("ix_objections_contact_created", "contact_index", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    name: Mapped[str] = mapped_column(String(50))
    contact: Mapped[str] = mapped_column(EncryptedString)
    contact_index: Mapped[str] = mapped_column(String(64))
    reasons: Mapped[str] = mapped_column(Text)
    files: Mapped[list] = mapped_column(JSON)                       # [{filename, key, sha256, size}]
    status: Mapped[str] = mapped_column(String(12))                 # open | upheld | dismissed
    outcome: Mapped[str | None] = mapped_column(String(20))         # withdrawn | relevelled
    new_level: Mapped[str | None] = mapped_column(String(20))
    resolution: Mapped[str | None] = mapped_column(Text)
    resolved_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class IncomingCase(Base):
    """A case a partner is sending: its message and its file chunks meet here, in whatever order they arrive."""
    __tablename__ = "incoming_cases"
    __table_args__ = (UniqueConstraint("agency_id", "origin_agency", "origin_case_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    origin_agency: Mapped[str] = mapped_column(String(64))
    origin_case_id: Mapped[int] = mapped_column(Integer)
    payload: Mapped[dict | None] = mapped_column(JSON)          # the case_forwarded data, once it came
    touched: Mapped[int] = mapped_column(Integer, default=0)    # written first by every handler: the row lock
    case_id: Mapped[int | None] = mapped_column(Integer)        # the case made here, once complete
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)


class IncomingChunk(Base):
    __tablename__ = "incoming_chunks"
    __table_args__ = (UniqueConstraint("incoming_id", "sha256", "seq"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    incoming_id: Mapped[int] = mapped_column(ForeignKey("incoming_cases.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(Integer)
    count: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
