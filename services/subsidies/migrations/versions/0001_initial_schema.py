"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-22
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

    op.create_table('evidence_files',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('agency_id', sa.String(length=64), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('content_type', sa.String(length=40), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=True),
    sa.Column('uploaded_by', sa.String(length=200), nullable=False),
    sa.Column('uploaded_at', shared.db.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_evidence_files')),
    sa.UniqueConstraint('agency_id', 'sha256', name=op.f('uq_evidence_files_agency_id_sha256'))
    )
    op.create_table('inbox',
    sa.Column('event_id', sa.String(length=64), nullable=False),
    sa.Column('handler', sa.String(length=200), nullable=False),
    sa.Column('event_type', sa.String(length=200), nullable=False),
    sa.Column('processed_at', shared.db.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('event_id', 'handler', name=op.f('pk_inbox'))
    )
    op.create_table('lecture_orders',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('agency_id', sa.String(length=64), nullable=False),
    sa.Column('cycle', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('enterprise_name', sa.String(length=200), nullable=False),
    sa.Column('ordered_by', sa.String(length=200), nullable=False),
    sa.Column('topic', sa.String(length=200), nullable=False),
    sa.Column('wished_dates', sa.JSON(), nullable=False),
    sa.Column('audience_size', sa.Integer(), nullable=False),
    sa.Column('address', sa.String(length=300), nullable=False),
    sa.Column('contact', sa.String(length=100), nullable=True),
    sa.Column('candidate_id', sa.BigInteger(), nullable=True),
    sa.Column('accepted_by', sa.String(length=200), nullable=True),
    sa.Column('scheduled_date', sa.Date(), nullable=True),
    sa.Column('cancellation_reason', sa.Text(), nullable=True),
    sa.Column('created_at', shared.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', shared.db.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lecture_orders'))
    )
    with op.batch_alter_table('lecture_orders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lecture_orders_agency_id'), ['agency_id'], unique=False)

    op.create_table('lecturers',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('agency_id', sa.String(length=64), nullable=False),
    sa.Column('cycle', sa.String(length=20), nullable=False),
    sa.Column('candidate_id', sa.BigInteger(), nullable=False),
    sa.Column('name', sa.String(length=50), nullable=True),
    sa.Column('person_key', sa.String(length=64), nullable=True),
    sa.Column('in_tour', sa.Boolean(), nullable=False),
    sa.Column('advanced_rank', sa.Integer(), nullable=True),
    sa.Column('updated_at', shared.db.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lecturers')),
    sa.UniqueConstraint('agency_id', 'cycle', 'candidate_id', name=op.f('uq_lecturers_agency_id_cycle_candidate_id'))
    )
    with op.batch_alter_table('lecturers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lecturers_person_key'), ['person_key'], unique=False)

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

    op.create_table('payment_batches',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('agency_id', sa.String(length=64), nullable=False),
    sa.Column('cycle', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('item_count', sa.Integer(), nullable=False),
    sa.Column('total_fen', sa.BigInteger(), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', shared.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('exported_at', shared.db.UtcDateTime(timezone=True), nullable=True),
    sa.Column('settled_at', shared.db.UtcDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_batches'))
    )
    with op.batch_alter_table('payment_batches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payment_batches_agency_id'), ['agency_id'], unique=False)

    op.create_table('subsidy_cycles',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('agency_id', sa.String(length=64), nullable=False),
    sa.Column('code', sa.String(length=20), nullable=False),
    sa.Column('tour_start', sa.Date(), nullable=False),
    sa.Column('tour_end', sa.Date(), nullable=False),
    sa.Column('lecture_subsidy_fen', sa.BigInteger(), nullable=False),
    sa.Column('target_lectures', sa.Integer(), nullable=False),
    sa.Column('created_at', shared.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', shared.db.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subsidy_cycles')),
    sa.UniqueConstraint('agency_id', 'code', name=op.f('uq_subsidy_cycles_agency_id_code'))
    )
    op.create_table('training_subsidies',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('agency_id', sa.String(length=64), nullable=False),
    sa.Column('person_key', sa.String(length=64), nullable=False),
    sa.Column('person_name', sa.String(length=50), nullable=False),
    sa.Column('class_id', sa.String(length=64), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('class_hours', sa.Integer(), nullable=True),
    sa.Column('completed_at', shared.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('granted_at', shared.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('refused_classes', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_training_subsidies')),
    sa.UniqueConstraint('agency_id', 'person_key', name=op.f('uq_training_subsidies_agency_id_person_key'))
    )
    op.create_table('lectures',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('agency_id', sa.String(length=64), nullable=False),
    sa.Column('cycle', sa.String(length=20), nullable=False),
    sa.Column('candidate_id', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('lecturer_name', sa.String(length=50), nullable=False),
    sa.Column('id_number', shared.pii.EncryptedString(), nullable=False),
    sa.Column('id_index', sa.String(length=64), nullable=False),
    sa.Column('id_masked', sa.String(length=18), nullable=False),
    sa.Column('lecture_date', sa.Date(), nullable=False),
    sa.Column('venue', sa.String(length=200), nullable=False),
    sa.Column('venue_key', sa.String(length=200), nullable=False),
    sa.Column('audience_count', sa.Integer(), nullable=False),
    sa.Column('bank', sa.String(length=100), nullable=False),
    sa.Column('branch', sa.String(length=100), nullable=False),
    sa.Column('account_number', shared.pii.EncryptedString(), nullable=False),
    sa.Column('account_masked', sa.String(length=19), nullable=False),
    sa.Column('contact', sa.String(length=100), nullable=False),
    sa.Column('signin_file_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('signin_head_count', sa.Integer(), nullable=True),
    sa.Column('video_file_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('photos', sa.JSON(), nullable=False),
    sa.Column('received_at', shared.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('failed_rules', sa.JSON(), nullable=False),
    sa.Column('checked_at', shared.db.UtcDateTime(timezone=True), nullable=True),
    sa.Column('checked_by', sa.String(length=120), nullable=True),
    sa.Column('reviewed_by', sa.String(length=200), nullable=True),
    sa.Column('review_reasons', sa.JSON(), nullable=True),
    sa.Column('submitted_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', shared.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', shared.db.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['lecture_orders.id'], name=op.f('fk_lectures_order_id_lecture_orders')),
    sa.ForeignKeyConstraint(['signin_file_id'], ['evidence_files.id'], name=op.f('fk_lectures_signin_file_id_evidence_files')),
    sa.ForeignKeyConstraint(['video_file_id'], ['evidence_files.id'], name=op.f('fk_lectures_video_file_id_evidence_files')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lectures')),
    sa.UniqueConstraint('agency_id', 'cycle', 'candidate_id', 'lecture_date', 'venue_key', name=op.f('uq_lectures_agency_id_cycle_candidate_id_lecture_date_venue_key'))
    )
    with op.batch_alter_table('lectures', schema=None) as batch_op:
        batch_op.create_index('ix_lectures_agency_cycle_status', ['agency_id', 'cycle', 'status'], unique=False)

    op.create_table('subsidies',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('agency_id', sa.String(length=64), nullable=False),
    sa.Column('cycle', sa.String(length=20), nullable=False),
    sa.Column('lecture_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('candidate_id', sa.BigInteger(), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('paid_at', shared.db.UtcDateTime(timezone=True), nullable=True),
    sa.Column('created_at', shared.db.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['lecture_id'], ['lectures.id'], name=op.f('fk_subsidies_lecture_id_lectures')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subsidies')),
    sa.UniqueConstraint('lecture_id', name=op.f('uq_subsidies_lecture_id'))
    )
    with op.batch_alter_table('subsidies', schema=None) as batch_op:
        batch_op.create_index('ix_subsidies_agency_status', ['agency_id', 'status'], unique=False)

    op.create_table('payment_items',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('batch_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('subsidy_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('failure_reason', sa.Text(), nullable=True),
    sa.Column('settled_at', shared.db.UtcDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['batch_id'], ['payment_batches.id'], name=op.f('fk_payment_items_batch_id_payment_batches')),
    sa.ForeignKeyConstraint(['subsidy_id'], ['subsidies.id'], name=op.f('fk_payment_items_subsidy_id_subsidies')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_items'))
    )
    with op.batch_alter_table('payment_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payment_items_batch_id'), ['batch_id'], unique=False)
        batch_op.create_index('uq_payment_items_live_subsidy', ['subsidy_id'], unique=True, sqlite_where=sa.text("status IN ('pending', 'paid')"), postgresql_where=sa.text("status IN ('pending', 'paid')"))



def downgrade() -> None:
    with op.batch_alter_table('payment_items', schema=None) as batch_op:
        batch_op.drop_index('uq_payment_items_live_subsidy', sqlite_where=sa.text("status IN ('pending', 'paid')"), postgresql_where=sa.text("status IN ('pending', 'paid')"))
        batch_op.drop_index(batch_op.f('ix_payment_items_batch_id'))

    op.drop_table('payment_items')
    with op.batch_alter_table('subsidies', schema=None) as batch_op:
        batch_op.drop_index('ix_subsidies_agency_status')

    op.drop_table('subsidies')
    with op.batch_alter_table('lectures', schema=None) as batch_op:
        batch_op.drop_index('ix_lectures_agency_cycle_status')

    op.drop_table('lectures')
    op.drop_table('training_subsidies')
    op.drop_table('subsidy_cycles')
    with op.batch_alter_table('payment_batches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payment_batches_agency_id'))

    op.drop_table('payment_batches')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_pending')

    op.drop_table('outbox')
    with op.batch_alter_table('lecturers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lecturers_person_key'))

    op.drop_table('lecturers')
    with op.batch_alter_table('lecture_orders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lecture_orders_agency_id'))

    op.drop_table('lecture_orders')
    op.drop_table('inbox')
    op.drop_table('evidence_files')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_log_entity')

    op.drop_table('audit_log')
