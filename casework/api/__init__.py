"""The REST API /api/v1 (JSON, bearer tokens). The routes call the same services as the UI."""

from __future__ import annotations

import re
from functools import cache

from flask import Blueprint, g, jsonify, request
from werkzeug.exceptions import HTTPException

from workflows.errors import WorkflowError

from ..services.errors import Conflict, Forbidden, InvalidInput, NotFound, ServiceError
from .tokens import authenticate, create_token, revoke_token

bp = Blueprint("api", __name__, url_prefix="/api/v1")
PUBLIC = ("api.openapi",)

__all__ = ["bp", "create_token", "revoke_token"]


class BadRequest(Exception):
    """The body is not JSON at all (400); JSON of the wrong shape is InvalidInput (422)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def error(status: int, code: str, message: str, message_en: str = "", **extra):
    body = {"error": code, "message": message, "message_en": message_en or message, **extra}
    response = jsonify(body)
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="casework"'
    return response


@bp.before_request
def require_token():
    if request.endpoint in PUBLIC:
        return None
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    user = authenticate(token.strip()) if scheme.lower() == "bearer" else None
    if user is None:
        return error(401, "unauthorized", "缺少或无效的访问令牌。",
                     "Missing or invalid bearer token.")
    g.api_user = user
    return None


@bp.before_request
def refuse_unknown_query_parameters():
    """A query parameter the operation does not document is refused (422, naming it), not
    ignored: a misspelt filter (`?stat=paid`) would otherwise answer with every row as if it
    had applied. The OpenAPI document is the list of what each operation takes."""
    rule = request.url_rule
    if rule is None:
        return None  # no such URL: the 404 says so
    allowed = _query_parameters().get((_shape(rule.rule), request.method))
    if allowed is None:
        return None  # an operation the document does not describe (none; see the tests)
    for name in request.args:
        if name not in allowed:
            shown = name if name else "(空)"
            raise InvalidInput(name, f"未知的查询参数“{shown}”；此接口只接受："
                               f"{'、'.join(sorted(allowed)) or '无'}。",
                               f"Unknown query parameter '{name}'; this operation takes: "
                               f"{', '.join(sorted(allowed)) or 'none'}.")
    return None


@cache
def _shape(path: str) -> str:
    """A Flask rule (/cases/<int:case_id>) or a document's path (/cases/{case_id}) with its
    arguments as {}: the same for the same route, whatever the arguments are called."""
    return re.sub(r"<[^<>]+>|\{[^{}]+\}", "{}", path)


@cache
def _query_parameters() -> dict[tuple[str, str], frozenset[str]]:
    """(route shape, method) -> the query parameters the OpenAPI document gives that
    operation."""
    from .openapi import document

    found = {}
    for path, operations in document()["paths"].items():
        rule = _shape(bp.url_prefix + path)
        for method, operation in operations.items():
            names = frozenset(p["name"] for p in operation.get("parameters", ())
                              if p.get("in") == "query")
            found[(rule, method.upper())] = names
            if method == "get":
                found[(rule, "HEAD")] = names
    return found


@bp.errorhandler(WorkflowError)
def workflow_refused(exc: WorkflowError):
    return error(409, exc.code, exc.message, exc.message_en, rule=exc.rule)


@bp.errorhandler(InvalidInput)
def invalid_input(exc: InvalidInput):
    return error(422, exc.code, exc.message, exc.message_en, field=exc.field)


@bp.errorhandler(NotFound)
def not_found(exc: NotFound):
    return error(404, exc.code, exc.message, exc.message_en)


@bp.errorhandler(Forbidden)
def forbidden(exc: Forbidden):
    return error(403, exc.code, exc.message, exc.message_en)


@bp.errorhandler(Conflict)
def conflict(exc: Conflict):
    return error(409, exc.code, exc.message, exc.message_en)


@bp.errorhandler(ServiceError)
def service_error(exc: ServiceError):
    return error(422, "invalid_input", exc.message, exc.message_en, field="")


@bp.errorhandler(BadRequest)
def bad_request(exc: BadRequest):
    return error(400, "bad_request", exc.message, exc.message)


@bp.errorhandler(HTTPException)
def http_error(exc: HTTPException):
    codes = {404: "not_found", 405: "method_not_allowed", 400: "bad_request",
             413: "too_large", 415: "unsupported_media_type"}
    response = error(exc.code or 500, codes.get(exc.code, "http_error"),
                     exc.description or exc.name, exc.description or exc.name)
    for name, value in exc.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value  # e.g. Allow on 405
    return response


def init_app(app) -> None:
    """Register the API: the blueprint, JSON answers for unknown API URLs and methods, and no
    CSRF check on it (tokens, not cookies, authenticate it)."""
    app.register_blueprint(bp)
    csrf = app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt(bp)
    for code in (404, 405):
        previous = _find_handler(app, code)

        def handler(exc, _previous=previous):
            if request.path.startswith(bp.url_prefix + "/"):
                return http_error(exc)
            return _previous(exc) if _previous else exc

        app.register_error_handler(code, handler)


def _find_handler(app, code: int):
    handlers = app.error_handler_spec.get(None, {}).get(code, {})
    return next(iter(handlers.values()), None)


from . import routes  # noqa: E402,F401
