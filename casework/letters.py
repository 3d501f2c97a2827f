"""Letters of a case: database rows -> documents.facts -> rendered, stored, sent, proven.

* ``letter_facts(doc)`` maps a Document row and its case to ``documents.facts.LetterFacts``.
* ``render_stored(id)`` renders a pending Document into the store (the RQ job's body); a
  second run changes nothing, a legal rule the facts break marks the document failed.
* ``record_dispatch`` / ``attach_proof``: how a letter left, and the proof that it arrived.
* ``upload_template``: a new template version, accepted only when it validates.
* ``run_batch`` / ``evidence_pack_for``: one zip for a building's demands, or for a court.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Iterable, Sequence
from contextvars import ContextVar
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app
from jinja2 import TemplateError
from rq import Retry
from sqlalchemy.orm import selectinload

from documents.batch import ContactEntry, PackFile, ServedDocument, contact_log_csv, zip_documents
from documents.batch import evidence_pack as build_evidence_pack
from documents.contexts import TEMPLATES, build_context
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
from documents.lint import lint_text
from documents.render import (
    find_office,
    render_docx,
    render_letter,
    sha256_hex,
    to_pdfs,
    validate_template,
)

from . import audit, storage
from .extensions import db
from .models import (
    BUILTIN_VERSION,
    Building,
    CaseEvent,
    ChargeLine,
    ContactAttempt,
    Dispute,
    Document,
    DocumentBatch,
    DunningCase,
    PaymentPlan,
    Policy,
    StaffUser,
    TemplateVersion,
    Unit,
    utcnow,
)
from .policy import merged
from .services.access import actor_of, ensure_can_act
from .services.clock import local_date, working_calendar
from .services.errors import Forbidden, InvalidInput, NotFound
from .services.uow import after_commit, transaction

log = logging.getLogger("casework.letters")

CENT = Decimal("0.01")
SHANGHAI = ZoneInfo("Asia/Shanghai")
RETRY = Retry(max=3, interval=[10, 30, 60])
STALE_ENQUEUE = timedelta(minutes=15)  # a pending document enqueued this long ago: job lost

TITLES = {
    "payment_demand": "物业费催缴通知书",
    "lawyer_letter": "律师函",
    "installment_agreement": "分期付款协议",
    "statement": "物业费对账单",
    "evidence_list": "证据清单",
    "payment_order_application": "支付令申请书",
    "complaint": "民事起诉状",
}
CODES = {"payment_demand": "CJ", "lawyer_letter": "LS", "installment_agreement": "FQ",
         "statement": "DZ", "evidence_list": "ZJ", "payment_order_application": "ZFL",
         "complaint": "QS"}
COURT_KINDS = ("evidence_list", "payment_order_application", "complaint")
SENT_KINDS = ("payment_demand", "lawyer_letter", "installment_agreement", "statement")
DISPATCH_CHANNELS = {"ems": "EMS邮政特快专递", "hand": "专人直接送达", "registered_mail": "挂号信",
                     "sms": "短信"}
CONTACT_CHANNELS = {"phone": "电话", "sms": "短信", "wechat": "微信", "letter": "信函",
                    "visit": "上门", "email": "电子邮件"}
PERSONS = {"debtor": "本人", "co_owner": "共有人", "tenant": "承租人",
           "family_adult": "同住成年家属",
           "none": "未联系上"}
OUTCOMES = {"no_answer": "未接通", "sent": "已发送", "reached": "已沟通", "promised": "承诺付款",
            "refused": "拒绝付款", "disputed": "提出异议", "paid": "已付款"}
PROOF_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".heic", ".tif", ".tiff", ".pdf",
                    ".txt")
MAX_PROOF_BYTES = 20 * 1024 * 1024
STORE_PREFIX = "store:"

COMPANY_KEYS = {  # key -> what it is, for the message naming what is missing
    "full_name": "公司全称", "address": "公司地址", "phone": "公司电话",
    "account_name": "收款账户户名", "bank_name": "开户银行", "account_number": "收款账号",
    "contact_person": "异议联系人", "contact_phone": "异议联系电话",
    "contact_hours": "异议受理时间",
}
COURT_COMPANY_KEYS = {"legal_representative": "法定代表人", "credit_code": "统一社会信用代码"}
CONTRACT_KEYS = {
    "name": "合同名称", "number": "合同编号", "signed_on": "合同签订日期",
    "fee_clause": "收费条款", "rate_per_m2_month": "收费标准（元/平方米·月）",
    "billing_cycle": "计费周期", "service_start": "物业服务开始日期",
}
FIRM_KEYS = {"name": "律师事务所名称", "address": "律师事务所地址", "phone": "律师事务所电话",
             "lawyer_name": "承办律师", "lawyer_license": "律师执业证号",
             "lawyer_phone": "承办律师电话"}


# -- mapping rows to facts ----------------------------------------------------------------------

# While render_many works through a batch, what its letters read from the database is loaded
# for the whole batch at once (see _prefetch) and kept here; elsewhere everything is queried.
_batch: ContextVar[dict[Any, Any] | None] = ContextVar("casework_letters_batch", default=None)


def _batched(key: Any, compute: Callable[[], Any]) -> Any:
    memo = _batch.get()
    if memo is None:
        return compute()
    if key not in memo:
        memo[key] = compute()
    return memo[key]


def letter_policy(community_id: int) -> dict[str, Any]:
    """The community's newest policy: letters always print the current company data."""
    def newest() -> dict[str, Any]:
        policy = db.session.scalars(sa.select(Policy).where(Policy.community_id == community_id)
                                    .order_by(Policy.version.desc())).first()
        return merged(policy.data if policy else None)

    return _batched(("policy", community_id), newest)


def document_number(case: DunningCase, kind: str, doc_id: int, prefix: str = "") -> str:
    """A unique, stable number: prefix + case number + kind code + document id."""
    return f"{prefix}{case.number}-{CODES[kind]}-{doc_id:04d}"


def _text(block: dict[str, Any], key: str) -> str:
    value = block.get(key)
    return "" if value is None else str(value).strip()


def _missing(block: dict[str, Any], name: str, keys: dict[str, str]) -> list[str]:
    return [f"{name}.{key}（{label}）" for key, label in keys.items() if not _text(block, key)]


def _company(case: DunningCase, data: dict[str, Any], court: bool) -> tuple[Company, list[str]]:
    block = dict(data["company"])
    community = case.community
    block["full_name"] = (_text(block, "full_name") or community.company_name
                          or current_app.config.get("COMPANY_NAME") or "")
    block["address"] = _text(block, "address") or community.address or ""
    block["account_name"] = _text(block, "account_name") or block["full_name"]
    block["contact_phone"] = _text(block, "contact_phone") or _text(block, "phone")
    missing = _missing(block, "company", COMPANY_KEYS)
    if court:
        missing += _missing(block, "company", COURT_COMPANY_KEYS)
    channels = tuple(str(c).strip() for c in block.get("payment_channels") or () if str(c).strip())
    company = Company(
        full_name=block["full_name"], address=block["address"], phone=_text(block, "phone"),
        legal_representative=_text(block, "legal_representative"),
        credit_code=_text(block, "credit_code"), account_name=block["account_name"],
        bank_name=_text(block, "bank_name"), account_number=_text(block, "account_number"),
        payment_channels=channels, contact_person=_text(block, "contact_person"),
        contact_phone=block["contact_phone"], contact_hours=_text(block, "contact_hours"))
    return company, missing


def _date_value(block: dict[str, Any], key: str) -> date | None:
    try:
        return date.fromisoformat(_text(block, key))
    except ValueError:
        return None


def _contract(data: dict[str, Any]) -> tuple[Contract | None, list[str]]:
    block = data["contract"]
    missing = _missing(block, "contract", CONTRACT_KEYS)
    try:
        rate = Decimal(_text(block, "rate_per_m2_month"))
    except InvalidOperation:
        rate = None
    signed, start = _date_value(block, "signed_on"), _date_value(block, "service_start")
    for key, value in (("signed_on", signed), ("service_start", start)):
        if value is None and _text(block, key):
            missing.append(f"contract.{key}（{CONTRACT_KEYS[key]}，格式YYYY-MM-DD）")
    if (rate is None or rate <= 0) and _text(block, "rate_per_m2_month"):
        missing.append("contract.rate_per_m2_month（收费标准须为大于0的金额）")
    if missing:
        return None, missing
    assert rate is not None and signed is not None and start is not None
    return Contract(name=_text(block, "name"), number=_text(block, "number"), signed_on=signed,
                    fee_clause=_text(block, "fee_clause"), rate_per_m2_month=rate,
                    billing_cycle=_text(block, "billing_cycle"), service_start=start), []


def _firm(data: dict[str, Any]) -> tuple[LawFirm | None, list[str]]:
    block = data["law_firm"]
    missing = _missing(block, "law_firm", FIRM_KEYS)
    if missing:
        return None, missing
    return LawFirm(**{key: _text(block, key) for key in FIRM_KEYS}), []


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def _party(case: DunningCase, lines: Sequence[ChargeLine], court: bool) -> Party:
    debtor = case.debtor
    _require(debtor.identified, "欠费责任人（业主/承租人）尚未核实，不能出具文书。")
    unit: Unit = lines[0].unit
    label = f"{case.community.name}{unit.building.name}{unit.number}"
    _require(unit.area is not None and unit.area > 0,
             f"房屋{label}未登记建筑面积，无法列明收费标准。")
    role = debtor.kind if debtor.kind in ("owner", "tenant", "co_owner") else "owner"
    owner = (debtor.owner_name or "").strip()
    _require(role != "tenant" or bool(owner),
             "承租人为交费义务人时，须登记业主姓名（业主承担连带责任）。")
    address = (debtor.address or "").strip() or " ".join(
        part for part in (case.community.address, label) if part)
    phone = (debtor.phone() or "") if court else ""  # letters never print the phone number
    return Party(name=debtor.name.strip(), unit=label, area_m2=unit.area, address=address,
                 role=role, owner_name=owner if role == "tenant" else "", phone=phone)


def _periods(lines: Iterable[ChargeLine], issued: date) -> tuple[Period, ...]:
    return tuple(
        Period(label=line.period_label, fee_type=line.fee_type, due_date=line.due_date,
               amount_due=line.amount_due, amount_paid=line.amount_paid + line.credit,
               time_barred=line.time_barred(issued))
        for line in lines)


_DIGITS = "零一二三四五六七八九"


def _small_chinese(n: int) -> str:
    tens, ones = divmod(n, 10)
    head = "" if tens == 0 else ("十" if tens == 1 else _DIGITS[tens] + "十")
    return head + (_DIGITS[ones] if ones else "")


def rate_wording(rate: Decimal) -> str:
    """A daily rate as contracts word it: 0.0003 -> 每日按逾期未付金额的万分之三."""
    per_10k = rate * 10000
    if per_10k == per_10k.to_integral_value() and 1 <= per_10k <= 99:
        return f"每日按逾期未付金额的万分之{_small_chinese(int(per_10k))}"
    return f"每日按逾期未付金额的{format((rate * 100).normalize(), 'f')}%"


def penalty_for(case: DunningCase, lines: Sequence[ChargeLine], as_of: date,
                data: dict[str, Any], timing: dict[str, Any]) -> Penalty | None:
    """The contractual penalty (违约金) to claim, or None (rights reserved).

    Only lines with a contracted daily rate accrue, from the day after their due date to
    `as_of`. Each line is capped at the 1-year LPR x the policy multiple (legal-rules C2),
    the total never exceeds the principal, and an open service-quality dispute stops accrual
    (C3). Time-barred periods accrue nothing.
    """
    accruing = [line for line in lines if line.contract_daily_rate and line.balance > 0
                and not line.time_barred(as_of) and line.due_date < as_of]
    if not accruing:
        return None
    memo = _batch.get()
    if memo is not None and "quality_disputes" in memo:
        quality_dispute = case.id in memo["quality_disputes"]
    else:
        quality_dispute = db.session.scalar(sa.select(sa.func.count(Dispute.id)).where(
            Dispute.case_id == case.id, Dispute.status == "open",
            Dispute.category == "service_quality"))
    if quality_dispute:
        return None
    lpr = Decimal(str(timing.get("lpr") or current_app.config.get("DEFAULT_LPR", "0.03")))
    yearly_cap = lpr * Decimal(str(timing["penalty_cap_lpr_multiple"]))
    total = Decimal("0")
    for line in accruing:
        days = (as_of - line.due_date).days
        contractual = line.balance * line.contract_daily_rate * days
        capped = line.balance * yearly_cap * days / Decimal(365)
        total += min(contractual, capped)
    principal = sum((line.balance for line in lines if not line.time_barred(as_of)), Decimal(0))
    # what a supervisor waived (违约金减免) is never asked for again
    from .models import LateFeeWaiver

    waived = sum(db.session.scalars(sa.select(LateFeeWaiver.amount).where(
        LateFeeWaiver.case_id == case.id)), Decimal(0))
    amount = (min(total, principal) - waived).quantize(CENT, rounding=ROUND_HALF_UP)
    if amount <= 0:
        return None
    clause = _text(data["contract"], "penalty_clause")
    _require(bool(clause), "合同约定了违约金，但催缴政策缺少违约金条款：contract.penalty_clause。")
    rate = max(line.contract_daily_rate for line in accruing)
    wording = _text(data["contract"], "penalty_rate_text") or rate_wording(rate)
    start = min(line.due_date for line in accruing) + timedelta(days=1)
    return Penalty(clause=clause, rate=wording, start_date=start, amount=amount)


def _event(doc: Document) -> CaseEvent | None:
    return _batched(("event", doc.case_id, doc.event_seq), lambda: db.session.scalars(
        sa.select(CaseEvent).where(CaseEvent.case_id == doc.case_id,
                                   CaseEvent.seq == doc.event_seq)).first())


def issue_date(doc: Document) -> date:
    """The letter's date: the day (in Shanghai) of the event that caused it."""
    event = _event(doc)
    return local_date(event.at if event else doc.created_at)


def _sent_on(doc: Document) -> date:
    return local_date(doc.dispatched_at) if doc.dispatched_at else issue_date(doc)


def _earlier(case: DunningCase, before_id: int, kinds: Sequence[str]) -> list[Document]:
    """Demands and letters of the case made before `before_id` that were actually sent."""
    memo = _batch.get()
    if memo is not None and ("documents", case.id) in memo:
        docs = [d for d in memo[("documents", case.id)] if d.kind in kinds and d.id < before_id]
    else:
        docs = db.session.scalars(sa.select(Document).where(
            Document.case_id == case.id, Document.kind.in_(kinds), Document.id < before_id)
            .order_by(Document.id)).all()
    return [d for d in docs if d.dispatched_at is not None or d.delivered_on is not None]


def _earlier_demand(case: DunningCase, doc: Document, prefix: str) -> EarlierDemand:
    channel = DISPATCH_CHANNELS.get(doc.dispatch_channel or "", doc.dispatch_channel or "")
    if not channel:
        channel = DISPATCH_CHANNELS["ems"] if doc.tracking_no else "书面方式"
    return EarlierDemand(title=TITLES[doc.kind], number=document_number(case, doc.kind, doc.id,
                                                                        prefix),
                         sent_on=_sent_on(doc), channel=channel, delivered_on=doc.delivered_on,
                         deadline=doc.deadline)


def _installments(case: DunningCase, at: datetime) -> tuple[tuple[Installment, ...], int]:
    plan = db.session.scalars(sa.select(PaymentPlan).where(
        PaymentPlan.case_id == case.id, PaymentPlan.created_at <= at)
        .order_by(PaymentPlan.id.desc())).first()
    _require(plan is not None, "没有找到该协议对应的分期付款计划。")
    assert plan is not None
    return tuple(Installment(due_date=i.due_date, amount=i.amount)
                 for i in plan.installments), plan.grace_days


def _evidence(case: DunningCase, contract: Contract, debtor: Party,
              served: Sequence[Document], prefix: str) -> tuple[EvidenceItem, ...]:
    """The evidence list in court order, from the case history."""
    items = [EvidenceItem(contract.name, "原告提供（原件）", "双方物业服务合同关系及收费标准")]
    if debtor.role == "tenant":
        items.append(EvidenceItem("房屋租赁合同及物业费承担约定", "原告提供（复印件）",
                                  "被告为约定的物业费交纳人，业主承担连带责任"))
    items.append(EvidenceItem("物业费对账单", "原告制作", "被告欠费的期间及金额"))
    for doc in served:
        title = f"{TITLES[doc.kind]}（编号：{document_number(case, doc.kind, doc.id, prefix)}）"
        if doc.tracking_no or doc.dispatch_channel in ("ems", "registered_mail"):
            title += "及邮寄凭证、妥投记录"
        elif doc.proof_ref:
            title += "及送达凭证"
        purpose = ("原告已书面催告被告付款，诉讼时效中断" if doc.proven
                   else "原告已向被告发出书面催告")
        items.append(EvidenceItem(title, "原告提供（原件）", purpose))
    plans = db.session.scalar(sa.select(sa.func.count(PaymentPlan.id)).where(
        PaymentPlan.case_id == case.id))
    if plans:
        items.append(EvidenceItem("分期付款协议/付款承诺", "原告提供（原件）",
                                  "被告确认欠费，诉讼时效中断"))
    contacts = db.session.scalar(sa.select(sa.func.count(ContactAttempt.id)).where(
        ContactAttempt.case_id == case.id))
    if contacts:
        items.append(EvidenceItem("催缴联系记录", "原告制作", "原告多次催缴的时间与方式"))
    return tuple(items)


def letter_facts(doc: Document, *, kind: str | None = None,
                 lines: Sequence[ChargeLine] | None = None,
                 issued: date | None = None) -> LetterFacts:
    """Everything a Document says, from the database; ValueError (in Chinese) if a rule fails.

    `kind`, `lines` and `issued` override the row's, e.g. for a statement made on the fly.
    """
    kind = kind or doc.kind
    case = db.session.get(DunningCase, doc.case_id)
    if case is None:
        raise ValueError(f"文书{doc.id}所属的案件不存在。")
    event = _event(doc)
    issued = issued or local_date(event.at if event else doc.created_at)
    data, timing = letter_policy(case.community_id), merged(case.policy.data if case.policy
                                                             else None)
    court = kind in COURT_KINDS
    memo = _batch.get()
    known = memo.get("lines", {}) if memo is not None else {}
    if lines is None and doc.charge_line_ids and all(i in known for i in doc.charge_line_ids):
        lines = sorted((known[i] for i in set(doc.charge_line_ids)),
                       key=lambda line: (line.due_date, line.id))
    if lines is None:
        lines = db.session.scalars(sa.select(ChargeLine).where(
            ChargeLine.id.in_(doc.charge_line_ids or [-1]))
            .order_by(ChargeLine.due_date, ChargeLine.id)).all()
    lines = [line for line in lines if line.balance > 0]
    _require(bool(lines), "文书所列的欠费期间均已结清，无需出具。")
    debtor = _party(case, lines, court)
    company, missing = _company(case, data, court)
    contract, missing_contract = _contract(data)
    missing += missing_contract
    firm = None
    if kind == "lawyer_letter":
        firm, missing_firm = _firm(data)
        missing += missing_firm
    if missing:
        raise ValueError("催缴政策缺少文书必备信息，请管理员补充：" + "、".join(missing))
    assert contract is not None
    prefix = _text(data["company"], "number_prefix")
    penalty = None if kind == "installment_agreement" else penalty_for(
        case, lines, issued, data, timing)
    earlier: list[Document] = []
    if kind == "lawyer_letter":
        earlier = _earlier(case, doc.id, ("payment_demand",))
    elif court:
        earlier = _earlier(case, doc.id, ("payment_demand", "lawyer_letter"))
    cal = working_calendar()
    installments: tuple[Installment, ...] = ()
    grace = int(timing["grace_days"])
    court_name, evidence = "", ()
    if kind == "payment_demand":
        deadline = doc.deadline or cal.deadline_after(
            issued + timedelta(days=timing["demand_mail_days"]), timing["demand_deadline_days"])
    elif kind == "lawyer_letter":
        deadline = doc.deadline or printed_letter_deadline(issued, timing)
    elif kind == "installment_agreement":
        installments, grace = _installments(case, event.at if event else doc.created_at)
        deadline = max(i.due_date for i in installments) if installments else issued
    elif court:
        given = [d.deadline for d in earlier if d.deadline and d.delivered_on]
        _require(bool(given), "起诉材料须载明此前已送达的书面催告及其付款期限。")
        deadline = max(given)
        court_name = str((event.payload if event else {}).get("court") or "").strip()
        if kind == "evidence_list":
            evidence = _evidence(case, contract, debtor, earlier, prefix)
    else:  # statement
        deadline = cal.deadline_after(issued, timing["demand_deadline_days"])
    return LetterFacts(
        number=document_number(case, kind, doc.id, prefix), issued_on=issued,
        statement_date=issued, deadline=deadline, company=company, debtor=debtor,
        contract=contract, periods=_periods(lines, issued), penalty=penalty, firm=firm,
        earlier_demands=tuple(_earlier_demand(case, d, prefix) for d in earlier),
        installments=installments, grace_days=grace, evidence=evidence, court=court_name)


def printed_letter_deadline(issued: date, timing: dict[str, Any]) -> date:
    """A lawyer letter's printed deadline before delivery: the post, then 7-15 days, rolled."""
    return working_calendar().deadline_after(
        issued + timedelta(days=timing["demand_mail_days"]), timing["letter_deadline_days"])


# -- templates ----------------------------------------------------------------------------------


def active_template(kind: str) -> tuple[str | bytes, str]:
    """The template to render a kind with, and its version string."""
    def active() -> tuple[str | bytes, str]:
        row = db.session.scalars(sa.select(TemplateVersion).where(
            TemplateVersion.kind == kind, TemplateVersion.active.is_(True))
            .order_by(TemplateVersion.id.desc())).first()
        if row is None:
            return kind, BUILTIN_VERSION
        return storage.read(row.path), row.version

    return _batched(("template", kind), active)


def upload_template(kind: str, data: bytes, user: StaffUser | None,
                    now: datetime | None = None) -> TemplateVersion:
    """Make an uploaded .docx the active template of a kind (admins only), if it validates."""
    now = now or utcnow()
    if user is not None and not user.has_role("admin"):
        raise Forbidden("只有管理员可以上传文书模板。", "Only an admin may upload templates.")
    if kind not in TEMPLATES:
        raise InvalidInput("kind", f"未知的文书类型：{kind}", f"Unknown document kind {kind}.")
    problems = validate_template(kind, data)
    if problems:
        exc = InvalidInput("file", "模板未通过检查：\n" + "\n".join(problems),
                           "The template was refused:\n" + "\n".join(problems))
        exc.problems = problems  # type: ignore[attr-defined]
        raise exc
    sha = sha256_hex(data)
    with transaction():
        rows = db.session.scalars(sa.select(TemplateVersion).where(
            TemplateVersion.kind == kind).order_by(TemplateVersion.id)).all()
        same = next((r for r in rows if r.sha256 == sha), None)
        for row in rows:
            row.active = False
        if same is not None:  # the same file again: reactivate it, no new version
            same.active = True
            return same
        version = f"v{len(rows) + 2}-{sha[:8]}"  # builtin-1 is the first version
        path = storage.save(f"templates/{kind}/{version}.docx", data)
        row = TemplateVersion(kind=kind, version=version, sha256=sha, path=path,
                              uploaded_by_id=user.id if user else None, created_at=now,
                              active=True)
        db.session.add(row)
    return row


def activate_template(kind: str, version: str, user: StaffUser | None) -> str:
    """Go back to an earlier uploaded version, or to the shipped one with "builtin"."""
    if user is not None and not user.has_role("admin"):
        raise Forbidden("只有管理员可以切换文书模板。", "Only an admin may switch templates.")
    with transaction():
        rows = db.session.scalars(sa.select(TemplateVersion).where(
            TemplateVersion.kind == kind)).all()
        target = next((r for r in rows if r.version == version), None)
        if target is None and version not in ("builtin", BUILTIN_VERSION):
            raise InvalidInput("version", f"没有这个模板版本：{version}", f"No version {version}.")
        for row in rows:
            row.active = row is target
    return target.version if target else BUILTIN_VERSION


# -- rendering ----------------------------------------------------------------------------------


def document_relpath(doc: Document) -> str:
    return f"{doc.case_id}/{doc.kind}-{doc.id}.docx"


def pdf_relpath(doc: Document) -> str | None:
    """The stored PDF next to a rendered .docx, when LibreOffice made one."""
    if not doc.path:
        return None
    rel = doc.path[: -len(".docx")] + ".pdf"
    return rel if storage.exists(rel) else None


def _pdf_enabled() -> bool:
    """PDF copies: config DOCUMENT_PDF, else env CASEWORK_PDF=0/1, else on outside tests."""
    configured = current_app.config.get("DOCUMENT_PDF")
    if configured is None and os.environ.get("CASEWORK_PDF"):
        configured = os.environ["CASEWORK_PDF"].lower() not in ("0", "false", "no", "off")
    return bool(not current_app.testing if configured is None else configured)


def _profile_dir() -> str:
    """One LibreOffice profile per worker process: two soffice runs cannot share one."""
    base = (current_app.config.get("LIBREOFFICE_PROFILE_DIR")
            or os.environ.get("CASEWORK_LO_PROFILE_DIR") or current_app.instance_path)
    return os.path.join(base, f"lo-profile-{os.getpid()}")


def make_pdfs(relpaths: Sequence[str]) -> list[str]:
    """Convert stored .docx files to PDFs next to them, in one LibreOffice run (starting
    LibreOffice costs more than converting a letter); [] when LibreOffice is not installed."""
    if not relpaths or find_office() is None:
        return []
    made = to_pdfs([storage.path_of(rel) for rel in relpaths], _profile_dir())
    return [rel[: -len(".docx")] + ".pdf" for rel, pdf in zip(relpaths, made, strict=True)
            if pdf is not None]


def make_pdf(relpath: str) -> str | None:
    """Convert one stored .docx to PDF next to it; None when LibreOffice is not installed."""
    made = make_pdfs([relpath])
    return made[0] if made else None


def check_banned(text: str) -> None:
    """The finished letter is linted too (G5): policy texts such as payment channels are free
    text, and the template was only checked with sample data."""
    findings = lint_text(text)
    if findings:
        raise ValueError("文书未生成：" + "；".join(f.message for f in findings))


def _update_pending(document_id: int, values: dict[str, Any]) -> bool:
    """Write a pending document's row now; False if it is no longer pending."""
    return bool(db.session.execute(sa.update(Document).where(
        Document.id == document_id, Document.status == "pending").values(**values)).rowcount)


def _render_one(document_id: int, write: Callable[[int, dict[str, Any]], bool] = _update_pending
                ) -> tuple[str, str | None]:
    """Render one pending document into the store inside the caller's transaction, without
    its PDF: (outcome, stored path). A rule the facts break marks it failed. `write` records
    the row (its status guarded) before the file is written."""
    doc = db.session.get(Document, document_id)
    if doc is None:
        return "missing", None
    kind = doc.kind
    if doc.status != "pending":
        return f"already {doc.status}", None
    try:
        facts = letter_facts(doc)
        source, version = active_template(doc.kind)
        rendered = render_letter(source, build_context(doc.kind, facts))
        check_banned(rendered.text)
    except (ValueError, TemplateError) as exc:
        message = str(exc)[:2000] or exc.__class__.__name__
        failed = write(document_id, {"status": "failed", "error": message})
        log.warning("document %s (%s) failed: %s", document_id, kind, message)
        return (f"failed: {message}" if failed else "already handled"), None
    data = rendered.data
    relpath = document_relpath(doc)
    values: dict[str, Any] = {"status": "rendered", "sha256": sha256_hex(data), "path": relpath,
                              "template_version": version, "error": None}
    if doc.kind == "lawyer_letter" and doc.deadline is None:
        values["deadline"] = facts.deadline  # the printed deadline, until delivery moves it
    # the row first: a second worker on the same letter waits for this row and then finds it
    # rendered, so it never overwrites the file whose sha256 this row keeps
    if not write(document_id, values):
        return "already handled", None
    storage.save(relpath, data)
    return "rendered", relpath


def _pdf_copies(relpaths: Sequence[str]) -> None:
    if not relpaths or not _pdf_enabled():
        return
    try:
        make_pdfs(relpaths)
    except Exception as exc:  # noqa: BLE001  the .docx is the record; the PDF is a copy
        log.warning("PDF of %s failed: %s", ", ".join(relpaths), exc)


def render_stored(document_id: int) -> str:
    """Render one pending document into the store; rendering it again changes nothing."""
    try:
        outcome, relpath = _render_one(document_id)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    _pdf_copies([relpath] if relpath else [])
    return outcome


def render_many(document_ids: Sequence[int]) -> dict[str, int]:
    """Render pending documents in one transaction: their rows are locked up front (on
    PostgreSQL), so no other worker writes them or their files meanwhile; the files are
    written one by one, the rows in one statement per shape, one commit; then the PDFs in
    one LibreOffice run. An error on one letter leaves it pending (the sweep hands it over
    again later) and does not stop the others."""
    outcome: dict[str, int] = {}
    rendered: list[str] = []
    rows: dict[int, dict[str, Any]] = {}

    def collect(document_id: int, values: dict[str, Any]) -> bool:
        rows[document_id] = values  # still pending: read under this batch's row lock
        return True

    token = _batch.set({})
    try:
        _prefetch(sorted(set(document_ids)))
        for document_id in document_ids:
            try:
                result, relpath = _render_one(document_id, collect)
            except Exception:  # noqa: BLE001  this one stays pending, the others go on
                log.exception("rendering document %s failed", document_id)
                rows.pop(document_id, None)
                result, relpath = "error", None
            if relpath:
                rendered.append(relpath)
            key = result.split(":")[0].split(" ")[0]
            outcome[key] = outcome.get(key, 0) + 1
        _write_rows(rows)
        db.session.commit()  # one commit (one WAL flush) for the batch
    except BaseException:
        db.session.rollback()
        raise
    finally:
        _batch.reset(token)
    _pdf_copies(rendered)
    return outcome


def _write_rows(rows: dict[int, dict[str, Any]]) -> None:
    """One executemany UPDATE per set of columns (rendered, rendered with a deadline,
    failed), each row still guarded by its pending status."""
    shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for document_id, values in rows.items():
        shapes.setdefault(tuple(sorted(values)), []).append(
            {"doc_id": document_id, **{f"v_{k}": v for k, v in values.items()}})
    table = Document.__table__
    for keys, params in shapes.items():
        statement = table.update().where(
            table.c.id == sa.bindparam("doc_id"), table.c.status == "pending"
        ).values({key: sa.bindparam(f"v_{key}") for key in keys})
        db.session.execute(statement, params)


def _prefetch(document_ids: Sequence[int]) -> None:
    """Load what the batch's letters read in a few queries: the documents and their cases
    (debtor, community, policy), every document of those cases (earlier demands), the
    charge lines with unit and building, the causing events, open service-quality disputes.
    The batch's document rows are locked while it renders them."""
    memo = _batch.get()
    assert memo is not None
    if not document_ids:
        return
    docs = db.session.scalars(  # FOR UPDATE: on PostgreSQL; SQLite has one writer anyway
        sa.select(Document).where(Document.id.in_(document_ids)).order_by(Document.id)
        .with_for_update(of=Document).execution_options(populate_existing=True)).all()
    case_ids = sorted({d.case_id for d in docs})
    db.session.scalars(sa.select(DunningCase).where(DunningCase.id.in_(case_ids))
                       .options(selectinload(DunningCase.policy))).all()
    for case_id in case_ids:
        memo[("documents", case_id)] = []
    for doc in db.session.scalars(sa.select(Document).where(Document.case_id.in_(case_ids))
                                  .order_by(Document.id)):
        memo[("documents", doc.case_id)].append(doc)
    line_ids = sorted({i for d in docs for i in d.charge_line_ids or ()})
    memo["lines"] = {line.id: line for line in db.session.scalars(
        sa.select(ChargeLine).where(ChargeLine.id.in_(line_ids))
        .options(selectinload(ChargeLine.unit).selectinload(Unit.building)))}
    pairs = sorted({(d.case_id, d.event_seq) for d in docs})
    for case_id, seq in pairs:
        memo[("event", case_id, seq)] = None
    for event in db.session.scalars(sa.select(CaseEvent).where(
            sa.tuple_(CaseEvent.case_id, CaseEvent.seq).in_(pairs))):
        memo[("event", event.case_id, event.seq)] = event
    memo["quality_disputes"] = set(db.session.scalars(sa.select(Dispute.case_id).where(
        Dispute.case_id.in_(case_ids), Dispute.status == "open",
        Dispute.category == "service_quality")))


def retry_document(document_id: int) -> None:
    """Put a failed document back in the queue (after the policy or the data was fixed)."""
    with transaction():
        doc = db.session.get(Document, document_id)
        if doc is None:
            raise NotFound(f"文书 {document_id} 不存在。", f"No document {document_id}.")
        if doc.status != "failed":
            raise InvalidInput("document", "只有生成失败的文书可以重新生成。",
                               "Only a failed document can be rendered again.")
        doc.status, doc.error, doc.enqueued_at = "pending", None, None
    render_after_commit_id(document_id)


# -- queueing -----------------------------------------------------------------------------------


def enqueue_render(document_id: int, queue=None) -> str:
    """Hand one document to the documents queue under a deterministic job id."""
    from . import jobs
    from .queues import get_queue

    queue = queue if queue is not None else get_queue("documents")
    job_id = f"doc-{document_id}"
    queue.enqueue(jobs.render_document, document_id, job_id=job_id, retry=RETRY,
                  result_ttl=3600, failure_ttl=7 * 86400)
    return job_id


def _enqueue_quietly(document_id: int) -> None:
    try:
        enqueue_render(document_id)
    except Exception as exc:  # noqa: BLE001  Redis down: the sweep picks the document up later
        log.error("could not enqueue the rendering of document %s: %s", document_id, exc)
        return
    try:
        db.session.execute(sa.update(Document).where(
            Document.id == document_id, Document.enqueued_at.is_(None))
            .values(enqueued_at=utcnow()))
        db.session.commit()
    except Exception as exc:  # noqa: BLE001  the sweep enqueues it again under the same id
        db.session.rollback()
        log.warning("could not mark document %s enqueued: %s", document_id, exc)


def _enqueue_on_commit() -> bool:
    """On unless testing (DOCUMENTS_ENQUEUE_ON_COMMIT overrides). Without a REDIS_URL there is
    nothing to hand the job to: the sweep (`flask sweep --inline`) renders the documents."""
    if not current_app.config.get("REDIS_URL"):
        return False
    return bool(current_app.config.get("DOCUMENTS_ENQUEUE_ON_COMMIT", not current_app.testing))


def render_after_commit(doc: Document) -> None:
    """Once the use case that made `doc` commits, queue its rendering (never fails the use
    case: a Redis error is logged and the sweep hands the document over later)."""
    if _enqueue_on_commit():
        after_commit(lambda: _enqueue_quietly(doc.id))


def render_after_commit_id(document_id: int) -> None:
    if _enqueue_on_commit():
        _enqueue_quietly(document_id)


def pending_document_ids(now: datetime, limit: int) -> list[int]:
    """Documents to render: pending and never enqueued, or enqueued long ago (a lost job)."""
    query = sa.select(Document.id).where(
        Document.status == "pending",
        sa.or_(Document.enqueued_at.is_(None), Document.enqueued_at < now - STALE_ENQUEUE),
    ).order_by(Document.id).limit(limit)
    if db.engine.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(db.session.scalars(query))


# -- dispatch and proof ---------------------------------------------------------------------------


def _document_for(document_id: int, user: StaffUser | None) -> tuple[Document, DunningCase]:
    doc = db.session.get(Document, document_id)
    if doc is None:
        raise NotFound(f"文书 {document_id} 不存在。", f"Document {document_id} does not exist.")
    case = db.session.get(DunningCase, doc.case_id)
    ensure_can_act(user, case)
    return doc, case


def record_dispatch(document_id: int, user: StaffUser | None, channel: str,
                    tracking_no: str | None = None, contents_label: str | None = None,
                    now: datetime | None = None) -> Document:
    """Record how a rendered letter left: channel, EMS number, 内件品名 (default: its title)."""
    now = now or utcnow()
    with transaction():
        doc, case = _document_for(document_id, user)
        if channel not in DISPATCH_CHANNELS:
            raise InvalidInput("channel", "请选择寄送方式：EMS、专人送达、挂号信或短信。",
                               "Choose the channel: ems, hand, registered_mail or sms.")
        if doc.kind not in SENT_KINDS:
            raise InvalidInput("document", "起诉材料提交法院，不向业主寄送。",
                               "Court papers are filed, not sent to the debtor.")
        if doc.status != "rendered":
            raise InvalidInput("document", "文书尚未生成，不能登记寄送。",
                               "The letter has not been rendered yet.")
        tracking = (tracking_no or "").strip() or None
        if channel in ("ems", "registered_mail") and not tracking:
            raise InvalidInput("tracking_no", "EMS或挂号信须登记邮件号。",
                               "EMS and registered mail need the tracking number.")
        label = (contents_label or "").strip() or TITLES[doc.kind]
        if len(label) > 64 or (tracking and len(tracking) > 64):
            raise InvalidInput("contents_label", "内件品名或邮件号过长（最多64个字符）。",
                               "The contents label or tracking number is too long.")
        doc.dispatch_channel, doc.tracking_no, doc.contents_label = channel, tracking, label
        doc.dispatched_at = now
        audit.append(case, actor_of(user), "dispatch", "record_dispatch", payload={
            "document_id": doc.id, "document": doc.kind, "channel": channel,
            "tracking_no": tracking, "contents_label": label}, at=now)
    return doc


def attach_proof(document_id: int, user: StaffUser | None, filename: str, data: bytes,
                 now: datetime | None = None) -> str:
    """Store a delivery proof (scan, photo, SMS report); returns the proof_ref for delivery."""
    now = now or utcnow()
    with transaction():
        doc, case = _document_for(document_id, user)
        name = storage.safe_filename(filename or "", "proof")
        if not data:
            raise InvalidInput("file", "请选择送达凭证文件。", "Choose the proof file.")
        if len(data) > MAX_PROOF_BYTES:
            raise InvalidInput("file", "送达凭证文件不能超过20MB。", "The proof is over 20 MB.")
        if not name.lower().endswith(PROOF_EXTENSIONS):
            raise InvalidInput("file", "送达凭证须为图片、PDF或文本文件。",
                               "The proof must be an image, a PDF or a text file.")
        sha = sha256_hex(data)
        relpath = storage.save(f"{case.id}/proofs/{doc.id}-{sha[:12]}-{name}", data)
        ref = STORE_PREFIX + relpath
        audit.append(case, actor_of(user), "proof", "attach_proof", payload={
            "document_id": doc.id, "proof_ref": ref, "sha256": sha, "filename": name}, at=now)
    return ref


# -- batches ------------------------------------------------------------------------------------


def _latest_documents(case_ids: Iterable[int], kind: str) -> list[int]:
    ids = sorted(set(case_ids))
    if not ids:
        return []
    latest = sa.select(sa.func.max(Document.id)).where(
        Document.case_id.in_(ids), Document.kind == kind).group_by(Document.case_id)
    return sorted(db.session.scalars(latest))


def building_case_ids(building_id: int, open_only: bool = True) -> list[int]:
    query = (sa.select(DunningCase.id).join(ChargeLine, ChargeLine.case_id == DunningCase.id)
             .join(Unit, Unit.id == ChargeLine.unit_id).where(Unit.building_id == building_id)
             .distinct())
    ids = list(db.session.scalars(query))
    if open_only:
        cases = db.session.scalars(sa.select(DunningCase).where(DunningCase.id.in_(ids))).all()
        ids = [c.id for c in cases if c.is_open]
    return sorted(ids)


def start_batch(*, building_id: int | None = None, case_ids: Sequence[int] | None = None,
                document_ids: Sequence[int] | None = None, kind: str = "payment_demand",
                user: StaffUser | None = None, queue=None) -> DocumentBatch:
    """Record a batch and enqueue its job on the documents queue; returns the batch row."""
    from . import jobs
    from .queues import get_queue

    if building_id is None and not case_ids and not document_ids:
        raise InvalidInput("building_id", "请指定楼栋、案件或文书。",
                           "Name a building, cases or documents.")
    if kind not in TEMPLATES:
        raise InvalidInput("kind", f"未知的文书类型：{kind}", f"Unknown document kind {kind}.")
    if building_id is not None and db.session.get(Building, building_id) is None:
        raise InvalidInput("building_id", f"楼栋 {building_id} 不存在。", "Unknown building.")
    with transaction():
        batch = DocumentBatch(job_id=f"batch-{uuid.uuid4().hex[:20]}", kind=kind,
                              building_id=building_id, case_ids=sorted(case_ids or []),
                              document_ids=sorted(document_ids or []),
                              created_by_id=user.id if user else None, created_at=utcnow())
        db.session.add(batch)
    try:
        queue = queue if queue is not None else get_queue("documents")
        queue.enqueue(jobs.render_batch, batch_id=batch.id, job_id=batch.job_id,
                      result_ttl=7 * 86400, failure_ttl=7 * 86400, job_timeout=3600)
    except Exception:
        with transaction():  # Redis refused it: no job will run this batch, so keep no row
            db.session.delete(db.session.get(DocumentBatch, batch.id))
        raise
    return batch


def _current_job():
    try:
        from rq import get_current_job

        return get_current_job()
    except Exception:  # noqa: BLE001  not inside a worker
        return None


def _progress(job, batch: DocumentBatch) -> None:
    progress = {"done": batch.done, "total": batch.total, "failed": list(batch.failed)}
    if job is not None:
        job.meta["progress"] = progress
        job.meta["batch_id"] = batch.id
        job.save_meta()


def run_batch(document_ids: Sequence[int] | None = None, *, building_id: int | None = None,
              case_ids: Sequence[int] | None = None, kind: str = "payment_demand",
              batch_id: int | None = None) -> dict[str, Any]:
    """Render the selected letters and zip them; one failure is reported, the rest go on."""
    job = _current_job()
    if batch_id is not None:
        batch = db.session.get(DocumentBatch, batch_id)
        if batch is None:
            raise NotFound(f"批次 {batch_id} 不存在。", f"Batch {batch_id} does not exist.")
        document_ids = batch.document_ids or document_ids
        building_id = batch.building_id if batch.building_id is not None else building_id
        case_ids = batch.case_ids or case_ids
        kind = batch.kind
    else:
        batch = DocumentBatch(job_id=job.id if job else f"inline-{uuid.uuid4().hex[:20]}",
                              kind=kind, building_id=building_id, case_ids=list(case_ids or []),
                              document_ids=list(document_ids or []), created_at=utcnow())
        db.session.add(batch)
    if document_ids:
        ids = sorted(set(document_ids))
    else:
        chosen = list(case_ids or [])
        if building_id is not None:
            chosen += building_case_ids(building_id)
        ids = _latest_documents(chosen, kind)
    batch.document_ids, batch.total, batch.done, batch.failed = ids, len(ids), 0, []
    batch.status = "running"
    db.session.commit()
    batch_pk = batch.id
    _progress(job, batch)
    files: list[tuple[str, bytes]] = []
    failed: list[dict[str, Any]] = []
    for n, document_id in enumerate(ids, start=1):
        case_number = "?"
        try:
            doc = db.session.get(Document, document_id)
            if doc is None:
                raise NotFound(f"文书 {document_id} 不存在。")
            case_number = db.session.get(DunningCase, doc.case_id).number
            if doc.status == "pending":
                render_stored(document_id)
                doc = db.session.get(Document, document_id)
            if doc.status == "rendered" and storage.exists(doc.path):
                files.append((f"{case_number}_{TITLES[doc.kind]}_{doc.id}.docx",
                              storage.read(doc.path)))
            else:
                failed.append({"document_id": document_id, "case": case_number,
                               "error": doc.error or f"状态：{doc.status}"})
        except Exception as exc:  # noqa: BLE001  one bad case must not stop the batch
            db.session.rollback()
            log.exception("batch %s: document %s failed", batch_pk, document_id)
            failed.append({"document_id": document_id, "case": case_number,
                           "error": f"{exc.__class__.__name__}: {exc}"[:500]})
        batch = db.session.get(DocumentBatch, batch_pk)
        batch.done, batch.failed = n, list(failed)
        db.session.commit()
        _progress(job, batch)
    data = zip_documents(files)
    batch = db.session.get(DocumentBatch, batch_pk)
    batch.path = storage.save(f"batches/batch-{batch.id}.zip", data)
    batch.sha256, batch.status, batch.finished_at = sha256_hex(data), "done", utcnow()
    db.session.commit()
    _progress(job, batch)
    return {"batch_id": batch.id, "done": batch.done, "total": batch.total,
            "failed": list(batch.failed), "path": batch.path, "files": len(files)}


# -- evidence pack ------------------------------------------------------------------------------


def _ensure_rendered(doc: Document) -> Document:
    if doc.status == "pending":
        render_stored(doc.id)
        doc = db.session.get(Document, doc.id)
    return doc


def _proof_files(doc: Document, title: str) -> tuple[PackFile, ...]:
    """The stored proof, if any, and a note of how the letter was sent and delivered."""
    files: list[PackFile] = []
    ref = doc.proof_ref or ""
    if ref.startswith(STORE_PREFIX) and storage.exists(ref[len(STORE_PREFIX):]):
        relpath = ref[len(STORE_PREFIX):]
        ext = os.path.splitext(relpath)[1]
        files.append(PackFile(f"{title}_送达凭证{ext}", storage.read(relpath)))
    lines = [f"文书：{title}"]
    if doc.dispatch_channel:
        channel = DISPATCH_CHANNELS.get(doc.dispatch_channel, doc.dispatch_channel)
        lines.append(f"寄送方式：{channel}")
    if doc.dispatched_at:
        lines.append(f"寄送时间：{doc.dispatched_at.astimezone(SHANGHAI):%Y-%m-%d %H:%M}")
    if doc.tracking_no:
        lines.append(f"邮件号：{doc.tracking_no}")
    if doc.contents_label:
        lines.append(f"内件品名：{doc.contents_label}")
    if doc.delivered_on:
        lines.append(f"送达日期：{doc.delivered_on.isoformat()}")
    if doc.grade:
        weak = "" if doc.proven else "（C级：证明力弱，不中断诉讼时效）"
        lines.append(f"送达证据等级：{doc.grade}{weak}")
    if ref and not ref.startswith(STORE_PREFIX):
        lines.append(f"送达凭证：{ref}")
    files.append(PackFile(f"{title}_送达记录.txt", ("\r\n".join(lines) + "\r\n").encode()))
    return tuple(files)


def _contact_entries(case: DunningCase) -> list[ContactEntry]:
    rows = db.session.scalars(sa.select(ContactAttempt).where(
        ContactAttempt.case_id == case.id).order_by(ContactAttempt.at, ContactAttempt.id)).all()
    staff = {u.id: u.display_name for u in db.session.scalars(sa.select(StaffUser).where(
        StaffUser.id.in_({r.staff_id for r in rows if r.staff_id} or {-1})))}
    return [ContactEntry(at=r.at.astimezone(SHANGHAI).replace(tzinfo=None),
                         channel=CONTACT_CHANNELS.get(r.channel, r.channel),
                         person=PERSONS.get(r.person_reached, r.person_reached),
                         outcome=OUTCOMES.get(r.outcome, r.outcome),
                         staff=staff.get(r.staff_id, "系统") if r.staff_id else "系统",
                         note=r.notes or "")
            for r in rows]


def evidence_pack_for(case_id: int) -> bytes:
    """The court bundle: evidence list, statement, each letter with its proofs, contact log."""
    case = db.session.get(DunningCase, case_id)
    if case is None:
        raise NotFound(f"案件 {case_id} 不存在。", f"Case {case_id} does not exist.")
    docs = db.session.scalars(sa.select(Document).where(Document.case_id == case.id)
                              .order_by(Document.id)).all()
    listing = next((d for d in reversed(docs) if d.kind == "evidence_list"), None)
    if listing is None:
        raise InvalidInput("case", "该案件尚未提起诉讼或申请支付令，没有证据清单。",
                           "The case has no evidence list: no claim was filed.")
    listing = _ensure_rendered(listing)
    if listing.status != "rendered":
        raise InvalidInput("case", f"证据清单生成失败：{listing.error}",
                           f"The evidence list failed to render: {listing.error}")
    prefix = _text(letter_policy(case.community_id)["company"], "number_prefix")
    issued = issue_date(listing)
    lines = db.session.scalars(sa.select(ChargeLine).where(ChargeLine.case_id == case.id)
                               .order_by(ChargeLine.due_date, ChargeLine.id)).all()
    statement_facts = letter_facts(listing, kind="statement", lines=lines, issued=issued)
    statement = render_docx(active_template("statement")[0],
                            build_context("statement", statement_facts))
    served = []
    for doc in _earlier(case, listing.id, ("payment_demand", "lawyer_letter")):
        doc = _ensure_rendered(doc)
        if doc.status != "rendered" or not storage.exists(doc.path):
            continue
        title = f"{TITLES[doc.kind]}_{document_number(case, doc.kind, doc.id, prefix)}"
        served.append(ServedDocument(PackFile(f"{title}.docx", storage.read(doc.path)),
                                     _proof_files(doc, title)))
    others = []
    for doc in docs:
        if doc.kind in ("payment_order_application", "complaint") and \
                doc.event_seq == listing.event_seq:  # the draft filed with this evidence list
            doc = _ensure_rendered(doc)
            if doc.status == "rendered" and storage.exists(doc.path):
                others.append(PackFile(f"{TITLES[doc.kind]}（草稿）.docx", storage.read(doc.path)))
    return build_evidence_pack(
        evidence_list=PackFile("证据清单.docx", storage.read(listing.path)),
        statement=PackFile("物业费对账单.docx", statement),
        served=served,
        contact_log=PackFile("催缴联系记录.csv", contact_log_csv(_contact_entries(case))),
        others=others)


__all__ = [
    "DISPATCH_CHANNELS", "TITLES", "activate_template", "active_template", "attach_proof",
    "enqueue_render", "evidence_pack_for", "letter_facts", "pending_document_ids",
    "record_dispatch", "render_after_commit", "render_stored", "retry_document", "run_batch",
    "start_batch", "upload_template",
]
