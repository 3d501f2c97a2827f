"""PostgreSQL only: concurrent writers, the append-only trigger and tamper detection (DESIGN §6).

Every test here is marked `postgres`: it runs on PostgreSQL whatever CASEWORK_TEST_DB says
(skipped on a developer machine without it, failed under CI=true).
"""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

import casework.services.cases as cases_module
from casework import audit, services
from casework.extensions import db
from casework.models import CaseEvent, DunningCase, StaffUser
from tests.factories import case_events, fast_password_hashing

pytestmark = pytest.mark.postgres


@pytest.fixture(autouse=True)
def _fast_passwords(monkeypatch):
    fast_password_hashing(monkeypatch)


def _race(app, monkeypatch, case_id: int, shots: list[tuple[str, int | None, str, dict]], now):
    """Fire each (name, user id, event, params) in its own thread and app context (so its own
    session); all of them load the case before any of them goes on to write and commit."""
    barrier = threading.Barrier(len(shots), timeout=30)
    waited = threading.local()
    real_gather = cases_module.gather

    def gather_when_all_loaded(case, at):
        if not getattr(waited, "done", False):
            waited.done = True
            barrier.wait()
        return real_gather(case, at)

    monkeypatch.setattr(cases_module, "gather", gather_when_all_loaded)
    results: dict[str, object] = {}

    def shoot(name: str, user_id: int | None, event: str, params: dict) -> None:
        with app.app_context():
            try:
                user = db.session.get(StaffUser, user_id) if user_id else None
                case = services.fire_event(case_id, event, user, params, now=now)
                results[name] = case.state
            except Exception as exc:  # noqa: BLE001  (the assertions look at it)
                results[name] = exc
            finally:
                db.session.remove()

    threads = [threading.Thread(target=shoot, args=shot) for shot in shots]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    monkeypatch.setattr(cases_module, "gather", real_gather)
    db.session.rollback()
    db.session.expire_all()
    return results


def test_two_sessions_firing_on_the_same_case_one_wins_one_conflicts(app, estate, now,
                                                                      monkeypatch):
    cid = estate.case.id
    seq, version = estate.case.event_seq, estate.case.version
    results = _race(app, monkeypatch, cid, [
        ("collector", estate.collector.id, "start_outreach", {}),
        ("supervisor", estate.supervisor.id, "start_outreach", {}),
    ], now)
    winners = [name for name, r in results.items() if r == "first_reminder"]
    losers = [r for r in results.values() if isinstance(r, services.Conflict)]
    assert len(winners) == 1 and len(losers) == 1, results
    assert "刷新" in losers[0].message  # "reload and retry", in words a collector reads

    case = db.session.get(DunningCase, cid)
    assert case.state == "first_reminder"
    assert case.event_seq == seq + 1
    assert case.version > version
    new = [e for e in case_events(cid) if e.seq > seq]
    assert [(e.kind, e.name) for e in new] == [("transition", "start_outreach")]
    winner = estate.collector if winners == ["collector"] else estate.supervisor
    assert new[0].actor_id == winner.id
    checked, broken = audit.verify_all()
    assert broken == [] and checked == seq + 1


def test_two_different_events_at_once_one_conflicts(app, estate, now, monkeypatch):
    """A withdrawal and an outreach race: whichever commits second must not fork the chain."""
    cid = estate.case.id
    seq = estate.case.event_seq
    results = _race(app, monkeypatch, cid, [
        ("withdraw", estate.supervisor.id, "withdraw", {"reason": "非本小区业主，误开"}),
        ("outreach", estate.collector.id, "start_outreach", {}),
    ], now)
    assert sum(isinstance(r, services.Conflict) for r in results.values()) == 1, results
    case = db.session.get(DunningCase, cid)
    assert case.state in ("withdrawn", "first_reminder")
    assert len(case_events(cid, "transition")) == 1
    assert case.event_seq == seq + 1
    assert audit.verify_all()[1] == []
    assert audit.state_at(cid, now) == case.state


# --- the append-only trigger -----------------------------------------------------------------

@pytest.mark.parametrize("sql", [
    "UPDATE case_event SET payload = CAST('{}' AS JSON) WHERE case_id = :c",
    "UPDATE case_event SET name = 'tampered' WHERE case_id = :c AND seq = 1",
    "DELETE FROM case_event WHERE case_id = :c",
    "TRUNCATE case_event CASCADE",
])
def test_the_trigger_refuses_changes_to_the_audit_table(estate, sql):
    cid = estate.case.id
    with pytest.raises((sa.exc.InternalError, sa.exc.ProgrammingError, sa.exc.DBAPIError)) as exc:
        with db.engine.begin() as conn:
            conn.execute(sa.text(sql), {"c": cid})
    assert "append-only" in str(exc.value)
    assert len(case_events(cid)) == estate.case.event_seq


def test_the_orm_cannot_edit_an_event_either(estate):
    event = case_events(estate.case.id)[0]
    event.payload = {**event.payload, "assignee_id": None}
    with pytest.raises(sa.exc.DBAPIError) as exc:
        db.session.commit()
    assert "append-only" in str(exc.value)
    db.session.rollback()
    assert audit.verify_all()[1] == []


# --- tampering behind the trigger's back is found by `flask audit verify` ---------------------

def _with_trigger_off(sql: str, **params) -> None:
    """What an attacker with superuser rights could do: replica mode skips the triggers."""
    with db.engine.begin() as conn:
        conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
        conn.execute(sa.text(sql), params)
    db.session.expire_all()


def _history(estate, now) -> int:
    """A few more events on the estate's case; returns the last seq."""
    cid = estate.case.id
    services.fire_event(cid, "start_outreach", estate.collector, now=now)
    services.record_contact(cid, estate.collector, channel="phone", outcome="no_answer",
                            now=now + timedelta(minutes=1))
    services.reveal_phone(cid, estate.collector, now=now + timedelta(minutes=2))
    return services.get_case(cid).event_seq


def test_verify_passes_on_an_intact_chain(estate, now, runner):
    last = _history(estate, now)
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert f"OK: {last} events verified" in result.output


def test_an_edited_event_is_found_by_audit_verify(estate, now, runner):
    last = _history(estate, now)
    case = services.get_case(estate.case.id)
    row = db.session.scalars(sa.select(CaseEvent).where(CaseEvent.case_id == case.id,
                                                        CaseEvent.seq == 3)).one()
    forged = {**row.payload, "outcome": "reached"}
    _with_trigger_off("UPDATE case_event SET payload = CAST(:p AS JSON) WHERE id = :id",
                      p=json.dumps(forged, ensure_ascii=False), id=row.id)

    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert case.number in result.output
    assert "event #3" in result.output
    assert "edited" in result.output
    [broken] = audit.verify_all()[1]
    assert (broken.case_id, broken.seq) == (case.id, 3)
    assert last == 4  # the events after the edit are not blamed


def test_a_deleted_last_event_is_found_by_audit_verify(estate, now, runner):
    last = _history(estate, now)
    case = services.get_case(estate.case.id)
    _with_trigger_off("DELETE FROM case_event WHERE case_id = :c AND seq = :s",
                      c=case.id, s=last)

    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert case.number in result.output
    assert f"event #{last}" in result.output
    [broken] = audit.verify_all()[1]
    assert (broken.case_id, broken.seq) == (case.id, last)


def test_a_deleted_middle_event_is_found(estate, now, runner):
    _history(estate, now)
    case = services.get_case(estate.case.id)
    _with_trigger_off("DELETE FROM case_event WHERE case_id = :c AND seq = 2", c=case.id)
    result = runner.invoke(args=["audit", "verify", "--case", str(case.id)])
    assert result.exit_code == 1
    assert case.number in result.output and "event #2" in result.output


def test_only_the_tampered_case_is_reported(estate, now, runner):
    from tests.factories import fresh_case

    other, _ = fresh_case(estate, now)
    _history(estate, now)
    _with_trigger_off("UPDATE case_event SET at = at - interval '1 day' "
                      "WHERE case_id = :c AND seq = 1", c=other.id)
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert other.number in result.output
    assert estate.case.number not in result.output
    ok = runner.invoke(args=["audit", "verify", "--case", str(estate.case.id)])
    assert ok.exit_code == 0, ok.output
