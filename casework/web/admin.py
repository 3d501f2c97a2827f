"""The admin pages: staff accounts and roles, communities, dunning policies, letter templates."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from documents.contexts import TEMPLATES

from .. import letters
from ..extensions import db
from ..models import ROLES, Community, Policy, StaffUser, TemplateVersion
from ..policy import DEFAULT_POLICY, merged
from ..services import admin as admin_service
from ..services.errors import InvalidInput
from . import bp
from .access import roles
from .forms import SERVICE_ERRORS, ids, localized, problem, text

TIME = re.compile(r"^\d{2}:\d{2}$")


@bp.get("/admin/users")
@roles("admin")
def admin_users():
    return _users_page()


def _users_page(problem_=None, form=None, status: int = 200):
    users = db.session.scalars(sa.select(StaffUser).order_by(StaffUser.username)).all()
    communities = db.session.scalars(sa.select(Community).order_by(Community.name)).all()
    return render_template("admin/users.html", users=users, communities=communities,
                           roles_all=ROLES, problem=problem_, form=form or {}), status


@bp.post("/admin/users")
@roles("admin")
def admin_create_user():
    try:
        admin_service.create_user(text("username", 64), text("display_name", 64),
                                  request.form.getlist("roles"), request.form.get("password", ""),
                                  ids("communities"), phone=text("phone", 32),
                                  user=current_user)
    except SERVICE_ERRORS as exc:
        found = problem(exc)
        return _users_page(found, request.form, found.status)
    flash(_("Account created."), "ok")
    return redirect(url_for("web.admin_users"))


@bp.post("/admin/users/<int:user_id>")
@roles("admin")
def admin_update_user(user_id: int):
    try:
        action = request.form.get("action")
        if action == "deactivate":
            admin_service.set_active(user_id, False, user=current_user)
            flash(_("Account deactivated."), "ok")
        elif action == "activate":
            admin_service.set_active(user_id, True, user=current_user)
            flash(_("Account activated."), "ok")
        elif action == "password":
            admin_service.reset_password(user_id, request.form.get("password", ""),
                                         user=current_user)
            flash(_("Password reset; the user's sessions have ended."), "ok")
        else:
            admin_service.update_user(user_id, display_name=text("display_name", 64),
                                      roles=request.form.getlist("roles"),
                                      community_ids=ids("communities"), user=current_user)
            flash(_("Account saved."), "ok")
    except SERVICE_ERRORS as exc:
        found = problem(exc)
        return _users_page(found, {}, found.status)
    return redirect(url_for("web.admin_users"))


# -- communities ----------------------------------------------------------------------------------


@bp.get("/admin/communities")
@roles("admin")
def admin_communities():
    return _communities_page()


def _communities_page(problem_=None, form=None, status: int = 200):
    communities = db.session.scalars(sa.select(Community).order_by(Community.name)).all()
    versions = dict(db.session.execute(sa.select(Policy.community_id, sa.func.max(
        Policy.version)).group_by(Policy.community_id)).all())
    return render_template("admin/communities.html", communities=communities,
                           versions=versions, problem=problem_, form=form or {}), status


@bp.post("/admin/communities")
@roles("admin")
def admin_create_community():
    try:
        admin_service.create_community(text("code", 32), text("name", 128), text("address", 256),
                                       text("city", 64), text("company_name", 128),
                                       user=current_user)
    except SERVICE_ERRORS as exc:
        found = problem(exc)
        return _communities_page(found, request.form, found.status)
    flash(_("Community created with the default policy."), "ok")
    return redirect(url_for("web.admin_communities"))


@bp.post("/admin/communities/<int:community_id>/buildings")
@roles("admin")
def admin_add_building(community_id: int):
    try:
        admin_service.add_building(community_id, text("building", 32), user=current_user)
    except SERVICE_ERRORS as exc:
        found = problem(exc)
        return _communities_page(found, request.form, found.status)
    flash(_("Building added."), "ok")
    return redirect(url_for("web.admin_communities"))


# -- policies -------------------------------------------------------------------------------------


@dataclass
class PolicyField:
    key: str  # dotted path, e.g. timeline.first_reminder
    kind: str  # int, text, window, int_list, lines, amount
    value: Any


def _kind(key: str, default: Any) -> str:
    if isinstance(default, bool):
        return "text"
    if isinstance(default, int):
        return "int"
    if isinstance(default, list):
        if len(default) == 2 and all(isinstance(v, str) and TIME.match(v) for v in default):
            return "window"
        if default and all(isinstance(v, int) for v in default):
            return "int_list"
        return "lines"
    if key in ("legal_threshold", "penalty_cap_lpr_multiple"):
        return "amount"
    return "text"


def policy_fields(data: dict[str, Any]) -> list[tuple[str, list[PolicyField]]]:
    """The policy as groups of form fields, shaped after the defaults."""
    groups: list[tuple[str, list[PolicyField]]] = [("general", [])]
    for key, default in DEFAULT_POLICY.items():
        if isinstance(default, dict):
            fields = [PolicyField(f"{key}.{k}", _kind(k, v), data.get(key, {}).get(k, v))
                      for k, v in default.items()]
            groups.append((key, fields))
        else:
            groups[0][1].append(PolicyField(key, _kind(key, default), data.get(key, default)))
    return groups


def _read(f: PolicyField) -> Any:
    name = f.key
    if f.kind == "int":
        value = text(name)
        try:
            return int(value)
        except ValueError as exc:
            raise InvalidInput(name, f"{name}：请填写整数。", f"{name}: enter a whole number.") \
                from exc
    if f.kind == "window":
        start, end = text(f"{name}.0"), text(f"{name}.1")
        if not (TIME.match(start) and TIME.match(end)) or start >= end:
            raise InvalidInput(name, f"{name}：请填写开始和结束时间（HH:MM），开始早于结束。",
                               f"{name}: enter a start and an end time (HH:MM), start first.")
        return [start, end]
    if f.kind == "int_list":
        try:
            return [int(v) for v in re.split(r"[,，\s]+", text(name)) if v]
        except ValueError as exc:
            raise InvalidInput(name, f"{name}：请用逗号分隔整数。",
                               f"{name}: whole numbers separated by commas.") from exc
    if f.kind == "lines":
        return [line.strip() for line in (request.form.get(name) or "").splitlines()
                if line.strip()]
    return text(name, 500)


def policy_from_form(current: dict[str, Any]) -> dict[str, Any]:
    data = merged(current)
    for _group, fields in policy_fields(data):
        for f in fields:
            value = _read(f)
            if "." in f.key:
                block, key = f.key.split(".", 1)
                data[block] = {**data[block], key: value}
            else:
                data[f.key] = value
    return data


def _latest_policy(community_id: int) -> Policy:
    policy = db.session.scalars(sa.select(Policy).where(Policy.community_id == community_id)
                                .order_by(Policy.version.desc())).first()
    if policy is None:
        abort(404)
    return policy


@bp.route("/admin/communities/<int:community_id>/policy", methods=["GET", "POST"])
@roles("admin")
def admin_policy(community_id: int):
    community = db.session.get(Community, community_id) or abort(404)
    latest = _latest_policy(community_id)
    data, found, problems = merged(latest.data), None, []
    if request.method == "POST":
        try:
            data = policy_from_form(latest.data)
            policy = admin_service.save_policy(community_id, data, user=current_user)
            flash(_("Policy saved as version %(v)d; open cases keep their version.",
                    v=policy.version), "ok")
            return redirect(url_for("web.admin_policy", community_id=community_id))
        except SERVICE_ERRORS as exc:
            found = problem(exc)
            problems = getattr(exc, "problems", [localized(exc)])
    history = db.session.scalars(sa.select(Policy).where(Policy.community_id == community_id)
                                 .order_by(Policy.version.desc())).all()
    status = found.status if found else 200
    return render_template("admin/policy.html", community=community, latest=latest,
                           groups=policy_fields(data), problem=found, problems=problems,
                           bad_keys={p.split(":", 1)[0] for p in problems}
                           | ({found.field} if found and found.field else set()),
                           history=history), status


# -- letter templates -----------------------------------------------------------------------------


@bp.route("/admin/templates", methods=["GET", "POST"])
@roles("admin")
def admin_templates():
    found = None
    if request.method == "POST":
        try:
            if request.form.get("action") == "activate":
                version = letters.activate_template(text("kind"), text("version"), current_user)
                flash(_("Template version %(v)s is active.", v=version), "ok")
            else:
                upload = request.files.get("file")
                if upload is None or not upload.filename:
                    raise InvalidInput("file", "请选择 .docx 模板文件。", "Choose a .docx file.")
                row = letters.upload_template(text("kind"), upload.read(), current_user)
                flash(_("Template version %(v)s uploaded and active.", v=row.version), "ok")
            return redirect(url_for("web.admin_templates"))
        except SERVICE_ERRORS as exc:
            found = problem(exc)
    rows = db.session.scalars(sa.select(TemplateVersion).order_by(
        TemplateVersion.kind, TemplateVersion.id.desc())).all()
    by_kind: dict[str, list[TemplateVersion]] = {k: [] for k in TEMPLATES}
    for row in rows:
        by_kind.setdefault(row.kind, []).append(row)
    return render_template("admin/templates.html", kinds=by_kind, problem=found,
                           titles=letters.TITLES), found.status if found else 200
