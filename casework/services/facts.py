"""What a case knows now, gathered from its records for the workflow's guards."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa

from workflows.facts import CaseFacts

from ..extensions import db
from ..models import (
    ChargeLine, ContactAttempt, Dispute, Document, DunningCase, Installment, PaymentPlan,
)
from ..policy import merged
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
    today = local_date(now)
    policy = merged(case.policy.data if case.policy else None)
    lines = open_lines(case)
    total = sum((line.balance for line in lines), ZERO)
    claimable = sum((line.balance for line in lines if not line.time_barred(today)), ZERO)
    attempts, disputes, in_default = db.session.execute(sa.select(
        sa.select(sa.func.count(ContactAttempt.id)).where(
            ContactAttempt.case_id == case.id, ContactAttempt.outcome.in_(DOCUMENTED_OUTCOMES))
        .scalar_subquery(),
        sa.select(sa.func.count(Dispute.id)).where(
            Dispute.case_id == case.id, Dispute.status == "open").scalar_subquery(),
        _default_query(case, today, policy["grace_days"]).scalar_subquery())).one()
    demand, letter = current_documents(case, ("payment_demand", "lawyer_letter"))
    debtor = case.debtor
    return CaseFacts(
        today=today, now=now, outstanding=total, claimable=claimable,
        legal_threshold=Decimal(str(policy["legal_threshold"])),
        debtor_identified=debtor.identified,
        contact_channels=sum(1 for c in debtor.channels if c.usable),
        documented_attempts=attempts or 0, debtor_unreachable=debtor.unreachable,
        address_verified=debtor.address_verified, open_dispute=bool(disputes),
        demand_delivered_grade=demand.grade if demand else None,
        demand_deadline=demand.deadline if demand and demand.delivered_on else None,
        letter_deadline=letter.deadline if letter and letter.delivered_on else None,
        legal_requested_by=case.legal_requested_by_id,
        plan_in_default=bool(in_default),
    )


def _default_query(case: DunningCase, today, grace_days: int):
    limit = today - timedelta(days=grace_days)
    return sa.select(sa.func.count(Installment.id)).join(PaymentPlan).where(
        PaymentPlan.case_id == case.id, PaymentPlan.status == "active",
        Installment.due_date < limit, Installment.paid_amount < Installment.amount)


def plan_in_default(case: DunningCase, today, grace_days: int) -> bool:
    """An installment of the active plan is unpaid more than the grace days after it fell due."""
    return bool(db.session.scalar(_default_query(case, today, grace_days)))
