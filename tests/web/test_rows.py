"""The queue's rows made in Python (casework/web/rows.py): every value from the database
escaped, each kind of row with its own action, the words and dates in the page's language."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from flask import g, session
from flask_babel import refresh

from casework.queries import CaseMoney, QueueRow
from casework.web.rows import QueueRows

HOSTILE = '<script>alert("x")</script>&'


def _row(**changes) -> QueueRow:
    values = dict(
        case_id=7, number=HOSTILE + "n", state="follow_up", debtor=HOSTILE + "d",
        community=HOSTILE + "c", places=[HOSTILE + "p", "2栋-101"],
        money=CaseMoney(outstanding=Decimal("1234.5"), oldest_due=date(2026, 3, 28),
                        at_risk=Decimal("0.00")),
        task_id=11, kind="call", title=HOSTILE + "t",
        due_at=datetime(2026, 11, 23, 2, 30, tzinfo=UTC), section="overdue")
    return QueueRow(**(values | changes))


@pytest.fixture
def made(web):
    def make(language: str = "zh") -> QueueRows:
        session["lang"] = g.locale = language  # as the web guard sets them for the request
        refresh()
        return QueueRows()

    with web.test_request_context("/queue"):
        yield make


def test_every_value_from_the_database_is_escaped_in_task_and_case_rows(made):
    rows = made()
    for html in (str(rows.tasks([_row()], claim=False)), str(rows.tasks([_row()], claim=True)),
                 str(rows.cases([_row()]))):
        assert "<script>" not in html and '"x"' not in html
        for suffix in ("n", "d", "c", "p"):
            assert f"&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&amp;{suffix}" in html
    assert "&amp;t" in str(rows.tasks([_row()], claim=False))


def test_a_task_row_shows_its_case_money_due_time_and_action(made):
    html = str(made().tasks([_row(money=CaseMoney(
        outstanding=Decimal("1234.5"), oldest_due=date(2026, 3, 28),
        at_risk=Decimal("99.9")))], claim=False))
    assert '<tr class="overdue" data-case="7">' in html
    assert '<a href="/cases/7">' in html
    assert "¥1,234.50" in html and '<span class="warn">¥99.90</span>' in html
    assert "2026年3月28日" in html and "2026年11月23日 10:30" in html  # shown in Shanghai
    assert 'formaction="/tasks/11/done"' in html and 'form="row-action"' in html
    assert '<span class="tag state" data-state="follow_up">' in html


def test_the_team_queue_claims_and_an_outcome_review_links_to_its_form(made):
    rows = made()
    assert 'formaction="/tasks/11/claim"' in str(rows.tasks([_row()], claim=True))
    review = str(rows.tasks([_row(kind="outcome_review")], claim=False))
    assert 'href="/cases/7#review"' in review and "/done" not in review


def test_a_case_row_has_no_task_cells_and_no_money_at_risk_shows_a_dash(made):
    html = str(made().cases([_row()]))
    assert html.startswith('<tr data-case="7"><td><a href="/cases/7">')
    assert "/tasks/" not in html and "<small>" in html and ">—</td>" in html


def test_rows_speak_the_page_s_language(made):
    english = str(made("en").tasks([_row(title="Call")], claim=False))
    assert "Mar 28, 2026" in english and ">Done<" in english
    chinese = str(made("zh").tasks([_row(title="电话跟进")], claim=False))
    assert "2026年3月28日" in chinese and "Done<" not in chinese

