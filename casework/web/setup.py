"""Wiring of the web UI into the app: sign-in, languages, cookies, headers, CSRF, filters."""

from __future__ import annotations

import os

import sqlalchemy as sa
from flask import Flask, abort, current_app, g, redirect, request, session, url_for
from flask_babel import Babel
from flask_babel import refresh as babel_refresh
from flask_login import LoginManager, current_user
from flask_wtf.csrf import CSRFError, generate_csrf, validate_csrf
from sqlalchemy.orm import joinedload
from wtforms.validators import ValidationError

from ..extensions import db
from ..models import StaffUser
from . import bp, fmt, labels, rows
from .access import PUBLIC_ENDPOINTS, allowed_roles

LANGUAGES = ("zh", "en")
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
       "form-action 'self'; frame-ancestors 'none'")
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
UNSAFE = ("POST", "PUT", "PATCH", "DELETE")

login_manager = LoginManager()
login_manager.login_view = "web.login"
login_manager.login_message = None


# The signed-in user with their communities, in one statement built once (every request).
_USER = (sa.select(StaffUser).options(joinedload(StaffUser.communities))
         .where(StaffUser.id == sa.bindparam("user_id")))


@login_manager.user_loader
def _load_user(user_id: str) -> StaffUser | None:
    """The session holds "id:stamp"; a changed password (a new stamp) ends the session."""
    ident, _, stamp = user_id.partition(":")
    if not ident.isdigit():
        return None
    user = db.session.scalars(_USER, {"user_id": int(ident)}).unique().first()
    if user is None or not user.active or user.get_id() != user_id:
        return None
    return user


def select_locale() -> str:
    lang = session.get("lang")
    return lang if lang in LANGUAGES else current_app.config.get("BABEL_DEFAULT_LOCALE", "zh")


def init_web(app: Flask) -> None:
    secure = app.config.get("CASEWORK_SECURE_COOKIES",
                            os.environ.get("CASEWORK_SECURE_COOKIES"))
    if secure is None:  # HTTPS only, except when debugging or testing
        secure = not (app.debug or app.testing)
    elif isinstance(secure, str):
        secure = secure.strip().lower() not in ("0", "false", "no", "off", "")
    app.config["SESSION_COOKIE_SECURE"] = app.config["REMEMBER_COOKIE_SECURE"] = bool(secure)
    app.config["SESSION_COOKIE_HTTPONLY"] = app.config["REMEMBER_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = app.config.get("SESSION_COOKIE_SAMESITE") or "Lax"
    app.config["REMEMBER_COOKIE_SAMESITE"] = app.config.get("REMEMBER_COOKIE_SAMESITE") or "Lax"
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # valid for the session's life
    app.config.setdefault("LOGIN_MAX_FAILURES", 5)
    app.config.setdefault("LOGIN_WINDOW_MINUTES", 15)
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", "translations")
    login_manager.init_app(app)
    Babel(app, locale_selector=select_locale, timezone_selector=lambda: "Asia/Shanghai")
    fmt.register(app)
    app.jinja_env.globals.update(labels=labels.translated, csrf_token=generate_csrf,
                                 queue_rows=rows.QueueRows)
    app.after_request(_security_headers)


def _security_headers(response):
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if request.blueprint == "web" and current_user.is_authenticated:
        response.headers.setdefault("Cache-Control", "no-store")
    return response


@bp.before_request
def _guard():
    """Deny by default: every page needs a sign-in and declares the roles that may open it;
    every form that changes something carries a CSRF token."""
    for cached in ("_login_user", "csrf_token"):  # per request (tests share one app context)
        g.pop(cached, None)
    babel_refresh()
    g.locale = select_locale()  # first: the error and sign-in pages below speak it too
    endpoint = request.endpoint or ""
    if endpoint not in PUBLIC_ENDPOINTS:
        if not current_user.is_authenticated:
            return redirect(url_for("web.login", next=request.full_path.rstrip("?")))
        view = current_app.view_functions.get(endpoint)
        roles = allowed_roles(view)
        if not roles or not current_user.has_role(*roles):
            abort(403)
    if request.method in UNSAFE and current_app.config.get("WTF_CSRF_ENABLED", True):
        token = request.form.get("csrf_token") or request.headers.get("X-CSRFToken")
        try:
            validate_csrf(token)
        except ValidationError as exc:
            raise CSRFError(str(exc)) from exc


@bp.context_processor
def _page_context() -> dict:
    from .. import queries
    from .forms import web_now

    counts = {}
    if current_user.is_authenticated and current_user.has_role("collector", "supervisor",
                                                               "legal"):
        counts = queries.nav_counts(current_user, web_now(), known=g.get("nav_counts"))
    return {"nav": counts, "lang": fmt.locale_name(), "languages": LANGUAGES}


@bp.errorhandler(400)
@bp.errorhandler(403)
@bp.errorhandler(404)
@bp.errorhandler(405)
def _error(exc):
    from flask import render_template

    return render_template("error.html", code=exc.code, csrf=isinstance(exc, CSRFError),
                           description=getattr(exc, "description", "")), exc.code
