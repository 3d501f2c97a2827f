"""Opening many cases at once (`services.cases.open_cases`): the batch the ledger import uses and
the single open_case goes through — same checks, same audit record, a few statements."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from casework import audit
from casework.extensions import db
from casework.models import CaseEvent, ChargeLine, DunningCase, Timer
from casework.services.cases import CaseRequest, open_cases
from casework.services.errors import InvalidInput
from casework.services.uow import transaction
from tests.factories import (
    case_events,
    community,
    counting_statements,
    debtor,
    monthly_lines,
    unit,
)
from workflows.facts import Actor


def count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def debtors_owing(estate, n: int, months=range(1, 4),
                  prefix: str = "B") -> list[tuple[int, list[int]]]:
    out = []
    for i in range(n):
        u = unit(estate.community, building=f"{prefix}{i}栋", number=f"{i:04d}")
        d = debtor(name=f"批量业主{prefix}{i:03d}", phone=f"137{i:08d}")
        out.append((d.id, monthly_lines(u, d, months=months)))
    db.session.commit()
    return out


def actor_of(user) -> Actor:
    from casework.services.access import actor_of as of

    return of(user)


def written() -> dict:
    return {"cases": count(DunningCase), "events": count(CaseEvent), "timers": count(Timer),
            "in_cases": db.session.scalar(sa.select(sa.func.count()).select_from(ChargeLine)
                                          .where(ChargeLine.case_id.is_not(None)))}


def test_many_debtors_get_a_case_each_and_an_open_case_takes_the_new_periods(estate, now):
    owing = debtors_owing(estate, 5)
    more = monthly_lines(estate.unit, estate.debtor, months=range(7, 9))
    db.session.commit()
    requests = [CaseRequest(d, estate.community.id, tuple(ids)) for d, ids in owing]
    requests.insert(2, CaseRequest(estate.debtor.id, estate.community.id, tuple(more)))
    actor = actor_of(estate.supervisor)
    with transaction():
        cases = open_cases(requests, actor, now)
    assert len(cases) == 6
    assert cases[2].id == estate.case.id  # the debtor's open case took the new periods
    assert [e.name for e in case_events(estate.case.id)] == ["open_case", "add_charge_lines"]
    assert case_events(estate.case.id)[1].payload == {"charge_line_ids": more}
    new = [c for i, c in enumerate(cases) if i != 2]
    assert len({c.id for c in new}) == 5 and estate.case.id not in {c.id for c in new}
    for case, (debtor_id, ids) in zip(new, owing, strict=True):
        db.session.refresh(case)
        assert case.debtor_id == debtor_id and case.state == "preparation"
        assert case.number == f"CW{now.year}-{case.id:06d}"
        assert [ln.id for ln in case.charge_lines] == ids
        [opened] = case_events(case.id)
        assert (opened.kind, opened.name, opened.from_state, opened.to_state, opened.at) == (
            "opened", "open_case", None, "preparation", now)
        assert opened.payload == {"charge_line_ids": ids, "policy_version": 1,
                                  "assignee_id": None}
        assert opened.actor_id == estate.supervisor.id
        # each case was rescheduled before the commit: its timers exist
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Timer).where(
            Timer.case_id == case.id)) > 0
    checked, broken = audit.verify_all()
    assert broken == [] and checked == count(CaseEvent)


def test_a_bad_line_id_refuses_the_whole_batch_naming_the_field(estate, now):
    owing = debtors_owing(estate, 3)
    before = written()
    requests = [CaseRequest(d, estate.community.id, tuple(ids)) for d, ids in owing]
    requests[1] = CaseRequest(owing[1][0], estate.community.id, (*owing[1][1], 999_999))
    with pytest.raises(InvalidInput) as exc, transaction():
        open_cases(requests, actor_of(estate.supervisor), now)
    assert exc.value.field == "charge_line_ids" and "999999" in exc.value.message
    assert written() == before


@pytest.mark.parametrize("bad, field, words", [
    ("debtor", "debtor_id", "不存在"),
    ("community", "community_id", "不存在"),
    ("no_lines", "charge_line_ids", "至少需要"),
    ("other_debtor", "charge_line_ids", "不属于"),
    ("in_a_case", "charge_line_ids", "已在案件中"),
    ("twice_in_the_batch", "charge_line_ids", "已在案件中"),
    ("no_policy", "community_id", "催缴政策"),
])
def test_each_refusal_names_its_field_and_writes_nothing(estate, now, bad, field, words):
    owing = debtors_owing(estate, 2)
    (d0, ids0), (d1, ids1) = owing
    c = estate.community.id
    bad_request = {
        "debtor": CaseRequest(999_999, c, tuple(ids1)),
        "community": CaseRequest(d1, 999_999, tuple(ids1)),
        "no_lines": CaseRequest(d1, c, ()),
        "other_debtor": CaseRequest(d1, c, (*ids1, ids0[0])),
        "in_a_case": CaseRequest(estate.debtor.id, c, (estate.line_ids[0],)),
        "twice_in_the_batch": CaseRequest(d0, c, (ids0[0],)),
    }.get(bad)
    if bad == "no_policy":  # a community nobody set a policy for
        bare = community(code="BARE", name="无政策小区")
        db.session.flush()
        from casework.models import Policy

        db.session.execute(sa.delete(Policy).where(Policy.community_id == bare.id))
        u = unit(bare, building="9栋", number="901")
        d = debtor(name="无政策业主", phone=None)
        bad_request = CaseRequest(d.id, bare.id, tuple(monthly_lines(u, d)))
        db.session.commit()
    before = written()
    with pytest.raises(InvalidInput) as exc, transaction():
        open_cases([CaseRequest(d0, c, tuple(ids0)), bad_request],
                   actor_of(estate.supervisor), now)
    assert exc.value.field == field and words in exc.value.message
    assert written() == before


def test_two_requests_for_one_debtor_share_the_case_the_first_opened(estate, now):
    [(d, ids)] = debtors_owing(estate, 1, months=range(1, 5))
    c = estate.community.id
    with transaction():
        first, second = open_cases([CaseRequest(d, c, tuple(ids[:2])),
                                    CaseRequest(d, c, tuple(ids[2:]))],
                                   actor_of(estate.supervisor), now)
    assert first.id == second.id
    assert [e.name for e in case_events(first.id)] == ["open_case", "add_charge_lines"]
    db.session.refresh(first)
    assert [ln.id for ln in first.charge_lines] == ids


def _statements_to_open(estate, now, n: int) -> list[str]:
    owing = debtors_owing(estate, n, prefix=f"S{n}-")
    requests = [CaseRequest(d, estate.community.id, tuple(ids)) for d, ids in owing]
    actor = actor_of(estate.supervisor)
    with counting_statements() as statements:
        open_cases(requests, actor, now)
        db.session.flush()  # everything it left for the flush
    db.session.rollback()
    return statements


def test_the_number_of_statements_does_not_grow_with_the_cases(estate, now):
    few = _statements_to_open(estate, now, 3)
    many = _statements_to_open(estate, now + timedelta(seconds=1), 30)
    if db.engine.dialect.name == "postgresql":  # the INSERTs of cases and events are batched
        assert len(few) == len(many) <= 10, (few, many)
    else:  # SQLite: the ORM inserts rows that need their ids back one at a time
        def others(statements):
            return [s for s in statements if not s.startswith("INSERT")]

        assert len(others(few)) == len(others(many)) <= 8, (others(few), others(many))
