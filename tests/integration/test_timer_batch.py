"""The batch path of the timer job: many timers in one transaction, a fixed number of statements,
the same outcome as one by one, and a fall-back to one by one when anything in it fails."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.orm.exc import StaleDataError

from casework import audit, jobs
from casework.extensions import db
from casework.models import CaseEvent, DunningCase, OutboxMessage, Task, Timer
from casework.services.bulk import write_versioned
from casework.services.timers import due_timer_ids
from tests.factories import counting_statements
from tests.integration.test_timers import new_case


def fire_due(moment) -> tuple[dict, list[str]]:
    ids = due_timer_ids(moment, 1000)
    db.session.rollback()
    with counting_statements() as seen:
        outcome = jobs.run_timers_here(ids, moment)
    return outcome, seen


def cases_in(state: str) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(DunningCase)
                             .where(DunningCase.state == state))


@pytest.mark.parametrize("more", [2, 9])
def test_a_batch_runs_in_the_same_number_of_statements_for_few_or_many_cases(
        estate, now, more):
    for _ in range(more):
        new_case(estate, now)
    # start_outreach for every case: a transition, an audit event, an SMS and new timers each
    outcome, count = fire_due(now)
    assert outcome["fired start_outreach"] == more + 1
    assert cases_in("first_reminder") == more + 1
    # escalate_follow_up a week later
    outcome, count_later = fire_due(now + timedelta(days=8))
    assert outcome["fired escalate_follow_up"] == more + 1
    assert cases_in("follow_up") == more + 1
    # a fixed number of reads and updates whatever the number of cases; the inserts are
    # one executemany per table on PostgreSQL (SQLite's driver sends them row by row)
    for seen in (count, count_later):
        others = [s for s in seen if not s.lstrip().startswith("INSERT")]
        assert len(others) <= 22
        if db.engine.dialect.name == "postgresql":
            assert len(seen) - len(others) <= 5, seen
    events = db.session.scalars(sa.select(CaseEvent).where(CaseEvent.kind == "transition")).all()
    assert len(events) == 2 * (more + 1)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == more + 1
    checked, broken = audit.verify_all()
    assert broken == [] and checked >= 3 * (more + 1)


def test_the_batch_and_the_one_by_one_path_leave_the_same_records(estate, now):
    """Two identical estates: one through the batch, one timer at a time: same states, events,
    timers and tasks (kinds, keys, due times)."""
    from casework.services.timers import run_timer

    others = [new_case(estate, now) for _ in range(3)]
    ids = list(db.session.scalars(sa.select(Timer.id).where(
        Timer.kind == "start_outreach", Timer.status == "pending").order_by(Timer.id)))
    assert len(ids) == 4
    # one by one for half of them, the batch for the rest: every case ends up alike
    for timer_id in ids[:2]:
        assert run_timer(timer_id, now).startswith("fired")
    assert jobs.run_timers_here(ids[2:], now)["fired start_outreach"] == 2

    def shape(case_id: int) -> tuple:
        timers = db.session.execute(sa.select(Timer.kind, Timer.status, Timer.due_at).where(
            Timer.case_id == case_id).order_by(Timer.kind, Timer.due_at)).all()
        events = db.session.execute(sa.select(CaseEvent.kind, CaseEvent.name).where(
            CaseEvent.case_id == case_id).order_by(CaseEvent.seq)).all()
        tasks = db.session.execute(sa.select(Task.kind, Task.status).where(
            Task.case_id == case_id).order_by(Task.id)).all()
        state = db.session.scalar(sa.select(DunningCase.state).where(DunningCase.id == case_id))
        return state, tuple(timers), tuple(events), tuple(tasks)

    shapes = {shape(case.id) for case in others}
    assert len(shapes) == 1, shapes
    assert next(iter(shapes))[0] == "first_reminder"


def test_a_batch_that_fails_is_rolled_back_and_run_one_by_one(estate, now, monkeypatch, caplog):
    others = [new_case(estate, now) for _ in range(2)]
    import casework.services.timers as timers_module

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(timers_module, "write_versioned", broken)
    outcome, _ = fire_due(now)
    # the batch wrote nothing; the one-by-one path then fired every timer
    assert outcome["fired start_outreach"] == 3 and "failed" not in outcome
    assert cases_in("first_reminder") == 3
    assert any("running them one by one" in r.getMessage() for r in caplog.records)
    for case in others:
        assert db.session.scalar(sa.select(sa.func.count()).select_from(CaseEvent).where(
            CaseEvent.case_id == case.id, CaseEvent.kind == "transition")) == 1


def test_writing_a_case_someone_else_changed_meanwhile_fails(estate, now):
    case = db.session.get(DunningCase, estate.case.id)
    version = case.version
    # another writer got there first (the object in hand still carries the old version)
    db.session.execute(sa.update(DunningCase.__table__).where(DunningCase.id == case.id)
                       .values(version=version + 1))
    case.priority = 5
    with pytest.raises(StaleDataError):
        write_versioned([case])
    db.session.rollback()


def test_write_versioned_writes_and_bumps_the_version(estate, now):
    case = db.session.get(DunningCase, estate.case.id)
    version = case.version
    case.priority = 7
    assert write_versioned([case]) == 1
    assert case.version == version + 1
    db.session.commit()
    db.session.expire_all()
    assert (case.priority, case.version) == (7, version + 1)


def test_write_versioned_leaves_nothing_for_the_next_flush(estate, now):
    case = db.session.get(DunningCase, estate.case.id)
    case.priority = 3
    assert write_versioned([case]) == 1
    assert case not in db.session.dirty
    with counting_statements() as seen:
        db.session.flush()
    assert seen == []


def test_a_change_write_versioned_does_not_write_is_left_to_the_flush(estate, now):
    from casework.models import StaffUser

    case = db.session.get(DunningCase, estate.case.id)
    supervisor = db.session.get(StaffUser, estate.supervisor.id)
    version = case.version
    case.priority = 4
    case.assignee = supervisor  # a relationship: its column is set by the flush
    assert write_versioned([case]) == 1
    assert case in db.session.dirty
    db.session.commit()
    db.session.expire_all()
    assert (case.priority, case.assignee_id, case.version) == (4, estate.supervisor.id,
                                                               version + 2)


def _event_values(case_id: int) -> list[tuple]:
    return [(ev.seq, ev.at, ev.actor_id, ev.actor_role, ev.kind, ev.name, ev.from_state,
             ev.to_state, ev.payload) for ev in db.session.scalars(
                sa.select(CaseEvent).where(CaseEvent.case_id == case_id)
                .order_by(CaseEvent.seq))]


def test_events_written_together_are_the_events_append_writes_one_at_a_time(estate, now):
    from datetime import date
    from decimal import Decimal

    from workflows.facts import SYSTEM

    alone, together = new_case(estate, now), new_case(estate, now)
    payload = {"amount": Decimal("12.50"), "on": date(2026, 11, 1), "ids": (3, 1)}
    for n in range(2):
        audit.append(alone, SYSTEM, "contact", f"note{n}", payload=payload, at=now)
    with audit.written_together():
        for n in range(2):
            assert audit.append(together, SYSTEM, "contact", f"note{n}", payload=payload,
                                at=now) is None
        assert db.session.scalar(sa.select(sa.func.count()).select_from(CaseEvent).where(
            CaseEvent.case_id == together.id)) == 1  # only the opening event so far
    db.session.commit()
    # after the opening events (which name each case's own lines)
    assert _event_values(together.id)[1:] == _event_values(alone.id)[1:]
    assert [v[0] for v in _event_values(together.id)] == [1, 2, 3]
    assert audit.verify_all([alone.id, together.id])[1] == []


def test_an_event_appended_in_a_savepoint_is_rolled_back_with_it(estate, now):
    from workflows.facts import SYSTEM

    case = new_case(estate, now)
    with audit.written_together():
        audit.append(case, SYSTEM, "contact", "kept", at=now)
        savepoint = db.session.begin_nested()
        audit.append(case, SYSTEM, "contact", "dropped", at=now)
        savepoint.rollback()
    db.session.commit()
    assert [v[5] for v in _event_values(case.id)] == ["open_case", "kept"]
    assert audit.verify_all([case.id])[1] == []


def test_insert_rows_stores_what_an_insert_stores(estate, now):
    """PostgreSQL: by COPY; elsewhere an executemany. Times, JSON, text and NULLs alike."""
    from datetime import UTC, datetime

    from casework.services.bulk import insert_rows

    def rows(prefix: str) -> list[dict]:
        return [dict(case_id=estate.case.id, kind="limitation_alert", key=f"{prefix}-{n}",
                     due_at=datetime(2026, 12, 1, 1, 30, tzinfo=UTC) + timedelta(days=n),
                     status="pending", expected_state="*", result=None if n else "a\tb\\c\n",
                     payload={"charge_line_id": n, "note": "引号\"'", "amount": "1.50"},
                     attempts=n, created_at=now) for n in range(3)]

    db.session.connection().execute(Timer.__table__.insert(), rows("insert"))
    insert_rows(Timer.__table__, rows("copy"))
    db.session.commit()

    def stored(prefix: str) -> list[tuple]:
        return [(t.key.split("-")[1], t.due_at, t.result, t.payload, t.attempts, t.created_at)
                for t in db.session.scalars(sa.select(Timer).where(Timer.key.like(f"{prefix}-%"))
                                            .order_by(Timer.key))]

    assert stored("copy") == stored("insert")
    assert len(stored("copy")) == 3
    with pytest.raises((ValueError, sa.exc.StatementError), match="naive"):  # as an INSERT
        insert_rows(Timer.__table__, [{**rows("naive")[0], "due_at": datetime(2026, 12, 1)}])
    db.session.rollback()
