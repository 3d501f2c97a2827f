"""Redis dies while the dunning goes on: the database is the clock, Redis only delivers.

A Redis server of the test's own (/usr/bin/redis-server on a free port, nothing on disk) is
stopped while cases change and timers fall due, then started again on the same port; a real
`rq worker` fires what the next sweep hands it, once.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from redis import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from rq import Queue

from casework import services
from casework.extensions import db
from casework.models import ContactAttempt, Timer
from casework.sweep import sweep
from tests.integration.test_timers import (
    chain_intact,
    messages,
    new_case,
    state,
    timers,
    transitions,
)
from tests.integration.test_worker import ROOT, no_failed_jobs, worker_env

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """One redis-server process on a fixed port that can be stopped and started again."""

    def __init__(self, port: int, workdir) -> None:
        self.port, self.workdir, self.proc = port, workdir, None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        probe = Redis(port=self.port, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
        deadline = time.monotonic() + 10
        while True:
            try:
                if probe.ping():
                    break
            except Exception as exc:  # noqa: BLE001  not up yet
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server on port {self.port} did not start") from exc
                time.sleep(0.05)
        probe.close()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None


@pytest.fixture
def redis_server(tmp_path):
    if not os.path.exists(REDIS_SERVER):
        pytest.fail(f"{REDIS_SERVER} is missing (Debian: apt-get install redis-server)")
    server = RedisServer(free_port(), tmp_path)
    server.start()
    yield server
    server.stop()


def run_worker(app, url: str) -> str:
    db.session.rollback()
    proc = subprocess.run(
        [sys.executable, "-m", "rq.cli", "worker", "--burst", "--with-scheduler", "--url", url,
         "dunning"], cwd=ROOT, env=worker_env(app, REDIS_URL=url), capture_output=True,
        text=True, timeout=90)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    db.session.expire_all()
    return proc.stdout + proc.stderr


def test_losing_redis_loses_no_timer_and_fires_each_once_after(app, estate, now, redis_server):
    # a client that gives up at once instead of retrying for seconds (the sweep's own
    # get_queue() would retry, then fail the same way)
    conn = Redis(port=redis_server.port, socket_connect_timeout=0.5, socket_timeout=2,
                 retry=Retry(NoBackoff(), 0))
    queue = Queue("dunning", connection=conn)
    a = estate.case.id
    b = new_case(estate, now).id

    # Redis up: the first reminders go out through a real worker
    assert sweep(now, queue=queue).errors == []
    run_worker(app, redis_server.url)
    assert state(a) == state(b) == "first_reminder"
    assert [m.status for c in (a, b) for m in messages(c)] == ["queued", "queued"]

    redis_server.stop()  # --- Redis is gone ---------------------------------------------

    later = now + timedelta(hours=1)
    c = new_case(estate, later).id  # open_case
    services.fire_event(b, "escalate_follow_up", estate.collector, now=later)  # fire_event
    services.record_contact(a, estate.collector, channel="phone", outcome="no_answer",
                            at=later, now=later)  # record_contact
    services.record_payment(a, Decimal("268.50"), date(2026, 11, 23), external_id="WX-1",
                            now=later)  # record_payment
    assert (state(a), state(b), state(c)) == ("first_reminder", "follow_up", "preparation")
    assert services.outstanding(services.get_case(a)) == Decimal("1342.50")

    week = now + timedelta(days=7)  # a's follow-up and c's outreach fall due
    due_before = sorted(db.session.scalars(sa.select(Timer.id).where(
        Timer.status == "pending", Timer.due_at <= week)))
    assert {t.kind for t in db.session.scalars(sa.select(Timer).where(Timer.id.in_(due_before)))
            } >= {"escalate_follow_up", "start_outreach"}

    result = sweep(week, queue=queue)

    assert result.errors and (result.timers, result.messages, result.jobs) == (0, 0, [])
    assert any("timers-" in e for e in result.errors)
    statuses = db.session.execute(sa.select(Timer.status, Timer.enqueued_at).where(
        Timer.id.in_(due_before))).all()
    assert statuses and set(statuses) == {("pending", None)}  # nothing marked, nothing lost
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Timer).where(
        Timer.status == "enqueued")) == 0
    assert {m.status for c_ in (a, b) for m in messages(c_)} == {"queued"}
    assert sweep(week, queue=queue).errors  # still down: still reported, still pending
    assert set(db.session.scalars(sa.select(Timer.status).where(
        Timer.id.in_(due_before)))) == {"pending"}

    redis_server.start()  # --- Redis is back on the same port, empty ----------------------

    result = sweep(week, queue=queue)
    assert result.errors == [] and result.timers == len(due_before)
    run_worker(app, redis_server.url)
    no_failed_jobs(queue)

    fired = db.session.execute(sa.select(Timer.status, Timer.attempts).where(
        Timer.id.in_(due_before))).all()
    assert set(fired) == {("fired", 1)}
    assert state(a) == "follow_up" and len(transitions(a, "escalate_follow_up")) == 1
    assert state(c) == "first_reminder" and len(transitions(c, "start_outreach")) == 1
    assert [t.status for t in timers(b, "escalate_follow_up")] == ["cancelled"]  # by hand
    assert len(transitions(b, "escalate_follow_up")) == 1
    assert {m.status for c_ in (a, b) for m in messages(c_)} == {"sent"}

    # the next sweep hands over only new work (c's reminder, a's next step), none of the
    # outage's timers a second time
    result = sweep(week, queue=queue)
    assert result.errors == []
    handed = {i for job_id in result.jobs if job_id.startswith("timers-")
              for i in queue.fetch_job(job_id).args[0]}
    assert not handed & set(due_before)
    assert [len(transitions(x)) for x in (a, b, c)] == [2, 2, 1]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ContactAttempt).where(
        ContactAttempt.automatic.is_(True))) == 2
    chain_intact()
