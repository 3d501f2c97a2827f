"""Late-fee waivers (违约金减免): approved by a supervisor, audited, one transaction.

DESIGN §1: supervisors approve late-fee waivers; DESIGN §2 / legal-rules §C: a waiver is an
approved, audited act (the "糖衣炮弹" incentive: pay in full now and part of the late fee is
waived). What can be waived is the late fee the statement computes today (contractual rate,
capped by the policy and never above the principal) less what was already waived; principal
is never waived here (a dispute's credit does that).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation

from flask import current_app

from .. import audit
from ..extensions import db
from ..models import DunningCase, StaffUser, utcnow
from ..models.waivers import LateFeeWaiver
from ..policy import merged
from .access import actor_of
from .cases import case_to_change
from .clock import local_date
from .errors import Forbidden, InvalidInput
from .uow import transaction

REASON_LIMIT = 500
CENT = Decimal("0.01")


def case_lpr(case: DunningCase) -> Decimal:
    """The one-year LPR the case's late-fee cap uses (the policy's, else the configured one)."""
    policy = merged(case.policy.data if case.policy else None)
    return Decimal(str(policy.get("lpr") or current_app.config.get("DEFAULT_LPR", "0.03")))


def waiver_amount(value) -> Decimal:
    """A positive amount in yuan with at most 2 decimals (field `amount`)."""
    if isinstance(value, float):
        raise InvalidInput("amount", "金额须为精确的十进制数。", "The amount must be exact.")
    if value is None or str(value).strip() == "":
        raise InvalidInput("amount", "请填写减免金额。", "Enter the amount to waive.")
    try:
        amount = Decimal(str(value).strip().replace(",", "").replace("¥", ""))
    except InvalidOperation as exc:
        raise InvalidInput("amount", f"金额格式不正确：{value}",
                           f"Not an amount: {value}") from exc
    if not amount.is_finite() or amount <= 0:
        raise InvalidInput("amount", "减免金额须大于0。", "The amount must be more than 0.")
    if amount != amount.quantize(CENT):
        raise InvalidInput("amount", "金额最多两位小数（元、角、分）。",
                           "At most 2 decimals (yuan and fen).")
    return amount.quantize(CENT)


def waiver_reason(value: str | None) -> str:
    reason = (value or "").strip()
    if not reason:
        raise InvalidInput("reason", "请填写减免理由（例如：首次逾期、一次性结清）。",
                           "Give the reason for the waiver.")
    if len(reason) > REASON_LIMIT:
        raise InvalidInput("reason", f"减免理由最多 {REASON_LIMIT} 字。",
                           f"The reason may have at most {REASON_LIMIT} characters.")
    return reason


def grant_waiver(case_id: int, user: StaffUser, amount, reason: str | None, *,
                 now: datetime | None = None,
                 expected_version: int | None = None) -> LateFeeWaiver:
    """Waive `amount` of the case's late fee, approved by `user` (a supervisor of the case).

    Refuses: anyone but a supervisor who may act on the case; a closed case; an amount above
    the late fee not yet waived; a stale form. The waiver row and its audit event are
    written together or not at all.
    """
    from ..queries import statement

    now = now or utcnow()
    if user is None or not user.active or not user.has_role("supervisor"):
        raise Forbidden("只有催缴组长/项目经理可以批准违约金减免。",
                        "Only a supervisor may approve a late-fee waiver.")
    amount, reason = waiver_amount(amount), waiver_reason(reason)
    with transaction():
        case = case_to_change(case_id, user, expected_version)
        if not case.is_open:
            raise InvalidInput("case_id", "案件已结案，不能再减免违约金。",
                               "The case is closed; nothing can be waived.")
        current = statement(case, local_date(now), case_lpr(case))
        left = current.late_fees_due
        if left <= 0:
            raise InvalidInput("amount", "该案件目前没有可减免的违约金。",
                               "There is no late fee left to waive on this case.")
        if amount > left:
            raise InvalidInput("amount", f"减免金额不能超过尚未减免的违约金 ¥{left:,.2f}。",
                               f"At most the late fee not yet waived, ¥{left:,.2f}.")
        event = audit.append(case, actor_of(user), "waiver", "waive_late_fee", payload={
            "amount": amount, "reason": reason, "late_fee": current.late_fees,
            "waived_before": current.waived, "as_of": local_date(now)}, at=now)
        waiver = LateFeeWaiver(case_id=case.id, amount=amount, reason=reason,
                               approved_by_id=user.id, event_seq=event.seq, created_at=now)
        db.session.add(waiver)
    return waiver
