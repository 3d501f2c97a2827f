"""Reading forms and turning service refusals into messages that name the field at fault."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation

from flask import current_app, request
from flask_babel import gettext as _

from workflows.errors import TransitionNotAllowed, WorkflowError

from ..models import utcnow
from ..services.clock import SHANGHAI
from ..services.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    ServiceError,
)
from . import labels
from .fmt import is_zh


def web_now() -> datetime:
    """The time the pages work with (tests may freeze it with FROZEN_NOW)."""
    return current_app.config.get("FROZEN_NOW") or utcnow()


@dataclass
class Problem:
    """A refusal as the page shows it: the message, the field at fault, the HTTP status."""

    message: str
    field: str | None = None
    rule: str | None = None
    status: int = 422
    reload: bool = False

    @property
    def field_label(self):
        return labels.field(self.field) if self.field else None


def localized(exc: ServiceError | WorkflowError) -> str:
    return exc.message if is_zh() else exc.message_en


def problem(exc: Exception) -> Problem:
    if isinstance(exc, Conflict):
        return Problem(localized(exc), status=409, reload=True)
    if isinstance(exc, TransitionNotAllowed):
        return Problem(localized(exc), rule=exc.rule, status=409, reload=True)
    if isinstance(exc, WorkflowError):
        return Problem(localized(exc), rule=exc.rule, status=422)
    if isinstance(exc, InvalidInput):
        return Problem(localized(exc), field=exc.field, status=422)
    if isinstance(exc, Forbidden):
        return Problem(localized(exc), status=403)
    if isinstance(exc, NotFound):
        return Problem(localized(exc), status=404)
    if isinstance(exc, ServiceError):
        return Problem(localized(exc), status=400)
    raise exc


SERVICE_ERRORS = (ServiceError, WorkflowError)


def text(name: str, limit: int = 2000) -> str:
    return (request.form.get(name) or "").strip()[:limit]


def optional(name: str) -> str | None:
    return text(name) or None


def integer(name: str, field: str | None = None) -> int | None:
    value = text(name)
    if not value:
        return None
    try:
        return int(value)
    except ValueError as exc:
        raise InvalidInput(field or name, "请填写整数。", "Enter a whole number.") from exc


def a_date(name: str, field: str | None = None, value: str | None = None) -> date | None:
    value = text(name) if value is None else value.strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(field or name, f"日期格式不正确：{value}",
                           f"Not a date: {value}") from exc


def a_moment(name: str, default: datetime) -> datetime:
    """A local date-time input (Shanghai) as an aware UTC datetime."""
    value = text(name)
    if not value:
        return default
    try:
        local = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(name, f"时间格式不正确：{value}", f"Not a time: {value}") from exc
    if local.tzinfo is None:
        local = local.replace(tzinfo=SHANGHAI)
    return local


def amount(name: str, field: str | None = None) -> Decimal | None:
    value = text(name).replace(",", "").replace("¥", "").replace("，", "")
    if not value:
        return None
    try:
        result = Decimal(value)
    except InvalidOperation as exc:
        raise InvalidInput(field or name, f"金额格式不正确：{value}",
                           f"Not an amount: {value}") from exc
    if not result.is_finite():
        raise InvalidInput(field or name, "金额格式不正确。", "Not an amount.")
    return result


def ids(name: str) -> list[int]:
    out = []
    for value in request.form.getlist(name):
        if value.strip().isdigit():
            out.append(int(value))
    return out


def expected_version() -> int | None:
    value = text("version")
    if not value:
        return None
    if not value.isdigit():
        raise InvalidInput("expected_version", "表单已失效，请刷新。", "Stale form; reload.")
    return int(value)


HARMLESS = ("reveal",)  # audited reads: they move the version but change nothing on the form


def ensure_fresh(case) -> int | None:
    """Refuse a form made from an older version of the case (someone changed it since).

    The form carries the case's version and the head of its audit chain; events that only
    read (a phone number shown) do not make a form stale. Returns the version to hand to the
    service, which checks it again inside its transaction.
    """
    version = expected_version()
    if version is None or case.version == version:
        return version
    seq = text("seq")
    if seq.isdigit():
        from sqlalchemy import select

        from ..extensions import db
        from ..models import CaseEvent

        kinds = set(db.session.scalars(select(CaseEvent.kind).where(
            CaseEvent.case_id == case.id, CaseEvent.seq > int(seq))))
        if kinds and kinds <= set(HARMLESS):
            return case.version
    raise Conflict("该案件在您打开页面后已被修改，您的操作没有保存。请刷新页面后重试。",
                   "The case changed after you opened the page; nothing was saved. "
                   "Reload and retry.")


def end_of_day(d: date) -> datetime:
    return datetime.combine(d, time(23, 59, 59), tzinfo=SHANGHAI)


def messages_for(exc) -> str:
    return _("Refused: %(message)s", message=localized(exc))
