"""The case workspace: debtor, statement, timeline, stage ladder, allowed actions and forms."""

from __future__ import annotations

import io
from dataclasses import dataclass
from decimal import Decimal

from flask import (
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user

from workflows import dunning
from workflows.rules import COURT_ROUTES, DISPUTE_CATEGORIES, DISPUTE_OUTCOMES, PROOF_GRADES

from .. import letters, queries, storage
from ..extensions import db
from ..models import (
    CHANNELS,
    OUTCOMES,
    PERSONS,
    REASON_CLASSES,
    REASON_SUBS,
    TECHNIQUES,
    Document,
    DunningCase,
)
from ..policy import merged
from ..services import (
    InvalidInput,
    actor_of,
    assign,
    can_see,
    ensure_can_act,
    fire_event,
    gather,
    record_contact,
    record_payment,
    reveal_phone,
)
from ..services.clock import SHANGHAI, local_date
from ..services.errors import Forbidden
from . import bp, ladder
from .access import ACTING, READERS, roles
from .auth import safe_next
from .forms import (
    SERVICE_ERRORS,
    a_date,
    a_moment,
    amount,
    ensure_fresh,
    ids,
    localized,
    optional,
    problem,
    text,
    web_now,
)

INSTALLMENT_ROWS = 6
REASON_EVENTS = ("reject_legal_action", "write_off", "withdraw")
EVENT_FORMS = {  # events that need input, and the partial that asks for it
    "record_delivery": "delivery", "file_claim": "claim", "promise_payment": "promise",
    "raise_dispute": "dispute", "resolve_dispute": "resolve",
    **{e: "reason" for e in REASON_EVENTS},
}
AUTOMATIC = ("settle", "break_plan")  # fired by payments and timers; shown, never offered


def load_case(case_id: int) -> DunningCase:
    """The case, if the user may see it (a collector only their own): else 404 / 403."""
    case = db.session.get(DunningCase, case_id)
    if case is None:
        abort(404)
    if not can_see(current_user, case):
        abort(403)
    return case


def may_work(case: DunningCase) -> bool:
    """The user may act on this case (its tasks too, even once it is closed)."""
    try:
        ensure_can_act(current_user, case)
    except Forbidden:
        return False
    return True


def may_act(case: DunningCase) -> bool:
    return case.is_open and may_work(case)


@dataclass
class Action:
    event: str
    refusal: str | None
    form: str | None
    automatic: bool = False


def probe_params(facts) -> dict:
    """Inputs that satisfy the form rules, so `check` explains what else stands in the way."""
    return {"reason": "-", "note": "-", "route": "suit", "grade": "A", "category": "other",
            "outcome": "upheld",
            "installments": [{"due_date": facts.today, "amount": facts.outstanding}]}


def allowed_actions(case: DunningCase, facts) -> list[Action]:
    """Every event of the case's stage; a refused one carries the rule that refuses it."""
    actor = actor_of(current_user)
    out = []
    for event in dunning.events_from(case.state):
        refusal = dunning.check(case.state, event, facts, actor, probe_params(facts))
        out.append(Action(event, localized(refusal) if refusal else None,
                          EVENT_FORMS.get(event), event in AUTOMATIC))
    return out


def can_download(case: DunningCase) -> bool:
    """Letters are for legal, the supervisor and the collector of the case."""
    if current_user.has_role("legal", "supervisor") and can_see(current_user, case):
        return True
    return current_user.has_role("collector") and case.assignee_id == current_user.id


def render_case(case: DunningCase, *, problem_=None, form=None, panel: str | None = None,
                revealed: str | None = None, status: int = 200):
    now = web_now()
    today = local_date(now)
    db.session.refresh(case)
    facts = gather(case, now)
    acting = may_act(case)
    policy = merged(case.policy.data if case.policy else None)
    lpr = Decimal(str(policy.get("lpr") or current_app.config.get("DEFAULT_LPR", "0.03")))
    collectors = queries.collectors(current_user) if current_user.has_role("supervisor") else []
    body = render_template(
        "case.html", case=case, debtor=case.debtor, facts=facts, today=today,
        statement=queries.statement(case, today, lpr),
        money=queries.case_money([case.id], today)[case.id],
        places=queries.case_places([case.id]).get(case.id, []),
        actions=allowed_actions(case, facts) if acting else [],
        acting=acting, working=may_work(case), timeline=queries.timeline(case),
        documents=queries.case_documents(case), downloads=can_download(case),
        plan=queries.open_plan(case), disputes=queries.disputes(case),
        tasks=queries.case_tasks(case), litigation=queries.litigation_record(case),
        ladder=ladder.ladder(case.state, queries.visited_states(case)),
        problem=problem_, form=form or {}, panel=panel, revealed=revealed,
        collectors=collectors, installment_rows=range(1, INSTALLMENT_ROWS + 1),
        choices={"channels": CHANNELS, "outcomes": OUTCOMES, "persons": PERSONS,
                 "reason_classes": REASON_CLASSES, "reason_subs": REASON_SUBS,
                 "techniques": TECHNIQUES, "routes": COURT_ROUTES,
                 "disputes": DISPUTE_CATEGORIES, "dispute_outcomes": DISPUTE_OUTCOMES,
                 "grades": PROOF_GRADES, "dispatch": tuple(letters.DISPATCH_CHANNELS)},
        default_at=now.astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M"),
        names=queries.staff_names())
    return body, status


@bp.get("/cases/<int:case_id>")
@roles(*READERS)
def case_detail(case_id: int):
    return render_case(load_case(case_id))


def _refused(case: DunningCase, exc: Exception, panel: str):
    db.session.rollback()
    found = problem(exc)
    if found.status == 403:
        abort(403)
    return render_case(case, problem_=found, form=request.form, panel=panel,
                       status=found.status)


def _done(case: DunningCase, message: str):
    flash(message, "ok")
    return redirect(safe_next(request.form.get("next")) or
                    url_for("web.case_detail", case_id=case.id))


def installments_from_form() -> list[dict]:
    """The filled rows of the installment table (a date and an amount each)."""
    rows = []
    for n in range(1, INSTALLMENT_ROWS + 1):
        due, value = text(f"inst_date_{n}"), text(f"inst_amount_{n}")
        if not due and not value:
            continue
        if not due or not value:
            raise InvalidInput(f"installments[{n}]", f"第{n}期须同时填写日期和金额。",
                               f"Installment {n} needs both a date and an amount.")
        rows.append({"due_date": a_date("", f"installments[{n}]", due),
                     "amount": amount(f"inst_amount_{n}", f"installments[{n}]")})
    return rows


@bp.post("/cases/<int:case_id>/contacts")
@roles(*ACTING)
def add_contact(case_id: int):
    case = load_case(case_id)
    try:
        ensure_fresh(case)
        promise = installments_from_form() if request.form.get("with_promise") else None
        if request.form.get("with_promise") and not promise:
            raise InvalidInput("installments", "请填写承诺付款的日期和金额。",
                               "Enter the promised dates and amounts.")
        reason_class = optional("reason_class")
        record_contact(
            case.id, current_user, channel=text("channel"), outcome=text("outcome"),
            at=a_moment("at", web_now()), person_reached=text("person_reached") or "debtor",
            techniques=request.form.getlist("techniques"), reason_class=reason_class,
            reason_sub=optional("reason_sub") if reason_class else None,
            notes=text("notes", 4000), override_reason=optional("override_reason"),
            promise=promise, now=web_now())
    except SERVICE_ERRORS as exc:
        return _refused(case, exc, "contact")
    if promise:
        return _done(case, _("Contact recorded; the promise moved the case to installments."))
    return _done(case, _("Contact recorded."))


@bp.post("/cases/<int:case_id>/payments")
@roles(*ACTING)
def add_payment(case_id: int):
    case = load_case(case_id)
    try:
        ensure_fresh(case)
        value = amount("amount")
        if value is None:
            raise InvalidInput("amount", "请填写金额。", "Enter the amount.")
        paid_on = a_date("paid_on") or local_date(web_now())
        payment = record_payment(case.id, value, paid_on, channel=text("channel") or "counter",
                                 external_id=optional("external_id"),
                                 designated=ids("designated"), user=current_user,
                                 now=web_now())
    except SERVICE_ERRORS as exc:
        return _refused(case, exc, "payment")
    return _done(case, _("Payment of %(amount)s recorded.", amount=f"¥{payment.amount:,.2f}"))


def event_params(event: str) -> dict:
    if event in REASON_EVENTS:
        return {"reason": text("reason")}
    if event == "file_claim":
        return {"route": text("route"), "court": text("court")}
    if event == "record_delivery":
        return {"grade": text("grade"), "delivered_on": text("delivered_on") or None,
                "tracking_no": optional("tracking_no"),
                "contents_label": optional("contents_label"), "channel": optional("channel"),
                "proof_ref": optional("proof_ref")}
    if event == "raise_dispute":
        return {"category": text("category"), "note": text("note", 4000),
                "charge_line_ids": ids("charge_line_ids"), "ticket_ref": optional("ticket_ref")}
    if event == "resolve_dispute":
        return {"outcome": text("outcome"), "credit_amount": text("credit_amount")}
    if event == "promise_payment":
        return {"installments": installments_from_form()}
    return {}


@bp.post("/cases/<int:case_id>/events/<event>")
@roles(*ACTING)
def fire(case_id: int, event: str):
    case = load_case(case_id)
    if event not in dunning.EVENT_NAMES or event in AUTOMATIC:
        abort(404)
    try:
        version = ensure_fresh(case)
        params = event_params(event)
        upload = request.files.get("proof")
        if event == "record_delivery" and upload and upload.filename:
            refusal = dunning.check(case.state, event, gather(case, web_now()),
                                    actor_of(current_user), params)
            if refusal:
                raise refusal
            doc = _deliverable(case)
            params["proof_ref"] = letters.attach_proof(doc.id, current_user, upload.filename,
                                                       upload.read(), now=web_now())
            version = None  # the proof itself was a change of the case
        fire_event(case.id, event, current_user, params, now=web_now(),
                   expected_version=version)
    except SERVICE_ERRORS as exc:
        return _refused(case, exc, event)
    from . import labels

    return _done(case, _("Done: %(action)s.", action=labels.EVENTS[event]))


def _deliverable(case: DunningCase) -> Document:
    kind = "payment_demand" if case.state == "formal_demand" else "lawyer_letter"
    doc = db.session.scalars(db.select(Document).where(
        Document.case_id == case.id, Document.kind == kind).order_by(Document.id.desc())).first()
    if doc is None:
        raise InvalidInput("document", "没有可登记送达的文书。", "There is no letter to deliver.")
    return doc


@bp.post("/cases/<int:case_id>/phone")
@roles(*ACTING)
def show_phone(case_id: int):
    """Reveal the number to someone who may call; the reveal is in the audit chain."""
    case = load_case(case_id)
    try:
        phone = reveal_phone(case.id, current_user, now=web_now())
    except SERVICE_ERRORS as exc:
        if request.headers.get("HX-Request"):
            return render_template("partials/phone.html", error=localized(exc)), 200
        return _refused(case, exc, "phone")
    if request.headers.get("HX-Request"):
        return render_template("partials/phone.html", phone=phone)
    return render_case(case, revealed=phone)


@bp.post("/cases/<int:case_id>/assign")
@roles("supervisor")
def assign_case(case_id: int):
    case = load_case(case_id)
    try:
        ensure_fresh(case)
        value = text("assignee_id")
        assign([case.id], int(value) if value.isdigit() else None, current_user, now=web_now())
    except SERVICE_ERRORS as exc:
        return _refused(case, exc, "assign")
    return _done(case, _("Assignment saved."))


@bp.post("/cases/<int:case_id>/waivers")
@roles("supervisor")
def waive_late_fee(case_id: int):
    from ..services.waivers import grant_waiver

    case = load_case(case_id)
    try:
        waiver = grant_waiver(case.id, current_user, text("amount"), text("reason"),
                              now=web_now(), expected_version=ensure_fresh(case))
    except SERVICE_ERRORS as exc:
        return _refused(case, exc, "waiver")
    return _done(case, _("Late fee of %(amount)s waived.", amount=f"¥{waiver.amount:,.2f}"))


# -- documents -----------------------------------------------------------------------------------


def _document(document_id: int) -> tuple[Document, DunningCase]:
    doc = db.session.get(Document, document_id)
    if doc is None:
        abort(404)
    return doc, load_case(doc.case_id)


@bp.get("/documents/<int:document_id>/download")
@roles(*ACTING)
def download(document_id: int):
    doc, case = _document(document_id)
    if not can_download(case):
        abort(403)
    if doc.status != "rendered" or not storage.exists(doc.path):
        abort(404)
    rel = doc.path
    mimetype = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    if request.args.get("format") == "pdf":
        rel = letters.pdf_relpath(doc) or abort(404)
        mimetype = "application/pdf"
    title = letters.TITLES.get(doc.kind, doc.kind)
    name = f"{case.number}_{title}_{doc.id}{'.pdf' if rel.endswith('.pdf') else '.docx'}"
    return send_file(io.BytesIO(storage.read(rel)), mimetype=mimetype, as_attachment=True,
                     download_name=name, max_age=0)


@bp.post("/documents/<int:document_id>/dispatch")
@roles(*ACTING)
def dispatch(document_id: int):
    doc, case = _document(document_id)
    try:
        ensure_fresh(case)
        letters.record_dispatch(doc.id, current_user, text("channel"),
                                tracking_no=optional("tracking_no"),
                                contents_label=optional("contents_label"), now=web_now())
    except SERVICE_ERRORS as exc:
        return _refused(case, exc, f"dispatch-{doc.id}")
    return _done(case, _("Dispatch recorded."))


@bp.post("/documents/<int:document_id>/retry")
@roles(*ACTING)  # whoever may act on the case: re-rendering changes nothing the letter says
def retry_document(document_id: int):
    doc, case = _document(document_id)
    try:
        ensure_can_act(current_user, case)
        letters.retry_document(doc.id)
    except SERVICE_ERRORS as exc:
        return _refused(case, exc, f"dispatch-{doc.id}")
    return _done(case, _("The document will be prepared again."))
