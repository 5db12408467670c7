"""districts stored by their official names where the agency's table knows them (朝阳 → 朝阳区)

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
    for table in ('enterprises', 'substations', 'major_reports'):
        rewrite_stored_names(op, table, 'district')
    rewrite_stored_names(op, 'fund_entries', 'district', has_agency=False)  # its account has the agency


def downgrade() -> None:
    pass  # the short forms carried nothing the official names lose
