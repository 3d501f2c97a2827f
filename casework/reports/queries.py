"""The evaluation reports (issue 7): one function a report, (session, filters, today) → rows.

Every report aggregates in SQL (GROUP BY) and runs a fixed number of statements whatever the
number of cases: its main statement, and one for the names of what it groups by.

Money rules the figures follow:
- a payment counts by the amount it put on each period (partial payments by what they paid);
  a reversed payment (`Payment.reversed`, set by `reverse_payment`) never counts, whenever it
  was reversed;
- money collected is credited to the collector the case was assigned to when the money came
  in: the moment the payment was recorded, or the end of its payment day (Shanghai) when it
  was recorded later (back-dated counter or bank payments), read from the case's opening and
  reassignment events ("assignment" payload from/to);
- money owed (billed, open arrears) belongs to the collector holding the case at the end of
  the period; snapshots (aging, money at risk) to the collector holding it now;
- places come from the charge line (unit → building → community), so a household with units
  in two buildings counts in each for what it owes there.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..models import (
    TECHNIQUES,
    Building,
    CaseEvent,
    ChargeLine,
    CollectionTarget,
    Community,
    ContactAttempt,
    DunningCase,
    Money,
    Payment,
    PaymentAllocation,
    Policy,
    StaffUser,
    Unit,
    staff_community,
)
from ..policy import merged
from .filters import ReportFilters, month_start
from .sql import assignee_at, day_start_utc, days_between, json_has_any

ZERO = Decimal("0.00")
HUNDRED = Decimal(100)
PAID_WITHIN_DAYS = 14
AGING_BUCKETS = ("d0_30", "d31_90", "d91_180", "d181_365", "d365_plus")
WINDOW_RULES = ("contact_window", "holiday")
CAP_RULES = ("daily_call_cap", "weekly_call_cap", "daily_sms_cap", "weekly_sms_cap",
             "cooldown_after_conversation")
FUNNEL_STAGES = ("preparation", "first_reminder", "follow_up", "formal_demand", "mediation",
                 "legal_review", "lawyer_letter", "litigation", "payment_plan", "disputed")
WORKS_DIMENSIONS = ("technique", "channel", "reason", "collector")
OUTCOME_DIMENSIONS = ("final_state", "arrears_reason", "technique_worked", "channel_worked")


@dataclass
class Report:
    """Rows of one report: each a dict with "key" (what it groups), "label" (a name, when the
    key is an id) and the report's figures; `total` sums them."""

    name: str
    filters: ReportFilters
    rows: list[dict[str, Any]]
    total: dict[str, Any] | None = None
    as_of: date | None = None  # for snapshots: the day the outstanding is counted on
    extra: dict[str, Any] = field(default_factory=dict)


def percent(part, whole) -> Decimal | None:
    """part ÷ whole as a percentage with 2 places; None when there is nothing to divide by."""
    if not whole:
        return None
    return (Decimal(part) * HUNDRED / Decimal(whole)).quantize(Decimal("0.01"), ROUND_HALF_UP)


def _msum(expr) -> sa.ColumnElement:
    return sa.func.coalesce(sa.func.sum(expr, type_=Money()), 0, type_=Money())


def _isum(expr) -> sa.ColumnElement:
    return sa.func.coalesce(sa.func.sum(expr), 0)


def _money(value) -> Decimal:
    return ZERO if value is None else Decimal(value).quantize(Decimal("0.01"))


# -- scope and grouping ---------------------------------------------------------------------------


def _community_conds(f: ReportFilters, column) -> list:
    conds = []
    if f.scope is not None:
        conds.append(column.in_(sorted(f.scope)) if f.scope else sa.false())
    if f.community_id:
        conds.append(column == f.community_id)
    return conds


def _case_conds(f: ReportFilters, case_id, community_col) -> list:
    """Cases in scope, in the chosen community and (when chosen) with a period in the building."""
    conds = _community_conds(f, community_col)
    if f.building_id:
        conds.append(sa.exists().where(ChargeLine.case_id == case_id,
                                       ChargeLine.unit_id == Unit.id,
                                       Unit.building_id == f.building_id))
    return conds


def _line_conds(f: ReportFilters) -> list:
    """Charge lines (joined to Unit and Building) in scope and in the chosen place."""
    conds = _community_conds(f, Building.community_id)
    if f.building_id:
        conds.append(Building.id == f.building_id)
    return conds


class _OnePeriod:
    """A single period as plain values: the planner then sees the dates (and uses the date
    indexes), which it cannot through a table of periods."""

    def __init__(self, key: str, start: date, end: date) -> None:
        self.c = SimpleNamespace(key=sa.literal(key, sa.String), ps=sa.literal(start, sa.Date),
                                 pe=sa.literal(end, sa.Date))


def _periods(f: ReportFilters, periods=None):
    """The periods as a small table (key, ps, pe) the statements join, or a single one as
    values (`_on` then puts the join condition in the WHERE clause)."""
    periods = periods or f.periods()
    if len(periods) == 1:
        return _OnePeriod(*periods[0])
    rows = [sa.select(sa.literal(key, sa.String).label("key"), sa.literal(s, sa.Date).label("ps"),
                      sa.literal(e, sa.Date).label("pe"))
            for key, s, e in periods]
    return sa.union_all(*rows).cte("periods")


def _on(query, P, condition):
    """Join the periods on `condition` (or filter by it, for a single period)."""
    return query.where(condition) if isinstance(P, _OnePeriod) else query.join(P, condition)


def _values(name: str, values) -> sa.CTE:
    rows = [sa.select(sa.literal(v, sa.String).label("code")) for v in values]
    return sa.union_all(*rows).cte(name)


def _no_collector():
    return sa.literal(None, sa.Integer)


def names(session: Session, f: ReportFilters, group: str, keys) -> list[tuple[Any, str]]:
    """Every member of the grouping (with zeros where nothing happened), then any other key
    the figures named, with its name; one statement."""
    keys = [k for k in keys if k is not None]
    if group == "month":
        return [(key, key) for key, _, _ in f.months()]
    if group == "community":
        query = sa.select(Community.id, Community.name).where(
            *_community_conds(f, Community.id)).order_by(Community.name)
    elif group == "building":
        query = (sa.select(Building.id, Community.name + " " + Building.name)
                 .join(Community, Community.id == Building.community_id)
                 .where(*_line_conds(f)).order_by(Community.name, Building.name))
    else:
        is_collector = sa.and_(StaffUser.active.is_(True),
                               StaffUser.roles_text.like("%collector%"), _works_in(f))
        wanted = StaffUser.id.in_(keys) if keys else sa.false()
        query = (sa.select(StaffUser.id, StaffUser.display_name)
                 .where(sa.or_(wanted, is_collector) if not f.collector_id else
                        StaffUser.id == f.collector_id).order_by(StaffUser.display_name))
    out = [(k, name) for k, name in session.execute(query)]
    known = {k for k, _ in out}
    return out + [(k, str(k)) for k in keys if k not in known]


def _works_in(f: ReportFilters) -> sa.ColumnElement:
    """Staff who work in the chosen community (or in the reader's), or record none."""
    ids = [f.community_id] if f.community_id else sorted(f.scope) if f.scope else None
    if ids is None:
        return sa.true()
    link = staff_community.c
    return sa.or_(sa.exists().where(link.staff_id == StaffUser.id, link.community_id.in_(ids)),
                  ~sa.exists().where(link.staff_id == StaffUser.id))


def _keyed_rows(session, f, group, figures: dict, blank: dict) -> list[dict]:
    rows = []
    named = names(session, f, group, figures)
    for key, label in named:
        rows.append({"key": key, "label": label, **figures.get(key, blank)})
    if None in figures:  # money on cases nobody was assigned to
        rows.append({"key": None, "label": None, **figures[None]})
    return rows


def _totals(rows: list[dict], blank: dict[str, Any]) -> dict[str, Any]:
    """The sum of each figure over the rows (`blank` holds each figure's zero)."""
    return {"key": "total", "label": None,
            **{key: sum((r[key] for r in rows), zero) for key, zero in blank.items()}}


# -- collection rate ------------------------------------------------------------------------------

RATE_MONEY = ("billed", "collected", "arrears_open", "recovered")


def collection_rate(session: Session, f: ReportFilters, today: date) -> Report:
    """收缴率 per group: collected ÷ billed for the periods falling due in the range, and arrears
    recovered ÷ arrears open at its start.

    - billed: what the periods due in the range charge (amount due);
    - collected: what payments made by the end of the range put on those periods;
    - arrears open: what was owed at the start of the range on periods due before it (today's
      balance plus what live payments have put on them since the start);
    - recovered: what payments made within the range put on those older periods.
    With the month grouping each month is its own range, and the total is the whole range
    counted as one (one more statement): stocks like the open arrears do not add up.
    """
    figures = _rate_figures(session, f, f.periods(), f.group)
    blank = dict.fromkeys(RATE_MONEY, ZERO)
    rows = _keyed_rows(session, f, f.group, figures, blank)
    if f.group == "month":
        total = {"key": "total", "label": None, **_rate_figures(
            session, f, [("all", f.start, f.end)], "month").get("all", blank)}
    else:
        total = _totals(rows, blank)
    for row in (*rows, total):
        row["rate"] = percent(row["collected"], row["billed"])
        row["recovery_rate"] = percent(row["recovered"], row["arrears_open"])
    return Report("collection_rate", f, rows, total)


def _rate_figures(session: Session, f: ReportFilters, periods, group: str) -> dict:
    """The four sums of the collection rate per group key, in one statement."""
    P = _periods(f, periods)
    by_collector = group == "collector" or f.collector_id is not None
    balance = ChargeLine.amount_due - ChargeLine.amount_paid - ChargeLine.credit
    due_in = ChargeLine.due_date.between(P.c.ps, P.c.pe)
    before = ChargeLine.due_date < P.c.ps
    owner = _no_collector()  # found per case below: far fewer look-ups than per period
    payer = (assignee_at(Payment.case_id, lambda ev: ev.at <= Payment.created_at,
                         lambda ev: ev.at < day_start_utc(Payment.paid_on, 1))
             if by_collector else _no_collector())
    zero = sa.literal(0, Money())

    def part(owner_col, billed=zero, collected=zero, arrears_open=zero, recovered=zero,
             payments: bool = False):
        """One kind of money movement, per line (or allocation) and period."""
        query = sa.select(P.c.key.label("period"), P.c.pe.label("pe"), Building.community_id,
                          Building.id.label("building_id"), ChargeLine.case_id,
                          owner_col.label("collector_id"),
                          sa.literal(owner_col is owner, sa.Boolean).label("owned"),
                          billed.label("billed"), collected.label("collected"),
                          arrears_open.label("arrears_open"), recovered.label("recovered"))
        if payments:  # driven by the payment dates (index on payment.paid_on)
            query = (query.select_from(Payment)
                     .join(PaymentAllocation, PaymentAllocation.payment_id == Payment.id)
                     .join(ChargeLine, ChargeLine.id == PaymentAllocation.charge_line_id))
        else:
            query = query.select_from(ChargeLine)
        return (query.join(Unit, Unit.id == ChargeLine.unit_id)
                .join(Building, Building.id == Unit.building_id).where(*_line_conds(f)))

    live = Payment.reversed.is_(False)
    amount = PaymentAllocation.amount
    parts = [
        # billed: the periods falling due in the period (index on due_date)
        _on(part(owner, billed=ChargeLine.amount_due), P, due_in),
        # open at the start: what older periods owe today ...
        _on(part(owner, arrears_open=balance), P, sa.and_(before, balance > 0)),
        # ... plus what live payments since the start put on them; recovered within it
        _on(part(owner, arrears_open=amount, payments=True), P,
            sa.and_(Payment.paid_on >= P.c.ps, before)).where(live),
        _on(part(payer, recovered=amount, payments=True), P,
            sa.and_(Payment.paid_on.between(P.c.ps, P.c.pe), before)).where(live),
        # collected: live payments made by the end on the periods due in it
        _on(part(payer, collected=amount, payments=True), P,
            sa.and_(due_in, Payment.paid_on <= P.c.pe)).where(live),
    ]
    flows = sa.union_all(*parts).subquery("flows")
    if by_collector:  # money owed goes to the case's collector at the end of the period
        keys = [flows.c[c] for c in ("period", "pe", "community_id", "building_id", "case_id",
                                     "collector_id", "owned")]
        per_case = sa.select(*keys, *(_msum(flows.c[m]).label(m) for m in RATE_MONEY)
                             ).group_by(*keys).subquery("per_case")
        at_end = assignee_at(per_case.c.case_id,
                             lambda ev: ev.at < day_start_utc(per_case.c.pe, 1))
        flows = sa.select(
            *(per_case.c[c] for c in ("period", "community_id", "building_id", *RATE_MONEY)),
            sa.case((per_case.c.owned.is_(True), at_end),
                    else_=per_case.c.collector_id).label("collector_id")).subquery("flows")
    key = _group_column(flows, group)
    query = sa.select(key, *(_msum(flows.c[m]).label(m) for m in RATE_MONEY)).group_by(key)
    if f.collector_id is not None:
        query = query.where(flows.c.collector_id == f.collector_id)
    return {k: dict(zip(RATE_MONEY, (_money(v) for v in vals), strict=True))
            for k, *vals in session.execute(query)}


def _group_column(sub, group: str):
    column = {"month": "period", "community": "community_id", "building": "building_id",
              "collector": "collector_id"}[group]
    return sub.c[column].label("key")


# -- snapshots: aging and money at risk -----------------------------------------------------------


def _outstanding(f: ReportFilters, figures: list) -> sa.Select:
    """Periods still owed today (joined to their place and case), grouped by f.group."""
    balance = ChargeLine.amount_due - ChargeLine.amount_paid - ChargeLine.credit
    key = {"community": Building.community_id, "building": Building.id,
           "collector": DunningCase.assignee_id}[f.group]
    query = (sa.select(key.label("key"), *(fig(balance).label(name) for name, fig in figures))
             .select_from(ChargeLine).join(Unit, Unit.id == ChargeLine.unit_id)
             .join(Building, Building.id == Unit.building_id)
             .outerjoin(DunningCase, DunningCase.id == ChargeLine.case_id)
             .where(balance > 0, *_line_conds(f)).group_by(key))
    if f.collector_id is not None:
        query = query.where(DunningCase.assignee_id == f.collector_id)
    return query


def _snapshot(session, f, name, figures, today, money_keys) -> Report:
    result = {}
    for key, *vals in session.execute(_outstanding(f, figures)):
        result[key] = {n: (_money(v) if n in money_keys else int(v or 0))
                       for (n, _), v in zip(figures, vals, strict=True)}
    blank = {n: (ZERO if n in money_keys else 0) for n, _ in figures}
    rows = _keyed_rows(session, f, f.group, result, blank)
    return Report(name, f, rows, _totals(rows, blank), as_of=today)


def aging(session: Session, f: ReportFilters, today: date) -> Report:
    """What is owed today, by days past the due date: 0–30 (including periods not yet due),
    31–90, 91–180, 181–365 and over 365 days."""
    cut = {d: today - timedelta(days=d) for d in (30, 90, 180, 365)}
    due = ChargeLine.due_date

    def bucket(cond):
        return lambda bal: _msum(sa.case((cond, bal), else_=sa.literal(0, Money())))

    figures = [
        ("d0_30", bucket(due >= cut[30])),
        ("d31_90", bucket(sa.and_(due < cut[30], due >= cut[90]))),
        ("d91_180", bucket(sa.and_(due < cut[90], due >= cut[180]))),
        ("d181_365", bucket(sa.and_(due < cut[180], due >= cut[365]))),
        ("d365_plus", bucket(due < cut[365])),
        ("outstanding", _msum),
        ("periods", lambda bal: sa.func.count(ChargeLine.id)),
    ]
    return _snapshot(session, f, "aging", figures, today, (*AGING_BUCKETS, "outstanding"))


def money_at_risk(session: Session, f: ReportFilters, today: date) -> Report:
    """Outstanding whose limitation (3 years a period, legal-rules B1) runs out within 90 and
    within 180 days (the second includes the first), and what is already time-barred."""
    expiry = ChargeLine.limitation_expiry
    live = expiry >= today

    def within(cond):
        return lambda bal: _msum(sa.case((cond, bal), else_=sa.literal(0, Money())))

    figures = [
        ("within_90", within(sa.and_(live, expiry <= today + timedelta(days=90)))),
        ("within_180", within(sa.and_(live, expiry <= today + timedelta(days=180)))),
        ("time_barred", within(expiry < today)),
        ("outstanding", _msum),
        ("periods_90", lambda bal: _isum(sa.case(
            (sa.and_(live, expiry <= today + timedelta(days=90)), 1), else_=0))),
    ]
    return _snapshot(session, f, "money_at_risk", figures, today,
                     ("within_90", "within_180", "time_barred", "outstanding"))


# -- stage funnel ---------------------------------------------------------------------------------


def stage_norms(policy_data: dict | None) -> dict[str, int]:
    """How long the policy timeline gives each stage, in days (DESIGN §4 defaults)."""
    p = merged(policy_data)
    t = p["timeline"]
    return {"first_reminder": int(p["follow_up_after_days"]),
            "follow_up": t["formal_demand"] - t["follow_up"],
            "formal_demand": t["mediation"] - t["formal_demand"],
            "mediation": t["lawyer_letter"] - t["mediation"],
            "lawyer_letter": t["litigation_decision"] - t["lawyer_letter"]}


def funnel(session: Session, f: ReportFilters, today: date) -> Report:
    """Per stage: the cases that entered it in the range (from the audit events), how many of
    them were paid from it (settled while in it), and for the stays that ended in the range
    their average length against the policy timeline and how many overran it.

    The collector filter takes the case's collector now; the timeline is the chosen
    community's current policy (the defaults when no community is chosen).
    """
    moves = sa.and_(CaseEvent.to_state.is_not(None),
                    sa.or_(CaseEvent.from_state.is_(None),
                           CaseEvent.from_state != CaseEvent.to_state))
    scope = _case_conds(f, DunningCase.id, DunningCase.community_id)
    if f.collector_id is not None:
        scope.append(DunningCase.assignee_id == f.collector_id)
    in_range = sa.and_(CaseEvent.at >= f.since, CaseEvent.at < f.until)
    base = (sa.select().select_from(CaseEvent)
            .join(DunningCase, DunningCase.id == CaseEvent.case_id).where(moves, in_range, *scope))
    reached = base.add_columns(sa.literal("reached").label("what"),
                               CaseEvent.to_state.label("stage"),
                               sa.func.count(sa.distinct(CaseEvent.case_id)).label("n")
                               ).group_by(CaseEvent.to_state)
    paid = base.add_columns(sa.literal("paid").label("what"), CaseEvent.from_state.label("stage"),
                            sa.func.count(sa.distinct(CaseEvent.case_id)).label("n")
                            ).where(CaseEvent.to_state == "paid").group_by(CaseEvent.from_state)
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for what, stage, n in session.execute(sa.union_all(reached, paid)):
        counts[stage][what] = int(n)

    policy = None
    if f.community_id:
        policy = session.scalar(sa.select(Policy.data).where(
            Policy.community_id == f.community_id).order_by(Policy.version.desc()).limit(1))
    norms = stage_norms(policy)
    exits = sa.select(CaseEvent.case_id).join(
        DunningCase, DunningCase.id == CaseEvent.case_id).where(moves, in_range, *scope)
    stays = (sa.select(CaseEvent.from_state.label("stage"), CaseEvent.at.label("left"),
                       sa.func.lag(CaseEvent.at).over(partition_by=CaseEvent.case_id,
                                                      order_by=CaseEvent.seq).label("entered"))
             .where(moves, CaseEvent.case_id.in_(exits)).subquery("stays"))
    length = days_between(stays.c.left, stays.c.entered)
    norm = sa.case(*((stays.c.stage == s, d) for s, d in norms.items()), else_=None)
    timing = {stage: (int(n), avg, int(over or 0)) for stage, n, avg, over in session.execute(
        sa.select(stays.c.stage, sa.func.count(), sa.func.avg(length),
                  _isum(sa.case((length > norm, 1), else_=0)))
        .where(stays.c.stage.is_not(None), stays.c.entered.is_not(None),
               stays.c.left >= f.since, stays.c.left < f.until)
        .group_by(stays.c.stage))}
    rows = []
    for stage in FUNNEL_STAGES:
        n_reached = counts.get(stage, {}).get("reached", 0)
        n_paid = counts.get(stage, {}).get("paid", 0)
        left, avg, over = timing.get(stage, (0, None, 0))
        rows.append({"key": stage, "label": None, "reached": n_reached, "paid": n_paid,
                     "paid_rate": percent(n_paid, n_reached), "stays": left,
                     "avg_days": None if avg is None else
                     Decimal(str(avg)).quantize(Decimal("0.1"), ROUND_HALF_UP),
                     "norm_days": norms.get(stage), "over_norm": over})
    total = {"key": "total", "label": None,
             "reached": sum(counts.get(s, {}).get("reached", 0) for s in FUNNEL_STAGES),
             "paid": sum(r["paid"] for r in rows), "stays": sum(r["stays"] for r in rows),
             "over_norm": sum(r["over_norm"] for r in rows)}
    return Report("funnel", f, rows, total, extra={"norms": norms})


# -- what works -----------------------------------------------------------------------------------


def what_works(session: Session, f: ReportFilters, today: date) -> Report:
    """Of the contacts in the range, the share followed by a live payment on the same case
    within 14 days (the contact's day to 14 days later, Shanghai days), by technique (a contact
    with two techniques counts for each), channel, arrears reason (the contact's, else the
    case's) and collector (who made the contact); each with the number of contacts behind it.
    """
    paid_after = sa.exists().where(
        Payment.case_id == ContactAttempt.case_id, Payment.reversed.is_(False),
        day_start_utc(Payment.paid_on, 1) > ContactAttempt.at,
        day_start_utc(Payment.paid_on, -PAID_WITHIN_DAYS) <= ContactAttempt.at)
    conds = [ContactAttempt.at >= f.since, ContactAttempt.at < f.until,
             *_case_conds(f, DunningCase.id, DunningCase.community_id)]
    if f.collector_id is not None:
        conds.append(ContactAttempt.staff_id == f.collector_id)
    base = (sa.select(ContactAttempt.id, ContactAttempt.channel, ContactAttempt.techniques,
                      sa.cast(ContactAttempt.staff_id, sa.String).label("collector"),
                      sa.func.coalesce(ContactAttempt.reason_class,
                                       DunningCase.reason_class).label("reason"),
                      sa.case((paid_after, 1), else_=0).label("paid"))
            .join(DunningCase, DunningCase.id == ContactAttempt.case_id).where(*conds)
            .cte("contacts"))
    tags = _values("techniques", TECHNIQUES)

    def part(dimension: str, code, *joins):
        query = sa.select(sa.literal(dimension, sa.String).label("dimension"),
                          code.label("code"), sa.func.count().label("contacts"),
                          _isum(base.c.paid).label("paid")).select_from(base)
        for target, on in joins:
            query = query.join(target, on)
        return query.group_by(code)

    union = sa.union_all(
        part("technique", tags.c.code,
             (tags, sa.cast(base.c.techniques, sa.Text).like(
                 sa.literal('%"') + tags.c.code + sa.literal('"%')))),
        part("channel", base.c.channel), part("reason", base.c.reason),
        part("collector", base.c.collector))
    found: dict[str, dict[Any, tuple[int, int]]] = defaultdict(dict)
    for dimension, code, n, paid in session.execute(union):
        found[dimension][code] = (int(n), int(paid))
    collector_ids = [int(c) for c in found["collector"] if c is not None]
    staff = dict(session.execute(sa.select(StaffUser.id, StaffUser.display_name).where(
        StaffUser.id.in_(collector_ids))).all()) if collector_ids else {}
    rows = []
    for dimension in WORKS_DIMENSIONS:
        for code, (n, paid) in sorted(found[dimension].items(),
                                      key=lambda kv: (-kv[1][0], str(kv[0]))):
            label = staff.get(int(code)) if dimension == "collector" and code else None
            rows.append({"key": f"{dimension}:{code}", "dimension": dimension, "code": code,
                         "label": label, "contacts": n, "paid": paid,
                         "paid_rate": percent(paid, n)})
    contacts, paid = session.execute(sa.select(sa.func.count(), _isum(base.c.paid))).one()
    total = {"key": "total", "label": None, "contacts": int(contacts), "paid": int(paid),
             "paid_rate": percent(paid, contacts)}
    return Report("what_works", f, rows, total)


# -- conduct --------------------------------------------------------------------------------------

CONDUCT_COUNTS = ("contacts", "outside_window", "over_caps", "overrides", "flagged")


def conduct(session: Session, f: ReportFilters, today: date) -> Report:
    """Contacts recorded against the contact rules (DESIGN §4), by who recorded them:
    outside the time window or on a public holiday, over a daily/weekly cap or within the
    cool-down after a conversation, and the manual overrides (recorded anyway with a reason,
    flagged to the supervisor)."""
    rules = ContactAttempt.outside_rules
    group_col = {"collector": ContactAttempt.staff_id, "community": DunningCase.community_id}
    conds = [ContactAttempt.at >= f.since, ContactAttempt.at < f.until,
             *_case_conds(f, DunningCase.id, DunningCase.community_id)]
    if f.collector_id is not None:
        conds.append(ContactAttempt.staff_id == f.collector_id)
    query = sa.select().select_from(ContactAttempt).join(
        DunningCase, DunningCase.id == ContactAttempt.case_id)
    if f.group == "month":
        P = _periods(f)
        key = P.c.key
        query = _on(query, P, sa.and_(ContactAttempt.at >= day_start_utc(P.c.ps),
                                      ContactAttempt.at < day_start_utc(P.c.pe, 1)))
    else:
        key = group_col[f.group]
    query = query.add_columns(
        key.label("key"), sa.func.count(ContactAttempt.id),
        _isum(sa.case((json_has_any(rules, WINDOW_RULES), 1), else_=0)),
        _isum(sa.case((json_has_any(rules, CAP_RULES), 1), else_=0)),
        _isum(sa.case((ContactAttempt.override_reason.is_not(None), 1), else_=0)),
        _isum(sa.case((ContactAttempt.flagged.is_(True), 1), else_=0)),
    ).where(*conds).group_by(key)
    figures = {k: dict(zip(CONDUCT_COUNTS, (int(v or 0) for v in vals), strict=True))
               for k, *vals in session.execute(query)}
    blank = dict.fromkeys(CONDUCT_COUNTS, 0)
    rows = _keyed_rows(session, f, f.group, figures, blank)
    return Report("conduct", f, rows, _totals(rows, blank))


# -- targets --------------------------------------------------------------------------------------


def targets(session: Session, f: ReportFilters, today: date) -> Report:
    """Per collector and month: the monthly target (CollectionTarget) against the money
    received (live payments, by amount, overpayments held on account included) on cases the
    collector held when it came in. The place filters narrow the payments, not the targets."""
    months = f.months()
    P = _periods(f, months)
    payer = assignee_at(Payment.case_id, lambda ev: ev.at <= Payment.created_at,
                        lambda ev: ev.at < day_start_utc(Payment.paid_on, 1))
    received = (sa.select(P.c.key.label("month"), payer.label("collector_id"),
                          Payment.amount.label("amount"))
                .select_from(Payment).join(DunningCase, DunningCase.id == Payment.case_id)
                .where(Payment.reversed.is_(False),
                       *_case_conds(f, DunningCase.id, DunningCase.community_id)))
    payments = _on(received, P, Payment.paid_on.between(P.c.ps, P.c.pe)).subquery("received")
    query = (sa.select(payments.c.month, payments.c.collector_id, _msum(payments.c.amount))
             .group_by(payments.c.month, payments.c.collector_id))
    if f.collector_id is not None:
        query = query.where(payments.c.collector_id == f.collector_id)
    got = {(m, c): _money(v) for m, c, v in session.execute(query)}
    first, last = month_start(f.start), month_start(f.end)
    wanted = sa.select(CollectionTarget.collector_id, CollectionTarget.month,
                       CollectionTarget.amount, StaffUser.display_name).join(
        StaffUser, StaffUser.id == CollectionTarget.collector_id).where(
        CollectionTarget.month.between(first, last))
    if f.collector_id is not None:
        wanted = wanted.where(CollectionTarget.collector_id == f.collector_id)
    else:  # the collectors of the chosen place, and any who took money there
        took = sorted({c for _, c in got if c is not None})
        wanted = wanted.where(sa.or_(_works_in(f), CollectionTarget.collector_id.in_(took)))
    goals = {(f"{m:%Y-%m}", c): (amount, name) for c, m, amount, name in session.execute(wanted)}
    ids = sorted({c for _, c in got if c is not None} - {c for _, c in goals})
    staff = dict(session.execute(sa.select(StaffUser.id, StaffUser.display_name).where(
        StaffUser.id.in_(ids))).all()) if ids else {}
    staff.update({c: name for (_, c), (_, name) in goals.items()})
    rows = []
    for key in sorted(set(got) | set(goals), key=lambda k: (k[0], staff.get(k[1], ""), k[1] or 0)):
        month, collector = key
        target = goals.get(key, (None, None))[0]
        collected = got.get(key, ZERO)
        rows.append({"key": f"{month}:{collector}", "label": staff.get(collector),
                     "month": month, "collector_id": collector, "target": target,
                     "collected": collected, "progress": percent(collected, target),
                     "gap": None if target is None else max(target - collected, ZERO)})
    target_sum = sum((r["target"] for r in rows if r["target"] is not None), ZERO)
    collected_sum = sum((r["collected"] for r in rows), ZERO)
    total = {"key": "total", "label": None, "target": target_sum, "collected": collected_sum,
             "progress": percent(collected_sum, target_sum),
             "gap": sum((r["gap"] for r in rows if r["gap"] is not None), ZERO)}
    return Report("targets", f, rows, total, extra={"months": [m for m, _, _ in months]})


# -- outcomes -------------------------------------------------------------------------------------


def outcomes(session: Session, f: ReportFilters, today: date) -> Report:
    """The outcome reviews (结果评估) submitted in the range, except those sent back for rework:
    how many by final state, arrears reason, the technique and the channel that worked, with
    how many the supervisor confirmed and the average days to recover."""
    from ..models.review import OutcomeReview as R

    conds = [R.submitted_at >= f.since, R.submitted_at < f.until, R.status != "returned",
             *_case_conds(f, DunningCase.id, DunningCase.community_id)]
    if f.collector_id is not None:
        conds.append(R.collector_id == f.collector_id)
    base = (sa.select(R.final_state, R.arrears_reason, R.technique_worked, R.channel_worked,
                      R.status, R.days_to_recover)
            .join(DunningCase, DunningCase.id == R.case_id).where(*conds).cte("reviews"))

    def part(dimension: str):
        code = base.c[dimension]
        return (sa.select(sa.literal(dimension, sa.String).label("dimension"),
                          code.label("code"), sa.func.count().label("n"),
                          _isum(sa.case((base.c.status == "confirmed", 1), else_=0)),
                          sa.func.sum(base.c.days_to_recover).label("days"))
                .group_by(code))

    rows = []
    for dimension, code, n, confirmed, days in session.execute(
            sa.union_all(*(part(d) for d in OUTCOME_DIMENSIONS))):
        rows.append({"key": f"{dimension}:{code}", "dimension": dimension, "code": code,
                     "label": None, "reviews": int(n), "confirmed": int(confirmed or 0),
                     "avg_days": (Decimal(int(days or 0)) / Decimal(int(n))).quantize(
                         Decimal("0.1"), ROUND_HALF_UP)})
    order = {d: i for i, d in enumerate(OUTCOME_DIMENSIONS)}
    rows.sort(key=lambda r: (order[r["dimension"]], -r["reviews"], str(r["code"])))
    per_state = [r for r in rows if r["dimension"] == "final_state"]
    total = {"key": "total", "label": None, "reviews": sum(r["reviews"] for r in per_state),
             "confirmed": sum(r["confirmed"] for r in per_state)}
    return Report("outcomes", f, rows, total)


REPORTS = {
    "collection_rate": collection_rate,
    "aging": aging,
    "funnel": funnel,
    "what_works": what_works,
    "money_at_risk": money_at_risk,
    "conduct": conduct,
    "targets": targets,
    "outcomes": outcomes,
}
# The groupings each report offers (the first is its default).
GROUPINGS = {
    "collection_rate": ("community", "building", "collector", "month"),
    "aging": ("community", "building", "collector"),
    "funnel": ("community",),
    "what_works": ("community",),
    "money_at_risk": ("community", "building", "collector"),
    "conduct": ("collector", "community", "month"),
    "targets": ("collector",),
    "outcomes": ("community",),
}


def run(session: Session, name: str, f: ReportFilters, today: date) -> Report:
    """One report. On PostgreSQL the transaction runs without JIT compilation: the report
    statements are estimated costly enough to trigger it, and compiling them takes longer
    (0.1–0.3 s measured) than running them."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("SET LOCAL jit = off"))
    return REPORTS[name](session, f, today)
