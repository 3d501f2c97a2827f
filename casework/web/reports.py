"""The evaluation reports (结果评估与反馈) as pages with a chart and a table, and as CSV/XLSX.

Supervisors, admins and auditors; each sees the communities they work in (all when none is
recorded). The figures come from casework.reports; this module names them in the reader's
language.
"""

from __future__ import annotations

from flask import Response, abort, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from .. import exports, queries
from ..extensions import db
from ..reports import GROUPINGS, REPORTS, ReportFilters, parse, run
from ..reports.charts import Series, chart
from ..services.access import community_ids
from ..services.clock import local_date
from ..services.errors import InvalidInput
from . import bp, labels
from .access import roles
from .fmt import is_zh
from .forms import localized, web_now

READERS = ("supervisor", "admin", "auditor")
CSV_FORMULA = ("=", "+", "-", "@", "\t", "\r")

TITLES = {
    "collection_rate": _l("Collection rate"),
    "aging": _l("Aging of arrears"),
    "funnel": _l("Stage funnel"),
    "what_works": _l("What works"),
    "money_at_risk": _l("Money at risk of limitation"),
    "conduct": _l("Contact conduct"),
    "targets": _l("Targets"),
    "outcomes": _l("Outcome reviews"),
}
SUMMARIES = {
    "collection_rate": _l("Collected ÷ billed for the periods due in the range; arrears "
                          "recovered ÷ arrears open at its start. Reversed payments never "
                          "count; each payment is credited to the collector who held the case "
                          "on the day it came in."),
    "aging": _l("What is owed today by days past the due date (periods not yet due count "
                "as 0–30 days)."),
    "funnel": _l("Cases that entered each stage in the range (from the audit record), how "
                 "many were paid from it, and how long the stays that ended in the range took "
                 "against the policy timeline."),
    "what_works": _l("Share of contacts followed by a payment on the case within 14 days, by "
                     "technique, channel, arrears reason and collector, with the number of "
                     "contacts behind each figure."),
    "money_at_risk": _l("Outstanding periods whose 3-year limitation runs out within 90 and "
                        "180 days (legal-rules B1), and what is already time-barred."),
    "conduct": _l("Contacts recorded outside the contact window or on a holiday, over a "
                  "call or message cap or the quiet days after a conversation, and the "
                  "manual overrides."),
    "targets": _l("Money received against each collector's monthly target, credited to the "
                  "collector who held the case when the payment came in."),
    "outcomes": _l("Outcome reviews submitted in the range (not those returned for rework) "
                   "by final state, arrears reason, and the technique and channel that "
                   "worked."),
}
GROUP_LABELS = {"community": _l("Community"), "building": _l("Building"),
                "collector": _l("Collector"), "month": _l("Month")}
FILTER_FIELDS = {"from": _l("From"), "to": _l("To"), "community": _l("Community"),
                 "building": _l("Building"), "collector": _l("Collector"),
                 "group": _l("Group by")}
COLUMN_LABELS = {
    "billed": _l("Billed"), "collected": _l("Collected"), "rate": _l("Collection rate"),
    "arrears_open": _l("Arrears open at start"), "recovered": _l("Arrears recovered"),
    "recovery_rate": _l("Recovery rate"),
    "d0_30": _l("0–30 days"), "d31_90": _l("31–90 days"), "d91_180": _l("91–180 days"),
    "d181_365": _l("181–365 days"), "d365_plus": _l("Over 365 days"),
    "outstanding": _l("Outstanding"), "periods": _l("Periods"),
    "reached": _l("Entered the stage"), "paid": _l("Paid"), "paid_rate": _l("Paid rate"),
    "stays": _l("Stays ended"), "avg_days": _l("Average days"),
    "norm_days": _l("Policy days"), "over_norm": _l("Over the policy"),
    "contacts": _l("Contacts"), "within_90": _l("Expiring within 90 days"),
    "within_180": _l("Expiring within 180 days"), "time_barred": _l("Time-barred"),
    "periods_90": _l("Periods within 90 days"), "outside_window": _l("Outside the window"),
    "over_caps": _l("Over a cap"), "overrides": _l("Manual overrides"),
    "flagged": _l("Flagged"), "month": _l("Month"), "target": _l("Target"),
    "progress": _l("Progress"), "gap": _l("Still to collect"), "reviews": _l("Reviews"),
    "confirmed": _l("Confirmed"), "stage": _l("Stage"), "dimension": _l("Dimension"),
    "value": _l("Value"),
}
# The same key read differently in one report
OWN_LABELS = {("funnel", "paid"): _l("Paid from this stage"),
              ("what_works", "paid"): _l("Paid within 14 days")}
MONEY = {"billed", "collected", "arrears_open", "recovered", "d0_30", "d31_90", "d91_180",
         "d181_365", "d365_plus", "outstanding", "within_90", "within_180", "time_barred",
         "target", "gap"}
PERCENT = {"rate", "recovery_rate", "paid_rate", "progress"}
COLUMNS = {
    "collection_rate": ("billed", "collected", "rate", "arrears_open", "recovered",
                        "recovery_rate"),
    "aging": ("d0_30", "d31_90", "d91_180", "d181_365", "d365_plus", "outstanding", "periods"),
    "funnel": ("reached", "paid", "paid_rate", "stays", "avg_days", "norm_days", "over_norm"),
    "what_works": ("contacts", "paid", "paid_rate"),
    "money_at_risk": ("within_90", "within_180", "time_barred", "outstanding", "periods_90"),
    "conduct": ("contacts", "outside_window", "over_caps", "overrides", "flagged"),
    "targets": ("month", "target", "collected", "progress", "gap"),
    "outcomes": ("reviews", "confirmed", "avg_days"),
}
DIMENSIONS = {
    "technique": (_l("Technique"), labels.TECHNIQUES),
    "channel": (_l("Channel"), labels.CHANNELS),
    "reason": (_l("Arrears reason"), labels.REASON_CLASSES),
    "collector": (_l("Collector"), {}),
    "final_state": (_l("Final state"), labels.STATES),
    "arrears_reason": (_l("Arrears reason"), labels.REASON_CLASSES),
    "technique_worked": (_l("Technique that worked"), labels.TECHNIQUES),
    "channel_worked": (_l("Channel that worked"), labels.CHANNELS),
}
# What each chart plots: (series, unit, which rows: a dimension or None for all)
CHARTS = {
    "collection_rate": (("rate", "recovery_rate"), "percent", None),
    "funnel": (("reached", "paid"), "count", None),
    "what_works": (("paid_rate",), "percent", "technique"),
    "money_at_risk": (("within_90", "within_180"), "money", None),
    "conduct": (("outside_window", "over_caps", "overrides"), "count", None),
    "targets": (("target", "collected"), "money", None),
    "outcomes": (("reviews",), "count", "final_state"),
}


def _scope():
    ids = community_ids(current_user)
    return None if ids is None else frozenset(ids)


def _row_label(name: str, row: dict) -> str:
    if row.get("key") == "total":
        return _("Total")
    if name == "funnel":
        return str(labels.STATES.get(row["key"], row["key"]))
    if name == "targets":
        return row["label"] or _("Unassigned")
    if "dimension" in row:
        names = DIMENSIONS[row["dimension"]][1]
        if row["code"] is None:
            return _("Not recorded")
        return row["label"] or str(names.get(row["code"], row["code"]))
    return row["label"] or _("Unassigned")


def _cells(name: str, row: dict) -> list:
    return [row.get(key) for key in COLUMNS[name]]


def _table(name: str, rep) -> tuple[list[str], list[tuple[list, dict]]]:
    """Headers and (cells, row) pairs, labels first."""
    first = [str(COLUMN_LABELS["stage"]) if name == "funnel" else
             str(GROUP_LABELS["collector"]) if name == "targets" else
             str(GROUP_LABELS.get(rep.filters.group, ""))]
    if name in ("what_works", "outcomes"):
        first = [str(COLUMN_LABELS["dimension"]), str(COLUMN_LABELS["value"])]
    headers = first + [str(OWN_LABELS.get((name, k), COLUMN_LABELS[k])) for k in COLUMNS[name]]
    rows = []
    for row in rep.rows:
        head = [_row_label(name, row)]
        if "dimension" in row:
            head = [str(DIMENSIONS[row["dimension"]][0]), _row_label(name, row)]
        rows.append((head + _cells(name, row), row))
    return headers, rows


def _chart(name: str, rep):
    if name == "aging":
        keys = COLUMNS["aging"][:5]
        return chart(str(TITLES[name]), [str(COLUMN_LABELS[k]) for k in keys],
                     [Series(str(COLUMN_LABELS["outstanding"]), [rep.total[k] for k in keys])])
    series, unit, dimension = CHARTS[name]
    rows = [r for r in rep.rows if dimension is None or r.get("dimension") == dimension]
    if name == "targets":
        categories = [f"{_row_label(name, r)} {r['month']}" for r in rows]
    else:
        categories = [_row_label(name, r) for r in rows]
    kind = "line" if rep.filters.group == "month" and name != "targets" else "bar"
    return chart(str(TITLES[name]), categories,
                 [Series(str(OWN_LABELS.get((name, k), COLUMN_LABELS[k])),
                         [r.get(k) for r in rows]) for k in series],
                 unit=unit, kind=kind)


def _filters(name: str):
    """The report's filters from the query string, or the defaults and the problem."""
    today = local_date(web_now())
    scope = _scope()
    try:
        return parse(request.args, today, scope, GROUPINGS[name]), None
    except InvalidInput as exc:
        label = FILTER_FIELDS.get(exc.field, exc.field)
        return (ReportFilters.month_of(today, group=GROUPINGS[name][0], scope=scope),
                f"{label}{'：' if is_zh() else ': '}{localized(exc)}")


def _report(name: str):
    if name not in REPORTS:
        abort(404)
    f, problem = _filters(name)
    return f, problem, run(db.session, name, f, local_date(web_now()))


@bp.get("/reports")
@roles(*READERS)
def reports_index():
    return render_template("reports/index.html", titles=TITLES, summaries=SUMMARIES)


@bp.get("/reports/<name>")
@roles(*READERS)
def report(name: str):
    f, problem, rep = _report(name)
    headers, rows = _table(name, rep)
    blanks = [""] * (len(headers) - len(COLUMNS[name]) - 1)
    total = [_("Total"), *blanks, *_cells(name, rep.total)] if rep.total else None
    args = {k: v for k, v in request.args.items() if k in FILTER_FIELDS}
    choices = queries.filter_choices(current_user)
    return render_template(
        "reports/report.html", name=name, title=TITLES[name], summary=SUMMARIES[name],
        rep=rep, f=f, problem=problem, headers=headers, rows=rows, total=total,
        chart=_chart(name, rep), money_cols=_positions(name, headers, MONEY),
        percent_cols=_positions(name, headers, PERCENT), first_cols=len(headers) - len(
            COLUMNS[name]), groups=GROUPINGS[name],
        group_labels=GROUP_LABELS, choices=choices, collectors=queries.collectors(current_user),
        csv_url=url_for("web.report_export", name=name, fmt="csv", **args),
        xlsx_url=url_for("web.report_export", name=name, fmt="xlsx", **args),
        titles=TITLES), 400 if problem else 200


def _positions(name: str, headers: list[str], wanted: set[str]) -> set[int]:
    offset = len(headers) - len(COLUMNS[name])
    return {offset + i for i, key in enumerate(COLUMNS[name]) if key in wanted}


def _safe(value):
    """A cell for a file: text that a spreadsheet would run as a formula is quoted."""
    if isinstance(value, str) and value.startswith(CSV_FORMULA):
        return "'" + value
    return value


@bp.get("/reports/<name>/export.<fmt>")
@roles(*READERS)
def report_export(name: str, fmt: str):
    if fmt not in exports.FORMATS:
        abort(404)
    f, problem, rep = _report(name)
    if problem:
        abort(400, problem)
    headers, rows = _table(name, rep)
    data, _count = exports.encode(fmt, str(TITLES[name])[:31], headers,
                                  ([_safe(v) for v in cells] for cells, _row in rows))
    filename = f"{name}_{f.start:%Y%m%d}-{f.end:%Y%m%d}.{fmt}"
    return Response(data, mimetype=exports.MIMETYPES[fmt], headers={
        "Content-Disposition": f'attachment; filename="{filename}"'})
