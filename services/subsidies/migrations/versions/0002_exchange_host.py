"""exchange lectures name their host lecturer; lecturers keep their unit

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""
from alembic import op
import sqlalchemy as sa

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('lecturers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('unit_id', sa.BigInteger(), nullable=True))
    with op.batch_alter_table('lectures', schema=None) as batch_op:
        batch_op.add_column(sa.Column('host_candidate_id', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('lectures', schema=None) as batch_op:
        batch_op.drop_column('host_candidate_id')
    with op.batch_alter_table('lecturers', schema=None) as batch_op:
        batch_op.drop_column('unit_id')
