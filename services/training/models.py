"""Training tables (SQLAlchemy 2.0). Every row carries its agency."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON, Boolean, Date, ForeignKey, Index, Integer, Numeric, String, Text, UniqueConstraint, text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from shared.db import BigId, PlatformTables, UtcDateTime, new_metadata

Score = Numeric(5, 2)


class Base(DeclarativeBase):
    metadata = new_metadata()


platform = PlatformTables(Base.metadata)


# ---- lecturer programme ----------------------------------------------------------------------

class Stage(Base):
    __tablename__ = "stages"
    __table_args__ = (UniqueConstraint("agency_id", "cycle", "stage"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    cycle: Mapped[str] = mapped_column(String(20))
    stage: Mapped[str] = mapped_column(String(12))
    title: Mapped[str] = mapped_column(String(100))
    mode: Mapped[str] = mapped_column(String(10))
    plan: Mapped[str] = mapped_column(String(20))
    sessions: Mapped[list] = mapped_column(JSON)
    courses: Mapped[list] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Trainee(Base):
    """A lecturer candidate the center approved, and how far they got."""
    __tablename__ = "trainees"
    __table_args__ = (
        UniqueConstraint("agency_id", "candidate_id"),
        Index("ix_trainees_agency_cycle_stage", "agency_id", "cycle", "stage", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    cycle: Mapped[str] = mapped_column(String(20))
    candidate_id: Mapped[int] = mapped_column(BigId)
    person_key: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(50))
    gender: Mapped[str | None] = mapped_column(String(6))
    id_masked: Mapped[str | None] = mapped_column(String(18))
    unit_id: Mapped[int | None] = mapped_column(BigId)
    unit_kind: Mapped[str | None] = mapped_column(String(40))
    district: Mapped[str | None] = mapped_column(String(40))
    stage: Mapped[str] = mapped_column(String(12))
    status: Mapped[str] = mapped_column(String(14))
    status_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Group(Base):
    __tablename__ = "groups"
    __table_args__ = (UniqueConstraint("agency_id", "cycle", "stage", "batch", "number"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    cycle: Mapped[str] = mapped_column(String(20))
    stage: Mapped[str] = mapped_column(String(12))
    batch: Mapped[int] = mapped_column(Integer)
    number: Mapped[int] = mapped_column(Integer)
    scenario: Mapped[str | None] = mapped_column(String(40))
    capacity: Mapped[int] = mapped_column(Integer)


class GroupMember(Base):
    """One group per trainee per stage (the unique key), so a move is an update."""
    __tablename__ = "group_members"
    __table_args__ = (UniqueConstraint("trainee_id", "stage"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"), index=True)
    trainee_id: Mapped[int] = mapped_column(ForeignKey("trainees.id"))
    stage: Mapped[str] = mapped_column(String(12))
    assigned_by: Mapped[str] = mapped_column(String(200))
    assigned_at: Mapped[datetime] = mapped_column(UtcDateTime)


class GroupExpert(Base):
    __tablename__ = "group_experts"
    __table_args__ = (UniqueConstraint("group_id", "expert"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"))
    expert: Mapped[str] = mapped_column(String(64), index=True)
    expert_name: Mapped[str | None] = mapped_column(String(50))


class ExpertScore(Base):
    """One score per expert, trainee and part; a second one replaces it (audited)."""
    __tablename__ = "expert_scores"
    __table_args__ = (UniqueConstraint("trainee_id", "part", "expert"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    trainee_id: Mapped[int] = mapped_column(ForeignKey("trainees.id"))
    part: Mapped[str] = mapped_column(String(20))
    expert: Mapped[str] = mapped_column(String(64))
    score: Mapped[Decimal] = mapped_column(Score)
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


# ---- exams -----------------------------------------------------------------------------------

class Question(Base):
    __tablename__ = "questions"
    __table_args__ = (Index("ix_questions_agency_topic", "agency_id", "topic"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    topic: Mapped[str] = mapped_column(String(60))
    kind: Mapped[str] = mapped_column(String(12))
    text: Mapped[str] = mapped_column(Text)
    options: Mapped[dict] = mapped_column(JSON)
    answer: Mapped[list] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Exam(Base):
    """A drawn paper, or (seed 0, no paper) one import of results from another platform."""
    __tablename__ = "exams"
    # one exam per platform import: two imports of the same export wait for each other on this key
    __table_args__ = (UniqueConstraint("agency_id", "cycle", "kind", "platform", "reference",
                                       name="uq_exams_external_source"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(200))
    cycle: Mapped[str | None] = mapped_column(String(20))
    class_id: Mapped[int | None] = mapped_column(ForeignKey("classes.id"), index=True)
    seed: Mapped[int] = mapped_column(BigId)
    draw: Mapped[list] = mapped_column(JSON)
    paper: Mapped[list] = mapped_column(JSON)
    answer_key: Mapped[dict] = mapped_column(JSON)  # frozen at draw time: bank edits never regrade
    duration_minutes: Mapped[int] = mapped_column(Integer)
    pass_mark: Mapped[Decimal] = mapped_column(Score)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # an external test's source (null for an exam drawn here): where it was taken, the export's reference
    platform: Mapped[str | None] = mapped_column(String(60))
    reference: Mapped[str | None] = mapped_column(String(100))


class Attempt(Base):
    """One live attempt per taker per exam: the partial unique index; a void one frees the place."""
    __tablename__ = "attempts"
    __table_args__ = (
        Index("uq_attempts_live", "exam_id", "taker", unique=True,
              sqlite_where=text("status != 'void'"), postgresql_where=text("status != 'void'")),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    exam_id: Mapped[int] = mapped_column(ForeignKey("exams.id"), index=True)
    taker: Mapped[str] = mapped_column(String(80))  # "candidate:<id>" or "person:<person_key>"
    candidate_id: Mapped[int | None] = mapped_column(BigId)
    person_key: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(10))  # started | submitted | void
    source: Mapped[str] = mapped_column(String(10))  # online | paper
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    deadline_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    submitted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    answers: Mapped[dict | None] = mapped_column(JSON)
    correct: Mapped[int | None] = mapped_column(Integer)
    score: Mapped[Decimal | None] = mapped_column(Score)
    void_reason: Mapped[str | None] = mapped_column(Text)


# ---- safety-training classes (seed 004) ------------------------------------------------------

class Institution(Base):
    __tablename__ = "institutions"
    __table_args__ = (UniqueConstraint("agency_id", "name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    district: Mapped[str | None] = mapped_column(String(40))
    full_time_managers: Mapped[int] = mapped_column(Integer)
    management_system: Mapped[bool] = mapped_column(Boolean)
    teacher_min_years: Mapped[int] = mapped_column(Integer)
    evaluation_mechanism: Mapped[bool] = mapped_column(Boolean)
    seats: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Teacher(Base):
    __tablename__ = "teachers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(50))
    qualification: Mapped[str] = mapped_column(String(40))
    title: Mapped[str | None] = mapped_column(String(100))
    field: Mapped[str | None] = mapped_column(String(100))
    years_experience: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ClassManager(Base):
    """A full-time class manager (班主任, 004 §七(四)) of an institution: a person, one class at a time."""
    __tablename__ = "class_managers"
    __table_args__ = (UniqueConstraint("agency_id", "person_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    name: Mapped[str] = mapped_column(String(50))
    id_masked: Mapped[str] = mapped_column(String(18))
    person_key: Mapped[str] = mapped_column(String(64))
    phone: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class TrainingClass(Base):
    __tablename__ = "classes"
    __table_args__ = (Index("ix_classes_agency_year_district", "agency_id", "year", "district"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    year: Mapped[int] = mapped_column(Integer)
    district: Mapped[str] = mapped_column(String(40))
    day1: Mapped[date] = mapped_column(Date)
    day2: Mapped[date] = mapped_column(Date)
    day_start: Mapped[str] = mapped_column(String(5))
    day_end: Mapped[str] = mapped_column(String(5))
    manager_name: Mapped[str] = mapped_column(String(50))
    # nullable: classes opened before managers were person records keep only the name
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("class_managers.id"), index=True)
    capacity: Mapped[int] = mapped_column(Integer)
    class_hours: Mapped[int] = mapped_column(Integer)
    pass_mark: Mapped[Decimal] = mapped_column(Score)
    status: Mapped[str] = mapped_column(String(10))  # open | completed
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    institution: Mapped[Institution] = relationship(lazy="joined")


class ClassTeacher(Base):
    __tablename__ = "class_teachers"
    __table_args__ = (UniqueConstraint("class_id", "teacher_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id"))
    teacher_id: Mapped[int] = mapped_column(ForeignKey("teachers.id"), index=True)


class EnrolledPerson(Base):
    """Registration's enrolment as this service keeps it (trainee_enrolled / enrolment_cancelled)."""
    __tablename__ = "enrolled_people"
    __table_args__ = (UniqueConstraint("agency_id", "enrolment_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    enrolment_id: Mapped[int] = mapped_column(BigId)
    year: Mapped[int] = mapped_column(Integer)
    district: Mapped[str] = mapped_column(String(40))
    role: Mapped[str] = mapped_column(String(20))
    unit_name: Mapped[str] = mapped_column(String(200))
    # the enterprise's safety file finds its people by it (null for rows received before 0002)
    unit_credit_code: Mapped[str | None] = mapped_column(String(18), index=True)
    person_name: Mapped[str] = mapped_column(String(50))
    id_masked: Mapped[str] = mapped_column(String(18))
    person_key: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(12))  # enrolled | cancelled
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ClassSeat(Base):
    __tablename__ = "class_seats"
    __table_args__ = (UniqueConstraint("class_id", "person_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id"), index=True)
    enrolment_id: Mapped[int] = mapped_column(BigId)
    person_key: Mapped[str] = mapped_column(String(64))
    person_name: Mapped[str] = mapped_column(String(50))
    id_masked: Mapped[str] = mapped_column(String(18))
    district: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(12))  # enrolled | cancelled | present | left_early | absent
    hours: Mapped[int | None] = mapped_column(Integer)
    passed: Mapped[bool | None] = mapped_column(Boolean)
    score: Mapped[Decimal | None] = mapped_column(Score)
    excused_reason: Mapped[str | None] = mapped_column(Text)  # the class manager's, recorded with the excusal
    excused_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Attendance(Base):
    __tablename__ = "attendance"
    __table_args__ = (UniqueConstraint("seat_id", "day"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    seat_id: Mapped[int] = mapped_column(ForeignKey("class_seats.id"))
    day: Mapped[int] = mapped_column(Integer)
    checked_in_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    checked_out_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class AbsenceReport(Base):
    """Who skipped or left a class early, for their district's safety office (004 §七(四))."""
    __tablename__ = "absence_reports"
    __table_args__ = (Index("ix_absence_reports_agency_district_year", "agency_id", "district", "year"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id"))
    year: Mapped[int] = mapped_column(Integer)
    district: Mapped[str] = mapped_column(String(40))
    seat_id: Mapped[int] = mapped_column(ForeignKey("class_seats.id"))
    person_name: Mapped[str] = mapped_column(String(50))
    id_masked: Mapped[str] = mapped_column(String(18))
    status: Mapped[str] = mapped_column(String(12))
    full_days: Mapped[int] = mapped_column(Integer)
    # per day short of full: {day, date, status, missed_minutes, checked_in_at, checked_out_at};
    # null on reports made before lateness was reported
    missed: Mapped[list | None] = mapped_column(JSON)
    missed_minutes: Mapped[int | None] = mapped_column(Integer)
    excused_reason: Mapped[str | None] = mapped_column(Text)
    reported_at: Mapped[datetime] = mapped_column(UtcDateTime)


class HoursEntry(Base):
    """A person's class hours from one class; the year's total is the sum (004 §七(五))."""
    __tablename__ = "hours_ledger"
    __table_args__ = (
        UniqueConstraint("agency_id", "person_key", "class_id"),
        Index("ix_hours_ledger_agency_year_person", "agency_id", "year", "person_key"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    person_key: Mapped[str] = mapped_column(String(64))
    year: Mapped[int] = mapped_column(Integer)
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id"))
    hours: Mapped[int] = mapped_column(Integer)
    credited_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Certificate(Base):
    __tablename__ = "certificates"
    __table_args__ = (UniqueConstraint("agency_id", "number"), UniqueConstraint("seat_id"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    number: Mapped[str] = mapped_column(String(80))
    seat_id: Mapped[int] = mapped_column(ForeignKey("class_seats.id"))
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id"))
    person_key: Mapped[str] = mapped_column(String(64), index=True)
    person_name: Mapped[str] = mapped_column(String(50))
    id_masked: Mapped[str] = mapped_column(String(18))
    year: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(10))  # valid | revoked
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_reason: Mapped[str | None] = mapped_column(Text)


class PartnerCertificate(Base):
    """A partner agency's certificate as its last broadcast said (the replica the verify route reads)."""
    __tablename__ = "partner_certificates"
    __table_args__ = (UniqueConstraint("agency_id", "number"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))          # this agency (the replica's owner)
    issuer: Mapped[str] = mapped_column(String(64))
    number: Mapped[str] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(10))             # valid | revoked
    holder: Mapped[str | None] = mapped_column(String(50))      # masked
    year: Mapped[int | None] = mapped_column(Integer)
    class_title: Mapped[str | None] = mapped_column(String(200))
    institution: Mapped[str | None] = mapped_column(String(200))
    class_hours: Mapped[int | None] = mapped_column(Integer)
    issued_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_reason: Mapped[str | None] = mapped_column(Text)
    as_of: Mapped[datetime] = mapped_column(UtcDateTime)          # time of the issuer's latest fact applied
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Rating(Base):
    __tablename__ = "ratings"
    __table_args__ = (UniqueConstraint("class_id", "teacher_id", "seat_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id"))
    teacher_id: Mapped[int] = mapped_column(ForeignKey("teachers.id"), index=True)
    seat_id: Mapped[int] = mapped_column(ForeignKey("class_seats.id"))
    stars: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
