"""Charge lines, payments with their allocation, and payment plans (DESIGN §2, legal-rules §B)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .types import Fixed, Money, UTCDateTime, utcnow

ZERO = Decimal("0.00")


class ChargeLine(db.Model):
    """One unpaid billing period of one fee type for one unit, with its own limitation clock."""

    __tablename__ = "charge_line"
    __table_args__ = (
        sa.CheckConstraint("amount_due >= 0", name="amount_due_nonnegative"),
        sa.CheckConstraint("amount_paid >= 0", name="amount_paid_nonnegative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int | None] = mapped_column(sa.ForeignKey("dunning_case.id"), index=True)
    unit_id: Mapped[int] = mapped_column(sa.ForeignKey("unit.id"), index=True)
    debtor_id: Mapped[int] = mapped_column(sa.ForeignKey("debtor.id"), index=True)
    fee_type: Mapped[str] = mapped_column(sa.String(32), default="物业费")
    period_label: Mapped[str] = mapped_column(sa.String(32))
    period_start: Mapped[date] = mapped_column(sa.Date)
    period_end: Mapped[date] = mapped_column(sa.Date)
    due_date: Mapped[date] = mapped_column(sa.Date, index=True)
    amount_due: Mapped[Decimal] = mapped_column(Money())
    amount_paid: Mapped[Decimal] = mapped_column(Money(), default=ZERO)
    credit: Mapped[Decimal] = mapped_column(Money(), default=ZERO)  # reductions, waivers
    contract_daily_rate: Mapped[Decimal | None] = mapped_column(Fixed(6))  # penalty, if contracted
    limitation_expiry: Mapped[date] = mapped_column(sa.Date, index=True)
    limitation_reset_on: Mapped[date | None] = mapped_column(sa.Date)
    frozen: Mapped[bool] = mapped_column(default=False)  # a billing dispute freezes the line
    external_ref: Mapped[str | None] = mapped_column(sa.String(128), unique=True)

    unit = relationship("Unit", lazy="joined")

    @property
    def balance(self) -> Decimal:
        return self.amount_due - self.amount_paid - self.credit

    def time_barred(self, today: date) -> bool:
        return today > self.limitation_expiry


class CaseBalance(db.Model):
    """What a case owes now, kept by database triggers on charge_line (migration f4a2c6e8b1d3),
    so that the queues sort by it without summing every unpaid line of every case on each page.

    `at_risk` (money whose limitation expires within AT_RISK_DAYS) depends on the day: it was
    computed for `risk_from` and holds until `risk_until` (NULL: for ever); outside that window
    the reader sums the lines itself (queries.balance_of), and the sweep recomputes stale rows.
    Never written by the application: the triggers are the only writers."""

    __tablename__ = "case_balance"

    case_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    outstanding: Mapped[Decimal] = mapped_column(Money(), default=ZERO)
    oldest_due: Mapped[date | None] = mapped_column(sa.Date)
    periods: Mapped[int] = mapped_column(default=0)
    at_risk: Mapped[Decimal] = mapped_column(Money(), default=ZERO)
    risk_from: Mapped[date] = mapped_column(sa.Date)
    risk_until: Mapped[date | None] = mapped_column(sa.Date, index=True)


class Payment(db.Model):
    """Money received; idempotent by external id; allocated to charge lines."""

    __tablename__ = "payment"
    __table_args__ = (sa.CheckConstraint("amount > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("dunning_case.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(Money())
    unallocated: Mapped[Decimal] = mapped_column(Money(), default=ZERO)  # overpayment on account
    paid_on: Mapped[date] = mapped_column(sa.Date, index=True)  # the reports find periods by it
    channel: Mapped[str] = mapped_column(sa.String(32), default="counter")
    external_id: Mapped[str | None] = mapped_column(sa.String(128), unique=True)
    designated: Mapped[list] = mapped_column(sa.JSON, default=list)  # charge line ids
    reversed: Mapped[bool] = mapped_column(default=False)
    recorded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    allocations: Mapped[list[PaymentAllocation]] = relationship(
        back_populates="payment", cascade="all, delete-orphan")


class PaymentAllocation(db.Model):
    __tablename__ = "payment_allocation"

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[int] = mapped_column(sa.ForeignKey("payment.id"), index=True)
    charge_line_id: Mapped[int] = mapped_column(sa.ForeignKey("charge_line.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(Money())

    payment: Mapped[Payment] = relationship(back_populates="allocations")
    charge_line: Mapped[ChargeLine] = relationship()


class PaymentPlan(db.Model):
    """A promise or installment plan; its installments sum to what was owed when agreed."""

    __tablename__ = "payment_plan"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("dunning_case.id"), index=True)
    status: Mapped[str] = mapped_column(sa.String(16), default="active")  # kept/broken/cancelled
    total: Mapped[Decimal] = mapped_column(Money())
    grace_days: Mapped[int] = mapped_column(default=7)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    installments: Mapped[list[Installment]] = relationship(
        back_populates="plan", cascade="all, delete-orphan", order_by="Installment.seq")


class Installment(db.Model):
    __tablename__ = "installment"
    __table_args__ = (sa.UniqueConstraint("plan_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(sa.ForeignKey("payment_plan.id"), index=True)
    seq: Mapped[int]
    due_date: Mapped[date] = mapped_column(sa.Date)
    amount: Mapped[Decimal] = mapped_column(Money())
    paid_amount: Mapped[Decimal] = mapped_column(Money(), default=ZERO)

    plan: Mapped[PaymentPlan] = relationship(back_populates="installments")
