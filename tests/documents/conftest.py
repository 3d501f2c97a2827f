"""Fixtures for the documents package: hostile facts and an independent docx text reader."""

import io
from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest
from docx import Document

from documents.contexts import sample_facts
from documents.facts import Installment, LetterFacts, Party, Penalty, Period

HOSTILE = "A&B <C> \"D\" 'E' {{ debtor_name }} {% if x %} "
HOSTILE_NAME = (HOSTILE + "欧阳·司马长名" * 40)[:200]
HOSTILE_OWNER = "O&O <业主> {{"


def hostile_facts(kind: str, penalty: bool = True, tenant: bool = True) -> LetterFacts:
    """Sample facts with markup in every text field and amounts of 0.01 and 9,999,999.99."""
    base = sample_facts(kind)
    debtor = Party(
        name=HOSTILE_NAME,
        unit="<3栋> & '2单元' 1102室",
        area_m2=Decimal("89.75"),
        address='杭州市 "幸福路" <8号> & {{ x }}',
        role="tenant" if tenant else "owner",
        owner_name=HOSTILE_OWNER if tenant else "",
        id_number="33010619880512000X",
    )
    periods = (
        Period("2025年<第3季度>&", "物业服务费", date(2025, 7, 15), Decimal("9999999.99")),
        Period("2025年'第4季度'", "车位管理费", date(2025, 10, 15), Decimal("0.01")),
        Period(
            "2026年第1季度", "物业服务费", date(2026, 1, 15), Decimal("753.90"), Decimal("753.89")
        ),
        Period(
            "2023年第1季度{{", "物业服务费", date(2023, 1, 15), Decimal("0.01"), time_barred=True
        ),
    )
    company = replace(
        base.company,
        full_name="杭州<安居>&物业服务有限公司",
        payment_channels=("物业服务中心前台 <3栋> & 扫码",),
        contact_person='赵敏 "客服" & <主管>',
    )
    contract = replace(base.contract, name="《前期物业服务合同》&<附件>", fee_clause="第六条<二>")
    facts = replace(
        base,
        debtor=debtor,
        periods=periods,
        company=company,
        contract=contract,
        penalty=Penalty("第十二条&", "每日万分之三 <上限>", date(2025, 7, 16), Decimal("0.01"))
        if penalty
        else None,
    )
    if kind == "installment_agreement":
        owed = Decimal("10000000.01") + (Decimal("0.01") if penalty else Decimal("0"))
        facts = replace(
            facts,
            installments=(
                Installment(date(2026, 12, 15), Decimal("5000000.00")),
                Installment(date(2027, 1, 15), owed - Decimal("5000000.00")),
            ),
            deadline=date(2027, 1, 15),
        )
    return facts


def read_docx_text(data: bytes) -> str:
    """Paragraphs and table cells of a .docx, read with python-docx directly."""
    document = Document(io.BytesIO(data))
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            parts.extend(cell.text for cell in row.cells)
    return "\n".join(parts)


@pytest.fixture
def docx_reader():
    """The independent reader, as a fixture."""
    return read_docx_text
