"""SQL pieces the reports share, written once for SQLite and PostgreSQL.

Shanghai keeps UTC+8 all year (no daylight saving), so "the instant a Shanghai day starts" is
the date at 00:00 minus 8 hours. Times are stored in UTC: on PostgreSQL as timestamptz, on
SQLite as naive text "YYYY-MM-DD HH:MM:SS.ffffff", which the SQLite forms below reproduce
exactly so that text comparison is time comparison.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.functions import FunctionElement

from ..models import CaseEvent

SHANGHAI_OFFSET_HOURS = 8
OWNERSHIP_KINDS = ("opened", "assignment")


class day_start_utc(FunctionElement):  # noqa: N801  (reads as a SQL function)
    """The UTC instant at which the Shanghai day `date + days` begins."""

    type = sa.DateTime()
    inherit_cache = True

    def __init__(self, day, days: int = 0) -> None:
        self.days = int(days)
        super().__init__(day)


@compiles(day_start_utc, "postgresql")
def _day_start_pg(element, compiler, **kw):
    (day,) = element.clauses
    return (f"((CAST({compiler.process(day, **kw)} AS date) + {element.days})"
            f"::timestamp AT TIME ZONE 'Asia/Shanghai')")


@compiles(day_start_utc, "sqlite")
def _day_start_sqlite(element, compiler, **kw):
    (day,) = element.clauses
    return (f"(strftime('%Y-%m-%d %H:%M:%S', {compiler.process(day, **kw)}, "
            f"'{element.days:+d} days', '-{SHANGHAI_OFFSET_HOURS} hours') || '.000000')")


class days_between(FunctionElement):  # noqa: N801
    """(later - earlier) in days, fractional (a duration, never money)."""

    type = sa.Float()
    inherit_cache = True


@compiles(days_between, "postgresql")
def _days_pg(element, compiler, **kw):
    later, earlier = (compiler.process(c, **kw) for c in element.clauses)
    return f"(EXTRACT(EPOCH FROM ({later} - {earlier})) / 86400.0)"


@compiles(days_between, "sqlite")
def _days_sqlite(element, compiler, **kw):
    later, earlier = (compiler.process(c, **kw) for c in element.clauses)
    return f"(julianday({later}) - julianday({earlier}))"


def json_has(column, value: str):
    """True where a JSON list column holds the string `value` (e.g. a technique tag).

    Works on the list as stored text ('["a", "b"]'), the same on both databases.
    """
    return sa.cast(column, sa.Text).like(f'%"{value}"%')


def json_has_any(column, values) -> sa.ColumnElement:
    return sa.or_(*(json_has(column, v) for v in values))


def assignee_at(case_id, *conditions) -> sa.ScalarSelect:
    """The collector the case was assigned to at a moment: the last ownership event (opening,
    or a reassignment with its payload "to") meeting `conditions` on the event's `at`.

    `conditions` receive the aliased event table; a case always starts with its opened event.
    """
    ev = aliased(CaseEvent)
    who = sa.case((ev.kind == "opened", ev.payload["assignee_id"].as_integer()),
                  else_=ev.payload["to"].as_integer())
    return (sa.select(who).where(ev.case_id == case_id, ev.kind.in_(OWNERSHIP_KINDS),
                                 *(cond(ev) for cond in conditions))
            .order_by(ev.seq.desc()).limit(1).correlate_except(ev).scalar_subquery())
