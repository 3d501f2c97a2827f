"""Property test: random work on a case never breaks the rules of DESIGN §3 and §6.

Each example opens a fresh case (new debtor, unit and periods) and applies a random sequence
of steps through the services: workflow events with plausible random parameters, contacts,
payments of random amounts, deliveries of random grade, payment reversals and moves of the
clock. Refusals (WorkflowError, ServiceError) are part of the game; anything else fails.
After every step the invariants are checked. Runs on SQLite and, with
CASEWORK_TEST_DB=postgresql, on PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, event, example, given, note, settings
from hypothesis import strategies as st

from casework import audit, services
from casework.extensions import db
from casework.models import (
    CHANNELS,
    OUTCOMES,
    CaseEvent,
    ChargeLine,
    ContactAttempt,
    Document,
    DunningCase,
    Payment,
)
from casework.services import ServiceError, WorkflowError
from casework.services.clock import local_date
from tests.factories import Estate, fast_password_hashing, fresh_case
from workflows.dunning import EVENT_NAMES, FINAL_STATES, STATE_IDS, events_from
from workflows.rules import COURT_ROUTES, DISPUTE_CATEGORIES, DISPUTE_OUTCOMES

CENT = Decimal("0.01")
ACTORS = ("fit", "fit", "fit", "collector", "collector2", "supervisor", "legal", "legal2",
          "auditor", "system")


@pytest.fixture(autouse=True)
def _fast_passwords(monkeypatch):
    fast_password_hashing(monkeypatch)


# --- steps -----------------------------------------------------------------------------------

SIDE_EVENTS = ("promise_payment", "raise_dispute", "resolve_dispute", "refer_mediation",
               "break_plan", "reject_legal_action", "settle", "withdraw")
forward = st.tuples(st.just("forward"), st.integers(0, 10_000))
advance = st.tuples(st.just("advance"), st.integers(0, 40), st.integers(0, 23))
named = st.tuples(st.just("named"), st.sampled_from(SIDE_EVENTS), st.integers(0, 10_000))
steps = st.one_of(
    forward, forward, forward, advance, advance, named, named, named,  # weights
    st.tuples(st.just("event"), st.booleans(), st.integers(0, 40), st.sampled_from(ACTORS),
              st.integers(0, 10_000)),
    st.tuples(st.just("contact"), st.sampled_from(CHANNELS), st.sampled_from(OUTCOMES),
              st.booleans()),
    st.tuples(st.just("payment"), st.integers(1, 40_000) | st.integers(1, 250_000),
              st.integers(-1, 8), st.integers(-1, 2)),
    st.tuples(st.just("delivery"), st.integers(0, 10_000)),
    st.tuples(st.just("reverse"), st.integers(0, 10)),
)

SCRIPT = [("forward", 1)] * 4 + [("advance", 30, 0)] + [("forward", 0)] * 3 + [
    ("advance", 20, 0), ("forward", 2)]
TO_LITIGATION_AND_BEYOND = [
    ("forward", 1), ("forward", 1), ("forward", 1), ("forward", 1), ("advance", 30, 0),
    ("forward", 1), ("forward", 1), ("forward", 1), ("advance", 20, 0), ("forward", 1),
    ("payment", 40_000, -1, 0), ("payment", 40_000, -1, 0), ("payment", 200_000, 2, 1),
    ("reverse", 2), ("forward", 3), ("contact", "phone", "promised", True), ("forward", 7),
]
PLAN_AND_DISPUTE = [
    ("forward", 1), ("event", True, 1, "fit", 10), ("event", True, 1, "fit", 4),
    ("advance", 40, 3), ("event", True, 1, "fit", 5), ("forward", 2),
    ("event", True, 0, "fit", 1), ("payment", 30_000, 3, -1), ("reverse", 0),
]


@dataclass
class World:
    estate: Estate
    now: datetime
    case_ids: list[int]
    debtor_id: int
    closed: dict[int, tuple[str, int]] = field(default_factory=dict)  # final state, #transitions
    tag: str = ""
    before: tuple | None = None  # the footprint before the last command

    def call(self, command, *args, **kwargs):
        """Run one service command, remembering what the database looked like before it."""
        self.before = footprint(self)
        return command(*args, **kwargs)

    @property
    def case(self) -> DunningCase:
        """The case the next step works on: the newest open case of the debtor."""
        cases = [db.session.get(DunningCase, cid) for cid in self.case_ids]
        open_ = [c for c in cases if c.is_open]
        return (open_ or cases)[-1]


# --- plausible parameters --------------------------------------------------------------------

def _installments(outstanding: Decimal, today: date, v: int) -> list[dict]:
    k = v % 3 + 1
    part = (outstanding / k).quantize(CENT)
    amounts = [part] * (k - 1) + [outstanding - part * (k - 1)]
    if v % 9 == 0:
        amounts[-1] -= CENT
    return [{"due_date": (today + timedelta(days=v % 10 + 30 * i)).isoformat(),
             "amount": str(a)} for i, a in enumerate(amounts)]


def _params(event: str, case: DunningCase, today: date, v: int) -> dict:
    open_ids = [ln.id for ln in case.charge_lines if ln.balance > 0]
    params: dict = {"reason": "" if v % 7 == 0 else "经组长同意"}
    if event == "record_delivery":
        params.update(_delivery(v))
    elif event == "file_claim":
        params["route"] = "arbitration" if v % 13 == 0 else COURT_ROUTES[v % 4]
    elif event == "raise_dispute":
        params.update(category=DISPUTE_CATEGORIES[v % len(DISPUTE_CATEGORIES)],
                      note="" if v % 11 == 0 else "业主对收费有异议",
                      charge_line_ids=[i for n, i in enumerate(open_ids) if v >> n & 1])
    elif event == "resolve_dispute":
        params.update(outcome=DISPUTE_OUTCOMES[v % 3],
                      credit_amount=str(Decimal(v % 700) + Decimal("0.50")))
    elif event == "promise_payment":
        params["installments"] = _installments(services.outstanding(case), today, v)
    return params


def _delivery(v: int) -> dict:
    grade = "D" if v % 17 == 0 else "ABC"[v % 3]
    params = {"grade": grade, "proof_ref": f"凭证{v}"}
    if v % 5 == 0:
        params["tracking_no"] = f"EMS{v:09d}"
        if v % 2:
            params["contents_label"] = "物业费催缴通知书"
    return params


def _actor(world: World, who: str, event: str, case: DunningCase):
    e = world.estate
    if who == "system":
        return None
    if who != "fit":
        return getattr(e, who)
    if event == "approve_lawyer_letter":
        return e.legal2 if case.legal_requested_by_id == e.legal.id else e.legal
    if event in ("file_claim", "reject_legal_action"):
        return e.legal
    if event == "write_off":
        return e.supervisor
    return case.assignee or e.supervisor


# --- running a step --------------------------------------------------------------------------

def _fire(world: World, event: str, who: str, v: int) -> None:
    case = world.case
    user = _actor(world, who, event, case)
    world.call(services.fire_event, case.id, event, user,
               _params(event, case, local_date(world.now), v), now=world.now)


def _forward(world: World, v: int) -> None:
    """The next step of the standard process, with the actor and evidence it needs."""
    case = world.case
    state = case.state
    demand = _current(case.id, "payment_demand")
    letter = _current(case.id, "lawyer_letter")
    if state == "preparation":
        _fire(world, "start_outreach", "fit", v)
    elif state == "first_reminder":
        _fire(world, "escalate_follow_up", "fit", v)
    elif state == "follow_up":
        for _ in range(2):
            world.call(services.record_contact, case.id, case.assignee, channel="visit",
                       outcome="no_answer", now=world.now, override_reason="组长同意上门")
        _fire(world, "issue_demand", "fit", v)
    elif state == "formal_demand" and (demand is None or demand.grade not in ("A", "B")):
        world.call(services.fire_event, case.id, "record_delivery", case.assignee,
                   {"grade": "AB"[v % 2], "proof_ref": "签收回执"}, now=world.now)
    elif state in ("formal_demand", "mediation"):
        _fire(world, "request_legal_action", "fit", v)
    elif state == "legal_review":
        _fire(world, "approve_lawyer_letter", "fit", v)
    elif state == "lawyer_letter" and (letter is None or letter.delivered_on is None):
        world.call(services.fire_event, case.id, "record_delivery", world.estate.legal,
                   {"grade": "AB"[v % 2], "proof_ref": "律师函签收"}, now=world.now)
    elif state == "lawyer_letter":
        world.call(services.fire_event, case.id, "file_claim", world.estate.legal,
                   {"route": COURT_ROUTES[v % 4]}, now=world.now)
    elif state == "payment_plan":
        _fire(world, "break_plan", "system", v)
    elif state == "disputed":
        _fire(world, "resolve_dispute", "fit", v)
    elif state == "litigation":  # the judgment is paid
        world.call(services.record_payment, case.id, services.outstanding(case),
                   local_date(world.now), channel="court", now=world.now)


def _current(case_id: int, kind: str) -> Document | None:
    return db.session.scalars(sa.select(Document).where(
        Document.case_id == case_id, Document.kind == kind).order_by(Document.id.desc())).first()


def run_step(world: World, step: tuple) -> None:
    kind = step[0]
    case = world.case
    if kind == "forward":
        _forward(world, step[1])
    elif kind == "event":
        _, allowed, index, who, v = step
        names = events_from(case.state) if allowed else EVENT_NAMES
        if names:
            _fire(world, names[index % len(names)], who, v)
    elif kind == "named":
        _fire(world, step[1], "fit", step[2])
    elif kind == "contact":
        _, channel, outcome, override = step
        world.call(services.record_contact, case.id, case.assignee, channel=channel,
                   outcome=outcome, now=world.now, notes="随机联系",
                   override_reason="组长已同意" if override else None)
    elif kind == "payment":
        _, cents, designate, ext = step
        open_ids = [ln.id for ln in case.charge_lines if ln.balance > 0]
        designated = [open_ids[designate % len(open_ids)]] if designate >= 0 and open_ids else []
        world.call(services.record_payment, case.id, (Decimal(cents) / 100).quantize(CENT),
                   local_date(world.now), designated=designated,
                   external_id=f"{world.tag}-E{ext}" if ext >= 0 else None,
                   user=case.assignee, now=world.now)
    elif kind == "advance":
        world.now += timedelta(days=step[1], hours=step[2])
    elif kind == "delivery":
        world.call(services.fire_event, case.id, "record_delivery", case.assignee,
                   _delivery(step[1]), now=world.now)
    elif kind == "reverse":
        payments = db.session.scalars(sa.select(Payment).where(
            Payment.case_id.in_(world.case_ids), Payment.reversed.is_(False))
            .order_by(Payment.id)).all()
        if payments:
            target = world.call(services.reverse_payment, payments[step[1] % len(payments)].id,
                                "银行退票", world.estate.supervisor, now=world.now)
            if target.id not in world.case_ids:
                world.case_ids.append(target.id)


# --- invariants ------------------------------------------------------------------------------

def footprint(world: World) -> tuple:
    db.session.expire_all()
    cases = [db.session.get(DunningCase, cid) for cid in world.case_ids]
    rows = tuple(db.session.scalar(sa.select(sa.func.count()).select_from(m).where(
        m.case_id.in_(world.case_ids))) for m in (CaseEvent, Payment, ContactAttempt, Document))
    lines = db.session.execute(sa.select(ChargeLine.id, ChargeLine.case_id,
                                         ChargeLine.amount_paid, ChargeLine.credit,
                                         ChargeLine.limitation_expiry)
                               .where(ChargeLine.debtor_id == world.debtor_id)
                               .order_by(ChargeLine.id)).all()
    return (tuple((c.id, c.state, c.version, c.event_seq, c.event_hash) for c in cases), rows,
            tuple(map(tuple, lines)))


def check_invariants(world: World) -> None:
    db.session.expire_all()
    lines = db.session.scalars(sa.select(ChargeLine).where(
        ChargeLine.debtor_id == world.debtor_id)).all()
    for line in lines:
        assert line.amount_paid >= 0 and line.credit >= 0, line.id
        assert line.amount_paid + line.credit <= line.amount_due, (
            f"line {line.id}: paid {line.amount_paid} + credit {line.credit} > "
            f"due {line.amount_due}")
        assert isinstance(line.amount_paid, Decimal)

    checked, broken = audit.verify_all(world.case_ids)
    assert broken == [], [str(b) for b in broken]

    for cid in world.case_ids:
        case = db.session.get(DunningCase, cid)
        assert case.state in STATE_IDS
        assert services.outstanding(case) >= 0
        assert audit.state_at(cid, world.now) == case.state
        transitions = db.session.scalar(sa.select(sa.func.count(CaseEvent.id)).where(
            CaseEvent.case_id == cid, CaseEvent.kind == "transition"))
        if cid in world.closed:
            assert (case.state, transitions) == world.closed[cid], "a final state moved"
        elif case.state in FINAL_STATES:
            world.closed[cid] = (case.state, transitions)
            assert case.closed_at is not None
        if case.state == "litigation":
            check_litigation(case)


def check_litigation(case: DunningCase) -> None:
    """No case reaches litigation without a delivered formal demand (grade A/B) and a lawyer
    letter, both with their deadlines passed on the day of filing."""
    events = db.session.scalars(sa.select(CaseEvent).where(CaseEvent.case_id == case.id)
                                .order_by(CaseEvent.seq)).all()
    filings = [e for e in events if e.name == "file_claim"]
    assert filings, "in litigation without a file_claim event"
    filing = filings[-1]
    filed_on = local_date(filing.at)
    before = [e for e in events if e.seq < filing.seq and e.kind == "transition"]
    demand_proofs = [e for e in before if e.name == "record_delivery"
                     and e.from_state == "formal_demand" and e.payload["grade"] in ("A", "B")]
    letter_proofs = [e for e in before if e.name == "record_delivery"
                     and e.from_state == "lawyer_letter"]
    assert demand_proofs, "no A/B delivery of a payment demand before the filing"
    assert letter_proofs, "no delivery of the lawyer letter before the filing"
    assert date.fromisoformat(letter_proofs[-1].payload["deadline"]) < filed_on
    assert any(date.fromisoformat(e.payload["deadline"]) < filed_on for e in demand_proofs)

    demand = _current(case.id, "payment_demand")
    letter = _current(case.id, "lawyer_letter")
    assert demand is not None and demand.grade in ("A", "B") and demand.delivered_on
    assert demand.deadline < filed_on
    assert letter is not None and letter.delivered_on is not None
    assert letter.deadline < filed_on


# --- the property ----------------------------------------------------------------------------

@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(head=st.integers(0, len(SCRIPT)) | st.just(len(SCRIPT)),
       sequence=st.lists(steps, min_size=1, max_size=30))
@example(head=0, sequence=TO_LITIGATION_AND_BEYOND)
@example(head=0, sequence=PLAN_AND_DISPUTE)
def test_random_work_keeps_the_invariants(estate, now, head, sequence):
    """`head` first walks the case some way along the standard process, so that random work
    also happens in the late stages (a random walk alone rarely gets past the demand)."""
    case, _ = fresh_case(estate, now)
    world = World(estate=estate, now=now, case_ids=[case.id], debtor_id=case.debtor_id,
                  tag=case.number)
    check_invariants(world)
    for step in SCRIPT[:head] + sequence:
        note(f"{step} on {world.case.state} at {world.now.isoformat()}")
        world.before = None
        try:
            run_step(world, step)
        except (WorkflowError, ServiceError) as exc:
            note(f"  refused: {type(exc).__name__} {getattr(exc, 'rule', '')} {exc}")
            assert world.before is not None
            assert footprint(world) == world.before, "a refused command wrote something"
        check_invariants(world)
        event(f"reached {world.case.state}")
    event(f"cases per example: {len(world.case_ids)}")
    # the whole database, once per example
    assert audit.verify_all()[1] == []


def test_the_scripted_example_reaches_litigation_and_a_linked_case(estate, now):
    """The first @example above must really get there, or the litigation checks test nothing."""
    case, _ = fresh_case(estate, now)
    world = World(estate=estate, now=now, case_ids=[case.id], debtor_id=case.debtor_id,
                  tag=case.number)
    seen = set()
    for step in TO_LITIGATION_AND_BEYOND:
        run_step(world, step)
        check_invariants(world)
        seen.add(world.case.state)
    assert "litigation" in seen
    assert len(world.case_ids) == 2
    first = db.session.get(DunningCase, world.case_ids[0])
    assert first.state == "paid"
