"""Outcome reviews (结果评估): submitted by the case's collector, confirmed or returned by the
supervisor, each step in the case's audit chain; bad input names the field, writes nothing.

The estate fixture: a debtor owing ¥1611.00 in a case assigned to the collector, opened at
`now` (Monday 2026-11-23 10:00 Shanghai).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from casework import audit, services
from casework.extensions import db
from casework.models import DunningCase, OutcomeReview, Task
from casework.services import Conflict, Forbidden, InvalidInput
from casework.services.clock import local_date
from casework.services.reviews import (
    awaiting_confirmation,
    confirm_review,
    draft,
    return_review,
    submit_review,
)
from casework.services.work import complete_task
from tests.factories import case_events, fast_password_hashing, fresh_case, staff, walk

GOOD = {"arrears_reason": "excuse", "arrears_reason_sub": "hardship",
        "technique_worked": "sympathy", "channel_worked": "visit",
        "techniques_failed": ["carpet_bombing"], "note": "上门沟通后分两次付清"}


@pytest.fixture(autouse=True)
def _fast_passwords(monkeypatch):
    fast_password_hashing(monkeypatch)


def pay_off(case_id: int, now, days: int = 40):
    """A payment of everything, `days` after `now`, settles the case."""
    when = now + timedelta(days=days)
    return services.record_payment(case_id, Decimal("1611.00"), local_date(when), user=None,
                                   now=when)


def review_tasks(case_id: int, status: str = "open") -> list[Task]:
    return list(db.session.scalars(sa.select(Task).where(
        Task.case_id == case_id, Task.kind == "outcome_review", Task.status == status)))


def test_prefilled_draft_has_the_furthest_stage_and_days_to_recover(estate, now):
    walk(estate, estate.case.id, "formal_demand", now)
    services.fire_event(estate.case.id, "promise_payment", estate.collector,
                        {"installments": [{"due_date": "2026-12-20", "amount": "1611.00"}]},
                        now=now + timedelta(days=1))
    pay_off(estate.case.id, now, days=27)  # 2026-12-20 10:00 Shanghai
    case = db.session.get(DunningCase, estate.case.id)
    assert case.state == "paid"
    start = draft(case)
    # payment_plan came after formal_demand, but the furthest main stage is the demand
    assert start["stage_reached"] == "formal_demand"
    assert start["stages"] == ["preparation", "first_reminder", "follow_up", "formal_demand",
                               "payment_plan"]
    assert start["days_to_recover"] == 27
    assert start["final_state"] == "paid"


def test_collector_submits_and_the_task_is_done_and_audited(estate, now):
    walk(estate, estate.case.id, "follow_up", now)
    pay_off(estate.case.id, now, days=10)
    assert len(review_tasks(estate.case.id)) == 1
    later = now + timedelta(days=11)
    review = submit_review(estate.case.id, estate.collector, GOOD, now=later)
    db.session.expire_all()
    review = db.session.get(OutcomeReview, review.id)
    assert (review.final_state, review.arrears_reason, review.arrears_reason_sub) == \
        ("paid", "excuse", "hardship")
    assert (review.technique_worked, review.channel_worked) == ("sympathy", "visit")
    assert review.techniques_failed == ["carpet_bombing"]
    assert (review.stage_reached, review.days_to_recover) == ("follow_up", 10)
    assert (review.status, review.collector_id, review.submitted_at) == \
        ("submitted", estate.collector.id, later)
    assert review_tasks(estate.case.id) == []
    assert len(review_tasks(estate.case.id, "done")) == 1
    last = case_events(estate.case.id)[-1]
    assert (last.kind, last.name, last.actor_id) == ("review", "submit_review",
                                                     estate.collector.id)
    assert last.payload["review_id"] == review.id
    assert last.payload["technique_worked"] == "sympathy"
    assert audit.verify_all([estate.case.id])[1] == []


@pytest.mark.parametrize("values, field", [
    ({**GOOD, "arrears_reason": ""}, "arrears_reason"),
    ({**GOOD, "arrears_reason": "lazy"}, "arrears_reason"),
    ({**GOOD, "arrears_reason_sub": "bored"}, "arrears_reason_sub"),
    ({**GOOD, "technique_worked": "threats"}, "technique_worked"),
    ({**GOOD, "channel_worked": "pigeon"}, "channel_worked"),
    ({**GOOD, "channel_worked": ""}, "channel_worked"),  # paid: something worked
    ({**GOOD, "techniques_failed": ["sympathy"]}, "techniques_failed"),
    ({**GOOD, "techniques_failed": ["shouting"]}, "techniques_failed"),
    ({**GOOD, "techniques_failed": "sympathy"}, "techniques_failed"),
    ({**GOOD, "stage_reached": "litigation"}, "stage_reached"),
    ({**GOOD, "arrears_reason_sub": "service_quality"}, "service_problems"),
    ({**GOOD, "service_problems": "电梯长期故障"}, "passed_on_to"),
    ({**GOOD, "note": "长" * 4001}, "note"),
])
def test_bad_values_name_the_field_and_write_nothing(estate, now, values, field):
    pay_off(estate.case.id, now)
    seq = db.session.get(DunningCase, estate.case.id).event_seq
    with pytest.raises(InvalidInput) as err:
        submit_review(estate.case.id, estate.collector, values, now=now + timedelta(days=41))
    assert err.value.field == field
    db.session.expire_all()
    assert db.session.get(DunningCase, estate.case.id).event_seq == seq
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutcomeReview)) == 0
    assert len(review_tasks(estate.case.id)) == 1


def test_service_problems_passed_on_are_kept(estate, now):
    services.fire_event(estate.case.id, "withdraw", estate.supervisor, {"reason": "业主非本人"},
                        now=now + timedelta(days=2))
    review = submit_review(estate.case.id, estate.supervisor, {
        "arrears_reason": "excuse", "arrears_reason_sub": "service_quality",
        "techniques_failed": ["timely_reminder", "timely_reminder"],
        "service_problems": "楼道照明坏了三个月", "passed_on_to": "工程部"},
        now=now + timedelta(days=3))
    assert (review.final_state, review.stage_reached, review.days_to_recover) == \
        ("withdrawn", "preparation", 2)
    assert (review.service_problems, review.passed_on_to) == ("楼道照明坏了三个月", "工程部")
    assert review.techniques_failed == ["timely_reminder"]
    assert review.channel_worked is None  # nothing had to work on a withdrawn case
    assert review.collector_id == estate.collector.id  # the case's collector, not the submitter


def test_an_open_case_cannot_be_reviewed(estate, now):
    with pytest.raises(InvalidInput) as err:
        submit_review(estate.case.id, estate.collector, GOOD, now=now)
    assert err.value.field == "case_id"


def test_only_the_cases_collector_or_a_supervisor_may_submit(estate, now):
    pay_off(estate.case.id, now)
    for user in (estate.collector2, estate.legal, estate.auditor, estate.admin):
        with pytest.raises(Forbidden):
            submit_review(estate.case.id, user, GOOD, now=now + timedelta(days=41))
    from tests.factories import community

    other = staff("sup2", "supervisor")
    other.communities = [community("XX", "别的小区")]
    db.session.commit()
    with pytest.raises(Forbidden):
        submit_review(estate.case.id, other, GOOD, now=now + timedelta(days=41))
    assert submit_review(estate.case.id, estate.supervisor, GOOD,
                         now=now + timedelta(days=41)).submitted_by_id == estate.supervisor.id


def test_supervisor_confirms_and_a_confirmed_review_is_final(estate, now):
    pay_off(estate.case.id, now)
    review = submit_review(estate.case.id, estate.collector, GOOD, now=now + timedelta(days=41))
    assert [r.id for r in awaiting_confirmation(estate.supervisor)] == [review.id]
    with pytest.raises(Forbidden):
        confirm_review(review.id, estate.collector, now=now + timedelta(days=42))
    confirmed = confirm_review(review.id, estate.supervisor, now=now + timedelta(days=42))
    assert (confirmed.status, confirmed.confirmed_by_id) == ("confirmed", estate.supervisor.id)
    assert confirmed.confirmed_at == now + timedelta(days=42)
    assert awaiting_confirmation(estate.supervisor) == []
    with pytest.raises(Conflict):
        confirm_review(review.id, estate.supervisor, now=now + timedelta(days=43))
    with pytest.raises(Conflict):
        submit_review(estate.case.id, estate.collector, GOOD, now=now + timedelta(days=43))
    names = [e.name for e in case_events(estate.case.id, "review")]
    assert names == ["submit_review", "confirm_review"]
    assert audit.verify_all()[1] == []


def test_returned_review_reopens_the_task_and_can_be_resubmitted(estate, now):
    pay_off(estate.case.id, now)
    review = submit_review(estate.case.id, estate.collector, GOOD, now=now + timedelta(days=41))
    with pytest.raises(InvalidInput) as err:
        return_review(review.id, estate.supervisor, "  ", now=now + timedelta(days=42))
    assert err.value.field == "return_reason"
    returned = return_review(review.id, estate.supervisor, "有效技巧写错了",
                             now=now + timedelta(days=42))
    assert (returned.status, returned.return_reason) == ("returned", "有效技巧写错了")
    tasks = review_tasks(estate.case.id)
    assert len(tasks) == 1 and tasks[0].assignee_id == estate.collector.id
    assert "有效技巧写错了" in tasks[0].title
    with pytest.raises(Conflict):  # only a submitted review can be decided
        confirm_review(review.id, estate.supervisor, now=now + timedelta(days=42))
    again = submit_review(estate.case.id, estate.collector,
                          {**GOOD, "technique_worked": "sugar_coated"},
                          now=now + timedelta(days=43))
    assert again.id == review.id  # one review per closing, revised
    assert (again.status, again.technique_worked, again.return_reason) == \
        ("submitted", "sugar_coated", None)
    assert review_tasks(estate.case.id) == []
    confirm_review(review.id, estate.supervisor, now=now + timedelta(days=44))
    names = [e.name for e in case_events(estate.case.id, "review")]
    assert names == ["submit_review", "return_review", "submit_review", "confirm_review"]
    assert case_events(estate.case.id, "review")[1].payload["reason"] == "有效技巧写错了"
    assert audit.verify_all()[1] == []


def test_supervisor_sees_only_reviews_of_their_communities(estate, now):
    from tests.factories import community, debtor, monthly_lines, unit

    pay_off(estate.case.id, now)
    mine = submit_review(estate.case.id, estate.collector, GOOD, now=now + timedelta(days=41))
    far = community("FAR", "远方小区")
    u, d = unit(far, "9栋", "901"), debtor("远方业主", phone="13900000009")
    ids = monthly_lines(u, d, months=range(1, 2))
    db.session.commit()
    other = services.open_case(d.id, far.id, ids, None, assignee_id=estate.collector2.id, now=now)
    services.fire_event(other.id, "withdraw", None, {"reason": "错误立案"}, now=now)
    submit_review(other.id, estate.collector2, {"arrears_reason": "unaware"}, now=now)
    estate.supervisor.communities = [estate.community]
    db.session.commit()
    assert [r.id for r in awaiting_confirmation(estate.supervisor)] == [mine.id]


def test_review_of_a_paid_case_with_fresh_case_in_the_same_community(estate, now):
    """Two closed cases: each review hangs off its own case and closing event."""
    case2, _ = fresh_case(estate, now)
    services.fire_event(case2.id, "withdraw", estate.supervisor, {"reason": "错误立案"}, now=now)
    pay_off(estate.case.id, now)
    r1 = submit_review(estate.case.id, estate.collector, GOOD, now=now + timedelta(days=41))
    r2 = submit_review(case2.id, estate.collector, {"arrears_reason": "unaware"},
                       now=now + timedelta(days=41))
    assert (r1.case_id, r2.case_id) == (estate.case.id, case2.id)
    closing = [e for e in case_events(case2.id) if e.to_state == "withdrawn"][0]
    assert r2.closing_seq == closing.seq


def test_the_review_task_cannot_be_ticked_off_without_a_review(estate, now):
    walk(estate, estate.case.id, "follow_up", now)
    pay_off(estate.case.id, now, days=10)
    [task] = review_tasks(estate.case.id)
    with pytest.raises(InvalidInput) as caught:
        complete_task(task.id, estate.collector, "done", now=now + timedelta(days=11))
    assert caught.value.field == "task_id"
    db.session.expire_all()
    assert len(review_tasks(estate.case.id)) == 1
