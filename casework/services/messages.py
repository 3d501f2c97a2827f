"""Automatic reminders: queued in the outbox, sent only inside the contact rules (DESIGN §4)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa

from documents.lint import lint_text

from .. import audit, contact_rules
from ..extensions import db
from ..models import ContactAttempt, DunningCase, OutboxMessage
from ..outbox import gateway_for
from .access import SYSTEM
from .clock import working_calendar
from .contacts import contact_policy, history
from .errors import InvalidInput
from .facts import outstanding

log = logging.getLogger("casework.messages")
SMS_TEMPLATE = ("【{company}】尊敬的{name}您好：您在{community}的物业服务费尚有{amount}元未缴，"
                "烦请近期缴纳。如已缴纳请忽略；如有疑问，请联系物业服务中心，我们将在2个工作日内回复。")


def reminder_text(case: DunningCase, amount: Decimal | None = None) -> str:
    """The reminder SMS; `amount` is the outstanding when the caller already knows it."""
    return SMS_TEMPLATE.format(company=case.community.company_name or case.community.name,
                               name=case.debtor.name, community=case.community.name,
                               amount=outstanding(case) if amount is None else amount)


def queue_message(case: DunningCase, channel: str, body: str, key: str,
                  now: datetime, *, key_is_new: bool = False) -> OutboxMessage | None:
    """Queue a message once per key; refuses banned wording (legal-rules G5).

    `key_is_new`: the caller knows no message has this key (a timer's own key, in the
    transaction that claimed the timer), so the look-up is skipped; the key's unique index
    still refuses a duplicate.
    """
    findings = lint_text(body)
    if findings:
        raise InvalidInput("body",
                           "短信内容含有禁止用语：" + "、".join(f.phrase for f in findings),
                           "The message contains banned wording.")
    if not key_is_new and db.session.scalar(
            sa.select(OutboxMessage.id).where(OutboxMessage.key == key)):
        return None
    recipient = case.debtor.phone() if channel == "sms" else next(
        (c.value for c in case.debtor.channels if c.kind == "email" and c.usable), None)
    if recipient is None or case.debtor.written_only:
        return None
    msg = OutboxMessage(case_id=case.id, channel=channel, recipient=recipient, body=body,
                        key=key, not_before=now, created_at=now)
    db.session.add(msg)
    return msg


def send_one(message_id: int, now: datetime) -> str:
    """Send a queued message if the rules allow it now; otherwise move it to the next window."""
    claimed = db.session.execute(
        sa.update(OutboxMessage).where(OutboxMessage.id == message_id,
                                       OutboxMessage.status == "queued")
        .values(status="sending")).rowcount
    if claimed != 1:
        return "already handled"
    msg = db.session.get(OutboxMessage, message_id)
    # Lock the case before anything goes out: a concurrent change to it must wait, not make
    # this transaction fail after the gateway has already sent (the SMS would go out twice).
    db.session.execute(sa.select(DunningCase.id).where(DunningCase.id == msg.case_id)
                       .with_for_update())
    case = db.session.get(DunningCase, msg.case_id, populate_existing=True)
    if not case.is_open or case.debtor.written_only:
        msg.status, msg.error = "blocked", "case closed" if not case.is_open else "written only"
        return msg.status
    policy, cal = contact_policy(case), working_calendar()
    past = history(case, now)
    allowed_at = contact_rules.next_allowed_moment(msg.channel, now, past, policy, cal)
    if allowed_at is None:
        msg.status, msg.error = "blocked", "no allowed moment"
        return msg.status
    if allowed_at > now + timedelta(seconds=1):
        msg.status, msg.not_before = "queued", allowed_at
        return f"deferred to {allowed_at.isoformat()}"
    gateway = gateway_for(msg.channel)
    ref = gateway.send(msg.channel, msg.recipient, msg.body)
    msg.status, msg.sent_at, msg.gateway = "sent", now, gateway.name
    attempt = ContactAttempt(case_id=case.id, channel=msg.channel, at=now, person_reached="none",
                             outcome="sent", notes=msg.body, automatic=True)
    db.session.add(attempt)
    db.session.flush()
    audit.append(case, SYSTEM, "contact", "automatic_message", payload={
        "contact_id": attempt.id, "message_id": msg.id, "channel": msg.channel,
        "gateway": gateway.name, "provider_ref": ref}, at=now)
    return "sent"
