"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-22 22:38:36.037400
"""
from alembic import op
import sqlalchemy as sa
import shared.db
import shared.pii


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_log',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('at', shared.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('agency_id', sa.String(length=64), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('actor_role', sa.String(length=40), nullable=False),
    sa.Column('action', sa.String(length=80), nullable=False),
    sa.Column('entity_type', sa.String(length=80), nullable=False),
    sa.Column('entity_id', sa.String(length=80), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index('ix_audit_log_entity', ['entity_type', 'entity_id'], unique=False)

    op.create_table('enrolled_people',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('agency_id', sa.String(length=64), nullable=False),
    sa.Column('enrolment_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('district', sa.String(length=40), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('unit_name', sa.String(length=200), nullable=False),
    sa.Column('person_name', sa.String(length=50), nullable=False),
    sa.Column('id_masked', sa.String(length=18), nullable=False),
    sa.Column('person_key', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('received_at', shared.db.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_enrolled_people')),
    sa.UniqueConstraint('agency_id', 'enrolment_id', name=op.f('uq_enrolled_people_agency_id_enrolment_id'))
    )
    with op.batch_alter_table('enrolled_people', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_enrolled_people_person_key'), ['person_key'], unique=False)

    op.create_table('groups',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('agency_id', sa.String(length=64), nullable=False),
    sa.Column('cycle', sa.String(length=20), nullable=False),
    sa.Column('stage', sa.String(length=12), nullable=False),
    sa.Column('batch', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('scenario', sa.String(length=40), nullable=True),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_groups')),
    sa.UniqueConstraint('agency_id', 'cycle', 'stage', 'batch', 'number', name=op.f('uq_groups_agency_id_cycle_stage_batch_number'))
    )
    op.create_table('inbox',
    sa.Column('event_id', sa.String(length=64), nullable=False),
    sa.Column('handler', sa.String(length=200), nullable=False),
    sa.Column('event_type', sa.String(length=200), nullable=False),
    sa.Column('processed_at', shared.db.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('event_id', 'handler', name=op.f('pk_inbox'))
    )
    op.create_table('institutions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('agency_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('district', sa.String(length=40), nullable=True),
    sa.Column('full_time_managers', sa.Integer(), nullable=False),
    sa.Column('management_system', sa.Boolean(), nullable=False),
    sa.Column('teacher_min_years', sa.Integer(), nullable=False),
    sa.Column('evaluation_mechanism', sa.Boolean(), nullable=False),
    sa.Column('seats', sa.Integer(), nullable=False),
    sa.Column('created_at', shared.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', shared.db.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_institutions')),
    sa.UniqueConstraint('agency_id', 'name', name=op.f('uq_institutions_agency_id_name'))
    )
    op.create_table('outbox',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('event_id', sa.String(length=36), nullable=False),
    sa.Column('event_type', sa.String(length=200), nullable=False),
    sa.Column('exchange', sa.String(length=200), nullable=False),
    sa.Column('routing_key', sa.String(length=200), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', shared.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('published_at', shared.db.UtcDateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox')),
    sa.UniqueConstraint('event_id', name=op.f('uq_outbox_event_id'))
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_pending', ['published_at', 'id'], unique=False)

    op.create_table('questions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('agency_id', sa.String(length=64), nullable=False),
    sa.Column('topic', sa.String(length=60), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('options', sa.JSON(), nullable=False),
    sa.Column('answer', sa.JSON(), nullable=False),
    sa.Column('created_at', shared.db.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_questions'))
    )
    with op.batch_alter_table('questions', schema=None) as batch_op:
        batch_op.create_index('ix_questions_agency_topic', ['agency_id', 'topic'], unique=False)

    op.create_table('stages',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('agency_id', sa.String(length=64), nullable=False),
    sa.Column('cycle', sa.String(length=20), nullable=False),
    sa.Column('stage', sa.String(length=12), nullable=False),
    sa.Column('title', sa.String(length=100), nullable=False),
    sa.Column('mode', sa.String(length=10), nullable=False),
    sa.Column('plan', sa.String(length=20), nullable=False),
    sa.Column('sessions', sa.JSON(), nullable=False),
    sa.Column('courses', sa.JSON(), nullable=False),
    sa.Column('created_at', shared.db.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stages')),
    sa.UniqueConstraint('agency_id', 'cycle', 'stage', name=op.f('uq_stages_agency_id_cycle_stage'))
    )
    op.create_table('teachers',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('agency_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=50), nullable=False),
    sa.Column('qualification', sa.String(length=40), nullable=False),
    sa.Column('title', sa.String(length=100), nullable=True),
    sa.Column('field', sa.String(length=100), nullable=True),
    sa.Column('years_experience', sa.Integer(), nullable=False),
    sa.Column('created_at', shared.db.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_teachers'))
    )
    with op.batch_alter_table('teachers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_teachers_agency_id'), ['agency_id'], unique=False)

    op.create_table('trainees',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('agency_id', sa.String(length=64), nullable=False),
    sa.Column('cycle', sa.String(length=20), nullable=False),
    sa.Column('candidate_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('person_key', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=50), nullable=False),
    sa.Column('gender', sa.String(length=6), nullable=True),
    sa.Column('id_masked', sa.String(length=18), nullable=True),
    sa.Column('unit_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('unit_kind', sa.String(length=40), nullable=True),
    sa.Column('district', sa.String(length=40), nullable=True),
    sa.Column('stage', sa.String(length=12), nullable=False),
    sa.Column('status', sa.String(length=14), nullable=False),
    sa.Column('status_reason', sa.Text(), nullable=True),
    sa.Column('created_at', shared.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', shared.db.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trainees')),
    sa.UniqueConstraint('agency_id', 'candidate_id', name=op.f('uq_trainees_agency_id_candidate_id'))
    )
    with op.batch_alter_table('trainees', schema=None) as batch_op:
        batch_op.create_index('ix_trainees_agency_cycle_stage', ['agency_id', 'cycle', 'stage', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_trainees_person_key'), ['person_key'], unique=False)

    op.create_table('classes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('agency_id', sa.String(length=64), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('institution_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('district', sa.String(length=40), nullable=False),
    sa.Column('day1', sa.Date(), nullable=False),
    sa.Column('day2', sa.Date(), nullable=False),
    sa.Column('day_start', sa.String(length=5), nullable=False),
    sa.Column('day_end', sa.String(length=5), nullable=False),
    sa.Column('manager_name', sa.String(length=50), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.Column('class_hours', sa.Integer(), nullable=False),
    sa.Column('pass_mark', sa.Numeric(precision=5, scale=2), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('completed_at', shared.db.UtcDateTime(timezone=True), nullable=True),
    sa.Column('created_at', shared.db.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['institution_id'], ['institutions.id'], name=op.f('fk_classes_institution_id_institutions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_classes'))
    )
    with op.batch_alter_table('classes', schema=None) as batch_op:
        batch_op.create_index('ix_classes_agency_year_district', ['agency_id', 'year', 'district'], unique=False)

    op.create_table('expert_scores',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('agency_id', sa.String(length=64), nullable=False),
    sa.Column('trainee_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('part', sa.String(length=20), nullable=False),
    sa.Column('expert', sa.String(length=64), nullable=False),
    sa.Column('score', sa.Numeric(precision=5, scale=2), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('created_at', shared.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', shared.db.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['trainee_id'], ['trainees.id'], name=op.f('fk_expert_scores_trainee_id_trainees')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_expert_scores')),
    sa.UniqueConstraint('trainee_id', 'part', 'expert', name=op.f('uq_expert_scores_trainee_id_part_expert'))
    )
    op.create_table('group_experts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('group_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('expert', sa.String(length=64), nullable=False),
    sa.Column('expert_name', sa.String(length=50), nullable=True),
    sa.ForeignKeyConstraint(['group_id'], ['groups.id'], name=op.f('fk_group_experts_group_id_groups')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_group_experts')),
    sa.UniqueConstraint('group_id', 'expert', name=op.f('uq_group_experts_group_id_expert'))
    )
    with op.batch_alter_table('group_experts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_group_experts_expert'), ['expert'], unique=False)

    op.create_table('group_members',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('group_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('trainee_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('stage', sa.String(length=12), nullable=False),
    sa.Column('assigned_by', sa.String(length=200), nullable=False),
    sa.Column('assigned_at', shared.db.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['group_id'], ['groups.id'], name=op.f('fk_group_members_group_id_groups')),
    sa.ForeignKeyConstraint(['trainee_id'], ['trainees.id'], name=op.f('fk_group_members_trainee_id_trainees')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_group_members')),
    sa.UniqueConstraint('trainee_id', 'stage', name=op.f('uq_group_members_trainee_id_stage'))
    )
    with op.batch_alter_table('group_members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_group_members_group_id'), ['group_id'], unique=False)

    op.create_table('class_seats',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('class_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('enrolment_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('person_key', sa.String(length=64), nullable=False),
    sa.Column('person_name', sa.String(length=50), nullable=False),
    sa.Column('id_masked', sa.String(length=18), nullable=False),
    sa.Column('district', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('hours', sa.Integer(), nullable=True),
    sa.Column('passed', sa.Boolean(), nullable=True),
    sa.Column('score', sa.Numeric(precision=5, scale=2), nullable=True),
    sa.ForeignKeyConstraint(['class_id'], ['classes.id'], name=op.f('fk_class_seats_class_id_classes')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_class_seats')),
    sa.UniqueConstraint('class_id', 'person_key', name=op.f('uq_class_seats_class_id_person_key'))
    )
    with op.batch_alter_table('class_seats', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_class_seats_class_id'), ['class_id'], unique=False)

    op.create_table('class_teachers',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('class_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('teacher_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['class_id'], ['classes.id'], name=op.f('fk_class_teachers_class_id_classes')),
    sa.ForeignKeyConstraint(['teacher_id'], ['teachers.id'], name=op.f('fk_class_teachers_teacher_id_teachers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_class_teachers')),
    sa.UniqueConstraint('class_id', 'teacher_id', name=op.f('uq_class_teachers_class_id_teacher_id'))
    )
    with op.batch_alter_table('class_teachers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_class_teachers_teacher_id'), ['teacher_id'], unique=False)

    op.create_table('exams',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('agency_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('cycle', sa.String(length=20), nullable=True),
    sa.Column('class_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('seed', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('draw', sa.JSON(), nullable=False),
    sa.Column('paper', sa.JSON(), nullable=False),
    sa.Column('answer_key', sa.JSON(), nullable=False),
    sa.Column('duration_minutes', sa.Integer(), nullable=False),
    sa.Column('pass_mark', sa.Numeric(precision=5, scale=2), nullable=False),
    sa.Column('created_at', shared.db.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['class_id'], ['classes.id'], name=op.f('fk_exams_class_id_classes')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exams'))
    )
    with op.batch_alter_table('exams', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_exams_agency_id'), ['agency_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_exams_class_id'), ['class_id'], unique=False)

    op.create_table('hours_ledger',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('agency_id', sa.String(length=64), nullable=False),
    sa.Column('person_key', sa.String(length=64), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('class_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('hours', sa.Integer(), nullable=False),
    sa.Column('credited_at', shared.db.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['class_id'], ['classes.id'], name=op.f('fk_hours_ledger_class_id_classes')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hours_ledger')),
    sa.UniqueConstraint('agency_id', 'person_key', 'class_id', name=op.f('uq_hours_ledger_agency_id_person_key_class_id'))
    )
    with op.batch_alter_table('hours_ledger', schema=None) as batch_op:
        batch_op.create_index('ix_hours_ledger_agency_year_person', ['agency_id', 'year', 'person_key'], unique=False)

    op.create_table('absence_reports',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('agency_id', sa.String(length=64), nullable=False),
    sa.Column('class_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('district', sa.String(length=40), nullable=False),
    sa.Column('seat_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('person_name', sa.String(length=50), nullable=False),
    sa.Column('id_masked', sa.String(length=18), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('full_days', sa.Integer(), nullable=False),
    sa.Column('reported_at', shared.db.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['class_id'], ['classes.id'], name=op.f('fk_absence_reports_class_id_classes')),
    sa.ForeignKeyConstraint(['seat_id'], ['class_seats.id'], name=op.f('fk_absence_reports_seat_id_class_seats')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_absence_reports'))
    )
    with op.batch_alter_table('absence_reports', schema=None) as batch_op:
        batch_op.create_index('ix_absence_reports_agency_district_year', ['agency_id', 'district', 'year'], unique=False)

    op.create_table('attempts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('agency_id', sa.String(length=64), nullable=False),
    sa.Column('exam_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('taker', sa.String(length=80), nullable=False),
    sa.Column('candidate_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('person_key', sa.String(length=64), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('source', sa.String(length=10), nullable=False),
    sa.Column('started_at', shared.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('deadline_at', shared.db.UtcDateTime(timezone=True), nullable=True),
    sa.Column('submitted_at', shared.db.UtcDateTime(timezone=True), nullable=True),
    sa.Column('answers', sa.JSON(), nullable=True),
    sa.Column('correct', sa.Integer(), nullable=True),
    sa.Column('score', sa.Numeric(precision=5, scale=2), nullable=True),
    sa.Column('void_reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['exam_id'], ['exams.id'], name=op.f('fk_attempts_exam_id_exams')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_attempts'))
    )
    with op.batch_alter_table('attempts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_attempts_exam_id'), ['exam_id'], unique=False)
        batch_op.create_index('uq_attempts_live', ['exam_id', 'taker'], unique=True, sqlite_where=sa.text("status != 'void'"), postgresql_where=sa.text("status != 'void'"))

    op.create_table('attendance',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('seat_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('day', sa.Integer(), nullable=False),
    sa.Column('checked_in_at', shared.db.UtcDateTime(timezone=True), nullable=True),
    sa.Column('checked_out_at', shared.db.UtcDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['seat_id'], ['class_seats.id'], name=op.f('fk_attendance_seat_id_class_seats')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_attendance')),
    sa.UniqueConstraint('seat_id', 'day', name=op.f('uq_attendance_seat_id_day'))
    )
    op.create_table('certificates',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('agency_id', sa.String(length=64), nullable=False),
    sa.Column('number', sa.String(length=80), nullable=False),
    sa.Column('seat_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('class_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('person_key', sa.String(length=64), nullable=False),
    sa.Column('person_name', sa.String(length=50), nullable=False),
    sa.Column('id_masked', sa.String(length=18), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('issued_at', shared.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', shared.db.UtcDateTime(timezone=True), nullable=True),
    sa.Column('revoked_reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['class_id'], ['classes.id'], name=op.f('fk_certificates_class_id_classes')),
    sa.ForeignKeyConstraint(['seat_id'], ['class_seats.id'], name=op.f('fk_certificates_seat_id_class_seats')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_certificates')),
    sa.UniqueConstraint('agency_id', 'number', name=op.f('uq_certificates_agency_id_number')),
    sa.UniqueConstraint('seat_id', name=op.f('uq_certificates_seat_id'))
    )
    with op.batch_alter_table('certificates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_certificates_person_key'), ['person_key'], unique=False)

    op.create_table('ratings',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('agency_id', sa.String(length=64), nullable=False),
    sa.Column('class_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('teacher_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('seat_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('stars', sa.Integer(), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('created_at', shared.db.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['class_id'], ['classes.id'], name=op.f('fk_ratings_class_id_classes')),
    sa.ForeignKeyConstraint(['seat_id'], ['class_seats.id'], name=op.f('fk_ratings_seat_id_class_seats')),
    sa.ForeignKeyConstraint(['teacher_id'], ['teachers.id'], name=op.f('fk_ratings_teacher_id_teachers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ratings')),
    sa.UniqueConstraint('class_id', 'teacher_id', 'seat_id', name=op.f('uq_ratings_class_id_teacher_id_seat_id'))
    )
    with op.batch_alter_table('ratings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ratings_teacher_id'), ['teacher_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('ratings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ratings_teacher_id'))

    op.drop_table('ratings')
    with op.batch_alter_table('certificates', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_certificates_person_key'))

    op.drop_table('certificates')
    op.drop_table('attendance')
    with op.batch_alter_table('attempts', schema=None) as batch_op:
        batch_op.drop_index('uq_attempts_live', sqlite_where=sa.text("status != 'void'"), postgresql_where=sa.text("status != 'void'"))
        batch_op.drop_index(batch_op.f('ix_attempts_exam_id'))

    op.drop_table('attempts')
    with op.batch_alter_table('absence_reports', schema=None) as batch_op:
        batch_op.drop_index('ix_absence_reports_agency_district_year')

    op.drop_table('absence_reports')
    with op.batch_alter_table('hours_ledger', schema=None) as batch_op:
        batch_op.drop_index('ix_hours_ledger_agency_year_person')

    op.drop_table('hours_ledger')
    with op.batch_alter_table('exams', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_exams_class_id'))
        batch_op.drop_index(batch_op.f('ix_exams_agency_id'))

    op.drop_table('exams')
    with op.batch_alter_table('class_teachers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_class_teachers_teacher_id'))

    op.drop_table('class_teachers')
    with op.batch_alter_table('class_seats', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_class_seats_class_id'))

    op.drop_table('class_seats')
    with op.batch_alter_table('group_members', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_group_members_group_id'))

    op.drop_table('group_members')
    with op.batch_alter_table('group_experts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_group_experts_expert'))

    op.drop_table('group_experts')
    op.drop_table('expert_scores')
    with op.batch_alter_table('classes', schema=None) as batch_op:
        batch_op.drop_index('ix_classes_agency_year_district')

    op.drop_table('classes')
    with op.batch_alter_table('trainees', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_trainees_person_key'))
        batch_op.drop_index('ix_trainees_agency_cycle_stage')

    op.drop_table('trainees')
    with op.batch_alter_table('teachers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_teachers_agency_id'))

    op.drop_table('teachers')
    op.drop_table('stages')
    with op.batch_alter_table('questions', schema=None) as batch_op:
        batch_op.drop_index('ix_questions_agency_topic')

    op.drop_table('questions')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_pending')

    op.drop_table('outbox')
    op.drop_table('institutions')
    op.drop_table('inbox')
    op.drop_table('groups')
    with op.batch_alter_table('enrolled_people', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_enrolled_people_person_key'))

    op.drop_table('enrolled_people')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_log_entity')

    op.drop_table('audit_log')
