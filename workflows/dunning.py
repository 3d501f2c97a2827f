"""The standard dunning process (标准催费流程) as a statechart.

State ids and event names are a stored contract (DESIGN §3): renaming one needs a data
migration, and tests/snapshots/ shows every change to the table in review.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

from statemachine import State
from statemachine.exceptions import TransitionNotAllowed as LibTransitionNotAllowed

from .base import CaseWorkflow
from .errors import GuardFailed, TransitionNotAllowed
from .facts import Actor, CaseFacts
from .rules import EVENT_RULES, failed_rules

BEFORE_LITIGATION = ("preparation", "first_reminder", "follow_up", "formal_demand", "mediation",
                     "legal_review", "lawyer_letter")
RESUMABLE = (*BEFORE_LITIGATION, "litigation")
FINAL_STATES = ("paid", "written_off", "withdrawn")


def _resume_to(state_id: str, slot: str):
    def came_from(model) -> bool:
        return getattr(model, slot, None) == state_id

    came_from.__name__ = f"{slot.split('_')[0]}_left_{state_id}"
    return came_from


def _into(target: State, *sources: State):
    """One event from each of `sources` to `target`, every one checked by the rules."""
    transitions = sources[0].to(target, validators="check_rules")
    for source in sources[1:]:
        transitions |= source.to(target, validators="check_rules")
    return transitions


def _resume(source: State, slot: str, targets: tuple[State, ...], ids: tuple[str, ...]):
    """Back from `source` to the stage the case left, as recorded in the model's `slot`."""
    transitions = None
    for target, state_id in zip(targets, ids, strict=True):
        t = source.to(target, cond=_resume_to(state_id, slot), validators="check_rules")
        transitions = t if transitions is None else transitions | t
    return transitions


class DunningWorkflow(CaseWorkflow):
    """A case walks the stages of the dunning process; every move is checked against the rules."""

    preparation = State("前期准备", initial=True)
    first_reminder = State("首次催收")
    follow_up = State("跟进催收")
    formal_demand = State("书面催告")
    mediation = State("调解/上报")
    legal_review = State("法务审核")
    lawyer_letter = State("律师函")
    litigation = State("诉讼/支付令")
    payment_plan = State("分期/承诺付款")
    disputed = State("异议处理")
    paid = State("已结清", final=True)
    written_off = State("已核销", final=True)
    withdrawn = State("已撤销", final=True)

    _before_litigation = (preparation, first_reminder, follow_up, formal_demand, mediation,
                          legal_review, lawyer_letter)
    _open = (*_before_litigation, litigation, payment_plan, disputed)

    start_outreach = preparation.to(first_reminder, validators="check_rules")
    escalate_follow_up = first_reminder.to(follow_up, validators="check_rules")
    issue_demand = follow_up.to(formal_demand, validators="check_rules")
    record_delivery = (formal_demand.to.itself(internal=True, validators="check_rules")
                       | lawyer_letter.to.itself(internal=True, validators="check_rules"))
    refer_mediation = formal_demand.to(mediation, validators="check_rules")
    request_legal_action = _into(legal_review, formal_demand, mediation)
    approve_lawyer_letter = legal_review.to(lawyer_letter, validators="check_rules")
    reject_legal_action = legal_review.to(follow_up, validators="check_rules")
    file_claim = lawyer_letter.to(litigation, validators="check_rules")
    promise_payment = _into(payment_plan, *_before_litigation)
    break_plan = _resume(payment_plan, "plan_resume_state", _before_litigation,
                         BEFORE_LITIGATION)
    raise_dispute = _into(disputed, *_before_litigation, litigation, payment_plan)
    resolve_dispute = _resume(disputed, "dispute_resume_state",
                              (*_before_litigation, litigation, payment_plan),
                              (*BEFORE_LITIGATION, "litigation", "payment_plan"))
    settle = _into(paid, *_open)
    write_off = _into(written_off, *_open)
    withdraw = _into(withdrawn, *_open)
    del _before_litigation, _open

    def check_rules(self, event: str, facts: CaseFacts, actor: Actor,
                    params: Mapping[str, Any] | None = None) -> None:
        """Refuse the event with the first rule it breaks (rules are side-effect-free)."""
        failures = failed_rules(str(event), facts, actor, params or {})
        if failures:
            raise failures[0].failure()

    def on_promise_payment(self, source: State) -> None:
        self.model.plan_resume_state = source.id

    def on_break_plan(self) -> None:
        self.model.plan_resume_state = None

    def on_raise_dispute(self, source: State) -> None:
        self.model.dispute_resume_state = source.id

    def on_resolve_dispute(self) -> None:
        self.model.dispute_resume_state = None

    def on_enter_paid(self) -> None:
        self.model.plan_resume_state = self.model.dispute_resume_state = None

    on_enter_written_off = on_enter_withdrawn = on_enter_paid


STATE_IDS: tuple[str, ...] = tuple(s.id for s in DunningWorkflow.states)
EVENT_NAMES: tuple[str, ...] = tuple(EVENT_RULES)
STATE_LABELS: dict[str, str] = {s.id: s.name for s in DunningWorkflow.states}
EVENT_LABELS: dict[str, tuple[str, str]] = {
    "start_outreach": ("开始催收", "Start outreach"),
    "escalate_follow_up": ("转入跟进催收", "Escalate to follow-up"),
    "issue_demand": ("发出催缴通知书", "Issue written demand"),
    "record_delivery": ("登记送达", "Record delivery"),
    "refer_mediation": ("提交调解/上报", "Refer to mediation"),
    "request_legal_action": ("申请法律行动", "Request legal action"),
    "approve_lawyer_letter": ("批准律师函", "Approve lawyer letter"),
    "reject_legal_action": ("驳回法律行动", "Reject legal action"),
    "file_claim": ("提起诉讼/申请支付令", "File claim"),
    "promise_payment": ("承诺/分期付款", "Promise payment"),
    "break_plan": ("分期违约", "Break plan"),
    "raise_dispute": ("登记异议", "Raise dispute"),
    "resolve_dispute": ("异议处理完毕", "Resolve dispute"),
    "settle": ("结清", "Settle"),
    "write_off": ("核销", "Write off"),
    "withdraw": ("撤销", "Withdraw"),
}


def events_from(state_id: str) -> list[str]:
    """Event names that exist in a stage (guards not evaluated)."""
    return list(_events_from(state_id))


@functools.cache
def _events_from(state_id: str) -> tuple[str, ...]:
    state = getattr(DunningWorkflow, state_id)
    return tuple(e for e in EVENT_NAMES if any(e in t.event for t in state.transitions))


class _ModelProxy:
    """Stands in for the case inside a reused machine: every attribute goes to `target`."""

    def __init__(self, state: str) -> None:
        object.__setattr__(self, "target", SimpleNamespace(state=state))

    def __getattr__(self, name: str) -> Any:
        return getattr(object.__getattribute__(self, "target"), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(object.__getattribute__(self, "target"), name, value)


_local = threading.local()


def _machine_for(model: Any, state_field: str) -> DunningWorkflow:
    """A machine per thread and state field, re-aimed at `model`.

    Building a machine resolves every callback of ~90 transitions (about 3 ms); a send is
    about 0.3 ms. The machine keeps no state of its own beyond the model's state field, so
    one instance can serve every case in turn.
    """
    machines = _local.__dict__.setdefault("machines", {})
    if state_field not in machines:
        proxy = _ModelProxy(getattr(model, state_field))
        machines[state_field] = (proxy, DunningWorkflow(model=proxy, state_field=state_field))
    proxy, machine = machines[state_field]
    object.__setattr__(proxy, "target", model)
    return machine


def fire(model: Any, event: str, facts: CaseFacts, actor: Actor,
         params: Mapping[str, Any] | None = None, state_field: str = "state") -> tuple[str, str]:
    """Fire `event` on the case `model`; returns (from, to) or raises a WorkflowError."""
    source = getattr(model, state_field)
    if event not in EVENT_NAMES or event not in _events_from(source):
        label = STATE_LABELS.get(source, source)
        raise TransitionNotAllowed(
            "transition_not_allowed",
            f"案件当前处于“{label}”阶段，不能执行“{EVENT_LABELS.get(event, (event,))[0]}”。",
            f"The case is in stage '{source}'; '{event}' is not possible there.")
    machine = _machine_for(model, state_field)
    try:
        machine.send(event, facts=facts, actor=actor, params=dict(params or {}))
    except LibTransitionNotAllowed as exc:  # a resume slot that matches no transition
        _local.machines.pop(state_field, None)
        raise TransitionNotAllowed("transition_not_allowed", str(exc), str(exc)) from exc
    except BaseException:
        _local.machines.pop(state_field, None)
        raise
    finally:
        if machine.is_terminated:  # a final state ends a machine's run: build a new one
            _local.machines.pop(state_field, None)
    return source, getattr(model, state_field)


def check(state_id: str, event: str, facts: CaseFacts, actor: Actor,
          params: Mapping[str, Any] | None = None) -> GuardFailed | TransitionNotAllowed | None:
    """Why `event` would be refused now, or None when it would go through (for the UI)."""
    if event not in events_from(state_id):
        return TransitionNotAllowed("transition_not_allowed", "当前阶段不能执行此操作。",
                                    "Not possible in this stage.")
    failures = failed_rules(event, facts, actor, params or {})
    return failures[0].failure() if failures else None
