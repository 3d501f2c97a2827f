"""case_balance: what each case owes, kept by triggers on charge_line (migration f4a2c6e8b1d3).

The queues sort by it; these tests hold it equal to the sums of the lines themselves
(queries.case_money, computed in Python from the rows) after every kind of write to charge
lines - new lines, payments, reversals, credits, limitation resets, lines moved between cases,
deletes, bulk statements - on SQLite and on PostgreSQL. The money at risk of limitation is
stored for the database's day; on other days the queue sums the lines itself, so the figure
the queue shows is checked on the stored day and on days outside its window.
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from casework import queries, services
from casework.extensions import db
from casework.models import CaseBalance, ChargeLine, Task
from casework.services import limitation
from tests.factories import fast_password_hashing, fresh_case

ZERO = Decimal("0.00")


@pytest.fixture(autouse=True)
def _fast_passwords(monkeypatch):
    fast_password_hashing(monkeypatch)


def stored(case_id: int) -> CaseBalance | None:
    db.session.expire_all()
    return db.session.get(CaseBalance, case_id)


def assert_kept(case_id: int) -> CaseBalance:
    """The stored row agrees with the lines: outstanding, oldest due date, periods, and the
    money at risk on the day it was computed for."""
    row = stored(case_id)
    want = queries.case_money([case_id], row.risk_from)[case_id]
    assert (row.outstanding, row.oldest_due, row.periods, row.at_risk) == (
        want.outstanding, want.oldest_due, want.periods, want.at_risk)
    return row


def shown(user, case_id: int, day: date) -> queries.CaseMoney:
    """The money the queue shows for the case on `day` (its task list or its case list)."""
    moment = datetime(day.year, day.month, day.day, 4, 0, tzinfo=UTC)  # noon in Shanghai
    lists = queries.queue_page(user, moment, None, *[queries.Paging(per=100)] * 3)
    for page in (lists.mine, lists.team, lists.cases):
        for row in page.rows:
            if row.case_id == case_id:
                return row.money
    raise AssertionError(f"case {case_id} is not in the queue of {user.username}")


def test_opening_a_case_fills_its_balance(estate):
    row = assert_kept(estate.case.id)
    assert row.outstanding == Decimal("1611.00") and row.periods == 6
    assert row.oldest_due == date(2024, 1, 28)


def test_payments_reversals_and_credits_keep_it(estate, now):
    case_id = estate.case.id
    payment = services.record_payment(case_id, "300.00", now.date(), now=now)
    assert assert_kept(case_id).outstanding == Decimal("1311.00")
    assert stored(case_id).oldest_due == date(2024, 2, 28)  # January is paid
    services.reverse_payment(payment.id, "银行退票", estate.supervisor, now=now)
    assert assert_kept(case_id).outstanding == Decimal("1611.00")
    line = db.session.get(ChargeLine, estate.line_ids[-1])
    line.credit = Decimal("68.50")  # a reduction on June
    db.session.commit()
    assert assert_kept(case_id).outstanding == Decimal("1542.50")


def test_a_limitation_reset_moves_the_money_out_of_risk(estate):
    case_id = estate.case.id
    before = assert_kept(case_id)
    lines = list(db.session.scalars(sa.select(ChargeLine).where(ChargeLine.case_id == case_id)))
    # the owner's own promise today (revive: also periods whose clock ran out on the way)
    assert limitation.reset(lines, before.risk_from, revive=True)
    db.session.commit()
    after = assert_kept(case_id)
    assert after.at_risk == ZERO  # every clock now runs three years from today


def test_lines_moved_between_cases_and_deleted_keep_both_cases(estate, now):
    other, other_ids = fresh_case(estate, now, months=range(1, 3), amount="100.00")
    assert assert_kept(other.id).outstanding == Decimal("200.00")
    # one statement moves two lines from the estate's case to the other case
    moved = estate.line_ids[:2]
    db.session.execute(sa.update(ChargeLine).where(ChargeLine.id.in_(moved))
                       .values(case_id=other.id))
    db.session.commit()
    assert assert_kept(estate.case.id).outstanding == Decimal("1074.00")
    assert assert_kept(other.id).outstanding == Decimal("737.00")
    db.session.execute(sa.delete(ChargeLine).where(ChargeLine.id.in_(other_ids)))
    db.session.commit()
    assert assert_kept(other.id).outstanding == Decimal("537.00")
    db.session.execute(sa.delete(ChargeLine).where(ChargeLine.id.in_(moved)))
    db.session.commit()
    emptied = assert_kept(other.id)
    assert (emptied.outstanding, emptied.periods, emptied.oldest_due) == (ZERO, 0, None)


def test_a_bulk_insert_of_many_cases_keeps_each(estate, now):
    cases = [fresh_case(estate, now, months=range(1, 1 + k), amount=f"{10 * k}.00")[0]
             for k in range(1, 6)]
    t = ChargeLine.__table__
    db.session.execute(t.insert(), [dict(
        case_id=case.id, unit_id=estate.unit.id, debtor_id=estate.debtor.id, fee_type="车位费",
        period_label="2025年", period_start=date(2025, 1, 1), period_end=date(2025, 12, 31),
        due_date=date(2025, 1, 31), amount_due=Decimal("1.01"), amount_paid=ZERO, credit=ZERO,
        limitation_expiry=date(2028, 1, 31), frozen=False) for case in cases])
    db.session.commit()
    for k, case in enumerate(cases, start=1):
        assert assert_kept(case.id).outstanding == Decimal(10 * k * k) + Decimal("1.01")


def test_the_queue_shows_the_money_at_risk_of_every_day(estate, now):
    """On the stored day the queue reads the stored figure; on days outside the window it sums
    the lines itself: both agree with the lines."""
    case_id = estate.case.id
    db.session.add(Task(case_id=case_id, kind="call", title="电话跟进",
                        assignee_id=estate.collector.id, due_at=now, priority=1))
    db.session.commit()
    row = assert_kept(case_id)
    days = [row.risk_from, row.risk_from - timedelta(days=1), row.risk_from + timedelta(days=40),
            row.risk_from + timedelta(days=400), date(2027, 3, 1)]
    if row.risk_until:
        days += [row.risk_until - timedelta(days=1), row.risk_until]
    for day in days:
        want = queries.case_money([case_id], day)[case_id]
        got = shown(estate.collector, case_id, day)
        assert (got.outstanding, got.oldest_due, got.at_risk) == (
            want.outstanding, want.oldest_due, want.at_risk), day
    assert any(queries.case_money([case_id], day)[case_id].at_risk for day in days)


def test_the_migration_uses_the_queues_at_risk_horizon():
    import importlib.util
    from pathlib import Path

    import casework

    path = Path(casework.__file__).parent / "migrations/versions/f4a2c6e8b1d3_case_balance.py"
    spec = importlib.util.spec_from_file_location("case_balance_migration", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.AT_RISK_DAYS == queries.AT_RISK_DAYS


@pytest.mark.postgres
def test_two_transactions_adding_lines_to_one_case_leave_the_right_sum(app, estate):
    """Each transaction's trigger sums after it holds the case's balance row, in a statement
    of its own, so the one that waited sees the other's committed line."""
    case_id, unit_id, debtor_id = estate.case.id, estate.unit.id, estate.debtor.id
    first_in = threading.Event()
    errors: list[BaseException] = []

    def add(amount: str, hold: bool):
        try:
            with app.app_context():
                with db.engine.connect() as conn:
                    conn.execute(ChargeLine.__table__.insert(), [dict(
                        case_id=case_id, unit_id=unit_id, debtor_id=debtor_id,
                        fee_type="车位费", period_label=f"2025年{amount}",
                        period_start=date(2025, 1, 1), period_end=date(2025, 12, 31),
                        due_date=date(2025, 1, 31), amount_due=Decimal(amount),
                        amount_paid=ZERO, credit=ZERO, limitation_expiry=date(2028, 1, 31),
                        frozen=False)])
                    if hold:
                        first_in.set()
                        threading.Event().wait(0.5)  # the other inserts meanwhile
                    conn.commit()
        except BaseException as exc:  # noqa: BLE001  reported below
            errors.append(exc)

    first = threading.Thread(target=add, args=("100.00", True))
    first.start()
    assert first_in.wait(10)
    second = threading.Thread(target=add, args=("10.00", False))
    second.start()
    first.join(20)
    second.join(20)
    assert not errors, errors
    assert assert_kept(case_id).outstanding == Decimal("1721.00")


def test_the_sweep_recomputes_the_rows_that_no_longer_hold(estate):
    """A row computed on an earlier day (as if the database's clock had moved on) is found by
    refresh_stale and computed again for the database's day."""
    from casework.services.balances import refresh_stale

    case_id = estate.case.id
    row = assert_kept(case_id)
    day, at_risk = row.risk_from, row.at_risk
    db.session.execute(sa.update(CaseBalance).where(CaseBalance.case_id == case_id).values(
        at_risk=Decimal("9999.99"), risk_from=day - timedelta(days=400),
        risk_until=day - timedelta(days=1)))
    db.session.commit()
    assert refresh_stale(day) == 1
    again = assert_kept(case_id)
    assert (again.risk_from, again.at_risk) == (day, at_risk)
    assert refresh_stale(day) == 0


def test_the_sweep_runs_the_upkeep(estate, now):
    from casework.sweep import sweep

    case_id = estate.case.id
    day = assert_kept(case_id).risk_from
    db.session.execute(sa.update(CaseBalance).where(CaseBalance.case_id == case_id).values(
        at_risk=Decimal("9999.99"), risk_until=day - timedelta(days=1)))
    db.session.commit()
    moment = datetime(day.year, day.month, day.day, 4, 0, tzinfo=UTC)  # noon in Shanghai
    result = sweep(moment, inline=True)
    assert result.balances == 1 and not result.errors
    assert_kept(case_id)  # the made-up 9,999.99 is gone: the row agrees with the lines again
