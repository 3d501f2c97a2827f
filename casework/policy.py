"""Dunning policy defaults (DESIGN §4, legal-rules (b), G3) and their validation."""

from __future__ import annotations

import copy
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

DEFAULT_POLICY: dict[str, Any] = {
    "timeline": {  # days after the earliest unpaid due date
        "first_reminder": 5, "follow_up": 14, "formal_demand": 30, "mediation": 90,
        "lawyer_letter": 180, "litigation_decision": 270,
    },
    "follow_up_after_days": 7,  # first_reminder -> follow_up without payment
    "demand_deadline_days": 15,  # at least 15 days after delivery
    "demand_mail_days": 7,  # printed deadline allows this much for the post
    "letter_deadline_days": 15,  # 7..15 days for a lawyer letter
    "legal_threshold": "1000.00",  # balance needed for legal action
    "grace_days": 7,  # installment missed by more than this breaks the plan
    "dispute_ack_working_days": 2,
    "dispute_answer_working_days": 15,
    "limitation_alert_days": [180, 90],
    "after_payment_visit_hours": 72,
    "penalty_cap_lpr_multiple": "1.5",
    "contact": {
        "call_window": ["09:00", "20:00"], "sms_window": ["08:00", "21:00"],
        "calls_per_day": 2, "calls_per_week": 7, "sms_per_day": 1, "sms_per_week": 3,
        "cooldown_days_after_conversation": 7,
    },
    # Letters (legal-rules (c)). Empty values fall back to the community's records where one
    # exists (full_name: Community.company_name, address); a letter whose mandatory data is
    # still missing fails to render with a message naming the key, it never prints a blank.
    "company": {
        "full_name": "", "address": "", "phone": "", "legal_representative": "",
        "credit_code": "", "account_name": "", "bank_name": "", "account_number": "",
        "payment_channels": [], "contact_person": "", "contact_phone": "",
        "contact_hours": "工作日9:00—17:30", "number_prefix": "",
    },
    "contract": {
        "name": "《前期物业服务合同》", "number": "", "signed_on": "", "fee_clause": "",
        "rate_per_m2_month": "", "billing_cycle": "按月交纳，每月末前交清当月费用",
        "service_start": "", "penalty_clause": "",
    },
    "law_firm": {  # the engaged firm and lawyer for the 律师函 (a DPA must be active)
        "name": "", "address": "", "phone": "", "lawyer_name": "", "lawyer_license": "",
        "lawyer_phone": "",
    },
}

LETTER_BLOCKS = ("company", "contract", "law_firm")

INT_KEYS = ("follow_up_after_days", "demand_deadline_days", "demand_mail_days",
            "letter_deadline_days", "grace_days", "dispute_ack_working_days",
            "dispute_answer_working_days", "after_payment_visit_hours")


def default_policy() -> dict[str, Any]:
    return copy.deepcopy(DEFAULT_POLICY)


def merged(data: dict[str, Any] | None) -> dict[str, Any]:
    """The defaults overlaid with a stored policy (older versions lack newer keys)."""
    result = default_policy()
    for key, value in (data or {}).items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = {**result[key], **value}
        else:
            result[key] = value
    return result


def of_case(case: Any) -> dict[str, Any]:
    """A case's policy merged over the defaults, computed once per loaded policy row.

    Read only: the dict is shared by every case of that policy version. Stored policies are
    never edited in place (a change is a new version), so the cache is keyed on the row's
    data object itself.
    """
    policy = case.policy
    if policy is None:
        return merged(None)
    cached = getattr(policy, "_merged_cache", None)
    if cached is None or cached[0] is not policy.data:
        cached = (policy.data, merged(policy.data))
        policy._merged_cache = cached
    return cached[1]


def validate(data: dict[str, Any]) -> list[str]:
    """Problems with a policy, each naming the field at fault."""
    problems = []
    p = merged(data)
    for key in INT_KEYS:
        if not isinstance(p[key], int) or p[key] < 0:
            problems.append(f"{key}: must be a whole number of days >= 0")
    if isinstance(p["demand_deadline_days"], int) and p["demand_deadline_days"] < 15:
        problems.append("demand_deadline_days: the law needs at least 15 days (民法典 944)")
    if isinstance(p["letter_deadline_days"], int) and not 7 <= p["letter_deadline_days"] <= 15:
        problems.append("letter_deadline_days: a lawyer letter gives 7 to 15 days")
    try:
        if Decimal(str(p["legal_threshold"])) < 0:
            problems.append("legal_threshold: must not be negative")
    except InvalidOperation:
        problems.append("legal_threshold: not an amount")
    for block in LETTER_BLOCKS:
        if not isinstance(p[block], dict):
            problems.append(f"{block}: must be a mapping of names to values")
    if isinstance(p["company"], dict) and not isinstance(p["company"].get("payment_channels"),
                                                         list):
        problems.append("company.payment_channels: must be a list of official channels")
    if isinstance(p["contract"], dict):
        rate = p["contract"].get("rate_per_m2_month")
        if rate not in ("", None):
            try:
                if Decimal(str(rate)) <= 0:
                    problems.append("contract.rate_per_m2_month: must be above zero")
            except InvalidOperation:
                problems.append("contract.rate_per_m2_month: not an amount")
        for key in ("signed_on", "service_start"):
            value = p["contract"].get(key)
            if value not in ("", None):
                try:
                    date.fromisoformat(str(value))
                except ValueError:
                    problems.append(f"contract.{key}: not a date (YYYY-MM-DD)")
    days = [p["timeline"].get(k) for k in DEFAULT_POLICY["timeline"]]
    if not all(isinstance(d, int) and d >= 0 for d in days):
        problems.append("timeline: every stage needs a whole number of days")
    elif days != sorted(days):
        problems.append("timeline: stages must come in the order of the process")
    return problems
