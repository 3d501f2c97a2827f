"""Outcome reviews (结果评估): when a case ends, its collector records what decided it."""

from __future__ import annotations

from datetime import datetime, time

from ..models import DunningCase
from .clock import SHANGHAI, local_date, working_calendar

REVIEW_KIND = "outcome_review"
REVIEW_WORKING_DAYS = 5


def ask_for_review(case: DunningCase, now: datetime) -> None:
    """A task for the case's collector (or any collector) to review why the case ended so."""
    from .cases import add_task

    due_day = working_calendar().working_days_deadline(local_date(now), REVIEW_WORKING_DAYS)
    due = datetime.combine(due_day, time(18, 0), tzinfo=SHANGHAI)
    add_task(case, REVIEW_KIND, f"结果评估：案件已{_ENDINGS.get(case.state, case.state)}，"
             "请填写成功或失败的原因", due, assignee_id=case.assignee_id, role="collector",
             dedupe_key=f"review-{case.id}-{case.event_seq}", created_at=now)


_ENDINGS = {"paid": "结清", "written_off": "核销", "withdrawn": "撤回"}
