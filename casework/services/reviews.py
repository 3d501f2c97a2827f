"""Outcome reviews (结果评估): when a case ends, its collector records what decided it and the
supervisor confirms it or returns it for another look."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, time
from typing import Any

import sqlalchemy as sa

from workflows.dunning import FINAL_STATES, RESUMABLE

from .. import audit
from ..extensions import db
from ..models import (
    CHANNELS,
    REASON_CLASSES,
    REASON_SUBS,
    TECHNIQUES,
    CaseEvent,
    DunningCase,
    OutcomeReview,
    StaffUser,
    Task,
    utcnow,
)
from .access import actor_of, can_see
from .clock import SHANGHAI, local_date, working_calendar
from .contacts import _choice
from .errors import Conflict, Forbidden, InvalidInput, NotFound
from .uow import transaction

REVIEW_KIND = "outcome_review"
REVIEW_WORKING_DAYS = 5
TEXT_LIMIT = 4000
PASSED_ON_LIMIT = 128


def ask_for_review(case: DunningCase, now: datetime) -> None:
    """A task for the case's collector (or any collector) to review why the case ended so."""
    _review_task(case, f"结果评估：案件已{_ENDINGS.get(case.state, case.state)}，"
                 "请填写成功或失败的原因", f"review-{case.id}-{case.event_seq}", now)


def _review_task(case: DunningCase, title: str, dedupe_key: str, now: datetime) -> Task:
    from .cases import add_task

    due_day = working_calendar().working_days_deadline(local_date(now), REVIEW_WORKING_DAYS)
    due = datetime.combine(due_day, time(18, 0), tzinfo=SHANGHAI)
    return add_task(case, REVIEW_KIND, title[:200], due, assignee_id=case.assignee_id,
                    role="collector", dedupe_key=dedupe_key, created_at=now)


_ENDINGS = {"paid": "结清", "written_off": "核销", "withdrawn": "撤回"}


# -- what the review starts from --------------------------------------------------------------


def closing_seq(case: DunningCase) -> int | None:
    """The audit event that moved the case into its final state (None while it is open)."""
    if case.is_open:
        return None
    return db.session.scalar(sa.select(sa.func.max(CaseEvent.seq)).where(
        CaseEvent.case_id == case.id, CaseEvent.kind == "transition",
        CaseEvent.to_state == case.state))


def visited_stages(case: DunningCase) -> list[str]:
    """The open stages the case went through, in the ladder's order."""
    rows = db.session.execute(sa.select(CaseEvent.from_state, CaseEvent.to_state).where(
        CaseEvent.case_id == case.id)).all()
    seen = {s for pair in rows for s in pair if s and s not in FINAL_STATES}
    return [s for s in RESUMABLE if s in seen] + sorted(seen - set(RESUMABLE))


def furthest_stage(visited: list[str]) -> str:
    """The furthest stage of the main path reached (side stages only if nothing else)."""
    main = [s for s in visited if s in RESUMABLE]
    return (main or visited or ["preparation"])[-1]


def days_to_recover(case: DunningCase) -> int:
    """Calendar days (Shanghai) from opening to closing."""
    closed = case.closed_at or utcnow()
    return (local_date(closed) - local_date(case.opened_at)).days


def review_for(case: DunningCase) -> OutcomeReview | None:
    """The review of the case's (latest) closing, if one was submitted."""
    seq = closing_seq(case)
    if seq is None:
        return None
    return db.session.scalars(sa.select(OutcomeReview).where(
        OutcomeReview.case_id == case.id, OutcomeReview.closing_seq == seq)).first()


def draft(case: DunningCase) -> dict[str, Any]:
    """The values a new review form starts from: computed facts and the case's own reason."""
    visited = visited_stages(case)
    return {"final_state": case.state, "arrears_reason": case.reason_class,
            "arrears_reason_sub": case.reason_sub, "technique_worked": None,
            "channel_worked": None, "techniques_failed": [],
            "stage_reached": furthest_stage(visited), "stages": visited,
            "days_to_recover": days_to_recover(case), "service_problems": "",
            "passed_on_to": "", "note": ""}


# -- validation ---------------------------------------------------------------------------------


def _text(values: Mapping[str, Any], field: str, limit: int = TEXT_LIMIT) -> str:
    value = values.get(field) or ""
    if not isinstance(value, str):
        raise InvalidInput(field, "请填写文字。", "Enter text.")
    value = value.strip()
    if len(value) > limit:
        raise InvalidInput(field, f"内容过长（最多{limit}字）。", f"Too long (at most {limit}).")
    return value


def clean(case: DunningCase, values: Mapping[str, Any]) -> dict[str, Any]:
    """The review's fields from form or JSON values; each refusal names its field."""
    start = draft(case)
    reason = values.get("arrears_reason") or None
    if reason is None:
        raise InvalidInput("arrears_reason", "请选择最终认定的欠费原因。",
                           "Choose the arrears reason as finally understood.")
    _choice("arrears_reason", reason, REASON_CLASSES)
    sub = values.get("arrears_reason_sub") or None
    _choice("arrears_reason_sub", sub, REASON_SUBS, optional=True)
    worked = values.get("technique_worked") or None
    _choice("technique_worked", worked, TECHNIQUES, optional=True)
    channel = values.get("channel_worked") or None
    _choice("channel_worked", channel, CHANNELS, optional=True)
    if case.state == "paid" and channel is None:
        raise InvalidInput("channel_worked", "案件已结清，请选择起作用的联系方式。",
                           "The case was paid: choose the channel that worked.")
    failed = values.get("techniques_failed") or []
    if isinstance(failed, str) or not isinstance(failed, list | tuple):
        raise InvalidInput("techniques_failed", "格式不正确。", "Must be a list.")
    for tag in failed:
        _choice("techniques_failed", tag, TECHNIQUES)
    if worked and worked in failed:
        raise InvalidInput("techniques_failed", "同一技巧不能既有效又无效。",
                           "A technique cannot both have worked and failed.")
    stage = values.get("stage_reached") or start["stage_reached"]
    if stage not in start["stages"]:
        raise InvalidInput("stage_reached", f"案件没有经过“{stage}”阶段。",
                           f"The case never was in stage '{stage}'.")
    problems = _text(values, "service_problems")
    passed_on = _text(values, "passed_on_to", PASSED_ON_LIMIT)
    if sub == "service_quality" and not problems:
        raise InvalidInput("service_problems", "欠费原因是服务质量，请写明发现的服务问题。",
                           "The reason is service quality: describe the problems found.")
    if problems and not passed_on:
        raise InvalidInput("passed_on_to", "请写明服务问题已转交的部门。",
                           "Say which department the service problems were passed on to.")
    return {"final_state": case.state, "arrears_reason": reason, "arrears_reason_sub": sub,
            "technique_worked": worked, "channel_worked": channel,
            "techniques_failed": sorted(set(failed), key=TECHNIQUES.index),
            "stage_reached": stage, "days_to_recover": start["days_to_recover"],
            "service_problems": problems, "passed_on_to": passed_on,
            "note": _text(values, "note")}


# -- use cases ----------------------------------------------------------------------------------


def may_submit(user: StaffUser, case: DunningCase) -> bool:
    """The case's collector, or a supervisor of its community."""
    if not user.active:
        return False
    if user.has_role("collector") and case.assignee_id == user.id:
        return True
    return user.has_role("supervisor") and can_see(user, case)


def submit_review(case_id: int, user: StaffUser, values: Mapping[str, Any],
                  now: datetime | None = None) -> OutcomeReview:
    """The collector (or supervisor) records what decided a closed case; the task is done."""
    now = now or utcnow()
    with transaction():
        case = db.session.get(DunningCase, case_id)
        if case is None:
            raise NotFound(f"案件 {case_id} 不存在。", f"Case {case_id} does not exist.")
        if not may_submit(user, case):
            raise Forbidden("只有本案催费员或催缴组长可以填写结果评估。",
                            "Only the case's collector or a supervisor may review it.")
        if case.is_open:
            raise InvalidInput("case_id", "案件尚未结案，不能做结果评估。",
                               "The case is still open.")
        fields = clean(case, values)
        seq = closing_seq(case)
        review = review_for(case)
        if review is not None and review.status == "confirmed":
            raise Conflict("该结果评估已由组长确认，不能再修改。",
                           "The review was already confirmed.")
        if review is None:
            review = OutcomeReview(case_id=case.id, closing_seq=seq)
            db.session.add(review)
        for key, value in fields.items():
            setattr(review, key, value)
        review.collector_id = case.assignee_id or user.id
        review.submitted_by_id, review.submitted_at = user.id, now
        review.status, review.return_reason = "submitted", None
        review.confirmed_by_id = review.confirmed_at = None
        for task in db.session.scalars(sa.select(Task).where(
                Task.case_id == case.id, Task.kind == REVIEW_KIND, Task.status == "open")):
            task.status, task.done_at, task.done_by_id = "done", now, user.id
        db.session.flush()
        audit.append(case, actor_of(user), "review", "submit_review",
                     payload={"review_id": review.id, "closing_seq": seq, **fields}, at=now)
    return review


def _review_to_decide(review_id: int, user: StaffUser) -> OutcomeReview:
    review = db.session.get(OutcomeReview, review_id)
    if review is None:
        raise NotFound(f"结果评估 {review_id} 不存在。", f"Review {review_id} does not exist.")
    if not (user.active and user.has_role("supervisor") and can_see(user, review.case)):
        raise Forbidden("只有负责该小区的催缴组长可以确认或退回结果评估。",
                        "Only a supervisor of the community may confirm or return a review.")
    if review.status != "submitted":
        raise Conflict("该结果评估已处理过，请刷新。", "The review was already handled; reload.")
    return review


def confirm_review(review_id: int, supervisor: StaffUser,
                   now: datetime | None = None) -> OutcomeReview:
    """The supervisor confirms a submitted review; from then on the reports count it."""
    now = now or utcnow()
    with transaction():
        review = _review_to_decide(review_id, supervisor)
        review.status = "confirmed"
        review.confirmed_by_id, review.confirmed_at = supervisor.id, now
        audit.append(review.case, actor_of(supervisor), "review", "confirm_review",
                     payload={"review_id": review.id}, at=now)
    return review


def return_review(review_id: int, supervisor: StaffUser, reason: str,
                  now: datetime | None = None) -> OutcomeReview:
    """The supervisor sends a review back with a reason; the collector gets the task again."""
    now = now or utcnow()
    reason = (reason or "").strip() if isinstance(reason, str) else ""
    if not reason:
        raise InvalidInput("return_reason", "请填写退回原因。", "Give the reason for returning.")
    if len(reason) > TEXT_LIMIT:
        raise InvalidInput("return_reason", "退回原因过长。", "The reason is too long.")
    with transaction():
        review = _review_to_decide(review_id, supervisor)
        case = review.case
        review.status, review.return_reason = "returned", reason
        ev = audit.append(case, actor_of(supervisor), "review", "return_review",
                          payload={"review_id": review.id, "reason": reason}, at=now)
        _review_task(case, f"结果评估被退回，请修改：{reason}",
                     f"review-{case.id}-{review.closing_seq}-returned-{ev.seq}", now)
    return review


def awaiting_confirmation(user: StaffUser) -> list[OutcomeReview]:
    """Submitted reviews on the cases of the supervisor's communities, oldest first."""
    from .access import visible_cases

    return list(db.session.scalars(
        sa.select(OutcomeReview).join(DunningCase, DunningCase.id == OutcomeReview.case_id)
        .where(OutcomeReview.status == "submitted", visible_cases(user))
        .order_by(OutcomeReview.submitted_at, OutcomeReview.id)
        .options(sa.orm.contains_eager(OutcomeReview.case))))


__all__ = ["REVIEW_KIND", "ask_for_review", "awaiting_confirmation", "closing_seq",
           "confirm_review", "days_to_recover", "draft", "may_submit", "return_review",
           "review_for", "submit_review"]
