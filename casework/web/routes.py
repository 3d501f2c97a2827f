"""A plain read-only view of the cases, their state and history (the full UI comes later)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort, render_template, request

from workflows.diagram import mermaid
from workflows.dunning import STATE_LABELS

from ..extensions import db
from ..models import CaseEvent, DunningCase
from ..services.facts import outstanding
from . import bp


@bp.get("/")
def index():
    state = request.args.get("state")
    query = sa.select(DunningCase).order_by(DunningCase.id)
    if state in STATE_LABELS:
        query = query.where(DunningCase.state == state)
    cases = db.session.scalars(query.limit(500)).all()
    counts = dict(db.session.execute(sa.select(DunningCase.state, sa.func.count())
                                     .group_by(DunningCase.state)).all())
    return render_template("cases.html", cases=cases, counts=counts, labels=STATE_LABELS,
                           state=state)


@bp.get("/cases/<int:case_id>")
def case_detail(case_id: int):
    case = db.session.get(DunningCase, case_id) or abort(404)
    events = db.session.scalars(sa.select(CaseEvent).where(CaseEvent.case_id == case.id)
                                .order_by(CaseEvent.seq)).all()
    return render_template("case.html", case=case, events=events, labels=STATE_LABELS,
                           balance=outstanding(case), diagram=mermaid(case.state))
