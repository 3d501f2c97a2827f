"""The endpoints: thin adapters from JSON to the services (no rule is written here twice)."""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask import Response, g, jsonify, request, send_file
from werkzeug.exceptions import RequestEntityTooLarge

from workflows.dunning import EVENT_NAMES, STATE_IDS

from .. import exports, imports, services, storage
from ..extensions import db
from ..imports.runs import ensure_can_import, get_run, job_progress
from ..models import (
    CHANNELS,
    OUTCOMES,
    PERSONS,
    REASON_CLASSES,
    REASON_SUBS,
    TECHNIQUES,
    CaseEvent,
    ChargeLine,
    Document,
    DunningCase,
    Payment,
    StaffUser,
    Task,
)
from ..services.access import can_see, community_ids, visible_cases
from ..services.errors import Conflict, Forbidden, InvalidInput, NotFound
from . import BadRequest, bp, error, serialize
from .openapi import document as openapi_document

MAX_ID = 2**31 - 1
MONEY = re.compile(r"^\d{1,12}(\.\d{1,2})?$")
OPENERS = ("supervisor", "admin")


# --- input helpers ------------------------------------------------------------------------------


def body() -> dict[str, Any]:
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise BadRequest("请求体为空，需要 JSON 对象。")
    try:
        data = json.loads(raw, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"请求体不是有效的 JSON：{exc}") from exc
    if not isinstance(data, dict):
        raise InvalidInput("body", "请求体必须是 JSON 对象。", "The body must be a JSON object.")
    return data


def _type_error(field: str, what: str, what_en: str) -> InvalidInput:
    return InvalidInput(field, f"“{field}”必须是{what}。", f"'{field}' must be {what_en}.")


def _null(data: dict, field: str, nullable: bool) -> None:
    """A field sent as null where the document does not allow null is an error (422)."""
    if field in data and data[field] is None and not nullable:
        raise InvalidInput(field, f"“{field}”不能为 null。", f"'{field}' must not be null.")


def text(data: dict, field: str, *, required: bool = False, max_len: int = 2000,
         default: str | None = None, nullable: bool = False) -> str | None:
    _null(data, field, nullable)
    value = data.get(field)
    if value is None:
        if required:
            raise InvalidInput(field, f"缺少“{field}”。", f"'{field}' is required.")
        return default
    if not isinstance(value, str):
        raise _type_error(field, "字符串", "a string")
    if required and not value.strip():
        raise InvalidInput(field, f"“{field}”不能为空。", f"'{field}' must not be empty.")
    if len(value) > max_len:
        raise InvalidInput(field, f"“{field}”过长（最多{max_len}个字符）。",
                           f"'{field}' is too long (max {max_len}).")
    return value


def integer(data: dict, field: str, *, required: bool = False, nullable: bool = False):
    _null(data, field, nullable)
    value = data.get(field)
    if value is None:
        if required and not (nullable and field in data):
            raise InvalidInput(field, f"缺少“{field}”。", f"'{field}' is required.")
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _type_error(field, "整数", "an integer")
    if not 0 <= value <= MAX_ID:
        raise InvalidInput(field, f"“{field}”超出范围。", f"'{field}' is out of range.")
    return value


def int_list(data: dict, field: str, *, required: bool = False) -> list[int]:
    _null(data, field, False)
    value = data.get(field)
    if value is None:
        if required:
            raise InvalidInput(field, f"缺少“{field}”。", f"'{field}' is required.")
        return []
    if not isinstance(value, list) or any(isinstance(v, bool) or not isinstance(v, int)
                                          or not 0 <= v <= MAX_ID for v in value):
        raise _type_error(field, "整数数组", "an array of integers")
    if len(value) > 1000:
        raise InvalidInput(field, f"“{field}”最多1000项。", f"'{field}' has too many items.")
    return value


def choice(data: dict, field: str, allowed, *, required: bool = False, default=None,
           nullable: bool = False):
    if hasattr(data, "getlist"):  # query arguments: no null there
        value = data.get(field, default)
    else:
        _null(data, field, nullable)
        value = data.get(field, default)
        if value is None and field in data:
            return None
    if value is None:
        if required:
            raise InvalidInput(field, f"缺少“{field}”。", f"'{field}' is required.")
        return None
    if value not in allowed:
        raise InvalidInput(field, f"“{value}”不是有效的选项。",
                           f"'{value}' is not a valid choice.")
    return value


def a_date(data: dict, field: str, *, required: bool = False) -> date | None:
    value = text(data, field, required=required, max_len=10)
    if value is None:
        return None
    try:
        parsed = date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(field, f"“{field}”不是有效的日期（YYYY-MM-DD）。",
                           f"'{field}' is not a date (YYYY-MM-DD).") from exc
    if not 2000 <= parsed.year <= 2100:
        raise InvalidInput(field, f"“{field}”的年份须在2000至2100之间。",
                           f"'{field}' must lie in the years 2000 to 2100.")
    return parsed


def amount(data: dict, field: str) -> Decimal:
    _null(data, field, False)
    value = data.get(field)
    if isinstance(value, Decimal | int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not MONEY.match(value.strip()):
        raise InvalidInput(field, f"“{field}”必须是金额（元，最多两位小数，例如 \"268.50\"）。",
                           f"'{field}' must be an amount in yuan with at most 2 decimals.")
    return Decimal(value.strip())


def query_int(name: str, default: int | None, low: int, high: int) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise InvalidInput(name, f"“{name}”必须是整数。", f"'{name}' must be an integer.") from exc
    if not low <= value <= high:
        raise InvalidInput(name, f"“{name}”超出范围（{low}–{high}）。",
                           f"'{name}' must be between {low} and {high}.")
    return value


def page_args() -> tuple[int, int]:
    return query_int("page", 1, 1, 1_000_000), query_int("per_page", 50, 1, 200)


def paginated(query, page: int, per_page: int, render) -> Response:
    total = db.session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))
    rows = db.session.scalars(query.limit(per_page).offset((page - 1) * per_page)).all()
    return jsonify({"items": [render(r) for r in rows], "page": page, "per_page": per_page,
                    "total": total})


def user() -> StaffUser:
    return g.api_user


def visible_case(case_id: int) -> DunningCase:
    if not 1 <= case_id <= MAX_ID:
        raise NotFound(f"案件 {case_id} 不存在。", f"Case {case_id} does not exist.")
    case = services.get_case(case_id)
    if not can_see(user(), case):
        raise Forbidden("您无权查看这个案件。", "You may not see this case.")
    return case


# --- the document -------------------------------------------------------------------------------


@bp.get("/openapi.json")
def openapi():
    return jsonify(openapi_document())


# --- cases --------------------------------------------------------------------------------------


@bp.get("/cases")
def list_cases():
    page, per_page = page_args()
    state = request.args.get("state") or None
    if state is not None and state not in STATE_IDS:
        raise InvalidInput("state", f"“{state}”不是有效的状态。", f"Unknown state '{state}'.")
    query = sa.select(DunningCase).where(visible_cases(user())).order_by(DunningCase.id)
    if state:
        query = query.where(DunningCase.state == state)
    community = query_int("community", None, 1, MAX_ID)
    if community is not None:
        query = query.where(DunningCase.community_id == community)
    assignee = query_int("assignee", None, 1, MAX_ID)
    if assignee is not None:
        query = query.where(DunningCase.assignee_id == assignee)
    return paginated(query, page, per_page, serialize.case_summary)


@bp.post("/cases")
def open_case():
    data = body()
    ids = int_list(data, "charge_line_ids", required=True)
    if not ids:
        raise InvalidInput("charge_line_ids", "至少需要一条欠费记录。",
                           "At least one charge line.")
    assignee_id = integer(data, "assignee_id", nullable=True)
    me = user()
    if not me.has_role(*OPENERS):
        raise Forbidden("只有催缴组长或管理员可以立案。",
                        "Only a supervisor or admin may open cases.")
    lines = db.session.scalars(sa.select(ChargeLine).where(ChargeLine.id.in_(ids))).all()
    missing = sorted(set(ids) - {line.id for line in lines})
    if missing:
        raise InvalidInput("charge_line_ids", f"欠费记录不存在：{missing}", f"Unknown: {missing}")
    first = lines[0]
    community_id = first.unit.building.community_id
    allowed = community_ids(me)
    if allowed is not None and community_id not in allowed:
        raise Forbidden("您不负责这个小区。", "You do not work in this community.")
    if assignee_id is not None:
        assignee = db.session.get(StaffUser, assignee_id)
        if assignee is None or not assignee.active or not assignee.has_role("collector"):
            raise InvalidInput("assignee_id", "只能分配给在职的催费员。",
                               "Cases can only go to an active collector.")
    case = services.open_case(first.debtor_id, community_id, ids, me, assignee_id=assignee_id)
    response = jsonify(serialize.case_detail(services.get_case(case.id)))
    response.status_code = 201
    response.headers["Location"] = f"/api/v1/cases/{case.id}"
    return response


@bp.get("/cases/<int:case_id>")
def get_case(case_id: int):
    return jsonify(serialize.case_detail(visible_case(case_id)))


def _installments(value, field: str) -> list[dict]:
    if not isinstance(value, list) or not value or len(value) > 120:
        raise InvalidInput(field, "分期计划必须是1到120期的数组。",
                           "Installments must be an array of 1 to 120 items.")
    out = []
    for n, item in enumerate(value, start=1):
        name = f"{field}[{n}]"
        if not isinstance(item, dict):
            raise InvalidInput(name, f"第{n}期格式不正确。", f"Installment {n} must be an object.")
        out.append({"due_date": a_date(item, "due_date", required=True),
                    "amount": amount(item, "amount")})
    return out


PARAM_TEXTS = ("reason", "note", "court", "tracking_no", "contents_label", "proof_ref",
               "channel", "ticket_ref", "category", "outcome", "route", "grade")


def event_params(raw, field: str = "params") -> dict[str, Any]:
    """The event's parameters with their types checked; the guards judge their meaning."""
    if not isinstance(raw, dict):
        raise InvalidInput(field, f"{field} 必须是 JSON 对象。", f"'{field}' must be an object.")
    for key, value in raw.items():
        if value is None:
            raise InvalidInput(key, f"“{key}”不能为 null。", f"'{key}' must not be null.")
    params: dict[str, Any] = {}
    for key in PARAM_TEXTS:
        value = text(raw, key, max_len=2000)
        if value is not None:
            params[key] = value
    if raw.get("delivered_on") is not None:
        params["delivered_on"] = a_date(raw, "delivered_on")
    if raw.get("credit_amount") is not None:
        params["credit_amount"] = amount(raw, "credit_amount")
    if raw.get("charge_line_ids") is not None:
        params["charge_line_ids"] = int_list(raw, "charge_line_ids")
    if raw.get("installments") is not None:
        params["installments"] = _installments(raw["installments"], "installments")
    return params


@bp.post("/cases/<int:case_id>/events")
def fire(case_id: int):
    data = body()
    event = choice(data, "event", EVENT_NAMES, required=True)
    params = event_params(data["params"]) if "params" in data else {}
    expected = integer(data, "expected_version")
    visible_case(case_id)
    case = services.fire_event(case_id, event, user(), params, expected_version=expected)
    return jsonify(serialize.case_detail(services.get_case(case.id)))


@bp.get("/cases/<int:case_id>/history")
def history(case_id: int):
    case = visible_case(case_id)
    events = db.session.scalars(sa.select(CaseEvent).where(CaseEvent.case_id == case.id)
                                .order_by(CaseEvent.seq)).all()
    return jsonify({"case_id": case.id, "number": case.number,
                    "events": [serialize.event(ev) for ev in events]})


def _moment(data: dict, field: str) -> datetime | None:
    value = text(data, field, max_len=40)
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidInput(field, f"“{field}”不是有效的时间（ISO 8601，含时区）。",
                           f"'{field}' is not an ISO 8601 date-time.") from exc
    if moment.tzinfo is None:
        raise InvalidInput(field, "时间需要带时区。", "The time needs a time zone.")
    if not 2000 <= moment.year <= 2100:
        raise InvalidInput(field, f"“{field}”的年份须在2000至2100之间。",
                           f"'{field}' must lie in the years 2000 to 2100.")
    return moment.astimezone(UTC)


@bp.post("/cases/<int:case_id>/contacts")
def contact(case_id: int):
    data = body()
    channel = choice(data, "channel", CHANNELS, required=True)
    outcome = choice(data, "outcome", OUTCOMES, required=True)
    person = choice(data, "person_reached", PERSONS, default="debtor")
    _null(data, "techniques", False)
    techniques = data.get("techniques", [])
    if not isinstance(techniques, list) or any(t not in TECHNIQUES for t in techniques):
        raise InvalidInput("techniques", "催收技巧不正确。", "Unknown technique.")
    reason_class = choice(data, "reason_class", REASON_CLASSES, nullable=True)
    reason_sub = choice(data, "reason_sub", REASON_SUBS, nullable=True)
    notes = text(data, "notes", max_len=5000, default="")
    override = text(data, "override_reason", max_len=2000, nullable=True)
    at = _moment(data, "at")
    _null(data, "promise", False)
    promise = _installments(data["promise"], "promise") if "promise" in data else None
    _null(data, "dispute", False)
    dispute = event_params(data["dispute"], "dispute") if "dispute" in data else None
    visible_case(case_id)
    attempt = services.record_contact(
        case_id, user(), channel=channel, outcome=outcome, at=at, person_reached=person,
        techniques=techniques, reason_class=reason_class, reason_sub=reason_sub, notes=notes,
        override_reason=override, promise=promise, dispute=dispute)
    response = jsonify(serialize.contact(attempt))
    response.status_code = 201
    return response


# --- payments -----------------------------------------------------------------------------------


@bp.post("/payments")
def payment_webhook():
    """Money received (a payment system's webhook): idempotent by external_id."""
    data = body()
    external_id = text(data, "external_id", required=True, max_len=128).strip()
    value = amount(data, "amount")
    paid_on = a_date(data, "paid_on", required=True)
    channel = text(data, "channel", max_len=32, default="api") or "api"
    designated = int_list(data, "designated")
    case_id = integer(data, "case_id")
    number = text(data, "case_number", max_len=32)
    if case_id is None and not number:
        raise InvalidInput("case_id", "请提供 case_id 或 case_number。",
                           "Give case_id or case_number.")
    if case_id is None:
        case_id = db.session.scalar(sa.select(DunningCase.id).where(DunningCase.number == number))
        if case_id is None:
            raise NotFound(f"案件 {number} 不存在。", f"Case {number} does not exist.")
    visible_case(case_id)
    known = db.session.scalar(sa.select(Payment.id).where(Payment.external_id == external_id))
    p = services.record_payment(case_id, value, paid_on, channel=channel,
                                external_id=external_id, designated=designated, user=user())
    response = jsonify({**serialize.payment(p), "replayed": known is not None,
                        "case_state": services.get_case(p.case_id).state})
    response.status_code = 200 if known is not None else 201
    return response


@bp.post("/payments/<int:payment_id>/reverse")
def reverse(payment_id: int):
    data = body()
    reason = text(data, "reason", required=True, max_len=2000)
    p = db.session.get(Payment, payment_id) if 1 <= payment_id <= MAX_ID else None
    if p is None:
        raise NotFound(f"缴费记录 {payment_id} 不存在。", f"Payment {payment_id} does not exist.")
    visible_case(p.case_id)
    if p.reversed:
        raise Conflict("这笔缴费已经冲正过了。", "This payment was already reversed.")
    target = services.reverse_payment(payment_id, reason, user())
    p = db.session.get(Payment, payment_id)
    return jsonify({"payment": serialize.payment(p),
                    "case": serialize.case_summary(services.get_case(target.id)),
                    "reopened": target.id != p.case_id})


# --- tasks and documents ------------------------------------------------------------------------


@bp.get("/tasks")
def tasks():
    page, per_page = page_args()
    status = choice(request.args, "status", ("open", "done", "cancelled", "all"), default="open")
    me = user()
    query = (sa.select(Task).join(DunningCase, DunningCase.id == Task.case_id)
             .where(visible_cases(me)).order_by(Task.due_at, Task.id))
    if status != "all":
        query = query.where(Task.status == status)
    mine = request.args.get("mine")
    if mine not in (None, "true", "false"):
        raise InvalidInput("mine", "mine 只能是 true 或 false。", "'mine' must be true or false.")
    if mine == "true":
        query = query.where(sa.or_(Task.assignee_id == me.id,
                                   sa.and_(Task.assignee_id.is_(None),
                                           Task.candidate_role.in_(sorted(me.roles)))))
    return paginated(query, page, per_page, serialize.task)


@bp.get("/documents/<int:document_id>")
def get_document(document_id: int):
    doc = db.session.get(Document, document_id) if 1 <= document_id <= MAX_ID else None
    if doc is None:
        raise NotFound(f"文书 {document_id} 不存在。", f"Document {document_id} does not exist.")
    visible_case(doc.case_id)
    ready = doc.status == "rendered" and storage.exists(doc.path)
    download = request.args.get("download")
    if download not in (None, "0", "1"):
        raise InvalidInput("download", "download 只能是 1 或 0。", "'download' must be 1 or 0.")
    if download == "1":
        if not ready:
            raise Conflict("文书尚未生成，暂不能下载。", "The document is not rendered yet.")
        path = storage.path_of(doc.path)
        return send_file(io.BytesIO(storage.read(doc.path)), as_attachment=True,
                         download_name=path.name,
                         mimetype="application/vnd.openxmlformats-officedocument"
                                  ".wordprocessingml.document" if path.suffix == ".docx"
                         else None)
    return jsonify(serialize.document(doc, ready))


# --- exports ------------------------------------------------------------------------------------


@bp.get("/exports/<kind>.<fmt>")
def export(kind: str, fmt: str):
    if kind not in exports.KINDS or fmt not in exports.FORMATS:
        raise NotFound("没有这种导出。", "No such export.")
    result = exports.export(kind, fmt, user())
    return Response(result.data, mimetype=result.mimetype, headers={
        "Content-Disposition": f'attachment; filename="{result.filename}"'})


# --- imports ------------------------------------------------------------------------------------

IMPORT_KINDS = ("ledger", "payments")
MAX_UPLOAD = 50 * 2**20  # bytes


def _flag(form, field: str) -> bool:
    value = text(form, field, max_len=5)
    if value not in (None, "", "true", "false"):
        raise InvalidInput(field, f"“{field}”只能是 true 或 false。",
                           f"'{field}' must be true or false.")
    return value == "true"


@bp.post("/imports")
def start_import():
    """Upload a ledger or payments file: the run is recorded and imported here (small files)
    or by a worker, as in the admin UI; 202 with the run to poll."""
    me = user()
    ensure_can_import(me)
    if (request.content_length or 0) > MAX_UPLOAD + 64 * 1024:
        raise RequestEntityTooLarge(f"文件过大（最多 {MAX_UPLOAD // 2**20} MiB）。")
    upload = request.files.get("file") if request.mimetype == "multipart/form-data" else None
    if upload is None:
        raise InvalidInput("file", "请以 multipart/form-data 上传文件（字段名 file）。",
                           "Upload the file as multipart/form-data, field 'file'.")
    data = upload.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        raise RequestEntityTooLarge(f"文件过大（最多 {MAX_UPLOAD // 2**20} MiB）。")
    if not data.strip():
        raise InvalidInput("file", "上传的文件是空的。", "The uploaded file is empty.")
    form = request.form
    kind = choice(form, "kind", IMPORT_KINDS, required=True)
    dry_run = _flag(form, "dry_run")
    community_code = (text(form, "community_code", max_len=32) or "").strip() or None
    mapping = (text(form, "mapping", max_len=64) or "").strip() or None
    filename = (upload.filename or "").strip()[:256] or "upload"
    run = imports.start_import(kind, data, filename, user=me, community_code=community_code,
                               mapping=mapping, dry_run=dry_run)
    if run.status == "failed" and not run.job_id:
        return error(503, "unavailable", "任务队列暂不可用，导入没有开始；请稍后重试。",
                     "The job queue is unavailable; the import did not start. Retry later.")
    response = jsonify(serialize.import_run(run, job_progress(run)))
    response.status_code = 202
    response.headers["Location"] = f"/api/v1/imports/{run.id}"
    return response


def _run(run_id: int):
    return get_run(run_id if 1 <= run_id <= MAX_ID else 0, user())  # 0: never an id


@bp.get("/imports/<int:run_id>")
def import_status(run_id: int):
    run = _run(run_id)
    return jsonify(serialize.import_run(run, job_progress(run)))


@bp.get("/imports/<int:run_id>/errors")
def import_errors(run_id: int):
    """The row errors kept on the run (the first 1,000; errors.csv has them all)."""
    run = _run(run_id)
    errors = run.errors or []
    return jsonify({"id": run.id, "status": run.status, "error_count": run.error_count,
                    "errors": errors, "truncated": run.error_count > len(errors)})


@bp.get("/imports/<int:run_id>/errors.csv")
def import_error_report(run_id: int):
    run = _run(run_id)
    return Response(imports.error_report(run.id), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="import-{run.id}-errors.csv"'})
