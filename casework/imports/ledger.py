"""Ledger import (欠费台账导入): a billing system's export in, communities to charge lines out.

One file is one transaction: every row is validated first and any error refuses the whole file
(nothing is written; the error report names row, column, value and reason). A dry run shows
what would change. Charge lines carry a stable key (community|building|unit|fee type|period),
so importing the same file again changes nothing, and a new period of a known unit joins the
debtor's open case. Cases are opened through the same service as everywhere, in one batch
(`services.cases.open_cases`), for the overdue unpaid periods of each debtor; a higher 实收 on a
line already in an open case is recorded as a payment through `record_payment_in_transaction`.
"""

from __future__ import annotations

import hashlib
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from workflows.dunning import FINAL_STATES

from ..extensions import db
from ..models import (
    Building,
    ChargeLine,
    ColumnMapping,
    Community,
    ContactChannel,
    Debtor,
    DunningCase,
    Policy,
    StaffUser,
    Unit,
    utcnow,
)
from ..policy import default_policy
from ..readonly import note_write
from ..services.access import actor_of
from ..services.bulk import member
from ..services.cases import CaseRequest, open_cases
from ..services.clock import limitation_expiry, local_date
from ..services.errors import Forbidden, InvalidInput, ServiceError
from ..services.payments import record_payment_in_transaction
from ..services.uow import transaction
from . import values
from .tables import (
    Field,
    FileRefused,
    RowError,
    column_map,
    error_report_csv,
    normalize_header,
    open_table,
    read_bytes,
)

ZERO = Decimal("0.00")
CHUNK = 2000
SAMPLES = 20
Progress = Callable[[str, int, int | None], None]

LEDGER_FIELDS = [
    Field("community", "小区", ("小区名称", "项目", "项目名称", "楼盘", "管理处", "小区编码"),
          True),
    Field("building", "楼栋", ("楼栋号", "楼号", "栋", "楼宇", "楼栋名称", "幢"), True),
    Field("unit", "房号", ("房间号", "房屋编号", "房间", "室号", "单元房号", "门牌号"), True),
    Field("area", "面积", ("建筑面积", "计费面积", "房屋面积")),
    Field("debtor", "业主", ("业主姓名", "业主名称", "客户", "客户名称", "客户姓名", "姓名",
                           "缴费人"), True),
    Field("phone", "电话", ("手机", "手机号", "手机号码", "联系电话", "电话号码", "联系方式")),
    Field("fee_type", "费项", ("收费项目", "费用项目", "费用类型", "费用名称", "收费项目名称")),
    Field("period", "所属期", ("所属期间", "账期", "计费周期", "费用期间", "计费期间", "期间",
                            "所属月份", "月份"), True),
    Field("amount_due", "应收", ("应收金额", "应收款", "应缴", "应缴金额", "应收费用"), True),
    Field("amount_paid", "实收", ("实收金额", "已收", "已收金额", "已缴", "已缴金额", "实缴金额")),
    Field("due_date", "到期日", ("到期日期", "应缴日期", "缴费截止日", "截止日期", "最后缴费日",
                              "缴费期限")),
]
FIELD_HEADER = {f.name: f.header for f in LEDGER_FIELDS}
KNOWN_HEADERS = {h for f in LEDGER_FIELDS for h in (f.header, *f.synonyms)}
MAX_LEN = {"community": 128, "building": 32, "unit": 32, "debtor": 200, "fee_type": 32}
IMPORT_ROLES = ("admin", "supervisor")


@dataclass(slots=True)
class LedgerRow:
    row: int
    community: str
    building: str
    unit: str
    area: Decimal | None
    debtor: str
    phones: tuple[str, ...]
    fee_type: str
    period: str
    period_start: date
    period_end: date
    due_date: date
    amount_due: Decimal
    amount_paid: Decimal
    code: str = ""  # the community's code, once resolved
    ref: str = ""  # the line's stable key, once the code is known

    @property
    def balance(self) -> Decimal:
        return self.amount_due - self.amount_paid


@dataclass
class LedgerResult:
    """What an import did or would do: counts, samples, errors and warnings."""

    status: str  # previewed, imported, refused
    dry_run: bool
    rows: int = 0
    errors: list[RowError] = field(default_factory=list)
    warnings: list[RowError] = field(default_factory=list)
    summary: dict[str, int] = field(default_factory=dict)
    samples: dict[str, list[str]] = field(default_factory=dict)
    case_ids: list[int] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status != "refused"

    def error_report(self) -> bytes:
        return error_report_csv(self.errors)

    def as_dict(self, max_errors: int = 1000) -> dict[str, Any]:
        return {"status": self.status, "dry_run": self.dry_run, "rows": self.rows,
                "summary": self.summary, "samples": self.samples,
                "error_count": len(self.errors),
                "errors": [e.as_dict() for e in self.errors[:max_errors]],
                "warnings": [w.as_dict() for w in self.warnings[:max_errors]],
                "case_ids": self.case_ids, "seconds": round(self.seconds, 3)}


def external_ref(code: str, building: str, unit: str, fee_type: str, period: str) -> str:
    """The stable key of a charge line: community|building|unit|fee type|period."""
    key = "|".join((code, building, unit, fee_type, period))
    return key if len(key) <= 128 else "h:" + hashlib.sha256(key.encode()).hexdigest()


def community_code_for(name: str) -> str:
    """The code of a community first seen in an import (stable for the same name)."""
    return "IMP-" + hashlib.sha1(name.encode()).hexdigest()[:8].upper()


# --- column mappings ---------------------------------------------------------------------------


def save_mapping(name: str, mapping: dict[str, str], user: StaffUser | None = None,
                 kind: str = "ledger") -> ColumnMapping:
    """Save (or replace) a named mapping {field: header} for later imports."""
    from .payments import PAYMENT_FIELDS

    fields = {f.name for f in (LEDGER_FIELDS if kind == "ledger" else PAYMENT_FIELDS)}
    name = (name or "").strip()
    if not name or len(name) > 64:
        raise InvalidInput("name", "请填写映射名称（不超过64个字符）。", "A mapping needs a name.")
    unknown = sorted(set(mapping) - fields)
    if unknown:
        raise InvalidInput("mapping", f"无法识别的字段：{'、'.join(unknown)}",
                           f"Unknown fields: {', '.join(unknown)}")
    clean = {k: str(v).strip() for k, v in mapping.items() if str(v).strip()}
    with transaction():
        row = db.session.scalar(sa.select(ColumnMapping).where(ColumnMapping.name == name))
        if row is None:
            row = ColumnMapping(name=name, kind=kind, created_at=utcnow())
            db.session.add(row)
        row.mapping, row.kind = clean, kind
        row.created_by_id = user.id if user else None
    return row


def resolve_mapping(mapping: str | dict[str, str] | None) -> dict[str, str] | None:
    if mapping is None or isinstance(mapping, dict):
        return mapping
    row = db.session.scalar(sa.select(ColumnMapping).where(ColumnMapping.name == mapping))
    if row is None:
        raise FileRefused([RowError(0, "", mapping, f"列映射“{mapping}”不存在")])
    return dict(row.mapping)


# --- reading and validating rows -----------------------------------------------------------------


class _Cache(dict):
    """Parse each distinct cell value once (periods, dates and amounts repeat a lot)."""

    def __init__(self, parse: Callable[[Any], Any]) -> None:
        super().__init__()
        self.parse = parse

    def __call__(self, value):
        try:
            key = (type(value), value)
            hit = self.get(key, self)
        except TypeError:  # unhashable: parse directly
            return self.parse(value)
        if hit is self:
            try:
                hit = self.parse(value)
            except ValueError as exc:
                hit = exc
            self[key] = hit
        if isinstance(hit, ValueError):
            raise hit
        return hit


TEXT_FIELDS = ("community", "building", "unit", "debtor", "fee_type")
ORDER = ("community", "building", "unit", "debtor", "fee_type", "amount_due", "amount_paid",
         "area", "phone", "period", "due_date")


def _blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def parse_rows(table, cols: dict[str, int], fixed: Community | None,
               progress: Progress | None = None) -> tuple[list[LedgerRow], list[RowError]]:
    """Every row checked; errors name the row, the file's column header, the value, the reason.

    The loop is the import's hot path (it runs once per row next to openpyxl's parsing), so
    each distinct cell value is parsed once and cells are fetched by position.
    """
    rows: list[LedgerRow] = []
    errors: list[RowError] = []
    header_of = {name: (table.headers[cols[name]] if name in cols else "") or FIELD_HEADER[name]
                 for name in FIELD_HEADER}
    money, period, day = _Cache(values.money), _Cache(values.parse_period), \
        _Cache(values.parse_date)
    phones, text = _Cache(values.phones), _Cache(values.text)
    intern: dict[str, str] = {}
    seen: dict[tuple, int] = {}
    fixed_names = {fixed.code, fixed.name} if fixed else set()
    if progress:
        progress("reading", 0, table.total)
    positions = [cols.get(name, -1) for name in ORDER]
    width = max(positions) + 1
    pad = (None,) * width
    count = 0
    for number, cells in table.rows:
        count += 1
        if progress and count % CHUNK == 0:
            progress("reading", count, table.total)
        if len(cells) < width:
            cells = tuple(cells) + pad[len(cells):]
        raw = [cells[i] if i >= 0 else None for i in positions]
        if all(_blank(v) for v in raw):
            continue  # blank rows between blocks are common in exports
        bad: list[RowError] = []
        try:
            c, b, u, d, f = (text(v) for v in raw[:5])
        except ValueError:  # pragma: no cover  (text never refuses)
            c = b = u = d = f = ""
        texts = []
        for name, value in zip(TEXT_FIELDS, (c, b, u, d, f), strict=True):
            if not value:
                if name == "fee_type":
                    value = "物业费"
                elif name == "community" and fixed is not None:
                    value = fixed.code
                else:
                    bad.append(RowError(number, header_of[name], "", "必填项为空"))
            elif len(value) > MAX_LEN[name]:
                bad.append(RowError(number, header_of[name], value[:100],
                                    f"内容过长（最多{MAX_LEN[name]}个字符）"))
            if name == "community" and fixed is not None and value and value not in fixed_names:
                bad.append(RowError(number, header_of[name], value[:100],
                                    f"与指定的小区“{fixed.name}（{fixed.code}）”不一致"))
            texts.append(intern.setdefault(value, value))
        parsed = []
        for name, rawv, parser, required, empty in (
                ("amount_due", raw[5], money, True, None), ("amount_paid", raw[6], money, False,
                                                            ZERO),
                ("area", raw[7], money, False, None), ("phone", raw[8], phones, False, ())):
            if _blank(rawv):
                if required:
                    bad.append(RowError(number, header_of[name], "", "必填项为空"))
                parsed.append(empty)
                continue
            try:
                parsed.append(parser(rawv))
            except ValueError as exc:
                reason = str(exc).replace("金额", "面积") if name == "area" else str(exc)
                bad.append(RowError(number, header_of[name], values.text(rawv)[:100], reason))
                parsed.append(None)
        due_amount, paid, area, phone_list = parsed
        try:
            label, start, end = period(raw[9])
        except ValueError as exc:
            bad.append(RowError(number, header_of["period"], values.text(raw[9])[:100],
                                str(exc)))
            label, start, end = "", None, None
        due = end
        if not _blank(raw[10]):
            try:
                due = day(raw[10])
            except ValueError as exc:
                bad.append(RowError(number, header_of["due_date"], values.text(raw[10])[:100],
                                    str(exc)))
        if due_amount is not None and paid is not None and paid > due_amount:
            bad.append(RowError(number, header_of["amount_paid"], values.text(raw[6])[:100],
                                f"实收（{paid}）大于应收（{due_amount}）"))
        if not bad:
            key = (texts[0], texts[1], texts[2], texts[4], label)
            first = seen.setdefault(key, number)
            if first != number:
                bad.append(RowError(number, header_of["period"], values.text(raw[9])[:100],
                                    f"与第{first}行重复（同一小区、楼栋、房号、费项和所属期）"))
        if bad:
            errors.extend(bad)
            continue
        rows.append(LedgerRow(number, texts[0], texts[1], texts[2], area, texts[3], phone_list,
                              texts[4], intern.setdefault(label, label), start, end, due,
                              due_amount, paid))
    if progress:
        progress("reading", count, count)
    return rows, errors


# --- planning: what the file changes ------------------------------------------------------------


@dataclass
class Plan:
    today: date
    rows: list[LedgerRow]
    errors: list[RowError] = field(default_factory=list)
    warnings: list[RowError] = field(default_factory=list)
    communities: dict[str, Community] = field(default_factory=dict)  # code -> existing
    new_communities: dict[str, str] = field(default_factory=dict)  # code -> name
    buildings: dict[tuple[str, str], int] = field(default_factory=dict)
    new_buildings: list[tuple[str, str]] = field(default_factory=list)
    units: dict[tuple[str, str, str], int] = field(default_factory=dict)
    new_units: dict[tuple[str, str, str], Decimal | None] = field(default_factory=dict)
    unit_updates: dict[int, Decimal] = field(default_factory=dict)
    new_debtors: dict[tuple, dict] = field(default_factory=dict)  # key -> values
    new_channels: list[tuple[Any, str]] = field(default_factory=list)  # (debtor id or key, phone)
    new_lines: list[tuple[LedgerRow, Any]] = field(default_factory=list)  # (row, debtor ref)
    line_updates: list[dict] = field(default_factory=list)
    payments: list[tuple[int, int, Decimal, str, LedgerRow]] = field(default_factory=list)
    candidates: dict[tuple[Any, str], list] = field(default_factory=dict)  # (debtor, code)->lines
    unchanged: int = 0
    open_cases: dict[tuple[int, int], int] = field(default_factory=dict)

    def warn(self, row: LedgerRow, column: str, value: str, reason: str) -> None:
        self.warnings.append(RowError(row.row, column, value, reason))


def _postgres() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def _chunks(items: list, size: int | None = None) -> Iterable[list]:
    """Big look-ups in few statements: PostgreSQL takes a whole array as one parameter."""
    size = size or (50_000 if _postgres() else 500)
    for i in range(0, len(items), size):
        yield items[i:i + size]


def build_plan(rows: list[LedgerRow], fixed: Community | None, today: date) -> Plan:
    plan = Plan(today=today, rows=rows)
    _resolve_communities(plan, fixed)
    if plan.errors:
        return plan
    existing_ids = [c.id for c in plan.communities.values()]
    code_of = {c.id: code for code, c in plan.communities.items()}
    for bid, cid, name in db.session.execute(sa.select(Building.id, Building.community_id,
                                                       Building.name)
                                             .where(Building.community_id.in_(existing_ids))):
        plan.buildings[(code_of[cid], name)] = bid
    building_key = {bid: key for key, bid in plan.buildings.items()}
    unit_area: dict[int, Decimal] = {}
    if building_key:
        for uid, bid, number, area in db.session.execute(
                sa.select(Unit.id, Unit.building_id, Unit.number, Unit.area)
                .where(Unit.building_id.in_(list(building_key)))):
            code, bname = building_key[bid]
            plan.units[(code, bname, number)] = uid
            unit_area[uid] = area
    # existing charge lines of known units, by their stable key
    refs = {}
    for r in rows:
        if (r.code, r.building, r.unit) in plan.units:
            refs[r.ref] = r
    lines: dict[str, tuple] = {}
    for chunk in _chunks(list(refs)):
        for rec in db.session.execute(sa.select(
                ChargeLine.external_ref, ChargeLine.id, ChargeLine.case_id, ChargeLine.debtor_id,
                ChargeLine.amount_due, ChargeLine.amount_paid, ChargeLine.credit,
                ChargeLine.due_date).where(member(ChargeLine.external_ref, chunk))):
            lines[rec[0]] = tuple(rec[1:])
    case_state: dict[int, str] = {}
    case_ids = sorted({v[1] for v in lines.values() if v[1] is not None})
    for chunk in _chunks(case_ids):
        case_state.update(db.session.execute(sa.select(DunningCase.id, DunningCase.state)
                                             .where(member(DunningCase.id, chunk))).all())
    # who owes for the known units, and debtors known by name and phone
    unit_debtors: dict[int, dict[str, int]] = defaultdict(dict)
    known_units = sorted({plan.units[k] for k in {(r.code, r.building, r.unit) for r in rows}
                          if k in plan.units})
    for chunk in _chunks(known_units):
        for uid, did, name in db.session.execute(
                sa.select(ChargeLine.unit_id, Debtor.id, Debtor.name).distinct()
                .join(Debtor, Debtor.id == ChargeLine.debtor_id)
                .where(member(ChargeLine.unit_id, chunk))):
            unit_debtors[uid].setdefault(name, did)
    all_phones = sorted({p for r in rows for p in r.phones})
    by_phone: dict[tuple[str, str], int] = {}
    for chunk in _chunks(all_phones):
        for value, did, name in db.session.execute(
                sa.select(ContactChannel.value, Debtor.id, Debtor.name)
                .join(Debtor, Debtor.id == ContactChannel.debtor_id)
                .where(member(ContactChannel.value, chunk))):
            by_phone.setdefault((name, value), did)

    new_building_set: set[tuple[str, str]] = set()
    warned_units: set[tuple] = set()
    debtor_of_row: dict[int, Any] = {}
    for r in rows:
        ukey = (r.code, r.building, r.unit)
        bkey = (r.code, r.building)
        uid = plan.units.get(ukey)
        if uid is None:
            if bkey not in plan.buildings and bkey not in new_building_set:
                new_building_set.add(bkey)
                plan.new_buildings.append(bkey)
            if ukey not in plan.new_units:
                plan.new_units[ukey] = r.area
            elif r.area is not None and plan.new_units[ukey] not in (None, r.area):
                plan.errors.append(RowError(r.row, FIELD_HEADER["area"], str(r.area),
                                            f"同一房号的面积前后不一致（之前为{plan.new_units[ukey]}）"))
        elif r.area is not None and unit_area.get(uid) != r.area:
            previous = plan.unit_updates.get(uid)
            if previous is not None and previous != r.area:
                plan.errors.append(RowError(r.row, FIELD_HEADER["area"], str(r.area),
                                            f"同一房号的面积前后不一致（之前为{previous}）"))
            plan.unit_updates[uid] = r.area
        ref = r.ref
        existing = lines.get(ref)
        if existing is None:
            debtor = _debtor_for(plan, r, uid, unit_debtors, by_phone, warned_units)
            debtor_of_row[r.row] = debtor
            plan.new_lines.append((r, debtor))
            if r.balance > 0 and r.due_date < today:
                plan.candidates.setdefault((debtor, r.code), []).append(("row", r))
            continue
        line_id, case_id, debtor_id, due, paid, credit, due_date = existing
        if case_id is None:
            change = {}
            if due != r.amount_due:
                change["amount_due"] = r.amount_due
            if paid != r.amount_paid:
                change["amount_paid"] = r.amount_paid
            if due_date != r.due_date:
                change["due_date"] = r.due_date
                change["limitation_expiry"] = limitation_expiry(r.due_date)
            if r.amount_paid + credit > r.amount_due:
                plan.errors.append(RowError(r.row, FIELD_HEADER["amount_due"], str(r.amount_due),
                                            f"应收低于已登记的实收与减免之和（{paid + credit}）"))
                continue
            if change:
                plan.line_updates.append({"id": line_id, **change})
            else:
                plan.unchanged += 1
            if r.amount_due - r.amount_paid - credit > 0 and r.due_date < today:
                plan.candidates.setdefault((debtor_id, r.code), []).append(("line", line_id))
            _add_phones(plan, debtor_id, r)
            continue
        state = case_state.get(case_id)
        changed = False
        if due != r.amount_due:
            plan.warn(r, FIELD_HEADER["amount_due"], str(r.amount_due),
                      f"该期间已在催缴案件中，应收金额的变更（系统：{due}）未导入，请通过异议或减免处理")
            changed = True
        if due_date != r.due_date:
            plan.warn(r, FIELD_HEADER["due_date"], r.due_date.isoformat(),
                      f"该期间已在催缴案件中，到期日的变更（系统：{due_date}）未导入")
            changed = True
        if r.amount_paid > paid:
            delta = min(r.amount_paid - paid, due - paid - credit)
            if state in FINAL_STATES:
                plan.warn(r, FIELD_HEADER["amount_paid"], str(r.amount_paid),
                          "该期间所在案件已结案，台账实收的变化未导入")
            elif delta > 0:
                plan.payments.append((case_id, line_id, delta, ref, r))
            changed = True
        elif r.amount_paid < paid:
            plan.warn(r, FIELD_HEADER["amount_paid"], str(r.amount_paid),
                      f"系统已登记的实收（{paid}）高于台账，保留系统金额")
            changed = True
        if not changed:
            plan.unchanged += 1
        _add_phones(plan, debtor_id, r)
    _existing_channels(plan)
    _check_policies(plan)
    _find_open_cases(plan)
    return plan


def _resolve_communities(plan: Plan, fixed: Community | None) -> None:
    every = db.session.scalars(sa.select(Community)).all()
    by_code = {c.code: c for c in every}
    by_name = {c.name: c for c in every}
    resolved: dict[str, str] = {}
    for r in plan.rows:
        code = resolved.get(r.community)
        if code is None:
            if fixed is not None:
                code = fixed.code
                plan.communities[code] = fixed
            elif r.community in by_code:
                code = r.community
                plan.communities[code] = by_code[code]
            elif r.community in by_name:
                code = by_name[r.community].code
                plan.communities[code] = by_name[r.community]
            else:
                code = community_code_for(r.community)
                if code in by_code:  # a community created by an earlier import, since renamed
                    plan.communities[code] = by_code[code]
                else:
                    plan.new_communities[code] = r.community
            resolved[r.community] = code
        r.code = code
        r.ref = external_ref(code, r.building, r.unit, r.fee_type, r.period)


def _debtor_for(plan: Plan, r: LedgerRow, uid: int | None, unit_debtors, by_phone,
                warned_units: set) -> Any:
    """The debtor of a new line: the unit's debtor of that name, else one with that name and
    phone, else a new debtor (one per name and phone, or per name and unit without a phone)."""
    if uid is not None:
        known = unit_debtors.get(uid, {})
        if r.debtor in known:
            did = known[r.debtor]
            _add_phones(plan, did, r)
            return did
        if known and uid not in warned_units:
            warned_units.add(uid)
            plan.warn(r, FIELD_HEADER["debtor"], r.debtor,
                      f"该房号的业主与系统记录不一致（系统：{'、'.join(known)}），已作为新业主导入")
    for phone in r.phones:
        did = by_phone.get((r.debtor, phone))
        if did is not None:
            _add_phones(plan, did, r)
            return did
    key = (r.code, r.debtor, r.phones[0]) if r.phones else (r.code, r.debtor, r.building, r.unit)
    entry = plan.new_debtors.get(key)
    if entry is None:
        community = plan.communities.get(r.code)
        cname = community.name if community else plan.new_communities.get(r.code, "")
        entry = plan.new_debtors[key] = {"name": r.debtor,
                                         "address": f"{cname}{r.building}{r.unit}",
                                         "phones": list(r.phones), "row": r.row}
    else:
        entry["phones"].extend(p for p in r.phones if p not in entry["phones"])
    return key


def _add_phones(plan: Plan, debtor_id: int, r: LedgerRow) -> None:
    for phone in r.phones:
        plan.new_channels.append((debtor_id, phone))


def _existing_channels(plan: Plan) -> None:
    ids = sorted({d for d, _ in plan.new_channels})
    have: set[tuple[int, str]] = set()
    for chunk in _chunks(ids):
        have.update(db.session.execute(sa.select(ContactChannel.debtor_id, ContactChannel.value)
                                       .where(member(ContactChannel.debtor_id, chunk))).all())
    out, seen = [], set()
    for item in plan.new_channels:
        if item not in have and item not in seen:
            seen.add(item)
            out.append(item)
    plan.new_channels = out


def _check_policies(plan: Plan) -> None:
    needing = {code for (_, code) in plan.candidates if code in plan.communities}
    ids = [plan.communities[c].id for c in needing]
    with_policy = set(db.session.scalars(sa.select(Policy.community_id).where(
        Policy.community_id.in_(ids)))) if ids else set()
    for code in sorted(needing):
        if plan.communities[code].id not in with_policy:
            first = next((x.row for (_, c), items in plan.candidates.items() if c == code
                          for kind, x in items if kind == "row"), 0)
            plan.errors.append(RowError(first, FIELD_HEADER["community"],
                                        plan.communities[code].name,
                                        "该小区还没有催缴政策，无法立案；请管理员先设置催缴政策"))


def _find_open_cases(plan: Plan) -> None:
    pairs = [(d, plan.communities[c].id) for (d, c) in plan.candidates
             if isinstance(d, int) and c in plan.communities]
    debtor_ids = sorted({d for d, _ in pairs})
    for chunk in _chunks(debtor_ids):
        for cid, did, comm in db.session.execute(
                sa.select(DunningCase.id, DunningCase.debtor_id, DunningCase.community_id)
                .where(member(DunningCase.debtor_id, chunk),
                       DunningCase.state.not_in(FINAL_STATES))):
            plan.open_cases[(did, comm)] = cid


def summarize(plan: Plan) -> tuple[dict[str, int], dict[str, list[str]]]:
    extend = sum(1 for (d, c) in plan.candidates
                 if isinstance(d, int) and c in plan.communities
                 and (d, plan.communities[c].id) in plan.open_cases)
    summary = {
        "rows": len(plan.rows),
        "communities_new": len(plan.new_communities),
        "buildings_new": len(plan.new_buildings),
        "units_new": len(plan.new_units),
        "units_updated": len(plan.unit_updates),
        "debtors_new": len(plan.new_debtors),
        "channels_added": len(plan.new_channels),
        "lines_new": len(plan.new_lines),
        "lines_updated": len(plan.line_updates),
        "lines_unchanged": plan.unchanged,
        "payments": len(plan.payments),
        "cases_opened": len(plan.candidates) - extend,
        "cases_extended": extend,
        "warnings": len(plan.warnings),
    }

    def line_text(r: LedgerRow) -> str:
        return (f"第{r.row}行 {r.building}-{r.unit} {r.debtor} {r.fee_type} {r.period} "
                f"应收{r.amount_due} 实收{r.amount_paid}")

    samples = {
        "communities_new": list(plan.new_communities.values())[:SAMPLES],
        "buildings_new": [f"{b}" for _, b in plan.new_buildings[:SAMPLES]],
        "units_new": [f"{b}-{u}" for (_, b, u) in list(plan.new_units)[:SAMPLES]],
        "debtors_new": [v["name"] for v in list(plan.new_debtors.values())[:SAMPLES]],
        "lines_new": [line_text(r) for r, _ in plan.new_lines[:SAMPLES]],
        "lines_updated": [f"charge_line {u['id']}: " + ", ".join(
            f"{k}={v}" for k, v in u.items() if k not in ("id", "limitation_expiry"))
            for u in plan.line_updates[:SAMPLES]],
        "payments": [f"{line_text(r)}：登记缴费 {delta}"
                     for _, _, delta, _, r in plan.payments[:SAMPLES]],
        "cases": [f"{'追加到已有案件' if _extends(plan, d, c) else '新立案'}："
                  f"{_debtor_label(plan, d)}，{len(items)}期"
                  for (d, c), items in list(plan.candidates.items())[:SAMPLES]],
    }
    return summary, samples


def _extends(plan: Plan, debtor, code: str) -> bool:
    """The debtor already has an open case in that community (new lines join it)."""
    return (isinstance(debtor, int) and code in plan.communities
            and (debtor, plan.communities[code].id) in plan.open_cases)


def _debtor_label(plan: Plan, debtor) -> str:
    if isinstance(debtor, tuple):
        return plan.new_debtors[debtor]["name"]
    return f"业主#{debtor}"


# --- writing -------------------------------------------------------------------------------------


def apply(plan: Plan, user: StaffUser | None, now: datetime,
          progress: Progress | None = None) -> list[int]:
    """Write the plan in one transaction; returns the ids of the cases opened or extended."""
    today = plan.today
    actor = actor_of(user)
    company = current_app.config.get("COMPANY_NAME", "")
    if progress:
        progress("writing", 0, len(plan.new_lines))
    with transaction():
        for code, name in plan.new_communities.items():
            c = Community(code=code, name=name, company_name=company)
            db.session.add(c)
            db.session.flush()
            db.session.add(Policy(community_id=c.id, version=1, data=default_policy(),
                                  created_by_id=user.id if user else None, created_at=now))
            plan.communities[code] = c
        cid = {code: c.id for code, c in plan.communities.items()}
        if plan.new_buildings:
            params = [{"community_id": cid[code], "name": name}
                      for code, name in plan.new_buildings]
            ids = db.session.scalars(sa.insert(Building).returning(
                Building.id, sort_by_parameter_order=True), params).all()
            plan.buildings.update(zip(plan.new_buildings, ids, strict=True))
        if plan.new_units:
            keys = list(plan.new_units)
            params = [{"building_id": plan.buildings[(code, b)], "number": u,
                       "area": plan.new_units[(code, b, u)] or ZERO, "vacant_filed": False}
                      for code, b, u in keys]
            ids = db.session.scalars(sa.insert(Unit).returning(
                Unit.id, sort_by_parameter_order=True), params).all()
            plan.units.update(zip(keys, ids, strict=True))
        if plan.unit_updates:
            db.session.execute(sa.update(Unit), [{"id": uid, "area": area}
                                                 for uid, area in plan.unit_updates.items()])
        debtor_id: dict[Any, int] = {}
        if plan.new_debtors:
            keys = list(plan.new_debtors)
            params = [dict(name=plan.new_debtors[k]["name"], kind="owner", identified=False,
                           address=plan.new_debtors[k]["address"], address_verified=False,
                           written_only=False, unreachable=False, vulnerable=False,
                           communication_style="", household_notes="", created_at=now)
                      for k in keys]
            ids = db.session.scalars(sa.insert(Debtor).returning(
                Debtor.id, sort_by_parameter_order=True), params).all()
            debtor_id.update(zip(keys, ids, strict=True))
            for k in keys:
                for phone in plan.new_debtors[k]["phones"]:
                    plan.new_channels.append((k, phone))
        if plan.new_channels:
            db.session.execute(sa.insert(ContactChannel), [
                {"debtor_id": debtor_id.get(d, d), "kind": "phone", "value": phone,
                 "verified": False, "usable": True} for d, phone in plan.new_channels])
        line_id: dict[int, int] = {}
        table = ChargeLine.__table__
        total = len(plan.new_lines)
        if _postgres() and total:
            _copy_lines(plan, debtor_id, line_id, progress)
            total = 0  # written
        for start in range(0, total, 5000):
            batch = plan.new_lines[start:start + 5000]
            params = [{
                "unit_id": plan.units[(r.code, r.building, r.unit)],
                "debtor_id": debtor_id.get(d, d), "fee_type": r.fee_type,
                "period_label": r.period, "period_start": r.period_start,
                "period_end": r.period_end, "due_date": r.due_date,
                "amount_due": r.amount_due, "amount_paid": r.amount_paid, "credit": ZERO,
                "limitation_expiry": limitation_expiry(r.due_date), "frozen": False,
                "external_ref": r.ref,
            } for r, d in batch]
            ids = db.session.scalars(table.insert().returning(
                table.c.id, sort_by_parameter_order=True), params).all()
            for (r, _), new_id in zip(batch, ids, strict=True):
                line_id[r.row] = new_id
            if progress:
                progress("writing", min(start + 5000, total), total)
        if plan.line_updates:
            db.session.execute(sa.update(ChargeLine), plan.line_updates)
        for case_id, charge_line_id, delta, ref, r in plan.payments:
            record_payment_in_transaction(
                case_id, delta, today, channel="ledger_import",
                external_id=f"ledger:{ref}:{r.amount_paid}"[:128], designated=[charge_line_id],
                user=None, now=now)
        if progress:
            progress("cases", 0, len(plan.candidates))
        requests = [CaseRequest(debtor_id.get(debtor, debtor), cid[code],
                                tuple(sorted(line_id[x.row] if kind == "row" else x
                                             for kind, x in items)))
                    for (debtor, code), items in plan.candidates.items()]
        case_ids = [case.id for case in open_cases(requests, actor, now)]
        if progress:
            progress("cases", len(requests), len(requests))
    return case_ids


COPY_COLUMNS = ("unit_id", "debtor_id", "fee_type", "period_label", "period_start", "period_end",
                "due_date", "amount_due", "amount_paid", "credit", "limitation_expiry", "frozen",
                "external_ref")


def _copy_lines(plan: Plan, debtor_id: dict, line_id: dict[int, int],
                progress: Progress | None) -> None:
    """PostgreSQL: new charge lines by COPY in the import's transaction, then the ids of the
    lines that go into cases (the only ones the import needs back)."""
    connection = db.session.connection()
    note_write(connection)  # COPY bypasses the engine's events
    raw = connection.connection.driver_connection
    total = len(plan.new_lines)
    with raw.cursor() as cur:
        with cur.copy(f"COPY charge_line ({', '.join(COPY_COLUMNS)}) FROM STDIN") as copy:
            for n, (r, d) in enumerate(plan.new_lines, start=1):
                copy.write_row((
                    plan.units[(r.code, r.building, r.unit)], debtor_id.get(d, d), r.fee_type,
                    r.period, r.period_start, r.period_end, r.due_date, r.amount_due,
                    r.amount_paid, ZERO, limitation_expiry(r.due_date), False,
                    r.ref))
                if progress and n % 5000 == 0:
                    progress("writing", n, total)
        wanted = {x.ref: x.row
                  for items in plan.candidates.values() for kind, x in items if kind == "row"}
        refs = list(wanted)
        for start in range(0, len(refs), 50_000):
            cur.execute("SELECT id, external_ref FROM charge_line WHERE external_ref = ANY(%s)",
                        [refs[start:start + 50_000]])
            for new_id, ref in cur.fetchall():
                line_id[wanted[ref]] = new_id
    if progress:
        progress("writing", total, total)


# --- the entry point ----------------------------------------------------------------------------


def import_ledger(source: bytes | str | Path, filename: str | None = None, *,
                  community_code: str | None = None,
                  mapping: str | dict[str, str] | None = None, dry_run: bool = False,
                  user: StaffUser | None = None, now: datetime | None = None,
                  progress: Progress | None = None) -> LedgerResult:
    """Import (or with dry_run, preview) a ledger file; refused files write nothing."""
    started = time.perf_counter()
    now = now or utcnow()
    if user is not None and not user.has_role(*IMPORT_ROLES):
        raise Forbidden("只有管理员或催缴组长可以导入台账。",
                        "Only an admin or supervisor may import.")
    if filename is None:
        filename = "" if isinstance(source, bytes | bytearray) else str(source)
    result = LedgerResult(status="refused", dry_run=dry_run)
    table = None
    try:
        data = read_bytes(source)
        fixed = None
        if community_code:
            fixed = db.session.scalar(sa.select(Community).where(
                Community.code == community_code))
            if fixed is None:
                raise FileRefused([RowError(0, "小区", community_code,
                                            f"小区代码“{community_code}”不存在")])
        table = open_table(data, filename, KNOWN_HEADERS | set((resolve_mapping(mapping) or {})
                                                               .values()))
        cols = column_map(table.headers, LEDGER_FIELDS,
                          {k: normalize_header(v) for k, v in (resolve_mapping(mapping)
                                                               or {}).items()},
                          table.header_row, {"community"} if fixed else set())
        rows, errors = parse_rows(table, cols, fixed, progress)
    except FileRefused as exc:
        result.errors = exc.errors
        return _done(result, started)
    finally:
        if table is not None:
            table.close()
    result.rows = len(rows)
    if errors:
        result.errors = errors
        return _done(result, started)
    if not rows:
        result.errors = [RowError(table.header_row + 1, "", "", "文件没有数据行：表头下面是空的")]
        return _done(result, started)
    if progress:
        progress("checking", 0, len(rows))
    plan = build_plan(rows, fixed, local_date(now))
    result.warnings = plan.warnings
    if plan.errors:
        result.errors = plan.errors
        return _done(result, started)
    result.summary, result.samples = summarize(plan)
    if dry_run:
        result.status = "previewed"
        db.session.rollback()  # the plan only read
        return _done(result, started)
    try:
        result.case_ids = apply(plan, user, now, progress)
    except IntegrityError as exc:
        result.errors = [RowError(0, "", "", "导入期间数据被其他操作修改"
                                              "（例如同时导入了同一文件），"
                                              f"没有写入任何数据，请重新导入：{type(exc.orig).__name__}")]
        return _done(result, started)
    except ServiceError as exc:
        result.errors = [RowError(0, getattr(exc, "field", ""), "", exc.message)]
        return _done(result, started)
    result.status = "imported"
    return _done(result, started)


def _done(result: LedgerResult, started: float) -> LedgerResult:
    result.seconds = time.perf_counter() - started
    return result
