"""Exports: CSV with a BOM for Excel and XLSX, scoped by the same access rules as the UI."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import openpyxl
import pytest

from casework import exports, services
from casework.services.errors import InvalidInput
from tests.factories import fast_password_hashing, fresh_case, two_contacts


@pytest.fixture(autouse=True)
def _fast(monkeypatch):
    fast_password_hashing(monkeypatch)


def rows_of(result) -> list[list[str]]:
    assert result.data.startswith(b"\xef\xbb\xbf")  # Excel opens UTF-8 with a BOM as Chinese
    return list(csv.reader(io.StringIO(result.data.decode("utf-8-sig"))))


def test_cases_export_lists_what_each_user_may_see(estate, now):
    other, _ = fresh_case(estate, now, assignee=estate.collector2)
    every = rows_of(exports.export("cases", "csv", None))
    assert every[0][:7] == ["案件编号", "小区", "业主", "状态", "状态代码", "催费员", "欠费余额"]
    assert [r[0] for r in every[1:]] == [estate.case.number, other.number]
    assert every[1][3] == "前期准备" and every[1][6] == "1611.00" and every[1][7] == "6"
    assert [r[0] for r in rows_of(exports.export("cases", "csv", estate.collector))[1:]] == [
        estate.case.number]
    assert len(rows_of(exports.export("cases", "csv", estate.supervisor))) == 3
    assert len(rows_of(exports.export("cases", "csv", estate.auditor))) == 3


def test_contacts_payments_and_histories(estate, now):
    two_contacts(estate.case.id, estate.collector, now)
    services.record_payment(estate.case.id, Decimal("100.00"), now.date(), external_id="P-1",
                            user=estate.collector, now=now)
    contacts = rows_of(exports.export("contacts", "csv", estate.collector))
    assert len(contacts) == 3 and contacts[1][4] == "电话" and contacts[1][6] == "未接通"
    assert contacts[1][3] == "2026-11-23 09:30:00"  # Shanghai time
    payments = rows_of(exports.export("payments", "csv", estate.auditor))
    assert payments[1][4:7] == ["P-1", "100.00", "2026-11-23"]
    history = rows_of(exports.export("histories", "csv", estate.supervisor))
    names = [r[6] for r in history[1:]]
    assert names[0] == "open_case" and "record_payment" in names
    assert all(len(r[12]) == 64 for r in history[1:])
    assert rows_of(exports.export("payments", "csv", estate.collector2))[1:] == []


def test_xlsx_has_one_sheet_with_numbers_for_money(estate):
    result = exports.export("cases", "xlsx", estate.supervisor)
    book = openpyxl.load_workbook(io.BytesIO(result.data))
    sheet = book.worksheets[0]
    assert sheet.title == "案件"
    assert sheet["A1"].value == "案件编号" and sheet["C2"].value == "张三"
    assert sheet["G2"].value == pytest.approx(1611.0) and sheet["G2"].number_format == "0.00"
    assert result.filename == "cases.xlsx" and result.mimetype.endswith("sheet")


def test_unknown_kinds_and_formats_are_refused(estate):
    with pytest.raises(InvalidInput):
        exports.export("owners", "csv", None)
    with pytest.raises(InvalidInput):
        exports.export("cases", "pdf", None)


def test_the_export_command(runner, estate, tmp_path):
    out = tmp_path / "cases.csv"
    result = runner.invoke(args=["export", "cases", "--format", "csv", "-o", str(out),
                                 "--as", "col2"])
    assert result.exit_code == 0, result.output
    assert "0 rows" in result.output
    result = runner.invoke(args=["export", "histories", "--format", "xlsx", "-o",
                                 str(tmp_path / "h.xlsx")])
    assert result.exit_code == 0 and "wrote" in result.output
    assert openpyxl.load_workbook(tmp_path / "h.xlsx").worksheets[0].max_row >= 2
