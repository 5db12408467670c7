"""cases sent to and received from partner agencies (docs/agencies.md)

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa
import shared.db


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('origin_agency', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('origin_case_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('forwarded_to', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('forwarded_at', shared.db.UtcDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('partner_result', sa.JSON(), nullable=True))
    op.create_table(
        'incoming_cases',
        sa.Column('id', BigId, nullable=False),
        sa.Column('agency_id', sa.String(length=64), nullable=False),
        sa.Column('origin_agency', sa.String(length=64), nullable=False),
        sa.Column('origin_case_id', sa.Integer(), nullable=False),
        sa.Column('payload', sa.JSON(), nullable=True),
        sa.Column('touched', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=True),
        sa.Column('received_at', shared.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_incoming_cases')),
        sa.UniqueConstraint('agency_id', 'origin_agency', 'origin_case_id',
                            name=op.f('uq_incoming_cases_agency_id_origin_agency_origin_case_id')),
    )
    op.create_table(
        'incoming_chunks',
        sa.Column('id', BigId, nullable=False),
        sa.Column('incoming_id', BigId, nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.Column('data', sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(['incoming_id'], ['incoming_cases.id'],
                                name=op.f('fk_incoming_chunks_incoming_id_incoming_cases')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_incoming_chunks')),
        sa.UniqueConstraint('incoming_id', 'sha256', 'seq', name=op.f('uq_incoming_chunks_incoming_id_sha256_seq')),
    )
    with op.batch_alter_table('incoming_chunks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_incoming_chunks_incoming_id'), ['incoming_id'], unique=False)


def downgrade() -> None:
    op.drop_table('incoming_chunks')
    op.drop_table('incoming_cases')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        for column in ('partner_result', 'forwarded_at', 'forwarded_to', 'origin_case_id', 'origin_agency'):
            batch_op.drop_column(column)
