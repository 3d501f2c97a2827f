"""Firing due timers: each job re-checks the case's stage and does nothing if it moved on."""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from datetime import datetime, timedelta

import sqlalchemy as sa
import sqlalchemy.orm as so
from sqlalchemy.orm.attributes import set_committed_value

from workflows.errors import WorkflowError
from workflows.facts import SYSTEM

from .. import audit
from ..extensions import db
from ..models import ChargeLine, Debtor, DunningCase, Task, Timer
from . import schedule
from .bulk import member, write_versioned
from .cases import add_task, fire_in_transaction
from .effects import EFFECTS
from .facts import gather, prefetched
from .messages import queue_message, reminder_text
from .schedule import ANY_OPEN
from .uow import transaction

log = logging.getLogger("casework.timers")
MAX_ATTEMPTS = 3


def _task(case: DunningCase, timer: Timer, title: str, *, role: str | None = None,
          mine: bool = True, priority: int = 1, due_in: timedelta = timedelta(days=1)) -> str:
    # due from the moment the timer fired (done_at), not from a due time long past
    start = max(timer.due_at, timer.done_at or timer.due_at)
    add_task(case, timer.kind, title, start + due_in,
             assignee_id=case.assignee_id if mine else None, role=role, priority=priority,
             dedupe_key=f"timer-{timer.id}")
    return f"task: {title}"


def _auto(event: str, fallback: str) -> Callable[[DunningCase, Timer, datetime], str]:
    """Fire `event` as the system; if a rule refuses it, a person gets a task saying why."""

    # A refused event changes nothing before its guards fail, unless an effect runs first:
    # only then is a savepoint (a flush and two round trips per case) worth its cost.
    guard = db.session.begin_nested if event in EFFECTS else nullcontext

    def action(case: DunningCase, timer: Timer, now: datetime) -> str:
        facts = gather(case, now)
        try:
            with guard():
                fire_in_transaction(case, event, SYSTEM, {}, now, facts=facts)
        except WorkflowError as exc:
            return _task(case, timer, f"{fallback}：{exc.message}", role="collector")
        if event == "start_outreach":  # the amount owed is the same before and after
            # the key is this timer's, and the timer was claimed in this transaction
            queue_message(case, "sms", reminder_text(case, facts.outstanding),
                          f"reminder-{case.id}-{timer.id}", now, key_is_new=True)
        return f"fired {event}"

    return action


def installment_check(case: DunningCase, timer: Timer, now: datetime) -> str:
    if not gather(case, now).plan_in_default:
        return "installment kept"
    fire_in_transaction(case, "break_plan", SYSTEM, {}, now)
    return "fired break_plan"


def limitation_alert(case: DunningCase, timer: Timer, now: datetime) -> str:
    line = db.session.get(ChargeLine, timer.payload["charge_line_id"])
    if line is None or line.balance <= 0 or \
            line.limitation_expiry.isoformat() not in timer.key:
        return "skipped: period paid or clock reset"
    days = timer.payload["days_before"]
    if days <= 90:
        title = (f"诉讼时效90天内届满（{line.period_label}，{line.limitation_expiry}）："
                 "须起诉/申请支付令，或书面记录放弃理由")
    else:
        title = (f"诉讼时效180天内届满（{line.period_label}，{line.limitation_expiry}）："
                 "请发送可证明送达的书面催告")
    return _task(case, timer, title, role="legal", mine=False, priority=3)


def task_overdue(case: DunningCase, timer: Timer, now: datetime) -> str:
    task = db.session.get(Task, timer.payload["task_id"])
    if task is None or task.status != "open":
        return "skipped: task closed"
    return _task(case, timer, f"逾期任务：{task.title}", role="supervisor", mine=False,
                 priority=2)


ACTIONS: dict[str, Callable[[DunningCase, Timer, datetime], str]] = {
    "start_outreach": _auto("start_outreach", "无法自动开始催收"),
    "escalate_follow_up": _auto("escalate_follow_up", "无法自动转入跟进"),
    "installment_check": installment_check,
    "demand_due": lambda c, t, n: _task(c, t, "发出书面催告（催缴通知书）", role="collector"),
    "payment_demand_deadline": lambda c, t, n: _task(
        c, t, "催告期限已届满：回访业主，决定提交调解或申请法律行动", role="collector"),
    "legal_action_due": lambda c, t, n: _task(c, t, "调解期已满：考虑申请法律行动",
                                              role="collector"),
    "lawyer_letter_deadline": lambda c, t, n: _task(
        c, t, "律师函期限届满：选择司法途径（支付令、诉前调解、小额诉讼或起诉）", role="legal",
        mine=False, priority=2),
    "dispute_acknowledge_sla": lambda c, t, n: _task(c, t, "异议超过2个工作日未受理",
                                                     role="supervisor", mine=False, priority=2),
    "dispute_answer_sla": lambda c, t, n: _task(c, t, "异议超过15个工作日未答复",
                                                role="supervisor", mine=False, priority=2),
    "limitation_alert": limitation_alert,
    "task_overdue": task_overdue,
}


def run_timer(timer_id: int, now: datetime) -> str:
    """Run one timer in its own transaction; a second run (or a moved case) changes nothing."""
    try:
        with transaction():
            # Lock the case first (as the services do: case row, then its timers), so that a
            # job never reschedules from a stage another worker is changing this moment.
            case_id = db.session.scalar(sa.select(Timer.case_id).where(Timer.id == timer_id))
            if case_id is None:
                return "already handled"
            db.session.execute(sa.select(DunningCase.id).where(DunningCase.id == case_id)
                               .with_for_update())
            claimed = db.session.execute(
                sa.update(Timer).where(Timer.id == timer_id,
                                       Timer.status.in_(("pending", "enqueued")))
                .values(status="fired", done_at=now, attempts=Timer.attempts + 1)).rowcount
            if claimed != 1:
                return "already handled"
            timer = db.session.get(Timer, timer_id)
            case = db.session.get(DunningCase, case_id, populate_existing=True)
            expected = timer.expected_state
            if not case.is_open or (expected != ANY_OPEN and case.state != expected):
                timer.status, timer.result = "skipped", f"case is in {case.state}"
                return timer.result
            timer.result = ACTIONS[timer.kind](case, timer, now)[:200]
            schedule.request(case, now)
            return timer.result
    except Exception as exc:  # one broken case must not block the rest
        log.exception("timer %s failed", timer_id)
        _record_failure(timer_id, exc)
        return f"failed: {exc.__class__.__name__}"


def run_batch(timer_ids: list[int], now: datetime) -> dict[str, int] | None:
    """Run a batch of timers in one transaction, their cases' records loaded in bulk.

    The fast path for a busy morning: a handful of statements for the whole batch instead of
    about twenty per timer. Any error rolls the whole batch back and returns None; the caller
    then runs the timers one by one (`run_timer`), so a broken case is still skipped alone.
    """
    try:
        with _cyclic_gc_paused(), transaction():
            return _run_batch(timer_ids, now)
    except Exception as exc:  # noqa: BLE001  the one-by-one path will log the culprit
        log.warning("batch of %d timers failed (%s: %s); running them one by one",
                    len(timer_ids), exc.__class__.__name__, exc)
        return None


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a batch runs: its objects live until it ends, and
    collecting meanwhile walks them again and again (~200 times for 1,000 timers, 5% of the
    job). What cycles it leaves are collected once it is over."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _run_batch(timer_ids: list[int], now: datetime) -> dict[str, int]:
    outcome: dict[str, int] = {}

    def count(result: str, n: int = 1) -> None:
        if n:
            key = result.split(":")[0]
            outcome[key] = outcome.get(key, 0) + n

    case_ids = db.session.scalars(sa.select(Timer.case_id).distinct()
                                  .where(member(Timer.id, timer_ids))).all()
    # Lock the cases first, in id order (as the services do: case row, then its timers).
    case_ids = db.session.scalars(
        sa.select(DunningCase.id).where(member(DunningCase.id, case_ids))
        .order_by(DunningCase.id).with_for_update()).all()
    claimed = set(db.session.scalars(
        sa.update(Timer).where(member(Timer.id, timer_ids),
                               Timer.status.in_(("pending", "enqueued")))
        .values(status="fired", done_at=now, attempts=Timer.attempts + 1)
        .returning(Timer.id).execution_options(synchronize_session=False)))
    count("already handled", len(timer_ids) - len(claimed))
    if not claimed:
        return outcome
    cases = db.session.scalars(
        sa.select(DunningCase).where(member(DunningCase.id, case_ids))
        .options(so.selectinload(DunningCase.policy),
                 so.selectinload(DunningCase.debtor).selectinload(Debtor.channels))
        .execution_options(populate_existing=True)).all()
    by_id = {case.id: case for case in cases}
    timers = db.session.scalars(
        sa.select(Timer).where(member(Timer.id, claimed)).order_by(Timer.due_at, Timer.id)
        .execution_options(populate_existing=True)).all()
    # what the actions look up by id, loaded at once and held here (the session's identity
    # map keeps rows only while something refers to them)
    held = _load_referenced(timers, ChargeLine, "charge_line_id") + \
        _load_referenced(timers, Task, "task_id")
    done: list[dict] = []
    with prefetched(cases, now), db.session.no_autoflush, audit.written_together():
        for timer in timers:
            case = by_id[timer.case_id]
            expected = timer.expected_state
            if not case.is_open or (expected != ANY_OPEN and case.state != expected):
                status, result = "skipped", f"case is in {case.state}"
            else:
                status, result = "fired", ACTIONS[timer.kind](case, timer, now)[:200]
                schedule.request(case, now)
            done.append({"b_id": timer.id, "b_status": status, "b_result": result})
            count(result)
    _write_outcomes(timers, done)
    write_versioned(cases)  # one executemany instead of an UPDATE per case
    del held
    return outcome


def _write_outcomes(timers: list[Timer], done: list[dict]) -> None:
    """Each timer's status and result in one executemany (the unit of work would diff every
    timer object to find the same two columns), kept on the loaded objects as committed."""
    if not done:
        return
    table = Timer.__table__
    db.session.connection().execute(
        table.update().where(table.c.id == sa.bindparam("b_id"))
        .values(status=sa.bindparam("b_status"), result=sa.bindparam("b_result")), done)
    for timer, row in zip(timers, done, strict=True):
        set_committed_value(timer, "status", row["b_status"])
        set_committed_value(timer, "result", row["b_result"])


def _load_referenced(timers: list[Timer], model: type, key: str) -> list:
    ids = {t.payload[key] for t in timers if isinstance(t.payload, dict) and key in t.payload}
    if not ids:
        return []
    return list(db.session.scalars(sa.select(model).where(member(model.id, ids))))


def _record_failure(timer_id: int, exc: Exception) -> None:
    with transaction():
        timer = db.session.get(Timer, timer_id)
        if timer is None:
            return
        timer.attempts += 1
        timer.status = "failed" if timer.attempts >= MAX_ATTEMPTS else "pending"
        timer.result = f"{exc.__class__.__name__}: {exc}"[:200]


def due_timer_ids(now: datetime, limit: int, stale_after: timedelta = timedelta(minutes=15)):
    """Claimable timers: due and pending, or enqueued long ago and never run (a lost job)."""
    query = (sa.select(Timer.id).where(
        Timer.due_at <= now,
        sa.or_(Timer.status == "pending",
               sa.and_(Timer.status == "enqueued", Timer.enqueued_at < now - stale_after))))
    query = query.order_by(Timer.due_at, Timer.id).limit(limit)
    if db.engine.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(db.session.scalars(query))
