"""reports: an index of payments by payment date

The collection-rate and targets reports (casework.reports) find the payments of a period by
their payment date; without this index every report reads the whole payment table.

Revision ID: e5b9d3a7c214
Revises: d7e2b5c8a1f0
Create Date: 2026-11-24 00:25:00
"""
from alembic import op

revision = 'e5b9d3a7c214'
down_revision = 'd7e2b5c8a1f0'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_payment_paid_on", "payment", ["paid_on"])


def downgrade():
    op.drop_index("ix_payment_paid_on", table_name="payment")
