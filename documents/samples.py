"""Realistic sample facts (fictional people and firms) for validating and previewing templates."""

from dataclasses import replace
from datetime import date
from decimal import Decimal

from documents.facts import (
    Company,
    Contract,
    EarlierDemand,
    EvidenceItem,
    Installment,
    LawFirm,
    LetterFacts,
    Party,
    Penalty,
    Period,
)

QUARTER = Decimal("753.90")  # ¥2.80/m²·月 × 89.75 m² × 3

COMPANY = Company(
    full_name="杭州安居物业服务有限公司",
    address="浙江省杭州市西湖区文三路100号安居大厦5楼",
    phone="0571-88880000",
    legal_representative="陈志刚",
    credit_code="91330106MA2XXXXX0Q",
    account_name="杭州安居物业服务有限公司",
    bank_name="中国工商银行杭州文三路支行",
    account_number="1202 0211 0900 1234 567",
    payment_channels=(
        "物业服务中心前台：幸福家园小区3栋底商，工作日9:00—17:30，支持银行卡及扫码，当场开具收据",
        "“安居物业”官方微信公众号“在线缴费”栏目，缴费后自动生成电子票据",
    ),
    contact_person="赵敏（客服主管）",
    contact_phone="0571-88880001",
    contact_hours="工作日9:00—17:30",
)

DEBTOR = Party(
    name="李晓明",
    unit="幸福家园小区3栋2单元1102室",
    area_m2=Decimal("89.75"),
    address="浙江省杭州市西湖区幸福路8号幸福家园小区3栋2单元1102室",
    role="tenant",
    owner_name="王建国",
    id_number="330106198805120000",
    phone="138****5678",
)

CONTRACT = Contract(
    name="《幸福家园前期物业服务合同》",
    number="XF-2019-0312",
    signed_on=date(2019, 5, 20),
    fee_clause="第六条第二款",
    rate_per_m2_month=Decimal("2.80"),
    billing_cycle="按季度交纳，每季度首月15日前交清当季费用",
    service_start=date(2019, 6, 1),
)

PERIODS = (
    Period("2023年第3季度", "物业服务费", date(2023, 7, 15), QUARTER, time_barred=True),
    Period("2023年第4季度", "物业服务费", date(2023, 10, 15), QUARTER, time_barred=True),
    Period("2025年第3季度", "物业服务费", date(2025, 7, 15), QUARTER),
    Period("2025年第4季度", "物业服务费", date(2025, 10, 15), QUARTER),
    Period("2026年第1季度", "物业服务费", date(2026, 1, 15), QUARTER, Decimal("300.00")),
    Period("2026年第2季度", "物业服务费", date(2026, 4, 15), QUARTER),
    Period("2026年第3季度", "物业服务费", date(2026, 7, 15), QUARTER),
    Period("2026年第3季度", "车位管理费", date(2026, 7, 15), Decimal("180.00")),
)

PENALTY = Penalty(
    clause="第十二条",
    rate="每日按逾期未付金额的万分之三",
    start_date=date(2025, 7, 16),
    amount=Decimal("126.38"),
)

FIRM = LawFirm(
    name="浙江明信律师事务所",
    address="浙江省杭州市上城区钱江路58号明信大厦18楼",
    phone="0571-86660000",
    lawyer_name="孙立平",
    lawyer_license="13301201810000000",
    lawyer_phone="0571-86660018",
)

DEMAND = EarlierDemand(
    title="物业费催缴通知书",
    number="AJ-CJ-2026-0153",
    sent_on=date(2026, 6, 2),
    channel="EMS邮政特快专递",
    delivered_on=date(2026, 6, 4),
    deadline=date(2026, 6, 22),
)

LETTER = EarlierDemand(
    title="律师函",
    number="MX-LS-2026-0091",
    sent_on=date(2026, 10, 12),
    channel="EMS邮政特快专递",
    delivered_on=date(2026, 10, 14),
    deadline=date(2026, 10, 27),
)

EVIDENCE = (
    EvidenceItem(
        "《幸福家园前期物业服务合同》", "原告提供（原件）", "双方物业服务合同关系及收费标准", 12
    ),
    EvidenceItem(
        "房屋租赁合同及物业费承担约定", "原告提供（复印件）", "被告为约定的物业费交纳人", 4
    ),
    EvidenceItem("物业费对账单", "原告制作", "被告欠费期间及金额", 2),
    EvidenceItem("物业费催缴通知书及EMS详情单、妥投记录", "原告提供（原件）", "原告已书面催告", 3),
    EvidenceItem(
        "律师函及EMS详情单、妥投记录", "原告提供（原件）", "原告再次催告，被告逾期未付", 3
    ),
    EvidenceItem("催缴联系记录", "原告制作", "原告多次催缴的时间与方式", 2),
)

FACTS = LetterFacts(
    number="AJ-2026-0318",
    issued_on=date(2026, 11, 20),
    statement_date=date(2026, 11, 18),
    deadline=date(2026, 12, 8),
    company=COMPANY,
    debtor=DEBTOR,
    contract=CONTRACT,
    periods=PERIODS,
    penalty=PENALTY,
    firm=FIRM,
    earlier_demands=(DEMAND,),
    evidence=EVIDENCE,
    court="杭州市西湖区人民法院",
)

PLAN = (
    Installment(date(2026, 12, 15), Decimal("1258.63")),
    Installment(date(2027, 1, 15), Decimal("1258.63")),
    Installment(date(2027, 2, 26), Decimal("1258.62")),
)


COURT_KINDS = {"evidence_list", "payment_order_application", "complaint"}


def sample_letter_facts(kind: str) -> LetterFacts:
    """Sample facts for a kind: a plan for the agreement, a passed lawyer letter for court."""
    if kind == "installment_agreement":
        return replace(FACTS, installments=PLAN, deadline=PLAN[-1].due_date)
    if kind in COURT_KINDS:
        return replace(FACTS, earlier_demands=(DEMAND, LETTER), deadline=LETTER.deadline)
    return FACTS
