"""The read side of the staff UI: queues, statements, timelines, boards (no writes here).

Every helper loads what a page needs in a fixed number of statements, whatever the number of
cases (the queue page's statement count is tested).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from time import monotonic
from typing import Any

import sqlalchemy as sa
from flask import current_app, has_app_context
from sqlalchemy.orm import Session

from workflows.dunning import FINAL_STATES

from .extensions import db
from .models import (
    Building,
    CaseBalance,
    CaseEvent,
    ChargeLine,
    CollectionTarget,
    Community,
    ContactAttempt,
    Debtor,
    Dispute,
    Document,
    DunningCase,
    LateFeeWaiver,
    LitigationRecord,
    Payment,
    PaymentPlan,
    StaffUser,
    Task,
    Unit,
)
from .models.types import Money
from .policy import merged
from .services.access import case_scope, community_ids, scope_filter, visible_cases
from .services.clock import SHANGHAI, local_date

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
AT_RISK_DAYS = 180  # limitation alerts start 180 days before expiry
DOCUMENTED = ("no_answer", "sent", "reached", "promised", "refused", "disputed")


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The UTC instants where a Shanghai calendar day starts and ends."""
    start = datetime.combine(day, time(0), tzinfo=SHANGHAI).astimezone(UTC)
    return start, start + timedelta(days=1)


def month_bounds(first: date) -> tuple[date, date]:
    nxt = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    return first, nxt


# -- money per case -------------------------------------------------------------------------------


@dataclass
class CaseMoney:
    outstanding: Decimal = ZERO
    oldest_due: date | None = None
    at_risk: Decimal = ZERO
    time_barred: Decimal = ZERO
    earliest_expiry: date | None = None
    periods: int = 0


def case_money(case_ids: list[int], today: date) -> dict[int, CaseMoney]:
    """Outstanding, oldest unpaid due date and money at risk for many cases in one statement."""
    result = {cid: CaseMoney() for cid in case_ids}
    if not case_ids:
        return result
    rows = db.session.execute(sa.select(
        ChargeLine.case_id, ChargeLine.amount_due, ChargeLine.amount_paid, ChargeLine.credit,
        ChargeLine.due_date, ChargeLine.limitation_expiry).where(
        ChargeLine.case_id.in_(case_ids))).all()
    horizon = today + timedelta(days=AT_RISK_DAYS)
    for case_id, due, paid, credit, due_date, expiry in rows:
        balance = due - paid - credit
        if balance <= 0:
            continue
        m = result[case_id]
        m.outstanding += balance
        m.periods += 1
        m.oldest_due = min(filter(None, (m.oldest_due, due_date)))
        if expiry < today:
            m.time_barred += balance
        else:
            m.earliest_expiry = min(filter(None, (m.earliest_expiry, expiry)))
            if expiry <= horizon:
                m.at_risk += balance
    return result


# A case's places travel as one string: "building<unit sep>number", joined by the list separator.
_UNIT_SEP, _PLACE_SEP = "\x1f", "\x1e"


def places_of(case_id) -> sa.ScalarSelect:
    """The buildings and units of the case whose id is `case_id` (a column of the enclosing
    statement), as one string for read_places: a list's places come with its rows."""
    units = (sa.select(ChargeLine.unit_id).where(ChargeLine.case_id == case_id)
             .correlate_except(ChargeLine))  # case_id's table is two levels out
    return (sa.select(sa.func.aggregate_strings(
                Building.name + sa.literal_column(f"'{_UNIT_SEP}'") + Unit.number,
                sa.literal_column(f"'{_PLACE_SEP}'")))
            .select_from(Unit).join(Building, Building.id == Unit.building_id)
            .where(Unit.id.in_(units)).scalar_subquery())


def read_places(text: str | None) -> list[str]:
    """places_of's string as "1栋-101" labels, by building and unit."""
    if not text:
        return []
    pairs = sorted({tuple(place.split(_UNIT_SEP, 1)) for place in text.split(_PLACE_SEP)})
    return [f"{building}-{number}" for building, number in pairs]


_PLACES = (sa.select(DunningCase.id, places_of(DunningCase.id))
           .where(DunningCase.id.in_(sa.bindparam("case_ids", expanding=True))))


def case_places(case_ids: list[int]) -> dict[int, list[str]]:
    """The buildings and units of each case ("1栋-101"), in one statement."""
    if not case_ids:
        return {}
    return {case_id: read_places(text)
            for case_id, text in db.session.execute(_PLACES, {"case_ids": case_ids})}


# -- queues ---------------------------------------------------------------------------------------

QUEUE_SORTS = ("priority", "due")
PAGE_SIZES = (25, 50, 100)
SECTIONS = ("overdue", "today", "upcoming")
MAX_PAGE = 1_000_000


@dataclass
class QueueFilters:
    community_id: int | None = None
    building_id: int | None = None
    state: str | None = None
    reason: str | None = None

    @property
    def active(self) -> bool:
        return any((self.community_id, self.building_id, self.state, self.reason))

    @property
    def shape(self) -> tuple[bool, ...]:
        """Which filters are set (a statement built once per shape: queue_page)."""
        return tuple(bool(value) for value in self.params().values())

    def params(self) -> dict[str, Any]:
        """The filters' values under the names apply binds them to."""
        return {"f_community": self.community_id, "f_state": self.state,
                "f_reason": self.reason, "f_building": self.building_id}

    def apply(self, query):
        if self.community_id:
            query = query.where(
                DunningCase.community_id == sa.bindparam("f_community", self.community_id))
        if self.state:
            query = query.where(DunningCase.state == sa.bindparam("f_state", self.state))
        if self.reason:
            query = query.where(DunningCase.reason_class == sa.bindparam("f_reason", self.reason))
        if self.building_id:
            query = query.where(sa.exists().where(
                ChargeLine.case_id == DunningCase.id, ChargeLine.unit_id == Unit.id,
                Unit.building_id == sa.bindparam("f_building", self.building_id)))
        return query


@dataclass
class Paging:
    """Which page of a list to show: 1-based page number, rows per page, sort order."""

    page: int = 1
    per: int = PAGE_SIZES[0]
    sort: str = QUEUE_SORTS[0]

    def __post_init__(self) -> None:
        # Past the last page a list is empty; a page number from a URL may be any size, and an
        # offset must stay within a 32-bit integer for PostgreSQL.
        self.page = min(max(self.page, 1), MAX_PAGE)

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per


@dataclass
class Page:
    rows: list
    total: int
    paging: Paging

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.paging.per))


@dataclass(slots=True)
class QueueRow:
    """One line of a queue list, as plain values (no ORM objects: loading and rendering rows is
    most of the page's work). The task fields are empty in "my other cases"."""

    case_id: int
    number: str
    state: str
    debtor: str
    community: str
    money: CaseMoney
    places: list[str] = field(default_factory=list)
    task_id: int | None = None
    kind: str = ""
    title: str = ""
    due_at: datetime | None = None
    section: str = ""  # overdue, today, upcoming


# The predicate of the partial index ix_charge_line_unpaid_case (migration c3f1a7d2e9b4), written
# the same way so that PostgreSQL uses the index (a bound 0 would not match it in generic plans).
UNPAID = sa.text("charge_line.amount_due - charge_line.amount_paid - charge_line.credit > 0")


def _money_of(today: date):
    """The queues' money sort keys per case - outstanding, oldest unpaid due date, money at risk
    of limitation - read from case_balance, which triggers on charge_line keep (migration
    f4a2c6e8b1d3), so a page never sums the unpaid lines of all the user's cases. The money at
    risk depends on the day: the stored figure is used on the days it holds for; on any other
    day (or for a case whose row is not recomputed yet) that case's lines are summed here."""
    balance = CaseBalance.__table__.alias("money")
    line_balance = ChargeLine.amount_due - ChargeLine.amount_paid - ChargeLine.credit
    day = sa.bindparam("today", today)
    summed = (sa.select(sa.func.coalesce(sa.func.sum(line_balance), 0))
              .where(ChargeLine.case_id == balance.c.case_id, UNPAID,
                     ChargeLine.limitation_expiry.between(day, sa.bindparam(
                         "risk_until", today + timedelta(days=AT_RISK_DAYS))))
              .scalar_subquery())
    holds = sa.and_(balance.c.risk_from <= day,
                    sa.or_(balance.c.risk_until.is_(None), balance.c.risk_until > day))
    at_risk = sa.type_coerce(sa.case((holds, balance.c.at_risk), else_=summed), Money())
    return balance, at_risk.label("at_risk")


class _Queue:
    """What the queue statements depend on, split into their shape (what a statement built once
    and kept in _STATEMENTS is made of) and the values bound to its named parameters, which
    every execution passes anew: the user, the day, the user's case scope and the filters."""

    def __init__(self, user: StaffUser, now: datetime, filters: QueueFilters | None) -> None:
        self.filters = filters or QueueFilters()
        self.roles = tuple(sorted(user.roles))
        self.scope, scope_values = case_scope(user)
        self.today = local_date(now)
        start, end = day_bounds(self.today)
        self.params = {"uid": user.id, "day_start": start, "day_end": end,
                       "today": self.today,
                       "risk_until": self.today + timedelta(days=AT_RISK_DAYS),
                       **scope_values, **self.filters.params()}

    def shape(self, *more) -> tuple:
        return (self.roles, self.scope, self.filters.shape, *more)

    def tasks(self):
        """The open tasks of the user's queues, on cases the user may see: assigned to the
        user (mine = 1), or to nobody yet but offered to one of the user's roles (mine = 0,
        the team queue); with their section (0 overdue, 1 today, 2 upcoming) and what the
        lists show."""
        p = self.params
        mine = Task.assignee_id == sa.bindparam("uid", p["uid"])
        # One parameter a role, its value the role's (the roles are part of the statement's
        # shape, so every execution of it has the same): no IN (...), see run.
        team = sa.and_(Task.assignee_id.is_(None), sa.or_(sa.false(), *(
            Task.candidate_role == sa.bindparam(f"role_{i}", role)
            for i, role in enumerate(self.roles))))
        moment = Task.due_at.type  # UTC, as the column stores it
        section = sa.case(
            (Task.due_at < sa.bindparam("day_start", p["day_start"], type_=moment), 0),
            (Task.due_at < sa.bindparam("day_end", p["day_end"], type_=moment), 1), else_=2)
        return self.filters.apply(
            sa.select(Task.id, Task.case_id, Task.priority, Task.due_at, Task.kind, Task.title,
                      section.label("section"), sa.case((mine, 1), else_=0).label("mine"))
            .join(Task.case)
            .where(Task.status == "open", scope_filter(self.scope, self.params),
                   sa.or_(mine, team)))

    def run(self, key: tuple, build, **params):
        """Runs the statement of this shape and `key` (built by build() the first time) with
        this request's values. (Its lists of values are written out - one parameter a role, the
        final states as constants - rather than as IN (...) of a list parameter, which
        SQLAlchemy writes into the statement's text anew on every execution.)"""
        statement = _STATEMENTS.get(self.shape(*key))
        if statement is None:
            if len(_STATEMENTS) >= 512:  # a bound on what odd combinations could pile up
                _STATEMENTS.clear()
            statement = _STATEMENTS[self.shape(*key)] = build()
        return db.session.execute(statement, self.params | params)


_STATEMENTS: dict[tuple, sa.Select] = {}
_FINAL = [sa.literal_column(f"'{state}'") for state in FINAL_STATES]  # ids: nothing to quote


@dataclass
class QueueCounts:
    sections: dict[str, int]  # my open tasks: overdue, today, upcoming
    team: int  # the team queue: open tasks offered to one of my roles, on cases I may see

    @property
    def mine(self) -> int:
        return sum(self.sections.values())

    def nav(self) -> dict[str, int]:
        """The navigation's numbers (nav_counts), when no filter narrowed these."""
        return {"mine": self.mine, "overdue": self.sections["overdue"], "team": self.team}


def _counted(rows) -> QueueCounts:
    sections, team = dict.fromkeys(SECTIONS, 0), 0
    for is_mine, section, count in rows:
        if is_mine:
            sections[SECTIONS[section]] += count
        else:
            team += count
    return QueueCounts(sections, team)


def queue_counts(user: StaffUser, now: datetime,
                 filters: QueueFilters | None = None) -> QueueCounts:
    """How many of the user's open tasks are overdue, due today and upcoming, and how many
    are in the team queue: one statement."""
    queue = _Queue(user, now, filters)

    def build():
        tasks = queue.tasks().subquery("t")
        return (sa.select(tasks.c.mine, tasks.c.section, sa.func.count())
                .group_by(tasks.c.mine, tasks.c.section))

    return _counted(queue.run(("counts",), build))


def _task_order(c, by_due: bool) -> list:
    """A task list's order over columns named section, due_at, priority, outstanding,
    oldest_due, at_risk and id: overdue, today, upcoming; within each by due time, or by
    priority (task priority, amount owed, oldest unpaid period, money at risk of limitation)."""
    if by_due:
        return [c.section, c.due_at, c.id]
    return [c.section, c.priority.desc(), *_money_order(c), c.due_at, c.id]


def _case_order(c) -> list:
    """"My other cases": by case priority, then most money first (as a task list's keys)."""
    return [c.priority.desc(), *_money_order(c), c.id]


def _money_order(c) -> list:
    """Most money first: amount owed, oldest unpaid period, money at risk of limitation."""
    return [sa.func.coalesce(c.outstanding, 0).desc(), sa.nulls_last(c.oldest_due.asc()),
            c.at_risk.desc()]


@dataclass
class QueuePage:
    counts: QueueCounts
    mine: Page  # my open tasks
    team: Page  # the team queue
    cases: Page  # my other cases: open, assigned to me, no open task of mine


# The parts of queue_page's statement: a count (`pos` holds it) or a line of one of the lists.
_MINE_COUNT, _TEAM_COUNT, _CASE_COUNT, _MINE, _TEAM, _CASES = range(6)
_TASK_COLUMNS = ("task_id", "kind", "title", "due_at", "section")
_CASE_COLUMNS = ("case_id", "outstanding", "oldest_due", "at_risk")
_LINE_COLUMNS = ("part", "pos", *_TASK_COLUMNS, *_CASE_COLUMNS,
                 "number", "state", "debtor", "community", "places")


def queue_page(user: StaffUser, now: datetime, filters: QueueFilters | None,
               mine: Paging, team: Paging, cases: Paging) -> QueuePage:
    """Everything the queue page lists, in one statement whatever the number of tasks: how
    many of my tasks are in each section and how many in the team queue, one page of each
    (in _task_order), and one page of my other cases (in _case_order) with their count.

    The open tasks are read once (a CTE that every part uses). Each list's rows are sorted by
    the keys that need no money first (section, then priority or due time), so PostgreSQL
    joins their cases' balances in that order and stops once the page is full (an
    incremental sort) instead of looking up the balance of every one of a collector's 2,000
    cases; only the pages' rows are joined to the case, debtor, community and places (units)
    they show. Each line carries its position in its list."""
    queue = _Queue(user, now, filters)
    lists = {"mine": mine, "team": team, "cases": cases}
    paged = {f"{name}_{what}": value for name, paging in lists.items() for what, value in (
        ("per", paging.per), ("offset", paging.offset), ("end", paging.offset + paging.per))}

    def bound(name: str):
        return sa.bindparam(name, paged[name])

    def build() -> sa.Select:
        open_tasks = queue.tasks().cte("open_task")
        # How many in each list, section and task priority: the counts, and where pages end.
        groups = (sa.select(open_tasks.c.mine, open_tasks.c.section, open_tasks.c.priority,
                            sa.func.count().label("n"))
                  .group_by(open_tasks.c.mine, open_tasks.c.section, open_tasks.c.priority)
                  .cte("task_group"))
        money, at_risk = _money_of(queue.today)

        def line(part: int, keys: sa.Select, order, limit, offset, task: bool) -> sa.Select:
            """One page of a list: its rows, numbered in the list's order."""
            ranked = (keys.order_by(*order(keys.selected_columns))
                      .limit(limit).offset(offset).subquery())
            task_columns = ([ranked.c.id, ranked.c.kind, ranked.c.title, ranked.c.due_at,
                             ranked.c.section] if task else [sa.null()] * len(_TASK_COLUMNS))
            return sa.select(
                sa.literal(part).label("part"),
                sa.func.row_number().over(order_by=order(ranked.c)).label("pos"),
                *(column.label(name)
                  for column, name in zip(task_columns, _TASK_COLUMNS, strict=True)),
                *(ranked.c[name] for name in _CASE_COLUMNS))

        def tasks(part: int, name: str, is_mine: int) -> sa.Select:
            per, offset = bound(f"{name}_per"), bound(f"{name}_offset")
            listed = sa.select(open_tasks).where(open_tasks.c.mine == is_mine)
            if lists[name].sort == "due":  # no money in the order: the page, then its balances
                ranked = (listed.order_by(*_task_order(open_tasks.c, True))
                          .limit(per).offset(offset).subquery("t"))
                keys = sa.select(ranked, money.c.outstanding, money.c.oldest_due, at_risk)
                return line(part, keys.select_from(ranked).outerjoin(
                    money, money.c.case_id == ranked.c.case_id),
                    lambda c: _task_order(c, True), per, 0, task=True)
            # By priority the money comes after section and task priority: only the tasks of
            # the (section, priority) groups that start before the page's end can be on the
            # page, so only their balances are looked up (a few hundred, not 2,000).
            key = (groups.c.section, groups.c.priority.desc())
            before = (sa.select(groups.c.section, groups.c.priority,
                                (sa.func.sum(groups.c.n).over(order_by=key) - groups.c.n)
                                .label("before"))
                      .where(groups.c.mine == is_mine).subquery("g"))
            reached = (
                listed.add_columns(money.c.outstanding, money.c.oldest_due, at_risk)
                .select_from(open_tasks.join(before, sa.and_(
                    before.c.section == open_tasks.c.section,
                    before.c.priority == open_tasks.c.priority,
                    before.c.before < bound(f"{name}_end")))
                    .outerjoin(money, money.c.case_id == open_tasks.c.case_id)))
            return line(part, reached, lambda c: _task_order(c, False), per, offset, task=True)

        tasked = sa.select(open_tasks.c.case_id).where(open_tasks.c.mine == 1)
        others = queue.filters.apply(
            sa.select(DunningCase.id.label("case_id"), DunningCase.priority).where(
                DunningCase.assignee_id == sa.bindparam("uid", queue.params["uid"]),
                DunningCase.state.not_in(_FINAL),
                scope_filter(queue.scope, queue.params),
                DunningCase.id.not_in(tasked))).cte("other_case")
        case_keys = (sa.select(others.c.case_id.label("id"), others.c.case_id,
                               others.c.priority, money.c.outstanding, money.c.oldest_due,
                               at_risk)
                     .select_from(others)
                     .outerjoin(money, money.c.case_id == others.c.case_id))
        section_counts = (
            sa.select(sa.case((groups.c.mine == 1, _MINE_COUNT), else_=_TEAM_COUNT),
                      sa.cast(sa.func.sum(groups.c.n), sa.Integer), *[sa.null()] * 4,
                      groups.c.section,
                      *[sa.null()] * len(_CASE_COLUMNS))
            .group_by(groups.c.mine, groups.c.section))
        case_count = sa.select(sa.literal(_CASE_COUNT), sa.func.count(),
                               *[sa.null()] * (len(_TASK_COLUMNS) + len(_CASE_COLUMNS))
                               ).select_from(others)
        lines = sa.union_all(
            tasks(_MINE, "mine", 1), tasks(_TEAM, "team", 0),
            line(_CASES, case_keys, _case_order, bound("cases_per"), bound("cases_offset"),
                 task=False),
            section_counts, case_count,
        ).subquery("q")
        statement = (sa.select(lines, DunningCase.number, DunningCase.state,
                               Debtor.name.label("debtor"), Community.name.label("community"),
                               places_of(lines.c.case_id).label("places"))
                     .select_from(lines)
                     .outerjoin(DunningCase, DunningCase.id == lines.c.case_id)
                     .outerjoin(Debtor, Debtor.id == DunningCase.debtor_id)
                     .outerjoin(Community, Community.id == DunningCase.community_id)
                     .order_by(lines.c.part, lines.c.pos))
        names = tuple(column.name for column in statement.selected_columns)
        if names != _LINE_COLUMNS:  # the lines below are read by position
            raise RuntimeError(f"queue_page: columns {names}, expected {_LINE_COLUMNS}")
        return statement

    found: dict[int, list] = {part: [] for part in range(6)}
    for line in queue.run(("page", mine.sort, team.sort), build, **paged):
        found[line[0]].append(line)  # by part
    # A line's columns (_LINE_COLUMNS) are read by position: a Row's attributes cost several
    # times more. A count's number is in `pos`.
    counts = _counted([(line[0] == _MINE_COUNT, line[6], line[1])
                       for line in found[_MINE_COUNT] + found[_TEAM_COUNT]])
    case_total = found[_CASE_COUNT][0][1] if found[_CASE_COUNT] else 0

    def page(part: int, total: int, paging: Paging) -> Page:
        return Page([QueueRow(
            case_id, number, state, debtor, community,
            CaseMoney(outstanding=outstanding or ZERO, oldest_due=oldest_due,
                      at_risk=at_risk or ZERO), read_places(places), task_id=task_id,
            kind=kind or "", title=title or "", due_at=due_at,
            section=SECTIONS[section] if section is not None else "")
            for (_, _, task_id, kind, title, due_at, section, case_id, outstanding, oldest_due,
                 at_risk, number, state, debtor, community, places) in found[part]],
            total, paging)

    return QueuePage(counts, page(_MINE, counts.mine, mine), page(_TEAM, counts.team, team),
                     page(_CASES, case_total, cases))


def nav_counts(user: StaffUser, now: datetime,
               known: QueueCounts | None = None) -> dict[str, int]:
    """The numbers in the navigation: my tasks (and how many are overdue), the team queue,
    cases waiting for legal review. `known`: the unfiltered counts the page already has."""
    visible = visible_cases(user)
    counts = (known or queue_counts(user, now)).nav()
    if user.has_role("legal"):
        counts["review"] = db.session.scalar(sa.select(sa.func.count(DunningCase.id)).where(
            visible, DunningCase.state == "legal_review")) or 0
    return counts


_BUILDINGS = (sa.select(Building.id, Building.name, Building.community_id)
              .where(Building.community_id.in_(sa.bindparam("communities", expanding=True)))
              .order_by(Building.community_id, Building.name))
_COMMUNITIES = sa.select(Community.id, Community.name).order_by(Community.name)
CHOICES_SECONDS = 60  # how long a process keeps the filters' communities and buildings
_CHOICES = "casework.filter_choices"  # their cache, in the app's extensions


class Choices(tuple):
    """(id, name) pairs that pages share (filter_choices keeps them): a tuple on which what a
    page makes of it can be kept as well (`made`: web.fmt.options keeps the <option>
    elements there; None until then)."""

    made: Any = None


def filter_choices(user: StaffUser) -> dict[str, Choices]:
    """The communities and buildings the user works in, for the lists' filters: (id, name)
    pairs, a building's name led by its community's when there are several.

    Every list page shows them and they change seldom, so each process keeps them for
    CHOICES_SECONDS per set of communities; a write to a community or building through this
    process's session drops them at once (_forget_choices), another process's shows after
    at most that long."""
    ids = community_ids(user)
    key = tuple(sorted(ids or ()))
    cache = current_app.extensions.setdefault(_CHOICES, {})
    kept = cache.get(key)
    if kept is not None and monotonic() - kept[0] < CHOICES_SECONDS:
        return kept[1]
    if ids:
        names = {c.id: c.name for c in sorted(user.communities, key=lambda c: c.name)}
    else:  # no restriction recorded: all of them
        names = dict(db.session.execute(_COMMUNITIES).all())
    several = len(names) > 1
    buildings = [(building_id, f"{names[community_id]} {name}" if several else name)
                 for building_id, name, community_id
                 in db.session.execute(_BUILDINGS, {"communities": list(names)})]
    choices = {"communities": Choices(names.items()), "buildings": Choices(buildings)}
    cache[key] = (monotonic(), choices)
    return choices


def _forget_choices() -> None:
    if has_app_context():
        current_app.extensions.pop(_CHOICES, None)


def _wrote_places(session: Session) -> None:
    """A community or building written: the filters read them anew, now (this transaction's
    pages see its own change) and when the transaction ends (what a page of it kept goes with
    a rollback)."""
    session.info[_CHOICES] = True
    _forget_choices()


@sa.event.listens_for(Session, "after_flush")
def _flushed(session: Session, _context) -> None:
    written = itertools.chain(session.new, session.dirty, session.deleted)
    if any(isinstance(obj, Community | Building) for obj in written):
        _wrote_places(session)


@sa.event.listens_for(Session, "do_orm_execute")
def _bulk_written(state) -> None:
    """INSERT, UPDATE and DELETE statements on them (the ledger import's)."""
    if not state.is_select and state.bind_mapper in (Community.__mapper__, Building.__mapper__):
        _wrote_places(state.session)


@sa.event.listens_for(Session, "after_commit")
@sa.event.listens_for(Session, "after_rollback")
def _ended(session: Session) -> None:
    if session.info.pop(_CHOICES, False):
        _forget_choices()


# -- the statement --------------------------------------------------------------------------------


@dataclass
class LateFee:
    contractual: Decimal
    allowed: Decimal
    over_cap: bool
    days: int
    stopped_on: date | None = None


@dataclass
class StatementRow:
    line: ChargeLine
    balance: Decimal
    late_fee: LateFee | None
    expiry: date
    time_barred: bool
    expiring: bool


@dataclass
class Statement:
    rows: list[StatementRow]
    principal: Decimal
    late_fees: Decimal
    late_fees_contractual: Decimal
    over_cap: bool
    principal_cap_hit: bool
    stopped_on: date | None
    cap_rate: Decimal
    paid_lines: int
    waivers: list = field(default_factory=list)  # LateFeeWaiver rows, oldest first
    waived: Decimal = ZERO

    @property
    def late_fees_due(self) -> Decimal:
        """The late fee that may still be asked for: the capped figure less what was waived."""
        return max(self.late_fees - self.waived, ZERO)


def quality_dispute_since(case: DunningCase) -> date | None:
    """The day an open service-quality dispute began (late fees stop accruing from then)."""
    opened = db.session.scalar(sa.select(sa.func.min(Dispute.opened_at)).where(
        Dispute.case_id == case.id, Dispute.status == "open",
        Dispute.category == "service_quality"))
    return local_date(opened) if opened else None


def late_fee(line: ChargeLine, balance: Decimal, as_of: date, yearly_cap: Decimal,
             stopped_on: date | None) -> LateFee | None:
    """The contractual late fee of one period and what the policy cap allows (legal-rules C2).

    Only a contracted daily rate accrues, from the day after the due date; never on a
    time-barred period; not while a service-quality dispute is open (C3).
    """
    if not line.contract_daily_rate or balance <= 0 or line.time_barred(as_of):
        return None
    until = min(as_of, stopped_on) if stopped_on else as_of
    days = max((until - line.due_date).days, 0)
    contractual = (balance * line.contract_daily_rate * days).quantize(CENT, ROUND_HALF_UP)
    capped = (balance * yearly_cap * days / Decimal(365)).quantize(CENT, ROUND_HALF_UP)
    allowed = min(contractual, capped, balance)
    return LateFee(contractual, allowed, contractual > allowed, days, stopped_on)


def statement(case: DunningCase, today: date, lpr: Decimal) -> Statement:
    """Every unpaid period with its late fee (capped at LPR x the policy multiple, never above
    the principal) and its limitation expiry."""
    policy = merged(case.policy.data if case.policy else None)
    cap_rate = lpr * Decimal(str(policy["penalty_cap_lpr_multiple"]))
    stopped = quality_dispute_since(case)
    rows, paid_lines = [], 0
    horizon = today + timedelta(days=AT_RISK_DAYS)
    for line in case.charge_lines:
        balance = line.balance
        if balance <= 0:
            paid_lines += 1
            continue
        barred = line.time_barred(today)
        rows.append(StatementRow(line, balance, late_fee(line, balance, today, cap_rate, stopped),
                                 line.limitation_expiry, barred,
                                 not barred and line.limitation_expiry <= horizon))
    principal = sum((r.balance for r in rows), ZERO)
    claimable = sum((r.balance for r in rows if not r.time_barred), ZERO)
    fees = [r.late_fee for r in rows if r.late_fee]
    allowed = sum((f.allowed for f in fees), ZERO)
    waivers = list(db.session.scalars(sa.select(LateFeeWaiver).where(
        LateFeeWaiver.case_id == case.id).order_by(LateFeeWaiver.id)))
    return Statement(rows, principal, min(allowed, claimable),
                     sum((f.contractual for f in fees), ZERO), any(f.over_cap for f in fees),
                     allowed > claimable, stopped, cap_rate, paid_lines, waivers,
                     sum((w.amount for w in waivers), ZERO))


# -- the timeline ---------------------------------------------------------------------------------


@dataclass
class TimelineEntry:
    event: CaseEvent
    actor: str
    contact: ContactAttempt | None = None
    payment: Payment | None = None
    documents: list[Document] = field(default_factory=list)


def staff_names() -> dict[int, str]:
    return dict(db.session.execute(sa.select(StaffUser.id, StaffUser.display_name)).all())


def timeline(case: DunningCase) -> list[TimelineEntry]:
    """Everything that happened to the case, newest first: transitions, contacts, documents,
    payments, assignments; each audit event with the record it made."""
    events = db.session.scalars(sa.select(CaseEvent).where(CaseEvent.case_id == case.id)
                                .order_by(CaseEvent.seq.desc())).all()
    contacts = {c.id: c for c in db.session.scalars(
        sa.select(ContactAttempt).where(ContactAttempt.case_id == case.id))}
    payments = {p.id: p for p in db.session.scalars(
        sa.select(Payment).where(Payment.case_id == case.id))}
    docs: dict[int, list[Document]] = defaultdict(list)
    for doc in case_documents(case):
        docs[doc.event_seq].append(doc)
    names = staff_names()
    entries = []
    for ev in events:
        payload = ev.payload or {}
        entries.append(TimelineEntry(
            ev, names.get(ev.actor_id, ev.actor_role) if ev.actor_id else ev.actor_role,
            contact=contacts.get(payload.get("contact_id")),
            payment=payments.get(payload.get("payment_id")) if ev.kind == "payment" else None,
            documents=docs.get(ev.seq, [])))
    return entries


def case_documents(case: DunningCase) -> list[Document]:
    return list(db.session.scalars(sa.select(Document).where(Document.case_id == case.id)
                                   .order_by(Document.id.desc())))


def visited_states(case: DunningCase) -> set[str]:
    rows = db.session.execute(sa.select(CaseEvent.from_state, CaseEvent.to_state).where(
        CaseEvent.case_id == case.id)).all()
    return {s for pair in rows for s in pair if s}


def open_plan(case: DunningCase) -> PaymentPlan | None:
    return db.session.scalars(sa.select(PaymentPlan).where(
        PaymentPlan.case_id == case.id, PaymentPlan.status == "active")
        .order_by(PaymentPlan.id.desc())).first()


def disputes(case: DunningCase) -> list[Dispute]:
    return list(db.session.scalars(sa.select(Dispute).where(Dispute.case_id == case.id)
                                   .order_by(Dispute.id.desc())))


def case_tasks(case: DunningCase) -> list[Task]:
    return list(db.session.scalars(sa.select(Task).where(Task.case_id == case.id,
                                                         Task.status == "open")
                                   .order_by(Task.due_at)))


def litigation_record(case: DunningCase) -> LitigationRecord | None:
    return db.session.scalars(sa.select(LitigationRecord).where(
        LitigationRecord.case_id == case.id)).first()


# -- legal ----------------------------------------------------------------------------------------


@dataclass
class Evidence:
    case: DunningCase
    money: CaseMoney
    demands: list[Document]
    letters: list[Document]
    contacts: int
    reached: int
    disputes_open: int
    disputes_total: int
    requested_by: str | None
    requested_at: datetime | None


def review_queue(user: StaffUser, today: date) -> list[Evidence]:
    """Cases waiting for a legal officer, each with the evidence to decide on."""
    cases = list(db.session.scalars(sa.select(DunningCase).where(
        visible_cases(user), DunningCase.state == "legal_review")
        .order_by(DunningCase.stage_since)))
    return evidence_for(cases, today)


def evidence_for(cases: list[DunningCase], today: date) -> list[Evidence]:
    ids = [c.id for c in cases]
    if not ids:
        return []
    money = case_money(ids, today)
    docs: dict[int, list[Document]] = defaultdict(list)
    for doc in db.session.scalars(sa.select(Document).where(
            Document.case_id.in_(ids), Document.kind.in_(("payment_demand", "lawyer_letter")))
            .order_by(Document.id)):
        docs[doc.case_id].append(doc)
    contacts = {cid: (n, r) for cid, n, r in db.session.execute(sa.select(
        ContactAttempt.case_id, sa.func.count(ContactAttempt.id),
        sa.func.sum(sa.case((ContactAttempt.person_reached != "none", 1), else_=0)))
        .where(ContactAttempt.case_id.in_(ids), ContactAttempt.outcome.in_(DOCUMENTED))
        .group_by(ContactAttempt.case_id))}
    disputes_ = {cid: (o, t) for cid, o, t in db.session.execute(sa.select(
        Dispute.case_id, sa.func.sum(sa.case((Dispute.status == "open", 1), else_=0)),
        sa.func.count(Dispute.id)).where(Dispute.case_id.in_(ids)).group_by(Dispute.case_id))}
    requests = {cid: at for cid, at in db.session.execute(sa.select(
        CaseEvent.case_id, sa.func.max(CaseEvent.at)).where(
        CaseEvent.case_id.in_(ids), CaseEvent.name == "request_legal_action")
        .group_by(CaseEvent.case_id))}
    names = staff_names()
    out = []
    for case in cases:
        n, reached = contacts.get(case.id, (0, 0))
        open_, total = disputes_.get(case.id, (0, 0))
        case_docs = docs.get(case.id, [])
        out.append(Evidence(
            case, money[case.id], [d for d in case_docs if d.kind == "payment_demand"],
            [d for d in case_docs if d.kind == "lawyer_letter"], n, int(reached or 0),
            int(open_ or 0), total, names.get(case.legal_requested_by_id),
            requests.get(case.id)))
    return out


@dataclass
class LitigationRow:
    case: DunningCase
    record: LitigationRecord | None
    court: str
    money: CaseMoney
    next_hearing: date | None


def litigation_board(user: StaffUser, today: date) -> list[LitigationRow]:
    """Cases in court: route, court, case number, hearings, judgment and enforcement deadline."""
    cases = list(db.session.scalars(sa.select(DunningCase).where(
        visible_cases(user), DunningCase.state == "litigation").order_by(DunningCase.number)))
    ids = [c.id for c in cases]
    records = {r.case_id: r for r in db.session.scalars(sa.select(LitigationRecord).where(
        LitigationRecord.case_id.in_(ids)))} if ids else {}
    filed = {}
    if ids:
        for ev in db.session.scalars(sa.select(CaseEvent).where(
                CaseEvent.case_id.in_(ids), CaseEvent.name == "file_claim")
                .order_by(CaseEvent.seq)):
            filed[ev.case_id] = (ev.payload or {}).get("court") or ""
    money = case_money(ids, today)
    rows = []
    for case in cases:
        rec = records.get(case.id)
        hearings = sorted(date.fromisoformat(h) for h in (rec.hearing_dates if rec else []))
        upcoming = next((h for h in hearings if h >= today), None)
        rows.append(LitigationRow(case, rec, (rec.court if rec and rec.court else
                                              filed.get(case.id, "")), money[case.id], upcoming))
    return rows


# -- supervisor -----------------------------------------------------------------------------------


@dataclass
class CollectorLoad:
    user: StaffUser
    open_cases: int = 0
    outstanding: Decimal = ZERO
    open_tasks: int = 0
    overdue_tasks: int = 0
    collected: Decimal = ZERO
    target: Decimal | None = None

    @property
    def progress(self) -> int | None:
        if not self.target:
            return None
        return int(min(self.collected / self.target * 100, Decimal(999)))


def collectors(user: StaffUser | None = None) -> list[StaffUser]:
    """Active collectors (in the supervisor's communities, when the supervisor has some)."""
    rows = db.session.scalars(sa.select(StaffUser).where(StaffUser.active.is_(True))
                              .order_by(StaffUser.display_name)).all()
    mine = {c.id for c in user.communities} if user is not None else set()
    out = []
    for staff in rows:
        if not staff.has_role("collector"):
            continue
        theirs = {c.id for c in staff.communities}
        if mine and theirs and not mine & theirs:
            continue
        out.append(staff)
    return out


def collected_by(collector_ids: list[int], first: date) -> dict[int, Decimal]:
    """Payments (not reversed) on each collector's cases, paid in the month starting `first`."""
    start, end = month_bounds(first)
    if not collector_ids:
        return {}
    rows = db.session.execute(sa.select(DunningCase.assignee_id, Payment.amount).join(
        DunningCase, DunningCase.id == Payment.case_id).where(
        DunningCase.assignee_id.in_(collector_ids), Payment.reversed.is_(False),
        Payment.paid_on >= start, Payment.paid_on < end)).all()
    out: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for assignee, amount in rows:
        out[assignee] += amount
    return out


def team_board(user: StaffUser, now: datetime, first: date) -> list[CollectorLoad]:
    """Workload, overdue tasks and the month's collections against target, per collector."""
    people = collectors(user)
    ids = [p.id for p in people]
    loads = {p.id: CollectorLoad(p) for p in people}
    if not ids:
        return []
    visible = visible_cases(user)
    cases = db.session.execute(sa.select(DunningCase.id, DunningCase.assignee_id).where(
        visible, DunningCase.assignee_id.in_(ids),
        DunningCase.state.not_in(FINAL_STATES))).all()
    money = case_money([cid for cid, _ in cases], local_date(now))
    for cid, assignee in cases:
        loads[assignee].open_cases += 1
        loads[assignee].outstanding += money[cid].outstanding
    start_today = day_bounds(local_date(now))[0]
    for assignee, total, overdue in db.session.execute(sa.select(
            Task.assignee_id, sa.func.count(Task.id),
            sa.func.sum(sa.case((Task.due_at < start_today, 1), else_=0)))
            .join(Task.case).where(visible, Task.status == "open", Task.assignee_id.in_(ids))
            .group_by(Task.assignee_id)):
        loads[assignee].open_tasks, loads[assignee].overdue_tasks = total, int(overdue or 0)
    for assignee, amount in collected_by(ids, first).items():
        loads[assignee].collected = amount
    for target in db.session.scalars(sa.select(CollectionTarget).where(
            CollectionTarget.collector_id.in_(ids), CollectionTarget.month == first)):
        loads[target.collector_id].target = target.amount
    return [loads[i] for i in ids]


def assignable_cases(user: StaffUser, filters: QueueFilters, assignee_id: int | None = None,
                     unassigned: bool = False, limit: int = 300) -> list[DunningCase]:
    """Open cases matching a filter, for bulk (re)assignment."""
    query = filters.apply(sa.select(DunningCase).where(
        visible_cases(user), DunningCase.state.not_in(FINAL_STATES)))
    if unassigned:
        query = query.where(DunningCase.assignee_id.is_(None))
    elif assignee_id:
        query = query.where(DunningCase.assignee_id == assignee_id)
    return list(db.session.scalars(query.order_by(DunningCase.number).limit(limit)))


@dataclass
class DailySummary:
    day: date
    contacts: int
    reached: int
    by_outcome: dict[str, int]
    by_collector: list[tuple[str, int, int, Decimal]]  # name, contacts, promises, collected
    by_technique: dict[str, int]
    promises: list[CaseEvent]
    promised_total: Decimal
    payments: list[Payment]
    collected: Decimal
    new_disputes: list[Dispute]
    overdue_tasks: list[Task]
    flagged_contacts: list[ContactAttempt]
    late_disputes: list[Dispute]
    broken_plans: list[CaseEvent]
    cases: dict[int, DunningCase]


def daily_summary(user: StaffUser, day: date) -> DailySummary:
    """The figures for the daily summary meeting (每日总结会) about one Shanghai day."""
    start, end = day_bounds(day)
    visible_ids = sa.select(DunningCase.id).where(visible_cases(user))
    contacts = list(db.session.scalars(sa.select(ContactAttempt).where(
        ContactAttempt.case_id.in_(visible_ids), ContactAttempt.at >= start,
        ContactAttempt.at < end)))
    events = list(db.session.scalars(sa.select(CaseEvent).where(
        CaseEvent.case_id.in_(visible_ids), CaseEvent.at >= start, CaseEvent.at < end,
        CaseEvent.name.in_(("promise_payment", "break_plan"))).order_by(CaseEvent.at)))
    promises = [e for e in events if e.name == "promise_payment"]
    broken = [e for e in events if e.name == "break_plan"]
    payments = list(db.session.scalars(sa.select(Payment).where(
        Payment.case_id.in_(visible_ids), Payment.reversed.is_(False),
        sa.or_(Payment.paid_on == day,
               sa.and_(Payment.created_at >= start, Payment.created_at < end,
                       Payment.paid_on >= day - timedelta(days=7))))
        .order_by(Payment.created_at)))
    new_disputes = list(db.session.scalars(sa.select(Dispute).where(
        Dispute.case_id.in_(visible_ids), Dispute.opened_at >= start, Dispute.opened_at < end)))
    overdue = list(db.session.scalars(sa.select(Task).where(
        Task.case_id.in_(visible_ids), Task.status == "open", Task.due_at < end)
        .order_by(Task.due_at).limit(100)))
    flagged = [c for c in contacts if c.flagged]
    late = list(db.session.scalars(sa.select(Dispute).where(
        Dispute.case_id.in_(visible_ids), Dispute.status == "open", Dispute.answer_by < day)))
    case_ids = {c.case_id for c in contacts} | {e.case_id for e in events} | \
        {p.case_id for p in payments} | {d.case_id for d in new_disputes + late} | \
        {t.case_id for t in overdue}
    cases = {c.id: c for c in db.session.scalars(sa.select(DunningCase).where(
        DunningCase.id.in_(case_ids)))} if case_ids else {}
    names = staff_names()
    per: dict[str, list] = defaultdict(lambda: [0, 0, ZERO])
    for c in contacts:
        per[names.get(c.staff_id, "system")][0] += 1
    for e in promises:
        per[names.get(e.actor_id, e.actor_role)][1] += 1
    for p in payments:
        assignee = cases[p.case_id].assignee_id if p.case_id in cases else None
        per[names.get(assignee, "—")][2] += p.amount
    outcomes: dict[str, int] = defaultdict(int)
    techniques: dict[str, int] = defaultdict(int)
    for c in contacts:
        outcomes[c.outcome] += 1
        for t in c.techniques or []:
            techniques[t] += 1
    return DailySummary(
        day=day, contacts=len(contacts),
        reached=sum(1 for c in contacts if c.person_reached != "none"),
        by_outcome=dict(outcomes), by_collector=sorted(
            ((n, v[0], v[1], v[2]) for n, v in per.items()), key=lambda r: (-r[3], r[0])),
        by_technique=dict(techniques), promises=promises,
        promised_total=sum((Decimal(str((e.payload or {}).get("total", "0"))) for e in promises),
                           ZERO),
        payments=payments, collected=sum((p.amount for p in payments), ZERO),
        new_disputes=new_disputes, overdue_tasks=overdue, flagged_contacts=flagged,
        late_disputes=late, broken_plans=broken, cases=cases)


# -- audit ----------------------------------------------------------------------------------------


def search_cases(user: StaffUser, text: str = "", state: str | None = None,
                 limit: int = 100) -> list[DunningCase]:
    """Cases by number or debtor name (for auditors and supervisors)."""
    from .models import Debtor

    query = sa.select(DunningCase).join(Debtor, Debtor.id == DunningCase.debtor_id).where(
        visible_cases(user))
    text = (text or "").strip()
    if text:
        like = f"%{text.replace('%', '').replace('_', '')}%"
        query = query.where(sa.or_(DunningCase.number.ilike(like), Debtor.name.ilike(like)))
    if state:
        query = query.where(DunningCase.state == state)
    return list(db.session.scalars(query.order_by(DunningCase.id.desc()).limit(limit)))


def trace(case: DunningCase) -> list[CaseEvent]:
    return list(db.session.scalars(sa.select(CaseEvent).where(CaseEvent.case_id == case.id)
                                   .order_by(CaseEvent.seq)))


@dataclass
class OwedThen:
    moment: datetime
    lines: list[int]
    due: Decimal
    paid: Decimal
    credit: Decimal

    @property
    def owed(self) -> Decimal:
        return self.due - self.paid - self.credit


def owed_at(case: DunningCase, moment: datetime) -> OwedThen:
    """What the debtor owed on the case at `moment`, rebuilt from the audit events.

    Periods join the case with the events that list them; payments count from their event
    until a reversal event; credits from the dispute resolutions. What was already paid on a
    period before it joined (the ledger import) is what is paid now that no payment explains.
    """
    events = trace(case)
    then = [e for e in events if e.at <= moment]
    line_ids: list[int] = []
    for ev in then:
        if ev.name in ("open_case", "add_charge_lines"):
            line_ids += [i for i in (ev.payload or {}).get("charge_line_ids", [])
                         if i not in line_ids]
    lines = db.session.scalars(sa.select(ChargeLine).where(ChargeLine.id.in_(line_ids))).all() \
        if line_ids else []
    explained: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for ev in events:  # every payment ever made on these lines through this case
        if ev.name == "record_payment":
            for part in (ev.payload or {}).get("allocations", []):
                explained[part["charge_line_id"]] += Decimal(part["amount"])
    reversed_ids = {(e.payload or {}).get("payment_id") for e in events
                    if e.name == "reverse_payment"}
    reversed_then = {(e.payload or {}).get("payment_id") for e in then
                     if e.name == "reverse_payment"}
    for ev in events:
        if ev.name == "record_payment" and (ev.payload or {}).get("payment_id") in reversed_ids:
            for part in (ev.payload or {}).get("allocations", []):
                explained[part["charge_line_id"]] -= Decimal(part["amount"])
    imported = sum((line.amount_paid - explained[line.id] for line in lines), ZERO)
    paid_then = ZERO
    for ev in then:
        if ev.name == "record_payment" and (ev.payload or {}).get("payment_id") \
                not in reversed_then:
            paid_then += sum((Decimal(p["amount"]) for p in (ev.payload or {})
                              .get("allocations", []) if p["charge_line_id"] in line_ids), ZERO)
    credit = sum((Decimal(str((e.payload or {}).get("credit", "0"))) for e in then
                  if e.name == "resolve_dispute"), ZERO)
    return OwedThen(moment, line_ids, sum((line.amount_due for line in lines), ZERO),
                    imported + paid_then, credit)


def plain_payload(payload: dict[str, Any] | None) -> str:
    import json

    return json.dumps(payload or {}, ensure_ascii=False, sort_keys=True)
