"""late-fee waivers (违约金减免)

Revision ID: d7e2b5c8a1f0
Revises: c3f1a7d2e9b4
Create Date: 2026-11-24 00:20:00
"""
import sqlalchemy as sa
from alembic import op

import casework.models.types

revision = 'd7e2b5c8a1f0'
down_revision = 'c3f1a7d2e9b4'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'late_fee_waiver',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('amount', casework.models.types.Fixed(), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('approved_by_id', sa.Integer(), nullable=False),
        sa.Column('event_seq', sa.Integer(), nullable=False),
        sa.Column('created_at', casework.models.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint('amount > 0', name=op.f('ck_late_fee_waiver_amount_positive')),
        sa.ForeignKeyConstraint(['approved_by_id'], ['staff_user.id'],
                                name=op.f('fk_late_fee_waiver_approved_by_id_staff_user')),
        sa.ForeignKeyConstraint(['case_id'], ['dunning_case.id'],
                                name=op.f('fk_late_fee_waiver_case_id_dunning_case')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_late_fee_waiver')),
    )
    with op.batch_alter_table('late_fee_waiver', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_late_fee_waiver_case_id'), ['case_id'],
                              unique=False)


def downgrade():
    with op.batch_alter_table('late_fee_waiver', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_late_fee_waiver_case_id'))
    op.drop_table('late_fee_waiver')
