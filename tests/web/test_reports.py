"""The report pages: each renders its filter form, SVG chart and table; CSV and XLSX download;
collectors and legal officers are refused; a bad filter is named, not a crash."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from casework import services
from casework.reports import REPORTS
from tests.factories import community, shanghai


@pytest.fixture
def paid(web, estate):
    """¥300.00 paid on the estate's case on 20 Nov 2026 (recorded that day)."""
    services.record_payment(estate.case.id, Decimal("300.00"), date(2026, 11, 20),
                            user=estate.collector, now=shanghai(2026, 11, 23, 9))
    return estate


@pytest.mark.parametrize("name", sorted(REPORTS))
def test_each_report_page_has_its_chart_table_and_downloads(paid, login, client, name):
    login(paid.supervisor)
    page = client.get(f"/reports/{name}")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="chart"' in body
    assert f'data-report="{name}"' in body and 'name="from" value="2026-11-01"' in body
    assert f"/reports/{name}/export.csv" in body and f"/reports/{name}/export.xlsx" in body
    assert "<script" not in body.split("<svg", 1)[1].split("</svg>", 1)[0]


def test_the_collection_rate_reads_in_chinese_and_downloads_as_csv_and_xlsx(paid, login,
                                                                          client):
    login(paid.auditor)
    body = client.get("/reports/collection_rate?from=2026-11-01&to=2026-11-30").get_data(
        as_text=True)
    # 1,611.00 owed on 1 Nov on periods of 2024; ¥300.00 of it recovered in November
    assert "收缴率" in body and "阳光花园" in body and "¥1,611.00" in body and "¥300.00" in body
    assert "18.62%" in body  # 300 / 1611
    r = client.get("/reports/collection_rate/export.csv?from=2026-11-01&to=2026-11-30")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert 'filename="collection_rate_20261101-20261130.csv"' in r.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(r.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][:4] == ["小区", "应收合计", "回款", "收缴率"]
    assert rows[1][0] == "阳光花园" and rows[1][4] == "1611.00" and rows[1][5] == "300.00"
    x = client.get("/reports/collection_rate/export.xlsx?from=2026-11-01&to=2026-11-30")
    assert x.status_code == 200
    sheet = load_workbook(io.BytesIO(x.data)).active
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][0] == "小区" and values[1][0] == "阳光花园"
    assert Decimal(str(values[1][4])) == Decimal("1611.00")


def test_a_formula_like_name_is_quoted_in_the_file(paid, login, client):
    community(code="EV", name="=HYPERLINK(1)")
    login(paid.admin)
    r = client.get("/reports/aging/export.csv")
    assert "'=HYPERLINK(1)" in r.get_data(as_text=True)


def test_collectors_and_legal_officers_are_refused(paid, login, client):
    for user in (paid.collector, paid.legal):
        login(user)
        assert client.get("/reports").status_code == 403
        assert client.get("/reports/collection_rate").status_code == 403
        assert client.get("/reports/aging/export.csv").status_code == 403


def test_the_nav_links_the_reports_for_readers_only(paid, login, client):
    login(paid.supervisor)
    assert 'href="/reports"' in client.get("/reports").get_data(as_text=True)
    login(paid.collector)
    assert 'href="/reports"' not in client.get("/queue").get_data(as_text=True)


def test_a_bad_filter_names_its_field(paid, login, client):
    login(paid.supervisor)
    r = client.get("/reports/collection_rate?from=2026-13-01")
    assert r.status_code == 400
    assert "从：日期格式不正确：“2026-13-01”" in r.get_data(as_text=True)
    r = client.get("/reports/collection_rate?from=2026-11-30&to=2026-11-01")
    assert r.status_code == 400 and "结束日期不能早于开始日期" in r.get_data(as_text=True)
    assert client.get("/reports/aging?group=month").status_code == 400
    assert client.get("/reports/aging/export.csv?community=x").status_code == 400
    assert client.get("/reports/nothing").status_code == 404


def test_a_supervisor_cannot_report_on_another_community(paid, login, client):
    other = community(code="QT", name="其他小区")
    paid.supervisor.communities = [paid.community]
    from casework.extensions import db

    db.session.commit()
    login(paid.supervisor)
    r = client.get(f"/reports/aging?community={other.id}")
    assert r.status_code == 400 and "其他小区" not in r.get_data(as_text=True).split(
        "<table", 1)[1]


def test_months_draw_a_line(paid, login, client):
    login(paid.supervisor)
    body = client.get("/reports/collection_rate?from=2026-09-01&to=2026-11-30&group=month")\
        .get_data(as_text=True)
    assert "<polyline" in body and "2026-09" in body and "2026-11" in body
