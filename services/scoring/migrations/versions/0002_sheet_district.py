"""score sheets keep the nominating unit's district (a regulator reads its district's sheets only)

Sheets made before this revision have none until ``POST /api/v1/scoring/rebuild`` folds the
event log again (the log keeps each event's whole data, the district included).

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
    with op.batch_alter_table('score_sheets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('district', sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('score_sheets', schema=None) as batch_op:
        batch_op.drop_column('district')
