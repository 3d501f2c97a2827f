"""The supervisor's pages: team board with targets, bulk assignment, the daily summary,
and letter batches with their progress."""

from __future__ import annotations

import io
from datetime import date, timedelta

from flask import abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user

from .. import letters, queries, storage
from ..extensions import db
from ..models import DocumentBatch
from ..services import assign, work
from ..services.clock import local_date
from ..services.errors import InvalidInput
from . import bp
from .access import roles
from .forms import SERVICE_ERRORS, amount, ids, localized, text, web_now
from .queue import queue_filters


def _month_arg(value: str | None, today: date) -> date:
    try:
        year, month = (int(p) for p in (value or "").split("-")[:2])
        return date(year, month, 1)
    except (ValueError, TypeError):
        return today.replace(day=1)


@bp.get("/team")
@roles("supervisor")
def board():
    today = local_date(web_now())
    month = _month_arg(request.args.get("month"), today)
    return render_template("supervisor/board.html", month=month, today=today,
                           rows=queries.team_board(current_user, web_now(), month),
                           choices=queries.filter_choices(current_user))


@bp.post("/team/targets")
@roles("supervisor")
def set_targets():
    today = local_date(web_now())
    month = _month_arg(request.form.get("month"), today)
    saved = 0
    try:
        for collector_id in ids("collector_id"):
            value = amount(f"target_{collector_id}", "amount")
            if value is None:
                continue
            work.set_target(collector_id, month, value, current_user, now=web_now())
            saved += 1
        flash(_("%(n)d targets saved.", n=saved), "ok")
    except SERVICE_ERRORS as exc:
        flash(localized(exc), "error")
    return redirect(url_for("web.board", month=month.strftime("%Y-%m")))


@bp.route("/team/assign", methods=["GET", "POST"])
@roles("supervisor")
def bulk_assign():
    filters = queue_filters()
    who = request.args.get("assignee", "")
    unassigned = who == "none"
    current = int(who) if who.isdigit() else None
    if request.method == "POST":
        try:
            if request.form.get("all"):
                chosen = [c.id for c in queries.assignable_cases(current_user, filters, current,
                                                                 unassigned, limit=5000)]
            else:
                chosen = ids("case_ids")
            target = text("assignee_id")
            if not target:
                raise InvalidInput("assignee_id", "请选择催费员（或选择取消分配）。",
                                   "Choose a collector (or to unassign).")
            if not chosen:
                raise InvalidInput("case_ids", "请至少选择一个案件。", "Choose at least one case.")
            changed = assign(chosen, int(target) if target.isdigit() else None, current_user,
                             now=web_now())
            flash(_("%(n)d cases reassigned.", n=changed), "ok")
        except SERVICE_ERRORS as exc:
            flash(localized(exc), "error")
        return redirect(request.full_path.rstrip("?"))
    cases = queries.assignable_cases(current_user, filters, current, unassigned)
    today = local_date(web_now())
    return render_template(
        "supervisor/assign.html", cases=cases, filters=filters, who=who,
        money=queries.case_money([c.id for c in cases], today),
        places=queries.case_places([c.id for c in cases]),
        collectors=queries.collectors(current_user), names=queries.staff_names(),
        choices=queries.filter_choices(current_user))


@bp.get("/team/daily")
@roles("supervisor")
def daily():
    today = local_date(web_now())
    try:
        day = date.fromisoformat(request.args.get("day", ""))
    except ValueError:
        day = today - timedelta(days=1)
    return render_template("supervisor/daily.html", s=queries.daily_summary(current_user, day),
                           day=day, today=today, names=queries.staff_names())


# -- letter batches -------------------------------------------------------------------------------


@bp.post("/team/batches")
@roles("supervisor")
def start_batch():
    building = text("building_id")
    try:
        batch = letters.start_batch(building_id=int(building) if building.isdigit() else None,
                                    kind=text("kind") or "payment_demand", user=current_user)
    except SERVICE_ERRORS as exc:
        flash(localized(exc), "error")
        return redirect(url_for("web.board"))
    except Exception:  # noqa: BLE001  Redis is down: the batch cannot start now
        db.session.rollback()
        flash(_("The letter queue is not reachable; try again later."), "error")
        return redirect(url_for("web.board"))
    return redirect(url_for("web.batch", batch_id=batch.id))


def _batch(batch_id: int) -> DocumentBatch:
    """A batch, if every case it covers is one the user may see."""
    import sqlalchemy as sa

    from ..models import Building, Document, DunningCase
    from ..services.access import community_ids, visible_cases

    batch = db.session.get(DocumentBatch, batch_id)
    if batch is None:
        abort(404)
    ids = set(batch.case_ids or [])
    if batch.document_ids:
        ids |= set(db.session.scalars(sa.select(Document.case_id).where(
            Document.id.in_(batch.document_ids))))
    if ids:
        seen = db.session.scalar(sa.select(sa.func.count(DunningCase.id)).where(
            DunningCase.id.in_(ids), visible_cases(current_user)))
        if seen != len(ids):
            abort(403)
    allowed = community_ids(current_user)
    if batch.building_id and allowed is not None:
        building = db.session.get(Building, batch.building_id)
        if building is None or building.community_id not in allowed:
            abort(403)
    return batch


def batch_progress(batch: DocumentBatch) -> dict:
    """Progress from the RQ job's meta while it runs, else from the batch row."""
    progress = {"done": batch.done, "total": batch.total, "failed": list(batch.failed or [])}
    if batch.status not in ("done",):
        try:
            from rq.job import Job

            from ..queues import redis_connection

            meta = Job.fetch(batch.job_id, connection=redis_connection()).meta
            progress.update(meta.get("progress") or {})
        except Exception:  # noqa: BLE001  no Redis or no job: the row is the record
            pass
    return progress


@bp.get("/batches/<int:batch_id>")
@roles("supervisor", "legal")
def batch(batch_id: int):
    b = _batch(batch_id)
    return render_template("supervisor/batch.html", batch=b, progress=batch_progress(b))


@bp.get("/batches/<int:batch_id>/progress")
@roles("supervisor", "legal")
def batch_progress_fragment(batch_id: int):
    b = _batch(batch_id)
    return render_template("partials/progress.html", batch=b, progress=batch_progress(b))


@bp.get("/batches/<int:batch_id>/download")
@roles("supervisor", "legal")
def batch_download(batch_id: int):
    b = _batch(batch_id)
    if b.status != "done" or not storage.exists(b.path):
        abort(404)
    return send_file(io.BytesIO(storage.read(b.path)), mimetype="application/zip",
                     as_attachment=True, download_name=f"batch-{b.id}.zip", max_age=0)
