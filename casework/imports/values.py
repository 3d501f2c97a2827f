"""Cell values of a ledger as people type them: money, dates, billing periods, phone numbers.

Every parser raises ValueError with the reason in Chinese; the caller names the row and column.
"""

from __future__ import annotations

import calendar
import re
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

EXCEL_EPOCH = date(1899, 12, 30)  # the 1900 date system, past Lotus' phantom 29 February
SERIAL_RANGE = (20000, 80000)  # 1954..2119: a number in this range in a date column is a serial

_MONEY_NOISE = re.compile(r"[\s,，¥￥元]")
_MONEY = re.compile(r"^[+-]?(\d+)(\.(\d*))?$")
_YMD = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")
_YMD_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_YM = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*月?(份)?$")
_YM_COMPACT = re.compile(r"^(\d{4})(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})\s*(?:年)?\s*(?:第\s*([1-4一二三四])\s*季度?|[Qq]([1-4]))$")
_YEAR = re.compile(r"^(\d{4})\s*年?度?$")
_RANGE = re.compile(r"^(.+?)\s*(?:至|到|~|～|—|--)\s*(.+)$")
_PHONE_SPLIT = re.compile(r"[/,，、;；]+")
_PHONE = re.compile(r"^(\+?86)?(1\d{10}|0\d{2,3}-?\d{7,8}(-\d{1,6})?|\d{7,8})$")
CN_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4}


def text(value) -> str:
    """A cell as text: numbers typed into a text column (101, 101.0) lose the '.0'."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else str(value)
    return str(value).replace("\u3000", " ").strip()


def money(value) -> Decimal:
    """Yuan, at most 2 decimals, not negative. Excel floats are read at Excel's 15 digits."""
    if isinstance(value, bool):
        raise ValueError("不是有效的金额")
    if isinstance(value, int):
        raw = str(value)
    elif isinstance(value, float):
        raw = format(value, ".15g")
        if "e" in raw or "E" in raw:
            raw = format(Decimal(raw), "f")
    else:
        raw = _MONEY_NOISE.sub("", text(value))
    match = _MONEY.match(raw)
    if not match:
        raise ValueError("不是有效的金额")
    if raw.startswith("-") and Decimal(raw) != 0:
        raise ValueError("金额不能为负数")
    if match.group(3) and len(match.group(3).rstrip("0")) > 2:
        raise ValueError("金额最多保留两位小数")
    try:
        amount = Decimal(raw.lstrip("+-")).quantize(Decimal("0.01"))
    except InvalidOperation as exc:
        raise ValueError("不是有效的金额") from exc
    if amount >= Decimal("10000000000"):
        raise ValueError("金额过大")
    return amount


def from_serial(serial: float) -> date:
    if not SERIAL_RANGE[0] <= serial <= SERIAL_RANGE[1]:
        raise ValueError("不是有效的日期")
    return EXCEL_EPOCH + timedelta(days=int(serial))


def _ymd(y: str, m: str, d: str) -> date:
    try:
        return date(int(y), int(m), int(d))
    except ValueError as exc:
        raise ValueError("日期不存在") from exc


def parse_date(value) -> date:
    """2024-01-31, 2024/1/31, 2024.1.31, 2024年1月31日, 20240131, Excel serials and cells."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return from_serial(value)
    raw = text(value)
    if not raw:
        raise ValueError("日期为空")
    raw = raw.split(" ")[0] if re.match(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}", raw) else raw
    if m := _YMD.match(raw):
        return _ymd(*m.groups())
    if m := _YMD_COMPACT.match(raw):
        return _ymd(*m.groups())
    if re.fullmatch(r"\d{5}(\.\d+)?", raw):
        return from_serial(float(raw))
    raise ValueError("不是有效的日期（可用格式：2024-01-31、2024/1/31、2024年1月31日）")


def _month(y: int, m: int) -> tuple[str, date, date]:
    if not 1 <= m <= 12 or not 1900 <= y <= 2200:
        raise ValueError("所属期的月份不正确")
    last = calendar.monthrange(y, m)[1]
    return f"{y}年{m:02d}月", date(y, m, 1), date(y, m, last)


def parse_period(value) -> tuple[str, date, date]:
    """A billing period as (label, first day, last day).

    Months (2024-01, 2024年1月, 202401, 2024/01, or a date cell: its month), quarters
    (2024年第1季度, 2024Q1), years (2024年度) and ranges (2024-01-01至2024-06-30).
    """
    if isinstance(value, datetime | date):
        d = value.date() if isinstance(value, datetime) else value
        return _month(d.year, d.month)
    raw = text(value).replace(" ", "")
    if not raw:
        raise ValueError("所属期为空")
    if m := _YM.match(raw):
        return _month(int(m.group(1)), int(m.group(2)))
    if m := _YM_COMPACT.match(raw):
        return _month(int(m.group(1)), int(m.group(2)))
    if m := _QUARTER.match(raw):
        y, q = int(m.group(1)), m.group(2) or m.group(3)
        q = CN_DIGITS.get(q) or int(q)
        start = date(y, 3 * q - 2, 1)
        end = date(y, 3 * q, calendar.monthrange(y, 3 * q)[1])
        return f"{y}年第{q}季度", start, end
    if m := _YEAR.match(raw):
        y = int(m.group(1))
        if not 1900 <= y <= 2200:
            raise ValueError("所属期的年份不正确")
        return f"{y}年度", date(y, 1, 1), date(y, 12, 31)
    if m := _RANGE.match(raw):
        start, end = parse_date(m.group(1)), parse_date(m.group(2))
        if end < start:
            raise ValueError("所属期的结束日期早于开始日期")
        return f"{start.isoformat()}至{end.isoformat()}", start, end
    raise ValueError("不是有效的所属期（可用格式：2024-01、2024年1月、2024年第1季度、"
                     "2024-01-01至2024-06-30）")


def phones(value) -> tuple[str, ...]:
    """One or more phone numbers in a cell, normalised (spaces and +86 removed)."""
    raw = text(value)
    if not raw:
        return ()
    out: list[str] = []
    for chunk in _PHONE_SPLIT.split(raw):
        joined = re.sub(r"\s+", "", chunk)
        parts = [joined] if _PHONE.match(joined) else chunk.split()
        for part in parts:
            if not part:
                continue
            m = _PHONE.match(part)
            if not m:
                raise ValueError("电话号码格式不正确")
            if m.group(2) not in out:
                out.append(m.group(2))
    return tuple(out)
