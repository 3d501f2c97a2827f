"""Formatting for letters: single-line text, Chinese dates, table rows (money via money.py)."""

import re
from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from documents.facts import EarlierDemand, Period
from documents.money import format_yuan

NUMERALS = "零一二三四五六七八九"
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_BREAKS = re.compile(r"[\t\r\n\x07]+")


def clean(text: str) -> str:
    """A single-line value: no XML-illegal characters, tabs or line breaks, no outer spaces."""
    return _BREAKS.sub(" ", _XML_ILLEGAL.sub("", text)).strip()


def format_date(value: date) -> str:
    """A date as written in Chinese letters: 2026年12月8日."""
    return f"{value.year}年{value.month}月{value.day}日"


def number(decimal: Decimal) -> str:
    """A Decimal as written, without exponent: 89.75."""
    return format(decimal, "f")


def sum_amounts(amounts: Iterable[Decimal]) -> Decimal:
    """The sum of amounts, ¥0.00 when there are none."""
    return sum(amounts, Decimal("0.00"))


def period_rows(periods: Iterable[Period]) -> list[dict[str, str]]:
    """Table rows of periods, every value formatted."""
    return [
        {
            "label": clean(p.label),
            "fee_type": clean(p.fee_type),
            "due_date": format_date(p.due_date),
            "amount_due": format_yuan(p.amount_due),
            "amount_paid": format_yuan(p.amount_paid),
            "balance": format_yuan(p.balance),
        }
        for p in periods
    ]


def demand_row(demand: EarlierDemand) -> dict[str, str]:
    """An earlier demand as a sentence for letters and pleadings."""
    text = (
        f"{format_date(demand.sent_on)}以{clean(demand.channel)}寄送"
        f"《{clean(demand.title)}》（编号：{clean(demand.number)}）"
    )
    if demand.delivered_on:
        text += f"，该文书已于{format_date(demand.delivered_on)}送达"
    if demand.deadline:
        text += f"，载明的付款期限为{format_date(demand.deadline)}"
    return {
        "title": clean(demand.title),
        "number": clean(demand.number),
        "sent_on": format_date(demand.sent_on),
        "text": text,
    }


def ordinal(n: int) -> str:
    """1..99 in Chinese numerals as used for list items: 一, 十, 十二, 二十三."""
    if not 1 <= n <= 99:
        raise ValueError(f"ordinal out of range: {n}")
    tens, ones = divmod(n, 10)
    head = "" if tens == 0 else ("十" if tens == 1 else NUMERALS[tens] + "十")
    return head + (NUMERALS[ones] if ones else "")


def numbered(items: Iterable[str]) -> list[str]:
    """Items numbered （一）（二）… as in Chinese letters."""
    return [f"（{ordinal(i)}）{item}" for i, item in enumerate(items, start=1)]
