"""The audit chain on every backend, and the SQLite append-only triggers (DESIGN §6)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from casework import audit, services
from casework.extensions import db
from casework.models import GENESIS, CaseEvent
from tests.conftest import make_app
from tests.factories import case_events, fast_password_hashing, make_estate, walk


@pytest.fixture(autouse=True)
def _fast_passwords(monkeypatch):
    fast_password_hashing(monkeypatch)


@pytest.fixture
def sqlite_app(tmp_path, sqlite_template):
    """Always SQLite, also in the PostgreSQL pass: the SQLite triggers are tested here."""
    app = make_app("sqlite", tmp_path, sqlite_template)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


# --- the chain -------------------------------------------------------------------------------

def test_every_event_links_to_the_one_before(estate, now):
    walk(estate, estate.case.id, "lawyer_letter", now)
    events = case_events(estate.case.id)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert events[0].prev_hash == GENESIS
    for before, after in zip(events, events[1:], strict=False):
        assert after.prev_hash == before.hash
    for ev in events:
        assert audit.event_hash(ev) == ev.hash
    case = services.get_case(estate.case.id)
    assert (case.event_seq, case.event_hash) == (events[-1].seq, events[-1].hash)
    assert audit.verify_all() == (len(events), [])


def test_the_record_holds_no_floats_and_canonical_money(estate, now):
    services.record_payment(estate.case.id, "100.10", now.date(), now=now)
    payment = case_events(estate.case.id, "payment")[-1]
    assert payment.payload["amount"] == "100.10"
    assert payment.payload["paid_on"] == "2026-11-23"
    with pytest.raises(TypeError):
        audit.plain({"amount": 1.5})


def test_state_at_replays_the_history(estate, now):
    cid = estate.case.id
    later = walk(estate, cid, "lawyer_letter", now)
    assert audit.state_at(cid, now - timedelta(seconds=1)) is None
    assert audit.state_at(cid, now) == "formal_demand"  # everything on day one
    assert audit.state_at(cid, later - timedelta(seconds=1)) == "formal_demand"
    assert audit.state_at(cid, later) == "lawyer_letter"
    services.fire_event(cid, "raise_dispute", estate.collector,
                        {"category": "service_quality", "note": "绿化无人打理"},
                        now=later + timedelta(days=1))
    assert audit.state_at(cid, later + timedelta(days=1)) == "disputed"
    assert audit.state_at(cid, later + timedelta(hours=23)) == "lawyer_letter"


def test_every_kind_of_event_is_in_the_chain(estate, now):
    cid = estate.case.id
    services.fire_event(cid, "start_outreach", estate.collector, now=now)
    services.record_contact(cid, estate.collector, channel="sms", outcome="no_answer", now=now)
    services.reveal_phone(cid, estate.collector, now=now)
    services.assign([cid], estate.collector2.id, estate.supervisor, now=now)
    services.record_payment(cid, "10.00", now.date(), now=now)
    kinds = [e.kind for e in case_events(cid)]
    assert kinds == ["opened", "transition", "contact", "reveal", "assignment", "payment"]
    assert audit.verify_all()[1] == []


def test_audit_verify_exits_0_on_an_intact_database(estate, now, runner):
    walk(estate, estate.case.id, "legal_review", now)
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    count = db.session.scalar(sa.select(sa.func.count(CaseEvent.id)))
    assert f"OK: {count} events verified, chain intact." in result.output


def test_audit_verify_on_an_empty_database(app, runner):
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "OK: 0 events verified" in result.output


# --- the triggers ----------------------------------------------------------------------------

@pytest.mark.parametrize("sql", [
    "UPDATE case_event SET name = 'tampered' WHERE seq = 1",
    "DELETE FROM case_event WHERE seq = 1",
])
def test_the_trigger_blocks_update_and_delete_on_this_backend(estate, sql):
    with pytest.raises(sa.exc.DBAPIError) as exc:
        with db.engine.begin() as conn:
            conn.execute(sa.text(sql))
    assert "append-only" in str(exc.value)
    assert audit.verify_all() == (1, [])


@pytest.mark.parametrize("verb", ["UPDATE", "DELETE"])
def test_the_sqlite_trigger_blocks_update_and_delete(sqlite_app, now, verb):
    assert db.engine.dialect.name == "sqlite"
    estate = make_estate(now)
    sql = {"UPDATE": "UPDATE case_event SET payload = '{}' WHERE case_id = :c",
           "DELETE": "DELETE FROM case_event WHERE case_id = :c"}[verb]
    with pytest.raises(sa.exc.DBAPIError) as exc:
        with db.engine.begin() as conn:
            conn.execute(sa.text(sql), {"c": estate.case.id})
    assert "append-only" in str(exc.value)
    assert f"{verb} refused" in str(exc.value)
    assert len(case_events(estate.case.id)) == 1


def test_an_edit_on_sqlite_behind_the_triggers_is_found(sqlite_app, now):
    """With the trigger dropped (as only someone with the database file could), the hash
    chain still gives the edit away."""
    estate = make_estate(now)
    cid = estate.case.id
    services.fire_event(cid, "start_outreach", estate.collector, now=now)
    with db.engine.begin() as conn:
        conn.execute(sa.text("DROP TRIGGER case_event_no_update"))
        conn.execute(sa.text("UPDATE case_event SET to_state = 'follow_up' "
                             "WHERE case_id = :c AND seq = 2"), {"c": cid})
    db.session.expire_all()
    result = sqlite_app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert estate.case.number in result.output and "event #2" in result.output
