"""Blocks of template text shared by the letters: each writes docxtpl tags into a document.

Wording rule (legal-rules G5, A1, B4): factual consequences only, nothing about utilities,
credit records or criminal law, time-barred periods only as a voluntary request.
"""

from docx.document import Document as DocumentObject
from docx.shared import Pt

from documents.docx_kit import RIGHT, line, loop_table, para, tag

# 16 cm of A4 text width. Amounts up to ¥99,999,999.99 and dates such as 2025年10月15日 stay
# on one line at 9 pt (小五) even in DejaVu Serif, the widest stand-in LibreOffice may use for
# Times New Roman; period labels and fee types may wrap.
PERIOD_COLUMNS = [
    ("期间", "{{ p.label }}", 2.6),
    ("费用类型", "{{ p.fee_type }}", 1.9),
    ("应缴日期", "{{ p.due_date }}", 3.1),
    ("应缴金额", "{{ p.amount_due }}", 2.8),
    ("已缴金额", "{{ p.amount_paid }}", 2.8),
    ("欠费余额", "{{ p.balance }}", 2.8),
]
PERIOD_SIZE = Pt(9)
PERIOD_TOTALS = [
    "合计",
    "",
    "",
    "{{ periods_due_total }}",
    "{{ periods_paid_total }}",
    "{{ principal }}",
]
CIVIL_CODE = "《中华人民共和国民法典》"


def fee_clause(doc: DocumentObject, lead: str) -> None:
    """The contract, its fee clause, rate × area and billing cycle."""
    para(
        doc,
        f"{lead}根据{{{{ contract_name }}}}（合同编号：{{{{ contract_number }}}}，签订日期："
        "{{ contract_signed_on }}）{{ fee_clause }}的约定，物业服务费按建筑面积计收，收费标准为"
        "{{ fee_rate }}/m²·月；上述房屋建筑面积{{ area }} m²，每月物业服务费{{ monthly_fee }}；"
        "计费周期：{{ billing_cycle }}。物业服务自{{ service_start }}起提供。",
    )


def tenant_note(doc: DocumentObject, debtor: str) -> None:
    """A paying tenant is the debtor; the owner is jointly liable (物业管理条例 41(1))."""
    tag(doc, "{%p if is_tenant %}")
    para(
        doc,
        f"{debtor}为上述房屋的承租人，已与业主{{{{ owner_name }}}}约定由{debtor}交纳物业费。依据"
        "《物业管理条例》第四十一条第一款，业主{{ owner_name }}对上述费用负连带交纳责任。",
    )
    tag(doc, "{%p endif %}")


def arrears(doc: DocumentObject, debtor: str, creditor: str) -> None:
    """Every unpaid period within limitation, the principal and the penalty or reservation."""
    para(doc, f"经核对，截至{{{{ statement_date }}}}（对账日），{debtor}尚欠下列各期费用：")
    loop_table(doc, PERIOD_COLUMNS, "for p in periods", PERIOD_TOTALS, size=PERIOD_SIZE)
    para(doc, "以上欠费本金合计{{ principal }}（人民币{{ principal_capital }}）。")
    tag(doc, "{%p if has_penalty %}")
    para(
        doc,
        "依据上述合同{{ penalty_clause }}的约定，逾期付款应支付违约金，"
        "标准为：{{ penalty_rate }}；"
        "自{{ penalty_start }}起算，截至对账日违约金为{{ penalty_amount }}"
        "（人民币{{ penalty_capital }}）。",
    )
    tag(doc, "{%p else %}")
    para(doc, f"对于逾期付款的违约责任，{creditor}保留依法主张的权利。")
    tag(doc, "{%p endif %}")
    para(doc, "以上应付金额合计{{ total }}（人民币{{ total_capital }}）。")


def barred(doc: DocumentObject, intro: str, after: str = "") -> None:
    """Time-barred periods, apart from the claim and worded so nothing is enforced (B4)."""
    tag(doc, "{%p if has_barred %}")
    para(doc, intro)
    loop_table(doc, PERIOD_COLUMNS, "for p in barred_periods", size=PERIOD_SIZE)
    para(doc, "上述期间费用合计{{ barred_total }}（人民币{{ barred_total_capital }}）。" + after)
    tag(doc, "{%p endif %}")


def voluntary_barred(doc: DocumentObject, creditor: str) -> None:
    """Letters: a time-barred sum is only asked for; paying it is the debtor's free choice."""
    barred(
        doc,
        "另需如实告知：下列期间的费用已超过法律规定的诉讼时效期间，未计入上述应付金额。"
        f"对该部分费用，{creditor}仅提出付款请求，是否支付由您自愿决定。",
    )


def earlier_demands(doc: DocumentObject, creditor: str, debtor: str, closing: str) -> None:
    """The written demands already delivered, with their dates, then what followed."""
    para(doc, f"{creditor}已就上述欠费向{debtor}进行书面催告：")
    tag(doc, "{%p for d in earlier_demands %}")
    line(doc, "　　{{ d.text }}；")
    tag(doc, "{%p endfor %}")
    para(doc, closing)


def channels(doc: DocumentObject) -> None:
    """The official payment channels, numbered in Python."""
    tag(doc, "{%p for c in payment_channels %}")
    line(doc, "　　{{ c }}")
    tag(doc, "{%p endfor %}")


def objection(doc: DocumentObject, lead: str, company: str) -> None:
    """How to object or ask: contact person, hours and the service levels (E2)."""
    para(
        doc,
        f"{lead}联系{company}{{{{ contact_person }}}}（电话：{{{{ contact_phone }}}}，接待时间："
        f"{{{{ contact_hours }}}}），或以书面方式提出。{company}将在2个工作日内答复受理，"
        "15个工作日内书面答复。",
    )


def consequences(doc: DocumentObject, lead: str) -> None:
    """Factual lawful next steps only (民法典 944)."""
    para(
        doc,
        f"{lead}依据{CIVIL_CODE}第944条的规定，依法向人民法院申请支付令、提起诉讼或者申请仲裁。",
    )


def signature(doc: DocumentObject, *lines: str) -> None:
    """Right-aligned signature lines: names, seal placeholder, date."""
    for text in lines:
        line(doc, text, align=RIGHT)
