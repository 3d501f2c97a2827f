"""Recording a contact attempt (催缴记录) under the contact rules of DESIGN §4."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from .. import audit, contact_rules
from ..extensions import db
from ..models import (
    CHANNELS,
    OUTCOMES,
    PERSONS,
    REASON_CLASSES,
    REASON_SUBS,
    TECHNIQUES,
    ContactAttempt,
    DunningCase,
    StaffUser,
    Task,
    utcnow,
)
from ..policy import of_case as policy_of
from .access import actor_of, ensure_can_act
from .cases import fire_in_transaction, get_case
from .clock import working_calendar
from .errors import InvalidInput
from .uow import transaction

RULES_CHANNEL = {"phone": "call", "sms": "sms", "wechat": "wechat", "email": "email",
                 "visit": "visit", "letter": "letter"}
NOTE_FREE_SUBS = ("forgot",)
# Outcomes of a contact in which someone was spoken with (the contact rules' cool-down).
CONVERSATIONS = ("reached", "promised", "refused", "disputed", "paid")


def _choice(field: str, value: Any, allowed: Sequence[str], optional: bool = False) -> None:
    if value is None and optional:
        return
    if value not in allowed:
        raise InvalidInput(field, f"“{value}”不是有效的选项。",
                           f"'{value}' is not a valid choice.")


def contact_policy(case: DunningCase) -> contact_rules.ContactPolicy:
    c = policy_of(case)["contact"]
    return contact_rules.ContactPolicy.from_dict({
        "call_window": tuple(c["call_window"]), "message_window": tuple(c["sms_window"]),
        "daily_call_cap": c["calls_per_day"], "weekly_call_cap": c["calls_per_week"],
        "daily_message_cap": c["sms_per_day"], "weekly_message_cap": c["sms_per_week"],
        "cooldown_days": c["cooldown_days_after_conversation"]})


def history(case: DunningCase, before: datetime) -> list[contact_rules.Contact]:
    rows = db.session.execute(sa.select(ContactAttempt.channel, ContactAttempt.at,
                                        ContactAttempt.outcome).where(
        ContactAttempt.case_id == case.id, ContactAttempt.at > before - timedelta(days=8))).all()
    return [contact_rules.Contact(RULES_CHANNEL[ch], at, outcome in CONVERSATIONS)
            for ch, at, outcome in rows]


def record_contact(case_id: int, user: StaffUser | None, *, channel: str, outcome: str,
                   at: datetime | None = None, person_reached: str = "debtor",
                   techniques: Sequence[str] = (), reason_class: str | None = None,
                   reason_sub: str | None = None, notes: str = "",
                   override_reason: str | None = None, promise: list[dict] | None = None,
                   dispute: dict | None = None, now: datetime | None = None) -> ContactAttempt:
    """Store a contact; outside the rules it needs a reason and is flagged to the supervisor.

    A promise or a dispute given in the same contact moves the case in the same transaction.
    """
    now = now or utcnow()
    at = at or now
    _choice("channel", channel, CHANNELS)
    _choice("outcome", outcome, OUTCOMES)
    _choice("person_reached", person_reached, PERSONS)
    _choice("reason_class", reason_class, REASON_CLASSES, optional=True)
    _choice("reason_sub", reason_sub, REASON_SUBS, optional=True)
    for tag in techniques:
        _choice("techniques", tag, TECHNIQUES)
    if at.tzinfo is None:
        raise InvalidInput("at", "联系时间缺少时区。", "The contact time needs a time zone.")
    if at > now + timedelta(minutes=5):
        raise InvalidInput("at", "联系时间不能晚于现在。", "A contact cannot be in the future.")
    if reason_sub and reason_sub not in NOTE_FREE_SUBS and not notes.strip():
        raise InvalidInput("notes", "除“忘记缴费”外，其他欠费原因都需要填写说明。",
                           "Every arrears reason except 'forgot' needs a note.")
    with transaction():
        case = get_case(case_id)
        ensure_can_act(user, case)
        if not case.is_open:
            raise InvalidInput("case_id", "案件已结案，不能再登记催收记录。",
                               "The case is closed.")
        violations = contact_rules.check_contact(
            RULES_CHANNEL[channel], at, history(case, at), contact_policy(case),
            working_calendar(), written_only=case.debtor.written_only)
        if violations and not (override_reason or "").strip():
            words = "；".join(v.message for v in violations)
            raise InvalidInput("override_reason",
                               f"{words}。如确需登记，请填写原因（将通知组长）。",
                               "; ".join(v.message_en for v in violations)
                               + ". Give a reason to record it anyway (the supervisor is told).")
        actor = actor_of(user)
        attempt = ContactAttempt(
            case_id=case.id, staff_id=actor.id, channel=channel, at=at,
            person_reached=person_reached, outcome=outcome, techniques=list(techniques),
            reason_class=reason_class, reason_sub=reason_sub, notes=notes.strip(),
            outside_rules=[v.rule for v in violations],
            override_reason=(override_reason or "").strip() or None, flagged=bool(violations))
        db.session.add(attempt)
        if reason_class:
            case.reason_class, case.reason_sub = reason_class, reason_sub
        db.session.flush()
        audit.append(case, actor, "contact", "record_contact", payload={
            "contact_id": attempt.id, "channel": channel, "at": at, "outcome": outcome,
            "person_reached": person_reached, "techniques": list(techniques),
            "reason_class": reason_class, "reason_sub": reason_sub,
            "outside_rules": attempt.outside_rules, "override_reason": attempt.override_reason},
            at=now)
        if violations:
            db.session.add(Task(case_id=case.id, kind="conduct_review",
                                candidate_role="supervisor",
                                title="核查超出联系规则的催收记录", due_at=now + timedelta(days=1),
                                priority=1))
        if promise:
            fire_in_transaction(case, "promise_payment", actor, {"installments": promise}, now)
        elif dispute:
            fire_in_transaction(case, "raise_dispute", actor, dispute, now)
    return attempt
