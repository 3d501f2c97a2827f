"""The standard dunning process (标准催费流程) as a statechart.

State ids and event names are a stored contract (DESIGN §3): renaming one needs a data
migration, and tests/snapshots/ shows every change to the table in review.
"""

from __future__ import annotations

from collections.abc import Mapping
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

    start_outreach = preparation.to(first_reminder, validators="check_rules")
    escalate_follow_up = first_reminder.to(follow_up, validators="check_rules")
    issue_demand = follow_up.to(formal_demand, validators="check_rules")
    record_delivery = (formal_demand.to.itself(internal=True, validators="check_rules")
                       | lawyer_letter.to.itself(internal=True, validators="check_rules"))
    refer_mediation = formal_demand.to(mediation, validators="check_rules")
    request_legal_action = (formal_demand.to(legal_review, validators="check_rules")
                            | mediation.to(legal_review, validators="check_rules"))
    approve_lawyer_letter = legal_review.to(lawyer_letter, validators="check_rules")
    reject_legal_action = legal_review.to(follow_up, validators="check_rules")
    file_claim = lawyer_letter.to(litigation, validators="check_rules")
    promise_payment = (
        preparation.to(payment_plan, validators="check_rules")
        | first_reminder.to(payment_plan, validators="check_rules")
        | follow_up.to(payment_plan, validators="check_rules")
        | formal_demand.to(payment_plan, validators="check_rules")
        | mediation.to(payment_plan, validators="check_rules")
        | legal_review.to(payment_plan, validators="check_rules")
        | lawyer_letter.to(payment_plan, validators="check_rules")
    )
    break_plan = (
        payment_plan.to(preparation, cond=_resume_to("preparation", "plan_resume_state"),
                        validators="check_rules")
        | payment_plan.to(first_reminder, cond=_resume_to("first_reminder", "plan_resume_state"),
                          validators="check_rules")
        | payment_plan.to(follow_up, cond=_resume_to("follow_up", "plan_resume_state"),
                          validators="check_rules")
        | payment_plan.to(formal_demand, cond=_resume_to("formal_demand", "plan_resume_state"),
                          validators="check_rules")
        | payment_plan.to(mediation, cond=_resume_to("mediation", "plan_resume_state"),
                          validators="check_rules")
        | payment_plan.to(legal_review, cond=_resume_to("legal_review", "plan_resume_state"),
                          validators="check_rules")
        | payment_plan.to(lawyer_letter, cond=_resume_to("lawyer_letter", "plan_resume_state"),
                          validators="check_rules")
    )
    raise_dispute = (
        preparation.to(disputed, validators="check_rules")
        | first_reminder.to(disputed, validators="check_rules")
        | follow_up.to(disputed, validators="check_rules")
        | formal_demand.to(disputed, validators="check_rules")
        | mediation.to(disputed, validators="check_rules")
        | legal_review.to(disputed, validators="check_rules")
        | lawyer_letter.to(disputed, validators="check_rules")
        | litigation.to(disputed, validators="check_rules")
        | payment_plan.to(disputed, validators="check_rules")
    )
    resolve_dispute = (
        disputed.to(preparation, cond=_resume_to("preparation", "dispute_resume_state"),
                    validators="check_rules")
        | disputed.to(first_reminder, cond=_resume_to("first_reminder", "dispute_resume_state"),
                      validators="check_rules")
        | disputed.to(follow_up, cond=_resume_to("follow_up", "dispute_resume_state"),
                      validators="check_rules")
        | disputed.to(formal_demand, cond=_resume_to("formal_demand", "dispute_resume_state"),
                      validators="check_rules")
        | disputed.to(mediation, cond=_resume_to("mediation", "dispute_resume_state"),
                      validators="check_rules")
        | disputed.to(legal_review, cond=_resume_to("legal_review", "dispute_resume_state"),
                      validators="check_rules")
        | disputed.to(lawyer_letter, cond=_resume_to("lawyer_letter", "dispute_resume_state"),
                      validators="check_rules")
        | disputed.to(litigation, cond=_resume_to("litigation", "dispute_resume_state"),
                      validators="check_rules")
        | disputed.to(payment_plan, cond=_resume_to("payment_plan", "dispute_resume_state"),
                      validators="check_rules")
    )
    settle = (
        preparation.to(paid, validators="check_rules")
        | first_reminder.to(paid, validators="check_rules")
        | follow_up.to(paid, validators="check_rules")
        | formal_demand.to(paid, validators="check_rules")
        | mediation.to(paid, validators="check_rules")
        | legal_review.to(paid, validators="check_rules")
        | lawyer_letter.to(paid, validators="check_rules")
        | litigation.to(paid, validators="check_rules")
        | payment_plan.to(paid, validators="check_rules")
        | disputed.to(paid, validators="check_rules")
    )
    write_off = (
        preparation.to(written_off, validators="check_rules")
        | first_reminder.to(written_off, validators="check_rules")
        | follow_up.to(written_off, validators="check_rules")
        | formal_demand.to(written_off, validators="check_rules")
        | mediation.to(written_off, validators="check_rules")
        | legal_review.to(written_off, validators="check_rules")
        | lawyer_letter.to(written_off, validators="check_rules")
        | litigation.to(written_off, validators="check_rules")
        | payment_plan.to(written_off, validators="check_rules")
        | disputed.to(written_off, validators="check_rules")
    )
    withdraw = (
        preparation.to(withdrawn, validators="check_rules")
        | first_reminder.to(withdrawn, validators="check_rules")
        | follow_up.to(withdrawn, validators="check_rules")
        | formal_demand.to(withdrawn, validators="check_rules")
        | mediation.to(withdrawn, validators="check_rules")
        | legal_review.to(withdrawn, validators="check_rules")
        | lawyer_letter.to(withdrawn, validators="check_rules")
        | litigation.to(withdrawn, validators="check_rules")
        | payment_plan.to(withdrawn, validators="check_rules")
        | disputed.to(withdrawn, validators="check_rules")
    )

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
    state = getattr(DunningWorkflow, state_id)
    return [e for e in EVENT_NAMES if any(e in t.event for t in state.transitions)]


def fire(model: Any, event: str, facts: CaseFacts, actor: Actor,
         params: Mapping[str, Any] | None = None, state_field: str = "state") -> tuple[str, str]:
    """Fire `event` on the case `model`; returns (from, to) or raises a WorkflowError."""
    machine = DunningWorkflow(model=model, state_field=state_field)
    source = getattr(model, state_field)
    if event not in EVENT_NAMES or event not in events_from(source):
        label = STATE_LABELS.get(source, source)
        raise TransitionNotAllowed(
            "transition_not_allowed",
            f"案件当前处于“{label}”阶段，不能执行“{EVENT_LABELS.get(event, (event,))[0]}”。",
            f"The case is in stage '{source}'; '{event}' is not possible there.")
    try:
        machine.send(event, facts=facts, actor=actor, params=dict(params or {}))
    except LibTransitionNotAllowed as exc:  # a resume slot that matches no transition
        raise TransitionNotAllowed("transition_not_allowed", str(exc), str(exc)) from exc
    return source, getattr(model, state_field)


def check(state_id: str, event: str, facts: CaseFacts, actor: Actor,
          params: Mapping[str, Any] | None = None) -> GuardFailed | TransitionNotAllowed | None:
    """Why `event` would be refused now, or None when it would go through (for the UI)."""
    if event not in events_from(state_id):
        return TransitionNotAllowed("transition_not_allowed", "当前阶段不能执行此操作。",
                                    "Not possible in this stage.")
    failures = failed_rules(event, facts, actor, params or {})
    return failures[0].failure() if failures else None
