"""Late-fee waivers (违约金减免): a supervisor's approved, audited act, in one transaction.

The estate's case owes 2024-01..06 at ¥268.50 a month; the lines here get a contracted rate of
0.3‰ a day, so the case carries a late fee that the statement caps at 1.5 × LPR a year.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from casework import audit, queries
from casework.extensions import db
from casework.models import CaseEvent, DunningCase
from casework.models.waivers import LateFeeWaiver
from casework.services import Conflict, Forbidden, InvalidInput
from casework.services.waivers import case_lpr, grant_waiver
from tests.factories import case_events, contract_rate, fast_password_hashing

TODAY = date(2026, 11, 23)


@pytest.fixture(autouse=True)
def _fast_passwords(monkeypatch):
    fast_password_hashing(monkeypatch)


@pytest.fixture
def rated(estate):
    contract_rate("0.0003")
    return estate


def late_fee(case_id: int):
    case = db.session.get(DunningCase, case_id)
    return queries.statement(case, TODAY, case_lpr(case))


def footprint(case_id: int) -> tuple:
    db.session.expire_all()
    case = db.session.get(DunningCase, case_id)
    return (case.version, case.event_seq, case.event_hash,
            db.session.scalar(sa.select(sa.func.count(LateFeeWaiver.id))),
            [(ln.amount_paid, ln.credit) for ln in case.charge_lines])


def test_a_supervisor_waives_part_of_the_late_fee_and_the_statement_claims_the_rest(
        rated, now):
    before = late_fee(rated.case.id)
    assert before.late_fees > Decimal("100")  # ~34 months of 0.3‰ a day on ¥1,611
    principal = before.principal
    waiver = grant_waiver(rated.case.id, rated.supervisor, "100.00", "首次逾期，一次性结清本金",
                          now=now)
    after = late_fee(rated.case.id)
    assert waiver.amount == Decimal("100.00") and waiver.approved_by_id == rated.supervisor.id
    assert after.waived == Decimal("100.00")
    assert after.late_fees_due == before.late_fees - Decimal("100.00")
    assert after.principal == principal  # the principal is never touched
    event = case_events(rated.case.id, "waiver")[-1]
    assert event.name == "waive_late_fee" and event.actor_id == rated.supervisor.id
    assert event.payload["amount"] == "100.00" and event.payload["reason"].startswith("首次逾期")
    assert event.payload["late_fee"] == str(before.late_fees)
    assert waiver.event_seq == event.seq


def test_the_whole_remaining_late_fee_can_be_waived_but_not_a_cent_more(rated, now):
    left = late_fee(rated.case.id).late_fees_due
    with pytest.raises(InvalidInput) as exc:
        grant_waiver(rated.case.id, rated.supervisor, left + Decimal("0.01"), "全免", now=now)
    assert exc.value.field == "amount" and f"{left:,.2f}" in exc.value.message
    grant_waiver(rated.case.id, rated.supervisor, left, "全免", now=now)
    assert late_fee(rated.case.id).late_fees_due == 0
    with pytest.raises(InvalidInput) as exc:
        grant_waiver(rated.case.id, rated.supervisor, "1.00", "再免", now=now)
    assert exc.value.field == "amount" and "没有可减免" in exc.value.message


@pytest.mark.parametrize("amount, reason, field", [
    ("", "理由", "amount"), ("abc", "理由", "amount"), ("0", "理由", "amount"),
    ("-5", "理由", "amount"), ("1.005", "理由", "amount"), ("NaN", "理由", "amount"),
    ("10.00", "", "reason"), ("10.00", "   ", "reason"), ("10.00", "长" * 501, "reason"),
])
def test_bad_input_names_the_field_and_writes_nothing(rated, now, amount, reason, field):
    before = footprint(rated.case.id)
    with pytest.raises(InvalidInput) as exc:
        grant_waiver(rated.case.id, rated.supervisor, amount, reason, now=now)
    assert exc.value.field == field
    assert footprint(rated.case.id) == before


def test_a_float_is_refused(rated, now):
    with pytest.raises(InvalidInput) as exc:
        grant_waiver(rated.case.id, rated.supervisor, 10.5, "理由", now=now)
    assert exc.value.field == "amount"


@pytest.mark.parametrize("who", ["collector", "legal", "auditor", "admin"])
def test_only_a_supervisor_may_approve_a_waiver(rated, now, who):
    before = footprint(rated.case.id)
    with pytest.raises(Forbidden):
        grant_waiver(rated.case.id, getattr(rated, who), "10.00", "理由", now=now)
    assert footprint(rated.case.id) == before


def test_a_supervisor_of_another_community_may_not(rated, now):
    from tests.factories import community, staff

    boss = staff("boss-elsewhere", "supervisor", name="外小区组长")
    boss.communities = [community(code="LH", name="绿湖苑")]
    db.session.commit()
    before = footprint(rated.case.id)
    with pytest.raises(Forbidden):
        grant_waiver(rated.case.id, boss, "10.00", "理由", now=now)
    assert footprint(rated.case.id) == before


def test_no_late_fee_without_a_contracted_rate_means_nothing_to_waive(estate, now):
    with pytest.raises(InvalidInput) as exc:
        grant_waiver(estate.case.id, estate.supervisor, "10.00", "理由", now=now)
    assert exc.value.field == "amount"
    assert db.session.scalar(sa.select(sa.func.count(LateFeeWaiver.id))) == 0


def test_a_stale_form_is_refused(rated, now):
    version = rated.case.version
    grant_waiver(rated.case.id, rated.supervisor, "10.00", "第一次", now=now,
                 expected_version=version)
    before = footprint(rated.case.id)
    with pytest.raises(Conflict):
        grant_waiver(rated.case.id, rated.supervisor, "10.00", "第二次", now=now,
                     expected_version=version)
    assert footprint(rated.case.id) == before


def test_a_closed_case_cannot_be_waived(rated, now):
    case = db.session.get(DunningCase, rated.case.id)
    case.state = "paid"
    db.session.commit()
    with pytest.raises(InvalidInput) as exc:
        grant_waiver(rated.case.id, rated.supervisor, "10.00", "理由", now=now)
    assert exc.value.field == "case_id"


def test_the_waiver_event_keeps_the_chain_intact(rated, now):
    grant_waiver(rated.case.id, rated.supervisor, "20.00", "糖衣炮弹：当月结清", now=now)
    grant_waiver(rated.case.id, rated.supervisor, "5.50", "补充减免", now=now)
    events = db.session.scalars(sa.select(CaseEvent).where(
        CaseEvent.case_id == rated.case.id).order_by(CaseEvent.seq)).all()
    checked, broken = audit.verify_all([rated.case.id])
    assert broken == [] and checked == len(events)
    for prev, ev in zip(events, events[1:], strict=False):
        assert ev.prev_hash == prev.hash and ev.hash == audit.event_hash(ev)
    assert late_fee(rated.case.id).waived == Decimal("25.50")
