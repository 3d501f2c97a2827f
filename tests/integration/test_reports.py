"""The evaluation reports on a small estate where every figure is worked out by hand.

November 2026 in community 阳光花园 (times are Shanghai wall-clock times):

- case A (the estate's case, 王催费): six periods of 2024 at ¥268.50, opened 23 Nov, never paid;
- case B (new debtor, ¥500.00 due 28 Sep, 28 Oct and 28 Nov 2026): opened 2 Nov for 王催费,
  outreach 3 Nov; ¥400.00 paid 5 Nov (to Sep); reassigned to 赵催费 10 Nov; ¥300.00 paid 12 Nov
  (¥100 to Sep, ¥200 to Oct); ¥200.00 paid 15 Nov and reversed 16 Nov; ¥50.00 paid on 9 Nov but
  recorded 20 Nov (to Oct; credited to 王催费, who held the case on 9 Nov);
- case C (new debtor, ¥800.00 due 28 Nov 2026, 赵催费): opened 2 Nov, outreach 3 Nov, paid in
  full 20 Nov (settled from first_reminder).
A second community 空小区 has no cases at all.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from casework import services
from casework.extensions import db
from casework.models import CollectionTarget, Payment
from casework.reports import GROUPINGS, REPORTS, ReportFilters, run
from tests import factories
from tests.factories import counting_statements, fresh_case, shanghai

D = Decimal
TODAY = date(2026, 11, 23)
NOVEMBER = (date(2026, 11, 1), date(2026, 11, 30))


@pytest.fixture
def books(estate):
    """The estate above; returns what the tests need to name."""
    e = estate
    col, col2, sup = e.collector, e.collector2, e.supervisor
    empty = factories.community(code="KX", name="空小区")
    factories.unit(empty, building="9栋", number="901")
    b, b_lines = fresh_case(e, shanghai(2026, 11, 2), year=2026, months=(9, 10, 11),
                            amount="500.00", assignee=col)
    c, c_lines = fresh_case(e, shanghai(2026, 11, 2), year=2026, months=(11,),
                            amount="800.00", assignee=col2)
    for case in (b, c):
        services.fire_event(case.id, "start_outreach", sup, now=shanghai(2026, 11, 3))

    def contact(case, who, at, channel="phone", outcome="no_answer", **kw):
        services.record_contact(case.id, who, channel=channel, outcome=outcome, at=at, now=at,
                                **kw)

    contact(b, col, shanghai(2026, 11, 3, 10, 30), outcome="reached",
            techniques=["timely_reminder"], reason_class="excuse", reason_sub="hardship",
            notes="生意周转困难")  # K1
    contact(c, col2, shanghai(2026, 11, 4, 10, 0))  # K3
    contact(c, col2, shanghai(2026, 11, 4, 10, 30))  # K7
    contact(c, col2, shanghai(2026, 11, 4, 11, 0), override_reason="业主要求中午前回电")  # K8: cap
    services.record_payment(b.id, D("400.00"), date(2026, 11, 5), user=col,
                            now=shanghai(2026, 11, 5, 11))
    services.assign([b.id], col2.id, sup, now=shanghai(2026, 11, 10))
    contact(b, col2, shanghai(2026, 11, 11), channel="sms", outcome="sent",
            techniques=["timely_reminder", "sugar_coated"])  # K2
    services.record_payment(b.id, D("300.00"), date(2026, 11, 12), user=col2,
                            now=shanghai(2026, 11, 12, 15))
    contact(b, col2, shanghai(2026, 11, 13), techniques=["sympathy"])  # K6
    bounced = services.record_payment(b.id, D("200.00"), date(2026, 11, 15), user=col2,
                                      now=shanghai(2026, 11, 15, 9))
    services.reverse_payment(bounced.id, "银行退票", sup, now=shanghai(2026, 11, 16))
    contact(c, col2, shanghai(2026, 11, 19, 21, 30), channel="visit", outcome="reached",
            techniques=["carpet_bombing"], reason_class="unaware",
            override_reason="业主只在晚上在家")  # K4: outside the window
    services.record_payment(b.id, D("50.00"), date(2026, 11, 9), user=col2,
                            now=shanghai(2026, 11, 20, 9))
    services.record_payment(c.id, D("800.00"), date(2026, 11, 20), user=col2,
                            now=shanghai(2026, 11, 20, 11))
    contact(e.case, col, shanghai(2026, 11, 23, 10, 30),
            techniques=["timely_reminder"])  # K5
    for who in (col, col2):
        db.session.add(CollectionTarget(collector_id=who.id, month=date(2026, 11, 1),
                                        amount=D("1000.00")))
    db.session.commit()
    return {"A": e.case, "B": b, "C": c, "empty": empty, "col": col, "col2": col2,
            "community": e.community}


def report(name, start=NOVEMBER[0], end=NOVEMBER[1], **kw):
    return run(db.session, name, ReportFilters(start, end, **kw), TODAY)


def by_label(rep):
    return {row["label"]: row for row in rep.rows}


def figures(row, *keys):
    return tuple(row[k] for k in keys)


RATE = ("billed", "collected", "rate", "arrears_open", "recovered", "recovery_rate")


def test_collection_rate_by_community_counts_partial_payments_and_skips_the_reversal(books):
    rows = by_label(report("collection_rate"))
    # billed: B Nov 500 + C Nov 800; collected: C's 800; open on 1 Nov: A 1611 + B Sep/Oct 1000;
    # recovered: 400 + 300 + 50 (the ¥200 reversed payment never counts)
    assert figures(rows["阳光花园"], *RATE) == (
        D("1300.00"), D("800.00"), D("61.54"), D("2611.00"), D("750.00"), D("28.72"))
    assert figures(rows["空小区"], *RATE) == (D("0.00"), D("0.00"), None, D("0.00"),
                                             D("0.00"), None)


def test_collection_rate_credits_each_payment_to_the_collector_of_its_day(books):
    rep = report("collection_rate", group="collector")
    rows = by_label(rep)
    # 王催费 holds A at the end of November and held B when ¥400 (5 Nov) and ¥50 (paid 9 Nov,
    # recorded 20 Nov after the reassignment) came in; 赵催费 holds B and C at the end.
    assert figures(rows["王催费"], *RATE) == (D("0.00"), D("0.00"), None, D("1611.00"),
                                            D("450.00"), D("27.93"))
    assert figures(rows["赵催费"], *RATE) == (D("1300.00"), D("800.00"), D("61.54"),
                                            D("1000.00"), D("300.00"), D("30.00"))
    assert figures(rep.total, *RATE) == (D("1300.00"), D("800.00"), D("61.54"), D("2611.00"),
                                         D("750.00"), D("28.72"))
    only = report("collection_rate", group="collector", collector_id=books["col"].id)
    assert [r["label"] for r in only.rows] == ["王催费"]
    assert only.total["recovered"] == D("450.00")


def test_collection_rate_by_month_counts_each_month_on_its_own(books):
    rep = report("collection_rate", start=date(2026, 10, 1), group="month")
    rows = by_label(rep)
    # October: B's Oct period billed, nothing paid on it by 31 Oct; open on 1 Oct: A + B Sep.
    assert figures(rows["2026-10"], *RATE) == (D("500.00"), D("0.00"), D("0.00"), D("2111.00"),
                                             D("0.00"), D("0.00"))
    assert figures(rows["2026-11"], *RATE) == (D("1300.00"), D("800.00"), D("61.54"),
                                             D("2611.00"), D("750.00"), D("28.72"))
    # The whole range at once: Oct+Nov billed 1800; on them 200 + 50 (B Oct) + 800 (C);
    # open on 1 Oct 2111; recovered on A and B Sep: 400 + 100.
    assert figures(rep.total, *RATE) == (D("1800.00"), D("1050.00"), D("58.33"), D("2111.00"),
                                         D("500.00"), D("23.69"))


def test_collection_rate_by_building(books):
    rep = report("collection_rate", group="building")
    a_building = by_label(rep)["阳光花园 1栋"]
    assert figures(a_building, "billed", "arrears_open") == (D("0.00"), D("1611.00"))
    assert sum((r["billed"] for r in rep.rows), D(0)) == D("1300.00")
    assert by_label(rep)["空小区 9栋"]["billed"] == D("0.00")
    one = report("collection_rate", building_id=a_building["key"])
    assert figures(one.total, "billed", "arrears_open") == (D("0.00"), D("1611.00"))


def test_aging_buckets_of_what_is_owed_today(books):
    rep = report("aging", group="collector")
    rows = by_label(rep)
    buckets = ("d0_30", "d31_90", "d91_180", "d181_365", "d365_plus", "outstanding", "periods")
    # B: Oct 250 left (26 days late) and Nov 500 (not yet due) in 0–30; A's 2024 in >365.
    assert figures(rows["赵催费"], *buckets) == (D("750.00"), D("0.00"), D("0.00"), D("0.00"),
                                               D("0.00"), D("750.00"), 2)
    assert figures(rows["王催费"], *buckets) == (D("0.00"), D("0.00"), D("0.00"), D("0.00"),
                                               D("1611.00"), D("1611.00"), 6)
    assert figures(rep.total, "outstanding", "periods") == (D("2361.00"), 8)
    empty = by_label(report("aging"))["空小区"]
    assert figures(empty, "outstanding", "periods") == (D("0.00"), 0)


def test_money_at_risk_within_90_and_180_days(books):
    rows = by_label(report("money_at_risk"))
    # A's periods expire 28 Jan..28 Jun 2027: Jan within 90 days of 23 Nov 2026, Jan..Apr
    # within 180; B's expire in 2029.
    assert figures(rows["阳光花园"], "within_90", "within_180", "time_barred", "periods_90") == (
        D("268.50"), D("1074.00"), D("0.00"), 1)
    assert figures(rows["空小区"], "within_90", "within_180") == (D("0.00"), D("0.00"))


def test_stage_funnel_from_the_audit_events(books):
    rep = report("funnel", community_id=books["community"].id)
    rows = {r["key"]: r for r in rep.rows}
    assert figures(rows["preparation"], "reached", "paid", "stays", "avg_days") == (
        3, 0, 2, D("1.0"))
    # C stayed in first_reminder from 3 Nov 10:00 to 20 Nov 11:00 (17.04 days, norm 7)
    assert figures(rows["first_reminder"], "reached", "paid", "paid_rate", "stays",
                   "avg_days", "norm_days", "over_norm") == (2, 1, D("50.00"), 1, D("17.0"),
                                                             7, 1)
    assert figures(rows["formal_demand"], "reached", "paid", "stays") == (0, 0, 0)
    nothing = report("funnel", community_id=books["empty"].id)
    assert nothing.total == {"key": "total", "label": None, "reached": 0, "paid": 0,
                             "stays": 0, "over_norm": 0}


def test_what_works_payment_within_14_days_after_a_contact(books):
    rep = report("what_works")
    rows = {(r["dimension"], r["code"]): (r["contacts"], r["paid"], r["paid_rate"])
            for r in rep.rows}
    col, col2 = str(books["col"].id), str(books["col2"].id)
    assert rows == {
        # K1 (paid 5 Nov), K2 (paid 12 Nov), K5 (nothing since)
        ("technique", "timely_reminder"): (3, 2, D("66.67")),
        ("technique", "sugar_coated"): (1, 1, D("100.00")),
        ("technique", "carpet_bombing"): (1, 1, D("100.00")),  # K4, C paid the next day
        ("technique", "sympathy"): (1, 0, D("0.00")),  # K6: only the reversed ¥200 followed
        ("channel", "phone"): (6, 1, D("16.67")),  # K3/K7/K8 were 16 days before C paid
        ("channel", "sms"): (1, 1, D("100.00")),
        ("channel", "visit"): (1, 1, D("100.00")),
        ("reason", "excuse"): (3, 2, D("66.67")),
        ("reason", "unaware"): (4, 1, D("25.00")),
        ("reason", None): (1, 0, D("0.00")),
        ("collector", col): (2, 1, D("50.00")),
        ("collector", col2): (6, 2, D("33.33")),
    }
    assert figures(rep.total, "contacts", "paid", "paid_rate") == (8, 3, D("37.50"))
    assert {r["label"] for r in rep.rows if r["dimension"] == "collector"} == {"王催费", "赵催费"}


def test_conduct_by_collector(books):
    rows = by_label(report("conduct", group="collector"))
    counts = ("contacts", "outside_window", "over_caps", "overrides", "flagged")
    assert figures(rows["王催费"], *counts) == (2, 0, 0, 0, 0)
    assert figures(rows["赵催费"], *counts) == (6, 1, 1, 2, 2)


def test_targets_per_collector_and_month(books):
    rep = report("targets")
    rows = by_label(rep)
    assert figures(rows["王催费"], "month", "target", "collected", "progress", "gap") == (
        "2026-11", D("1000.00"), D("450.00"), D("45.00"), D("550.00"))
    assert figures(rows["赵催费"], "target", "collected", "progress", "gap") == (
        D("1000.00"), D("1100.00"), D("110.00"), D("0.00"))
    assert figures(rep.total, "target", "collected") == (D("2000.00"), D("1550.00"))


def test_outcome_reviews_by_final_state_reason_and_what_worked(books):
    from casework.models.review import OutcomeReview

    def review(case, seq, state, reason, technique, channel, days, status, day):
        db.session.add(OutcomeReview(
            case_id=case.id, closing_seq=seq, final_state=state, arrears_reason=reason,
            technique_worked=technique, channel_worked=channel, stage_reached="first_reminder",
            days_to_recover=days, collector_id=books["col2"].id, status=status,
            submitted_at=shanghai(2026, day[0], day[1])))

    review(books["C"], 90, "paid", "unaware", "carpet_bombing", "visit", 18, "confirmed",
           (11, 21))
    review(books["B"], 91, "written_off", "excuse", None, None, 31, "submitted", (11, 22))
    review(books["B"], 92, "withdrawn", "excuse", "sympathy", "phone", 4, "returned", (11, 22))
    review(books["A"], 93, "paid", "excuse", "timely_reminder", "phone", 9, "confirmed",
           (10, 30))  # October: outside the range
    db.session.commit()
    rep = report("outcomes")
    rows = {(r["dimension"], r["code"]): (r["reviews"], r["confirmed"], r["avg_days"])
            for r in rep.rows}
    assert rows == {
        ("final_state", "paid"): (1, 1, D("18.0")),
        ("final_state", "written_off"): (1, 0, D("31.0")),
        ("arrears_reason", "unaware"): (1, 1, D("18.0")),
        ("arrears_reason", "excuse"): (1, 0, D("31.0")),
        ("technique_worked", "carpet_bombing"): (1, 1, D("18.0")),
        ("technique_worked", None): (1, 0, D("31.0")),
        ("channel_worked", "visit"): (1, 1, D("18.0")),
        ("channel_worked", None): (1, 0, D("31.0")),
    }
    assert figures(rep.total, "reviews", "confirmed") == (2, 1)
    assert report("outcomes", collector_id=books["col"].id).rows == []


def test_an_empty_range_gives_zeros(books):
    start, end = date(2020, 1, 1), date(2020, 1, 31)
    rate = report("collection_rate", start=start, end=end)
    assert figures(rate.total, *RATE) == (D("0.00"), D("0.00"), None, D("0.00"), D("0.00"),
                                          None)
    assert report("what_works", start=start, end=end).total["contacts"] == 0
    assert report("conduct", start=start, end=end).total["contacts"] == 0
    assert report("targets", start=start, end=end).rows == []
    assert report("funnel", start=start, end=end).total["reached"] == 0
    month = report("collection_rate", start=start, end=end, group="month")
    assert [r["label"] for r in month.rows] == ["2020-01"] and month.rows[0]["billed"] == 0


def test_a_reader_sees_only_the_communities_in_scope(books):
    rep = report("collection_rate", scope=frozenset({books["empty"].id}))
    assert [r["label"] for r in rep.rows] == ["空小区"]
    assert rep.total["arrears_open"] == D("0.00")
    assert report("what_works", scope=frozenset()).total["contacts"] == 0


def test_collector_rows_are_the_collectors_of_the_chosen_community(books):
    other = factories.staff("col3", "collector", name="钱催费")
    other.communities = [books["empty"]]
    db.session.commit()
    here = report("conduct", group="collector", community_id=books["community"].id)
    assert {r["label"] for r in here.rows} == {"王催费", "赵催费"}  # (they record none)
    there = report("conduct", group="collector", community_id=books["empty"].id)
    assert "钱催费" in {r["label"] for r in there.rows}


# -- statement counts -----------------------------------------------------------------------------


def _cases(estate, n: int) -> None:
    """n more cases in November, each with a contact, a payment and a reassignment."""
    for _ in range(n):
        case, _ = fresh_case(estate, shanghai(2026, 11, 2), year=2026, months=(10, 11),
                             amount="300.00", assignee=estate.collector)
        services.record_contact(case.id, estate.collector, channel="phone", outcome="reached",
                                at=shanghai(2026, 11, 3), now=shanghai(2026, 11, 3),
                                techniques=["timely_reminder"])
        services.assign([case.id], estate.collector2.id, estate.supervisor,
                        now=shanghai(2026, 11, 4))
        services.record_payment(case.id, D("100.00"), date(2026, 11, 5), user=estate.collector2,
                                now=shanghai(2026, 11, 5))


def _statements(name: str, group: str) -> int:
    with counting_statements() as statements:
        report(name, start=date(2026, 10, 1), group=group)
    return len(statements)


GROUPED = [(name, group) for name in REPORTS for group in GROUPINGS[name]]


def test_each_report_runs_the_same_number_of_statements_for_3_and_30_cases(estate):
    _cases(estate, 3)
    db.session.expire_all()
    few = {key: _statements(*key) for key in GROUPED}
    _cases(estate, 27)
    db.session.expire_all()
    many = {key: _statements(*key) for key in GROUPED}
    assert many == few
    assert max(few.values()) <= 4, few
    assert db.session.scalar(sa.select(sa.func.count(Payment.id))) == 30
