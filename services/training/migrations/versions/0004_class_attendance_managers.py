"""safety classes: class managers as people, excusals, what each absent trainee missed; districts stored
by their official names

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa
import shared.db
from shared.districts import rewrite_stored_names

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('class_managers',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('agency_id', sa.String(length=64), nullable=False),
    sa.Column('institution_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=50), nullable=False),
    sa.Column('id_masked', sa.String(length=18), nullable=False),
    sa.Column('person_key', sa.String(length=64), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=True),
    sa.Column('created_at', shared.db.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['institution_id'], ['institutions.id'],
                            name=op.f('fk_class_managers_institution_id_institutions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_class_managers')),
    sa.UniqueConstraint('agency_id', 'person_key', name=op.f('uq_class_managers_agency_id_person_key'))
    )
    with op.batch_alter_table('classes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('manager_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                                      nullable=True))
        batch_op.create_index(batch_op.f('ix_classes_manager_id'), ['manager_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_classes_manager_id_class_managers'), 'class_managers',
                                    ['manager_id'], ['id'])
    with op.batch_alter_table('class_seats', schema=None) as batch_op:
        batch_op.add_column(sa.Column('excused_reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('excused_at', shared.db.UtcDateTime(timezone=True), nullable=True))
    with op.batch_alter_table('absence_reports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('missed', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('missed_minutes', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('excused_reason', sa.Text(), nullable=True))
    # 朝阳 and 朝阳区 were two fences: every stored district becomes its official name
    for table in ('classes', 'enrolled_people', 'absence_reports', 'trainees', 'institutions'):
        rewrite_stored_names(op, table, 'district')
    rewrite_stored_names(op, 'class_seats', 'district', has_agency=False)


def downgrade() -> None:
    with op.batch_alter_table('absence_reports', schema=None) as batch_op:
        batch_op.drop_column('excused_reason')
        batch_op.drop_column('missed_minutes')
        batch_op.drop_column('missed')
    with op.batch_alter_table('class_seats', schema=None) as batch_op:
        batch_op.drop_column('excused_at')
        batch_op.drop_column('excused_reason')
    with op.batch_alter_table('classes', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_classes_manager_id_class_managers'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_classes_manager_id'))
        batch_op.drop_column('manager_id')
    op.drop_table('class_managers')
