"""queue page: case_balance, what each case owes, kept by triggers on charge_line

The queues rank a user's tasks by what each case owes, its oldest unpaid period and the money
close to limitation. Summing the unpaid lines of a collector's 2,000 cases on every page cost
~25 ms of PostgreSQL time a page; this table holds those sums per case. Triggers keep it (no
code path that writes charge lines can forget it; bulk imports included):

- PostgreSQL: statement-level AFTER triggers with transition tables call case_balance_refresh()
  once per statement for the cases it touched (an UPDATE only for lines whose money, dates or
  case changed). The function locks the cases' balance rows in id order before it sums, and
  sums in a statement of its own: under READ COMMITTED that statement sees every committed
  line, so two transactions changing one case's lines cannot leave a stale sum.
- SQLite: row-level triggers (one writer at a time).

`at_risk` (unpaid money whose limitation expires in [day, day + 180 days]) is computed for the
database's current day in Asia/Shanghai (`risk_from`) and holds until `risk_until`, the first
day on which a line leaves or enters that window (NULL: never); the reader falls back to summing
the lines outside that window, and the sweep recomputes stale rows.

Revision ID: f4a2c6e8b1d3
Revises: e5b9d3a7c214
Create Date: 2026-11-24 02:40:00
"""
import sqlalchemy as sa
from alembic import op

import casework.models.types

revision = 'f4a2c6e8b1d3'
down_revision = 'e5b9d3a7c214'
branch_labels = None
depends_on = None

AT_RISK_DAYS = 180  # casework.queries.AT_RISK_DAYS (a test holds them equal)

PG_FUNCTIONS = f"""
CREATE FUNCTION case_balance_refresh(ids integer[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  today date := (now() AT TIME ZONE 'Asia/Shanghai')::date;
BEGIN
  IF ids IS NULL OR cardinality(ids) = 0 THEN
    RETURN;
  END IF;
  INSERT INTO case_balance (case_id, outstanding, periods, at_risk, risk_from)
    SELECT DISTINCT u.id, 0, 0, 0, today FROM unnest(ids) AS u(id)
    WHERE u.id IS NOT NULL ORDER BY u.id
    ON CONFLICT (case_id) DO NOTHING;
  PERFORM 1 FROM case_balance WHERE case_id = ANY(ids) ORDER BY case_id FOR UPDATE;
  UPDATE case_balance b SET outstanding = a.outstanding, oldest_due = a.oldest_due,
      periods = a.periods, at_risk = a.at_risk, risk_from = today, risk_until = a.risk_until
    FROM (
      SELECT u.id,
        coalesce(sum(l.amount_due - l.amount_paid - l.credit), 0) AS outstanding,
        min(l.due_date) AS oldest_due,
        count(l.id) AS periods,
        coalesce(sum(CASE WHEN l.limitation_expiry BETWEEN today AND today + {AT_RISK_DAYS}
                          THEN l.amount_due - l.amount_paid - l.credit END), 0) AS at_risk,
        min(CASE WHEN l.limitation_expiry BETWEEN today AND today + {AT_RISK_DAYS}
                 THEN l.limitation_expiry + 1
                 WHEN l.limitation_expiry > today + {AT_RISK_DAYS}
                 THEN l.limitation_expiry - {AT_RISK_DAYS} END) AS risk_until
      FROM (SELECT DISTINCT x.id FROM unnest(ids) AS x(id) WHERE x.id IS NOT NULL) u
      LEFT JOIN charge_line l
        ON l.case_id = u.id AND l.amount_due - l.amount_paid - l.credit > 0
      GROUP BY u.id) a
    WHERE b.case_id = a.id;
END $$;

CREATE FUNCTION case_balance_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    PERFORM case_balance_refresh(ARRAY(SELECT DISTINCT case_id FROM new_lines));
  ELSIF TG_OP = 'UPDATE' THEN
    PERFORM case_balance_refresh(ARRAY(
      SELECT n.case_id FROM new_lines n JOIN old_lines o ON o.id = n.id
        WHERE (n.case_id, n.amount_due, n.amount_paid, n.credit, n.due_date, n.limitation_expiry)
          IS DISTINCT FROM
          (o.case_id, o.amount_due, o.amount_paid, o.credit, o.due_date, o.limitation_expiry)
      UNION
      SELECT o.case_id FROM new_lines n JOIN old_lines o ON o.id = n.id
        WHERE n.case_id IS DISTINCT FROM o.case_id));
  ELSE
    PERFORM case_balance_refresh(ARRAY(SELECT DISTINCT case_id FROM old_lines));
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER case_balance_insert AFTER INSERT ON charge_line
  REFERENCING NEW TABLE AS new_lines
  FOR EACH STATEMENT EXECUTE FUNCTION case_balance_changed();
CREATE TRIGGER case_balance_update AFTER UPDATE ON charge_line
  REFERENCING OLD TABLE AS old_lines NEW TABLE AS new_lines
  FOR EACH STATEMENT EXECUTE FUNCTION case_balance_changed();
CREATE TRIGGER case_balance_delete AFTER DELETE ON charge_line
  REFERENCING OLD TABLE AS old_lines
  FOR EACH STATEMENT EXECUTE FUNCTION case_balance_changed();
"""

PG_DROP = """
DROP TRIGGER IF EXISTS case_balance_insert ON charge_line;
DROP TRIGGER IF EXISTS case_balance_update ON charge_line;
DROP TRIGGER IF EXISTS case_balance_delete ON charge_line;
DROP FUNCTION IF EXISTS case_balance_changed();
DROP FUNCTION IF EXISTS case_balance_refresh(integer[]);
"""


def _sqlite_upsert(case_id: str) -> str:
    """The statement a SQLite trigger runs for one case (`case_id`: NEW.case_id or OLD.case_id).
    Amounts are integer fen there, dates ISO text."""
    today = "date('now', '+8 hours')"
    horizon = f"date('now', '+8 hours', '+{AT_RISK_DAYS} days')"
    return f"""
  INSERT INTO case_balance (case_id, outstanding, oldest_due, periods, at_risk, risk_from,
                            risk_until)
  SELECT {case_id}, coalesce(sum(b), 0), min(due_date), count(*),
         coalesce(sum(CASE WHEN e BETWEEN {today} AND {horizon} THEN b END), 0), {today},
         min(CASE WHEN e BETWEEN {today} AND {horizon} THEN date(e, '+1 day')
                  WHEN e > {horizon} THEN date(e, '-{AT_RISK_DAYS} days') END)
  FROM (SELECT amount_due - amount_paid - credit AS b, due_date, limitation_expiry AS e
        FROM charge_line WHERE case_id = {case_id} AND amount_due - amount_paid - credit > 0)
  WHERE true
  ON CONFLICT (case_id) DO UPDATE SET outstanding = excluded.outstanding,
    oldest_due = excluded.oldest_due, periods = excluded.periods, at_risk = excluded.at_risk,
    risk_from = excluded.risk_from, risk_until = excluded.risk_until;"""


SQLITE_TRIGGERS = [
    "CREATE TRIGGER case_balance_insert AFTER INSERT ON charge_line"
    " WHEN NEW.case_id IS NOT NULL BEGIN" + _sqlite_upsert("NEW.case_id") + " END",
    "CREATE TRIGGER case_balance_update_new AFTER UPDATE ON charge_line"
    " WHEN NEW.case_id IS NOT NULL BEGIN" + _sqlite_upsert("NEW.case_id") + " END",
    "CREATE TRIGGER case_balance_update_old AFTER UPDATE ON charge_line"
    " WHEN OLD.case_id IS NOT NULL AND OLD.case_id IS NOT NEW.case_id BEGIN"
    + _sqlite_upsert("OLD.case_id") + " END",
    "CREATE TRIGGER case_balance_delete AFTER DELETE ON charge_line"
    " WHEN OLD.case_id IS NOT NULL BEGIN" + _sqlite_upsert("OLD.case_id") + " END",
]
SQLITE_DROP = ["DROP TRIGGER IF EXISTS case_balance_insert",
               "DROP TRIGGER IF EXISTS case_balance_update_new",
               "DROP TRIGGER IF EXISTS case_balance_update_old",
               "DROP TRIGGER IF EXISTS case_balance_delete"]


def upgrade():
    op.create_table(
        "case_balance",
        sa.Column("case_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("outstanding", casework.models.types.Fixed(),
                  nullable=False),
        sa.Column("oldest_due", sa.Date(), nullable=True),
        sa.Column("periods", sa.Integer(), nullable=False),
        sa.Column("at_risk", casework.models.types.Fixed(),
                  nullable=False),
        sa.Column("risk_from", sa.Date(), nullable=False),
        sa.Column("risk_until", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_case_balance")),
    )
    op.create_index(op.f("ix_case_balance_risk_until"), "case_balance", ["risk_until"])
    open_task = sa.text("status = 'open'")
    unclaimed = sa.text("status = 'open' AND assignee_id IS NULL")
    op.create_index("ix_task_open_assignee", "task", ["assignee_id"],
                    postgresql_include=["case_id", "due_at", "priority"],
                    postgresql_where=open_task, sqlite_where=open_task)
    op.create_index("ix_task_open_unassigned", "task", ["case_id"],
                    postgresql_include=["candidate_role", "due_at", "priority"],
                    postgresql_where=unclaimed, sqlite_where=unclaimed)
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        # Tasks offered to a role are the unclaimed ones: without statistics on the columns
        # together PostgreSQL takes them as independent, expects ~10 team tasks where there
        # are 2,000, and probes the cases one by one instead of hashing them.
        op.execute("CREATE STATISTICS st_task_queue (mcv) ON candidate_role, assignee_id,"
                   " status FROM task")
        op.execute("ANALYZE task")
    if bind.dialect.name == "postgresql":
        op.execute(PG_FUNCTIONS)
        # the cases that have lines now: the function fills their rows
        op.execute("SELECT case_balance_refresh(ARRAY(SELECT DISTINCT case_id FROM charge_line"
                   " WHERE case_id IS NOT NULL))")
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)
        op.execute("UPDATE charge_line SET case_id = case_id WHERE case_id IS NOT NULL")


def downgrade():
    bind = op.get_bind()
    for statement in (PG_DROP.split(";") if bind.dialect.name == "postgresql" else SQLITE_DROP):
        if statement.strip():
            op.execute(statement)
    if bind.dialect.name == "postgresql":
        op.execute("DROP STATISTICS IF EXISTS st_task_queue")
    op.drop_index("ix_task_open_unassigned", table_name="task")
    op.drop_index("ix_task_open_assignee", table_name="task")
    op.drop_index(op.f("ix_case_balance_risk_until"), table_name="case_balance")
    op.drop_table("case_balance")
