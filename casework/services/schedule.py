"""Which timers a case needs now: computed from its state and records after every change.

Declarative on purpose: `reschedule(case)` adds the timers that are missing (by unique key)
and cancels pending ones that no longer apply, so every transition sets and cancels timers
without each event having to remember which.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

import sqlalchemy as sa

from ..extensions import db
from ..models import ChargeLine, Dispute, DunningCase, Installment, PaymentPlan, Task, Timer
from ..policy import merged
from .clock import SHANGHAI, working_calendar
from .facts import current_document

ANY_OPEN = "*"
MORNING = time(9, 0)


@dataclass(frozen=True)
class Want:
    kind: str
    key: str
    due_at: datetime
    expected_state: str
    payload: dict = field(default_factory=dict)


def morning(d: date) -> datetime:
    """09:00 in Shanghai on day `d`, as an aware datetime."""
    return datetime.combine(d, MORNING, tzinfo=SHANGHAI)


def _earliest_due(lines: list[ChargeLine]) -> date | None:
    return min((line.due_date for line in lines), default=None)


def wanted(case: DunningCase, now: datetime) -> list[Want]:
    """The timers the case should have, given where it is and what it holds."""
    if not case.is_open:
        return []
    policy = merged(case.policy.data if case.policy else None)
    lines = [line for line in case.charge_lines if line.balance > 0]
    first_due = _earliest_due(lines)
    state, since = case.state, case.stage_since or now
    cal = working_calendar()
    out: list[Want] = []

    def add(kind: str, due: datetime, expected: str = state, suffix: str = "",
            **payload) -> None:
        out.append(Want(kind, f"{case.id}:{kind}:{expected}:{suffix or since.isoformat()}",
                        due, expected, payload))

    timeline = policy["timeline"]
    if state == "preparation" and first_due:
        due = first_due + timedelta(days=timeline["first_reminder"])
        add("start_outreach", max(morning(cal.next_working_day(due)), since))
    elif state == "first_reminder":
        add("escalate_follow_up", since + timedelta(days=policy["follow_up_after_days"]))
    elif state == "follow_up" and first_due:
        due = first_due + timedelta(days=timeline["formal_demand"])
        add("demand_due", max(morning(cal.next_working_day(due)), since))
    elif state in ("formal_demand", "lawyer_letter"):
        kind = "payment_demand" if state == "formal_demand" else "lawyer_letter"
        doc = current_document(case, kind)
        if doc and doc.delivered_on and doc.deadline:
            add(f"{kind}_deadline", morning(doc.deadline + timedelta(days=1)),
                suffix=f"{doc.id}:{doc.deadline.isoformat()}", document_id=doc.id)
    elif state == "mediation" and first_due:
        due = first_due + timedelta(days=timeline["lawyer_letter"])
        add("legal_action_due", max(morning(cal.next_working_day(due)), since))
    elif state == "payment_plan":
        items = db.session.scalars(sa.select(Installment).join(PaymentPlan).where(
            PaymentPlan.case_id == case.id, PaymentPlan.status == "active",
            Installment.paid_amount < Installment.amount)).all()
        for item in items:
            due = item.due_date + timedelta(days=policy["grace_days"] + 1)
            add("installment_check", morning(due), suffix=f"{item.id}", installment_id=item.id)
    elif state == "disputed":
        for d in db.session.scalars(sa.select(Dispute).where(
                Dispute.case_id == case.id, Dispute.status == "open")):
            if d.acknowledged_at is None and d.acknowledge_by:
                add("dispute_acknowledge_sla", morning(d.acknowledge_by + timedelta(days=1)),
                    suffix=f"{d.id}", dispute_id=d.id)
            if d.answer_by:
                add("dispute_answer_sla", morning(d.answer_by + timedelta(days=1)),
                    suffix=f"{d.id}", dispute_id=d.id)
    for line in lines:
        for days_before in policy["limitation_alert_days"]:
            due = morning(line.limitation_expiry - timedelta(days=days_before))
            add("limitation_alert", due, ANY_OPEN,
                suffix=f"{line.id}:{line.limitation_expiry.isoformat()}:{days_before}",
                charge_line_id=line.id, days_before=days_before)
    for task in db.session.scalars(sa.select(Task).where(
            Task.case_id == case.id, Task.status == "open",
            Task.kind.not_in(("overdue_escalation", "task_overdue")))):  # no escalating those
        add("task_overdue", task.due_at, ANY_OPEN, suffix=f"{task.id}", task_id=task.id)
    return out


def reschedule(case: DunningCase, now: datetime) -> None:
    """Bring the case's timers in line with `wanted`: add missing, cancel stale."""
    db.session.flush()
    want = {w.key: w for w in wanted(case, now)}
    existing = db.session.scalars(sa.select(Timer).where(Timer.case_id == case.id)).all()
    have = {t.key: t for t in existing}
    for t in existing:
        if t.status in ("pending", "enqueued") and t.key not in want:
            t.status, t.done_at, t.result = "cancelled", now, "no longer applies"
    for key, w in want.items():
        if key not in have:
            db.session.add(Timer(case_id=case.id, kind=w.kind, key=key, due_at=w.due_at,
                                 expected_state=w.expected_state, payload=w.payload,
                                 created_at=now))


def request(case: DunningCase, now: datetime) -> None:
    """Ask for `reschedule(case)` once, just before the current transaction commits."""
    db.session.info.setdefault("reschedule", {})[case.id] = (case, now)


def run_requested() -> None:
    """Reschedule every case the transaction touched (called by services.uow.transaction)."""
    pending = db.session.info.pop("reschedule", {})
    for case, now in pending.values():
        reschedule(case, now)


def drop_requested() -> None:
    db.session.info.pop("reschedule", None)
