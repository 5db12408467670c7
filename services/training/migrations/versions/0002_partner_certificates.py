"""partner agencies' certificates: the replica the public verify route reads

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


def upgrade() -> None:
    op.create_table(
        'partner_certificates',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('agency_id', sa.String(length=64), nullable=False),
        sa.Column('issuer', sa.String(length=64), nullable=False),
        sa.Column('number', sa.String(length=80), nullable=False),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('holder', sa.String(length=50), nullable=True),
        sa.Column('year', sa.Integer(), nullable=True),
        sa.Column('class_title', sa.String(length=200), nullable=True),
        sa.Column('institution', sa.String(length=200), nullable=True),
        sa.Column('class_hours', sa.Integer(), nullable=True),
        sa.Column('issued_at', shared.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column('revoked_at', shared.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column('revoked_reason', sa.Text(), nullable=True),
        sa.Column('as_of', shared.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column('received_at', shared.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_partner_certificates')),
        sa.UniqueConstraint('agency_id', 'number', name=op.f('uq_partner_certificates_agency_id_number')),
    )


def downgrade() -> None:
    op.drop_table('partner_certificates')
