"""The legal officer's pages: the escalation review queue and the litigation board."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from .. import queries
from ..services import work
from ..services.clock import local_date
from . import bp
from .access import roles
from .cases import load_case, render_case
from .forms import (
    SERVICE_ERRORS,
    a_date,
    ensure_fresh,
    localized,
    problem,
    text,
    web_now,
)


@bp.get("/legal/review")
@roles("legal")
def legal_review():
    today = local_date(web_now())
    return render_template("legal/review.html", items=queries.review_queue(current_user, today),
                           today=today)


@bp.get("/legal/litigation")
@roles("legal", "supervisor")
def litigation():
    today = local_date(web_now())
    return render_template("legal/litigation.html", today=today,
                           rows=queries.litigation_board(current_user, today))


def _hearings() -> list:
    values = [v for v in request.form.getlist("hearing_dates") if v.strip()]
    extra = text("hearing_dates_more")
    values += [v for v in extra.replace("，", ",").replace(" ", ",").split(",") if v.strip()]
    return [a_date("", "hearing_dates", v) for v in values]


@bp.post("/legal/litigation/<int:case_id>")
@roles("legal")
def update_litigation(case_id: int):
    case = load_case(case_id)
    try:
        work.update_litigation(
            case.id, current_user, court=text("court", 128),
            court_case_number=text("court_case_number", 64), filed_on=a_date("filed_on"),
            hearing_dates=_hearings(), judgment_on=a_date("judgment_on"),
            notes=text("notes", 4000), expected_version=ensure_fresh(case), now=web_now())
    except SERVICE_ERRORS as exc:
        found = problem(exc)
        if found.status == 403:
            abort(403)
        if request.form.get("from") == "board":
            flash(localized(exc), "error")
            return redirect(url_for("web.litigation"))
        return render_case(case, problem_=found, form=request.form, panel="litigation",
                           status=found.status)
    flash(_("Court record saved."), "ok")
    if request.form.get("from") == "board":
        return redirect(url_for("web.litigation"))
    return redirect(url_for("web.case_detail", case_id=case.id) + "#litigation")
