"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-22 22:34:23.636696
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

    op.create_table('flags',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('agency_id', sa.String(length=64), nullable=False),
    sa.Column('cycle', sa.String(length=20), nullable=False),
    sa.Column('stage', sa.String(length=20), nullable=False),
    sa.Column('candidate_id', sa.BigInteger(), nullable=False),
    sa.Column('event_id', sa.String(length=64), nullable=False),
    sa.Column('event_name', sa.String(length=60), nullable=False),
    sa.Column('published_score', sa.Integer(), nullable=True),
    sa.Column('current_score', sa.Integer(), nullable=True),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('created_at', shared.db.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_flags'))
    )
    with op.batch_alter_table('flags', schema=None) as batch_op:
        batch_op.create_index('ix_flags_agency_cycle', ['agency_id', 'cycle'], unique=False)

    op.create_table('inbox',
    sa.Column('event_id', sa.String(length=64), nullable=False),
    sa.Column('handler', sa.String(length=200), nullable=False),
    sa.Column('event_type', sa.String(length=200), nullable=False),
    sa.Column('processed_at', shared.db.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('event_id', 'handler', name=op.f('pk_inbox'))
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

    op.create_table('schemes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('agency_id', sa.String(length=64), nullable=False),
    sa.Column('cycle', sa.String(length=20), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('definition', sa.JSON(), nullable=False),
    sa.Column('loaded_at', shared.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('loaded_by', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_schemes')),
    sa.UniqueConstraint('agency_id', 'cycle', name=op.f('uq_schemes_agency_id_cycle'))
    )
    op.create_table('score_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('agency_id', sa.String(length=64), nullable=False),
    sa.Column('event_id', sa.String(length=64), nullable=False),
    sa.Column('event_type', sa.String(length=200), nullable=False),
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('cycle', sa.String(length=20), nullable=False),
    sa.Column('candidate_id', sa.BigInteger(), nullable=False),
    sa.Column('time', shared.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('received_at', shared.db.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_score_events')),
    sa.UniqueConstraint('agency_id', 'event_id', name=op.f('uq_score_events_agency_id_event_id'))
    )
    with op.batch_alter_table('score_events', schema=None) as batch_op:
        batch_op.create_index('ix_score_events_candidate', ['agency_id', 'cycle', 'candidate_id'], unique=False)

    op.create_table('score_sheets',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('agency_id', sa.String(length=64), nullable=False),
    sa.Column('cycle', sa.String(length=20), nullable=False),
    sa.Column('candidate_id', sa.BigInteger(), nullable=False),
    sa.Column('name', sa.String(length=50), nullable=True),
    sa.Column('registered_at', shared.db.UtcDateTime(timezone=True), nullable=True),
    sa.Column('person_key', sa.String(length=64), nullable=True),
    sa.Column('approved', sa.Boolean(), nullable=False),
    sa.Column('withdrawn', sa.Boolean(), nullable=False),
    sa.Column('lecture_count', sa.Integer(), nullable=False),
    sa.Column('updated_at', shared.db.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_score_sheets')),
    sa.UniqueConstraint('agency_id', 'cycle', 'candidate_id', name=op.f('uq_score_sheets_agency_id_cycle_candidate_id'))
    )
    with op.batch_alter_table('score_sheets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_score_sheets_person_key'), ['person_key'], unique=False)

    op.create_table('stage_decisions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('agency_id', sa.String(length=64), nullable=False),
    sa.Column('cycle', sa.String(length=20), nullable=False),
    sa.Column('stage', sa.String(length=20), nullable=False),
    sa.Column('candidate_id', sa.BigInteger(), nullable=False),
    sa.Column('advanced', sa.Boolean(), nullable=False),
    sa.Column('rank', sa.Integer(), nullable=True),
    sa.Column('score', sa.Integer(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('decided_at', shared.db.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stage_decisions')),
    sa.UniqueConstraint('agency_id', 'cycle', 'stage', 'candidate_id', name=op.f('uq_stage_decisions_agency_id_cycle_stage_candidate_id'))
    )
    op.create_table('stage_states',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('agency_id', sa.String(length=64), nullable=False),
    sa.Column('cycle', sa.String(length=20), nullable=False),
    sa.Column('stage', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('rounds', sa.Integer(), nullable=False),
    sa.Column('closed_at', shared.db.UtcDateTime(timezone=True), nullable=True),
    sa.Column('closed_by', sa.String(length=200), nullable=True),
    sa.Column('summary', sa.JSON(), nullable=True),
    sa.Column('reopened_at', shared.db.UtcDateTime(timezone=True), nullable=True),
    sa.Column('reopen_reason', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stage_states')),
    sa.UniqueConstraint('agency_id', 'cycle', 'stage', name=op.f('uq_stage_states_agency_id_cycle_stage'))
    )
    op.create_table('sheet_lectures',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('sheet_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('lecture_id', sa.BigInteger(), nullable=False),
    sa.Column('counted', sa.Boolean(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=True),
    sa.Column('lecture_date', sa.String(length=10), nullable=True),
    sa.Column('event_id', sa.String(length=64), nullable=False),
    sa.Column('at', shared.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['sheet_id'], ['score_sheets.id'], name=op.f('fk_sheet_lectures_sheet_id_score_sheets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sheet_lectures')),
    sa.UniqueConstraint('sheet_id', 'lecture_id', name=op.f('uq_sheet_lectures_sheet_id_lecture_id'))
    )
    op.create_table('sheet_parts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('sheet_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('part', sa.String(length=40), nullable=False),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.String(length=64), nullable=False),
    sa.Column('scored_at', shared.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['sheet_id'], ['score_sheets.id'], name=op.f('fk_sheet_parts_sheet_id_score_sheets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sheet_parts')),
    sa.UniqueConstraint('sheet_id', 'part', name=op.f('uq_sheet_parts_sheet_id_part'))
    )


def downgrade() -> None:
    op.drop_table('sheet_parts')
    op.drop_table('sheet_lectures')
    op.drop_table('stage_states')
    op.drop_table('stage_decisions')
    with op.batch_alter_table('score_sheets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_score_sheets_person_key'))

    op.drop_table('score_sheets')
    with op.batch_alter_table('score_events', schema=None) as batch_op:
        batch_op.drop_index('ix_score_events_candidate')

    op.drop_table('score_events')
    op.drop_table('schemes')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_pending')

    op.drop_table('outbox')
    op.drop_table('inbox')
    with op.batch_alter_table('flags', schema=None) as batch_op:
        batch_op.drop_index('ix_flags_agency_cycle')

    op.drop_table('flags')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_log_entity')

    op.drop_table('audit_log')
