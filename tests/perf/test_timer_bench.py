"""Benchmark: 20,000 due timers on PostgreSQL processed end to end by 2 RQ workers.

Run by `make bench`; writes its figures to docs/PERFORMANCE.md. The floor is the same
transitions fired on bare python-statemachine objects plus one ORM flush, on one core.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from redis import Redis
from rq import Queue

from casework import create_app
from casework.extensions import db
from casework.models import GENESIS, Timer
from casework.policy import default_policy
from tests.perf.bench_db import fresh_database
from tests.perf.report import record

pytestmark = pytest.mark.bench
N = int(os.environ.get("BENCH_TIMERS", "20000"))
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]


def _fill(n: int) -> None:
    """n cases in first_reminder for 8 days, each with one period owed and a due timer."""
    conn = db.session.connection()
    t = db.metadata.tables
    conn.execute(t["community"].insert(), [{"code": "B", "name": "基准小区", "address": "",
                                            "city": "", "company_name": "示范物业"}])
    conn.execute(t["policy"].insert(), [{"community_id": 1, "version": 1,
                                         "data": default_policy(), "created_at": NOW}])
    conn.execute(t["building"].insert(), [{"community_id": 1, "name": "1栋"}])
    conn.execute(t["unit"].insert(), [{"building_id": 1, "number": str(i), "area": Decimal("90"),
                                       "vacant_filed": False} for i in range(1, n + 1)])
    conn.execute(t["debtor"].insert(), [dict(
        name=f"业主{i}", kind="owner", identified=True, address="", address_verified=True,
        written_only=False, unreachable=False, vulnerable=False, communication_style="",
        household_notes="", created_at=NOW) for i in range(1, n + 1)])
    since = NOW - timedelta(days=8)
    conn.execute(t["dunning_case"].insert(), [dict(
        number=f"B-{i}", debtor_id=i, community_id=1, policy_id=1, state="first_reminder",
        version=1, priority=0, event_seq=0, event_hash=GENESIS, opened_at=since,
        stage_since=since, updated_at=since) for i in range(1, n + 1)])
    conn.execute(t["charge_line"].insert(), [dict(
        case_id=i, unit_id=i, debtor_id=i, fee_type="物业费", period_label="2026年09月",
        period_start=date(2026, 9, 1), period_end=date(2026, 9, 30), due_date=date(2026, 9, 30),
        amount_due=Decimal("270.00"), amount_paid=Decimal("0"), credit=Decimal("0"),
        limitation_expiry=date(2029, 9, 30), frozen=False) for i in range(1, n + 1)])
    conn.execute(t["timer"].insert(), [dict(
        case_id=i, kind="escalate_follow_up", due_at=NOW - timedelta(hours=1),
        expected_state="first_reminder", key=f"bench-{i}", payload={}, status="pending",
        attempts=0, created_at=since) for i in range(1, n + 1)])
    db.session.commit()


def floor(n: int) -> float:
    """Seconds for n bare transitions plus one ORM flush of their new states."""
    from workflows.dunning import fire
    from workflows.facts import SYSTEM, CaseFacts

    facts = CaseFacts(today=NOW.date(), outstanding=Decimal("270.00"))
    models = [SimpleNamespace(state="first_reminder", plan_resume_state=None,
                              dispute_resume_state=None) for _ in range(n)]
    cases = db.session.scalars(sa.select(db.metadata.tables["dunning_case"].c.id)).all()
    start = time.perf_counter()
    for model in models:
        fire(model, "escalate_follow_up", facts, SYSTEM)
    from casework.models import DunningCase

    rows = db.session.scalars(sa.select(DunningCase).where(DunningCase.id.in_(cases))).all()
    for row, model in zip(rows, models, strict=False):
        row.state = model.state
    db.session.flush()
    elapsed = time.perf_counter() - start
    db.session.rollback()
    return elapsed


def test_twenty_thousand_due_timers_by_two_workers(tmp_path):
    url = fresh_database("casework_bench")
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": REDIS_URL})
    redis = Redis.from_url(REDIS_URL)
    redis.flushdb()
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        _fill(N)
        floor_seconds = floor(N)
        from casework.sweep import sweep

        env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": REDIS_URL, "FLASK_APP": "wsgi",
               "PYTHONPATH": str(ROOT)}
        start = time.perf_counter()
        result = sweep(NOW, batch=500, queue=Queue("dunning", connection=redis))
        swept = time.perf_counter() - start
        workers = [subprocess.Popen([sys.executable, "-m", "flask", "worker", "--burst"],
                                    cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE) for _ in range(2)]
        errors = [w.communicate(timeout=3600)[1] for w in workers]
        if os.environ.get("BENCH_SHOW_WORKERS"):
            print(*(e.decode()[-3000:] for e in errors), sep="\n")
        elapsed = time.perf_counter() - start
        assert all(w.returncode == 0 for w in workers), errors
        counts = dict(db.session.execute(sa.select(Timer.status, sa.func.count())
                                         .group_by(Timer.status)).all())
        states = dict(db.session.execute(sa.text(
            "select state, count(*) from dunning_case group by state")).all())
        db.session.remove()
        db.engine.dispose()
    redis.flushdb()
    redis.close()
    rate, floor_rate = N / elapsed, N / floor_seconds
    record("Durable timers (issue 3)", [
        f"{N:,} due `escalate_follow_up` timers on PostgreSQL, swept in {len(result.jobs)} "
        f"batches of 500 and processed by 2 `flask worker --burst` processes.",
        f"- end to end: {elapsed:.1f} s → **{rate:,.0f} timers/s** (sweep alone {swept:.2f} s)",
        f"- floor (bare python-statemachine transitions + one ORM flush, one core): "
        f"{floor_seconds:.2f} s → {floor_rate:,.0f} transitions/s",
        f"- ratio to the floor: {floor_rate / rate:.1f}× (target ≤ 2.5×); target ≥ 1,500/s",
        f"- timers by status afterwards: {counts}; cases by state: {states}",
    ])
    assert states.get("follow_up") == N
    assert counts.get("fired") == N
