"""Context builders: LetterFacts -> a dict of plain values for one docx template.

Money and dates are formatted here, never in the template. Every builder of a kind returns the
same keys whatever the facts, so a template's variables can be checked against them.
"""

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

from documents.facts import DEBTOR_ROLES, LetterFacts, Period
from documents.formatting import (
    clean,
    demand_row,
    format_date,
    number,
    numbered,
    ordinal,
    period_rows,
    sum_amounts,
)
from documents.money import CENT, format_yuan, to_chinese_capital
from documents.samples import sample_letter_facts

Context = dict[str, Any]

TEMPLATES: dict[str, str] = {
    "payment_demand": "payment_demand.docx",
    "lawyer_letter": "lawyer_letter.docx",
    "installment_agreement": "installment_agreement.docx",
    "statement": "statement.docx",
    "evidence_list": "evidence_list.docx",
    "payment_order_application": "payment_order_application.docx",
    "complaint": "complaint.docx",
}

DEMAND_MIN_DAYS = 15  # legal-rules (c) 6: at least 15 days after delivery
LETTER_MIN_DAYS = 7  # lawyer letter: 7-15 days, rolled forward to a working day
LETTER_MAX_DAYS = 30


def _enforceable(facts: LetterFacts) -> list[Period]:
    return [p for p in facts.periods if not p.time_barred]


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def base_context(facts: LetterFacts) -> Context:
    """The mandatory contents shared by every document (legal-rules (c))."""
    company, debtor, contract, penalty = facts.company, facts.debtor, facts.contract, facts.penalty
    periods = sorted(facts.periods, key=lambda p: p.due_date)
    live = [p for p in periods if not p.time_barred]
    barred = [p for p in periods if p.time_barred]
    principal = sum_amounts(p.balance for p in live)
    penalty_amount = penalty.amount if penalty else Decimal("0.00")
    total = principal + penalty_amount
    barred_total = sum_amounts(p.balance for p in barred)
    monthly = (contract.rate_per_m2_month * debtor.area_m2).quantize(CENT)
    bank = f"银行转账：户名{clean(company.account_name)}，开户银行{clean(company.bank_name)}，"
    bank += f"账号{clean(company.account_number)}"
    basis = "第509条、第577条、第944条" + ("、第585条" if penalty else "")
    return {
        "doc_number": clean(facts.number),
        "issue_date": format_date(facts.issued_on),
        "statement_date": format_date(facts.statement_date),
        "deadline": format_date(facts.deadline),
        "company_name": clean(company.full_name),
        "company_address": clean(company.address),
        "company_phone": clean(company.phone),
        "legal_representative": clean(company.legal_representative),
        "credit_code": clean(company.credit_code),
        "account_name": clean(company.account_name),
        "bank_name": clean(company.bank_name),
        "account_number": clean(company.account_number),
        "payment_channels": numbered([bank, *(clean(c) for c in company.payment_channels)]),
        "contact_person": clean(company.contact_person),
        "contact_phone": clean(company.contact_phone),
        "contact_hours": clean(company.contact_hours),
        "debtor_name": clean(debtor.name),
        "debtor_role": DEBTOR_ROLES[debtor.role],
        "debtor_unit": clean(debtor.unit),
        "debtor_address": clean(debtor.address),
        "debtor_id_number": clean(debtor.id_number),
        "debtor_phone": clean(debtor.phone),
        "area": number(debtor.area_m2),
        "is_tenant": debtor.role == "tenant",
        "owner_name": clean(debtor.owner_name),
        "contract_name": clean(contract.name),
        "contract_number": clean(contract.number),
        "contract_signed_on": format_date(contract.signed_on),
        "service_start": format_date(contract.service_start),
        "fee_clause": clean(contract.fee_clause),
        "fee_rate": f"¥{number(contract.rate_per_m2_month)}",
        "monthly_fee": format_yuan(monthly),
        "billing_cycle": clean(contract.billing_cycle),
        "periods": period_rows(live),
        "fee_types": "、".join(dict.fromkeys(clean(p.fee_type) for p in live)),
        "period_span": f"{clean(live[0].label)}至{clean(live[-1].label)}" if live else "",
        "periods_due_total": format_yuan(sum_amounts(p.amount_due for p in live)),
        "periods_paid_total": format_yuan(sum_amounts(p.amount_paid for p in live)),
        "principal": format_yuan(principal),
        "principal_capital": to_chinese_capital(principal),
        "has_barred": bool(barred),
        "barred_periods": period_rows(barred),
        "barred_total": format_yuan(barred_total),
        "barred_total_capital": to_chinese_capital(barred_total),
        "has_penalty": penalty is not None,
        "penalty_clause": clean(penalty.clause) if penalty else "",
        "penalty_rate": clean(penalty.rate) if penalty else "",
        "penalty_start": format_date(penalty.start_date) if penalty else "",
        "penalty_amount": format_yuan(penalty_amount),
        "penalty_capital": to_chinese_capital(penalty_amount),
        "total": format_yuan(total),
        "total_capital": to_chinese_capital(total),
        "legal_basis": basis,
        "earlier_demands": [demand_row(d) for d in facts.earlier_demands],
    }


def payment_demand_context(facts: LetterFacts) -> Context:
    """催缴通知书: a deadline at least 15 days after issue, so at least 15 days after delivery."""
    _require(bool(_enforceable(facts)), "催缴通知书须至少列明一期诉讼时效内的欠费")
    _require(
        facts.deadline >= facts.issued_on + timedelta(days=DEMAND_MIN_DAYS),
        "催缴通知书的付款期限须在送达后至少15日",
    )
    return base_context(facts)


def lawyer_letter_context(facts: LetterFacts) -> Context:
    """律师函: issued by an engaged firm after a delivered demand, with a 7-15 day deadline."""
    firm = facts.firm
    _require(firm is not None, "律师函须载明律师事务所及承办律师")
    assert firm is not None
    _require(bool(facts.earlier_demands), "律师函须载明此前的书面催告")
    _require(bool(_enforceable(facts)), "律师函须至少列明一期诉讼时效内的欠费")
    days = (facts.deadline - facts.issued_on).days
    _require(
        LETTER_MIN_DAYS <= days <= LETTER_MAX_DAYS,
        "律师函的付款期限应为发函后7至15日（顺延至工作日）",
    )
    return base_context(facts) | {
        "firm_name": clean(firm.name),
        "firm_address": clean(firm.address),
        "firm_phone": clean(firm.phone),
        "lawyer_name": clean(firm.lawyer_name),
        "lawyer_license": clean(firm.lawyer_license),
        "lawyer_phone": clean(firm.lawyer_phone),
    }


def installment_agreement_context(facts: LetterFacts) -> Context:
    """分期付款协议: installments sum to what is owed, time-barred sums only if volunteered."""
    context = base_context(facts)
    plan = sorted(facts.installments, key=lambda i: i.due_date)
    _require(bool(plan), "分期付款协议须至少有一期付款")
    plan_total = sum_amounts(i.amount for i in plan)
    owed = (facts.penalty.amount if facts.penalty else Decimal("0.00")) + sum_amounts(
        p.balance for p in _enforceable(facts)
    )
    barred = sum_amounts(p.balance for p in facts.periods if p.time_barred)
    _require(plan_total in {owed, owed + barred}, "分期金额合计须等于欠费总额")
    _require(plan[0].due_date > facts.issued_on, "第一期付款日须晚于签署日期")
    _require(plan[-1].due_date <= facts.deadline, "最后一期付款日不得晚于付款期限")
    _require(facts.grace_days >= 0, "宽限天数不得为负")
    return context | {
        "installments": [
            {
                "seq": f"第{n}期",
                "due_date": format_date(i.due_date),
                "amount": format_yuan(i.amount),
                "amount_capital": to_chinese_capital(i.amount),
            }
            for n, i in enumerate(plan, start=1)
        ],
        "plan_total": format_yuan(plan_total),
        "plan_total_capital": to_chinese_capital(plan_total),
        "plan_includes_barred": bool(barred) and plan_total == owed + barred,
        "grace_days": str(facts.grace_days),
    }


def statement_context(facts: LetterFacts) -> Context:
    """对账单: every unpaid period as at the statement date, time-barred ones apart."""
    _require(facts.deadline > facts.issued_on, "付款期限须晚于出具日期")
    return base_context(facts)


def _court_context(facts: LetterFacts, kind: str) -> Context:
    _require(bool(facts.court.strip()), f"{kind}须载明受理法院")
    _require(bool(_enforceable(facts)), f"{kind}只能主张诉讼时效内的欠费")
    _require(bool(facts.earlier_demands), f"{kind}须载明此前已送达的书面催告")
    _require(facts.deadline < facts.issued_on, f"{kind}只能在催告的付款期限届满后出具")
    return base_context(facts) | {"court_name": clean(facts.court)}


def _claims(context: Context, fee_claim: str, penalty_claim: str, cost_claim: str) -> list[str]:
    claims = [
        f"{fee_claim}{context['period_span']}{context['fee_types']}共计{context['principal']}"
        f"（人民币{context['principal_capital']}）"
    ]
    if context["has_penalty"]:
        claims.append(
            f"{penalty_claim}违约金{context['penalty_amount']}（人民币{context['penalty_capital']}；"
            f"依合同{context['penalty_clause']}约定，按{context['penalty_rate']}计算，"
            f"自{context['penalty_start']}起算至{context['statement_date']}）"
        )
    claims.append(cost_claim)
    return [f"{ordinal(i)}、{claim}；" for i, claim in enumerate(claims, start=1)]


def evidence_list_context(facts: LetterFacts) -> Context:
    """证据清单: the case history's evidence in court order."""
    _require(bool(facts.evidence), "证据清单须至少有一项证据")
    context = _court_context(facts, "证据清单")
    rows = [
        {
            "seq": str(n),
            "title": clean(e.title),
            "source": clean(e.source),
            "purpose": clean(e.purpose),
            "pages": str(e.pages),
        }
        for n, e in enumerate(facts.evidence, start=1)
    ]
    return context | {"evidence": rows}


def payment_order_application_context(facts: LetterFacts) -> Context:
    """支付令申请书: only periods within limitation; a penalty only when contracted (CPLI 428)."""
    context = _court_context(facts, "支付令申请书")
    claims = _claims(
        context,
        "请求贵院依法向被申请人发出支付令，督促被申请人向申请人支付",
        "督促被申请人向申请人支付",
        "本案申请费由被申请人负担",
    )
    return context | {"claims": claims}


def complaint_context(facts: LetterFacts) -> Context:
    """民事起诉状: only periods within limitation are claimed; time-barred ones listed apart."""
    context = _court_context(facts, "起诉状")
    claims = _claims(context, "判令被告向原告支付", "判令被告向原告支付", "本案诉讼费用由被告负担")
    return context | {"claims": claims}


BUILDERS: dict[str, Callable[[LetterFacts], Context]] = {
    "payment_demand": payment_demand_context,
    "lawyer_letter": lawyer_letter_context,
    "installment_agreement": installment_agreement_context,
    "statement": statement_context,
    "evidence_list": evidence_list_context,
    "payment_order_application": payment_order_application_context,
    "complaint": complaint_context,
}


def build_context(kind: str, facts: LetterFacts) -> Context:
    """The context of one document kind; an unknown kind is a KeyError naming it."""
    if kind not in BUILDERS:
        raise KeyError(f"unknown document kind {kind!r}")
    return BUILDERS[kind](facts)


def sample_facts(kind: str) -> LetterFacts:
    """Realistic sample inputs for a kind, used to validate an uploaded template."""
    if kind not in BUILDERS:
        raise KeyError(f"unknown document kind {kind!r}")
    return sample_letter_facts(kind)
