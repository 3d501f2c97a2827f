"""Names of the stored ids as staff read them, in the chosen language.

The English words are the message ids; the Chinese ones are the translations (for the states
and events they match workflows.dunning's labels, which a test checks).
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString

from workflows.rules import COURT_ROUTES, DISPUTE_CATEGORIES, DISPUTE_OUTCOMES  # noqa: F401

STATES = {
    "preparation": _l("Preparation"),
    "first_reminder": _l("First reminder"),
    "follow_up": _l("Follow-up"),
    "formal_demand": _l("Written demand"),
    "mediation": _l("Mediation / referral"),
    "legal_review": _l("Legal review"),
    "lawyer_letter": _l("Lawyer letter"),
    "litigation": _l("Litigation / payment order"),
    "payment_plan": _l("Installments / promise"),
    "disputed": _l("Dispute handling"),
    "paid": _l("Paid"),
    "written_off": _l("Written off"),
    "withdrawn": _l("Withdrawn"),
}
EVENTS = {
    "start_outreach": _l("Start outreach"),
    "escalate_follow_up": _l("Escalate to follow-up"),
    "issue_demand": _l("Issue written demand"),
    "record_delivery": _l("Record delivery"),
    "refer_mediation": _l("Refer to mediation"),
    "request_legal_action": _l("Request legal action"),
    "approve_lawyer_letter": _l("Approve lawyer letter"),
    "reject_legal_action": _l("Reject legal action"),
    "file_claim": _l("File claim"),
    "promise_payment": _l("Promise payment"),
    "break_plan": _l("Break plan"),
    "raise_dispute": _l("Raise dispute"),
    "resolve_dispute": _l("Resolve dispute"),
    "settle": _l("Settle"),
    "write_off": _l("Write off"),
    "withdraw": _l("Withdraw"),
}
ROLES = {
    "collector": _l("Collector"),
    "supervisor": _l("Supervisor"),
    "legal": _l("Legal officer"),
    "auditor": _l("Auditor"),
    "admin": _l("Administrator"),
    "system": _l("System"),
}
CHANNELS = {
    "phone": _l("Phone"), "sms": _l("SMS"), "wechat": _l("WeChat"), "letter": _l("Letter"),
    "visit": _l("Visit"), "email": _l("E-mail"), "address": _l("Address"),
}
OUTCOMES = {
    "no_answer": _l("No answer"), "sent": _l("Sent"), "reached": _l("Talked"),
    "promised": _l("Promised to pay"), "refused": _l("Refused to pay"), "disputed": _l("Disputed"),
    "paid": _l("Has paid"),
}
PERSONS = {
    "debtor": _l("The debtor"), "co_owner": _l("Co-owner"), "tenant": _l("Tenant"),
    "family_adult": _l("Adult family member"), "none": _l("Nobody"),
}
REASON_CLASSES = {
    "unaware": _l("Unaware"), "excuse": _l("Reason or excuse"), "wilful": _l("Wilful"),
    "unreachable": _l("Unreachable"),
}
REASON_SUBS = {
    "forgot": _l("Forgot"), "hardship": _l("Financial hardship"),
    "service_quality": _l("Service quality"), "billing": _l("Billing question"),
    "developer_legacy": _l("Developer legacy"), "vacancy": _l("Vacant unit"),
    "wrong_debtor": _l("Wrong debtor"), "contract_end": _l("Contract ended"),
    "collective": _l("Collective action"),
}
TECHNIQUES = {
    "timely_reminder": _l("Timely reminder"),
    "cut_retreat": _l("Cut off excuses"),
    "sympathy": _l("Appeal to sympathy"),
    "carpet_bombing": _l("Persistent contact"),
    "united_front": _l("United front"),
    "sugar_coated": _l("Incentive offer"),
    "mobilize_all": _l("Mobilize everyone"),
}
DISPUTES = {
    "service_quality": _l("Service quality"), "billing": _l("Billing question"),
    "developer_legacy": _l("Developer legacy"), "vacancy": _l("Vacant unit"),
    "wrong_debtor": _l("Wrong debtor"), "contract_end": _l("Contract ended"),
    "other": _l("Other"),
}
DISPUTE_RESULTS = {
    "upheld": _l("Charge upheld"), "reduced": _l("Reduced with a credit"),
    "waived": _l("Waived"),
}
ROUTES = {
    "payment_order": _l("Payment order"), "pre_suit_mediation": _l("Pre-suit mediation"),
    "small_claims": _l("Small claims"), "suit": _l("Civil suit"),
}
GRADES = {
    "A": _l("A: signed receipt or EMS delivered with contents label"),
    "B": _l("B: SMS delivery report"),
    "C": _l("C: posted notice or group message"),
}
DEBTOR_KINDS = {"owner": _l("Owner"), "tenant": _l("Tenant"), "co_owner": _l("Co-owner"),
                "developer": _l("Developer")}
PAY_CHANNELS = {"counter": _l("At the counter"), "bank_transfer": _l("Bank transfer"),
                "bank": _l("Bank transfer"), "wechat_pay": _l("WeChat Pay"),
                "wechat": _l("WeChat Pay"), "alipay": _l("Alipay"), "other": _l("Other")}
PAY_CHOICES = ("counter", "bank_transfer", "wechat_pay", "alipay", "other")
DISPATCH = {
    "ems": _l("EMS"), "hand": _l("By hand"), "registered_mail": _l("Registered mail"),
    "sms": _l("SMS"),
}
DOCUMENTS = {
    "payment_demand": _l("Payment demand"),
    "lawyer_letter": _l("Lawyer letter"),
    "installment_agreement": _l("Installment agreement"),
    "statement": _l("Statement"),
    "evidence_list": _l("Evidence list"),
    "payment_order_application": _l("Payment order application"),
    "complaint": _l("Statement of claim"),
}
DOCUMENT_STATUS = {"pending": _l("Being prepared"), "rendered": _l("Ready"),
                   "failed": _l("Failed")}
TASK_STATUS = {"open": _l("Open"), "done": _l("Done"), "cancelled": _l("Cancelled")}
TASKS = {
    "legal_review": _l("Legal review"),
    "conduct_review": _l("Conduct review"),
    "after_payment_visit": _l("72-hour visit after payment"),
    "overdue_task": _l("Overdue task"),
    "task_overdue": _l("Overdue task"),
    "start_outreach": _l("Start outreach"),
    "escalate_follow_up": _l("Escalate to follow-up"),
    "demand_due": _l("Written demand due"),
    "payment_demand_deadline": _l("Demand deadline passed"),
    "legal_action_due": _l("Consider legal action"),
    "lawyer_letter_deadline": _l("Lawyer letter deadline passed"),
    "dispute_acknowledge_sla": _l("Dispute not acknowledged in time"),
    "dispute_answer_sla": _l("Dispute not answered in time"),
    "limitation_alert": _l("Limitation expiring"),
    "call": _l("Call"),
    "outcome_review": _l("Outcome review"),
}
EVENT_KINDS = {
    "opened": _l("Case opened"), "lines": _l("Periods added"), "transition": _l("Stage change"),
    "contact": _l("Contact"), "payment": _l("Payment"), "assignment": _l("Assignment"),
    "reveal": _l("Phone number shown"), "dispatch": _l("Letter sent"),
    "proof": _l("Proof of delivery"), "task": _l("Task done"), "link": _l("Linked case"),
    "litigation": _l("Court record"), "review": _l("Outcome review"),
    "waiver": _l("Late fee waived"),
}
REVIEW_STATUS = {"submitted": _l("Awaiting confirmation"), "confirmed": _l("Confirmed"),
                 "returned": _l("Returned")}
REVIEW_ACTIONS = {"submit_review": _l("Review submitted"),
                  "confirm_review": _l("Review confirmed"), "return_review": _l("Review returned")}
PLAN_STATUS = {"active": _l("In force"), "kept": _l("Kept"), "broken": _l("Broken off"),
               "cancelled": _l("Cancelled")}
SECTIONS = {"overdue": _l("Overdue"), "today": _l("Due today"), "upcoming": _l("Upcoming")}
SORTS = {"priority": _l("By priority"), "due": _l("By due time")}  # queries.QUEUE_SORTS

# Form fields named by service errors (InvalidInput.field)
FIELDS = {
    "channel": _l("Channel"), "outcome": _l("Outcome"), "person_reached": _l("Person reached"),
    "reason_class": _l("Arrears reason"), "reason_sub": _l("Reason detail"),
    "techniques": _l("Techniques"), "at": _l("Time of contact"), "notes": _l("Notes"),
    "override_reason": _l("Reason for recording outside the contact rules"),
    "installments": _l("Installments"), "amount": _l("Amount"), "paid_on": _l("Payment date"),
    "external_id": _l("Receipt number"), "designated": _l("Periods paid"),
    "case_id": _l("Case"), "reason": _l("Reason"), "note": _l("Note"),
    "category": _l("Dispute category"), "charge_line_ids": _l("Periods"),
    "outcome_dispute": _l("Outcome"), "credit_amount": _l("Credit"),
    "grade": _l("Evidence grade"), "delivered_on": _l("Delivery date"),
    "contents_label": _l("Contents label"), "tracking_no": _l("Tracking number"),
    "document": _l("Document"), "route": _l("Court route"), "court": _l("Court"),
    "file": _l("File"), "assignee_id": _l("Collector"), "case_ids": _l("Cases"),
    "username": _l("User name"), "display_name": _l("Name"), "roles": _l("Roles"),
    "password": _l("Password"), "communities": _l("Communities"), "code": _l("Code"),
    "name": _l("Name"), "building": _l("Building"), "collector_id": _l("Collector"),
    "month": _l("Month"), "judgment_on": _l("Judgment date"), "filed_on": _l("Filing date"),
    "hearing_dates": _l("Hearing dates"), "court_case_number": _l("Court case number"),
    "kind": _l("Document kind"), "version": _l("Version"), "active": _l("Active"),
    "expected_version": _l("Case version"), "building_id": _l("Building"),
    "arrears_reason": _l("Arrears reason"), "arrears_reason_sub": _l("Reason detail"),
    "technique_worked": _l("Technique that worked"), "channel_worked": _l("Channel that worked"),
    "techniques_failed": _l("Techniques that did not work"), "stage_reached": _l("Stage reached"),
    "service_problems": _l("Service problems found"), "passed_on_to": _l("Passed on to"),
    "return_reason": _l("Reason for returning it"),
}


def field(name: str):
    """The label of a form field named by an error (installments[2] -> Installments)."""
    base = name.split("[", 1)[0].split(".", 1)[0].split(":", 1)[0]
    return FIELDS.get(base, name)


def get(table: dict, key):
    return table.get(key, key) if key is not None else "—"

POLICY = {
    "timeline.first_reminder": _l("First reminder"),
    "timeline.follow_up": _l("Follow-up"),
    "timeline.formal_demand": _l("Written demand"),
    "timeline.mediation": _l("Mediation / referral"),
    "timeline.lawyer_letter": _l("Lawyer letter"),
    "timeline.litigation_decision": _l("Litigation decision"),
    "follow_up_after_days": _l("Follow-up after (days without payment)"),
    "demand_deadline_days": _l("Demand deadline after delivery (days, at least 15)"),
    "demand_mail_days": _l("Days allowed for the post"),
    "letter_deadline_days": _l("Lawyer letter deadline (7 to 15 days)"),
    "legal_threshold": _l("Balance needed for legal action (yuan)"),
    "grace_days": _l("Grace days for a missed installment"),
    "dispute_ack_working_days": _l("Acknowledge a dispute within (working days)"),
    "dispute_answer_working_days": _l("Answer a dispute within (working days)"),
    "limitation_alert_days": _l("Limitation alerts (days before expiry)"),
    "after_payment_visit_hours": _l("Visit after payment within (hours)"),
    "penalty_cap_lpr_multiple": _l("Late fee cap (multiple of the one-year LPR)"),
    "contact.call_window": _l("Calls and visits allowed"),
    "contact.sms_window": _l("Messages allowed"),
    "contact.calls_per_day": _l("Calls per day"),
    "contact.calls_per_week": _l("Calls per week"),
    "contact.sms_per_day": _l("Messages per day"),
    "contact.sms_per_week": _l("Messages per week"),
    "contact.cooldown_days_after_conversation": _l("Quiet days after a conversation"),
    "company.full_name": _l("Company full name"),
    "company.address": _l("Company address"),
    "company.phone": _l("Company phone"),
    "company.legal_representative": _l("Legal representative"),
    "company.credit_code": _l("Unified social credit code"),
    "company.account_name": _l("Account name"),
    "company.bank_name": _l("Bank"),
    "company.account_number": _l("Account number"),
    "company.payment_channels": _l("Official payment channels (one a line)"),
    "company.contact_person": _l("Contact for objections"),
    "company.contact_phone": _l("Phone for objections"),
    "company.contact_hours": _l("Hours for objections"),
    "company.number_prefix": _l("Letter number prefix"),
    "contract.name": _l("Contract name"),
    "contract.number": _l("Contract number"),
    "contract.signed_on": _l("Signed on (YYYY-MM-DD)"),
    "contract.fee_clause": _l("Fee clause"),
    "contract.rate_per_m2_month": _l("Fee per m² per month (yuan)"),
    "contract.billing_cycle": _l("Billing cycle"),
    "contract.service_start": _l("Service start (YYYY-MM-DD)"),
    "contract.penalty_clause": _l("Late fee clause"),
    "law_firm.name": _l("Law firm"),
    "law_firm.address": _l("Law firm address"),
    "law_firm.phone": _l("Law firm phone"),
    "law_firm.lawyer_name": _l("Lawyer"),
    "law_firm.lawyer_license": _l("Lawyer licence number"),
    "law_firm.lawyer_phone": _l("Lawyer phone"),
}


class _Translated:
    """What templates see as `labels`: the same names, but each table as plain strings in the
    request's language, translated once per process and language (a lazy string asks
    Flask-Babel for the request's translations every time it is shown; the queue page showed
    some 300 of them)."""

    def __init__(self) -> None:
        self._tables: dict[tuple[str, str], object] = {}

    def __getattr__(self, name: str):
        from .fmt import in_language, locale_name

        value = globals()[name]
        if not isinstance(value, dict):
            return value
        return in_language(self._tables, (locale_name(), name), lambda: {
            k: str(v) if isinstance(v, LazyString) else v for k, v in value.items()})


translated = _Translated()
