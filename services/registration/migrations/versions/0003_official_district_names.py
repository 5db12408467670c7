"""districts stored by their official names (朝阳 and 朝阳区 were two fences)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""
from alembic import op

from shared.districts import rewrite_stored_names

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table, column in (('units', 'district'), ('enrolments', 'district'),
                          ('enrolments', 'registered_district'), ('district_quotas', 'district')):
        rewrite_stored_names(op, table, column)


def downgrade() -> None:
    pass  # the short forms carried nothing the official names lose
