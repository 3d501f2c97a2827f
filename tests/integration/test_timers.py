"""Durable timers end to end, without Redis: `sweep(now, inline=True)` runs the due work here.

SQLite by default; CASEWORK_TEST_DB=postgresql runs the same tests on PostgreSQL (where the
sweep claims rows FOR UPDATE SKIP LOCKED). The clock only moves by passing `now`.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from casework import audit, jobs, services
from casework.extensions import db
from casework.models import (
    CaseEvent,
    ContactAttempt,
    Document,
    DunningCase,
    OutboxMessage,
    PaymentPlan,
    Task,
    Timer,
)
from casework.sweep import sweep
from tests import factories

SHANGHAI = ZoneInfo("Asia/Shanghai")
_serial = iter(range(1, 10**6))


def sh(year: int, month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    """A wall-clock moment in Shanghai as an aware UTC datetime."""
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


def new_case(estate, now: datetime, *, community=None, year: int = 2024, months=range(1, 7),
             **debtor_kw) -> DunningCase:
    """Another debtor with their own unit and unpaid months, in a case opened at `now`."""
    n = next(_serial)
    c = community or estate.community
    u = factories.unit(c, building=f"T{n}栋", number=f"{n:03d}")
    d = factories.debtor(name=f"业主{n}", phone=f"1390000{n:04d}", **debtor_kw)
    ids = factories.monthly_lines(u, d, year=year, months=months)
    db.session.commit()
    return services.open_case(d.id, c.id, ids, estate.supervisor,
                              assignee_id=estate.collector.id, now=now)


def count(model, *where) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def transitions(case_id: int, name: str | None = None) -> list[CaseEvent]:
    query = sa.select(CaseEvent).where(CaseEvent.case_id == case_id,
                                       CaseEvent.kind == "transition").order_by(CaseEvent.seq)
    if name:
        query = query.where(CaseEvent.name == name)
    return list(db.session.scalars(query))


def timers(case_id: int, kind: str) -> list[Timer]:
    return list(db.session.scalars(sa.select(Timer).where(
        Timer.case_id == case_id, Timer.kind == kind).order_by(Timer.id)))


def tasks(case_id: int, kind: str) -> list[Task]:
    return list(db.session.scalars(sa.select(Task).where(
        Task.case_id == case_id, Task.kind == kind).order_by(Task.id)))


def messages(case_id: int) -> list[OutboxMessage]:
    return list(db.session.scalars(sa.select(OutboxMessage).where(
        OutboxMessage.case_id == case_id).order_by(OutboxMessage.id)))


def state(case_id: int) -> str:
    return db.session.scalar(sa.select(DunningCase.state).where(DunningCase.id == case_id))


def chain_intact() -> None:
    checked, broken = audit.verify_all()
    assert checked > 0
    assert broken == []


def snapshot() -> dict[str, int]:
    """Everything a timer may create, counted."""
    return {"events": count(CaseEvent), "transitions": count(CaseEvent,
                                                             CaseEvent.kind == "transition"),
            "tasks": count(Task), "messages": count(OutboxMessage),
            "contacts": count(ContactAttempt),
            "sent": count(OutboxMessage, OutboxMessage.status == "sent")}


# -- the happy path ---------------------------------------------------------------------------


def test_an_opened_case_gets_a_start_outreach_timer_that_fires_at_its_moment(estate, now):
    case_id = estate.case.id
    [timer] = timers(case_id, "start_outreach")
    assert (timer.status, timer.expected_state) == ("pending", "preparation")
    assert timer.due_at == now  # the first reminder (+5 days) lies long behind: due at once

    sweep(now - timedelta(minutes=1), inline=True)
    assert state(case_id) == "preparation"
    assert timers(case_id, "start_outreach")[0].status == "pending"

    result = sweep(now, inline=True)
    assert result.errors == []
    assert state(case_id) == "first_reminder"
    [event] = transitions(case_id, "start_outreach")
    assert (event.from_state, event.to_state, event.actor_role) == (
        "preparation", "first_reminder", "system")
    assert timers(case_id, "start_outreach")[0].status == "fired"
    [sms] = messages(case_id)
    assert (sms.channel, sms.recipient) == ("sms", "13800138000")
    assert "1611.00" in sms.body and "张三" in sms.body
    # 10:00 on a Monday is inside the SMS window: the same sweep sent it
    assert (sms.status, sms.sent_at) == ("sent", now)
    # and the next step is scheduled: follow-up 7 days after the stage began
    [follow] = timers(case_id, "escalate_follow_up")
    assert (follow.status, follow.due_at) == ("pending", now + timedelta(days=7))
    chain_intact()


def test_follow_up_fires_seven_days_after_the_first_reminder(estate, now):
    case_id = estate.case.id
    sweep(now, inline=True)
    assert state(case_id) == "first_reminder"

    sweep(now + timedelta(days=7, minutes=-1), inline=True)
    assert state(case_id) == "first_reminder"

    sweep(now + timedelta(days=7), inline=True)
    assert state(case_id) == "follow_up"
    [event] = transitions(case_id, "escalate_follow_up")
    assert (event.from_state, event.to_state, event.actor_role) == (
        "first_reminder", "follow_up", "system")
    assert event.at == now + timedelta(days=7)
    assert [t.status for t in timers(case_id, "escalate_follow_up")] == ["fired"]
    chain_intact()


# -- a case that moved on ---------------------------------------------------------------------


class RecordingQueue:
    """Stands in for rq.Queue: remembers what the sweep handed over, runs nothing."""

    def __init__(self) -> None:
        self.jobs: list[tuple] = []

    def enqueue(self, func, *args, job_id=None, **kw):
        self.jobs.append((func, args, job_id))


def test_a_timer_whose_case_was_moved_by_hand_changes_nothing(estate, now):
    case_id = estate.case.id
    queue = RecordingQueue()
    sweep(now, queue=queue)  # claimed and handed to RQ, not yet run
    [timer] = timers(case_id, "start_outreach")
    assert timer.status == "enqueued"

    services.fire_event(case_id, "start_outreach", estate.collector, now=now)
    assert timers(case_id, "start_outreach")[0].status == "cancelled"

    for func, args, _ in queue.jobs:  # the worker runs the batch late
        if func is jobs.run_timers:
            jobs.run_timers_here(args[0], datetime.fromisoformat(args[1]))
    assert timers(case_id, "start_outreach")[0].status == "cancelled"
    assert len(transitions(case_id, "start_outreach")) == 1  # the collector's, nothing else
    assert transitions(case_id, "start_outreach")[0].actor_role == "collector"
    assert messages(case_id) == []
    chain_intact()


def test_a_timer_finding_its_case_in_another_stage_is_skipped(estate, now):
    case_id = new_case(estate, now, year=2025).id  # its only due timer: start_outreach
    # Another writer moved the case and the timer did not hear of it (a race the job must
    # survive): the stored stage is not the one the timer expects.
    db.session.execute(sa.update(DunningCase).where(DunningCase.id == case_id)
                       .values(state="follow_up"))
    db.session.commit()
    before = len(transitions(case_id))

    sweep(now, inline=True)

    [timer] = timers(case_id, "start_outreach")
    assert timer.status == "skipped"
    assert timer.result == "case is in follow_up"
    assert state(case_id) == "follow_up"
    assert len(transitions(case_id)) == before
    assert messages(case_id) == []


# -- limitation alerts ------------------------------------------------------------------------


def test_limitation_alerts_make_one_legal_task_at_180_and_one_at_90_days(estate, now):
    # one period due 2025-01-28: its claim expires 2028-01-28
    case = new_case(estate, now, year=2025, months=[1])
    expiry = date(2028, 1, 28)
    at_180 = sh(2027, 8, 1, 9)  # 09:00 on expiry - 180 days
    at_90 = sh(2027, 10, 30, 9)
    alerts = timers(case.id, "limitation_alert")
    assert sorted(t.due_at for t in alerts) == [at_180, at_90]

    sweep(at_180 - timedelta(minutes=1), inline=True)
    assert tasks(case.id, "limitation_alert") == []

    sweep(at_180, inline=True)
    sweep(at_180, inline=True)
    sweep(at_180 + timedelta(hours=3), inline=True)
    [first] = tasks(case.id, "limitation_alert")
    assert first.candidate_role == "legal" and first.assignee_id is None
    assert "180天" in first.title and str(expiry) in first.title and "2025年01月" in first.title

    sweep(at_90, inline=True)
    sweep(at_90, inline=True)
    later = tasks(case.id, "limitation_alert")
    assert len(later) == 2
    assert later[0].id == first.id
    assert "90天" in later[1].title and later[1].candidate_role == "legal"
    assert [t.status for t in timers(case.id, "limitation_alert")] == ["fired", "fired"]
    chain_intact()


def test_a_late_timer_gives_its_task_a_fresh_due_time_and_escalations_do_not_escalate(
        estate, now):
    """The estate case opens long after the 180-day marks of its oldest periods: their
    alerts fire at once, and the legal task is due from now, not overdue at birth."""
    case_id = estate.case.id
    sweep(now, inline=True)
    alerts = tasks(case_id, "limitation_alert")
    assert alerts, "the January-April 2024 periods are inside 180 days of expiry"
    assert all(t.due_at > now for t in alerts)

    sweep(now + timedelta(hours=1), inline=True)
    assert tasks(case_id, "task_overdue") == []  # nobody has had a chance to miss them yet

    # a day and a half later the legal officers have done nothing: one escalation each
    sweep(now + timedelta(days=1, hours=12), inline=True)
    escalations = tasks(case_id, "task_overdue")
    assert len(escalations) == len(alerts)
    assert {t.candidate_role for t in escalations} == {"supervisor"}

    # weeks later: one escalation per neglected task, and escalations are not escalated
    last = now + timedelta(days=30)
    for day in (3, 7, 14, 30):
        sweep(now + timedelta(days=day), inline=True)
    everything = list(db.session.scalars(sa.select(Task).where(Task.case_id == case_id)))
    neglected = [t for t in everything if t.kind != "task_overdue" and t.due_at <= last]
    escalated = [t.title for t in everything if t.kind == "task_overdue"]
    assert sorted(escalated) == sorted(f"逾期任务：{t.title}" for t in neglected)
    assert not [t for t in timers(case_id, "task_overdue")
                if db.session.get(Task, t.payload["task_id"]).kind == "task_overdue"]


# -- installment plans ------------------------------------------------------------------------


def test_a_missed_installment_breaks_the_plan_back_to_the_stage_it_left(estate, now):
    case_id = estate.case.id
    sweep(now, inline=True)
    assert state(case_id) == "first_reminder"
    plan = [{"due_date": "2026-12-01", "amount": "805.50"},
            {"due_date": "2027-01-01", "amount": "805.50"}]
    services.fire_event(case_id, "promise_payment", estate.collector,
                        {"installments": plan}, now=now + timedelta(hours=1))
    assert state(case_id) == "payment_plan"
    checks = timers(case_id, "installment_check")
    assert sorted(t.due_at for t in checks) == [sh(2026, 12, 9, 9), sh(2027, 1, 9, 9)]

    sweep(sh(2026, 12, 8, 18), inline=True)  # 7 days late: inside the grace days
    assert state(case_id) == "payment_plan"

    sweep(sh(2026, 12, 9, 9), inline=True)  # 8 days late: more than the grace days
    assert state(case_id) == "first_reminder"
    [event] = transitions(case_id, "break_plan")
    assert (event.from_state, event.to_state, event.actor_role) == (
        "payment_plan", "first_reminder", "system")
    assert db.session.scalar(sa.select(PaymentPlan.status).where(
        PaymentPlan.case_id == case_id)) == "broken"
    # the January check no longer applies, and the old stage's follow-up starts anew
    assert [t.status for t in timers(case_id, "installment_check")] == ["fired", "cancelled"]
    assert timers(case_id, "escalate_follow_up")[-1].due_at == sh(2026, 12, 16, 9)
    chain_intact()


def test_a_paid_installment_keeps_the_plan(estate, now):
    case_id = estate.case.id
    plan = [{"due_date": "2026-12-01", "amount": "805.50"},
            {"due_date": "2027-01-01", "amount": "805.50"}]
    services.fire_event(case_id, "promise_payment", estate.collector,
                        {"installments": plan}, now=now)
    services.record_payment(case_id, Decimal("805.50"), date(2026, 11, 30),
                            external_id="BANK-1", now=sh(2026, 11, 30))
    sweep(sh(2026, 12, 9, 9), inline=True)
    assert state(case_id) == "payment_plan"
    assert transitions(case_id, "break_plan") == []


# -- idempotence and isolation ----------------------------------------------------------------


def sweep_until_quiet(moment: datetime) -> None:
    """Sweep at one moment until nothing more is due (work done by a sweep can make new work
    due at once, e.g. the demand timer of a case that just reached follow-up)."""
    for _ in range(5):
        result = sweep(moment, inline=True)
        if not (result.timers or result.messages):
            return
    raise AssertionError(f"the sweep at {moment} keeps finding work")


def test_sweeping_twice_creates_nothing_twice(estate, now):
    other = new_case(estate, now)
    sweep(now, inline=True)
    first = snapshot()
    assert first["transitions"] == 2 and first["sent"] == 2
    assert sweep(now, inline=True).timers == 0
    assert snapshot() == first

    sweep_until_quiet(now + timedelta(days=7))
    second = snapshot()
    assert second["transitions"] == 4
    assert state(estate.case.id) == state(other.id) == "follow_up"
    sweep(now + timedelta(days=7), inline=True)
    sweep(now + timedelta(days=7, minutes=1), inline=True)
    assert snapshot() == second

    # a batch delivered again (RQ retried it, or two sweeps raced) changes nothing
    fired = list(db.session.scalars(sa.select(Timer.id).where(Timer.status == "fired")))
    outcome = jobs.run_timers_here(fired, now + timedelta(days=7))
    assert outcome == {"already handled": len(fired)}
    sent = list(db.session.scalars(sa.select(OutboxMessage.id)))
    assert jobs.send_messages_here(sent, now + timedelta(days=7)) == {"already": len(sent)}
    assert snapshot() == second
    # one task per timer, one reminder per case
    per_timer = db.session.execute(sa.select(Task.dedupe_key, sa.func.count()).group_by(
        Task.dedupe_key).having(sa.func.count() > 1)).all()
    assert per_timer == []
    assert [len(messages(c)) for c in (estate.case.id, other.id)] == [1, 1]
    chain_intact()


def test_a_broken_case_is_logged_and_skipped_while_the_others_fire(estate, now, caplog):
    broken_community = factories.community(code="HX", name="和谐家园",
                                           follow_up_after_days="seven")  # bad policy data
    db.session.commit()
    broken = new_case(estate, now, community=broken_community)
    healthy = new_case(estate, now)
    caplog.set_level(logging.ERROR, logger="casework.timers")

    result = sweep(now, inline=True)

    assert result.errors == []
    assert state(estate.case.id) == state(healthy.id) == "first_reminder"
    assert state(broken.id) == "preparation"
    assert transitions(broken.id) == [] and messages(broken.id) == []
    [timer] = timers(broken.id, "start_outreach")
    assert (timer.status, timer.attempts) == ("pending", 1)
    assert timer.result.startswith("TypeError")
    assert any(r.name == "casework.timers" and f"timer {timer.id} failed" in r.getMessage()
               for r in caplog.records)
    # its other timers (limitation alerts) were not held up by the broken one
    assert tasks(broken.id, "limitation_alert")

    # retried by the next sweeps, then given up on: failed, visible, never blocking
    sweep(now + timedelta(minutes=1), inline=True)
    sweep(now + timedelta(minutes=2), inline=True)
    timer = timers(broken.id, "start_outreach")[0]
    assert (timer.status, timer.attempts) == ("failed", 3)
    assert sweep(now + timedelta(minutes=3), inline=True).timers == 0
    assert state(broken.id) == "preparation"
    chain_intact()


# -- contact rules on automatic reminders -----------------------------------------------------


def test_a_reminder_due_at_night_waits_for_eight_in_the_morning(estate, now):
    night = sh(2026, 11, 23, 23, 10)  # Monday 23:10 in Shanghai
    morning = sh(2026, 11, 24, 8, 0)
    case = new_case(estate, night)
    assert timers(case.id, "start_outreach")[0].due_at == night

    sweep(night, inline=True)
    assert state(case.id) == "first_reminder"  # the stage moves at once ...
    [sms] = messages(case.id)
    # ... the SMS does not: it waits for the SMS window (08:00-21:00)
    assert (sms.status, sms.not_before, sms.sent_at) == ("queued", morning, None)
    assert count(ContactAttempt, ContactAttempt.case_id == case.id) == 0

    sweep(morning - timedelta(minutes=1), inline=True)
    assert messages(case.id)[0].status == "queued"

    sweep(morning, inline=True)
    [sms] = messages(case.id)
    assert (sms.status, sms.sent_at, sms.gateway) == ("sent", morning, "log")
    [contact] = db.session.scalars(sa.select(ContactAttempt).where(
        ContactAttempt.case_id == case.id)).all()
    assert (contact.channel, contact.outcome, contact.automatic, contact.at) == (
        "sms", "sent", True, morning)
    [event] = db.session.scalars(sa.select(CaseEvent).where(
        CaseEvent.case_id == case.id, CaseEvent.name == "automatic_message")).all()
    assert (event.kind, event.actor_role, event.at) == ("contact", "system", morning)
    assert event.payload["message_id"] == sms.id and event.payload["contact_id"] == contact.id
    chain_intact()


def test_a_written_only_debtor_gets_no_sms(estate, now):
    case = new_case(estate, now, written_only=True)
    sweep(now, inline=True)
    assert state(case.id) == "first_reminder"  # letters go on; SMS does not
    assert messages(case.id) == []
    assert count(ContactAttempt, ContactAttempt.case_id == case.id) == 0


def test_a_debtor_who_asks_for_written_only_before_the_send_gets_no_sms(estate, now):
    night = sh(2026, 11, 23, 23, 10)
    case = new_case(estate, night)
    sweep(night, inline=True)
    assert messages(case.id)[0].status == "queued"
    case.debtor.written_only = True  # the owner asked overnight
    db.session.commit()

    sweep(sh(2026, 11, 24, 8, 0), inline=True)
    [sms] = messages(case.id)
    assert (sms.status, sms.error, sms.sent_at) == ("blocked", "written only", None)
    assert count(ContactAttempt, ContactAttempt.case_id == case.id) == 0


# -- deadlines over the public holidays ------------------------------------------------------


def test_a_demand_deadline_falling_on_national_day_moves_to_the_first_working_day(estate):
    issued = sh(2026, 9, 8)  # Tuesday
    case = new_case(estate, sh(2026, 9, 7))
    services.fire_event(case.id, "start_outreach", estate.collector, now=sh(2026, 9, 7))
    services.fire_event(case.id, "escalate_follow_up", estate.collector, now=sh(2026, 9, 7, 11))
    for at in (sh(2026, 9, 8, 9, 30), issued):
        services.record_contact(case.id, estate.collector, channel="phone", outcome="no_answer",
                                at=at, now=at)
    services.fire_event(case.id, "issue_demand", estate.collector, now=issued)
    doc = db.session.scalars(sa.select(Document).where(
        Document.case_id == case.id, Document.kind == "payment_demand")).one()
    assert doc.deadline == date(2026, 9, 30)  # printed: 7 days of post + 15
    assert doc.created_at == issued  # the use case's clock: delivery may not predate it

    # delivered 16 September: day 15 is 1 October, the first day of the National Day holiday
    services.fire_event(case.id, "record_delivery", estate.collector,
                        {"grade": "A", "proof_ref": "签收回执-0916", "delivered_on": "2026-09-16"},
                        now=sh(2026, 9, 17))
    db.session.expire_all()
    doc = db.session.get(Document, doc.id)
    assert doc.delivered_on == date(2026, 9, 16)
    assert doc.deadline == date(2026, 10, 8)  # 1-7 October are holidays, the 8th a workday
    [deadline] = timers(case.id, "payment_demand_deadline")
    assert deadline.due_at == sh(2026, 10, 9, 9)  # the morning after the deadline

    sweep(sh(2026, 10, 8, 18), inline=True)
    assert tasks(case.id, "payment_demand_deadline") == []
    sweep(sh(2026, 10, 9, 9), inline=True)
    [task] = tasks(case.id, "payment_demand_deadline")
    assert task.assignee_id == estate.collector.id and "催告期限已届满" in task.title
    chain_intact()
