"""Signing in and out, the language switch, and the start page of each role."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import current_app, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from werkzeug.security import check_password_hash, generate_password_hash

from ..extensions import db
from ..models import LoginAttempt, StaffUser, utcnow
from . import bp
from .access import ALL_STAFF, roles
from .setup import LANGUAGES

_DUMMY_HASH = generate_password_hash("no such user")
START = (("collector", "web.queue"), ("legal", "web.legal_review"),
         ("supervisor", "web.board"), ("auditor", "web.audit_search"),
         ("admin", "web.admin_users"))


def safe_next(target: str | None) -> str | None:
    """Only a path on this site (never //host or a scheme) may follow a sign-in."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") \
            or "\\" in target:
        return None
    return target


def _window() -> timedelta:
    return timedelta(minutes=current_app.config["LOGIN_WINDOW_MINUTES"])


def _client_ip() -> str:
    return (request.remote_addr or "?")[:64]


def blocked_for(username: str, ip: str) -> int:
    """Minutes left before this user name may try again from this address (0: allowed)."""
    since = utcnow() - _window()
    rows = db.session.scalars(sa.select(LoginAttempt.at).where(
        LoginAttempt.username == username, LoginAttempt.ip == ip, LoginAttempt.at >= since)
        .order_by(LoginAttempt.at)).all()
    if len(rows) < current_app.config["LOGIN_MAX_FAILURES"]:
        return 0
    left = rows[0] + _window() - utcnow()
    return max(1, int(left.total_seconds() // 60) + 1)


def _record_failure(username: str, ip: str) -> None:
    now = utcnow()
    db.session.execute(sa.delete(LoginAttempt).where(LoginAttempt.at < now - 2 * _window()))
    db.session.add(LoginAttempt(username=username, ip=ip, at=now))
    db.session.commit()


def _clear_failures(username: str, ip: str) -> None:
    db.session.execute(sa.delete(LoginAttempt).where(LoginAttempt.username == username,
                                                     LoginAttempt.ip == ip))
    db.session.commit()


def start_page(user: StaffUser) -> str:
    for role, endpoint in START:
        if user.has_role(role):
            return url_for(endpoint)
    return url_for("web.login")


@bp.route("/login", methods=["GET", "POST"])
def login():
    target = safe_next(request.values.get("next"))
    if current_user.is_authenticated:
        return redirect(target or start_page(current_user))
    error, status, username = None, 200, ""
    if request.method == "POST":
        username = (request.form.get("username") or "").strip()[:64]
        password = request.form.get("password") or ""
        ip = _client_ip()
        wait = blocked_for(username, ip)
        if wait:
            error = _("Too many failed sign-ins. Try again in %(minutes)d minutes.",
                      minutes=wait)
            status = 429
        else:
            user = db.session.scalars(sa.select(StaffUser).where(
                StaffUser.username == username)).first()
            ok = user.check_password(password) if user else \
                check_password_hash(_DUMMY_HASH, password) and False
            if ok and user.active:
                _clear_failures(username, ip)
                lang = session.get("lang")
                session.clear()  # a fresh session: no fixation
                if lang:
                    session["lang"] = lang
                login_user(user)
                return redirect(target or start_page(user))
            _record_failure(username, ip)
            error = _("Wrong user name or password, or the account is inactive.")
            status = 401
    return render_template("login.html", error=error, username=username, next=target), status


@bp.post("/logout")
@roles(*ALL_STAFF)
def logout():
    lang = session.get("lang")
    logout_user()
    session.clear()
    if lang:
        session["lang"] = lang
    return redirect(url_for("web.login"))


@bp.post("/lang")
def set_language():
    lang = request.form.get("lang")
    if lang in LANGUAGES:
        session["lang"] = lang
    return redirect(safe_next(request.form.get("next")) or url_for("web.index"))


@bp.get("/")
@roles(*ALL_STAFF)
def index():
    return redirect(start_page(current_user))
