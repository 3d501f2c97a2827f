"""queries.queue_page: the lists of the queue page, read in one statement.

By priority, a page looks up the balances only of the tasks up to the (section, priority) of
its last row. These tests hold every page of 25 equal to the same rows cut from the whole
list read at once (where no such limit applies), by priority and by due time, for my tasks,
the team queue and my other cases; on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from casework import queries, services
from casework.extensions import db
from casework.models import ChargeLine, Task, Unit
from tests.factories import fast_password_hashing, fresh_case


@pytest.fixture(autouse=True)
def _fast_passwords(monkeypatch):
    fast_password_hashing(monkeypatch)


def _listed(page: queries.Page) -> list[tuple]:
    return [(row.task_id, row.case_id, row.section) for row in page.rows]


@pytest.fixture
def busy(estate, now):
    """A collector with 60 open tasks over 3 sections and 3 priorities, owing 1-12 months
    (ties in section and priority, so the money decides within them), 30 team tasks, and
    25 cases with no task of theirs."""
    for i in range(60):
        case, _ = fresh_case(estate, now, months=range(1, 2 + (i * 7) % 12))
        due = now + timedelta(days=(i % 3) - 1, hours=i % 5)
        services.add_task(case, "call", f"任务{i}", due, assignee_id=estate.collector.id,
                          priority=(i * 5) % 3)
        if i % 2:
            services.add_task(case, "review", f"团队{i}", due, role="collector",
                              priority=i % 3)
    for i in range(25):
        fresh_case(estate, now, months=range(1, 2 + i % 6))
    db.session.commit()
    return estate.collector


@pytest.mark.parametrize("sort", queries.QUEUE_SORTS)
def test_every_page_is_the_same_slice_of_the_whole_list(busy, now, sort):
    whole = queries.queue_page(busy, now, None, *[queries.Paging(per=100, sort=sort)] * 3)
    assert (whole.counts.mine, whole.counts.team, whole.cases.total) == (60, 30, 26)
    assert len(whole.mine.rows) == 60 and len(whole.team.rows) == 30
    sections = [row.section for row in whole.mine.rows]
    assert sections == sorted(sections, key=queries.SECTIONS.index)
    for number in (1, 2, 3):
        paging = queries.Paging(page=number, per=25, sort=sort)
        part = queries.queue_page(busy, now, None, paging, paging, paging)
        cut = slice(paging.offset, paging.offset + 25)
        assert _listed(part.mine) == _listed(whole.mine)[cut]
        assert _listed(part.team) == _listed(whole.team)[cut]
        assert _listed(part.cases) == _listed(whole.cases)[cut]
        assert [r.money for r in part.mine.rows] == [r.money for r in whole.mine.rows][cut]
        assert part.counts == whole.counts
    counts = whole.counts
    assert all(type(n) is int for n in (*counts.sections.values(), counts.team,
                                         whole.cases.total))


def test_a_page_number_of_any_size_shows_an_empty_page_with_the_totals(busy, now):
    far = queries.Paging(page=99_999_999_999)
    got = queries.queue_page(busy, now, None, far, far, far)
    assert (got.mine.rows, got.team.rows, got.cases.rows) == ([], [], [])
    assert (got.counts.mine, got.counts.team, got.cases.total) == (60, 30, 26)


def test_by_priority_more_money_comes_first_within_a_section_and_priority(busy, now):
    rows = queries.queue_page(busy, now, None, *[queries.Paging(per=100)] * 3).mine.rows
    tasks = {task.id: task for task in db.session.scalars(
        sa.select(Task).where(Task.assignee_id == busy.id))}
    for before, after in zip(rows, rows[1:], strict=False):
        a, b = tasks[before.task_id], tasks[after.task_id]
        if (before.section, a.priority) == (after.section, b.priority):
            assert before.money.outstanding >= after.money.outstanding


def _seen(user, moment, filters, paging) -> tuple:
    got = queries.queue_page(user, moment, filters, paging, paging, paging)
    return got.counts, [(_listed(page), [row.money for row in page.rows], page.total)
                        for page in (got.mine, got.team, got.cases)]


def test_a_statement_built_once_answers_for_every_user_day_filter_and_page(busy, estate, now):
    """queue_page builds its statement once per shape (roles, scope, which filters, sorts) and
    binds the rest anew each time: a stale user, day, filter value or page would show here as
    a difference from a statement built for that very call."""
    for i in range(8):  # the other collector's work, and tasks for the supervisor's role
        case, _ = fresh_case(estate, now, months=range(1, 3 + i), assignee=estate.collector2)
        services.add_task(case, "call", f"二号{i}", now + timedelta(days=i - 4),
                          assignee_id=estate.collector2.id, priority=i % 3)
        services.add_task(case, "approve", f"组长{i}", now, role="supervisor")
        fresh_case(estate, now, months=range(1, 2 + i), assignee=estate.collector2)  # no task
    db.session.commit()
    cases = list(db.session.scalars(sa.select(Task.case_id).where(
        Task.assignee_id == busy.id).order_by(Task.case_id)))
    buildings = [db.session.scalar(sa.select(Unit.building_id).join(
        ChargeLine, ChargeLine.unit_id == Unit.id).where(ChargeLine.case_id == case_id))
        for case_id in (cases[0], cases[7])]
    first, second = queries.Paging(per=25), queries.Paging(page=2, per=25)
    combos = [
        (busy, now, None, first), (estate.collector2, now, None, first),
        (busy, now, None, second), (busy, now + timedelta(days=1), None, first),
        (busy, now + timedelta(days=400), None, first),
        (busy, now, queries.QueueFilters(building_id=buildings[0]), first),
        (busy, now, queries.QueueFilters(building_id=buildings[1]), first),
        (busy, now, None, queries.Paging(per=50, sort="due")),
        (busy, now, None, queries.Paging(page=2, per=25, sort="due")),
        (estate.supervisor, now, None, first), (estate.legal, now, None, first),
    ]
    queries._STATEMENTS.clear()
    cached = [_seen(*combo) for combo in combos]
    assert len(queries._STATEMENTS) < len(combos)  # statements were reused
    fresh = []
    for combo in combos:
        queries._STATEMENTS.clear()
        fresh.append(_seen(*combo))
    assert cached == fresh
    assert len({repr(seen) for seen in fresh}) == len(combos)  # each combination differs
