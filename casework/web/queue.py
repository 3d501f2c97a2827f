"""My queue (我的任务) and the team queue: open tasks, overdue first, by priority."""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for
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


PER_PAGE_CHOICES = tuple((n, n) for n in queries.PAGE_SIZES)  # the filters' "per page" select
SIDE_LIST = 10  # rows a page in the team queue and "my other cases" (the main list: 25/50/100)


def _paging(prefix: str = "", per: int | None = None) -> queries.Paging:
    chosen, sort = _int_arg("per"), request.args.get("sort")
    return queries.Paging(
        page=_int_arg(f"{prefix}page") or 1,  # Paging keeps it in range
        per=per or (chosen if chosen in queries.PAGE_SIZES else queries.PAGE_SIZES[0]),
        sort=sort if sort in queries.QUEUE_SORTS else queries.QUEUE_SORTS[0])


@bp.get("/queue")
@roles(*ACTING)
def queue():
    now = web_now()
    filters = queue_filters()
    page = queries.queue_page(current_user, now, filters, _paging(),
                              _paging("t", SIDE_LIST), _paging("c", SIDE_LIST))
    if not filters.active:
        g.nav_counts = page.counts  # the navigation shows the same numbers: not counted twice
    sections = {key: [r for r in page.mine.rows if r.section == key] for key in queries.SECTIONS}
    return render_template("queue.html", sections=sections, counts=page.counts.sections,
                           mine=page.mine, team=page.team, filters=filters, cases=page.cases,
                           paging=page.mine.paging, choices=queries.filter_choices(current_user),
                           total=page.mine.total, per_page_choices=PER_PAGE_CHOICES)


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
