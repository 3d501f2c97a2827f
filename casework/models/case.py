"""The dunning case and the work around it: policies, contacts, disputes, tasks, documents."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from workflows.dunning import FINAL_STATES

from ..extensions import db
from .types import Money, UTCDateTime, utcnow

REASON_CLASSES = ("unaware", "excuse", "wilful", "unreachable")
REASON_SUBS = ("forgot", "hardship", "service_quality", "billing", "developer_legacy", "vacancy",
               "wrong_debtor", "contract_end", "collective")
CHANNELS = ("phone", "sms", "wechat", "letter", "visit", "email")
OUTCOMES = ("no_answer", "sent", "reached", "promised", "refused", "disputed", "paid")
PERSONS = ("debtor", "co_owner", "tenant", "family_adult", "none")
TECHNIQUES = ("timely_reminder", "cut_retreat", "sympathy", "carpet_bombing", "united_front",
              "sugar_coated", "mobilize_all")
TASK_STATUSES = ("open", "done", "cancelled")
DOCUMENT_KINDS = ("payment_demand", "lawyer_letter", "installment_agreement", "statement",
                  "evidence_list", "payment_order_application", "complaint")


class Policy(db.Model):
    """A versioned dunning policy of one community; a case keeps the version it opened under."""

    __tablename__ = "policy"
    __table_args__ = (sa.UniqueConstraint("community_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(sa.ForeignKey("community.id"), index=True)
    version: Mapped[int] = mapped_column(default=1)
    data: Mapped[dict] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_user.id"))


class DunningCase(db.Model):
    """One arrears case per debtor and community, carrying the workflow state."""

    __tablename__ = "dunning_case"
    __table_args__ = (
        sa.Index("uq_dunning_case_open_debtor", "debtor_id", "community_id", unique=True,
                 sqlite_where=sa.text("state NOT IN ('paid', 'written_off', 'withdrawn')"),
                 postgresql_where=sa.text("state NOT IN ('paid', 'written_off', 'withdrawn')")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(sa.String(32), unique=True)
    debtor_id: Mapped[int] = mapped_column(sa.ForeignKey("debtor.id"), index=True)
    community_id: Mapped[int] = mapped_column(sa.ForeignKey("community.id"), index=True)
    policy_id: Mapped[int] = mapped_column(sa.ForeignKey("policy.id"))
    state: Mapped[str] = mapped_column(sa.String(32), index=True, default="preparation")
    version: Mapped[int] = mapped_column(nullable=False, default=1)
    assignee_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_user.id"), index=True)
    reason_class: Mapped[str | None] = mapped_column(sa.String(16))
    reason_sub: Mapped[str | None] = mapped_column(sa.String(32))
    priority: Mapped[int] = mapped_column(default=0, index=True)
    plan_resume_state: Mapped[str | None] = mapped_column(sa.String(32))
    dispute_resume_state: Mapped[str | None] = mapped_column(sa.String(32))
    legal_requested_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_user.id"))
    litigation_route: Mapped[str | None] = mapped_column(sa.String(32))
    previous_case_id: Mapped[int | None] = mapped_column(sa.ForeignKey("dunning_case.id"))
    event_seq: Mapped[int] = mapped_column(default=0)  # head of the audit chain
    event_hash: Mapped[str] = mapped_column(sa.String(64), default="0" * 64)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    stage_since: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __mapper_args__ = {"version_id_col": version}

    debtor = relationship("Debtor", lazy="joined")
    community = relationship("Community", lazy="joined")
    assignee = relationship("StaffUser", foreign_keys=[assignee_id])
    policy = relationship("Policy")
    charge_lines = relationship("ChargeLine", order_by="(ChargeLine.due_date, ChargeLine.id)")

    @property
    def is_open(self) -> bool:
        return self.state not in FINAL_STATES


class ContactAttempt(db.Model):
    """A 催缴记录: one call, SMS, letter or visit, with what came of it."""

    __tablename__ = "contact_attempt"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("dunning_case.id"), index=True)
    staff_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_user.id"), index=True)
    channel: Mapped[str] = mapped_column(sa.String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    person_reached: Mapped[str] = mapped_column(sa.String(16), default="none")
    outcome: Mapped[str] = mapped_column(sa.String(16))
    techniques: Mapped[list] = mapped_column(sa.JSON, default=list)
    reason_class: Mapped[str | None] = mapped_column(sa.String(16))
    reason_sub: Mapped[str | None] = mapped_column(sa.String(32))
    notes: Mapped[str] = mapped_column(sa.Text, default="")
    outside_rules: Mapped[list] = mapped_column(sa.JSON, default=list)  # broken contact rules
    override_reason: Mapped[str | None] = mapped_column(sa.Text)
    flagged: Mapped[bool] = mapped_column(default=False)
    automatic: Mapped[bool] = mapped_column(default=False)


class Dispute(db.Model):
    """An owner's objection (异议), with its service levels."""

    __tablename__ = "dispute"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("dunning_case.id"), index=True)
    category: Mapped[str] = mapped_column(sa.String(32))
    note: Mapped[str] = mapped_column(sa.Text)
    charge_line_ids: Mapped[list] = mapped_column(sa.JSON, default=list)
    ticket_ref: Mapped[str | None] = mapped_column(sa.String(64))
    status: Mapped[str] = mapped_column(sa.String(16), default="open")
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    opened_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_user.id"))
    acknowledge_by: Mapped[date | None] = mapped_column(sa.Date)
    answer_by: Mapped[date | None] = mapped_column(sa.Date)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    outcome: Mapped[str | None] = mapped_column(sa.String(16))
    credit_amount: Mapped[Decimal | None] = mapped_column(Money())


class Task(db.Model):
    """A unit of human work on a case, for a person or for anyone with a role."""

    __tablename__ = "task"
    # The queues (migration f4a2c6e8b1d3): a user's open tasks, and the open tasks nobody has
    # claimed yet (the team queue), each a small part of all tasks.
    __table_args__ = (
        sa.Index("ix_task_open_assignee", "assignee_id",
                 postgresql_include=["case_id", "due_at", "priority"],
                 postgresql_where=sa.text("status = 'open'"),
                 sqlite_where=sa.text("status = 'open'")),
        sa.Index("ix_task_open_unassigned", "case_id",
                 postgresql_include=["candidate_role", "due_at", "priority"],
                 postgresql_where=sa.text("status = 'open' AND assignee_id IS NULL"),
                 sqlite_where=sa.text("status = 'open' AND assignee_id IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("dunning_case.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(32))
    title: Mapped[str] = mapped_column(sa.String(200))
    assignee_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_user.id"), index=True)
    candidate_role: Mapped[str | None] = mapped_column(sa.String(16), index=True)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    priority: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(sa.String(16), default="open", index=True)
    dedupe_key: Mapped[str | None] = mapped_column(sa.String(128), unique=True)
    note: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    done_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_user.id"))

    case = relationship("DunningCase")


class Document(db.Model):
    """A letter of the process: what it lists, how it was sent, and the proof it arrived."""

    __tablename__ = "document"
    __table_args__ = (sa.UniqueConstraint("case_id", "kind", "event_seq"),
                      sa.Index("ix_document_render", "status", "enqueued_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("dunning_case.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(32))
    status: Mapped[str] = mapped_column(sa.String(16), default="pending")  # rendered, failed
    event_seq: Mapped[int]  # the audit event that caused it
    template_version: Mapped[str | None] = mapped_column(sa.String(32))
    sha256: Mapped[str | None] = mapped_column(sa.String(64))
    path: Mapped[str | None] = mapped_column(sa.String(512))
    charge_line_ids: Mapped[list] = mapped_column(sa.JSON, default=list)
    amount: Mapped[Decimal | None] = mapped_column(Money())
    deadline: Mapped[date | None] = mapped_column(sa.Date)
    approved_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_user.id"))
    dispatch_channel: Mapped[str | None] = mapped_column(sa.String(32))
    tracking_no: Mapped[str | None] = mapped_column(sa.String(64))
    contents_label: Mapped[str | None] = mapped_column(sa.String(64))
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    delivered_on: Mapped[date | None] = mapped_column(sa.Date)
    grade: Mapped[str | None] = mapped_column(sa.String(1))
    proof_ref: Mapped[str | None] = mapped_column(sa.String(512))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # render job handed to RQ
    error: Mapped[str | None] = mapped_column(sa.Text)  # why rendering failed (shown to staff)

    @property
    def proven(self) -> bool:
        return self.grade in ("A", "B")
