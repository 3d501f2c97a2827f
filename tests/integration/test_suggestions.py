"""Suggestions on the case page: the technique and channel with the best payment rate within
14 days after a contact, on other cases with the same arrears reason and stage.

Fixture (all cases opened 60 days before `now` and sent to the first reminder at once; the
contacts are a day later, day d, Shanghai time; "hardship" means excuse/hardship):

case  stage at contact  reason     contact                        payment          counts as
A     first_reminder    hardship   phone, sympathy                d+5              paid
B     first_reminder    hardship   phone, sympathy                d+15             not paid
H     first_reminder    (case's)   phone, sympathy                d+1              paid
I     first_reminder    hardship   phone, sympathy                d-1 (before)     not paid
C     first_reminder    hardship   visit, sympathy at 07:30 local d+14             paid
      (23:30 UTC the day before: the window is counted in Shanghai days)
D     first_reminder    hardship   visit, sympathy + sugar_coated none             not paid
G     first_reminder    hardship   visit, sympathy                d+2, reversed    not paid
E     follow_up         hardship   visit, sympathy                d+2              other stage
F     first_reminder    wilful     visit, sympathy                d+2              other reason
T     (the case itself) hardship   visit, sympathy                d+2              own case
R     first_reminder    hardship   visit, sympathy 10 days ago    9 days ago       too recent

By hand: phone·sympathy 2 of 4 (A, H) = 0.500; visit·sympathy 1 of 3 (C) = 0.333;
visit·sugar_coated 0 of 1 (D).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from casework import services
from casework.extensions import db
from casework.models import DunningCase, Payment
from casework.services.clock import SHANGHAI, local_date
from casework.services.suggestions import (
    MIN_SAMPLE,
    Suggestion,
    best_pair,
    pair_counts,
    suggest,
)
from tests.factories import counting_statements, fast_password_hashing, fresh_case

HARDSHIP = ("excuse", "hardship")


@pytest.fixture(autouse=True)
def _fast_passwords(monkeypatch):
    fast_password_hashing(monkeypatch)


class Builder:
    def __init__(self, estate, now):
        self.estate, self.now = estate, now
        self.t0 = now - timedelta(days=60)
        self.day = self.t0 + timedelta(days=1)  # 10:00 Shanghai on day d

    def case(self, stage: str = "first_reminder") -> DunningCase:
        case, _ = fresh_case(self.estate, self.t0)
        services.fire_event(case.id, "start_outreach", self.estate.collector, now=self.t0)
        if stage == "follow_up":
            services.fire_event(case.id, "escalate_follow_up", self.estate.collector,
                                now=self.t0)
        return case

    def contact(self, case, channel: str, techniques, reason=HARDSHIP, at=None) -> None:
        at = at or self.day
        services.record_contact(
            case.id, self.estate.collector, channel=channel, outcome="reached", at=at,
            techniques=techniques, reason_class=reason[0] if reason else None,
            reason_sub=reason[1] if reason else None, notes="说明",
            override_reason="补录", now=at + timedelta(hours=1))

    def pay(self, case, days: int, amount: str = "100.00") -> Payment:
        when = self.day + timedelta(days=days)
        return services.record_payment(case.id, Decimal(amount), local_date(when),
                                       user=None, now=when)


@pytest.fixture
def fixture(estate, now):
    b = Builder(estate, now)
    a, bb, h, i = b.case(), b.case(), b.case(), b.case()
    for case in (a, bb, i):
        b.contact(case, "phone", ["sympathy"])
    b.contact(h, "phone", [], reason=HARDSHIP, at=b.day - timedelta(hours=1))
    b.contact(h, "phone", ["sympathy"], reason=None)
    b.pay(a, 5)
    b.pay(bb, 15)
    b.pay(h, 1)
    b.pay(i, -1)
    c, d, g = b.case(), b.case(), b.case()
    early = b.day.astimezone(SHANGHAI).replace(hour=7, minute=30)  # 23:30 UTC the day before
    b.contact(c, "visit", ["sympathy"], at=early)
    b.contact(d, "visit", ["sympathy", "sugar_coated"])
    b.contact(g, "visit", ["sympathy"])
    b.pay(c, 14)
    services.reverse_payment(b.pay(g, 2).id, "退票", estate.supervisor, now=now)
    e, f, r = b.case("follow_up"), b.case(), b.case()
    target = b.case()
    b.contact(e, "visit", ["sympathy"])
    b.contact(f, "visit", ["sympathy"], reason=("wilful", None))
    b.contact(target, "visit", ["sympathy"])
    b.contact(r, "visit", ["sympathy"], at=now - timedelta(days=10))
    for case in (e, f, target):
        b.pay(case, 2)
    services.record_payment(r.id, Decimal("100.00"), local_date(now - timedelta(days=9)),
                            now=now - timedelta(days=9))
    db.session.expire_all()
    return db.session.get(DunningCase, target.id)


def test_rates_computed_by_hand(fixture, now):
    target = fixture
    assert (target.state, target.reason_class, target.reason_sub) == \
        ("first_reminder", "excuse", "hardship")
    counts = {(p.technique, p.channel): (p.paid, p.sample) for p in pair_counts(target, now)}
    assert counts == {("sympathy", "phone"): (2, 4),      # A, H paid; B late, I before
                      ("sympathy", "visit"): (1, 3),      # C paid on d+14 local; D; G reversed
                      ("sugar_coated", "visit"): (0, 1)}  # D
    best = suggest(target, now, min_sample=3)
    assert (best.technique, best.channel, best.paid, best.sample) == \
        ("sympathy", "phone", 2, 4)
    assert best.rate == Decimal("0.500") and best.percent == Decimal("50.0")


def test_a_higher_rate_on_too_few_contacts_does_not_win():
    few = Suggestion("sympathy", "phone", 3, 3)
    many = Suggestion("cut_retreat", "visit", 9, 20)
    same_rate_more = Suggestion("united_front", "letter", 18, 40)
    assert best_pair([few, many], min_sample=20) == many
    assert best_pair([few, many], min_sample=3) == few
    assert best_pair([few, many, same_rate_more], min_sample=20) == same_rate_more
    assert best_pair([few], min_sample=20) is None


def test_below_the_threshold_nothing_is_shown(fixture, now):
    assert suggest(fixture, now, min_sample=4).sample == 4
    assert suggest(fixture, now, min_sample=5) is None
    assert suggest(fixture, now) is None  # the default needs MIN_SAMPLE contacts
    assert MIN_SAMPLE > 4


def test_the_reason_sub_narrows_the_match(fixture, now):
    fixture.reason_sub = "vacancy"
    assert pair_counts(fixture, now) == []
    fixture.reason_sub = None  # any excuse: the same contacts (F was wilful)
    assert {(p.paid, p.sample) for p in pair_counts(fixture, now)} == {(2, 4), (1, 3), (0, 1)}


def test_closed_or_unassessed_cases_get_no_suggestion(estate, fixture, now):
    assert estate.case.reason_class is None
    assert suggest(estate.case, now, min_sample=1) is None
    services.fire_event(fixture.id, "withdraw", estate.supervisor, {"reason": "错误立案"},
                        now=now)
    assert suggest(db.session.get(DunningCase, fixture.id), now, min_sample=1) is None


def test_one_statement_whatever_the_number_of_contacts(estate, fixture, now):
    with counting_statements() as first:
        pair_counts(fixture, now)
    b = Builder(estate, now)
    for _ in range(6):
        case = b.case()
        b.contact(case, "sms", ["timely_reminder", "cut_retreat"])
        b.pay(case, 3)
    db.session.expire_all()
    target = db.session.get(DunningCase, fixture.id)
    with counting_statements() as second:
        pairs = pair_counts(target, now)
    assert len(first) == len(second) == 1
    counts = {(p.technique, p.channel): (p.paid, p.sample) for p in pairs}
    assert counts[("timely_reminder", "sms")] == counts[("cut_retreat", "sms")] == (6, 6)
    assert counts[("sympathy", "phone")] == (2, 4)
