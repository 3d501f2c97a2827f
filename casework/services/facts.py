"""What a case knows now, gathered from its records for the workflow's guards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa

from workflows.facts import CaseFacts

from ..extensions import db
from ..models import (
    ChargeLine,
    ContactAttempt,
    Dispute,
    Document,
    DunningCase,
    Installment,
    PaymentPlan,
)
from ..policy import of_case as policy_of
from .bulk import member
from .clock import local_date

ZERO = Decimal("0.00")
DOCUMENTED_OUTCOMES = ("no_answer", "sent", "reached", "promised", "refused", "disputed")


def outstanding(case: DunningCase) -> Decimal:
    """What the debtor owes on the case: every charge line's balance."""
    value = db.session.scalar(
        sa.select(sa.func.sum(ChargeLine.amount_due - ChargeLine.amount_paid - ChargeLine.credit))
        .where(ChargeLine.case_id == case.id))
    return Decimal(value or 0).quantize(Decimal("0.01"))


def open_lines(case: DunningCase) -> list[ChargeLine]:
    lines = db.session.scalars(sa.select(ChargeLine).where(ChargeLine.case_id == case.id)
                               .order_by(ChargeLine.due_date, ChargeLine.id)).all()
    return [line for line in lines if line.balance > 0]


def current_document(case: DunningCase, kind: str) -> Document | None:
    return db.session.scalars(sa.select(Document).where(
        Document.case_id == case.id, Document.kind == kind).order_by(Document.id.desc())).first()


def current_documents(case: DunningCase, kinds: tuple[str, ...]) -> list[Document | None]:
    """The newest document of each kind, in one query."""
    newest: dict[str, Document] = {}
    for doc in db.session.scalars(sa.select(Document).where(
            Document.case_id == case.id, Document.kind.in_(kinds)).order_by(Document.id)):
        newest[doc.kind] = doc
    return [newest.get(kind) for kind in kinds]


def gather(case: DunningCase, now: datetime) -> CaseFacts:
    """The facts the guards of every event read, computed in a handful of queries."""
    known = db.session.info.get("prefetched_facts")
    if known and (case.id, now) in known:
        return known.pop((case.id, now))  # once: the next read sees what this use changed
    today = local_date(now)
    policy = policy_of(case)
    attempts, disputes, in_default = db.session.execute(sa.select(
        sa.select(sa.func.count(ContactAttempt.id)).where(
            ContactAttempt.case_id == case.id, ContactAttempt.outcome.in_(DOCUMENTED_OUTCOMES))
        .scalar_subquery(),
        sa.select(sa.func.count(Dispute.id)).where(
            Dispute.case_id == case.id, Dispute.status == "open").scalar_subquery(),
        _default_query(case, today, policy["grace_days"]).scalar_subquery())).one()
    demand, letter = current_documents(case, ("payment_demand", "lawyer_letter"))
    return _facts(case, now, policy, open_lines(case), attempts or 0, bool(disputes),
                  bool(in_default), demand, letter)


def gather_many(cases: list[DunningCase], now: datetime) -> dict[int, CaseFacts]:
    """`gather` for many cases at once, in six queries whatever their number (the timer batch).

    The same facts as `gather` would give each case at this moment; callers must not use a
    case's entry after changing that case's records.
    """
    if not cases:
        return {}
    today = local_date(now)
    ids = [case.id for case in cases]
    lines: dict[int, list[ChargeLine]] = {i: [] for i in ids}
    for line in db.session.scalars(sa.select(ChargeLine).where(member(ChargeLine.case_id, ids))
                                   .order_by(ChargeLine.due_date, ChargeLine.id)):
        if line.balance > 0:
            lines[line.case_id].append(line)
    attempts = dict(db.session.execute(
        sa.select(ContactAttempt.case_id, sa.func.count(ContactAttempt.id)).where(
            member(ContactAttempt.case_id, ids),
            ContactAttempt.outcome.in_(DOCUMENTED_OUTCOMES))
        .group_by(ContactAttempt.case_id)).all())
    disputes = set(db.session.scalars(sa.select(Dispute.case_id).where(
        member(Dispute.case_id, ids), Dispute.status == "open").distinct()))
    # installments unpaid past the grace days: per case, since the grace days are per policy
    owing: dict[int, list] = {}
    for cid, due in db.session.execute(
            sa.select(PaymentPlan.case_id, Installment.due_date).join(PaymentPlan).where(
                member(PaymentPlan.case_id, ids), PaymentPlan.status == "active",
                Installment.paid_amount < Installment.amount)):
        owing.setdefault(cid, []).append(due)
    newest: dict[tuple[int, str], Document] = {}
    for doc in db.session.scalars(sa.select(Document).where(
            member(Document.case_id, ids),
            Document.kind.in_(("payment_demand", "lawyer_letter")))
            .order_by(Document.id)):
        newest[doc.case_id, doc.kind] = doc
    out = {}
    for case in cases:
        policy = policy_of(case)
        limit = today - timedelta(days=policy["grace_days"])
        in_default = any(due < limit for due in owing.get(case.id, ()))
        out[case.id] = _facts(case, now, policy, lines[case.id], attempts.get(case.id, 0),
                              case.id in disputes, in_default,
                              newest.get((case.id, "payment_demand")),
                              newest.get((case.id, "lawyer_letter")))
    return out


@contextmanager
def prefetched(cases: list[DunningCase], now: datetime) -> Iterator[None]:
    """Inside, the first `gather(case, now)` of each case is answered from one batch load."""
    db.session.info["prefetched_facts"] = {
        (case_id, now): facts for case_id, facts in gather_many(cases, now).items()}
    try:
        yield
    finally:
        db.session.info.pop("prefetched_facts", None)


def _facts(case: DunningCase, now: datetime, policy: dict, lines: list[ChargeLine],
           attempts: int, open_dispute: bool, in_default: bool, demand: Document | None,
           letter: Document | None) -> CaseFacts:
    today = local_date(now)
    total = sum((line.balance for line in lines), ZERO)
    claimable = sum((line.balance for line in lines if not line.time_barred(today)), ZERO)
    debtor = case.debtor
    return CaseFacts(
        today=today, now=now, outstanding=total, claimable=claimable,
        legal_threshold=Decimal(str(policy["legal_threshold"])),
        debtor_identified=debtor.identified,
        contact_channels=sum(1 for c in debtor.channels if c.usable),
        documented_attempts=attempts, debtor_unreachable=debtor.unreachable,
        address_verified=debtor.address_verified, open_dispute=open_dispute,
        demand_delivered_grade=demand.grade if demand else None,
        demand_deadline=demand.deadline if demand and demand.delivered_on else None,
        letter_deadline=letter.deadline if letter and letter.delivered_on else None,
        legal_requested_by=case.legal_requested_by_id,
        plan_in_default=in_default,
    )


def _default_query(case: DunningCase, today, grace_days: int):
    limit = today - timedelta(days=grace_days)
    return sa.select(sa.func.count(Installment.id)).join(PaymentPlan).where(
        PaymentPlan.case_id == case.id, PaymentPlan.status == "active",
        Installment.due_date < limit, Installment.paid_amount < Installment.amount)


def plan_in_default(case: DunningCase, today, grace_days: int) -> bool:
    """An installment of the active plan is unpaid more than the grace days after it fell due."""
    return bool(db.session.scalar(_default_query(case, today, grace_days)))
