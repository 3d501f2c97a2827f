"""Plain inputs for letters: what casework maps its rows to before rendering.

All money is ``Decimal`` yuan (2 places), all dates are ``datetime.date``. No ORM, no Flask.
"""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from documents.money import check_amount

DEBTOR_ROLES = {"owner": "业主", "tenant": "承租人", "co_owner": "共有人"}


@dataclass(frozen=True)
class Company:
    """The property-service company (物业服务人), creditor and sender of the letters."""

    full_name: str
    address: str
    phone: str
    legal_representative: str
    credit_code: str  # 统一社会信用代码
    account_name: str  # the official bank account for payments
    bank_name: str
    account_number: str
    payment_channels: tuple[str, ...] = ()  # other official channels, e.g. front desk, app
    contact_person: str = ""  # who handles objections (异议)
    contact_phone: str = ""
    contact_hours: str = ""  # e.g. "工作日 9:00—17:30"


@dataclass(frozen=True)
class Party:
    """The debtor as named in the contract or title; a paying tenant names the owner too."""

    name: str
    unit: str  # the unit as in the contract: 小区、楼栋、房号
    area_m2: Decimal  # billed building area
    address: str  # the verified service address for letters
    role: str = "owner"  # owner | tenant | co_owner
    owner_name: str = ""  # for a tenant: the owner jointly liable (物业管理条例 41)
    id_number: str = ""
    phone: str = ""

    def __post_init__(self) -> None:
        if self.role not in DEBTOR_ROLES:
            raise ValueError(f"unknown debtor role {self.role!r}")
        if self.role == "tenant" and not self.owner_name:
            raise ValueError("a paying tenant needs the owner's name (joint liability)")
        if not isinstance(self.area_m2, Decimal) or self.area_m2 <= 0:
            raise ValueError("area_m2 must be a positive Decimal")


@dataclass(frozen=True)
class Contract:
    """The property-service contract and its fee clause (¥/m²·month × area, billing cycle)."""

    name: str  # e.g. 《前期物业服务合同》
    number: str
    signed_on: date
    fee_clause: str  # e.g. 第六条第二款
    rate_per_m2_month: Decimal
    billing_cycle: str  # e.g. 按季度预交，每季度首月15日前交纳
    service_start: date


@dataclass(frozen=True)
class Penalty:
    """A contractual late-payment penalty (违约金); the amount is already capped by policy."""

    clause: str  # e.g. 第十二条
    rate: str  # the contract's wording, e.g. 每日按欠费金额的万分之三
    start_date: date
    amount: Decimal

    def __post_init__(self) -> None:
        check_amount(self.amount)


@dataclass(frozen=True)
class Period:
    """One unpaid billing period of one fee type; a time-barred one is asked for, never claimed."""

    label: str  # e.g. 2025年第1季度
    fee_type: str  # e.g. 物业服务费
    due_date: date
    amount_due: Decimal
    amount_paid: Decimal = Decimal("0.00")
    time_barred: bool = False

    def __post_init__(self) -> None:
        check_amount(self.amount_due)
        check_amount(self.amount_paid)
        if self.amount_paid > self.amount_due:
            raise ValueError(f"period {self.label}: paid more than due")

    @property
    def balance(self) -> Decimal:
        """What is still owed for this period."""
        return self.amount_due - self.amount_paid


@dataclass(frozen=True)
class LawFirm:
    """The engaged law firm and the assigned lawyer (律师函 mandate)."""

    name: str
    address: str
    phone: str
    lawyer_name: str
    lawyer_license: str  # 执业证号
    lawyer_phone: str


@dataclass(frozen=True)
class EarlierDemand:
    """A demand already sent: the lawyer letter and pleadings recite it as a fact."""

    title: str  # e.g. 物业费催缴通知书
    number: str
    sent_on: date
    channel: str  # e.g. EMS邮政特快专递
    delivered_on: date | None = None
    deadline: date | None = None


@dataclass(frozen=True)
class Installment:
    """One dated installment of a payment plan."""

    due_date: date
    amount: Decimal

    def __post_init__(self) -> None:
        check_amount(self.amount)
        if self.amount == 0:
            raise ValueError("an installment must be more than zero")


@dataclass(frozen=True)
class EvidenceItem:
    """One line of the evidence list (证据清单), in court order."""

    title: str
    source: str  # 证据来源, e.g. 原告提供（原件）
    purpose: str  # 证明目的
    pages: int = 1


@dataclass(frozen=True)
class LetterFacts:
    """Everything one document says about one case; each builder uses and checks its parts."""

    number: str  # unique document number
    issued_on: date
    statement_date: date  # arrears are stated as at this date
    # Letters: the new payment deadline, already rolled to a working day by the caller.
    # Court drafts: the last deadline given (the lawyer letter's), which has passed.
    deadline: date
    company: Company
    debtor: Party
    contract: Contract
    periods: tuple[Period, ...]
    penalty: Penalty | None = None  # None: no penalty clause, rights are reserved
    firm: LawFirm | None = None  # lawyer letter
    earlier_demands: tuple[EarlierDemand, ...] = ()
    installments: tuple[Installment, ...] = ()  # installment agreement
    grace_days: int = 7  # installment agreement: days late before the plan is broken
    evidence: tuple[EvidenceItem, ...] = ()  # evidence list
    court: str = ""  # payment order, complaint, evidence list

    def __post_init__(self) -> None:
        if not self.periods:
            raise ValueError("a letter lists at least one unpaid period")
