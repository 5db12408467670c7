"""a hazard's deadline may wait for the holiday calendar: working days kept, deadline nullable, reason

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('hazards', schema=None) as batch_op:
        batch_op.add_column(sa.Column('working_days', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('deadline_pending', sa.String(length=32), nullable=True))
        batch_op.alter_column('deadline', existing_type=sa.Date(), nullable=True)


def downgrade() -> None:
    with op.batch_alter_table('hazards', schema=None) as batch_op:
        batch_op.alter_column('deadline', existing_type=sa.Date(), nullable=False)
        batch_op.drop_column('deadline_pending')
        batch_op.drop_column('working_days')
