"""Records the staff UI keeps beside the workflow: litigation, targets, login attempts."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .types import Money, UTCDateTime, utcnow

ENFORCEMENT_YEARS = 2  # 民事诉讼法 250: apply for enforcement within two years


class LitigationRecord(db.Model):
    """What the court route of a case has reached: court, case number, hearings, judgment."""

    __tablename__ = "litigation_record"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("dunning_case.id"), unique=True)
    route: Mapped[str | None] = mapped_column(sa.String(32))
    court: Mapped[str] = mapped_column(sa.String(128), default="")
    court_case_number: Mapped[str] = mapped_column(sa.String(64), default="")  # 案号
    filed_on: Mapped[date | None] = mapped_column(sa.Date)
    hearing_dates: Mapped[list] = mapped_column(sa.JSON, default=list)  # ISO dates
    judgment_on: Mapped[date | None] = mapped_column(sa.Date)
    notes: Mapped[str] = mapped_column(sa.Text, default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_user.id"))

    case = relationship("DunningCase")

    @property
    def enforcement_deadline(self) -> date | None:
        """Two years after the judgment (the time to apply for enforcement)."""
        if self.judgment_on is None:
            return None
        from ..services.clock import add_years

        return add_years(self.judgment_on, ENFORCEMENT_YEARS)


class CollectionTarget(db.Model):
    """A collector's target for one month (阶段性催缴指标)."""

    __tablename__ = "collection_target"
    __table_args__ = (sa.UniqueConstraint("collector_id", "month"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    collector_id: Mapped[int] = mapped_column(sa.ForeignKey("staff_user.id"), index=True)
    month: Mapped[date] = mapped_column(sa.Date)  # the first day of the month
    amount: Mapped[Decimal] = mapped_column(Money())
    set_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_user.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    collector = relationship("StaffUser", foreign_keys=[collector_id])


class LoginAttempt(db.Model):
    """A failed sign-in, counted per user name and address to slow down password guessing."""

    __tablename__ = "login_attempt"
    __table_args__ = (sa.Index("ix_login_attempt_key", "username", "ip", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(64))
    ip: Mapped[str] = mapped_column(sa.String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
