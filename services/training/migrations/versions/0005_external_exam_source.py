"""an external test's source (platform, reference) in columns, one exam per platform import

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""
import json

from alembic import op
import sqlalchemy as sa

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('exams', schema=None) as batch_op:
        batch_op.add_column(sa.Column('platform', sa.String(length=60), nullable=True))
        batch_op.add_column(sa.Column('reference', sa.String(length=100), nullable=True))
    # imports made before these columns kept their source as the draw marker [{platform, reference}]
    conn = op.get_bind()
    exams = sa.table('exams', sa.column('id', sa.Integer), sa.column('seed', sa.Integer), sa.column('draw', sa.JSON),
                     sa.column('platform', sa.String), sa.column('reference', sa.String))
    for exam_id, draw in conn.execute(sa.select(exams.c.id, exams.c.draw).where(exams.c.seed == 0)).all():
        marker = json.loads(draw) if isinstance(draw, str) else draw
        if isinstance(marker, list) and len(marker) == 1 and isinstance(marker[0], dict) \
                and {"platform", "reference"} <= set(marker[0]):
            conn.execute(exams.update().where(exams.c.id == exam_id).values(
                platform=marker[0]["platform"], reference=marker[0]["reference"]))
    with op.batch_alter_table('exams', schema=None) as batch_op:
        batch_op.create_unique_constraint('uq_exams_external_source',
                                          ['agency_id', 'cycle', 'kind', 'platform', 'reference'])


def downgrade() -> None:
    with op.batch_alter_table('exams', schema=None) as batch_op:
        batch_op.drop_constraint('uq_exams_external_source', type_='unique')
        batch_op.drop_column('reference')
        batch_op.drop_column('platform')
