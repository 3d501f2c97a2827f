"""Staff work around the cases: claiming and finishing tasks, monthly targets, litigation."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa

from workflows.rules import COURT_ROUTES

from .. import audit
from ..extensions import db
from ..models import CollectionTarget, LitigationRecord, StaffUser, Task, money, utcnow
from .access import actor_of, can_see
from .cases import case_to_change
from .errors import Conflict, Forbidden, InvalidInput, NotFound
from .uow import transaction


def _task(task_id: int) -> Task:
    task = db.session.get(Task, task_id)
    if task is None:
        raise NotFound(f"任务 {task_id} 不存在。", f"Task {task_id} does not exist.")
    return task


def claim_task(task_id: int, user: StaffUser, now: datetime | None = None) -> Task:
    """Take an unassigned task of one's role from the team queue, on a case one may see."""
    with transaction():
        task = _task(task_id)
        if task.status != "open" or task.assignee_id is not None:
            raise Conflict("该任务已被他人领取或已完成，请刷新。",
                           "Someone else took or finished this task; reload.")
        if not task.candidate_role or not user.has_role(task.candidate_role) \
                or not can_see(user, task.case):
            raise Forbidden("这个任务不属于您的角色。", "This task is not for your role.")
        task.assignee_id = user.id
    return task


def complete_task(task_id: int, user: StaffUser, note: str = "",
                  now: datetime | None = None) -> Task:
    """Mark one's task done; the case's audit record keeps who did it and when."""
    now = now or utcnow()
    with transaction():
        task = _task(task_id)
        if task.status != "open":
            raise Conflict("该任务已经处理过了，请刷新。", "The task was already handled; reload.")
        mine = task.assignee_id == user.id
        for_role = task.assignee_id is None and task.candidate_role \
            and user.has_role(task.candidate_role)
        if not (mine or for_role) or not can_see(user, task.case):
            raise Forbidden("这个任务不是您的。", "This task is not yours.")
        if task.kind == "outcome_review":
            raise InvalidInput("task_id", "结果评估任务须通过填写评估表完成。",
                               "An outcome review task is done by submitting the review.")
        case = task.case
        task.status, task.done_at, task.done_by_id = "done", now, user.id
        task.note = (note or "").strip() or task.note
        audit.append(case, actor_of(user), "task", "complete_task", payload={
            "task_id": task.id, "task": task.kind, "note": (note or "").strip()}, at=now)
    return task


def month_start(value: date) -> date:
    return value.replace(day=1)


def set_target(collector_id: int, month: date, amount, user: StaffUser,
               now: datetime | None = None) -> CollectionTarget:
    """A supervisor sets a collector's amount to collect in a month (阶段性催缴指标)."""
    now = now or utcnow()
    if not user.has_role("supervisor"):
        raise Forbidden("只有催缴组长可以设定指标。", "Only a supervisor may set targets.")
    try:
        amount = money(amount)
    except Exception as exc:
        raise InvalidInput("amount", "指标金额格式不正确。", "Not an amount.") from exc
    if amount < 0:
        raise InvalidInput("amount", "指标金额不能为负数。", "The target must not be negative.")
    with transaction():
        collector = db.session.get(StaffUser, collector_id)
        if collector is None or not collector.has_role("collector"):
            raise InvalidInput("collector_id", "请选择催费员。", "Choose a collector.")
        first = month_start(month)
        row = db.session.scalars(sa.select(CollectionTarget).where(
            CollectionTarget.collector_id == collector_id,
            CollectionTarget.month == first)).first()
        if row is None:
            row = CollectionTarget(collector_id=collector_id, month=first, amount=amount)
            db.session.add(row)
        row.amount, row.set_by_id, row.updated_at = amount, user.id, now
    return row


LITIGATION_FIELDS = ("court", "court_case_number", "filed_on", "hearing_dates", "judgment_on",
                     "notes")


def _iso(value) -> str | None:
    return value.isoformat() if isinstance(value, date) else value


def update_litigation(case_id: int, user: StaffUser, *, court: str = "",
                      court_case_number: str = "", filed_on: date | None = None,
                      hearing_dates: list[date] | None = None, judgment_on: date | None = None,
                      notes: str = "", expected_version: int | None = None,
                      now: datetime | None = None) -> LitigationRecord:
    """A legal officer records the court's progress; every change is in the audit chain."""
    now = now or utcnow()
    hearings = sorted(set(hearing_dates or []))
    if filed_on and judgment_on and judgment_on < filed_on:
        raise InvalidInput("judgment_on", "判决日期不能早于立案日期。",
                           "The judgment cannot come before the filing.")
    if filed_on and any(h < filed_on for h in hearings):
        raise InvalidInput("hearing_dates", "开庭日期不能早于立案日期。",
                           "A hearing cannot come before the filing.")
    if len(court) > 128 or len(court_case_number) > 64:
        raise InvalidInput("court_case_number", "法院名称或案号过长。",
                           "The court or the case number is too long.")
    with transaction():
        case = case_to_change(case_id, user, expected_version)
        if not user.has_role("legal"):
            raise Forbidden("只有法务人员可以登记诉讼进展。", "Only a legal officer may do this.")
        if case.litigation_route not in COURT_ROUTES:
            raise InvalidInput("case_id", "案件尚未进入司法程序。", "The case is not in court.")
        record = db.session.scalars(sa.select(LitigationRecord).where(
            LitigationRecord.case_id == case.id)).first()
        if record is None:
            record = LitigationRecord(case_id=case.id, route=case.litigation_route,
                                      hearing_dates=[])
            db.session.add(record)
        new = {"court": court.strip(), "court_case_number": court_case_number.strip(),
               "filed_on": filed_on, "hearing_dates": [h.isoformat() for h in hearings],
               "judgment_on": judgment_on, "notes": notes.strip()}
        changes = {k: _iso(v) for k, v in new.items() if _iso(getattr(record, k, None)) != _iso(v)}
        for key, value in new.items():
            setattr(record, key, value)
        record.route, record.updated_at, record.updated_by_id = case.litigation_route, now, user.id
        if changes:
            audit.append(case, actor_of(user), "litigation", "update_litigation",
                         payload={"changes": changes}, at=now)
    return record


__all__ = ["claim_task", "complete_task", "month_start", "set_target", "update_litigation"]
