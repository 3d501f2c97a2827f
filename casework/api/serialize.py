"""JSON shapes of the API (money as strings with 2 decimals, times in ISO 8601 UTC)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from workflows.dunning import EVENT_LABELS, STATE_LABELS, events_from

from ..models import (
    CaseEvent,
    ChargeLine,
    ContactAttempt,
    Document,
    DunningCase,
    ImportRun,
    Payment,
    Task,
)
from ..services.facts import outstanding


def yuan(value: Decimal | None) -> str | None:
    return None if value is None else f"{Decimal(value).quantize(Decimal('0.01'))}"


def when(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def day(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def case_summary(case: DunningCase) -> dict[str, Any]:
    return {
        "id": case.id, "number": case.number, "state": case.state,
        "state_label": STATE_LABELS.get(case.state, case.state), "version": case.version,
        "community": {"id": case.community.id, "code": case.community.code,
                      "name": case.community.name},
        "debtor": {"id": case.debtor.id, "name": case.debtor.name},
        "assignee_id": case.assignee_id, "reason_class": case.reason_class,
        "reason_sub": case.reason_sub, "priority": case.priority,
        "outstanding": yuan(outstanding(case)), "opened_at": when(case.opened_at),
        "stage_since": when(case.stage_since), "closed_at": when(case.closed_at),
        "previous_case_id": case.previous_case_id,
    }


def charge_line(line: ChargeLine) -> dict[str, Any]:
    return {
        "id": line.id, "unit_id": line.unit_id, "fee_type": line.fee_type,
        "period_label": line.period_label, "period_start": day(line.period_start),
        "period_end": day(line.period_end), "due_date": day(line.due_date),
        "amount_due": yuan(line.amount_due), "amount_paid": yuan(line.amount_paid),
        "credit": yuan(line.credit), "balance": yuan(line.balance),
        "limitation_expiry": day(line.limitation_expiry), "frozen": line.frozen,
        "external_ref": line.external_ref,
    }


def case_detail(case: DunningCase) -> dict[str, Any]:
    phone = next((c for c in case.debtor.channels if c.kind == "phone" and c.usable), None)
    return {
        **case_summary(case),
        "debtor": {"id": case.debtor.id, "name": case.debtor.name,
                   "phone_masked": phone.masked if phone else None,
                   "written_only": case.debtor.written_only},
        "litigation_route": case.litigation_route,
        "events_available": [{"event": e, "label": EVENT_LABELS[e][0]}
                             for e in events_from(case.state)],
        "charge_lines": [charge_line(line) for line in case.charge_lines],
    }


def event(ev: CaseEvent) -> dict[str, Any]:
    return {"seq": ev.seq, "at": when(ev.at), "actor_id": ev.actor_id,
            "actor_role": ev.actor_role, "kind": ev.kind, "name": ev.name,
            "from_state": ev.from_state, "to_state": ev.to_state, "payload": ev.payload,
            "prev_hash": ev.prev_hash, "hash": ev.hash}


def contact(c: ContactAttempt) -> dict[str, Any]:
    return {"id": c.id, "case_id": c.case_id, "staff_id": c.staff_id, "channel": c.channel,
            "at": when(c.at), "person_reached": c.person_reached, "outcome": c.outcome,
            "techniques": list(c.techniques or []), "reason_class": c.reason_class,
            "reason_sub": c.reason_sub, "notes": c.notes, "outside_rules": list(c.outside_rules
                                                                                 or []),
            "override_reason": c.override_reason, "flagged": c.flagged}


def payment(p: Payment) -> dict[str, Any]:
    return {"id": p.id, "case_id": p.case_id, "amount": yuan(p.amount),
            "unallocated": yuan(p.unallocated), "paid_on": day(p.paid_on), "channel": p.channel,
            "external_id": p.external_id, "designated": [int(i) for i in p.designated or []],
            "reversed": p.reversed,
            "allocations": [{"charge_line_id": a.charge_line_id, "amount": yuan(a.amount)}
                            for a in p.allocations]}


def task(t: Task) -> dict[str, Any]:
    return {"id": t.id, "case_id": t.case_id, "kind": t.kind, "title": t.title,
            "assignee_id": t.assignee_id, "candidate_role": t.candidate_role,
            "due_at": when(t.due_at), "priority": t.priority, "status": t.status,
            "note": t.note, "created_at": when(t.created_at), "done_at": when(t.done_at)}


def document(d: Document, downloadable: bool) -> dict[str, Any]:
    return {"id": d.id, "case_id": d.case_id, "kind": d.kind, "status": d.status,
            "event_seq": d.event_seq, "template_version": d.template_version,
            "sha256": d.sha256, "amount": yuan(d.amount), "deadline": day(d.deadline),
            "charge_line_ids": [int(i) for i in d.charge_line_ids or []],
            "approved_by_id": d.approved_by_id, "dispatch_channel": d.dispatch_channel,
            "tracking_no": d.tracking_no, "contents_label": d.contents_label,
            "dispatched_at": when(d.dispatched_at), "delivered_on": day(d.delivered_on),
            "grade": d.grade, "created_at": when(d.created_at), "error": d.error,
            "downloadable": downloadable}


def import_run(run: ImportRun, progress: dict[str, Any] | None,
               max_errors: int = 50) -> dict[str, Any]:
    """An import run: where it is, what it did (counts), and its first row errors."""
    summary = run.summary or {}
    return {
        "id": run.id, "kind": run.kind, "status": run.status, "dry_run": run.dry_run,
        "filename": run.filename, "community_code": run.community_code,
        "mapping_name": run.mapping_name, "created_at": when(run.created_at),
        "finished_at": when(run.finished_at), "finished": run.finished_at is not None,
        "progress": progress, "counts": summary.get("counts") or {},
        "case_ids": summary.get("case_ids") or [],
        "warnings": (summary.get("warnings") or [])[:max_errors],
        "error_count": run.error_count, "errors": (run.errors or [])[:max_errors],
        "links": {"self": f"/api/v1/imports/{run.id}",
                  "errors": f"/api/v1/imports/{run.id}/errors",
                  "error_report": f"/api/v1/imports/{run.id}/errors.csv"},
    }
