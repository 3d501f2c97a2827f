"""Outcome reviews on the closed case's page (collector submits, supervisor confirms or
returns), the supervisor's list of reviews to confirm, and the suggestion panel of open cases."""

from __future__ import annotations

from flask import abort, current_app, render_template, request
from flask_babel import gettext as _
from flask_login import current_user

from .. import queries
from ..extensions import db
from ..models import CHANNELS, REASON_CLASSES, REASON_SUBS, TECHNIQUES, OutcomeReview
from ..services import can_see, reviews, suggestions
from . import bp
from .access import roles
from .cases import _done, _refused, load_case
from .forms import SERVICE_ERRORS, optional, text, web_now

PANEL = "review"


@bp.context_processor
def _review_helpers() -> dict:
    return {"review_panel": review_panel, "suggestion_for": suggestion_for}


def review_panel(case) -> dict | None:
    """What the case page shows about the review of a closed case (None for an open case)."""
    if case.is_open:
        return None
    review = reviews.review_for(case)
    start = reviews.draft(case)
    editable = reviews.may_submit(current_user, case) and (
        review is None or review.status != "confirmed")
    deciding = (review is not None and review.status == "submitted"
                and current_user.has_role("supervisor") and can_see(current_user, case))
    if review is not None:  # a revision starts from what was submitted
        start.update({k: getattr(review, k) for k in (
            "arrears_reason", "arrears_reason_sub", "technique_worked", "channel_worked",
            "techniques_failed", "stage_reached", "service_problems", "passed_on_to", "note")})
    return {"review": review, "start": start, "editable": editable, "deciding": deciding,
            "choices": {"reasons": REASON_CLASSES, "subs": REASON_SUBS,
                        "techniques": TECHNIQUES, "channels": CHANNELS}}


def suggestion_for(case) -> suggestions.Suggestion | None:
    """The suggestion for an open case; the sample threshold may be set in the app config."""
    if not case.is_open:
        return None
    least = current_app.config.get("SUGGESTION_MIN_SAMPLE", suggestions.MIN_SAMPLE)
    return suggestions.suggest(case, web_now(), min_sample=int(least))


def values_from_form() -> dict:
    return {"arrears_reason": optional("arrears_reason"),
            "arrears_reason_sub": optional("arrears_reason_sub"),
            "technique_worked": optional("technique_worked"),
            "channel_worked": optional("channel_worked"),
            "techniques_failed": request.form.getlist("techniques_failed"),
            "stage_reached": optional("stage_reached"),
            "service_problems": text("service_problems", 5000),
            "passed_on_to": text("passed_on_to", 500), "note": text("note", 5000)}


@bp.post("/cases/<int:case_id>/review")
@roles("collector", "supervisor")
def submit_review(case_id: int):
    case = load_case(case_id)
    try:
        reviews.submit_review(case.id, current_user, values_from_form(), now=web_now())
    except SERVICE_ERRORS as exc:
        return _refused(case, exc, PANEL)
    return _done(case, _("Outcome review submitted; the supervisor will confirm it."))


def _decide(review_id: int, decide, done_message: str):
    """Run the supervisor's decision on a review and come back to its case."""
    review = db.session.get(OutcomeReview, review_id)
    if review is None:
        abort(404)
    case = load_case(review.case_id)
    try:
        decide(review.id)
    except SERVICE_ERRORS as exc:
        return _refused(case, exc, PANEL)
    return _done(case, done_message)


@bp.post("/reviews/<int:review_id>/confirm")
@roles("supervisor")
def confirm_review(review_id: int):
    return _decide(review_id, lambda rid: reviews.confirm_review(rid, current_user,
                                                                 now=web_now()),
                   _("Outcome review confirmed."))


@bp.post("/reviews/<int:review_id>/return")
@roles("supervisor")
def return_review(review_id: int):
    reason = text("return_reason", 5000)
    return _decide(review_id, lambda rid: reviews.return_review(rid, current_user, reason,
                                                                now=web_now()),
                   _("Outcome review returned to the collector."))


@bp.get("/team/reviews")
@roles("supervisor")
def reviews_to_confirm():
    rows = reviews.awaiting_confirmation(current_user)
    return render_template("reviews/list.html", rows=rows, names=queries.staff_names())
