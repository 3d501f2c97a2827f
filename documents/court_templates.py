"""Court drafts (证据清单, 支付令申请书, 民事起诉状) for the template generator.

Only periods within limitation are claimed; time-barred ones are listed apart (legal-rules B4),
a penalty only when contracted (C4, D1). A legal officer reviews every draft before filing.
"""

from docx.document import Document as DocumentObject

from documents import template_blocks as b
from documents.docx_kit import RIGHT, heading, line, loop_table, para, tag, title


def court_barred(doc: DocumentObject, party: str) -> None:
    """Pleadings: time-barred periods are listed apart and not claimed."""
    b.barred(
        doc, f"另，下列期间的费用已超过诉讼时效期间，{party}未将其列入本次请求，单独列明如下："
    )


def court_tail(
    doc: DocumentObject, creditor: str, debtor: str, signer: str, attachments: str
) -> None:
    """Payment channels and an inquiry contact for pleadings, then 此致, signature, attachments."""
    para(doc, f"{debtor}可通过{creditor}下列官方渠道付款，已付金额将从请求中相应扣减：")
    b.channels(doc)
    b.objection(doc, f"{debtor}对欠费明细如有疑问，可", creditor)
    line(doc, "此致")
    line(doc, "{{ court_name }}")
    b.signature(doc, f"{signer}：{{{{ company_name }}}}（盖章）", "{{ issue_date }}")
    line(doc, f"附：{attachments}")


def draft_marker(doc: DocumentObject) -> None:
    """Court drafts carry a marker to delete after the legal officer's review."""
    line(doc, "【草稿：提交法院前须经法务审核，审核后删除本行】", size=9)


def parties_for_court(doc: DocumentObject, creditor: str, debtor: str) -> None:
    """Creditor and debtor as a court expects them."""
    line(
        doc,
        f"{creditor}：{{{{ company_name }}}}，统一社会信用代码：{{{{ credit_code }}}}，住所地："
        "{{ company_address }}，法定代表人：{{ legal_representative }}，"
        "联系电话：{{ company_phone }}。",
    )
    line(
        doc,
        f"{debtor}：{{{{ debtor_name }}}}，身份证号码：{{{{ debtor_id_number }}}}，住址："
        "{{ debtor_address }}，联系电话：{{ debtor_phone }}。",
    )


def court_facts(
    doc: DocumentObject, creditor: str, debtor: str, section: str = "事实与理由"
) -> None:
    """事实与理由: contract, tenancy, arrears table, demands, limitation."""
    heading(doc, section)
    b.fee_clause(
        doc,
        f"{creditor}为{{{{ debtor_unit }}}}所在物业服务区域的物业服务人，{debtor}系该房屋的"
        "{{ debtor_role }}。",
    )
    b.tenant_note(doc, debtor)
    b.arrears(doc, debtor, creditor)
    b.earlier_demands(
        doc, creditor, debtor, f"{debtor}在{{{{ deadline }}}}的付款期限届满后仍未付清上述欠费。"
    )
    court_barred(doc, creditor)


def evidence_list(doc: DocumentObject) -> None:
    """证据清单 in court order, with the arrears detail attached."""
    title(doc, "证据清单")
    line(doc, "编号：{{ doc_number }}", align=RIGHT)
    line(doc, "提交人（原告/申请人）：{{ company_name }}")
    line(
        doc,
        "对方当事人（被告/被申请人）：{{ debtor_name }}（{{ debtor_role }}），"
        "房屋：{{ debtor_unit }}",
    )
    line(doc, "受理法院：{{ court_name }}")
    columns = [
        ("序号", "{{ e.seq }}", 1.2),
        ("证据名称", "{{ e.title }}", 4.8),
        ("证据来源", "{{ e.source }}", 3.2),
        ("证明目的", "{{ e.purpose }}", 5.6),
        ("页数", "{{ e.pages }}", 1.2),
    ]
    loop_table(doc, columns, "for e in evidence")
    court_facts(doc, "原告（申请人）", "被告（被申请人）", "附：欠费明细")
    para(doc, f"法律依据：{b.CIVIL_CODE}{{{{ legal_basis }}}}。")
    court_tail(doc, "原告（申请人）", "被告（被申请人）", "提交人", "证据材料复印件一套")


def payment_order_application(doc: DocumentObject) -> None:
    """支付令申请书 draft: claims within limitation, a penalty only if contracted."""
    title(doc, "支付令申请书")
    draft_marker(doc)
    line(doc, "编号：{{ doc_number }}", align=RIGHT)
    parties_for_court(doc, "申请人", "被申请人")
    heading(doc, "请求事项")
    tag(doc, "{%p for c in claims %}")
    para(doc, "{{ c }}")
    tag(doc, "{%p endfor %}")
    court_facts(doc, "申请人", "被申请人")
    para(
        doc,
        "申请人与被申请人之间没有其他债务纠纷，上述债务金额确定、已经到期，"
        "被申请人在中华人民共和国境内且送达地址明确。"
        f"依据{b.CIVIL_CODE}{{{{ legal_basis }}}}及《中华人民共和国民事诉讼法》"
        "第225条的规定，特向贵院申请发出支付令。",
    )
    court_tail(doc, "申请人", "被申请人", "申请人", "证据清单及证据材料一套；本申请书副本一份")


def complaint(doc: DocumentObject) -> None:
    """民事起诉状 draft: claims within limitation; time-barred periods listed apart."""
    title(doc, "民事起诉状")
    draft_marker(doc)
    line(doc, "编号：{{ doc_number }}", align=RIGHT)
    parties_for_court(doc, "原告", "被告")
    heading(doc, "诉讼请求")
    tag(doc, "{%p for c in claims %}")
    para(doc, "{{ c }}")
    tag(doc, "{%p endfor %}")
    court_facts(doc, "原告", "被告")
    para(
        doc,
        "综上，被告未按约定支付物业费，已构成违约。"
        f"依据{b.CIVIL_CODE}{{{{ legal_basis }}}}的规定，"
        "原告特向贵院提起诉讼，请求依法支持原告的诉讼请求。",
    )
    heading(doc, "证据和证据来源")
    para(doc, "详见证据清单。")
    court_tail(doc, "原告", "被告", "具状人", "本起诉状副本一份；证据清单及证据材料一套")
