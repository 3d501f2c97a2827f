"""queue page: an index of the unpaid charge lines by case (the queue's money sort keys)

The queue ranks a collector's tasks by what each case owes, how old its oldest unpaid period is
and how much is close to limitation; those come from the case's unpaid charge lines. This
partial index holds exactly those lines with the columns the sums read (INCLUDE on PostgreSQL),
so the sums are an index-only scan and never touch paid lines.

Revision ID: c3f1a7d2e9b4
Revises: 98275b2369a8
Create Date: 2026-11-24 00:10:00
"""
import sqlalchemy as sa
from alembic import op

revision = 'c3f1a7d2e9b4'
down_revision = '98275b2369a8'
branch_labels = None
depends_on = None

UNPAID = sa.text("amount_due - amount_paid - credit > 0")


def upgrade():
    op.create_index(
        "ix_charge_line_unpaid_case", "charge_line", ["case_id"],
        postgresql_include=["amount_due", "amount_paid", "credit", "due_date",
                            "limitation_expiry"],
        postgresql_where=UNPAID, sqlite_where=UNPAID)


def downgrade():
    op.drop_index("ix_charge_line_unpaid_case", table_name="charge_line")
