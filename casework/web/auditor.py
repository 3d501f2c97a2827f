"""The auditor's pages: search, the full trace of a case, the chain check, a case as it stood
on a chosen day, and a CSV export of a trace."""

from __future__ import annotations

import csv
import io
import json
from datetime import date

from flask import Response, render_template, request
from flask_login import current_user

from workflows.dunning import STATE_IDS

from .. import audit, queries
from ..services.access import visible_cases
from ..services.clock import SHANGHAI
from . import bp
from .access import roles
from .cases import load_case
from .forms import end_of_day

CSV_FORMULA = ("=", "+", "-", "@", "\t", "\r")


@bp.get("/audit")
@roles("auditor")
def audit_search():
    q = request.args.get("q", "")
    state = request.args.get("state")
    state = state if state in STATE_IDS else None
    searched = bool(q or state)
    cases = queries.search_cases(current_user, q, state) if searched else []
    return render_template("audit/search.html", q=q, state=state, cases=cases,
                           searched=searched)


@bp.get("/audit/chain")
@roles("auditor")
def audit_chain():
    """Verify every visible case's hash chain; show the first broken link of each."""
    from sqlalchemy import select

    from ..extensions import db
    from ..models import DunningCase

    ids = list(db.session.scalars(select(DunningCase.id).where(visible_cases(current_user))))
    checked, broken = audit.verify_all(ids) if ids else (0, [])
    return render_template("audit/chain.html", checked=checked, broken=broken,
                           cases=len(ids))


@bp.get("/audit/cases/<int:case_id>")
@roles("auditor")
def audit_trace(case_id: int):
    case = load_case(case_id)
    as_of = None
    state_then = owed = error = None
    try:
        as_of = date.fromisoformat(request.args.get("as_of", ""))
    except ValueError:
        pass
    if as_of:
        moment = end_of_day(as_of)
        try:
            state_then = audit.state_at(case.id, moment)
        except ValueError as exc:
            error = str(exc)
        owed = queries.owed_at(case, moment)
    link = audit.verify_case(case, queries.trace(case))
    return render_template("audit/trace.html", case=case, events=queries.trace(case),
                           names=queries.staff_names(), as_of=as_of, state_then=state_then,
                           owed=owed, error=error, link=link)


def _cell(value) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(CSV_FORMULA) else text


@bp.get("/audit/cases/<int:case_id>/trace.csv")
@roles("auditor")
def audit_trace_csv(case_id: int):
    case = load_case(case_id)
    names = queries.staff_names()
    out = io.StringIO()
    out.write("\ufeff")  # Excel reads UTF-8 Chinese with a BOM
    writer = csv.writer(out)
    writer.writerow(["case", "seq", "at_shanghai", "at_utc", "actor_id", "actor", "role",
                     "kind", "event", "from_state", "to_state", "payload", "prev_hash", "hash"])
    for ev in queries.trace(case):
        writer.writerow([_cell(v) for v in (
            case.number, ev.seq, ev.at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S"),
            ev.at.isoformat(), ev.actor_id or "", names.get(ev.actor_id, ""), ev.actor_role,
            ev.kind, ev.name, ev.from_state or "", ev.to_state or "",
            json.dumps(ev.payload or {}, ensure_ascii=False, sort_keys=True), ev.prev_hash,
            ev.hash)])
    return Response(out.getvalue(), mimetype="text/csv; charset=utf-8", headers={
        "Content-Disposition": f"attachment; filename=trace-{case.number}.csv"})


@bp.get("/exports/<kind>.<fmt>")
@roles("auditor", "supervisor")
def export(kind: str, fmt: str):
    """Cases, contacts, payments or histories as CSV/XLSX, limited to what the user may see."""
    from flask import abort

    from .. import exports

    if kind not in exports.KINDS or fmt not in exports.FORMATS:
        abort(404)
    result = exports.export(kind, fmt, current_user)
    return Response(result.data, mimetype=result.mimetype, headers={
        "Content-Disposition": f'attachment; filename="{result.filename}"'})
