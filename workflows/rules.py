"""The rules behind the guards of the dunning process, each with the words a collector reads.

A rule is a side-effect-free predicate over (facts, actor, params). The statechart checks an
event's rules before it moves; the UI asks the same rules to explain a greyed-out button.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from .errors import GuardFailed
from .facts import Actor, CaseFacts

LEGAL_ROLES = ("legal",)
APPROVER_ROLES = ("supervisor", "legal")
COURT_ROUTES = ("payment_order", "pre_suit_mediation", "small_claims", "suit")
DISPUTE_CATEGORIES = ("service_quality", "billing", "developer_legacy", "vacancy",
                      "wrong_debtor", "contract_end", "other")
DISPUTE_OUTCOMES = ("upheld", "reduced", "waived")
PROOF_GRADES = ("A", "B", "C")

Check = Callable[[CaseFacts, Actor, Mapping[str, Any]], bool]


@dataclass(frozen=True)
class Rule:
    """One named rule: holds when `check` is true; otherwise refuses with its message."""

    name: str
    check: Check
    message: str
    message_en: str

    def failure(self) -> GuardFailed:
        return GuardFailed(self.name, self.message, self.message_en)


def _text(params: Mapping[str, Any], key: str) -> bool:
    value = params.get(key)
    return isinstance(value, str) and bool(value.strip())


def installments_sum_to_outstanding(facts: CaseFacts, _a: Actor,
                                    params: Mapping[str, Any]) -> bool:
    """A plan's installments are positive, in date order, not in the past, and sum to the debt."""
    items = params.get("installments") or []
    try:
        amounts = [Decimal(str(i["amount"])) for i in items]
        dates = [i["due_date"] for i in items]
    except (KeyError, TypeError, InvalidOperation):
        return False
    if not items or any(a <= 0 or a != a.quantize(Decimal("0.01")) for a in amounts):
        return False
    if not all(isinstance(d, date) for d in dates) or dates != sorted(set(dates)):
        return False
    return dates[0] >= facts.today and sum(amounts) == facts.outstanding


def payment_order_allowed(facts: CaseFacts, _a: Actor, params: Mapping[str, Any]) -> bool:
    """A payment order (支付令) needs no dispute, a verified address and a reachable debtor."""
    if params.get("route") != "payment_order":
        return True
    return not facts.open_dispute and facts.address_verified and not facts.debtor_unreachable


R = Rule
DEBTOR_IDENTIFIED = R(
    "debtor_identified", lambda f, a, p: f.debtor_identified,
    "还未确认欠费责任人（业主/承租人），请先核实身份再开始催收。",
    "The debtor (owner or paying tenant) is not identified yet.")
HAS_CONTACT_CHANNEL = R(
    "has_contact_channel", lambda f, a, p: f.contact_channels >= 1,
    "没有任何可用的联系方式，请先补充电话、地址或其他渠道。",
    "There is no contact channel for the debtor yet.")
OUTSTANDING_POSITIVE = R(
    "outstanding_positive", lambda f, a, p: f.outstanding > 0,
    "该案件没有欠费余额，无需催收。", "Nothing is owed on this case.")
ENOUGH_ATTEMPTS = R(
    "two_documented_attempts", lambda f, a, p: f.documented_attempts >= 2 or f.debtor_unreachable,
    "发出书面催告前，需要至少两次有记录的催收联系（或已确认无法联系业主）。",
    "A written demand needs at least two documented contact attempts, or an unreachable owner.")
DEMAND_DEADLINE_PASSED = R(
    "demand_deadline_passed", lambda f, a, p: f.demand_deadline_passed,
    "催缴通知书的付款期限尚未届满（须在送达后不少于15日），期限届满后才能进行下一步。",
    "The payment deadline of the written demand has not passed yet.")
DEMAND_PROVEN = R(
    "demand_delivered", lambda f, a, p: f.demand_proven,
    "催缴通知书还没有A/B级送达证据（签收回执、EMS妥投并注明内件品名或短信送达报告），"
    "不能申请法律行动。",
    "The written demand has no grade A/B proof of delivery yet.")
NO_OPEN_DISPUTE = R(
    "no_open_dispute", lambda f, a, p: not f.open_dispute,
    "业主有未处理完的异议，须先处理异议再升级。",
    "An open dispute must be resolved before escalating.")
OVER_THRESHOLD = R(
    "balance_over_threshold", lambda f, a, p: f.outstanding >= f.legal_threshold,
    "欠费金额低于本小区政策规定的法律行动门槛，请继续协商或调解。",
    "The balance is below the community's threshold for legal action.")
IS_LEGAL_OFFICER = R(
    "actor_is_legal_officer", lambda f, a, p: a.has(*LEGAL_ROLES),
    "只有法务人员可以做这一步。", "Only a legal officer may do this.")
NOT_REQUESTER = R(
    "four_eyes", lambda f, a, p: a.id is None or a.id != f.legal_requested_by,
    "不能审批自己提出的法律行动申请（四眼原则），请由另一位法务审批。",
    "You cannot approve your own escalation request (four-eyes rule).")
REASON_GIVEN = R(
    "reason_required", lambda f, a, p: _text(p, "reason"),
    "请填写原因。", "A reason is required.")
LETTER_DEADLINE_PASSED = R(
    "letter_deadline_passed", lambda f, a, p: f.letter_deadline_passed,
    "律师函的回复期限尚未届满（或律师函还未送达），不能起诉或申请支付令。",
    "The lawyer letter's deadline has not passed (or it has not been delivered).")
ROUTE_CHOSEN = R(
    "court_route_chosen", lambda f, a, p: p.get("route") in COURT_ROUTES,
    "请选择司法途径：支付令、诉前调解、小额诉讼或普通诉讼。",
    "Choose the court route: payment order, pre-suit mediation, small claims or suit.")
WITHIN_LIMITATION = R(
    "claimable_within_limitation", lambda f, a, p: f.claimable > 0,
    "所有欠费期间均已超过三年诉讼时效，只能请求业主自愿支付，不能起诉。",
    "Every unpaid period is past the 3-year limitation; only a voluntary request is possible.")
PAYMENT_ORDER_OK = R(
    "payment_order_conditions", payment_order_allowed,
    "支付令只适用于没有争议、地址已核实且能联系到业主的案件，请改选其他途径。",
    "A payment order needs no dispute, a verified address and a reachable debtor.")
PLAN_SUMS = R(
    "installments_sum_to_outstanding", installments_sum_to_outstanding,
    "分期金额须为正数、日期按先后排列且不早于今天，合计须等于全部欠费余额。",
    "Installments must be positive, dated from today on in order, and sum to what is owed.")
PLAN_IN_DEFAULT = R(
    "installment_missed", lambda f, a, p: f.plan_in_default,
    "分期计划没有逾期超过宽限期的分期款，计划仍在履行中。",
    "No installment is overdue beyond the grace days; the plan is being kept.")
DISPUTE_CATEGORY = R(
    "dispute_category_required", lambda f, a, p: p.get("category") in DISPUTE_CATEGORIES,
    "请选择异议类别（服务质量、收费、开发遗留、空置、非责任人、合同终止、其他）。",
    "Choose the category of the dispute.")
DISPUTE_NOTE = R(
    "dispute_note_required", lambda f, a, p: _text(p, "note"),
    "请填写异议内容说明。", "Describe the dispute in a note.")
DISPUTE_OUTCOME = R(
    "dispute_outcome_required", lambda f, a, p: p.get("outcome") in DISPUTE_OUTCOMES,
    "请记录异议处理结果：维持收费、减免部分或全部免除。",
    "Record the outcome: upheld, reduced with credit, or waived.")
NOTHING_OWED = R(
    "nothing_owed", lambda f, a, p: f.outstanding == 0,
    "仍有欠费余额，不能结案为已结清。",
    "The case still has a balance; it cannot be closed as paid.")
APPROVER = R(
    "approver_role", lambda f, a, p: a.has(*APPROVER_ROLES),
    "核销需要催缴组长（项目经理）或法务批准。", "A write-off needs a supervisor or legal officer.")
PROOF_GRADE = R(
    "delivery_grade_required", lambda f, a, p: p.get("grade") in PROOF_GRADES,
    "请选择送达证据等级（A：签收/EMS妥投注明内件；B：短信送达报告；C：张贴或群发）。",
    "Choose the evidence grade of the delivery proof (A, B or C).")

EVENT_RULES: dict[str, tuple[Rule, ...]] = {
    "start_outreach": (DEBTOR_IDENTIFIED, HAS_CONTACT_CHANNEL, OUTSTANDING_POSITIVE),
    "escalate_follow_up": (),
    "issue_demand": (ENOUGH_ATTEMPTS, OUTSTANDING_POSITIVE),
    "record_delivery": (PROOF_GRADE,),
    "refer_mediation": (DEMAND_DEADLINE_PASSED,),
    "request_legal_action": (DEMAND_PROVEN, DEMAND_DEADLINE_PASSED, NO_OPEN_DISPUTE,
                             OVER_THRESHOLD),
    "approve_lawyer_letter": (IS_LEGAL_OFFICER, NOT_REQUESTER),
    "reject_legal_action": (IS_LEGAL_OFFICER, REASON_GIVEN),
    "file_claim": (IS_LEGAL_OFFICER, LETTER_DEADLINE_PASSED, ROUTE_CHOSEN, WITHIN_LIMITATION,
                   PAYMENT_ORDER_OK),
    "promise_payment": (OUTSTANDING_POSITIVE, PLAN_SUMS),
    "break_plan": (PLAN_IN_DEFAULT,),
    "raise_dispute": (DISPUTE_CATEGORY, DISPUTE_NOTE),
    "resolve_dispute": (DISPUTE_OUTCOME,),
    "settle": (NOTHING_OWED,),
    "write_off": (APPROVER, REASON_GIVEN),
    "withdraw": (REASON_GIVEN,),
}


def failed_rules(event: str, facts: CaseFacts, actor: Actor,
                 params: Mapping[str, Any] | None = None) -> list[Rule]:
    """The rules of `event` that refuse it now, in the order they are declared."""
    params = params or {}
    return [rule for rule in EVENT_RULES.get(event, ()) if not rule.check(facts, actor, params)]
