"""What each workflow event does to the case's records, inside the same transaction.

Each effect returns the payload stored in the audit event of the transition.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa

from workflows.facts import Actor, CaseFacts

from ..extensions import db
from ..models import ChargeLine, Dispute, Document, DunningCase, Installment, PaymentPlan, Task
from ..policy import of_case as policy_of
from . import limitation
from .clock import working_calendar
from .errors import InvalidInput
from .facts import current_document, open_lines

Effect = Callable[[DunningCase, CaseFacts, Actor, dict, datetime], dict[str, Any]]


def _policy(case: DunningCase) -> dict[str, Any]:
    return policy_of(case)


def _document(case: DunningCase, kind: str, lines: list[ChargeLine], amount: Decimal,
              actor: Actor, now: datetime, deadline: date | None = None) -> Document:
    doc = Document(case_id=case.id, kind=kind, event_seq=case.event_seq + 1, created_at=now,
                   charge_line_ids=[line.id for line in lines], amount=amount,
                   deadline=deadline, approved_by_id=actor.id if "legal" in actor.roles else None)
    db.session.add(doc)
    from ..letters import render_after_commit  # a worker renders it once this commits

    render_after_commit(doc)
    return doc


def issue_demand(case, facts, actor, params, now):
    """The 催缴通知书 lists every unpaid period; its printed deadline allows for the post."""
    policy = _policy(case)
    lines = open_lines(case)
    printed = working_calendar().deadline_after(
        facts.today + timedelta(days=policy["demand_mail_days"]), policy["demand_deadline_days"])
    doc = _document(case, "payment_demand", lines, facts.outstanding, actor, now, printed)
    return {"document": "payment_demand", "charge_line_ids": doc.charge_line_ids,
            "amount": facts.outstanding, "deadline": printed}


def _date_param(params: dict, key: str, default: date) -> date:
    value = params.get(key) or default
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value)
        except ValueError as exc:
            raise InvalidInput(key, f"日期格式不正确：{value}", f"Not a date: {value}") from exc
    if not isinstance(value, date):
        raise InvalidInput(key, "日期格式不正确。", "Not a date.")
    return value


_GRADE_RANK = {"A": 0, "B": 1, "C": 2}


def record_delivery(case, facts, actor, params, now):
    """Proof that a letter arrived; grade A/B interrupts the clock of every period it lists."""
    kind = "payment_demand" if case.state == "formal_demand" else "lawyer_letter"
    doc = current_document(case, kind)
    if doc is None:
        raise InvalidInput("document", "没有可登记送达的文书。", "There is no letter to deliver.")
    delivered = _date_param(params, "delivered_on", facts.today)
    if delivered > facts.today or delivered < doc.created_at.date() - timedelta(days=1):
        raise InvalidInput("delivered_on", "送达日期不能晚于今天，也不能早于文书生成日期。",
                           "The delivery date must lie between the letter's date and today.")
    grade = params["grade"]
    tracking, label = params.get("tracking_no"), params.get("contents_label")
    if grade == "A" and tracking and not label:
        raise InvalidInput("contents_label", "EMS邮寄须登记内件品名（如“物业费催缴通知书”）。",
                           "An EMS delivery needs the contents label (内件品名).")
    policy, cal = _policy(case), working_calendar()
    # A weaker proof never erases a better one.
    if _GRADE_RANK[grade] <= _GRADE_RANK.get(doc.grade, 9):
        doc.delivered_on, doc.grade = delivered, grade
        doc.proof_ref = params.get("proof_ref") or doc.proof_ref
    doc.tracking_no, doc.contents_label = tracking or doc.tracking_no, label or doc.contents_label
    doc.dispatch_channel = params.get("channel") or doc.dispatch_channel
    days = policy["demand_deadline_days"] if kind == "payment_demand" else \
        policy["letter_deadline_days"]
    earliest = cal.deadline_after(doc.delivered_on, days)
    doc.deadline = max(doc.deadline, earliest) if doc.deadline else earliest
    reset: list[int] = []
    if grade in ("A", "B"):
        lines = db.session.scalars(sa.select(ChargeLine).where(
            ChargeLine.id.in_(doc.charge_line_ids))).all()
        reset = limitation.reset(lines, delivered)
    return {"document": kind, "document_id": doc.id, "grade": grade, "delivered_on": delivered,
            "kept_grade": doc.grade, "deadline": doc.deadline,
            "weak_evidence": grade not in ("A", "B"), "limitation_reset": reset}


def request_legal_action(case, facts, actor, params, now):
    case.legal_requested_by_id = actor.id
    task = Task(case_id=case.id, kind="legal_review", title="审核法律行动申请",
                candidate_role="legal", due_at=now + timedelta(days=2), priority=2)
    db.session.add(task)
    return {"requested_by": actor.id, "outstanding": facts.outstanding}


def _close_tasks(case: DunningCase, kind: str, actor: Actor, now: datetime) -> None:
    for task in db.session.scalars(sa.select(Task).where(
            Task.case_id == case.id, Task.kind == kind, Task.status == "open")):
        task.status, task.done_at, task.done_by_id = "done", now, actor.id


def approve_lawyer_letter(case, facts, actor, params, now):
    _close_tasks(case, "legal_review", actor, now)
    lines = open_lines(case)
    _document(case, "lawyer_letter", lines, facts.outstanding, actor, now)
    return {"document": "lawyer_letter", "requested_by": case.legal_requested_by_id,
            "approved_by": actor.id, "amount": facts.outstanding}


def reject_legal_action(case, facts, actor, params, now):
    _close_tasks(case, "legal_review", actor, now)
    requester, case.legal_requested_by_id = case.legal_requested_by_id, None
    return {"requested_by": requester}


def file_claim(case, facts, actor, params, now):
    """Only periods within limitation are claimed; time-barred ones are listed apart."""
    lines = open_lines(case)
    claimed = [line for line in lines if not line.time_barred(facts.today)]
    barred = [line for line in lines if line.time_barred(facts.today)]
    case.litigation_route = params["route"]
    draft = "payment_order_application" if params["route"] == "payment_order" else "complaint"
    for kind in ("evidence_list", draft):
        _document(case, kind, claimed, facts.claimable, actor, now)
    return {"route": params["route"], "court": params.get("court"),
            "claimed_line_ids": [line.id for line in claimed], "claimed": facts.claimable,
            "time_barred_line_ids": [line.id for line in barred]}


def promise_payment(case, facts, actor, params, now):
    """A plan is the owner's acknowledgment: it interrupts every listed period (LIM 14)."""
    items = params["installments"]
    plan = PaymentPlan(case_id=case.id, total=facts.outstanding, created_by_id=actor.id,
                       grace_days=_policy(case)["grace_days"], created_at=now)
    plan.installments = [Installment(seq=i + 1, due_date=item["due_date"],
                                     amount=Decimal(str(item["amount"])))
                         for i, item in enumerate(items)]
    db.session.add(plan)
    lines = open_lines(case)
    reset = limitation.reset(lines, facts.today, revive=True)  # the owner's own promise
    _document(case, "installment_agreement", lines, facts.outstanding, actor, now)
    return {"installments": [{"due_date": i["due_date"], "amount": Decimal(str(i["amount"]))}
                             for i in items], "total": facts.outstanding,
            "limitation_reset": reset}


def _active_plans(case: DunningCase):
    return db.session.scalars(sa.select(PaymentPlan).where(
        PaymentPlan.case_id == case.id, PaymentPlan.status == "active"))


def break_plan(case, facts, actor, params, now):
    ids = []
    for plan in _active_plans(case):
        plan.status = "broken"
        ids.append(plan.id)
    return {"plan_ids": ids}


def raise_dispute(case, facts, actor, params, now):
    """A dispute pauses escalation; a billing dispute freezes the lines it names."""
    policy, cal = _policy(case), working_calendar()
    line_ids = [int(i) for i in params.get("charge_line_ids") or []]
    known = {line.id for line in case.charge_lines}
    if not set(line_ids) <= known:
        raise InvalidInput("charge_line_ids", "异议涉及的欠费记录不属于本案件。",
                           "The disputed charge lines are not in this case.")
    dispute = Dispute(
        case_id=case.id, category=params["category"], note=params["note"].strip(),
        charge_line_ids=line_ids, ticket_ref=params.get("ticket_ref"), opened_at=now,
        opened_by_id=actor.id,
        acknowledge_by=cal.working_days_deadline(facts.today, policy["dispute_ack_working_days"]),
        answer_by=cal.working_days_deadline(facts.today, policy["dispute_answer_working_days"]))
    db.session.add(dispute)
    if params["category"] == "billing":
        for line in case.charge_lines:
            if line.id in line_ids:
                line.frozen = True
    return {"category": params["category"], "charge_line_ids": line_ids,
            "acknowledge_by": dispute.acknowledge_by, "answer_by": dispute.answer_by}


def resolve_dispute(case, facts, actor, params, now):
    """Upheld, reduced with a credit, or waived; credits come off the disputed periods first."""
    outcome = params["outcome"]
    disputes = db.session.scalars(sa.select(Dispute).where(
        Dispute.case_id == case.id, Dispute.status == "open")).all()
    named = {i for d in disputes for i in d.charge_line_ids}
    lines = [line for line in open_lines(case) if not named or line.id in named]
    available = sum((line.balance for line in lines), Decimal("0.00"))
    if outcome == "reduced":
        try:
            credit = Decimal(str(params.get("credit_amount", ""))).quantize(Decimal("0.01"))
        except InvalidOperation as exc:
            raise InvalidInput("credit_amount", "请填写减免金额。", "Enter the credit.") from exc
        if credit <= 0 or credit > available:
            raise InvalidInput("credit_amount", f"减免金额须大于0且不超过 {available} 元。",
                               f"The credit must be above 0 and at most {available}.")
    else:
        credit = available if outcome == "waived" else Decimal("0.00")
    remaining = credit
    for line in lines:
        part = min(line.balance, remaining)
        line.credit += part
        remaining -= part
    for line in case.charge_lines:
        line.frozen = False
    for dispute in disputes:
        dispute.status, dispute.outcome, dispute.resolved_at = "resolved", outcome, now
        dispute.credit_amount = credit
    return {"outcome": outcome, "credit": credit, "dispute_ids": [d.id for d in disputes]}


def settle(case, facts, actor, params, now):
    """The golden 72 hours (黄金72小时): visit the owner after the debt is cleared."""
    for plan in _active_plans(case):
        plan.status = "kept"
    hours = _policy(case)["after_payment_visit_hours"]
    db.session.add(Task(case_id=case.id, kind="after_payment_visit", title="缴费后72小时回访",
                        assignee_id=case.assignee_id, candidate_role="collector",
                        due_at=now + timedelta(hours=hours), priority=1,
                        dedupe_key=f"after-payment-{case.id}-{case.event_seq + 1}"))
    return {}


def close_plans(case, facts, actor, params, now):
    for plan in _active_plans(case):
        plan.status = "cancelled"
    return {"outstanding": facts.outstanding}


EFFECTS: dict[str, Effect] = {
    "issue_demand": issue_demand,
    "record_delivery": record_delivery,
    "request_legal_action": request_legal_action,
    "approve_lawyer_letter": approve_lawyer_letter,
    "reject_legal_action": reject_legal_action,
    "file_claim": file_claim,
    "promise_payment": promise_payment,
    "break_plan": break_plan,
    "raise_dispute": raise_dispute,
    "resolve_dispute": resolve_dispute,
    "settle": settle,
    "write_off": close_plans,
    "withdraw": close_plans,
}
