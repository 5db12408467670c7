"""enrolled people keep their unit's credit code (the enterprise's safety file finds them by it)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # rows received earlier stay null: trainee_enrolled carried the code, this service did not keep it
    with op.batch_alter_table('enrolled_people', schema=None) as batch_op:
        batch_op.add_column(sa.Column('unit_credit_code', sa.String(length=18), nullable=True))
        batch_op.create_index(batch_op.f('ix_enrolled_people_unit_credit_code'), ['unit_credit_code'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('enrolled_people', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_enrolled_people_unit_credit_code'))
        batch_op.drop_column('unit_credit_code')
