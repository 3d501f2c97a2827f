"""What to try next on a case (issue 7 §3): the technique and channel with the best observed
payment rate on other cases with the same arrears reason, contacted in the same stage.

A contact counts as paid when its case received a payment (not reversed) dated on the contact's
day or within the 14 days after it (Shanghai calendar). Only contacts at least 14 days old count,
so every one has had its full window. A contact tagged with several techniques counts for each.
The whole figure is one aggregate statement, whatever the number of contacts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from ..extensions import db
from ..models import TECHNIQUES, CaseEvent, ContactAttempt, DunningCase, Payment, utcnow

WINDOW_DAYS = 14
MIN_SAMPLE = 20  # fewer contacts than this behind a pair say nothing


@dataclass(frozen=True)
class Suggestion:
    technique: str
    channel: str
    paid: int  # contacts followed by a payment within the window
    sample: int  # contacts behind the figure

    @property
    def rate(self) -> Decimal:
        """The share of contacts followed by a payment, as a fraction with 3 places."""
        return (Decimal(self.paid) / Decimal(self.sample)).quantize(Decimal("0.001"),
                                                                    ROUND_HALF_UP)

    @property
    def percent(self) -> Decimal:
        return (self.rate * 100).quantize(Decimal("0.1"))


def _local_day(moment, plus_days: int = 0):
    """The Shanghai calendar day of a stored UTC moment, moved by `plus_days`, in SQL."""
    if db.session.get_bind().dialect.name == "postgresql":
        day = sa.cast(sa.func.timezone("Asia/Shanghai", moment), sa.Date)
        return day + sa.literal(plus_days) if plus_days else day
    return sa.func.date(moment, "+8 hours", f"+{plus_days} days")


def pair_counts(case: DunningCase, now: datetime) -> list[Suggestion]:
    """Every technique-channel pair seen in the matching contacts, with its counts."""
    contact_ev, state_ev, other = aliased(CaseEvent), aliased(CaseEvent), aliased(DunningCase)
    # the stage the contact was recorded in: the last state change before its audit event
    stage = (sa.select(state_ev.to_state)
             .where(state_ev.case_id == contact_ev.case_id, state_ev.to_state.is_not(None),
                    state_ev.seq < contact_ev.seq)
             .order_by(state_ev.seq.desc()).limit(1).correlate(contact_ev).scalar_subquery())
    paid = sa.exists().where(
        Payment.case_id == ContactAttempt.case_id, Payment.reversed.is_(False),
        Payment.paid_on >= _local_day(ContactAttempt.at),
        Payment.paid_on <= _local_day(ContactAttempt.at, WINDOW_DAYS))
    # the reason as assessed at the contact, else as the case holds it now
    assessed = ContactAttempt.reason_class.is_not(None)
    reason = sa.case((assessed, ContactAttempt.reason_class), else_=other.reason_class)
    reason_sub = sa.case((assessed, ContactAttempt.reason_sub), else_=other.reason_sub)
    matching = (
        sa.select(ContactAttempt.channel.label("channel"),
                  sa.cast(ContactAttempt.techniques, sa.Text).label("tags"),
                  sa.case((paid, 1), else_=0).label("paid"))
        .join(other, other.id == ContactAttempt.case_id)
        .join(contact_ev, sa.and_(
            contact_ev.case_id == ContactAttempt.case_id, contact_ev.kind == "contact",
            contact_ev.payload["contact_id"].as_integer() == ContactAttempt.id))
        .where(ContactAttempt.case_id != case.id,
               ContactAttempt.at <= now - timedelta(days=WINDOW_DAYS),
               reason == case.reason_class, stage == case.state))
    if case.reason_sub:
        matching = matching.where(reason_sub == case.reason_sub)
    rows = matching.subquery()
    columns = []
    for tag in TECHNIQUES:
        tagged = rows.c.tags.like(f'%"{tag}"%')
        columns += [sa.func.sum(sa.case((tagged, 1), else_=0)),
                    sa.func.sum(sa.case((tagged, rows.c.paid), else_=0))]
    out = []
    for channel, *sums in db.session.execute(
            sa.select(rows.c.channel, *columns).group_by(rows.c.channel)):
        for n, tag in enumerate(TECHNIQUES):
            sample, hits = int(sums[2 * n] or 0), int(sums[2 * n + 1] or 0)
            if sample:
                out.append(Suggestion(tag, channel, hits, sample))
    return out


def best_pair(pairs: list[Suggestion], min_sample: int = MIN_SAMPLE) -> Suggestion | None:
    """The best rate among pairs with enough contacts behind them (ties: the larger sample)."""
    enough = [p for p in pairs if p.sample >= min_sample]
    if not enough:
        return None
    return min(enough, key=lambda p: (-Decimal(p.paid) / p.sample, -p.sample,
                                      TECHNIQUES.index(p.technique), p.channel))


def suggest(case: DunningCase, now: datetime | None = None,
            min_sample: int = MIN_SAMPLE) -> Suggestion | None:
    """The next technique and channel for an open case with an assessed reason, or None."""
    if not case.is_open or not case.reason_class:
        return None
    return best_pair(pair_counts(case, now or utcnow()), min_sample)


__all__ = ["MIN_SAMPLE", "WINDOW_DAYS", "Suggestion", "best_pair", "pair_counts", "suggest"]
