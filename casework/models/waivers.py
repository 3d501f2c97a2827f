"""Late-fee waivers (违约金减免): a supervisor's approved, audited reduction of the late fee."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import Money, UTCDateTime, utcnow


class LateFeeWaiver(db.Model):
    """An amount of a case's late fee (as the statement computes it) that is no longer claimed.

    Principal is never waived here (that is a dispute's credit on the charge lines); the
    waiver only lowers the late fee the statement and the letters may ask for.
    """

    __tablename__ = "late_fee_waiver"
    __table_args__ = (sa.CheckConstraint("amount > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("dunning_case.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(Money())
    reason: Mapped[str] = mapped_column(sa.Text)
    approved_by_id: Mapped[int] = mapped_column(sa.ForeignKey("staff_user.id"))
    event_seq: Mapped[int]  # the audit event that records it
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
