"""Use cases on a case's workflow: open it, fire events, assign it, reveal a phone number."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from workflows import dunning
from workflows.facts import SYSTEM, Actor, CaseFacts

from .. import audit
from ..extensions import db
from ..models import (
    Building,
    ChargeLine,
    Community,
    Debtor,
    DunningCase,
    Policy,
    StaffUser,
    Task,
    Unit,
    utcnow,
)
from . import schedule
from .access import actor_of, can_see, ensure_can_act
from .effects import EFFECTS
from .errors import Conflict, Forbidden, InvalidInput, NotFound
from .facts import gather
from .uow import transaction


def get_case(case_id: int, *, lock: bool = False) -> DunningCase:
    query = sa.select(DunningCase).where(DunningCase.id == case_id)
    if lock:
        query = query.with_for_update()
    case = db.session.scalars(query).first()
    if case is None:
        raise NotFound(f"案件 {case_id} 不存在。", f"Case {case_id} does not exist.")
    return case


def current_policy(community_id: int) -> Policy:
    return current_policies([community_id])[community_id]


def current_policies(community_ids: Iterable[int]) -> dict[int, Policy]:
    """The newest policy of each community, in one query; a community without one is refused."""
    wanted = sorted(set(community_ids))
    found: dict[int, Policy] = {}
    for chunk in _chunks(wanted):
        for policy in db.session.scalars(sa.select(Policy).where(Policy.community_id.in_(chunk))
                                         .order_by(Policy.community_id, Policy.version.desc())):
            found.setdefault(policy.community_id, policy)
    for community_id in wanted:
        if community_id not in found:
            raise InvalidInput("community_id", "该小区还没有催缴政策，请管理员先设置。",
                               "The community has no dunning policy yet.")
    return found


@dataclass(frozen=True)
class CaseRequest:
    """Charge lines of one debtor in one community that should be in a case: a new one, or
    the debtor's open case there."""

    debtor_id: int
    community_id: int
    charge_line_ids: tuple[int, ...]
    assignee_id: int | None = None


CHUNK = 5000


def _chunks(ids: list[int]) -> Iterable[list[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start:start + CHUNK]


def open_case(debtor_id: int, community_id: int, charge_line_ids: Iterable[int],
              user: StaffUser | None = None, assignee_id: int | None = None,
              now: datetime | None = None) -> DunningCase:
    """Open a case for a debtor's unpaid periods, or add them to the debtor's open case."""
    now = now or utcnow()
    ids = sorted(set(charge_line_ids))
    with transaction():
        case = _open_case(debtor_id, community_id, ids, actor_of(user), assignee_id, now)
    return case


def _open_case(debtor_id: int, community_id: int, ids: list[int], actor: Actor,
               assignee_id: int | None, now: datetime) -> DunningCase:
    [case] = open_cases([CaseRequest(debtor_id, community_id, tuple(ids), assignee_id)],
                        actor, now)
    return case


def open_cases(requests: Sequence[CaseRequest], actor: Actor,
               now: datetime) -> list[DunningCase]:
    """Put each request's charge lines into a case, in the caller's transaction: a new case
    (number, policy, first audit event), or the debtor's open case in that community.

    Every request is checked before anything is written, and a refused request refuses them
    all. Requests are taken in order, so a later request for the same debtor and community
    joins the case an earlier one opened. A handful of statements for any number of cases:
    the debtors, communities, lines, open cases and policies are each read in one query; the
    new cases and their events go in with one batched INSERT each, and the new cases' numbers
    and the lines' case ids with one UPDATE each.
    """
    if not requests:
        return []
    debtors = _ids_present(Debtor, {r.debtor_id for r in requests})
    communities = _ids_present(Community, {r.community_id for r in requests})
    all_ids = sorted({i for r in requests for i in r.charge_line_ids})
    lines: dict[int, LineFacts] = {}
    for chunk in _chunks(all_ids):
        for row in db.session.execute(
                sa.select(ChargeLine.id, ChargeLine.debtor_id, ChargeLine.case_id,
                          Building.community_id)
                .join(Unit, Unit.id == ChargeLine.unit_id)
                .join(Building, Building.id == Unit.building_id)
                .where(ChargeLine.id.in_(chunk))):
            lines[row.id] = LineFacts(*row)
    claimed: set[int] = set()
    for r in requests:
        _check_request(r, debtors, communities, lines, claimed)
    pairs = {(r.debtor_id, r.community_id) for r in requests}
    cases: dict[tuple[int, int], DunningCase] = {}
    for chunk in _chunks(sorted({d for d, _ in pairs})):
        for case in db.session.scalars(sa.select(DunningCase).where(
                DunningCase.debtor_id.in_(chunk),
                DunningCase.state.not_in(dunning.FINAL_STATES)).order_by(DunningCase.id)):
            if (case.debtor_id, case.community_id) in pairs:
                cases.setdefault((case.debtor_id, case.community_id), case)
    new: dict[tuple[int, int], CaseRequest] = {}
    for r in requests:
        if (r.debtor_id, r.community_id) not in cases:
            new.setdefault((r.debtor_id, r.community_id), r)
    policies = current_policies(r.community_id for r in new.values())
    for pair, r in new.items():
        cases[pair] = DunningCase(
            number=f"tmp-{uuid.uuid4().hex[:24]}", debtor_id=r.debtor_id,
            community_id=r.community_id, policy=policies[r.community_id], state="preparation",
            assignee_id=r.assignee_id, opened_at=now, stage_since=now, updated_at=now)
    if new:
        db.session.add_all(cases[pair] for pair in new)
        db.session.flush()
    out: list[DunningCase] = []
    case_of_line: dict[int, int] = {}
    opened: list[DunningCase] = []
    for r in requests:
        pair = (r.debtor_id, r.community_id)
        case = cases[pair]
        ids = list(r.charge_line_ids)
        if new.get(pair) is r:
            case.number = f"CW{now.year}-{case.id:06d}"
            audit.append(case, actor, "opened", "open_case", None, "preparation",
                         {"charge_line_ids": ids, "policy_version": case.policy.version,
                          "assignee_id": r.assignee_id}, at=now)
            opened.append(case)
        else:
            audit.append(case, actor, "lines", "add_charge_lines",
                         payload={"charge_line_ids": ids}, at=now)
        case_of_line.update(dict.fromkeys(ids, case.id))
        out.append(case)
    _write_new_heads(opened)
    _set_line_cases(case_of_line)
    for case in {c.id: c for c in out}.values():
        db.session.expire(case, ["charge_lines"])
        schedule.request(case, now)
    return out


@dataclass(frozen=True)
class LineFacts:
    """What the checks need of a charge line (read as columns: no objects to build)."""

    id: int
    debtor_id: int
    case_id: int | None
    community_id: int


def _set_line_cases(case_of_line: dict[int, int]) -> None:
    """line.case_id for many lines in one statement (PostgreSQL: one UPDATE over two arrays,
    elsewhere an executemany), and the same value on any of them loaded in the session."""
    if not case_of_line:
        return
    table = ChargeLine.__table__
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import ARRAY

        pairs = sa.select(sa.func.unnest(sa.bindparam("ids", type_=ARRAY(sa.Integer)))
                          .label("id"),
                          sa.func.unnest(sa.bindparam("cases", type_=ARRAY(sa.Integer)))
                          .label("case_id")).subquery()
        connection.execute(table.update().where(table.c.id == pairs.c.id)
                           .values(case_id=pairs.c.case_id),
                           {"ids": list(case_of_line), "cases": list(case_of_line.values())})
    else:
        connection.execute(table.update().where(table.c.id == sa.bindparam("b_id"))
                           .values(case_id=sa.bindparam("b_case")),
                           [{"b_id": i, "b_case": c} for i, c in case_of_line.items()])
    for line_id, case_id in case_of_line.items():
        line = db.session.identity_map.get(identity_key(ChargeLine, line_id))
        if line is not None:
            set_committed_value(line, "case_id", case_id)


HEAD = ("number", "event_seq", "event_hash", "updated_at")


def _write_new_heads(cases: list[DunningCase]) -> None:
    """The number and audit-chain head of cases inserted in this transaction, in one
    executemany UPDATE: the ORM writes a versioned row one statement at a time, and the
    version check guards nothing here, since no other transaction can see these rows yet.
    The version still moves on, as an ORM update would have moved it."""
    if not cases:
        return
    rows = []
    for case in cases:
        row = {key: getattr(case, key) for key in HEAD}
        row.update(b_id=case.id, b_version=case.version + 1)
        for key in HEAD:
            set_committed_value(case, key, row[key])  # written below, not by the flush
        set_committed_value(case, "version", row["b_version"])
        rows.append(row)
    db.session.flush()  # the events
    table = DunningCase.__table__
    db.session.connection().execute(
        table.update().where(table.c.id == sa.bindparam("b_id"))
        .values(version=sa.bindparam("b_version"),
                **{key: sa.bindparam(key) for key in HEAD}), rows)


def _ids_present(model, ids: set[int]) -> set[int]:
    found: set[int] = set()
    for chunk in _chunks(sorted(ids)):
        found.update(db.session.scalars(sa.select(model.id).where(model.id.in_(chunk))))
    return found


def _check_request(r: CaseRequest, debtors: set[int], communities: set[int],
                   lines: dict[int, LineFacts], claimed: set[int]) -> None:
    """The checks of one request, in the order a single open_case makes them."""
    if r.debtor_id not in debtors:
        raise InvalidInput("debtor_id", f"业主 {r.debtor_id} 不存在。", "Unknown debtor.")
    if r.community_id not in communities:
        raise InvalidInput("community_id", f"小区 {r.community_id} 不存在。",
                           "Unknown community.")
    if not r.charge_line_ids:
        raise InvalidInput("charge_line_ids", "至少需要一条欠费记录。",
                           "At least one charge line.")
    missing = sorted(set(r.charge_line_ids) - set(lines))
    if missing:
        raise InvalidInput("charge_line_ids", f"欠费记录不存在：{missing}", f"Unknown: {missing}")
    for line_id in sorted(set(r.charge_line_ids)):
        line = lines[line_id]
        if line.debtor_id != r.debtor_id or line.community_id != r.community_id:
            raise InvalidInput("charge_line_ids", f"欠费记录 {line.id} 不属于该业主或小区。",
                               f"Charge line {line.id} belongs to another debtor or community.")
        if line.case_id is not None or line.id in claimed:
            raise InvalidInput("charge_line_ids", f"欠费记录 {line.id} 已在案件中。",
                               f"Charge line {line.id} is already in a case.")
    claimed.update(r.charge_line_ids)


def case_to_change(case_id: int, user: StaffUser | None,
                   expected_version: int | None = None) -> DunningCase:
    """Load a case for a change by `user`, refusing a stale form and someone not allowed."""
    case = get_case(case_id)
    if expected_version is not None and case.version != expected_version:
        raise Conflict("该案件已被其他人修改，请刷新后重试。",
                       "The case changed since you loaded it; reload and retry.")
    ensure_can_act(user, case)
    return case


def fire_event(case_id: int, event: str, user: StaffUser | None = None,
               params: Mapping[str, Any] | None = None, now: datetime | None = None,
               expected_version: int | None = None) -> DunningCase:
    """Fire a workflow event as a staff user (None: the system), in one transaction."""
    now = now or utcnow()
    with transaction():
        case = case_to_change(case_id, user, expected_version)
        fire_in_transaction(case, event, actor_of(user), params or {}, now)
    return case


def fire_in_transaction(case: DunningCase, event: str, actor: Actor,
                        params: Mapping[str, Any], now: datetime,
                        facts: CaseFacts | None = None) -> None:
    """Guards, transition, effects and the audit record: the caller owns the transaction.

    `facts`: what `gather(case, now)` gives, when the caller has just gathered it.
    """
    params = normalize(params)
    facts = facts or gather(case, now)
    source, target = dunning.fire(case, event, facts, actor, params)
    effect = EFFECTS.get(event)
    payload = effect(case, facts, actor, dict(params), now) if effect else {}
    for key in ("reason", "note"):
        if params.get(key):
            payload.setdefault(key, str(params[key]).strip())
    audit.append(case, actor, "transition", event, source, target, payload, at=now)
    if target != source:
        case.stage_since = now
    if event == "resolve_dispute" and settle_if_nothing_owed(case, now):
        return  # a waiver that cleared the debt closes the case (and reschedules it)
    if not case.is_open:
        case.closed_at = now
        _cancel_open_tasks(case, keep_kinds=("after_payment_visit",))
        from .reviews import ask_for_review

        ask_for_review(case, now)
    schedule.request(case, now)


def normalize(params: Mapping[str, Any]) -> dict[str, Any]:
    """Form and JSON values to domain types: installment dates and amounts."""
    params = dict(params)
    items = params.get("installments")
    if items is not None:
        if not isinstance(items, list):
            raise InvalidInput("installments", "分期计划格式不正确。",
                               "Installments must be a list.")
        parsed = []
        for n, item in enumerate(items, start=1):
            try:
                due = item["due_date"]
                due = date.fromisoformat(due) if isinstance(due, str) else due
                amount = item["amount"]
                if isinstance(amount, float):
                    raise TypeError
                parsed.append({"due_date": due, "amount": Decimal(str(amount))})
            except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
                raise InvalidInput(f"installments[{n}]", f"第{n}期的日期或金额格式不正确。",
                                   f"Installment {n} has a bad date or amount.") from exc
        params["installments"] = parsed
    return params


def _cancel_open_tasks(case: DunningCase, keep_kinds: tuple[str, ...] = ()) -> None:
    for task in db.session.scalars(sa.select(Task).where(Task.case_id == case.id,
                                                         Task.status == "open")):
        if task.kind not in keep_kinds:
            task.status = "cancelled"


def settle_if_nothing_owed(case: DunningCase, now: datetime) -> bool:
    """Close the case as paid once nothing is owed (fired by the payment that clears it)."""
    if case.is_open and gather(case, now).outstanding == 0:
        fire_in_transaction(case, "settle", SYSTEM, {}, now)
        return True
    return False


def assign(case_ids: Iterable[int], assignee_id: int | None, user: StaffUser | None,
           now: datetime | None = None) -> int:
    """Assign or reassign cases (in bulk) to a collector; supervisors only."""
    now = now or utcnow()
    ids = sorted(set(case_ids))
    with transaction():
        if user is not None and not user.has_role("supervisor"):
            raise Forbidden("只有催缴组长可以分配案件。", "Only a supervisor may assign cases.")
        assignee = db.session.get(StaffUser, assignee_id) if assignee_id else None
        if assignee_id and (assignee is None or not assignee.active
                            or not assignee.has_role("collector")):
            raise InvalidInput("assignee_id", "只能分配给在职的催费员。",
                               "Cases can only go to an active collector.")
        cases = db.session.scalars(sa.select(DunningCase).where(DunningCase.id.in_(ids))).all()
        if len(cases) != len(ids):
            raise InvalidInput("case_ids", "部分案件不存在。", "Some cases do not exist.")
        actor = actor_of(user)
        if user is not None and any(not can_see(user, case) for case in cases):
            raise Forbidden("部分案件不属于您负责的小区。",
                            "Some cases belong to communities you do not supervise.")
        changed = 0
        for case in cases:
            if not case.is_open or case.assignee_id == assignee_id:
                continue
            audit.append(case, actor, "assignment", "assign", payload={
                "from": case.assignee_id, "to": assignee_id}, at=now)
            case.assignee_id = assignee_id
            for task in db.session.scalars(sa.select(Task).where(
                    Task.case_id == case.id, Task.status == "open",
                    Task.assignee_id.is_not(None))):
                task.assignee_id = assignee_id
            changed += 1
    return changed


def reveal_phone(case_id: int, user: StaffUser, now: datetime | None = None) -> str:
    """Show the debtor's phone number to someone allowed to call; every reveal is audited."""
    now = now or utcnow()
    with transaction():
        case = get_case(case_id)
        ensure_can_act(user, case)
        phone = case.debtor.phone()
        if phone is None:
            raise NotFound("该业主没有可用的电话号码。", "The debtor has no usable phone number.")
        audit.append(case, actor_of(user), "reveal", "reveal_phone",
                     payload={"channel": "phone"}, at=now)
    return phone


def add_task(case: DunningCase, kind: str, title: str, due_at: datetime, *,
             assignee_id: int | None = None, role: str | None = None, priority: int = 0,
             dedupe_key: str | None = None, created_at: datetime | None = None) -> Task:
    task = Task(case_id=case.id, kind=kind, title=title, due_at=due_at, assignee_id=assignee_id,
                candidate_role=role, priority=priority, dedupe_key=dedupe_key,
                created_at=created_at or utcnow())
    db.session.add(task)
    return task


def charge_line(unit_id: int, debtor_id: int, period_label: str, period_start: date,
                period_end: date, due_date: date, amount_due: Decimal,
                amount_paid: Decimal = Decimal("0.00"), fee_type: str = "物业费",
                contract_daily_rate: Decimal | None = None,
                external_ref: str | None = None) -> ChargeLine:
    """A new charge line with its limitation clock set (3 years after its due date)."""
    from .clock import limitation_expiry

    if amount_due < 0 or amount_paid < 0 or amount_paid > amount_due:
        raise InvalidInput("amount_due", "应收、实收金额须为非负数，且实收不超过应收。",
                           "Amounts must be non-negative and paid must not exceed due.")
    line = ChargeLine(unit_id=unit_id, debtor_id=debtor_id, period_label=period_label,
                      period_start=period_start, period_end=period_end, due_date=due_date,
                      amount_due=amount_due, amount_paid=amount_paid, fee_type=fee_type,
                      contract_daily_rate=contract_daily_rate, external_ref=external_ref,
                      limitation_expiry=limitation_expiry(due_date))
    db.session.add(line)
    return line


def money_at_risk(case: DunningCase, today: date, within_days: int = 180) -> Decimal:
    """Outstanding on periods whose limitation expires within `within_days` (and not yet)."""
    horizon = today + timedelta(days=within_days)
    return sum((line.balance for line in case.charge_lines
                if line.balance > 0 and today <= line.limitation_expiry <= horizon),
               Decimal("0.00"))
