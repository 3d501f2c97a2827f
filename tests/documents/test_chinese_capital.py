"""Amounts in Chinese capitals (大写) and in figures, as on a bank form; Decimal only."""

from decimal import Decimal

import pytest

from documents.money import format_yuan, to_chinese_capital

CAPITALS = [
    ("0.00", "零元整"),
    ("0.01", "壹分"),
    ("0.10", "壹角"),
    ("0.15", "壹角伍分"),
    ("1.00", "壹元整"),
    ("10.00", "壹拾元整"),
    ("10.10", "壹拾元壹角"),
    ("100.05", "壹佰元零伍分"),
    ("325.04", "叁佰贰拾伍元零肆分"),
    ("1001.00", "壹仟零壹元整"),
    ("1010.00", "壹仟零壹拾元整"),
    ("1409.50", "壹仟肆佰零玖元伍角"),
    ("1680.32", "壹仟陆佰捌拾元叁角贰分"),
    ("6007.14", "陆仟零柒元壹角肆分"),
    ("10000.00", "壹万元整"),
    ("12345.67", "壹万贰仟叁佰肆拾伍元陆角柒分"),
    ("16409.02", "壹万陆仟肆佰零玖元零贰分"),
    ("100700.00", "壹拾万零柒佰元整"),
    ("107000.53", "壹拾万柒仟元伍角叁分"),
    ("9999999.99", "玖佰玖拾玖万玖仟玖佰玖拾玖元玖角玖分"),
    ("10000000.01", "壹仟万元零壹分"),
    ("100000000.00", "壹亿元整"),
    ("100010000.00", "壹亿零壹万元整"),
    ("1.5", "壹元伍角"),
    ("2.500", "贰元伍角"),
]


@pytest.mark.parametrize(("amount", "expected"), CAPITALS)
def test_capitals_follow_the_bank_form_rules(amount, expected):
    assert to_chinese_capital(Decimal(amount)) == expected


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        ("0", "¥0.00"),
        ("0.01", "¥0.01"),
        ("12345.67", "¥12,345.67"),
        ("9999999.99", "¥9,999,999.99"),
        ("5", "¥5.00"),
    ],
)
def test_figures_have_a_yuan_sign_separators_and_two_places(amount, expected):
    assert format_yuan(Decimal(amount)) == expected


@pytest.mark.parametrize("amount", ["-0.01", "1.001", "0.005", "NaN", "Infinity"])
@pytest.mark.parametrize("function", [to_chinese_capital, format_yuan])
def test_negative_or_sub_cent_amounts_are_refused(function, amount):
    with pytest.raises(ValueError):
        function(Decimal(amount))


@pytest.mark.parametrize("amount", [1.5, 2, "3.00"])
@pytest.mark.parametrize("function", [to_chinese_capital, format_yuan])
def test_only_decimal_is_accepted_never_float(function, amount):
    with pytest.raises(TypeError):
        function(amount)
