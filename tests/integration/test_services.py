"""The services with the real guards, on SQLite (default) or PostgreSQL (CASEWORK_TEST_DB).

The estate fixture: one debtor owing 2024-01..06 at ¥268.50 a month (¥1611.00), due on the
28th of each month, in a case assigned to the collector. `now` is Monday 2026-11-23 10:00
in Shanghai; time moves by passing a later `now`, never by sleeping.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from casework import audit, services
from casework.extensions import db
from casework.models import (
    CaseEvent,
    ChargeLine,
    ContactAttempt,
    Dispute,
    Document,
    DunningCase,
    Installment,
    Payment,
    PaymentAllocation,
    PaymentPlan,
    Task,
)
from casework.services import Forbidden, GuardFailed, InvalidInput, TransitionNotAllowed
from tests.factories import (
    case_events,
    fast_password_hashing,
    fresh_case,
    shanghai,
    two_contacts,
    walk,
)

D = Decimal
MONTH = D("268.50")
TOTAL = D("1611.00")



@pytest.fixture(autouse=True)
def _fast_passwords(monkeypatch):
    fast_password_hashing(monkeypatch)


# --- helpers ---------------------------------------------------------------------------------

def lines_of(case_id: int) -> list[ChargeLine]:
    return list(db.session.scalars(sa.select(ChargeLine).where(ChargeLine.case_id == case_id)
                                   .order_by(ChargeLine.due_date, ChargeLine.id)))


def count(model, **where) -> int:
    query = sa.select(sa.func.count()).select_from(model)
    for key, value in where.items():
        query = query.where(getattr(model, key) == value)
    return db.session.scalar(query)


def footprint(case_id: int) -> dict:
    """Everything a refused command must leave as it was."""
    db.session.expire_all()
    case = db.session.get(DunningCase, case_id)
    return {
        "case": (case.state, case.version, case.event_seq, case.event_hash, case.assignee_id,
                 case.plan_resume_state, case.dispute_resume_state, case.legal_requested_by_id,
                 case.closed_at),
        "lines": [(ln.id, ln.amount_paid, ln.credit, ln.frozen, ln.limitation_expiry)
                  for ln in lines_of(case_id)],
        "rows": {m.__name__: count(m) for m in (CaseEvent, Document, Task, ContactAttempt,
                                                 Dispute, Payment, PaymentAllocation,
                                                 PaymentPlan, Installment, DunningCase)},
    }


def assert_chain_intact() -> None:
    checked, broken = audit.verify_all()
    assert broken == []
    assert checked == count(CaseEvent)


def transitions(case_id: int) -> list[tuple[str, str | None, str | None]]:
    return [(e.name, e.from_state, e.to_state) for e in case_events(case_id, "transition")]


def demand(case_id: int) -> Document:
    return db.session.scalars(sa.select(Document).where(
        Document.case_id == case_id, Document.kind == "payment_demand")
        .order_by(Document.id.desc())).first()


def letter(case_id: int) -> Document:
    return db.session.scalars(sa.select(Document).where(
        Document.case_id == case_id, Document.kind == "lawyer_letter")
        .order_by(Document.id.desc())).first()


def plan_items(total: Decimal, first_due: date) -> list[dict]:
    half = (total / 2).quantize(D("0.01"))
    return [{"due_date": first_due.isoformat(), "amount": str(half)},
            {"due_date": (first_due + timedelta(days=30)).isoformat(),
             "amount": str(total - half)}]


# --- opening a case --------------------------------------------------------------------------

def test_open_case_records_the_opening_in_the_chain(estate, now):
    case = estate.case
    assert case.state == "preparation"
    assert case.number == f"CW2026-{case.id:06d}"
    assert case.assignee_id == estate.collector.id
    assert [ln.id for ln in lines_of(case.id)] == estate.line_ids
    assert services.outstanding(case) == TOTAL
    [opened] = case_events(case.id)
    assert (opened.seq, opened.kind, opened.name, opened.from_state, opened.to_state) == (
        1, "opened", "open_case", None, "preparation")
    assert opened.actor_id == estate.supervisor.id and opened.actor_role == "supervisor"
    assert opened.payload["charge_line_ids"] == estate.line_ids
    assert opened.at == now
    assert audit.state_at(case.id, now) == "preparation"
    assert audit.state_at(case.id, now - timedelta(seconds=1)) is None
    assert_chain_intact()


def test_further_periods_join_the_debtors_open_case(estate, now):
    from tests.factories import monthly_lines

    more = monthly_lines(estate.unit, estate.debtor, months=range(7, 9))
    db.session.commit()
    case = services.open_case(estate.debtor.id, estate.community.id, more, estate.supervisor,
                              now=now)
    assert case.id == estate.case.id
    assert services.outstanding(case) == TOTAL + 2 * MONTH
    assert [e.name for e in case_events(case.id)] == ["open_case", "add_charge_lines"]
    with pytest.raises(InvalidInput) as exc:
        services.open_case(estate.debtor.id, estate.community.id, more, estate.supervisor,
                           now=now)
    assert exc.value.field == "charge_line_ids"


# --- the process with its real guards --------------------------------------------------------

def test_the_process_to_litigation_with_real_guards(estate, now):
    cid = estate.case.id
    col, fire = estate.collector, services.fire_event

    fire(cid, "start_outreach", col, now=now)
    fire(cid, "escalate_follow_up", col, now=now)
    assert estate.case.state == "follow_up"

    # a written demand needs two documented contact attempts
    with pytest.raises(GuardFailed) as exc:
        fire(cid, "issue_demand", col, now=now)
    assert exc.value.rule == "two_documented_attempts"
    services.record_contact(cid, col, channel="phone", outcome="no_answer",
                            at=now - timedelta(minutes=30), now=now)
    with pytest.raises(GuardFailed) as exc:
        fire(cid, "issue_demand", col, now=now)
    assert exc.value.rule == "two_documented_attempts"
    services.record_contact(cid, col, channel="visit", outcome="reached", now=now)
    fire(cid, "issue_demand", col, now=now)
    assert estate.case.state == "formal_demand"
    doc = demand(cid)
    assert doc.charge_line_ids == estate.line_ids
    assert doc.amount == TOTAL
    # the printed deadline allows 7 days for the post, then 15 days, on a working day
    assert doc.deadline == date(2026, 12, 15)

    # legal action needs an A/B delivered demand whose deadline passed
    with pytest.raises(GuardFailed) as exc:
        fire(cid, "request_legal_action", col, now=now)
    assert exc.value.rule == "demand_delivered"
    fire(cid, "record_delivery", col, {"grade": "A", "tracking_no": "EMS9876543210",
                                       "contents_label": "物业费催缴通知书"}, now=now)
    assert (doc.grade, doc.delivered_on, doc.deadline) == ("A", date(2026, 11, 23),
                                                           date(2026, 12, 15))
    with pytest.raises(GuardFailed) as exc:
        fire(cid, "request_legal_action", col, now=now)
    assert exc.value.rule == "demand_deadline_passed"
    on_deadline = now + timedelta(days=22)  # 2026-12-15, the deadline itself
    with pytest.raises(GuardFailed) as exc:
        fire(cid, "request_legal_action", estate.legal, now=on_deadline)
    assert exc.value.rule == "demand_deadline_passed"
    now = now + timedelta(days=23)  # 2026-12-16
    fire(cid, "request_legal_action", estate.legal, now=now)
    assert estate.case.state == "legal_review"
    assert estate.case.legal_requested_by_id == estate.legal.id
    review = db.session.scalars(sa.select(Task).where(Task.case_id == cid,
                                                      Task.kind == "legal_review")).one()
    assert (review.status, review.candidate_role) == ("open", "legal")

    # four eyes: neither a collector nor the requester approves
    with pytest.raises(GuardFailed) as exc:
        fire(cid, "approve_lawyer_letter", col, now=now)
    assert exc.value.rule == "actor_is_legal_officer"
    with pytest.raises(GuardFailed) as exc:
        fire(cid, "approve_lawyer_letter", estate.legal, now=now)
    assert exc.value.rule == "four_eyes"
    fire(cid, "approve_lawyer_letter", estate.legal2, now=now)
    assert estate.case.state == "lawyer_letter"
    db.session.refresh(review)
    assert (review.status, review.done_by_id) == ("done", estate.legal2.id)
    assert letter(cid).approved_by_id == estate.legal2.id

    # the claim waits for the letter's deadline
    with pytest.raises(GuardFailed) as exc:
        fire(cid, "file_claim", estate.legal, {"route": "suit"}, now=now)
    assert exc.value.rule == "letter_deadline_passed"
    fire(cid, "record_delivery", estate.legal2, {"grade": "B", "proof_ref": "短信送达报告"},
         now=now)
    assert letter(cid).deadline == date(2026, 12, 31)
    with pytest.raises(GuardFailed) as exc:
        fire(cid, "file_claim", estate.legal, {"route": "suit"}, now=now + timedelta(days=15))
    assert exc.value.rule == "letter_deadline_passed"
    now = now + timedelta(days=16)  # 2027-01-01
    with pytest.raises(GuardFailed) as exc:
        fire(cid, "file_claim", estate.legal, {}, now=now)
    assert exc.value.rule == "court_route_chosen"
    with pytest.raises(GuardFailed) as exc:
        fire(cid, "file_claim", col, {"route": "suit"}, now=now)
    assert exc.value.rule == "actor_is_legal_officer"
    fire(cid, "file_claim", estate.legal, {"route": "small_claims"}, now=now)
    assert estate.case.state == "litigation"
    assert estate.case.litigation_route == "small_claims"
    claim = case_events(cid, "transition")[-1]
    assert claim.name == "file_claim"
    assert claim.payload["claimed"] == "1611.00"
    assert claim.payload["claimed_line_ids"] == estate.line_ids
    kinds = {d.kind for d in db.session.scalars(sa.select(Document).where(
        Document.case_id == cid))}
    assert {"payment_demand", "lawyer_letter", "evidence_list", "complaint"} <= kinds

    assert transitions(cid) == [
        ("start_outreach", "preparation", "first_reminder"),
        ("escalate_follow_up", "first_reminder", "follow_up"),
        ("issue_demand", "follow_up", "formal_demand"),
        ("record_delivery", "formal_demand", "formal_demand"),
        ("request_legal_action", "formal_demand", "legal_review"),
        ("approve_lawyer_letter", "legal_review", "lawyer_letter"),
        ("record_delivery", "lawyer_letter", "lawyer_letter"),
        ("file_claim", "lawyer_letter", "litigation"),
    ]
    assert audit.state_at(cid, now) == "litigation"
    assert audit.state_at(cid, now - timedelta(days=16)) == "lawyer_letter"
    assert_chain_intact()


def test_the_walk_helper_reaches_litigation(estate, now):
    later = walk(estate, estate.case.id, "litigation", now)
    assert estate.case.state == "litigation"
    assert audit.state_at(estate.case.id, later) == "litigation"


def test_a_collector_can_request_and_any_legal_officer_approves(estate, now):
    cid = estate.case.id
    later = walk(estate, cid, "legal_review", now)
    assert estate.case.legal_requested_by_id == estate.collector.id
    services.fire_event(cid, "approve_lawyer_letter", estate.legal, now=later)
    assert estate.case.state == "lawyer_letter"


def test_a_rejected_escalation_goes_back_to_follow_up_with_its_reason(estate, now):
    cid = estate.case.id
    later = walk(estate, cid, "legal_review", now)
    with pytest.raises(GuardFailed) as exc:
        services.fire_event(cid, "reject_legal_action", estate.legal, {"reason": " "}, now=later)
    assert exc.value.rule == "reason_required"
    services.fire_event(cid, "reject_legal_action", estate.legal,
                        {"reason": "欠费金额有争议，先补充对账"}, now=later)
    assert estate.case.state == "follow_up"
    assert estate.case.legal_requested_by_id is None
    last = case_events(cid)[-1]
    assert last.payload["reason"] == "欠费金额有争议，先补充对账"
    assert last.payload["requested_by"] == estate.collector.id


def test_mediation_needs_the_demand_deadline_to_pass(estate, now):
    cid = estate.case.id
    walk(estate, cid, "formal_demand", now)
    with pytest.raises(GuardFailed) as exc:
        services.fire_event(cid, "refer_mediation", estate.collector, now=now)
    assert exc.value.rule == "demand_deadline_passed"
    later = now + timedelta(days=23)
    services.fire_event(cid, "refer_mediation", estate.collector, now=later)
    services.fire_event(cid, "request_legal_action", estate.collector, now=later)
    assert estate.case.state == "legal_review"


def test_legal_action_needs_the_balance_over_the_threshold(estate, now):
    case, _ = fresh_case(estate, now, months=range(1, 3))  # ¥537.00 < ¥1000.00
    walk(estate, case.id, "formal_demand", now)
    with pytest.raises(GuardFailed) as exc:
        services.fire_event(case.id, "request_legal_action", estate.collector,
                            now=now + timedelta(days=30))
    assert exc.value.rule == "balance_over_threshold"


def _case_with_a_time_barred_period(estate, now):
    """A 2023-01 period (expired 2026-01-28) and four 2026 periods of ¥300.00, in one case."""
    from tests.factories import monthly_lines

    case, ids = fresh_case(estate, now, months=range(1, 2), year=2023)
    barred = db.session.get(ChargeLine, ids[0])
    more = monthly_lines(barred.unit, services.get_case(case.id).debtor, year=2026,
                         months=range(1, 5), amount="300.00")
    db.session.commit()
    services.open_case(barred.debtor_id, estate.community.id, more, estate.supervisor, now=now)
    assert barred.limitation_expiry == date(2026, 1, 28)
    assert barred.time_barred(now.date())
    return case.id, barred, more


def test_a_proven_demand_does_not_revive_a_time_barred_period(estate, now):
    """legal-rules B2/B4: a demand interrupts a running clock (CC 195); once a period has
    expired it is TIME_BARRED, and the company's own letter cannot start it again."""
    cid, barred, more = _case_with_a_time_barred_period(estate, now)
    walk(estate, cid, "formal_demand", now)  # delivered with grade A on 2026-11-23
    delivery = case_events(cid, "transition")[-1]
    assert delivery.name == "record_delivery"
    assert sorted(delivery.payload["limitation_reset"]) == more
    db.session.refresh(barred)
    assert barred.limitation_expiry == date(2026, 1, 28)
    assert barred.limitation_reset_on is None


def test_a_time_barred_period_is_not_claimed(estate, now):
    cid, barred, more = _case_with_a_time_barred_period(estate, now)
    later = walk(estate, cid, "litigation", now)
    claim = case_events(cid, "transition")[-1]
    assert claim.payload["time_barred_line_ids"] == [barred.id]
    assert claim.payload["claimed_line_ids"] == more
    assert claim.payload["claimed"] == "1200.00"
    assert services.outstanding(services.get_case(cid)) == D("1468.50")
    assert audit.state_at(cid, later) == "litigation"


# --- refused commands write nothing ----------------------------------------------------------

def test_a_refused_guard_writes_nothing(estate, now):
    cid = estate.case.id
    services.fire_event(cid, "start_outreach", estate.collector, now=now)
    services.fire_event(cid, "escalate_follow_up", estate.collector, now=now)
    before = footprint(cid)
    with pytest.raises(GuardFailed):
        services.fire_event(cid, "issue_demand", estate.collector, now=now)
    assert footprint(cid) == before


def test_an_event_not_possible_in_the_stage_writes_nothing(estate, now):
    before = footprint(estate.case.id)
    with pytest.raises(TransitionNotAllowed):
        services.fire_event(estate.case.id, "file_claim", estate.legal, {"route": "suit"},
                            now=now)
    assert footprint(estate.case.id) == before


def test_bad_input_found_after_the_guards_leaves_nothing_half_written(estate, now):
    """The statechart already moved in memory when the effect refuses; it is rolled back."""
    cid = estate.case.id
    walk(estate, cid, "formal_demand", now)
    services.fire_event(cid, "raise_dispute", estate.collector,
                        {"category": "billing", "note": "公摊电费计算有误",
                         "charge_line_ids": estate.line_ids[:2]}, now=now)
    before = footprint(cid)
    with pytest.raises(InvalidInput) as exc:
        services.fire_event(cid, "resolve_dispute", estate.supervisor,
                            {"outcome": "reduced", "credit_amount": "537.01"}, now=now)
    assert exc.value.field == "credit_amount"
    assert footprint(cid) == before
    assert services.get_case(cid).state == "disputed"


def test_a_future_delivery_date_is_refused_and_nothing_is_written(estate, now):
    cid = estate.case.id
    walk(estate, cid, "formal_demand", now)
    before = footprint(cid)
    with pytest.raises(InvalidInput) as exc:
        services.fire_event(cid, "record_delivery", estate.collector,
                            {"grade": "A", "delivered_on": "2026-11-24"}, now=now)
    assert exc.value.field == "delivered_on"
    assert footprint(cid) == before


def test_a_stale_version_is_a_conflict(estate, now):
    cid = estate.case.id
    version = estate.case.version
    services.fire_event(cid, "start_outreach", estate.collector, now=now,
                        expected_version=version)
    before = footprint(cid)
    with pytest.raises(services.Conflict):
        services.fire_event(cid, "escalate_follow_up", estate.collector, now=now,
                            expected_version=version)
    assert footprint(cid) == before


# --- contact rules ---------------------------------------------------------------------------

def test_a_late_call_needs_a_reason_and_is_flagged_to_the_supervisor(estate):
    cid = estate.case.id
    late = shanghai(2026, 11, 23, 22, 30)
    before = footprint(cid)
    with pytest.raises(InvalidInput) as exc:
        services.record_contact(cid, estate.collector, channel="phone", outcome="no_answer",
                                at=late, now=late)
    assert exc.value.field == "override_reason"
    assert "override_reason" in exc.value.as_dict().values()
    assert "22:30" in exc.value.message
    assert footprint(cid) == before

    attempt = services.record_contact(cid, estate.collector, channel="phone",
                                      outcome="reached", at=late, now=late,
                                      override_reason="业主白天上班，约定晚上回电")
    db.session.refresh(attempt)
    assert attempt.flagged is True
    assert attempt.override_reason == "业主白天上班，约定晚上回电"
    assert "contact_window" in attempt.outside_rules
    task = db.session.scalars(sa.select(Task).where(Task.case_id == cid,
                                                    Task.kind == "conduct_review")).one()
    assert (task.candidate_role, task.status) == ("supervisor", "open")
    event = case_events(cid, "contact")[-1]
    assert event.payload["override_reason"] == "业主白天上班，约定晚上回电"
    assert "contact_window" in event.payload["outside_rules"]


def test_a_call_inside_the_window_is_not_flagged(estate, now):
    attempt = services.record_contact(estate.case.id, estate.collector, channel="phone",
                                      outcome="no_answer", now=now)
    assert (attempt.flagged, attempt.outside_rules, attempt.override_reason) == (False, [], None)
    assert count(Task, kind="conduct_review") == 0


def test_a_contact_with_a_promise_moves_the_case_to_a_plan(estate, now):
    cid = estate.case.id
    services.fire_event(cid, "start_outreach", estate.collector, now=now)
    promise = plan_items(TOTAL, date(2026, 12, 1))
    services.record_contact(cid, estate.collector, channel="phone", outcome="promised",
                            reason_class="excuse", reason_sub="hardship",
                            notes="年底资金紧张，愿意分两期", promise=promise, now=now)
    case = services.get_case(cid)
    assert (case.state, case.plan_resume_state) == ("payment_plan", "first_reminder")
    assert (case.reason_class, case.reason_sub) == ("excuse", "hardship")
    plan = db.session.scalars(sa.select(PaymentPlan).where(PaymentPlan.case_id == cid)).one()
    assert (plan.status, plan.total) == ("active", TOTAL)
    assert [(i.due_date, i.amount) for i in plan.installments] == [
        (date(2026, 12, 1), D("805.50")), (date(2026, 12, 31), D("805.50"))]
    assert [e.kind for e in case_events(cid)][-2:] == ["contact", "transition"]
    assert count(Document, case_id=cid, kind="installment_agreement") == 1


def test_a_promise_that_does_not_add_up_stores_neither_contact_nor_plan(estate, now):
    cid = estate.case.id
    before = footprint(cid)
    with pytest.raises(GuardFailed) as exc:
        services.record_contact(cid, estate.collector, channel="phone", outcome="promised",
                                promise=plan_items(TOTAL - D("0.01"), date(2026, 12, 1)),
                                now=now)
    assert exc.value.rule == "installments_sum_to_outstanding"
    assert footprint(cid) == before


def test_a_broken_plan_goes_back_to_the_stage_it_left(estate, now):
    cid = estate.case.id
    walk(estate, cid, "follow_up", now)
    services.fire_event(cid, "promise_payment", estate.collector,
                        {"installments": plan_items(TOTAL, date(2026, 11, 30))}, now=now)
    with pytest.raises(GuardFailed) as exc:
        services.fire_event(cid, "break_plan", None, now=now + timedelta(days=7))
    assert exc.value.rule == "installment_missed"
    services.fire_event(cid, "break_plan", None, now=now + timedelta(days=15))
    case = services.get_case(cid)
    assert (case.state, case.plan_resume_state) == ("follow_up", None)
    plan = db.session.scalars(sa.select(PaymentPlan).where(PaymentPlan.case_id == cid)).one()
    assert plan.status == "broken"


# --- payments --------------------------------------------------------------------------------

def test_a_part_payment_goes_to_the_oldest_periods(estate, now):
    cid = estate.case.id
    payment = services.record_payment(cid, "300.00", date(2026, 11, 23), user=estate.collector,
                                      now=now)
    assert [(ln.amount_paid, ln.balance) for ln in lines_of(cid)][:3] == [
        (MONTH, D("0.00")), (D("31.50"), D("237.00")), (D("0.00"), MONTH)]
    assert sorted((a.charge_line_id, a.amount) for a in payment.allocations) == [
        (estate.line_ids[0], MONTH), (estate.line_ids[1], D("31.50"))]
    assert payment.unallocated == D("0.00")
    assert services.outstanding(estate.case) == D("1311.00")
    assert isinstance(services.outstanding(estate.case), Decimal)
    assert estate.case.state == "preparation"
    event = case_events(cid, "payment")[-1]
    assert event.payload["amount"] == "300.00"
    assert event.payload["allocations"] == [
        {"charge_line_id": estate.line_ids[0], "amount": "268.50"},
        {"charge_line_id": estate.line_ids[1], "amount": "31.50"}]


def test_designated_periods_are_paid_first(estate, now):
    cid = estate.case.id
    may = estate.line_ids[4]
    services.record_payment(cid, D("300.00"), date(2026, 11, 23), designated=[may], now=now)
    paid = {ln.id: ln.amount_paid for ln in lines_of(cid)}
    assert paid[may] == MONTH
    assert paid[estate.line_ids[0]] == D("31.50")
    assert sum(paid.values()) == D("300.00")


def test_designating_a_period_not_owed_is_refused(estate, now):
    other, other_ids = fresh_case(estate, now)
    before = footprint(estate.case.id)
    with pytest.raises(InvalidInput) as exc:
        services.record_payment(estate.case.id, "100.00", date(2026, 11, 23),
                                designated=[other_ids[0]], now=now)
    assert exc.value.field == "designated"
    assert footprint(estate.case.id) == before


def test_an_overpayment_is_kept_unallocated_and_settles(estate, now):
    payment = services.record_payment(estate.case.id, "2000.00", date(2026, 11, 23), now=now)
    assert payment.unallocated == D("389.00")
    assert sum(a.amount for a in payment.allocations) == TOTAL
    assert all(ln.balance == D("0.00") for ln in lines_of(estate.case.id))
    assert services.outstanding(estate.case) == D("0.00")
    assert estate.case.state == "paid"


def test_bad_amounts_are_refused(estate, now):
    for amount in ("0", "-5.00", "abc", 12.5):  # a float never carries money
        with pytest.raises(InvalidInput) as exc:
            services.record_payment(estate.case.id, amount, date(2026, 11, 23), now=now)
        assert exc.value.field == "amount"
    assert count(Payment) == 0


def test_a_payment_cannot_be_dated_in_the_future(estate, now):
    with pytest.raises(InvalidInput) as exc:
        services.record_payment(estate.case.id, "100.00", date(2026, 11, 24), now=now)
    assert exc.value.field == "paid_on"


def test_a_payment_early_in_the_shanghai_morning_may_be_dated_today(estate):
    """07:30 in Shanghai on the 24th is still the 23rd in UTC; the payment is of the 24th."""
    early = shanghai(2026, 11, 24, 7, 30)
    payment = services.record_payment(estate.case.id, "100.00", date(2026, 11, 24), now=early)
    assert payment.paid_on == date(2026, 11, 24)


def test_payments_are_idempotent_by_external_id(estate, now):
    cid = estate.case.id
    first = services.record_payment(cid, "100.00", date(2026, 11, 23), external_id="WX-20261123-1",
                                    channel="wechat", now=now)
    second = services.record_payment(cid, "100.00", date(2026, 11, 23),
                                     external_id="WX-20261123-1", channel="wechat",
                                     now=now + timedelta(minutes=5))
    assert second.id == first.id
    assert count(Payment) == 1
    assert count(PaymentAllocation) == 1
    assert lines_of(cid)[0].amount_paid == D("100.00")
    assert services.outstanding(estate.case) == D("1511.00")
    assert len(case_events(cid, "payment")) == 1
    with pytest.raises(InvalidInput) as exc:
        services.record_payment(cid, "100.01", date(2026, 11, 23), external_id="WX-20261123-1",
                                now=now)
    assert exc.value.field == "external_id"
    assert count(Payment) == 1


def test_the_payment_that_clears_the_balance_settles_and_opens_the_72_hour_task(estate, now):
    cid = estate.case.id
    walk(estate, cid, "follow_up", now)
    services.record_payment(cid, "611.00", date(2026, 11, 23), now=now)
    assert estate.case.state == "follow_up"
    later = now + timedelta(hours=3)
    services.record_payment(cid, "1000.00", date(2026, 11, 23), user=estate.collector, now=later)
    case = services.get_case(cid)
    assert (case.state, case.closed_at) == ("paid", later)
    assert services.outstanding(case) == D("0.00")
    task = db.session.scalars(sa.select(Task).where(Task.case_id == cid,
                                                    Task.kind == "after_payment_visit")).one()
    assert task.due_at == later + timedelta(hours=72)
    assert (task.status, task.assignee_id) == ("open", estate.collector.id)
    settle = case_events(cid, "transition")[-1]
    assert (settle.name, settle.from_state, settle.to_state, settle.actor_role) == (
        "settle", "follow_up", "paid", "system")
    assert case_events(cid)[-2].name == "record_payment"
    with pytest.raises(InvalidInput):
        services.record_payment(cid, "1.00", date(2026, 11, 23), now=later)
    with pytest.raises(TransitionNotAllowed):
        services.fire_event(cid, "withdraw", estate.supervisor, {"reason": "误开"}, now=later)
    assert audit.state_at(cid, later) == "paid"


def test_a_payment_clearing_a_plan_keeps_it(estate, now):
    cid = estate.case.id
    services.fire_event(cid, "promise_payment", estate.collector,
                        {"installments": plan_items(TOTAL, date(2026, 12, 1))}, now=now)
    services.record_payment(cid, "805.50", date(2026, 11, 23), now=now)
    items = db.session.scalars(sa.select(Installment).order_by(Installment.seq)).all()
    assert [i.paid_amount for i in items] == [D("805.50"), D("0.00")]
    services.record_payment(cid, "805.50", date(2026, 11, 23), now=now)
    plan = db.session.scalars(sa.select(PaymentPlan)).one()
    assert (estate.case.state, plan.status) == ("paid", "kept")


def test_reversing_the_settling_payment_opens_a_linked_case_for_the_reversed_amount(estate,
                                                                                    now):
    cid = estate.case.id
    services.record_payment(cid, "100.00", date(2026, 11, 23), now=now)
    settling = services.record_payment(cid, "1511.00", date(2026, 11, 23), now=now)
    assert estate.case.state == "paid"
    later = now + timedelta(days=2)
    with pytest.raises(Forbidden):
        services.reverse_payment(settling.id, "银行退票", estate.collector, now=later)
    with pytest.raises(InvalidInput) as exc:
        services.reverse_payment(settling.id, "  ", estate.supervisor, now=later)
    assert exc.value.field == "reason"
    new = services.reverse_payment(settling.id, "银行退票", estate.supervisor, now=later)
    assert new.id != cid
    assert new.previous_case_id == cid
    assert new.state == "preparation"
    assert new.assignee_id == estate.collector.id
    assert services.outstanding(new) == D("1511.00")
    old = services.get_case(cid)
    assert old.state == "paid"
    assert services.outstanding(old) == D("0.00")
    assert db.session.get(Payment, settling.id).reversed is True
    assert [e.name for e in case_events(cid)][-2:] == ["reverse_payment", "reopened_as"]
    assert case_events(cid)[-1].payload == {"new_case_id": new.id}
    assert [e.name for e in case_events(new.id)] == ["open_case"]
    assert audit.state_at(new.id, later) == "preparation"
    with pytest.raises(InvalidInput):
        services.reverse_payment(settling.id, "再次冲正", estate.supervisor, now=later)
    assert_chain_intact()


def test_reversing_a_part_payment_on_an_open_case_restores_the_balance(estate, now):
    cid = estate.case.id
    p = services.record_payment(cid, "300.00", date(2026, 11, 23), now=now)
    target = services.reverse_payment(p.id, "重复入账", estate.supervisor, now=now)
    assert target.id == cid
    assert services.outstanding(estate.case) == TOTAL
    assert all(ln.amount_paid == D("0.00") for ln in lines_of(cid))


# --- limitation ------------------------------------------------------------------------------

def test_each_period_expires_three_years_after_its_due_date(estate):
    assert [ln.limitation_expiry for ln in lines_of(estate.case.id)] == [
        date(2027, m, 28) for m in range(1, 7)]


def test_a_grade_a_delivery_resets_every_listed_period(estate, now):
    cid = estate.case.id
    walk(estate, cid, "follow_up", now)
    two_contacts(cid, estate.collector, now)
    services.fire_event(cid, "issue_demand", estate.collector, now=now)
    services.fire_event(cid, "record_delivery", estate.collector,
                        {"grade": "A", "delivered_on": "2026-11-23", "proof_ref": "签收回执"},
                        now=now + timedelta(days=2))
    assert [(ln.limitation_expiry, ln.limitation_reset_on) for ln in lines_of(cid)] == [
        (date(2029, 11, 23), date(2026, 11, 23))] * 6
    event = case_events(cid, "transition")[-1]
    assert event.payload["weak_evidence"] is False
    assert sorted(event.payload["limitation_reset"]) == estate.line_ids
    assert event.payload["grade"] == "A"


def test_a_grade_c_delivery_does_not_reset_and_is_weak_evidence(estate, now):
    cid = estate.case.id
    walk(estate, cid, "follow_up", now)
    two_contacts(cid, estate.collector, now)
    services.fire_event(cid, "issue_demand", estate.collector, now=now)
    services.fire_event(cid, "record_delivery", estate.collector,
                        {"grade": "C", "proof_ref": "门口张贴照片"}, now=now)
    assert [ln.limitation_expiry for ln in lines_of(cid)] == [date(2027, m, 28)
                                                              for m in range(1, 7)]
    assert all(ln.limitation_reset_on is None for ln in lines_of(cid))
    event = case_events(cid, "transition")[-1]
    assert event.payload["weak_evidence"] is True
    assert event.payload["limitation_reset"] == []
    # weak evidence is no basis for legal action, even after the deadline
    with pytest.raises(GuardFailed) as exc:
        services.fire_event(cid, "request_legal_action", estate.collector,
                            now=now + timedelta(days=60))
    assert exc.value.rule == "demand_delivered"


def test_a_later_weak_proof_does_not_erase_a_grade_a_delivery(estate, now):
    """CaseFacts.demand_delivered_grade is the *best* grade of the demand's delivery."""
    cid = estate.case.id
    walk(estate, cid, "formal_demand", now)  # delivered with grade A
    services.fire_event(cid, "record_delivery", estate.collector,
                        {"grade": "C", "proof_ref": "另在单元门口张贴"},
                        now=now + timedelta(days=1))
    facts = services.gather(services.get_case(cid), now + timedelta(days=30))
    assert facts.demand_delivered_grade == "A"
    services.fire_event(cid, "request_legal_action", estate.collector,
                        now=now + timedelta(days=30))
    assert services.get_case(cid).state == "legal_review"


def test_a_demand_issued_and_delivered_in_the_past_is_accepted(estate):
    """Effects date their documents by the command's `now`, not the wall clock."""
    then = shanghai(2025, 6, 9)
    case, _ = fresh_case(estate, then)
    walk(estate, case.id, "formal_demand", then)
    doc = demand(case.id)
    assert doc.created_at == then
    assert (doc.grade, doc.delivered_on) == ("A", date(2025, 6, 9))


def test_a_part_payment_resets_only_the_periods_it_paid(estate, now):
    cid = estate.case.id
    services.record_payment(cid, "100.00", date(2026, 11, 20), now=now)
    expiries = [ln.limitation_expiry for ln in lines_of(cid)]
    assert expiries == [date(2029, 11, 20)] + [date(2027, m, 28) for m in range(2, 7)]
    assert case_events(cid, "payment")[-1].payload["limitation_reset"] == [estate.line_ids[0]]


def test_a_plan_resets_every_open_period(estate, now):
    cid = estate.case.id
    services.record_payment(cid, "268.50", date(2026, 11, 20), now=now)  # January paid off
    owed = TOTAL - MONTH
    services.fire_event(cid, "promise_payment", estate.collector,
                        {"installments": plan_items(owed, date(2026, 12, 1))}, now=now)
    expiries = [ln.limitation_expiry for ln in lines_of(cid)]
    assert expiries == [date(2027, 1, 28)] + [date(2029, 11, 23)] * 5
    assert case_events(cid, "transition")[-1].payload["limitation_reset"] == estate.line_ids[1:]


def test_money_at_risk(estate, now, today):
    case = estate.case
    # within 180 days of 2026-11-23 (up to 2027-05-22): the periods expiring Jan..Apr 2027
    assert services.money_at_risk(case, today) == D("1074.00")
    assert services.money_at_risk(case, today, within_days=66) == D("268.50")  # Jan 28
    assert services.money_at_risk(case, today, within_days=65) == D("0.00")
    services.record_payment(case.id, "100.00", today, now=now)  # resets January's clock
    assert services.money_at_risk(case, today) == D("805.50")
    assert services.money_at_risk(case, date(2027, 1, 29)) == D("1342.50")  # Feb..Jun
    # a period already time-barred is lost, no longer at risk
    assert services.money_at_risk(case, date(2027, 6, 29)) == D("0.00")


def test_money_at_risk_is_zero_after_a_proven_demand(estate, now, today):
    walk(estate, estate.case.id, "formal_demand", now)
    assert services.money_at_risk(estate.case, today) == D("0.00")


# --- disputes --------------------------------------------------------------------------------

def _raise_billing_dispute(estate, now, line_ids):
    services.fire_event(estate.case.id, "raise_dispute", estate.collector,
                        {"category": "billing", "note": "业主认为1、2月多收了公摊费",
                         "charge_line_ids": line_ids, "ticket_ref": "WO-7788"}, now=now)


def test_a_billing_dispute_freezes_its_lines_and_sets_service_levels(estate, now):
    cid = estate.case.id
    walk(estate, cid, "follow_up", now)
    _raise_billing_dispute(estate, now, estate.line_ids[:2])
    assert [ln.frozen for ln in lines_of(cid)] == [True, True, False, False, False, False]
    dispute = db.session.scalars(sa.select(Dispute).where(Dispute.case_id == cid)).one()
    assert (dispute.status, dispute.category, dispute.ticket_ref) == ("open", "billing",
                                                                      "WO-7788")
    assert dispute.acknowledge_by == date(2026, 11, 25)
    assert dispute.answer_by == date(2026, 12, 14)
    case = services.get_case(cid)
    assert (case.state, case.dispute_resume_state) == ("disputed", "follow_up")
    assert services.gather(case, now).open_dispute is True


def test_a_service_quality_dispute_freezes_nothing(estate, now):
    services.fire_event(estate.case.id, "raise_dispute", estate.collector,
                        {"category": "service_quality", "note": "电梯故障两个月未修"}, now=now)
    assert not any(ln.frozen for ln in lines_of(estate.case.id))


def test_a_dispute_needs_a_category_and_a_note(estate, now):
    before = footprint(estate.case.id)
    with pytest.raises(GuardFailed) as exc:
        services.fire_event(estate.case.id, "raise_dispute", estate.collector,
                            {"category": "billing", "note": ""}, now=now)
    assert exc.value.rule == "dispute_note_required"
    with pytest.raises(InvalidInput) as exc:
        services.fire_event(estate.case.id, "raise_dispute", estate.collector,
                            {"category": "billing", "note": "x", "charge_line_ids": [999999]},
                            now=now)
    assert exc.value.field == "charge_line_ids"
    assert footprint(estate.case.id) == before


def test_resolving_reduced_applies_the_credit_to_the_disputed_lines(estate, now):
    cid = estate.case.id
    walk(estate, cid, "follow_up", now)
    _raise_billing_dispute(estate, now, estate.line_ids[:2])
    services.fire_event(cid, "resolve_dispute", estate.supervisor,
                        {"outcome": "reduced", "credit_amount": "300.00"}, now=now)
    assert [ln.credit for ln in lines_of(cid)] == [MONTH, D("31.50")] + [D("0.00")] * 4
    assert not any(ln.frozen for ln in lines_of(cid))
    assert services.outstanding(estate.case) == D("1311.00")
    dispute = db.session.scalars(sa.select(Dispute)).one()
    assert (dispute.status, dispute.outcome, dispute.credit_amount) == ("resolved", "reduced",
                                                                        D("300.00"))
    assert services.get_case(cid).state == "follow_up"
    assert case_events(cid, "transition")[-1].payload["credit"] == "300.00"


def test_resolving_waived_clears_the_disputed_balance(estate, now):
    cid = estate.case.id
    _raise_billing_dispute(estate, now, estate.line_ids[:2])
    services.fire_event(cid, "resolve_dispute", estate.supervisor, {"outcome": "waived"},
                        now=now)
    assert [ln.balance for ln in lines_of(cid)] == [D("0.00")] * 2 + [MONTH] * 4
    assert services.outstanding(estate.case) == D("1074.00")
    assert services.get_case(cid).state == "preparation"


def test_resolving_upheld_changes_no_amount(estate, now):
    cid = estate.case.id
    _raise_billing_dispute(estate, now, estate.line_ids[:2])
    services.fire_event(cid, "resolve_dispute", estate.supervisor, {"outcome": "upheld"},
                        now=now)
    assert services.outstanding(estate.case) == TOTAL
    assert not any(ln.frozen for ln in lines_of(cid))


def test_a_dispute_blocks_escalation_until_resolved_and_then_resumes(estate, now):
    cid = estate.case.id
    later = walk(estate, cid, "formal_demand", now) + timedelta(days=30)
    _raise_billing_dispute(estate, now, estate.line_ids[:1])
    with pytest.raises(TransitionNotAllowed):
        services.fire_event(cid, "request_legal_action", estate.collector, now=later)
    services.fire_event(cid, "resolve_dispute", estate.supervisor, {"outcome": "upheld"},
                        now=later)
    assert services.get_case(cid).state == "formal_demand"
    services.fire_event(cid, "request_legal_action", estate.collector, now=later)
    assert services.get_case(cid).state == "legal_review"


# --- who may do what -------------------------------------------------------------------------

def test_a_collector_cannot_act_on_another_collectors_case(estate, now):
    cid = estate.case.id
    before = footprint(cid)
    with pytest.raises(Forbidden):
        services.fire_event(cid, "start_outreach", estate.collector2, now=now)
    with pytest.raises(Forbidden):
        services.record_contact(cid, estate.collector2, channel="phone", outcome="no_answer",
                                now=now)
    with pytest.raises(Forbidden):
        services.record_payment(cid, "10.00", date(2026, 11, 23), user=estate.collector2,
                                now=now)
    with pytest.raises(Forbidden):
        services.reveal_phone(cid, estate.collector2, now=now)
    assert footprint(cid) == before
    assert not services.can_see(estate.collector2, estate.case)
    assert services.can_see(estate.collector, estate.case)


def test_auditors_cannot_act_at_all(estate, now):
    cid = estate.case.id
    before = footprint(cid)
    for call in (
        lambda: services.fire_event(cid, "start_outreach", estate.auditor, now=now),
        lambda: services.fire_event(cid, "withdraw", estate.auditor, {"reason": "x"}, now=now),
        lambda: services.record_contact(cid, estate.auditor, channel="sms", outcome="no_answer",
                                        now=now),
        lambda: services.record_payment(cid, "10.00", date(2026, 11, 23), user=estate.auditor,
                                        now=now),
        lambda: services.reveal_phone(cid, estate.auditor, now=now),
        lambda: services.assign([cid], estate.collector2.id, estate.auditor, now=now),
    ):
        with pytest.raises(Forbidden):
            call()
    assert footprint(cid) == before
    assert services.can_see(estate.auditor, estate.case)


def test_supervisors_and_legal_officers_act_on_any_case(estate, now):
    cid = estate.case.id
    services.fire_event(cid, "start_outreach", estate.supervisor, now=now)
    services.fire_event(cid, "escalate_follow_up", estate.legal, now=now)
    assert services.get_case(cid).state == "follow_up"


def test_assigning_needs_a_supervisor_and_is_audited(estate, now):
    cid = estate.case.id
    before = footprint(cid)
    with pytest.raises(Forbidden):
        services.assign([cid], estate.collector2.id, estate.collector, now=now)
    with pytest.raises(Forbidden):
        services.assign([cid], estate.collector2.id, estate.legal, now=now)
    with pytest.raises(InvalidInput) as exc:
        services.assign([cid], estate.legal.id, estate.supervisor, now=now)
    assert exc.value.field == "assignee_id"
    assert footprint(cid) == before

    assert services.assign([cid], estate.collector2.id, estate.supervisor, now=now) == 1
    case = services.get_case(cid)
    assert case.assignee_id == estate.collector2.id
    event = case_events(cid)[-1]
    assert (event.kind, event.name, event.actor_id) == ("assignment", "assign",
                                                        estate.supervisor.id)
    assert event.payload == {"from": estate.collector.id, "to": estate.collector2.id}
    # the new collector may act now, the old one no longer
    services.fire_event(cid, "start_outreach", estate.collector2, now=now)
    with pytest.raises(Forbidden):
        services.fire_event(cid, "escalate_follow_up", estate.collector, now=now)
    # assigning again to the same person changes nothing and writes nothing
    seq = services.get_case(cid).event_seq
    assert services.assign([cid], estate.collector2.id, estate.supervisor, now=now) == 0
    assert services.get_case(cid).event_seq == seq


def test_revealing_a_phone_number_is_audited(estate, now):
    cid = estate.case.id
    assert estate.debtor.channels[0].masked == "138****8000"
    phone = services.reveal_phone(cid, estate.collector, now=now)
    assert phone == "13800138000"
    event = case_events(cid)[-1]
    assert (event.kind, event.name, event.actor_id, event.actor_role) == (
        "reveal", "reveal_phone", estate.collector.id, "collector")
    assert event.payload == {"channel": "phone"}
    assert_chain_intact()


# --- closing ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("event", "user", "final"), [
    ("write_off", "supervisor", "written_off"),
    ("write_off", "legal", "written_off"),
    ("withdraw", "collector", "withdrawn"),
])
def test_closing_a_case_cancels_its_open_work(estate, now, event, user, final):
    cid = estate.case.id
    walk(estate, cid, "legal_review", now)
    assert count(Task, case_id=cid, status="open") == 1
    services.fire_event(cid, event, getattr(estate, user), {"reason": "业主已去世，无可执行财产"},
                        now=now + timedelta(days=31))
    case = services.get_case(cid)
    assert (case.state, case.closed_at) == (final, now + timedelta(days=31))
    # the old work is cancelled; the only open task asks for the outcome review (结果评估)
    assert [t.kind for t in db.session.scalars(sa.select(Task).where(
        Task.case_id == cid, Task.status == "open"))] == ["outcome_review"]
    for late in ("settle", "start_outreach", "raise_dispute"):
        with pytest.raises(TransitionNotAllowed):
            services.fire_event(cid, late, estate.supervisor,
                                {"category": "billing", "note": "x"}, now=now + timedelta(days=32))


def test_a_collector_cannot_write_off(estate, now):
    with pytest.raises(GuardFailed) as exc:
        services.fire_event(estate.case.id, "write_off", estate.collector,
                            {"reason": "金额太小"}, now=now)
    assert exc.value.rule == "approver_role"


# --- communities, reversals and plans: the corners ------------------------------------------

def _other_community_supervisor():
    from tests.factories import community, staff

    other = community(code="HX", name="和谐家园")
    boss = staff("sup_hx", "supervisor", name="和谐组长")
    boss.communities = [other]
    db.session.commit()
    return boss


def test_a_supervisor_works_only_in_their_communities(estate, now):
    boss = _other_community_supervisor()
    cid = estate.case.id
    assert not services.can_see(boss, estate.case)
    before = footprint(cid)
    with pytest.raises(Forbidden):
        services.fire_event(cid, "start_outreach", boss, now=now)
    with pytest.raises(Forbidden):
        services.reveal_phone(cid, boss, now=now)
    assert footprint(cid) == before
    visible = db.session.scalars(sa.select(DunningCase).where(services.visible_cases(boss)))
    assert list(visible) == []


def test_a_supervisor_cannot_reassign_another_communitys_cases(estate, now):
    """assign() checks the role but not the community (access.ensure_can_act does both)."""
    boss = _other_community_supervisor()
    cid = estate.case.id
    before = footprint(cid)
    with pytest.raises(Forbidden):
        services.assign([cid], estate.collector2.id, boss, now=now)
    assert footprint(cid) == before


def test_a_supervisor_cannot_reverse_another_communitys_payments(estate, now):
    boss = _other_community_supervisor()
    payment = services.record_payment(estate.case.id, "100.00", date(2026, 11, 23), now=now)
    before = footprint(estate.case.id)
    with pytest.raises(Forbidden):
        services.reverse_payment(payment.id, "银行退票", boss, now=now)
    assert footprint(estate.case.id) == before


def test_collectors_see_only_their_own_cases(estate, now):
    other, _ = fresh_case(estate, now, assignee=estate.collector2)

    def visible(user):
        return {c.id for c in db.session.scalars(
            sa.select(DunningCase).where(services.visible_cases(user)))}

    assert visible(estate.collector) == {estate.case.id}
    assert visible(estate.collector2) == {other.id}
    assert visible(estate.supervisor) == visible(estate.auditor) == {estate.case.id, other.id}


def test_a_bounced_installment_payment_counts_as_missed(estate, now):
    """The reversed money never arrived: the installment it paid is unpaid again, and the
    plan breaks once it is overdue beyond the grace days."""
    cid = estate.case.id
    services.fire_event(cid, "start_outreach", estate.collector, now=now)
    services.fire_event(cid, "promise_payment", estate.collector,
                        {"installments": plan_items(TOTAL, date(2026, 11, 30))}, now=now)
    payment = services.record_payment(cid, "805.50", date(2026, 11, 23), now=now)
    later = now + timedelta(days=3)
    services.reverse_payment(payment.id, "银行退票", estate.supervisor, now=later)
    first = db.session.scalars(sa.select(Installment).order_by(Installment.seq)).first()
    assert first.paid_amount == D("0.00")
    overdue = now + timedelta(days=15)  # 2026-12-08: 8 days after the first installment
    assert services.gather(services.get_case(cid), overdue).plan_in_default is True
    services.fire_event(cid, "break_plan", None, now=overdue)
    assert services.get_case(cid).state == "first_reminder"


def test_a_waiver_that_clears_the_debt_settles_the_case(estate, now):
    """Everything was waived: nothing is owed, so the case closes as paid at once."""
    cid = estate.case.id
    services.fire_event(cid, "raise_dispute", estate.collector,
                        {"category": "service_quality", "note": "长期服务不到位，物业不作为"},
                        now=now)
    services.fire_event(cid, "resolve_dispute", estate.supervisor, {"outcome": "waived"},
                        now=now)
    assert services.outstanding(estate.case) == D("0.00")
    assert services.get_case(cid).state == "paid"
    assert [e.name for e in case_events(cid)][-2:] == ["resolve_dispute", "settle"]
    with pytest.raises(InvalidInput) as exc:
        services.record_payment(cid, "50.00", date(2026, 11, 23), now=now)
    assert exc.value.field == "case_id"
    assert count(DunningCase) == 1
    assert_chain_intact()


def test_a_payment_order_needs_a_verified_address(estate, now):
    case, _ = fresh_case(estate, now, address_verified=False)
    later = walk(estate, case.id, "lawyer_letter", now) + timedelta(days=20)
    before = footprint(case.id)
    with pytest.raises(GuardFailed) as exc:
        services.fire_event(case.id, "file_claim", estate.legal, {"route": "payment_order"},
                            now=later)
    assert exc.value.rule == "payment_order_conditions"
    assert footprint(case.id) == before
    services.fire_event(case.id, "file_claim", estate.legal, {"route": "suit"}, now=later)
    assert services.get_case(case.id).state == "litigation"
    assert count(Document, case_id=case.id, kind="complaint") == 1
