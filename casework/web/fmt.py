"""How money, dates and times read on the page: ¥1,234.56; 2026年11月23日 in Chinese."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from flask import Flask
from flask_babel import format_date, get_locale

from ..services.clock import SHANGHAI


def is_zh() -> bool:
    return str(get_locale() or "zh").startswith("zh")


def money(value) -> str:
    if value is None or value == "":
        return "—"
    amount = Decimal(str(value)).quantize(Decimal("0.01"))
    sign = "-" if amount < 0 else ""
    return f"{sign}¥{abs(amount):,.2f}"


def day(value) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    if isinstance(value, datetime):
        value = value.astimezone(SHANGHAI).date()
    if is_zh():
        return f"{value.year}年{value.month}月{value.day}日"
    return format_date(value, "medium")


def moment(value) -> str:
    """An aware UTC time, shown in Asia/Shanghai."""
    if value is None:
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    local = value.astimezone(SHANGHAI)
    return f"{day(local.date())} {local:%H:%M}"


def iso_day(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(SHANGHAI).date()
    return value.isoformat()


def percent(value) -> str:
    return "—" if value is None else f"{value}%"


def pretty_json(value) -> str:
    """A payload as readable text, one key a line (plain text: the template escapes it)."""
    import json

    if not isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return "\n".join(f"{key}: {json.dumps(value[key], ensure_ascii=False)}"
                     for key in sorted(value))


def register(app: Flask) -> None:
    app.jinja_env.filters.update(money=money, day=day, moment=moment, iso_day=iso_day,
                                 percent=percent, pretty_json=pretty_json)
