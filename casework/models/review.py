"""The outcome review (结果评估) of a closed case: what decided it, confirmed by the supervisor."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .types import UTCDateTime, utcnow

REVIEW_STATUSES = ("submitted", "confirmed", "returned")


class OutcomeReview(db.Model):
    """One review per closing of a case (the audit event that closed it).

    `arrears_reason`/`arrears_reason_sub` use the case's reason vocabulary (REASON_CLASSES,
    REASON_SUBS); `technique_worked` and `techniques_failed` the contact techniques
    (TECHNIQUES); `channel_worked` the contact channels (CHANNELS); `stage_reached` is a
    workflow state id.
    """

    __tablename__ = "outcome_review"
    __table_args__ = (sa.UniqueConstraint("case_id", "closing_seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("dunning_case.id"), index=True)
    closing_seq: Mapped[int]  # the audit event that closed the case
    final_state: Mapped[str] = mapped_column(sa.String(16), index=True)
    arrears_reason: Mapped[str] = mapped_column(sa.String(16), index=True)
    arrears_reason_sub: Mapped[str | None] = mapped_column(sa.String(32))
    technique_worked: Mapped[str | None] = mapped_column(sa.String(32))
    channel_worked: Mapped[str | None] = mapped_column(sa.String(16))
    techniques_failed: Mapped[list] = mapped_column(sa.JSON, default=list)
    stage_reached: Mapped[str] = mapped_column(sa.String(32))
    days_to_recover: Mapped[int]
    service_problems: Mapped[str] = mapped_column(sa.Text, default="")
    passed_on_to: Mapped[str] = mapped_column(sa.String(128), default="")
    note: Mapped[str] = mapped_column(sa.Text, default="")
    # the case's collector when it closed (the submitter may be the supervisor)
    collector_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_user.id"), index=True)
    submitted_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_user.id"))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    confirmed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_user.id"))
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(sa.String(16), default="submitted", index=True)
    return_reason: Mapped[str | None] = mapped_column(sa.Text)

    case = relationship("DunningCase")
    collector = relationship("StaffUser", foreign_keys=[collector_id])
    confirmed_by = relationship("StaffUser", foreign_keys=[confirmed_by_id])
