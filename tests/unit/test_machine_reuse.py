"""The machine is reused across cases; interleaving cases must behave as separate machines."""

from datetime import date
from decimal import Decimal
from types import SimpleNamespace

import pytest

from workflows.dunning import fire
from workflows.errors import GuardFailed, TransitionNotAllowed
from workflows.facts import SYSTEM, CaseFacts

OWED = CaseFacts(today=date(2026, 11, 23), outstanding=Decimal("10.00"), debtor_identified=True,
                 contact_channels=1)
CLEAR = CaseFacts(today=date(2026, 11, 23), outstanding=Decimal("0.00"))


def case(state: str = "preparation") -> SimpleNamespace:
    return SimpleNamespace(state=state, plan_resume_state=None, dispute_resume_state=None)


def test_interleaved_cases_keep_their_own_state_and_resume_slots():
    a, b = case(), case("follow_up")
    fire(a, "start_outreach", OWED, SYSTEM)
    fire(b, "raise_dispute", OWED, SYSTEM, {"category": "billing", "note": "账单有误"})
    fire(a, "raise_dispute", OWED, SYSTEM, {"category": "other", "note": "说明"})
    assert (a.dispute_resume_state, b.dispute_resume_state) == ("first_reminder", "follow_up")
    fire(b, "resolve_dispute", OWED, SYSTEM, {"outcome": "upheld"})
    fire(a, "resolve_dispute", OWED, SYSTEM, {"outcome": "upheld"})
    assert (a.state, b.state) == ("first_reminder", "follow_up")


def test_a_case_reaching_a_final_state_does_not_stop_the_next_one():
    a, b = case(), case()
    fire(a, "settle", CLEAR, SYSTEM)
    assert a.state == "paid"
    with pytest.raises(TransitionNotAllowed):
        fire(a, "start_outreach", OWED, SYSTEM)
    fire(b, "start_outreach", OWED, SYSTEM)
    fire(b, "withdraw", OWED, SYSTEM, {"reason": "开错了"})
    assert b.state == "withdrawn"
    c = case()
    assert fire(c, "start_outreach", OWED, SYSTEM) == ("preparation", "first_reminder")


def test_a_refused_event_leaves_the_next_case_unaffected():
    a, b = case(), case()
    with pytest.raises(GuardFailed):
        fire(a, "settle", OWED, SYSTEM)
    assert a.state == "preparation"
    assert fire(b, "start_outreach", OWED, SYSTEM) == ("preparation", "first_reminder")
