"""Writing, verifying and replaying the hash-chained audit record (DESIGN §6)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from workflows.dunning import DunningWorkflow
from workflows.facts import Actor

from .extensions import db
from .models import GENESIS, CaseEvent, DunningCase, utcnow


def plain(value: Any) -> Any:
    """JSON-safe, canonical values: Decimal and dates as strings, never floats."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    if isinstance(value, float):
        raise TypeError("floats are not allowed in the audit record")
    return value


def canonical(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


RECORD = ("case_id", "seq", "actor_id", "actor_role", "kind", "name", "from_state", "to_state",
          "payload")


def _digest(row: dict[str, Any]) -> str:
    """sha256 over the previous hash and the canonical record of an event's values."""
    record = {key: row[key] for key in RECORD}
    record["at"] = row["at"].astimezone(UTC).isoformat()
    return hashlib.sha256((row["prev_hash"] + canonical(record)).encode()).hexdigest()


def event_hash(ev: CaseEvent) -> str:
    """sha256 over the previous hash and the canonical record."""
    return _digest({key: getattr(ev, key) for key in (*RECORD, "at", "prev_hash")})


def actor_role(actor: Actor) -> str:
    for role in ("legal", "supervisor", "admin", "auditor", "collector", "system"):
        if role in actor.roles:
            return role
    return "system" if actor.is_system else "staff"


def append(case: DunningCase, actor: Actor, kind: str, name: str,
           from_state: str | None = None, to_state: str | None = None,
           payload: dict | None = None, at: datetime | None = None) -> CaseEvent | None:
    """Append one event to the case's chain, in the caller's transaction.

    Moving the chain head on the case row also bumps its version, so two writers of the
    same case conflict instead of forking the chain. Inside `written_together()` the event is
    kept as a row for one INSERT at the end of the block, and None is returned.
    """
    row = dict(
        case_id=case.id, seq=case.event_seq + 1, at=at or utcnow(), actor_id=actor.id,
        actor_role=actor_role(actor), kind=kind, name=name, from_state=from_state,
        to_state=to_state, payload=plain(payload or {}), prev_hash=case.event_hash or GENESIS)
    row["hash"] = _digest(row)
    case.event_seq, case.event_hash, case.updated_at = row["seq"], row["hash"], row["at"]
    rows = db.session.info.get(_TOGETHER)
    # a savepoint may roll back what it holds: an event made inside one stays in the session
    if rows is not None and not db.session().in_nested_transaction():
        rows.append(row)
        return None
    ev = CaseEvent(**row)
    db.session.add(ev)
    return ev


_TOGETHER = "audit_rows"


@contextmanager
def written_together() -> Iterator[None]:
    """Inside, `append` keeps the events as plain rows, inserted together at the end of the
    block (`bulk.insert_rows`: no ORM objects, no RETURNING; a timer batch writes hundreds and
    reads none back). The same rows, values and hashes as one `append` at a time."""
    if _TOGETHER in db.session.info:
        yield  # an enclosing block writes them
        return
    rows: list[dict[str, Any]] = []
    db.session.info[_TOGETHER] = rows
    try:
        yield
    finally:
        db.session.info.pop(_TOGETHER, None)
    from .services.bulk import insert_rows

    insert_rows(CaseEvent.__table__, rows)


@dataclass
class BrokenLink:
    case_id: int
    case_number: str
    seq: int
    problem: str

    def __str__(self) -> str:
        return f"case {self.case_number} (id {self.case_id}), event #{self.seq}: {self.problem}"


def verify_case(case: DunningCase, events: list[CaseEvent]) -> BrokenLink | None:
    """The first broken link of one case's chain, or None when it is intact."""
    prev, expected_seq = GENESIS, 1
    for ev in events:
        if ev.seq != expected_seq:
            return BrokenLink(case.id, case.number, expected_seq, "event missing (deleted?)")
        if ev.prev_hash != prev:
            return BrokenLink(case.id, case.number, ev.seq, "prev_hash does not match")
        if event_hash(ev) != ev.hash:
            return BrokenLink(case.id, case.number, ev.seq, "hash mismatch: the row was edited")
        prev, expected_seq = ev.hash, expected_seq + 1
    if case.event_seq != expected_seq - 1 or case.event_hash != prev:
        return BrokenLink(case.id, case.number, expected_seq,
                          "chain ends before the case's head (events removed at the end)")
    return None


def verify_all(case_ids: list[int] | None = None,
               batch: int = 500) -> tuple[int, list[BrokenLink]]:
    """Check every case's chain; returns (events checked, broken links: first per case)."""
    query = sa.select(DunningCase).order_by(DunningCase.id)
    if case_ids:
        query = query.where(DunningCase.id.in_(case_ids))
    checked, broken = 0, []
    cases = db.session.scalars(query).all()
    for start in range(0, len(cases), batch):
        chunk = cases[start:start + batch]
        rows = db.session.scalars(
            sa.select(CaseEvent).where(CaseEvent.case_id.in_([c.id for c in chunk]))
            .order_by(CaseEvent.case_id, CaseEvent.seq)).all()
        by_case: dict[int, list[CaseEvent]] = {}
        for ev in rows:
            by_case.setdefault(ev.case_id, []).append(ev)
        for case in chunk:
            events = by_case.get(case.id, [])
            checked += len(events)
            link = verify_case(case, events)
            if link:
                broken.append(link)
    return checked, broken


def state_at(case_id: int, moment: datetime) -> str | None:
    """Replay a case's transitions up to `moment`; None if it did not exist yet.

    Each step is checked against the statechart, so a replay also proves the history is a
    path the process allows.
    """
    events = db.session.scalars(
        sa.select(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.at <= moment,
                                   CaseEvent.to_state.is_not(None))
        .order_by(CaseEvent.seq)).all()
    state = None
    for ev in events:
        if ev.kind == "opened":
            state = ev.to_state
            continue
        if state != ev.from_state or not _allowed(ev.from_state, ev.name, ev.to_state):
            raise ValueError(f"event #{ev.seq} {ev.name}: {ev.from_state}->{ev.to_state} "
                             f"does not follow from {state}")
        state = ev.to_state
    return state


def _allowed(source: str, event: str, target: str) -> bool:
    state = getattr(DunningWorkflow, source, None)
    return state is not None and any(
        event in t.event and t.target.id == target for t in state.transitions)
