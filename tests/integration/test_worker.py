"""The sweep and real RQ workers: PostgreSQL, the machine's Redis, `rq worker` subprocesses.

The clock moves only through `now` (passed to the sweep, which hands it to the jobs): nothing
sleeps. Redis db 13 is flushed before and after each test (CASEWORK_TEST_REDIS_URL overrides).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from rq import Queue

from casework import jobs
from casework.extensions import db
from casework.models import CaseEvent, ContactAttempt, Task, Timer
from casework.services import timers as timer_service
from casework.sweep import sweep
from tests.integration.test_timers import (
    chain_intact,
    messages,
    new_case,
    state,
    tasks,
    timers,
    transitions,
)
from tests.redis_db import dedicated_redis

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("CASEWORK_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
WORKER_TIMEOUT = 90


@pytest.fixture
def redis_conn():
    """The dedicated Redis db, taken in turn by the test runs on this machine."""
    with dedicated_redis(REDIS_URL) as conn:
        yield conn


@pytest.fixture
def queue(redis_conn) -> Queue:
    return Queue("dunning", connection=redis_conn)


def worker_env(app, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "RQ_"))}
    env.update({"DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "REDIS_URL": REDIS_URL,
                "PYTHONPATH": str(ROOT), **extra})
    return env


def rq_worker_command() -> list[str]:
    return [sys.executable, "-m", "rq.cli", "worker", "--burst", "--with-scheduler",
            "--url", REDIS_URL, "dunning"]


def run_workers(app, n: int = 1, command: list[str] | None = None, **extra: str) -> list[str]:
    """Start n worker processes at once on the queue and wait until they have drained it."""
    db.session.rollback()  # hold no locks and no stale rows while they work
    procs = [subprocess.Popen(command or rq_worker_command(), cwd=ROOT,
                              env=worker_env(app, **extra), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for _ in range(n)]
    outputs = []
    for proc in procs:
        try:
            out, _ = proc.communicate(timeout=WORKER_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
            pytest.fail(f"worker did not finish in {WORKER_TIMEOUT}s:\n{out}")
        assert proc.returncode == 0, out
        outputs.append(out)
    db.session.expire_all()
    return outputs


def no_failed_jobs(queue: Queue) -> None:
    failed = queue.failed_job_registry
    details = [queue.fetch_job(job_id).latest_result() for job_id in failed.get_job_ids()]
    assert failed.count == 0, details


def timer_ids_of(queue: Queue, job_ids: list[str]) -> list[list[int]]:
    return [queue.fetch_job(job_id).args[0] for job_id in job_ids]


# -- one worker, the whole way ----------------------------------------------------------------


def test_a_real_worker_fires_what_the_sweep_enqueued(app, estate, now, queue):
    cases = [estate.case.id] + [new_case(estate, now).id for _ in range(3)]
    quiet = new_case(estate, now, written_only=True).id
    everyone = [*cases, quiet]

    result = sweep(now, queue=queue)
    assert result.errors == [] and result.timers > len(everyone)
    [job_id] = result.jobs  # one batch
    assert job_id.startswith("timers-") and queue.job_ids == [job_id]
    claimed = timer_ids_of(queue, [job_id])[0]
    assert set(db.session.scalars(sa.select(Timer.status).where(Timer.id.in_(claimed)))) == {
        "enqueued"}
    assert all(state(c) == "preparation" for c in everyone)  # nothing ran in the sweep

    again = sweep(now, queue=queue)  # a second sweep claims nothing new
    assert (again.timers, again.jobs, again.errors) == (0, [], [])
    assert queue.job_ids == [job_id]

    run_workers(app)

    no_failed_jobs(queue)
    assert queue.fetch_job(job_id).get_status() == "finished"
    assert set(db.session.scalars(sa.select(Timer.status).where(Timer.id.in_(claimed)))) == {
        "fired"}
    for case_id in everyone:
        assert state(case_id) == "first_reminder"
        [event] = transitions(case_id, "start_outreach")
        assert event.actor_role == "system" and event.at == now
        assert tasks(case_id, "limitation_alert")  # the 2024 periods are near expiry
    assert [len(messages(c)) for c in cases] == [1, 1, 1, 1]
    assert messages(quiet) == []  # written only
    assert {m.status for c in cases for m in messages(c)} == {"queued"}

    # the next sweep hands the reminders to a worker, which sends them under the rules
    sent_at = now + timedelta(minutes=1)
    result = sweep(sent_at, queue=queue)
    assert result.messages == 4 and result.timers == 0
    run_workers(app)
    no_failed_jobs(queue)
    for case_id in cases:
        [sms] = messages(case_id)
        assert (sms.status, sms.sent_at) == ("sent", sent_at)
        [contact] = db.session.scalars(sa.select(ContactAttempt).where(
            ContactAttempt.case_id == case_id)).all()
        assert contact.automatic and contact.channel == "sms"

    # a week later: follow-up, once each
    later = now + timedelta(days=7)
    assert sweep(later, queue=queue).errors == []
    run_workers(app)
    no_failed_jobs(queue)
    for case_id in everyone:
        assert state(case_id) == "follow_up"
        assert len(transitions(case_id, "escalate_follow_up")) == 1
    chain_intact()


# -- two workers and a job delivered twice ----------------------------------------------------


def test_two_workers_and_jobs_delivered_twice_change_each_case_once(app, estate, now, queue):
    everyone = [estate.case.id] + [new_case(estate, now).id for _ in range(2)]

    result = sweep(now, queue=queue, batch=9)  # several batches, several jobs
    assert result.errors == [] and len(result.jobs) >= 2
    assert sweep(now, queue=queue).timers == 0
    batches = timer_ids_of(queue, result.jobs)
    claimed = sorted(i for ids in batches for i in ids)
    assert len(claimed) == len(set(claimed)) == result.timers
    for n, ids in enumerate(batches):  # every batch delivered again under another job id
        queue.enqueue(jobs.run_timers, ids, now.isoformat(), job_id=f"again-{n}")
    assert queue.count == 2 * len(batches)

    outputs = run_workers(app, n=2)

    no_failed_jobs(queue)
    assert queue.count == 0
    assert all("Job OK" in out for out in outputs), outputs  # both workers did work
    statuses = dict(db.session.execute(sa.select(Timer.id, Timer.status).where(
        Timer.id.in_(claimed))).all())
    assert set(statuses.values()) == {"fired"}, statuses
    for case_id in everyone:
        assert state(case_id) == "first_reminder"
        assert len(transitions(case_id)) == 1
        assert len(messages(case_id)) == 1
        assert [t.status for t in timers(case_id, "escalate_follow_up")] == ["pending"]
    made_tasks = db.session.scalars(sa.select(Task.dedupe_key).where(
        Task.dedupe_key.like("timer-%"))).all()
    assert len(made_tasks) == len(set(made_tasks))
    task_timers = db.session.scalar(sa.select(sa.func.count()).select_from(Timer).where(
        Timer.id.in_(claimed), Timer.result.like("task:%")))
    assert len(made_tasks) == task_timers

    # the reminders, also delivered twice to two workers: each sent once
    sent_at = now + timedelta(minutes=1)
    result = sweep(sent_at, queue=queue)
    [msg_job] = result.jobs
    queue.enqueue(jobs.send_messages, queue.fetch_job(msg_job).args[0], sent_at.isoformat(),
                  job_id="again-messages")
    run_workers(app, n=2)
    no_failed_jobs(queue)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ContactAttempt)) == len(
        everyone)
    assert {m.status for c in everyone for m in messages(c)} == {"sent"}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CaseEvent).where(
        CaseEvent.name == "automatic_message")) == len(everyone)
    chain_intact()


def test_a_timer_running_while_another_moves_its_case_keeps_the_new_timers(app, estate, now,
                                                                           monkeypatch):
    """Two workers on one case: a limitation alert loads the case, then the start_outreach of
    the same case commits (adding the follow-up timer) before the alert reschedules. The
    alert must not reschedule from the stale stage and cancel the new follow-up timer."""
    case_id = estate.case.id
    [outreach] = timers(case_id, "start_outreach")
    alert = next(t for t in timers(case_id, "limitation_alert") if t.due_at <= now)
    outreach_id, alert_id = outreach.id, alert.id
    db.session.rollback()
    loaded, moved = threading.Event(), threading.Event()
    original = timer_service.ACTIONS["limitation_alert"]

    def slow_alert(case, timer, moment):
        loaded.set()
        moved.wait(timeout=1)  # with the case locked the other worker cannot finish: go on
        return original(case, timer, moment)

    monkeypatch.setitem(timer_service.ACTIONS, "limitation_alert", slow_alert)
    results: dict[str, str] = {}

    def worker(name: str, timer_id: int, after: threading.Event | None = None) -> None:
        with app.app_context():
            try:
                if after is not None:
                    after.wait(timeout=5)
                results[name] = timer_service.run_timer(timer_id, now)
            finally:
                if name == "outreach":
                    moved.set()
                db.session.remove()

    threads = [threading.Thread(target=worker, args=("alert", alert_id)),
               threading.Thread(target=worker, args=("outreach", outreach_id, loaded))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert not any(t.is_alive() for t in threads)

    assert results["outreach"] == "fired start_outreach"
    assert results["alert"].startswith("task:")
    assert state(case_id) == "first_reminder"
    assert [t.status for t in timers(case_id, "escalate_follow_up")] == ["pending"]
    chain_intact()


# -- the project's own worker command ---------------------------------------------------------


def test_flask_sweep_then_flask_worker_burst(app, estate, now, queue):
    """The project's own commands: `flask sweep --now` (naive = Shanghai) enqueues on the
    configured Redis, `flask worker --burst` (the app built once, jobs forked) drains it."""
    db.session.rollback()
    sweep_cmd = [sys.executable, "-m", "flask", "sweep", "--now", "2026-11-23T10:00"]
    swept = subprocess.run(sweep_cmd, cwd=ROOT, env=worker_env(app, FLASK_APP="wsgi"),
                           capture_output=True, text=True, timeout=WORKER_TIMEOUT)
    assert swept.returncode == 0, swept.stdout + swept.stderr
    assert swept.stdout.startswith(f"{now.isoformat()} swept "), swept.stdout
    [job_id] = queue.job_ids
    assert datetime.fromisoformat(queue.fetch_job(job_id).args[1]) == now
    db.session.expire_all()
    assert db.session.scalars(sa.select(Timer).where(Timer.status == "enqueued")).all()

    command = [sys.executable, "-m", "flask", "worker", "--burst", "--queue", "dunning"]
    out = run_workers(app, command=command, FLASK_APP="wsgi")[0]
    assert "Traceback" not in out, out
    no_failed_jobs(queue)
    assert queue.count == 0
    assert state(estate.case.id) == "first_reminder"
    assert len(messages(estate.case.id)) == 1
    assert not db.session.scalars(sa.select(Timer).where(Timer.status == "enqueued")).all()


class SlowGateway:
    """An SMS gateway that holds the send open until the other party has acted (or 1 s)."""

    name = "stub"

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.sending, self.other_done = threading.Event(), threading.Event()

    def send(self, channel: str, recipient: str, body: str) -> str:
        self.calls.append(recipient)
        self.sending.set()
        self.other_done.wait(timeout=1)
        return f"ref-{len(self.calls)}"


def test_an_sms_goes_out_once_while_a_collector_works_the_same_case(app, estate, now,
                                                                     monkeypatch):
    """The reminder is being sent when the collector records a visit on the same case. The
    send must not fail after the gateway took the SMS (it would be sent again by the next
    sweep): one of the two waits for the other."""
    from casework import services
    from casework.models import StaffUser
    from casework.services import messages as message_service
    from casework.services.errors import Conflict
    from tests.integration.test_timers import RecordingQueue

    case_id, collector_id = estate.case.id, estate.collector.id
    stand_in = RecordingQueue()
    sweep(now, queue=stand_in)
    for _func, args, _ in stand_in.jobs:
        jobs.run_timers_here(args[0], now)  # start_outreach: the reminder is queued
    [sms] = messages(case_id)
    sms_id = sms.id
    db.session.rollback()
    gateway = SlowGateway()
    monkeypatch.setattr(message_service, "gateway_for", lambda channel: gateway)
    outcome: dict[str, object] = {}

    def send() -> None:
        with app.app_context():
            try:
                outcome["send"] = jobs.send_messages_here([sms_id], now)
            finally:
                db.session.remove()

    def visit() -> None:
        with app.app_context():
            try:
                gateway.sending.wait(timeout=5)
                collector = db.session.get(StaffUser, collector_id)
                services.record_contact(case_id, collector, channel="visit", outcome="reached",
                                        at=now, now=now, notes="上门拜访")
                outcome["visit"] = "recorded"
            except Conflict:
                outcome["visit"] = "conflict"  # the collector reloads and tries again
            finally:
                gateway.other_done.set()
                db.session.remove()

    threads = [threading.Thread(target=send), threading.Thread(target=visit)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert not any(t.is_alive() for t in threads)

    assert outcome["send"] == {"sent": 1}, outcome
    assert outcome["visit"] in ("recorded", "conflict")
    sweep(now + timedelta(minutes=1), inline=True)  # the next sweep finds nothing to resend
    assert gateway.calls == [estate.debtor.phone()]
    [sms] = messages(case_id)
    assert sms.status == "sent"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ContactAttempt).where(
        ContactAttempt.case_id == case_id, ContactAttempt.automatic.is_(True))) == 1
    chain_intact()
