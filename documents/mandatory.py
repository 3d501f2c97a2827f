"""Mandatory contents of each document (legal-rules (c)), checked on the rendered text."""

from typing import Any

OBJECTION_SERVICE_LEVEL = "2个工作日内答复受理，15个工作日内书面答复"
RESERVATION = "保留依法主张的权利"
EMS_ITEM_NAME = "物业费催缴通知书"
COURT_KINDS = {"evidence_list", "payment_order_application", "complaint"}
SEALED_KINDS = {"payment_demand", "lawyer_letter", "installment_agreement", "statement"}


def required_values(kind: str, context: dict[str, Any]) -> dict[str, str]:
    """What must appear in the rendered text of a kind: description -> exact text."""
    c = context
    need = {
        "债务人姓名": c["debtor_name"],
        "房屋": c["debtor_unit"],
        "文书编号": c["doc_number"],
        "文书日期": c["issue_date"],
        "对账日期": c["statement_date"],
        "付款期限": c["deadline"],
        "合同名称": c["contract_name"],
        "收费条款": c["fee_clause"],
        "收费标准": f"{c['fee_rate']}/m²·月",
        "建筑面积": c["area"],
        "计费周期": c["billing_cycle"],
        "欠费本金": c["principal"],
        "欠费本金大写": c["principal_capital"],
        "应付合计": c["total"],
        "应付合计大写": c["total_capital"],
        "法律依据第509条": "第509条",
        "法律依据第577条": "第577条",
        "法律依据第944条": "第944条",
        "收款账号": c["account_number"],
        "异议联系人": c["contact_person"],
        "异议联系电话": c["contact_phone"],
        "异议处理时限": OBJECTION_SERVICE_LEVEL,
        "公司全称": c["company_name"],
    }
    for n, row in enumerate(c["periods"], start=1):
        need[f"欠费期间{n}（{row['label']}）"] = row["label"]
        need[f"欠费期间{n}余额"] = row["balance"]
    if c["has_penalty"]:
        need |= {
            "法律依据第585条": "第585条",
            "违约金金额": c["penalty_amount"],
            "违约金大写": c["penalty_capital"],
            "违约金标准": c["penalty_rate"],
            "违约金起算日": c["penalty_start"],
        }
    else:
        need["未约定违约金时的权利保留"] = RESERVATION
    if c["has_barred"]:
        need["超过诉讼时效的欠费合计"] = c["barred_total"]
        for n, row in enumerate(c["barred_periods"], start=1):
            need[f"超过诉讼时效的期间{n}（{row['label']}）"] = row["label"]
    if c["is_tenant"]:
        need["业主连带责任"] = c["owner_name"]
    if kind in SEALED_KINDS:
        need["盖章处"] = "（盖章）"
    if kind not in COURT_KINDS:
        need["依法可采取的措施"] = "支付令"
    if kind == "payment_demand":
        need["EMS内件品名"] = EMS_ITEM_NAME
    if kind == "lawyer_letter":
        need |= {
            "律师事务所": c["firm_name"],
            "承办律师": c["lawyer_name"],
            "律师执业证号": c["lawyer_license"],
            "附对账单": "对账单",
        }
        for n, row in enumerate(c["earlier_demands"], start=1):
            need[f"此前催告{n}的日期"] = row["sent_on"]
    if kind == "installment_agreement":
        need["分期合计"] = c["plan_total"]
        need["分期合计大写"] = c["plan_total_capital"]
        for n, row in enumerate(c["installments"], start=1):
            need[f"第{n}期付款日"] = row["due_date"]
            need[f"第{n}期金额"] = row["amount"]
    if kind in COURT_KINDS:
        need["受理法院"] = c["court_name"]
    if kind == "evidence_list":
        for row in c["evidence"]:
            need[f"证据{row['seq']}"] = row["title"]
    if kind in {"payment_order_application", "complaint"}:
        for n, claim in enumerate(c["claims"], start=1):
            need[f"请求事项{n}"] = claim
    return need


def missing_contents(kind: str, text: str, context: dict[str, Any]) -> list[str]:
    """Descriptions of the mandatory items that the rendered text lacks."""
    return [
        f"{label}：“{value}”"
        for label, value in required_values(kind, context).items()
        if value and value not in text
    ]
