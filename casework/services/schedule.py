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
from ..models import (
    ChargeLine,
    Dispute,
    Document,
    DunningCase,
    Installment,
    PaymentPlan,
    Task,
    Timer,
)
from ..policy import of_case as policy_of
from .bulk import insert_rows, member
from .clock import SHANGHAI, working_calendar

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


@dataclass
class Records:
    """What `wanted` reads of many cases, loaded in a fixed number of queries (after a flush)."""

    lines: dict[int, list[ChargeLine]]
    tasks: dict[int, list[Task]]
    timers: dict[int, list[Timer]]
    installments: dict[int, list[Installment]]
    disputes: dict[int, list[Dispute]]
    documents: dict[tuple[int, str], Document]

    @classmethod
    def load(cls, cases: list[DunningCase]) -> Records:
        ids = [case.id for case in cases]
        states = {case.state for case in cases if case.is_open}

        def by_case(query, ids=ids) -> dict[int, list]:
            out: dict[int, list] = {i: [] for i in ids}
            if ids:
                for row in db.session.scalars(query):
                    out[row.case_id].append(row)
            return out

        def only(*in_states: str) -> list[int]:
            return [case.id for case in cases if case.state in in_states]

        plan_ids, dispute_ids = only("payment_plan"), only("disputed")
        letter_ids = only("formal_demand", "lawyer_letter")
        documents: dict[tuple[int, str], Document] = {}
        if letter_ids:
            for doc in db.session.scalars(sa.select(Document).where(
                    member(Document.case_id, letter_ids),
                    Document.kind.in_(("payment_demand", "lawyer_letter"))).order_by(Document.id)):
                documents[doc.case_id, doc.kind] = doc
        installments: dict[int, list[Installment]] = {i: [] for i in plan_ids}
        if plan_ids:
            for case_id, item in db.session.execute(
                    sa.select(PaymentPlan.case_id, Installment).join(PaymentPlan).where(
                        member(PaymentPlan.case_id, plan_ids), PaymentPlan.status == "active",
                        Installment.paid_amount < Installment.amount)
                    .order_by(Installment.due_date, Installment.id)):
                installments[case_id].append(item)
        return cls(
            lines=by_case(sa.select(ChargeLine).where(member(ChargeLine.case_id, ids))
                          .order_by(ChargeLine.due_date, ChargeLine.id)) if states else {},
            tasks=by_case(sa.select(Task).where(
                member(Task.case_id, ids), Task.status == "open",
                Task.kind.not_in(("overdue_escalation", "task_overdue")))  # no escalating those
                .order_by(Task.id)) if states else {},
            timers=by_case(sa.select(Timer).where(member(Timer.case_id, ids)).order_by(Timer.id)),
            installments=installments,
            disputes=by_case(sa.select(Dispute).where(
                member(Dispute.case_id, dispute_ids), Dispute.status == "open")
                .order_by(Dispute.id), dispute_ids),
            documents=documents)


def wanted(case: DunningCase, now: datetime, records: Records | None = None) -> list[Want]:
    """The timers the case should have, given where it is and what it holds."""
    if not case.is_open:
        return []
    if records is None:
        db.session.flush()
        records = Records.load([case])
    policy = policy_of(case)
    lines = [line for line in records.lines[case.id] if line.balance > 0]
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
        doc = records.documents.get((case.id, kind))
        if doc and doc.delivered_on and doc.deadline:
            add(f"{kind}_deadline", morning(doc.deadline + timedelta(days=1)),
                suffix=f"{doc.id}:{doc.deadline.isoformat()}", document_id=doc.id)
    elif state == "mediation" and first_due:
        due = first_due + timedelta(days=timeline["lawyer_letter"])
        add("legal_action_due", max(morning(cal.next_working_day(due)), since))
    elif state == "payment_plan":
        for item in records.installments[case.id]:
            due = item.due_date + timedelta(days=policy["grace_days"] + 1)
            add("installment_check", morning(due), suffix=f"{item.id}", installment_id=item.id)
    elif state == "disputed":
        for d in records.disputes[case.id]:
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
    for task in records.tasks[case.id]:
        add("task_overdue", task.due_at, ANY_OPEN, suffix=f"{task.id}", task_id=task.id)
    return out


def reschedule(case: DunningCase, now: datetime) -> None:
    """Bring the case's timers in line with `wanted`: add missing, cancel stale."""
    reschedule_many([case], now)


def reschedule_many(cases: list[DunningCase], now: datetime) -> None:
    """`reschedule` for many cases, reading their records in a fixed number of queries."""
    db.session.flush()
    records = Records.load(cases)
    new_rows = []
    for case in cases:
        want = {w.key: w for w in wanted(case, now, records)}
        existing = records.timers[case.id]
        have = {t.key for t in existing}
        for t in existing:
            if t.status in ("pending", "enqueued") and t.key not in want:
                t.status, t.done_at, t.result = "cancelled", now, "no longer applies"
        new_rows.extend(
            dict(case_id=case.id, kind=w.kind, key=key, due_at=w.due_at, status="pending",
                 expected_state=w.expected_state, payload=w.payload, attempts=0, created_at=now)
            for key, w in want.items() if key not in have)
    if new_rows:
        # no objects: nothing in this transaction reads them back
        insert_rows(Timer.__table__, new_rows)


def request(case: DunningCase, now: datetime) -> None:
    """Ask for `reschedule(case)` once, just before the current transaction commits."""
    db.session.info.setdefault("reschedule", {})[case.id] = (case, now)


def run_requested() -> None:
    """Reschedule every case the transaction touched (called by services.uow.transaction)."""
    pending = db.session.info.pop("reschedule", {})
    by_moment: dict[datetime, list[DunningCase]] = {}
    for case, now in pending.values():
        by_moment.setdefault(now, []).append(case)
    for now, cases in by_moment.items():
        reschedule_many(cases, now)


def drop_requested() -> None:
    db.session.info.pop("reschedule", None)
