"""My queue (我的任务) and the team queue: open tasks, overdue first, by priority."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from workflows.dunning import STATE_IDS

from .. import queries
from ..models import REASON_CLASSES
from ..services import work
from . import bp
from .access import ACTING, roles
from .auth import safe_next
from .forms import SERVICE_ERRORS, localized, text, web_now


def _int_arg(name: str) -> int | None:
    value = request.args.get(name, "")
    return int(value) if value.isdigit() else None


def queue_filters() -> queries.QueueFilters:
    state = request.args.get("state")
    reason = request.args.get("reason")
    return queries.QueueFilters(
        community_id=_int_arg("community"), building_id=_int_arg("building"),
        state=state if state in STATE_IDS else None,
        reason=reason if reason in REASON_CLASSES else None)


@bp.get("/queue")
@roles(*ACTING)
def queue():
    now = web_now()
    filters = queue_filters()
    mine = queries.my_queue(current_user, now, filters)
    team = queries.team_queue(current_user, now, filters)
    sections = {key: [r for r in mine if r.section == key]
                for key in ("overdue", "today", "upcoming")}
    cases = queries.my_cases(current_user, now, filters, exclude={r.case.id for r in mine})
    return render_template("queue.html", sections=sections, team=team, filters=filters,
                           cases=cases, choices=queries.filter_choices(current_user),
                           total=len(mine))


def _back(default: str):
    return redirect(safe_next(request.form.get("next")) or default)


@bp.post("/tasks/<int:task_id>/claim")
@roles(*ACTING)
def claim_task(task_id: int):
    try:
        work.claim_task(task_id, current_user, now=web_now())
        flash(_("The task is yours now."), "ok")
    except SERVICE_ERRORS as exc:
        flash(localized(exc), "error")
    return _back(url_for("web.queue"))


@bp.post("/tasks/<int:task_id>/done")
@roles(*ACTING)
def complete_task(task_id: int):
    try:
        work.complete_task(task_id, current_user, note=text("note"), now=web_now())
        flash(_("Task marked as done."), "ok")
    except SERVICE_ERRORS as exc:
        flash(localized(exc), "error")
    return _back(url_for("web.queue"))
