"""Data out: cases, contacts, payments and case histories as CSV (UTF-8 with BOM, for Excel)
and XLSX, with the same access rules as the UI (`services.visible_cases`)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from workflows.dunning import EVENT_LABELS, STATE_LABELS

from .extensions import db
from .models import (
    CaseEvent,
    ChargeLine,
    Community,
    ContactAttempt,
    Debtor,
    DunningCase,
    Money,
    Payment,
    StaffUser,
)
from .services.access import visible_cases
from .services.errors import InvalidInput

SHANGHAI = ZoneInfo("Asia/Shanghai")
KINDS = ("cases", "contacts", "payments", "histories")
FORMATS = ("csv", "xlsx")
MIMETYPES = {"csv": "text/csv; charset=utf-8",
             "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
SHEET_TITLES = {"cases": "案件", "contacts": "催收记录", "payments": "缴费",
                "histories": "案件历史"}
CHANNEL_LABELS = {"phone": "电话", "sms": "短信", "wechat": "微信", "letter": "信函",
                  "visit": "上门",
                  "email": "邮件"}
OUTCOME_LABELS = {"no_answer": "未接通", "sent": "已发送", "reached": "已联系",
                  "promised": "承诺付款",
                  "refused": "拒绝", "disputed": "提出异议", "paid": "已付款"}


@dataclass
class Export:
    kind: str
    fmt: str
    data: bytes
    rows: int

    @property
    def filename(self) -> str:
        return f"{self.kind}.{self.fmt}"

    @property
    def mimetype(self) -> str:
        return MIMETYPES[self.fmt]


def _local(moment: datetime | None) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def _scope(user: StaffUser | None):
    return sa.true() if user is None else visible_cases(user)


def cases(user: StaffUser | None) -> tuple[list[str], Iterator[tuple]]:
    balance = (sa.select(ChargeLine.case_id.label("case_id"),
                         sa.func.sum(ChargeLine.amount_due - ChargeLine.amount_paid
                                     - ChargeLine.credit, type_=Money()).label("balance"),
                         sa.func.count(ChargeLine.id).label("lines"),
                         sa.func.min(ChargeLine.due_date).label("first_due"))
               .group_by(ChargeLine.case_id).subquery())
    assignee = aliased(StaffUser)
    query = (sa.select(DunningCase.number, Community.name, Debtor.name, DunningCase.state,
                       assignee.display_name, balance.c.balance, balance.c.lines,
                       balance.c.first_due, DunningCase.reason_class, DunningCase.reason_sub,
                       DunningCase.priority, DunningCase.opened_at, DunningCase.closed_at,
                       DunningCase.id)
             .join(Community, Community.id == DunningCase.community_id)
             .join(Debtor, Debtor.id == DunningCase.debtor_id)
             .outerjoin(assignee, assignee.id == DunningCase.assignee_id)
             .outerjoin(balance, balance.c.case_id == DunningCase.id)
             .where(_scope(user)).order_by(DunningCase.id))
    headers = ["案件编号", "小区", "业主", "状态", "状态代码", "催费员", "欠费余额", "欠费期数",
               "最早到期日", "欠费原因", "原因细分", "优先级", "立案时间", "结案时间"]

    def rows():
        for (number, community, debtor, state, who, bal, lines, first_due, reason, sub,
             priority, opened, closed, _case_id) in db.session.execute(query):
            value = bal if bal is not None else Decimal("0.00")
            yield (number, community, debtor, STATE_LABELS.get(state, state), state, who or "",
                   value.quantize(Decimal("0.01")), lines or 0, first_due, reason or "",
                   sub or "", priority, _local(opened), _local(closed))

    return headers, rows()


def contacts(user: StaffUser | None) -> tuple[list[str], Iterator[tuple]]:
    query = (sa.select(DunningCase.number, Community.name, Debtor.name, ContactAttempt,
                       StaffUser.display_name)
             .join(DunningCase, DunningCase.id == ContactAttempt.case_id)
             .join(Community, Community.id == DunningCase.community_id)
             .join(Debtor, Debtor.id == DunningCase.debtor_id)
             .outerjoin(StaffUser, StaffUser.id == ContactAttempt.staff_id)
             .where(_scope(user)).order_by(ContactAttempt.at, ContactAttempt.id))
    headers = ["案件编号", "小区", "业主", "联系时间", "渠道", "联系对象", "结果", "技巧",
               "欠费原因",
               "原因细分", "备注", "超出联系规则", "补登原因", "自动发送", "登记人"]

    def rows():
        for number, community, debtor, c, who in db.session.execute(query):
            yield (number, community, debtor, _local(c.at),
                   CHANNEL_LABELS.get(c.channel, c.channel),
                   c.person_reached, OUTCOME_LABELS.get(c.outcome, c.outcome),
                   "、".join(c.techniques or []), c.reason_class or "", c.reason_sub or "",
                   c.notes or "", "、".join(c.outside_rules or []), c.override_reason or "",
                   "是" if c.automatic else "否", who or ("系统" if c.automatic else ""))

    return headers, rows()


def payments(user: StaffUser | None) -> tuple[list[str], Iterator[tuple]]:
    query = (sa.select(DunningCase.number, Community.name, Debtor.name, Payment)
             .join(DunningCase, DunningCase.id == Payment.case_id)
             .join(Community, Community.id == DunningCase.community_id)
             .join(Debtor, Debtor.id == DunningCase.debtor_id)
             .where(_scope(user)).order_by(Payment.id))
    headers = ["案件编号", "小区", "业主", "缴费编号", "流水号", "金额", "缴费日期", "渠道",
               "未分配金额",
               "已冲正", "登记时间"]

    def rows():
        for number, community, debtor, p in db.session.execute(query):
            yield (number, community, debtor, p.id, p.external_id or "", p.amount, p.paid_on,
                   p.channel, p.unallocated, "是" if p.reversed else "否", _local(p.created_at))

    return headers, rows()


def histories(user: StaffUser | None) -> tuple[list[str], Iterator[tuple]]:
    query = (sa.select(DunningCase.number, CaseEvent, StaffUser.display_name)
             .join(DunningCase, DunningCase.id == CaseEvent.case_id)
             .outerjoin(StaffUser, StaffUser.id == CaseEvent.actor_id)
             .where(_scope(user)).order_by(CaseEvent.case_id, CaseEvent.seq))
    headers = ["案件编号", "序号", "时间", "操作人", "角色", "类型", "事件", "事件名称", "原状态",
               "新状态",
               "内容", "前一哈希", "哈希"]

    def rows():
        for number, ev, who in db.session.execute(query):
            yield (number, ev.seq, _local(ev.at), who or ("系统" if ev.actor_id is None else ""),
                   ev.actor_role, ev.kind, ev.name, EVENT_LABELS.get(ev.name, ("",))[0],
                   STATE_LABELS.get(ev.from_state, ev.from_state or ""),
                   STATE_LABELS.get(ev.to_state, ev.to_state or ""),
                   json.dumps(ev.payload, ensure_ascii=False, sort_keys=True), ev.prev_hash,
                   ev.hash)

    return headers, rows()


BUILDERS = {"cases": cases, "contacts": contacts, "payments": payments, "histories": histories}


def _cell(value):
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    return value


def export(kind: str, fmt: str, user: StaffUser | None) -> Export:
    """Build an export of `kind` in `fmt` with what `user` may see (None: everything)."""
    if kind not in KINDS:
        raise InvalidInput("kind", f"不支持的导出类型：{kind}", f"Unknown export kind: {kind}")
    if fmt not in FORMATS:
        raise InvalidInput("format", f"不支持的导出格式：{fmt}", f"Unknown export format: {fmt}")
    headers, rows = BUILDERS[kind](user)
    data, count = encode(fmt, SHEET_TITLES[kind], headers, rows)
    return Export(kind, fmt, data, count)


def encode(fmt: str, title: str, headers: list[str], rows) -> tuple[bytes, int]:
    """Rows as CSV (UTF-8 with BOM, for Excel) or as one XLSX sheet (money as 0.00 numbers);
    returns the file's bytes and how many rows it holds. (The reports use it too.)"""
    count = 0
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(headers)
        for row in rows:
            writer.writerow(["" if v is None else _cell(v) for v in row])
            count += 1
        return ("\ufeff" + out.getvalue()).encode("utf-8"), count
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    book = Workbook(write_only=True)
    sheet = book.create_sheet(title)
    sheet.append(headers)
    for row in rows:
        cells = []
        for v in row:
            if isinstance(v, Decimal):
                c = WriteOnlyCell(sheet, value=v)
                c.number_format = "0.00"
                cells.append(c)
            else:
                cells.append(_cell(v))
        sheet.append(cells)
        count += 1
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue(), count
