"""candidates: the unit's own reference number (unique per unit and cycle) and late entries

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
    with op.batch_alter_table('candidates', schema=None) as batch_op:
        batch_op.add_column(sa.Column('external_ref', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('late_entry', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('late_entry_reason', sa.Text(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_candidates_unit_id_cycle_id_external_ref'),
                                          ['unit_id', 'cycle_id', 'external_ref'])


def downgrade() -> None:
    with op.batch_alter_table('candidates', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_candidates_unit_id_cycle_id_external_ref'), type_='unique')
        batch_op.drop_column('late_entry_reason')
        batch_op.drop_column('late_entry')
        batch_op.drop_column('external_ref')
