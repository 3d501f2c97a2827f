"""Recording and reversing payments: allocation per 民法典 560, automatic settle."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa

from .. import audit
from ..extensions import db
from ..models import (
    ChargeLine,
    DunningCase,
    Payment,
    PaymentAllocation,
    PaymentPlan,
    StaffUser,
    money,
    utcnow,
)
from . import limitation, schedule
from .access import actor_of, ensure_can_act
from .cases import _open_case, get_case, settle_if_nothing_owed
from .clock import local_date
from .errors import InvalidInput
from .uow import transaction

ZERO = Decimal("0.00")


def allocate(lines: Sequence[ChargeLine], amount: Decimal,
             designated: Sequence[int] = ()) -> list[tuple[ChargeLine, Decimal]]:
    """Split a payment: the periods the owner names first, then the oldest (民法典 560).

    A period frozen by a billing dispute takes money only when the owner names it.
    """
    order = {line_id: i for i, line_id in enumerate(designated)}
    lines = [ln for ln in lines if not ln.frozen or ln.id in order]  # a disputed bill waits
    ranked = sorted(lines, key=lambda ln: (ln.id not in order, order.get(ln.id, 0),
                                           ln.due_date, ln.id))
    parts, left = [], amount
    for line in ranked:
        if left <= 0:
            break
        part = min(line.balance, left)
        if part > 0:
            parts.append((line, part))
            left -= part
    return parts


def record_payment(case_id: int, amount, paid_on: date, *, channel: str = "counter",
                   external_id: str | None = None, designated: Sequence[int] = (),
                   user: StaffUser | None = None, now: datetime | None = None) -> Payment:
    """Record money received, once per external id; settles the case when nothing is owed."""
    with transaction():
        payment = record_payment_in_transaction(
            case_id, amount, paid_on, channel=channel, external_id=external_id,
            designated=designated, user=user, now=now)
    return payment


def record_payment_in_transaction(case_id: int, amount, paid_on: date, *,
                                  channel: str = "counter", external_id: str | None = None,
                                  designated: Sequence[int] = (), user: StaffUser | None = None,
                                  now: datetime | None = None) -> Payment:
    """`record_payment` inside the caller's transaction (a whole import file is one)."""
    now = now or utcnow()
    try:
        amount = money(amount)
    except Exception as exc:
        raise InvalidInput("amount", f"金额格式不正确：{amount}",
                           f"Not an amount: {amount}") from exc
    if amount <= 0:
        raise InvalidInput("amount", "金额必须大于0。", "The amount must be positive.")
    if not isinstance(paid_on, date) or paid_on > local_date(now):
        raise InvalidInput("paid_on", "缴费日期不能晚于今天。",
                           "The payment date is in the future.")
    if external_id:
        existing = db.session.scalars(sa.select(Payment).where(
            Payment.external_id == external_id)).first()
        if existing is not None:
            if existing.case_id != case_id or existing.amount != amount:
                raise InvalidInput("external_id", "该外部流水号已用于另一笔不同的缴费。",
                                   "This external id was used for a different payment.")
            return existing
    case = get_case(case_id)
    ensure_can_act(user, case)
    if not case.is_open:
        raise InvalidInput("case_id", "案件已结案，不能再登记缴费。", "The case is closed.")
    lines = [line for line in case.charge_lines if line.balance > 0]
    unknown = set(designated) - {line.id for line in lines}
    if unknown:
        raise InvalidInput("designated", f"指定的期间不在本案件的欠费中：{sorted(unknown)}",
                           f"Designated periods not owed on this case: {sorted(unknown)}")
    payment = Payment(case_id=case.id, amount=amount, paid_on=paid_on, channel=channel,
                      external_id=external_id, designated=list(designated),
                      recorded_by_id=user.id if user else None, created_at=now)
    parts = allocate(lines, amount, designated)
    for line, part in parts:
        line.amount_paid += part
        payment.allocations.append(PaymentAllocation(charge_line_id=line.id, amount=part))
    payment.unallocated = amount - sum((p for _, p in parts), ZERO)
    db.session.add(payment)
    db.session.flush()
    recount_installments(case)
    reset = limitation.reset([line for line, _ in parts], paid_on)
    db.session.flush()
    audit.append(case, actor_of(user), "payment", "record_payment", payload={
        "payment_id": payment.id, "amount": amount, "paid_on": paid_on, "channel": channel,
        "external_id": external_id, "designated": list(designated),
        "allocations": [{"charge_line_id": line.id, "amount": part} for line, part in parts],
        "unallocated": payment.unallocated, "limitation_reset": reset}, at=now)
    if not settle_if_nothing_owed(case, now):
        schedule.request(case, now)
    return payment


def recount_installments(case: DunningCase) -> None:
    """What the active plan has received: every payment since it was agreed and not reversed,
    applied to its installments in order (so a bounced payment un-pays them again)."""
    for plan in db.session.scalars(sa.select(PaymentPlan).where(
            PaymentPlan.case_id == case.id, PaymentPlan.status == "active")):
        received = db.session.scalar(sa.select(sa.func.sum(Payment.amount)).where(
            Payment.case_id == case.id, Payment.reversed.is_(False),
            Payment.created_at >= plan.created_at)) or ZERO
        received = Decimal(received)
        for item in sorted(plan.installments, key=lambda i: i.seq):
            item.paid_amount = min(item.amount, received)
            received -= item.paid_amount


def reverse_payment(payment_id: int, reason: str, user: StaffUser | None = None,
                    now: datetime | None = None) -> DunningCase:
    """Undo a bounced payment; if it had closed the case, a new linked case takes the debt."""
    now = now or utcnow()
    if not (reason or "").strip():
        raise InvalidInput("reason", "请填写冲正原因。", "A reason is required.")
    with transaction():
        payment = db.session.get(Payment, payment_id)
        if payment is None or payment.reversed:
            raise InvalidInput("payment_id", "缴费记录不存在或已冲正。",
                               "Unknown or already reversed payment.")
        case = get_case(payment.case_id)
        if user is not None and not user.has_role("supervisor"):
            from .errors import Forbidden
            raise Forbidden("冲正缴费需要催缴组长。", "Only a supervisor may reverse a payment.")
        ensure_can_act(user, case)  # and only in their own communities
        payment.reversed = True
        touched = []
        for alloc in payment.allocations:
            alloc.charge_line.amount_paid -= alloc.amount
            touched.append(alloc.charge_line)
        actor = actor_of(user)
        audit.append(case, actor, "payment", "reverse_payment", payload={
            "payment_id": payment.id, "amount": payment.amount, "reason": reason.strip()}, at=now)
        target = case
        db.session.flush()
        if case.is_open:
            recount_installments(case)
            schedule.request(case, now)
        if not case.is_open and touched:  # nothing to reopen if it paid no period
            for line in touched:
                line.case_id = None
            db.session.flush()
            target = _open_case(case.debtor_id, case.community_id, [ln.id for ln in touched],
                                actor, case.assignee_id, now)
            target.previous_case_id = case.id
            audit.append(case, actor, "link", "reopened_as", payload={"new_case_id": target.id},
                         at=now)
    return target
