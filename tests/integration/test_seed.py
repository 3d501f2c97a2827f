"""`flask seed-demo`: a small demo estate built through the real services covers the process."""

from __future__ import annotations

from collections import Counter
from datetime import time

import sqlalchemy as sa

from casework import audit, seed
from casework.extensions import db
from casework.models import (
    ROLES,
    CaseEvent,
    ContactAttempt,
    Document,
    DunningCase,
    StaffUser,
)
from casework.services.clock import SHANGHAI, working_calendar
from documents.lint import lint_text
from tests.conftest import NOW
from workflows.dunning import STATE_IDS


def _row_counts() -> dict[str, int]:
    return {table.name: db.session.scalar(sa.select(sa.func.count()).select_from(table))
            for table in db.metadata.sorted_tables}


def test_a_small_demo_shows_every_stage_through_the_real_services_and_rules(app):
    report = seed.run(units=60, cases=40, seed=7, now=NOW)

    assert report is not None and report.failures == []
    assert all(target == reached for target, reached in report.cases.values())
    states = Counter(db.session.scalars(sa.select(DunningCase.state)))
    assert set(states) == set(STATE_IDS), f"missing: {set(STATE_IDS) - set(states)}"
    assert sum(states.values()) == 40

    checked, broken = audit.verify_all()
    assert broken == [] and checked > 40 * 3
    for case in db.session.scalars(sa.select(DunningCase)):  # every history is a legal path
        assert audit.state_at(case.id, NOW) == case.state

    logins = {role for _, _, role in report.logins}
    assert logins == set(ROLES)
    for username, password, role in report.logins:
        user = db.session.scalar(sa.select(StaffUser).where(StaffUser.username == username))
        assert user.check_password(password) and user.has_role(role)
    assert sum(1 for *_, role in report.logins if role == "legal") >= 2
    assert sum(1 for *_, role in report.logins if role == "collector") >= 3

    # and the history keeps the rules of the process
    calendar = working_calendar()

    contacts = db.session.scalars(sa.select(ContactAttempt)).all()
    assert contacts and not any(c.flagged for c in contacts)
    for contact in contacts:
        local = contact.at.astimezone(SHANGHAI)
        assert calendar.is_workday(local.date()) and time(9) <= local.time() < time(20)
        assert lint_text(contact.notes) == [], contact.notes
    assert {t for c in contacts for t in c.techniques} >= {"timely_reminder", "sympathy"}

    for event in db.session.scalars(sa.select(CaseEvent).where(
            CaseEvent.name == "approve_lawyer_letter")):
        assert event.actor_role == "legal"
        assert event.actor_id != event.payload["requested_by"]  # four-eyes
    delivered = db.session.scalars(sa.select(Document).where(Document.grade == "A")).all()
    assert delivered
    for doc in delivered:
        assert doc.tracking_no and doc.contents_label in ("物业费催缴通知书", "律师函")
        assert doc.created_at <= NOW
    assert max(db.session.scalars(sa.select(CaseEvent.at))) <= NOW


def test_the_cli_prints_the_logins_and_a_second_run_changes_nothing(app, runner):
    result = runner.invoke(args=["seed-demo", "--units", "30", "--cases", "13"])
    assert result.exit_code == 0, result.output
    for username, password, _ in seed.DEMO_LOGINS:
        assert username in result.output and password in result.output
    before = _row_counts()
    assert before["dunning_case"] == 13

    again = runner.invoke(args=["seed-demo", "--units", "30", "--cases", "13"])
    assert again.exit_code == 0 and "nothing changed" in again.output
    assert seed.seed(units=30, cases=13, seed=1, now=NOW) is None
    assert _row_counts() == before

    # a seed stopped half-way (its last act, the auditor's account, missing) is reported
    db.session.execute(sa.delete(StaffUser).where(StaffUser.username == "shenji"))
    db.session.commit()
    broken = runner.invoke(args=["seed-demo", "--units", "30", "--cases", "13"])
    assert broken.exit_code == 1 and "make clean-demo" in broken.output
