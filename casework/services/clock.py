"""Dates the services work in: Shanghai calendar days, and the working-day calendar."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from ..calendar import WorkingCalendar
from ..extensions import db
from ..models import Holiday

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local_date(moment: datetime) -> date:
    """The calendar day in Asia/Shanghai of an aware moment."""
    return moment.astimezone(SHANGHAI).date()


def working_calendar() -> WorkingCalendar:
    """The calendar with the admins' holiday table laid over chinesecalendar.

    Read once per session (a request, a job) and dropped when a holiday row changes.
    """
    cached = db.session.info.get("working_calendar")
    if cached is None:
        rows = db.session.execute(sa.select(Holiday.day, Holiday.is_workday)).all()
        cached = WorkingCalendar(overrides={day: workday for day, workday in rows})
        db.session.info["working_calendar"] = cached
    return cached


@sa.event.listens_for(sa.orm.Session, "before_flush")
def _forget_calendar(session, _context, _instances) -> None:
    if any(isinstance(obj, Holiday) for obj in (*session.new, *session.dirty, *session.deleted)):
        session.info.pop("working_calendar", None)


@sa.event.listens_for(sa.orm.Session, "after_rollback")
def _forget_calendar_on_rollback(session) -> None:
    session.info.pop("working_calendar", None)


def add_years(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February
        return d.replace(year=d.year + years, day=28)


def limitation_expiry(start: date) -> date:
    """3 years per period (民法典 188): the clock starts the day after `start`."""
    return add_years(start, 3)


def days(n: int) -> timedelta:
    return timedelta(days=n)
