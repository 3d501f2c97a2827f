"""Money formatting for letters: yuan in figures and in Chinese capital numerals (大写).

Amounts are ``Decimal`` yuan with at most two places, never float, never negative.
"""

from decimal import Decimal

DIGITS = "零壹贰叁肆伍陆柒捌玖"
SMALL_UNITS = ("", "拾", "佰", "仟")
GROUP_UNITS = ("", "万", "亿", "万亿")
CENT = Decimal("0.01")
LIMIT = Decimal(10) ** 16


def check_amount(value: Decimal) -> Decimal:
    """An amount is a finite, non-negative Decimal with at most two decimal places."""
    if not isinstance(value, Decimal):
        raise TypeError(f"amount must be a Decimal, not {type(value).__name__}")
    if not value.is_finite():
        raise ValueError(f"amount must be finite: {value}")
    if value < 0:
        raise ValueError(f"amount must not be negative: {value}")
    if value != value.quantize(CENT):
        raise ValueError(f"amount has more than 2 decimal places: {value}")
    if value >= LIMIT:
        raise ValueError(f"amount too large: {value}")
    return value.quantize(CENT)


def format_yuan(value: Decimal) -> str:
    """Yuan in figures with thousands separators and two places: ¥12,345.67."""
    return f"¥{check_amount(value):,.2f}"


def _group_to_capital(group: int) -> str:
    """Capitals for 0..9999 without a leading 零; inner zero runs collapse to one 零."""
    out: list[str] = []
    pending_zero = False
    for position in range(3, -1, -1):
        digit = group // 10**position % 10
        if digit == 0:
            pending_zero = bool(out)
            continue
        if pending_zero:
            out.append("零")
            pending_zero = False
        out.append(DIGITS[digit] + SMALL_UNITS[position])
    return "".join(out)


def _integer_to_capital(number: int) -> str:
    groups: list[int] = []
    while number:
        groups.append(number % 10000)
        number //= 10000
    out: list[str] = []
    need_zero = False
    for index in range(len(groups) - 1, -1, -1):
        group = groups[index]
        if group == 0:
            need_zero = bool(out)
            continue
        # A lower group below 1000 after a higher one reads with 零: 壹万零伍佰.
        if out and (need_zero or group < 1000):
            out.append("零")
        out.append(_group_to_capital(group) + GROUP_UNITS[index])
        need_zero = False
    return "".join(out)


def to_chinese_capital(value: Decimal) -> str:
    """Amount in 大写 as on a bank form: 壹万贰仟叁佰肆拾伍元陆角柒分, with 整 and 零 as needed."""
    cents = int(check_amount(value) * 100)
    yuan, jiao, fen = cents // 100, cents // 10 % 10, cents % 10
    head = _integer_to_capital(yuan) + "元" if yuan else ""
    if jiao == 0 and fen == 0:
        return (head or "零元") + "整"
    tail = ""
    if jiao:
        tail = DIGITS[jiao] + "角"
    elif head:
        tail = "零"
    if fen:
        tail += DIGITS[fen] + "分"
    return head + tail
