"""Generate documents/templates/*.docx (docxtpl Jinja tags) from code.

Run ``python -m documents.build_templates`` after changing the wording, and commit the result.
Legal staff may later edit or replace a template; ``render.validate_template`` checks uploads.
"""

import sys
from collections.abc import Callable
from pathlib import Path

from docx.document import Document as DocumentObject

from documents import template_blocks as b
from documents.contexts import TEMPLATES
from documents.court_templates import complaint, evidence_list, payment_order_application
from documents.docx_kit import (
    CENTER,
    RIGHT,
    heading,
    line,
    loop_table,
    new_document,
    para,
    rule_below,
    save,
    title,
)

OUT_DIR = Path(__file__).resolve().parent / "templates"
ADDRESSEE = [
    "{{ debtor_name }}（{{ debtor_role }}）：",
    "房屋：{{ debtor_unit }}",
    "送达地址：{{ debtor_address }}",
]


def payment_demand(doc: DocumentObject) -> None:
    """催缴通知书 (legal-rules (c), company demand)."""
    title(doc, "物业费催缴通知书")
    line(doc, "编号：{{ doc_number }}", align=RIGHT)
    for text in ADDRESSEE:
        line(doc, text)
    b.fee_clause(doc, "您好！{{ company_name }}（以下简称“我司”）为上述房屋提供物业服务。")
    b.tenant_note(doc, "您")
    b.arrears(doc, "您", "我司")
    b.voluntary_barred(doc, "我司")
    para(
        doc,
        f"依据{b.CIVIL_CODE}{{{{ legal_basis }}}}的规定，当事人应当按照约定全面履行自己的义务，"
        "业主应当按照约定向物业服务人支付物业费。现请您于{{ deadline }}前，通过下列官方渠道之一"
        "付清上述应付金额{{ total }}：",
    )
    b.channels(doc)
    para(
        doc,
        "请勿向任何个人账户付款。付款时请注明房号，我司收款后出具收据或发票。"
        "如确有困难，可与我司协商分期付款。",
    )
    b.objection(doc, "如您对上述欠费期间、金额或物业服务质量有异议，请在付款期限届满前", "我司")
    b.consequences(doc, "如上述期限届满您仍未付清，我司可以")
    para(doc, "特此通知。")
    b.signature(doc, "{{ company_name }}（盖章）", "{{ issue_date }}")
    line(
        doc,
        "送达说明：本通知书密封后以EMS邮政特快专递寄送至上述送达地址，邮件详情单“内件品名”栏"
        "注明“物业费催缴通知书”；或当面交您本人或与您同住的成年家属签收。",
        size=9,
    )
    doc.add_page_break()
    heading(doc, "送达回执（请签收后交回）")
    para(doc, "本人已收到{{ company_name }}编号为{{ doc_number }}的《物业费催缴通知书》。")
    line(doc, "签收人：__________　与{{ debtor_role }}关系：______")
    line(doc, "签收日期：______年____月____日")


def lawyer_letter(doc: DocumentObject) -> None:
    """律师函 under an engagement: letterhead, mandate, facts, 7-15 day deadline."""
    title(doc, "{{ firm_name }}", size=18)
    rule_below(
        line(doc, "地址：{{ firm_address }}　电话：{{ firm_phone }}", align=CENTER, size=10)
    )
    title(doc, "律师函")
    line(doc, "（关于催告支付物业服务费）", align=CENTER)
    line(doc, "函号：{{ doc_number }}", align=RIGHT)
    line(doc, "致：{{ debtor_name }}（{{ debtor_role }}）")
    line(doc, "房屋：{{ debtor_unit }}")
    line(doc, "地址：{{ debtor_address }}")
    para(
        doc,
        "{{ firm_name }}（以下简称“本所”）接受{{ company_name }}（以下简称“委托人”）的委托，"
        "指派{{ lawyer_name }}律师（执业证号：{{ lawyer_license }}）就上述房屋物业服务费欠费事宜，"
        "向您致函如下：",
    )
    heading(doc, "一、基本事实")
    b.fee_clause(doc, "委托人为上述房屋提供物业服务。")
    b.tenant_note(doc, "您")
    b.arrears(doc, "您", "委托人")
    b.earlier_demands(doc, "委托人", "您", "但截至本函发出之日，您仍未付清上述欠费。")
    b.voluntary_barred(doc, "委托人")
    heading(doc, "二、法律依据")
    para(
        doc,
        f"依据{b.CIVIL_CODE}{{{{ legal_basis }}}}的规定及上述合同{{{{ fee_clause }}}}的约定，"
        "业主应当按照约定向物业服务人支付物业费；未按约定履行付款义务的，应当承担继续履行等违约责任。",
    )
    heading(doc, "三、付款要求")
    para(
        doc,
        "本所受委托人委托，现函告您于{{ deadline }}前，将上述应付金额{{ total }}"
        "（人民币{{ total_capital }}）通过委托人下列官方渠道付清：",
    )
    b.channels(doc)
    heading(doc, "四、协商与异议")
    para(
        doc,
        "如您对欠费事实有异议，或希望协商付款方式（包括分期付款），请在上述期限内联系本所"
        "{{ lawyer_name }}律师（电话：{{ lawyer_phone }}）。",
    )
    b.objection(doc, "您也可以", "委托人")
    b.consequences(doc, "如上述期限届满您仍未付清，本所将建议委托人")
    para(doc, "特此函告。")
    line(doc, "附件：物业费对账单（截至{{ statement_date }}）一份")
    b.signature(
        doc,
        "{{ firm_name }}（盖章）",
        "承办律师：{{ lawyer_name }}（签字）",
        "执业证号：{{ lawyer_license }}",
        "{{ issue_date }}",
    )
    line(
        doc,
        "送达说明：本函密封后以EMS邮政特快专递寄送至上述地址，邮件详情单“内件品名”栏注明"
        "“律师函（物业费催缴）”。",
        size=9,
    )


def installment_agreement(doc: DocumentObject) -> None:
    """分期付款协议: installments summing to what is owed, signed by both sides."""
    title(doc, "物业费分期付款协议")
    line(doc, "编号：{{ doc_number }}", align=RIGHT)
    line(doc, "甲方（物业服务人）：{{ company_name }}")
    line(doc, "地址：{{ company_address }}　法定代表人：{{ legal_representative }}")
    line(doc, "乙方（{{ debtor_role }}）：{{ debtor_name }}　身份证号码：{{ debtor_id_number }}")
    line(doc, "房屋：{{ debtor_unit }}　联系地址：{{ debtor_address }}")
    b.fee_clause(doc, "甲方为上述房屋提供物业服务。")
    b.tenant_note(doc, "乙方")
    b.arrears(doc, "乙方", "甲方")
    b.barred(
        doc,
        "另，下列期间的费用已超过诉讼时效期间，甲方已如实告知乙方，是否支付由乙方自愿决定：",
        "{% if plan_includes_barred %}乙方知悉上述情况，自愿将该部分费用纳入本协议分期支付。"
        "{% else %}该部分费用未纳入本协议。{% endif %}",
    )
    para(
        doc,
        f"依据{b.CIVIL_CODE}{{{{ legal_basis }}}}的规定，双方本着平等、自愿的原则，"
        "经协商一致，就分期付款事宜达成如下协议：",
    )
    para(
        doc,
        "一、乙方确认上述欠费，同意分期支付合计{{ plan_total }}"
        "（人民币{{ plan_total_capital }}），并于{{ deadline }}前全部付清，各期如下：",
    )
    columns = [
        ("期次", "{{ i.seq }}", 2.5),
        ("付款日期", "{{ i.due_date }}", 4.0),
        ("付款金额", "{{ i.amount }}", 3.5),
        ("金额大写", "{{ i.amount_capital }}", 6.0),
    ]
    loop_table(doc, columns, "for i in installments")
    para(doc, "二、乙方应通过甲方下列官方渠道付款，并注明房号：")
    b.channels(doc)
    para(doc, "三、乙方按期足额付款期间，甲方不就已纳入本协议的款项另行催告。")
    b.consequences(doc, "四、乙方任何一期付款逾期超过{{ grace_days }}日的，甲方可以就全部未付款项")
    b.objection(doc, "五、乙方对费用明细或物业服务质量有异议的，可", "甲方")
    para(
        doc,
        "六、本协议自双方签字（盖章）之日起生效，一式两份，双方各执一份；当面签署交付即为送达。",
    )
    line(doc, "甲方：{{ company_name }}（盖章）")
    line(doc, "经办人（签字）：____________　日期：{{ issue_date }}")
    line(doc, "乙方（签字）：____________　日期：______年____月____日")


def statement(doc: DocumentObject) -> None:
    """对账单 of every unpaid period, attached to demands and letters."""
    title(doc, "物业费对账单")
    line(doc, "编号：{{ doc_number }}　对账日期：{{ statement_date }}", align=RIGHT)
    line(doc, "物业服务人：{{ company_name }}")
    line(doc, "{{ debtor_role }}：{{ debtor_name }}　房屋：{{ debtor_unit }}")
    b.fee_clause(doc, "")
    b.tenant_note(doc, "{{ debtor_name }}")
    b.arrears(doc, "上述房屋", "物业服务人")
    b.voluntary_barred(doc, "物业服务人")
    para(
        doc,
        f"依据{b.CIVIL_CODE}{{{{ legal_basis }}}}的规定及上述合同约定，请于{{{{ deadline }}}}前"
        "通过下列官方渠道付清应付金额{{ total }}：",
    )
    b.channels(doc)
    b.objection(doc, "如对本对账单有异议，请", "物业服务人")
    b.consequences(doc, "付款期限届满仍未付清的，物业服务人可以")
    b.signature(doc, "{{ company_name }}（盖章）", "{{ issue_date }}")
    line(
        doc,
        "本对账单随物业服务人的书面催告一并寄送（EMS邮件详情单“内件品名”注明“物业费催缴通知书”），"
        "或当面交付签收。",
        size=9,
    )
    heading(doc, "业主核对确认")
    line(doc, "本人对上述对账结果：□ 无异议　□ 有异议（异议事项：____________________）")
    line(doc, "签字：____________　日期：______年____月____日")


WRITERS: dict[str, Callable[[DocumentObject], None]] = {
    "payment_demand": payment_demand,
    "lawyer_letter": lawyer_letter,
    "installment_agreement": installment_agreement,
    "statement": statement,
    "evidence_list": evidence_list,
    "payment_order_application": payment_order_application,
    "complaint": complaint,
}
TITLES = {
    "payment_demand": "物业费催缴通知书",
    "lawyer_letter": "律师函",
    "installment_agreement": "物业费分期付款协议",
    "statement": "物业费对账单",
    "evidence_list": "证据清单",
    "payment_order_application": "支付令申请书",
    "complaint": "民事起诉状",
}


def build_all(out_dir: Path = OUT_DIR) -> list[Path]:
    """Write every template; the same code always writes the same bytes."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for kind, writer in WRITERS.items():
        doc = new_document(TITLES[kind])
        writer(doc)
        path = out_dir / TEMPLATES[kind]
        save(doc, path)
        written.append(path)
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT_DIR
    for written_path in build_all(target):
        print(written_path)
