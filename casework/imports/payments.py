"""Payments file import (缴费流水导入): idempotent by the payment's external id (流水号).

Each row names its case by 案件编号, or by 小区/楼栋/房号 (the open case holding that unit's
periods). Every row is checked first; the payments are then recorded in one transaction through
`record_payment_in_transaction` (allocation, limitation reset, automatic settle), so a service
refusal on any row refuses the whole file. Rows whose 流水号 is already recorded are skipped.
"""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa

from workflows.dunning import FINAL_STATES

from ..extensions import db
from ..models import Building, ChargeLine, Community, DunningCase, Payment, StaffUser, Unit, utcnow
from ..services.clock import local_date
from ..services.errors import Forbidden, ServiceError
from ..services.facts import outstanding
from ..services.payments import record_payment_in_transaction
from ..services.uow import transaction
from . import values
from .ledger import IMPORT_ROLES, LedgerResult, resolve_mapping
from .tables import (
    Field,
    FileRefused,
    RowError,
    column_map,
    normalize_header,
    open_table,
    read_bytes,
)

PAYMENT_FIELDS = [
    Field("external_id", "流水号", ("交易流水号", "外部流水号", "支付流水号", "收据号", "票据号",
                                 "交易号", "单号"), True),
    Field("case_number", "案件编号", ("案件号",)),
    Field("community", "小区", ("小区名称", "项目", "项目名称")),
    Field("building", "楼栋", ("楼栋号", "楼号", "栋")),
    Field("unit", "房号", ("房间号", "房屋编号", "房间")),
    Field("amount", "金额", ("缴费金额", "收款金额", "交易金额", "实收金额", "实收"), True),
    Field("paid_on", "缴费日期", ("收款日期", "交易日期", "到账日期", "支付日期", "日期"), True),
    Field("channel", "渠道", ("缴费方式", "支付方式", "收款方式", "缴费渠道")),
    Field("periods", "指定期间", ("指定所属期", "所属期")),
]
HEADER = {f.name: f.header for f in PAYMENT_FIELDS}
KNOWN = {h for f in PAYMENT_FIELDS for h in (f.header, *f.synonyms)}
CHANNELS = {"微信": "wechat", "支付宝": "alipay", "银行": "bank", "转账": "bank",
            "银行转账": "bank", "现金": "counter", "柜台": "counter", "刷卡": "card",
            "pos": "card", "托收": "bank_collection"}

ImportResult = LedgerResult


def _channel(text: str) -> str:
    if not text:
        return "import"
    for word, code in CHANNELS.items():
        if word in text.lower():
            return code
    return text[:32]


def import_payments(source: bytes | str | Path, filename: str | None = None, *,
                    community_code: str | None = None, mapping: str | dict | None = None,
                    dry_run: bool = False, user: StaffUser | None = None,
                    now: datetime | None = None, progress=None) -> ImportResult:
    """Record (or with dry_run, preview) the payments of a file; refused files write nothing."""
    started = time.perf_counter()
    now = now or utcnow()
    today = local_date(now)
    if user is not None and not user.has_role(*IMPORT_ROLES):
        raise Forbidden("只有管理员或催缴组长可以导入缴费。",
                        "Only an admin or supervisor may import.")
    if filename is None:
        filename = "" if isinstance(source, bytes | bytearray) else str(source)
    result = ImportResult(status="refused", dry_run=dry_run)

    def finish() -> ImportResult:
        result.seconds = time.perf_counter() - started
        return result

    table = None
    try:
        data = read_bytes(source)
        saved = {k: normalize_header(v) for k, v in (resolve_mapping(mapping) or {}).items()}
        table = open_table(data, filename, KNOWN | set(saved.values()))
        cols = column_map(table.headers, PAYMENT_FIELDS, saved, table.header_row)
        if "case_number" not in cols and not {"building", "unit"} <= set(cols):
            raise FileRefused([RowError(table.header_row, "案件编号", "",
                                        "需要“案件编号”列，或“楼栋”和“房号”列来确定案件")])
        rows, errors = _parse(table, cols, today)
    except FileRefused as exc:
        result.errors = exc.errors
        return finish()
    finally:
        if table is not None:
            table.close()
    result.rows = len(rows)
    if not errors and not rows:
        errors = [RowError(table.header_row + 1, "", "", "文件没有数据行：表头下面是空的")]
    if not errors:
        errors = _resolve(rows, community_code)
    if errors:
        result.errors = errors
        return finish()
    new = [r for r in rows if not r["known"]]
    by_case: dict[int, Decimal] = defaultdict(Decimal)
    for r in new:
        by_case[r["case_id"]] += r["amount"]
    settle = sum(1 for case_id, total in by_case.items()
                 if total >= outstanding(db.session.get(DunningCase, case_id)))
    result.summary = {"rows": len(rows), "payments_new": len(new),
                      "payments_known": len(rows) - len(new), "cases": len(by_case),
                      "cases_settled": settle}
    result.samples = {"payments_new": [
        f"第{r['row']}行 {r['external_id']} 案件{r['case_number']} {r['amount']}元 {r['paid_on']}"
        for r in new[:20]]}
    if dry_run:
        result.status = "previewed"
        db.session.rollback()
        return finish()
    current = None
    try:
        with transaction():
            for r in new:
                current = r
                record_payment_in_transaction(
                    r["case_id"], r["amount"], r["paid_on"], channel=r["channel"],
                    external_id=r["external_id"], designated=r["designated"], user=None, now=now)
    except ServiceError as exc:
        field = getattr(exc, "field", "")
        column = {"amount": HEADER["amount"], "paid_on": HEADER["paid_on"],
                  "external_id": HEADER["external_id"], "designated": HEADER["periods"]}.get(
            field, HEADER["case_number"])
        result.errors = [RowError(current["row"] if current else 0, column,
                                  current["external_id"] if current else "", exc.message)]
        return finish()
    result.case_ids = sorted(by_case)
    result.status = "imported"
    return finish()


def _parse(table, cols: dict[str, int], today) -> tuple[list[dict], list[RowError]]:
    rows, errors, seen = [], [], {}
    for number, cells in table.rows:
        if not any(c is not None and str(c).strip() for c in cells):
            continue

        def cell(name: str, cells=cells):
            i = cols.get(name)
            return cells[i] if i is not None and i < len(cells) else None

        row_errors: list[RowError] = []

        def bad(name: str, value, reason: str, number=number, row_errors=row_errors) -> None:
            column = table.headers[cols[name]] if name in cols else HEADER[name]
            row_errors.append(RowError(number, column, values.text(value)[:100], reason))

        ext = values.text(cell("external_id"))
        if not ext:
            bad("external_id", cell("external_id"), "必填项为空")
        elif len(ext) > 128:
            bad("external_id", ext, "内容过长（最多128个字符）")
        elif ext in seen:
            bad("external_id", ext, f"与第{seen[ext]}行的流水号重复")
        else:
            seen[ext] = number
        amount = None
        raw = cell("amount")
        if values.text(raw) == "":
            bad("amount", raw, "必填项为空")
        else:
            try:
                amount = values.money(raw)
                if amount <= 0:
                    bad("amount", raw, "金额必须大于0")
            except ValueError as exc:
                bad("amount", raw, str(exc))
        paid_on = None
        raw = cell("paid_on")
        try:
            paid_on = values.parse_date(raw)
            if paid_on > today:
                bad("paid_on", raw, "缴费日期不能晚于今天")
        except ValueError as exc:
            bad("paid_on", raw, str(exc) if values.text(raw) else "必填项为空")
        periods = []
        for part in filter(None, (p.strip() for p in values.text(cell("periods"))
                                  .replace("；", ";").replace("、", ";").replace(",", ";")
                                  .replace("，", ";").split(";"))):
            try:
                periods.append(values.parse_period(part)[0])
            except ValueError as exc:
                bad("periods", part, str(exc))
        case_number = values.text(cell("case_number"))
        building, unit = values.text(cell("building")), values.text(cell("unit"))
        if not case_number and not (building and unit):
            bad("case_number", "", "请填写案件编号，或楼栋和房号")
        if row_errors:
            errors.extend(row_errors)
            continue
        rows.append({"row": number, "external_id": ext, "amount": amount, "paid_on": paid_on,
                     "channel": _channel(values.text(cell("channel"))), "periods": periods,
                     "case_number": case_number, "community": values.text(cell("community")),
                     "building": building, "unit": unit, "case_id": None, "designated": [],
                     "known": False, "header": {n: table.headers[i] for n, i in cols.items()}})
    return rows, errors


def _resolve(rows: list[dict], community_code: str | None) -> list[RowError]:
    """Find each row's case and designated periods; known 流水号 are skipped (idempotent)."""
    errors: list[RowError] = []

    def bad(r: dict, name: str, value: str, reason: str) -> None:
        errors.append(RowError(r["row"], r["header"].get(name, HEADER[name]), value, reason))

    numbers = {r["case_number"] for r in rows if r["case_number"]}
    cases = {n: (i, s) for n, i, s in db.session.execute(sa.select(
        DunningCase.number, DunningCase.id, DunningCase.state).where(
        DunningCase.number.in_(numbers)))} if numbers else {}
    communities = db.session.scalars(sa.select(Community)).all()
    fixed = next((c for c in communities if c.code == community_code), None)
    if community_code and fixed is None:
        return [RowError(0, "小区", community_code, f"小区代码“{community_code}”不存在")]
    by_text = {c.code: c for c in communities} | {c.name: c for c in communities}
    unit_cases: dict[tuple[int, str, str], set[int]] = defaultdict(set)
    wanted = {(r["community"], r["building"], r["unit"]) for r in rows if not r["case_number"]}
    if wanted:
        for cid, bname, number, case_id in db.session.execute(
                sa.select(Building.community_id, Building.name, Unit.number, ChargeLine.case_id)
                .join(Unit, Unit.building_id == Building.id)
                .join(ChargeLine, ChargeLine.unit_id == Unit.id)
                .join(DunningCase, DunningCase.id == ChargeLine.case_id)
                .where(DunningCase.state.not_in(FINAL_STATES)).distinct()):
            unit_cases[(cid, bname, number)].add(case_id)
    known = {e: (c, a) for e, c, a in db.session.execute(sa.select(
        Payment.external_id, Payment.case_id, Payment.amount).where(
        Payment.external_id.in_([r["external_id"] for r in rows])))}
    for r in rows:
        if r["case_number"]:
            hit = cases.get(r["case_number"])
            if hit is None:
                bad(r, "case_number", r["case_number"], "案件编号不存在")
                continue
            r["case_id"], state = hit
        else:
            community = fixed or by_text.get(r["community"])
            if community is None:
                bad(r, "community", r["community"],
                    "请填写小区（或用 --community 指定）" if not r["community"] else "小区不存在")
                continue
            found = unit_cases.get((community.id, r["building"], r["unit"]), set())
            if not found:
                bad(r, "unit", f"{r['building']}-{r['unit']}", "该房号没有进行中的催缴案件")
                continue
            if len(found) > 1:
                bad(r, "unit", f"{r['building']}-{r['unit']}",
                    "该房号有多个进行中的案件，请填写案件编号")
                continue
            r["case_id"], state = found.pop(), "open"
            r["case_number"] = db.session.get(DunningCase, r["case_id"]).number
        previous = known.get(r["external_id"])
        if previous is not None:
            if previous != (r["case_id"], r["amount"]):
                bad(r, "external_id", r["external_id"],
                    "该流水号已用于另一笔不同的缴费（案件或金额不同）")
            r["known"] = True
            continue
        if state in FINAL_STATES:
            bad(r, "case_number", r["case_number"], "案件已结案，不能再登记缴费")
            continue
        if r["periods"]:
            lines = db.session.execute(sa.select(ChargeLine.id, ChargeLine.period_label).where(
                ChargeLine.case_id == r["case_id"],
                ChargeLine.amount_due - ChargeLine.amount_paid - ChargeLine.credit > 0)).all()
            ids = [i for i, label in lines if label in r["periods"]]
            missing = set(r["periods"]) - {label for _, label in lines}
            if missing:
                bad(r, "periods", "、".join(sorted(missing)), "指定的期间不在该案件的欠费中")
                continue
            r["designated"] = ids
    return errors
