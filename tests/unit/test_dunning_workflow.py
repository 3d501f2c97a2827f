"""The dunning statechart on its own: no database, a plain model object (DESIGN §3).

The expected transitions below are written out by hand from the table in DESIGN §3, not
derived from the code, so that a change to the statechart shows up here as a failure.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import date, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest

from workflows.dunning import EVENT_NAMES, STATE_IDS, events_from, fire
from workflows.errors import GuardFailed, TransitionNotAllowed
from workflows.facts import Actor, CaseFacts
from workflows.rules import EVENT_RULES

TODAY = date(2026, 11, 23)
OWED = Decimal("1611.00")
REQUESTER_ID = 1

# ---------------------------------------------------------------------------------------------
# DESIGN §3, by hand
# ---------------------------------------------------------------------------------------------

ALL_STATES = ("preparation", "first_reminder", "follow_up", "formal_demand", "mediation",
              "legal_review", "lawyer_letter", "litigation", "payment_plan", "disputed",
              "paid", "written_off", "withdrawn")
ALL_EVENTS = ("start_outreach", "escalate_follow_up", "issue_demand", "record_delivery",
              "refer_mediation", "request_legal_action", "approve_lawyer_letter",
              "reject_legal_action", "file_claim", "promise_payment", "break_plan",
              "raise_dispute", "resolve_dispute", "settle", "write_off", "withdraw")
FINAL = ("paid", "written_off", "withdrawn")
BEFORE_LITIGATION = ("preparation", "first_reminder", "follow_up", "formal_demand", "mediation",
                     "legal_review", "lawyer_letter")
OPEN = (*BEFORE_LITIGATION, "litigation", "payment_plan", "disputed")
RESUME = "<resume>"  # break_plan / resolve_dispute go back to the stage that was left

EXPECTED: dict[tuple[str, str], str] = {
    ("preparation", "start_outreach"): "first_reminder",
    ("first_reminder", "escalate_follow_up"): "follow_up",
    ("follow_up", "issue_demand"): "formal_demand",
    ("formal_demand", "record_delivery"): "formal_demand",
    ("lawyer_letter", "record_delivery"): "lawyer_letter",
    ("formal_demand", "refer_mediation"): "mediation",
    ("formal_demand", "request_legal_action"): "legal_review",
    ("mediation", "request_legal_action"): "legal_review",
    ("legal_review", "approve_lawyer_letter"): "lawyer_letter",
    ("legal_review", "reject_legal_action"): "follow_up",
    ("lawyer_letter", "file_claim"): "litigation",
    ("payment_plan", "break_plan"): RESUME,
    ("disputed", "resolve_dispute"): RESUME,
    **{(s, "promise_payment"): "payment_plan" for s in BEFORE_LITIGATION},
    **{(s, "raise_dispute"): "disputed" for s in OPEN if s != "disputed"},
    **{(s, "settle"): "paid" for s in OPEN},
    **{(s, "write_off"): "written_off" for s in OPEN},
    **{(s, "withdraw"): "withdrawn" for s in OPEN},
}

# Where each event can be tried when a rule is under test (one source stage per event).
SOURCE = {
    "start_outreach": "preparation", "escalate_follow_up": "first_reminder",
    "issue_demand": "follow_up", "record_delivery": "formal_demand",
    "refer_mediation": "formal_demand", "request_legal_action": "formal_demand",
    "approve_lawyer_letter": "legal_review", "reject_legal_action": "legal_review",
    "file_claim": "lawyer_letter", "promise_payment": "follow_up", "break_plan": "payment_plan",
    "raise_dispute": "formal_demand", "resolve_dispute": "disputed", "settle": "mediation",
    "write_off": "litigation", "withdraw": "preparation",
}

# ---------------------------------------------------------------------------------------------
# Facts, actor and params under which every rule holds
# ---------------------------------------------------------------------------------------------

GOOD_FACTS = CaseFacts(
    today=TODAY, outstanding=OWED, claimable=OWED, legal_threshold=Decimal("1000.00"),
    debtor_identified=True, contact_channels=2, documented_attempts=2, debtor_unreachable=False,
    address_verified=True, open_dispute=False, demand_delivered_grade="A",
    demand_deadline=TODAY - timedelta(days=3), letter_deadline=TODAY - timedelta(days=1),
    legal_requested_by=REQUESTER_ID, plan_in_default=True,
)
LEGAL = Actor(id=2, roles=frozenset({"legal"}), name="周法务")
REQUESTER = Actor(id=REQUESTER_ID, roles=frozenset({"legal"}), name="陈法务")
SUPERVISOR = Actor(id=3, roles=frozenset({"supervisor"}), name="李组长")
COLLECTOR = Actor(id=4, roles=frozenset({"collector"}), name="王催费")


def plan(total: Decimal = OWED) -> list[dict]:
    first = (total / 2).quantize(Decimal("0.01"))
    return [{"due_date": TODAY + timedelta(days=10), "amount": first},
            {"due_date": TODAY + timedelta(days=40), "amount": total - first}]


def good_params() -> dict:
    return {"reason": "业主已搬离，经核实为登记错误", "grade": "A", "route": "suit",
            "category": "billing", "note": "业主对2024年3月水费分摊有异议", "outcome": "upheld",
            "installments": plan()}


def good_facts(event: str) -> CaseFacts:
    if event == "settle":
        return dataclasses.replace(GOOD_FACTS, outstanding=Decimal("0.00"),
                                   claimable=Decimal("0.00"))
    return GOOD_FACTS


def model(state: str, plan_from: str | None = None, dispute_from: str | None = None):
    return SimpleNamespace(state=state, plan_resume_state=plan_from,
                           dispute_resume_state=dispute_from)


CJK = re.compile(r"[\u4e00-\u9fff]")


# ---------------------------------------------------------------------------------------------
# The contract itself
# ---------------------------------------------------------------------------------------------

def test_state_ids_and_event_names_are_the_stored_contract():
    assert set(STATE_IDS) == set(ALL_STATES)
    assert set(EVENT_NAMES) == set(ALL_EVENTS)
    assert set(EVENT_RULES) == set(ALL_EVENTS)


@pytest.mark.parametrize("state", ALL_STATES)
def test_events_from_each_state_match_the_design(state):
    expected = {event for (source, event) in EXPECTED if source == state}
    assert set(events_from(state)) == expected


@pytest.mark.parametrize("state", STATE_IDS)
@pytest.mark.parametrize("event", EVENT_NAMES)
def test_every_event_from_every_state(state, event):
    resume_to = "first_reminder" if state == "payment_plan" else "formal_demand"
    case = model(state, plan_from=resume_to if state == "payment_plan" else None,
                 dispute_from=resume_to if state == "disputed" else None)
    if event not in events_from(state):
        assert (state, event) not in EXPECTED
        with pytest.raises(TransitionNotAllowed) as exc:
            fire(case, event, good_facts(event), LEGAL, good_params())
        assert exc.value.rule == "transition_not_allowed"
        assert CJK.search(exc.value.message)
        assert case.state == state
        return
    expected = EXPECTED[(state, event)]
    if expected == RESUME:
        expected = resume_to
    assert fire(case, event, good_facts(event), LEGAL, good_params()) == (state, expected)
    assert case.state == expected


# ---------------------------------------------------------------------------------------------
# Every rule, when its condition fails
# ---------------------------------------------------------------------------------------------

def _facts(**changes):
    return lambda f, a, p: (dataclasses.replace(f, **changes), a, p)


def _params(**changes):
    return lambda f, a, p: (f, a, {**p, **changes})


def _actor(actor):
    return lambda f, a, p: (f, actor, p)


def _short_plan(f, a, p):
    items = plan()
    items[-1] = {**items[-1], "amount": items[-1]["amount"] - Decimal("0.01")}
    return f, a, {**p, "installments": items}


BREAK = {
    "debtor_identified": _facts(debtor_identified=False),
    "has_contact_channel": _facts(contact_channels=0),
    "outstanding_positive": _facts(outstanding=Decimal("0.00"), claimable=Decimal("0.00")),
    "two_documented_attempts": _facts(documented_attempts=1, debtor_unreachable=False),
    "demand_deadline_passed": _facts(demand_deadline=TODAY),
    "demand_delivered": _facts(demand_delivered_grade="C"),
    "no_open_dispute": _facts(open_dispute=True),
    "balance_over_threshold": _facts(legal_threshold=Decimal("1611.01")),
    "actor_is_legal_officer": _actor(SUPERVISOR),
    "four_eyes": _actor(REQUESTER),
    "reason_required": _params(reason="   "),
    "letter_deadline_passed": _facts(letter_deadline=TODAY),
    "court_route_chosen": _params(route="arbitration"),
    "claimable_within_limitation": _facts(claimable=Decimal("0.00")),
    "payment_order_conditions": lambda f, a, p: (dataclasses.replace(f, open_dispute=True), a,
                                                 {**p, "route": "payment_order"}),
    "installments_sum_to_outstanding": _short_plan,
    "installment_missed": _facts(plan_in_default=False),
    "dispute_category_required": _params(category="unhappy"),
    "dispute_note_required": _params(note=""),
    "dispute_outcome_required": _params(outcome="maybe"),
    "nothing_owed": _facts(outstanding=Decimal("0.01")),
    "approver_role": _actor(COLLECTOR),
    "delivery_grade_required": _params(grade="D"),
}

RULE_CASES = [pytest.param(event, rule, id=f"{event}-{rule.name}")
              for event, rules in EVENT_RULES.items() for rule in rules]


def test_every_rule_has_a_breaker():
    assert {rule.name for rules in EVENT_RULES.values() for rule in rules} == set(BREAK)


@pytest.mark.parametrize(("event", "rule"), RULE_CASES)
def test_a_failing_rule_refuses_with_its_name_and_a_chinese_message(event, rule):
    state = SOURCE[event]
    facts, actor, params = BREAK[rule.name](good_facts(event), LEGAL, good_params())
    case = model(state, plan_from="follow_up", dispute_from="follow_up")
    with pytest.raises(GuardFailed) as exc:
        fire(case, event, facts, actor, params)
    assert exc.value.rule == rule.name
    assert exc.value.message == rule.message
    assert exc.value.message.strip() and CJK.search(exc.value.message)
    assert exc.value.message_en.strip()
    assert exc.value.as_dict()["error"] == "guard_failed"
    # refused: nothing moved
    assert (case.state, case.plan_resume_state, case.dispute_resume_state) == (
        state, "follow_up", "follow_up")


@pytest.mark.parametrize(("event", "rule"), RULE_CASES)
def test_the_same_facts_pass_when_the_rule_holds(event, rule):
    """The control for the test above: without the breaker, the event goes through."""
    case = model(SOURCE[event], plan_from="follow_up", dispute_from="follow_up")
    fire(case, event, good_facts(event), LEGAL, good_params())
    assert case.state == EXPECTED[(SOURCE[event], event)].replace(RESUME, "follow_up")


# ---------------------------------------------------------------------------------------------
# Resume: disputes and plans go back to where they left off
# ---------------------------------------------------------------------------------------------

DISPUTABLE = [s for s in OPEN if s != "disputed"]


@pytest.mark.parametrize("stage", DISPUTABLE)
def test_a_dispute_resolves_back_to_the_stage_it_paused(stage):
    case = model(stage, plan_from="mediation" if stage == "payment_plan" else None)
    assert fire(case, "raise_dispute", GOOD_FACTS, COLLECTOR, good_params()) == (stage,
                                                                                 "disputed")
    assert case.dispute_resume_state == stage
    assert fire(case, "resolve_dispute", GOOD_FACTS, COLLECTOR,
                {"outcome": "reduced"}) == ("disputed", stage)
    assert case.dispute_resume_state is None


@pytest.mark.parametrize("stage", BEFORE_LITIGATION)
def test_a_broken_plan_returns_to_the_stage_before_the_plan(stage):
    case = model(stage)
    fire(case, "promise_payment", GOOD_FACTS, COLLECTOR, {"installments": plan()})
    assert (case.state, case.plan_resume_state) == ("payment_plan", stage)
    assert fire(case, "break_plan", GOOD_FACTS, COLLECTOR) == (
        "payment_plan", stage)
    assert case.plan_resume_state is None


@pytest.mark.parametrize("stage", BEFORE_LITIGATION)
def test_a_dispute_during_a_plan_keeps_the_plans_resume_point(stage):
    case = model(stage)
    fire(case, "promise_payment", GOOD_FACTS, COLLECTOR, {"installments": plan()})
    fire(case, "raise_dispute", GOOD_FACTS, COLLECTOR, {"category": "service_quality",
                                                        "note": "电梯长期停运"})
    assert (case.state, case.dispute_resume_state, case.plan_resume_state) == (
        "disputed", "payment_plan", stage)
    fire(case, "resolve_dispute", GOOD_FACTS, COLLECTOR, {"outcome": "upheld"})
    assert case.state == "payment_plan"
    fire(case, "break_plan", GOOD_FACTS, COLLECTOR)
    assert case.state == stage


@pytest.mark.parametrize(("state", "event"), [("payment_plan", "break_plan"),
                                              ("disputed", "resolve_dispute")])
def test_a_resume_event_without_a_recorded_stage_is_not_allowed(state, event):
    case = model(state)
    with pytest.raises(TransitionNotAllowed):
        fire(case, event, GOOD_FACTS, LEGAL, good_params())
    assert case.state == state


@pytest.mark.parametrize("final", ["paid", "written_off", "withdrawn"])
@pytest.mark.parametrize("stage", ["payment_plan", "disputed", "lawyer_letter"])
def test_closing_clears_the_resume_slots(stage, final):
    case = model(stage, plan_from="follow_up", dispute_from="follow_up")
    event = {"paid": "settle", "written_off": "write_off", "withdrawn": "withdraw"}[final]
    fire(case, event, good_facts(event), LEGAL, good_params())
    assert (case.state, case.plan_resume_state, case.dispute_resume_state) == (final, None, None)


# ---------------------------------------------------------------------------------------------
# Final states, four-eyes, payment orders
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("final", FINAL)
def test_final_states_have_no_events(final):
    assert events_from(final) == []
    for event in ALL_EVENTS:
        case = model(final)
        with pytest.raises(TransitionNotAllowed):
            fire(case, event, good_facts(event), LEGAL, good_params())
        assert case.state == final


def test_the_requester_cannot_approve_their_own_escalation():
    case = model("legal_review")
    with pytest.raises(GuardFailed) as exc:
        fire(case, "approve_lawyer_letter", GOOD_FACTS, REQUESTER)
    assert exc.value.rule == "four_eyes"
    assert "四眼" in exc.value.message
    assert case.state == "legal_review"
    assert fire(case, "approve_lawyer_letter", GOOD_FACTS, LEGAL) == ("legal_review",
                                                                      "lawyer_letter")


def test_a_collector_cannot_approve_even_if_someone_else_requested():
    case = model("legal_review")
    with pytest.raises(GuardFailed) as exc:
        fire(case, "approve_lawyer_letter", GOOD_FACTS, COLLECTOR)
    assert exc.value.rule == "actor_is_legal_officer"


@pytest.mark.parametrize("change", [
    pytest.param({"open_dispute": True}, id="open-dispute"),
    pytest.param({"address_verified": False}, id="unverified-address"),
    pytest.param({"debtor_unreachable": True}, id="unreachable-debtor"),
])
def test_a_payment_order_is_refused(change):
    facts = dataclasses.replace(GOOD_FACTS, **change)
    case = model("lawyer_letter")
    with pytest.raises(GuardFailed) as exc:
        fire(case, "file_claim", facts, LEGAL, {"route": "payment_order"})
    assert exc.value.rule == "payment_order_conditions"
    assert "支付令" in exc.value.message
    assert case.state == "lawyer_letter"
    # the same facts allow an ordinary suit
    assert fire(case, "file_claim", facts, LEGAL, {"route": "suit"}) == ("lawyer_letter",
                                                                         "litigation")


def test_a_payment_order_goes_through_when_its_conditions_hold():
    case = model("lawyer_letter")
    assert fire(case, "file_claim", GOOD_FACTS, LEGAL, {"route": "payment_order"})[1] == \
        "litigation"


def test_an_unknown_event_is_not_allowed():
    case = model("preparation")
    with pytest.raises(TransitionNotAllowed):
        fire(case, "cut_water_supply", GOOD_FACTS, LEGAL, {})
    assert case.state == "preparation"


# ---------------------------------------------------------------------------------------------
# fire() reuses one machine per thread: no case may leak into the next
# ---------------------------------------------------------------------------------------------

def test_interleaved_cases_do_not_share_state():
    a = model("payment_plan", plan_from="follow_up")
    b = model("payment_plan", plan_from="mediation")
    c = model("preparation")
    fire(c, "settle", good_facts("settle"), LEGAL)  # a final state ends a machine's run
    with pytest.raises(GuardFailed):
        fire(a, "break_plan", dataclasses.replace(GOOD_FACTS, plan_in_default=False), LEGAL)
    assert fire(b, "break_plan", GOOD_FACTS, LEGAL) == ("payment_plan", "mediation")
    with pytest.raises(TransitionNotAllowed):
        fire(model("disputed"), "resolve_dispute", GOOD_FACTS, LEGAL, {"outcome": "upheld"})
    assert fire(a, "break_plan", GOOD_FACTS, LEGAL) == ("payment_plan", "follow_up")
    fresh = model("preparation")
    assert fire(fresh, "start_outreach", GOOD_FACTS, LEGAL) == ("preparation", "first_reminder")
    assert (a.state, b.state, c.state) == ("follow_up", "mediation", "paid")


def test_a_model_changed_behind_the_machines_back_is_read_afresh():
    """A rolled-back transaction puts the old state back on the case object."""
    case = model("preparation")
    fire(case, "start_outreach", GOOD_FACTS, LEGAL)
    case.state = "preparation"  # what a rollback does
    assert fire(case, "start_outreach", GOOD_FACTS, LEGAL) == ("preparation", "first_reminder")
    case.state = "paid"
    with pytest.raises(TransitionNotAllowed):
        fire(case, "start_outreach", GOOD_FACTS, LEGAL)
    case.state = "preparation"
    assert fire(case, "start_outreach", GOOD_FACTS, LEGAL)[1] == "first_reminder"


def test_threads_fire_independently():
    import threading

    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for _ in range(30):
                case = model("preparation")
                for event in ("start_outreach", "escalate_follow_up", "issue_demand"):
                    fire(case, event, GOOD_FACTS, LEGAL)
                fire(case, "promise_payment", GOOD_FACTS, LEGAL, {"installments": plan()})
                fire(case, "break_plan", GOOD_FACTS, LEGAL)
                assert case.state == "formal_demand", n
                fire(case, "withdraw", GOOD_FACTS, LEGAL, {"reason": "测试"})
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
