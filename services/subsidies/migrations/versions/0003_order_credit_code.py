"""lecture orders keep the enterprise's credit code and risk's service request

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
    with op.batch_alter_table('lecture_orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('credit_code', sa.String(length=18), nullable=True))
        batch_op.add_column(sa.Column('risk_request_id', sa.BigInteger(), nullable=True))
        batch_op.create_index(batch_op.f('ix_lecture_orders_credit_code'), ['credit_code'], unique=False)
        batch_op.create_unique_constraint(batch_op.f('uq_lecture_orders_agency_id_risk_request_id'), ['agency_id', 'risk_request_id'])
    # an enterprise's token is bound to its credit code, and its orders were made as that
    # code (ordered_by); staff orders named no enterprise code and stay null
    op.execute("UPDATE lecture_orders SET credit_code = ordered_by "
               "WHERE credit_code IS NULL AND length(ordered_by) = 18 AND upper(ordered_by) = ordered_by")


def downgrade() -> None:
    with op.batch_alter_table('lecture_orders', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_lecture_orders_agency_id_risk_request_id'), type_='unique')
        batch_op.drop_index(batch_op.f('ix_lecture_orders_credit_code'))
        batch_op.drop_column('risk_request_id')
        batch_op.drop_column('credit_code')
