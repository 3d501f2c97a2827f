"""Ledger and payment imports: previews, idempotence, cases per debtor, and malformed files that
are refused whole with an error naming the row and column (nothing written)."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from decimal import Decimal

import openpyxl
import pytest
import sqlalchemy as sa

from casework.extensions import db
from casework.imports import import_ledger, import_payments, save_mapping
from casework.imports.runs import import_job, import_progress, run_import, start_import
from casework.models import (
    Building,
    CaseEvent,
    ChargeLine,
    Community,
    ContactChannel,
    Debtor,
    DunningCase,
    ImportRun,
    Payment,
    Policy,
    Task,
    Timer,
    Unit,
)
from casework.services.errors import Forbidden
from tests.factories import case_events, fast_password_hashing

HEADER = ["小区", "楼栋", "房号", "面积", "业主", "电话", "费项", "所属期", "应收", "实收",
          "到期日"]
TABLES = (Community, Building, Unit, Debtor, ContactChannel, ChargeLine, DunningCase, Payment,
          CaseEvent, Timer, Policy, Task)


@pytest.fixture(autouse=True)
def _fast(monkeypatch):
    fast_password_hashing(monkeypatch)


def row(community="翠湖苑", building="2栋", unit="201", area="95.00", debtor="李四",
        phone="13900001111", fee="物业费", period="2024-01", due="300.00", paid="0",
        due_date="2024-01-31"):
    return [community, building, unit, area, debtor, phone, fee, period, due, paid, due_date]


def csv_bytes(rows, header=HEADER, encoding="utf-8-sig") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    if header:
        writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def xlsx_bytes(rows, header=HEADER, title: str | None = None) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    if title:
        sheet.append([title])
    sheet.append(header)
    for r in rows:
        sheet.append(r)
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def counts() -> dict[str, int]:
    return {m.__tablename__: db.session.scalar(sa.select(sa.func.count()).select_from(m))
            for m in TABLES}


LEDGER = [
    row(period="2024-01", paid="300.00"),
    row(period="2024年2月", due_date="2024年2月29日"),
    row(period="2024/03", paid="100", due_date="2024/3/31"),
    row(building="3栋", unit="301", area="88", debtor="王五", phone="", period="202403",
        due="264.00", due_date="2024-03-31"),
    row(building="3栋", unit="302", area="88", debtor="赵六", phone="", period="2026-12",
        due="264", due_date="2026-12-31"),
]


# --- the good path ------------------------------------------------------------------------------


def test_a_dry_run_previews_the_changes_and_writes_nothing(estate, now):
    before = counts()
    result = import_ledger(csv_bytes(LEDGER), "ledger.csv", dry_run=True, now=now)
    assert result.status == "previewed", result.errors
    assert counts() == before
    s = result.summary
    assert (s["communities_new"], s["buildings_new"], s["units_new"], s["debtors_new"],
            s["lines_new"], s["cases_opened"], s["cases_extended"]) == (1, 2, 3, 3, 5, 2, 0)
    assert result.samples["communities_new"] == ["翠湖苑"]
    assert any("李四" in c and "2期" in c for c in result.samples["cases"])


def test_an_import_builds_the_estate_and_opens_a_case_per_debtor_with_overdue_arrears(estate,
                                                                                       now):
    result = import_ledger(csv_bytes(LEDGER), "ledger.csv", now=now, user=estate.admin)
    assert result.status == "imported", result.errors
    community = db.session.scalar(sa.select(Community).where(Community.name == "翠湖苑"))
    assert db.session.scalar(sa.select(Policy).where(Policy.community_id == community.id))
    cases = db.session.scalars(sa.select(DunningCase).where(
        DunningCase.community_id == community.id).order_by(DunningCase.id)).all()
    assert [c.debtor.name for c in cases] == ["李四", "王五"]  # 赵六's period is not due yet
    li = cases[0]
    assert [(ln.period_label, ln.balance) for ln in li.charge_lines] == [
        ("2024年02月", Decimal("300.00")), ("2024年03月", Decimal("200.00"))]
    assert li.state == "preparation" and li.debtor.identified is False
    assert [c.value for c in li.debtor.channels] == ["13900001111"]
    assert case_events(li.id)[0].name == "open_case"
    assert case_events(li.id)[0].actor_role == "admin"
    paid_line = db.session.scalar(sa.select(ChargeLine).where(
        ChargeLine.external_ref.like("%|2栋|201|物业费|2024年01月")))
    assert paid_line.case_id is None and paid_line.balance == 0
    assert paid_line.external_ref.endswith("|2栋|201|物业费|2024年01月")
    assert paid_line.limitation_expiry == date(2027, 1, 31)
    unit = db.session.scalar(sa.select(Unit).where(Unit.number == "201"))
    assert unit.area == Decimal("95.00")
    assert db.session.scalar(sa.select(Timer.id).where(Timer.case_id == li.id))  # scheduled


def test_importing_the_same_file_again_changes_nothing(estate, now):
    data = csv_bytes(LEDGER)
    assert import_ledger(data, "ledger.csv", now=now).ok
    before = counts()
    again = import_ledger(data, "ledger.csv", now=now)
    assert again.status == "imported"
    assert counts() == before
    assert again.summary["lines_unchanged"] == 5
    assert again.summary["lines_new"] == again.summary["cases_opened"] == 0
    # the same file as GBK and as xlsx is the same ledger
    assert import_ledger(csv_bytes(LEDGER, encoding="gbk"), "ledger.csv", now=now).ok
    assert import_ledger(xlsx_bytes(LEDGER), "ledger.xlsx", now=now).ok
    assert counts() == before


def test_a_new_period_of_a_known_unit_joins_its_open_case(estate, now):
    known = [row(community="阳光花园", building="1栋", unit="101", area="89.50", debtor="张三",
                 phone="13800138000", period="2024-07", due="268.50", due_date="2024-07-28")]
    before = counts()
    result = import_ledger(csv_bytes(known), "july.csv", now=now)
    assert result.status == "imported", result.errors
    assert (result.summary["cases_extended"], result.summary["cases_opened"]) == (1, 0)
    assert result.summary["debtors_new"] == 0 and result.summary["units_new"] == 0
    case = db.session.get(DunningCase, estate.case.id)
    assert len(case.charge_lines) == 7
    assert case_events(case.id)[-1].name == "add_charge_lines"
    after = counts()
    assert after["dunning_case"] == before["dunning_case"]
    assert after["contact_channel"] == before["contact_channel"]  # the phone was known


def test_a_higher_paid_amount_on_a_case_line_is_recorded_as_a_payment_and_settles(estate, now):
    one = [row(period="2024-05", due="300.00", paid="0", due_date="2024-05-31")]
    assert import_ledger(csv_bytes(one), "may.csv", now=now).ok
    case = db.session.scalar(sa.select(DunningCase).join(Debtor).where(Debtor.name == "李四"))
    paid = [row(period="2024-05", due="300.00", paid="300.00", due_date="2024-05-31")]
    preview = import_ledger(csv_bytes(paid), "may.csv", now=now, dry_run=True)
    assert preview.summary["payments"] == 1
    result = import_ledger(csv_bytes(paid), "may.csv", now=now)
    assert result.ok, result.errors
    db.session.expire_all()
    assert db.session.get(DunningCase, case.id).state == "paid"
    payment = db.session.scalar(sa.select(Payment).where(Payment.case_id == case.id))
    assert payment.amount == Decimal("300.00") and payment.channel == "ledger_import"
    before = counts()
    assert import_ledger(csv_bytes(paid), "may.csv", now=now).ok
    assert counts() == before


def test_changes_to_a_line_in_a_case_are_warned_about_not_imported(estate, now):
    changed = [row(community="阳光花园", building="1栋", unit="101", debtor="张三",
                   period="2024-01", due="999.00", due_date="2024-01-28")]
    # the estate's lines have no external_ref; give the first one its key
    line = db.session.get(ChargeLine, estate.line_ids[0])
    line.external_ref = "YG|1栋|101|物业费|2024年01月"
    db.session.commit()
    result = import_ledger(csv_bytes(changed), "fix.csv", now=now)
    assert result.ok and result.warnings
    assert "应收金额的变更" in result.warnings[0].reason and result.warnings[0].row == 2
    assert db.session.get(ChargeLine, estate.line_ids[0]).amount_due == Decimal("268.50")


def test_xlsx_with_a_title_row_date_cells_and_excel_serial_dates(estate, now):
    rows = [
        row(period=datetime(2024, 1, 1), due=300, paid=0, due_date=datetime(2024, 1, 31)),
        row(period="2024年第2季度", due=900.5, paid=0, due_date=45473),  # 2024-06-30
        row(period="2024年度", due="1,200.00", paid=None, due_date="45657"),  # 2024-12-31
        [None] * len(HEADER),  # a blank row between blocks
    ]
    result = import_ledger(xlsx_bytes(rows, title="翠湖苑2024年欠费台账"), "台账.xlsx", now=now)
    assert result.status == "imported", result.errors
    lines = db.session.scalars(sa.select(ChargeLine).where(
        ChargeLine.external_ref.like("%|201|%")).order_by(ChargeLine.id)).all()
    assert [(ln.period_label, ln.due_date, ln.amount_due) for ln in lines] == [
        ("2024年01月", date(2024, 1, 31), Decimal("300.00")),
        ("2024年第2季度", date(2024, 6, 30), Decimal("900.50")),
        ("2024年度", date(2024, 12, 31), Decimal("1200.00"))]
    assert lines[1].period_start == date(2024, 4, 1)


def test_a_gbk_csv_is_accepted_and_decoded(estate, now):
    data = csv_bytes(LEDGER, encoding="gbk")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    result = import_ledger(data, "gbk.csv", now=now)
    assert result.status == "imported", result.errors
    names = set(db.session.scalars(sa.select(Debtor.name)))
    assert {"李四", "王五", "赵六"} <= names
    assert db.session.scalar(sa.select(Community.id).where(Community.name == "翠湖苑"))


def test_a_utf8_csv_without_bom_and_tab_separated(estate, now):
    text = "\t".join(HEADER) + "\n" + "\t".join(row()) + "\n"
    result = import_ledger(text.encode("utf-8"), "tabs.txt", now=now)
    assert result.status == "imported", result.errors


def test_a_saved_column_mapping(estate, now):
    header = ["项目", "楼座", "户号", "户主", "计费月份", "本期应收", "本期实收"]
    data = csv_bytes([["翠湖苑", "5栋", "501", "孙八", "2024-02", "250", "0"]], header=header)
    assert not import_ledger(data, "other.csv", now=now).ok  # 楼座, 户号 … are unknown
    save_mapping("物业系统A", {"building": "楼座", "unit": "户号", "debtor": "户主",
                               "period": "计费月份", "amount_due": "本期应收",
                               "amount_paid": "本期实收"})
    result = import_ledger(data, "other.csv", mapping="物业系统A", now=now)
    assert result.status == "imported", result.errors
    assert result.summary["cases_opened"] == 1
    wrong = import_ledger(data, "other.csv", mapping={"building": "楼座", "unit": "房间编码",
                                                      "debtor": "户主"}, now=now)
    assert not wrong.ok and wrong.errors[0].column == "房间编码"
    assert not import_ledger(data, "other.csv", mapping="没有这个", now=now).ok


def test_the_community_option_fills_a_missing_column(estate, now):
    header = [h for h in HEADER if h != "小区"]
    data = csv_bytes([row(community=None, building="7栋", unit="701")[1:]], header=header)
    refused = import_ledger(data, "no-community.csv", now=now)
    assert not refused.ok and refused.errors[0].column == "小区"
    result = import_ledger(data, "no-community.csv", community_code="YG", now=now)
    assert result.status == "imported", result.errors
    unit = db.session.scalar(sa.select(Unit).where(Unit.number == "701"))
    assert unit.building.community_id == estate.community.id
    assert not import_ledger(data, "x.csv", community_code="NOPE", now=now).ok
    mismatch = csv_bytes([row(community="翠湖苑")])
    result = import_ledger(mismatch, "x.csv", community_code="YG", now=now)
    assert not result.ok and "不一致" in result.errors[0].reason


# --- malformed files: refused whole, nothing written --------------------------------------------


def _without(column: str):
    i = HEADER.index(column)
    return [h for j, h in enumerate(HEADER) if j != i], [
        [v for j, v in enumerate(r) if j != i] for r in LEDGER]


MALFORMED = {
    "missing 房号 column": (lambda: csv_bytes(_without("房号")[1], header=_without("房号")[0]),
                          "a.csv", 1, "房号", "缺少必需的列"),
    "wrong headers": (lambda: csv_bytes([["x", "y", "z"]], header=["名字", "金额数", "备注"]),
                      "a.csv", 1, "", "找不到表头行"),
    "bad date": (lambda: csv_bytes([row(), row(period="2024-02", due_date="2024-13-45")]),
                 "a.csv", 3, "到期日", "日期不存在"),
    "a word for a date": (lambda: csv_bytes([row(due_date="下个月")]), "a.csv", 2, "到期日",
                          "不是有效的日期"),
    "bad period": (lambda: csv_bytes([row(period="明年")]), "a.csv", 2, "所属期",
                   "不是有效的所属期"),
    "negative amount": (lambda: csv_bytes([row(due="-300.00")]), "a.csv", 2, "应收",
                        "金额不能为负数"),
    "non-numeric amount": (lambda: csv_bytes([row(due="三百")]), "a.csv", 2, "应收",
                           "不是有效的金额"),
    "three decimals": (lambda: csv_bytes([row(paid="1.005")]), "a.csv", 2, "实收",
                       "两位小数"),
    "paid over due": (lambda: csv_bytes([row(due="100", paid="150")]), "a.csv", 2, "实收",
                      "大于应收"),
    "missing owner": (lambda: csv_bytes([row(debtor="")]), "a.csv", 2, "业主", "必填项为空"),
    "bad phone": (lambda: csv_bytes([row(phone="call me")]), "a.csv", 2, "电话", "电话号码"),
    "duplicate rows": (lambda: csv_bytes([row(), row(period="2024年01月")]), "a.csv", 3,
                       "所属期", "与第2行重复"),
    "empty file": (lambda: b"", "a.csv", 0, "", "文件为空"),
    "only whitespace": (lambda: b"\n\n  \n", "a.csv", 0, "", "文件为空"),
    "header only": (lambda: csv_bytes([]), "a.csv", 2, "", "没有数据行"),
    "text named .xlsx": (lambda: "小区,楼栋\n翠湖苑,2栋\n".encode(), "ledger.xlsx", 0, "",
                         "不是有效的 Excel"),
    "broken xlsx": (lambda: xlsx_bytes([row()])[:400], "ledger.xlsx", 0, "", "Excel"),
    "old .xls": (lambda: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600, "ledger.xls", 0, "",
                 ".xls"),
    "duplicate header": (lambda: csv_bytes([row() + ["1"]], header=HEADER + ["应收"]), "a.csv",
                         1, "应收", "出现了2次"),
}


@pytest.mark.parametrize("case", list(MALFORMED), ids=list(MALFORMED))
def test_a_malformed_file_is_refused_whole_naming_row_and_column(estate, now, case):
    make, name, line, column, reason = MALFORMED[case]
    before = counts()
    result = import_ledger(make(), name, now=now)
    assert result.status == "refused"
    assert counts() == before
    first = result.errors[0]
    assert reason in first.reason, result.errors
    assert (first.row, first.column) == (line, column), first
    report = result.error_report().decode("utf-8")
    assert report.startswith("\ufeff行号,列,值,原因")
    assert reason in report


def test_every_bad_row_is_reported_and_the_good_rows_are_not_written(estate, now):
    rows = [row(), row(period="2024-02", due="abc"), row(period="2024-03"),
            row(period="2024-04", due_date="2024/02/30"), row(period="2024-05", paid="-1")]
    before = counts()
    result = import_ledger(xlsx_bytes(rows), "mixed.xlsx", now=now)
    assert not result.ok and counts() == before
    assert [(e.row, e.column) for e in result.errors] == [(3, "应收"), (5, "到期日"), (6, "实收")]
    report = list(csv.reader(io.StringIO(result.error_report().decode("utf-8-sig"))))
    assert report[0] == ["行号", "列", "值", "原因"]
    assert report[1][:3] == ["3", "应收", "abc"]
    assert report[2][3] == "日期不存在"


# --- payments files -----------------------------------------------------------------------------


PAY_HEADER = ["流水号", "案件编号", "小区", "楼栋", "房号", "金额", "缴费日期", "渠道", "指定期间"]


def test_a_payments_file_is_recorded_once(estate, now):
    rows = [["WX001", estate.case.number, "", "", "", "268.50", "2026-11-20", "微信", ""],
            ["ZFB002", "", "阳光花园", "1栋", "101", "100", "2026/11/21", "支付宝", "2024年03月"]]
    data = csv_bytes(rows, header=PAY_HEADER)
    preview = import_payments(data, "pay.csv", now=now, dry_run=True)
    assert preview.status == "previewed" and preview.summary["payments_new"] == 2
    assert counts()["payment"] == 0
    result = import_payments(data, "pay.csv", now=now)
    assert result.status == "imported", result.errors
    payments = db.session.scalars(sa.select(Payment).order_by(Payment.id)).all()
    assert [(p.external_id, p.amount, p.channel) for p in payments] == [
        ("WX001", Decimal("268.50"), "wechat"), ("ZFB002", Decimal("100.00"), "alipay")]
    assert payments[1].allocations[0].charge_line_id == estate.line_ids[2]  # designated March
    before = counts()
    again = import_payments(data, "pay.csv", now=now)
    assert again.status == "imported" and again.summary["payments_known"] == 2
    assert counts() == before


def test_a_payments_file_with_a_bad_row_writes_nothing(estate, now):
    rows = [["A1", estate.case.number, "", "", "", "100", "2026-11-20", "", ""],
            ["A2", "CW2099-000999", "", "", "", "100", "2026-11-20", "", ""],
            ["A3", estate.case.number, "", "", "", "-5", "2026-11-20", "", ""],
            ["A1", estate.case.number, "", "", "", "100", "2026-11-20", "", ""]]
    before = counts()
    result = import_payments(csv_bytes(rows, header=PAY_HEADER), "pay.csv", now=now)
    assert not result.ok and counts() == before
    assert [(e.row, e.column) for e in result.errors] == [(4, "金额"), (5, "流水号")]
    rows = [rows[0], rows[1]]
    result = import_payments(csv_bytes(rows, header=PAY_HEADER), "pay.csv", now=now)
    assert [(e.row, e.column, e.reason) for e in result.errors] == [
        (3, "案件编号", "案件编号不存在")]
    assert counts() == before


def test_a_payments_file_that_overpays_a_closed_case_is_refused_at_that_row(estate, now):
    rows = [["B1", estate.case.number, "", "", "", "1611.00", "2026-11-20", "", ""],
            ["B2", estate.case.number, "", "", "", "10.00", "2026-11-21", "", ""]]
    before = counts()
    result = import_payments(csv_bytes(rows, header=PAY_HEADER), "pay.csv", now=now)
    assert not result.ok and result.errors[0].row == 3 and "结案" in result.errors[0].reason
    assert counts() == before


# --- the CLI, runs and jobs ---------------------------------------------------------------------


def test_the_cli_previews_imports_and_refuses(runner, estate, tmp_path):
    good = tmp_path / "ledger.csv"
    good.write_bytes(csv_bytes(LEDGER))
    out = runner.invoke(args=["import-ledger", str(good), "--dry-run"])
    assert out.exit_code == 0, out.output
    assert "DRY RUN" in out.output and "cases_opened" in out.output
    assert counts()["charge_line"] == 6
    out = runner.invoke(args=["import-ledger", str(good)])
    assert out.exit_code == 0 and "IMPORTED" in out.output
    assert counts()["charge_line"] == 11
    bad = tmp_path / "bad.csv"
    bad.write_bytes(csv_bytes([row(due="-1")]))
    out = runner.invoke(args=["import-ledger", str(bad), "--report", str(tmp_path / "r.csv")])
    assert out.exit_code == 1 and "第2行" in out.output
    assert "金额不能为负数" in (tmp_path / "r.csv").read_text(encoding="utf-8-sig")
    mapped = tmp_path / "mapped.csv"
    mapped.write_bytes(csv_bytes([["翠湖苑", "6栋", "601", "周九", "2024-02", "250"]],
                                 header=["小区", "楼座", "户号", "户主", "所属期", "应收"]))
    out = runner.invoke(args=["import-ledger", str(mapped), "--map", "building=楼座",
                              "--map", "unit=户号", "--map", "debtor=户主",
                              "--save-mapping", "B系统"])
    assert out.exit_code == 0, out.output
    out = runner.invoke(args=["import-ledger", str(mapped), "--mapping", "B系统"])
    assert out.exit_code == 0 and "lines_unchanged" in out.output
    pay = tmp_path / "pay.csv"
    pay.write_bytes(csv_bytes([["C1", estate.case.number, "", "", "", "1.00", "2026-11-20",
                                "", ""]], header=PAY_HEADER))
    out = runner.invoke(args=["import-payments", str(pay)])
    assert out.exit_code == 0, out.output
    assert counts()["payment"] == 1


def test_a_run_records_its_outcome_and_a_job_reports_progress(app, estate, now, monkeypatch):
    from casework import jobs

    monkeypatch.setattr(jobs, "_app", app)
    run = start_import("ledger", csv_bytes(LEDGER), "台账.csv", user=estate.admin, inline=True)
    assert run.status == "imported" and run.summary["counts"]["lines_new"] == 5
    refused = start_import("ledger", csv_bytes([row(due="x")]), "bad.csv", inline=True)
    assert refused.status == "refused" and refused.error_count == 1
    from casework.imports.runs import error_report

    assert "不是有效的金额" in error_report(refused.id).decode("utf-8-sig")
    assert import_progress(refused.id)["errors"][0]["row"] == 2

    class FakeJob:
        meta: dict = {}
        saved = []

        def save_meta(self):
            self.saved.append(dict(self.meta["progress"]))

    job = FakeJob()
    monkeypatch.setattr("rq.get_current_job", lambda: job)
    pending = ImportRun(kind="ledger", filename="big.csv", sha256="0" * 64,
                        path=run.path, status="pending", summary={}, errors=[])
    db.session.add(pending)
    db.session.commit()
    assert import_job(pending.id) == "imported"  # the same file again: nothing new
    assert job.saved and job.saved[-1]["phase"] in ("reading", "checking", "writing", "cases")
    assert any(p["phase"] == "reading" for p in job.saved)
    db.session.expire_all()
    assert db.session.get(ImportRun, pending.id).summary["counts"]["lines_unchanged"] == 5
    with pytest.raises(Forbidden):
        start_import("ledger", b"x", "x.csv", user=estate.collector)
    assert run_import(run.id).status == "imported"
