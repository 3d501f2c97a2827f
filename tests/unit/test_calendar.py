"""Tests for casework.calendar (legal-rules D3, H; DESIGN §4)."""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from casework.calendar import WorkingCalendar, package_years, seed_rows


@pytest.fixture
def cal() -> WorkingCalendar:
    return WorkingCalendar()


def test_deadline_on_national_day_2026_moves_past_the_break(cal: WorkingCalendar) -> None:
    # chinesecalendar 1.11.0: 2026-10-01..07 off, Thu 2026-10-08 is the first working day.
    delivered = date(2026, 9, 16)
    assert delivered + timedelta(days=15) == date(2026, 10, 1)
    assert cal.deadline_after(delivered, 15) == date(2026, 10, 8)


def test_first_day_not_counted(cal: WorkingCalendar) -> None:
    # Delivered Mon 2026-03-02; 15 days later is Tue 2026-03-17, a working day.
    assert cal.deadline_after(date(2026, 3, 2), 15) == date(2026, 3, 17)


def test_deadline_on_weekend_moves_to_monday(cal: WorkingCalendar) -> None:
    assert cal.deadline_after(date(2026, 3, 6), 15) == date(2026, 3, 23)  # Sat 21 -> Mon 23


def test_deadline_on_tiaoxiu_saturday_stays(cal: WorkingCalendar) -> None:
    saturday = date(2026, 10, 10)  # 调休 make-up workday after National Day
    assert saturday.weekday() == 5
    assert cal.is_workday(saturday)
    assert cal.deadline_after(saturday - timedelta(days=15), 15) == saturday


def test_2027_without_data_falls_back_to_weekends_and_warns_once(
    cal: WorkingCalendar, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="casework.calendar"):
        assert cal.is_workday(date(2027, 2, 17))  # would be 春节, but no data: Wednesday
        assert not cal.is_workday(date(2027, 2, 20))  # Saturday
        assert cal.next_working_day(date(2027, 2, 20)) == date(2027, 2, 22)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "no holiday data for 2027" in warnings[0].getMessage()
    assert cal.years_missing([2025, 2026, 2027, 2028]) == [2027, 2028]
    assert 2026 in cal.known_years() and 2027 not in cal.known_years()


def test_custom_logger_receives_the_warning(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("test.calendar.custom")
    with caplog.at_level(logging.WARNING, logger="test.calendar.custom"):
        WorkingCalendar(logger=log).is_workday(date(2030, 1, 1))
    assert [r.name for r in caplog.records] == ["test.calendar.custom"]


def test_override_for_2027_is_honoured(caplog: pytest.LogCaptureFixture) -> None:
    cal = WorkingCalendar({date(2027, 2, 17): False, date(2027, 2, 20): True})
    with caplog.at_level(logging.WARNING):
        assert not cal.is_workday(date(2027, 2, 17))
        assert cal.is_public_holiday(date(2027, 2, 17))
        assert cal.is_workday(date(2027, 2, 20))  # make-up Saturday entered by an admin
        assert cal.next_working_day(date(2027, 2, 17)) == date(2027, 2, 18)
        assert cal.deadline_after(date(2027, 2, 2), 15) == date(2027, 2, 18)
    assert 2027 in cal.known_years()
    assert not caplog.records  # a year with admin entries no longer warns


def test_override_beats_package(cal: WorkingCalendar) -> None:
    assert not cal.is_workday(date(2026, 10, 5))
    assert WorkingCalendar({date(2026, 10, 5): True}).is_workday(date(2026, 10, 5))
    assert not WorkingCalendar({date(2026, 3, 2): False}).is_workday(date(2026, 3, 2))


def test_public_holiday_vs_weekend(cal: WorkingCalendar) -> None:
    assert cal.is_public_holiday(date(2026, 10, 1))
    assert cal.is_public_holiday(date(2026, 10, 3))  # Saturday inside the break
    assert not cal.is_public_holiday(date(2026, 3, 7))  # ordinary Saturday
    assert not cal.is_public_holiday(date(2026, 10, 10))  # 调休 workday


def test_add_working_days(cal: WorkingCalendar) -> None:
    assert cal.add_working_days(date(2026, 9, 30), 1) == date(2026, 10, 8)
    assert cal.add_working_days(date(2026, 10, 8), 2) == date(2026, 10, 10)  # 调休 Saturday
    assert cal.add_working_days(date(2026, 10, 8), -1) == date(2026, 9, 30)
    assert cal.add_working_days(date(2026, 10, 3), 0) == date(2026, 10, 3)


def test_working_days_deadline_for_dispute_acknowledgement(cal: WorkingCalendar) -> None:
    # Dispute logged Fri 2026-09-25 (Mid-autumn): Mon 28 and Tue 29 are the 2 working days.
    assert cal.working_days_deadline(date(2026, 9, 25), 2) == date(2026, 9, 29)
    # Logged Wed 2026-09-30: Thu 10-08 and Fri 10-09.
    assert cal.working_days_deadline(date(2026, 9, 30), 2) == date(2026, 10, 9)
    with pytest.raises(ValueError):
        cal.working_days_deadline(date(2026, 9, 30), 0)


def test_rejects_datetimes_and_bad_input(cal: WorkingCalendar) -> None:
    with pytest.raises(TypeError):
        cal.is_workday(datetime(2026, 10, 1, 12))  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        cal.deadline_after(date(2026, 1, 1), -1)
    with pytest.raises(ValueError):
        everything_off = {date(2026, 1, 1) + timedelta(days=i): False for i in range(800)}
        WorkingCalendar(everything_off).next_working_day(date(2026, 1, 1))


def test_seed_rows_2026() -> None:
    rows = seed_rows([2026, 2027])
    by_date = {d: (work, name) for d, work, name in rows}
    assert by_date[date(2026, 10, 1)] == (False, "国庆节")
    assert by_date[date(2026, 10, 10)] == (True, "国庆节调休上班")
    assert date(2026, 3, 7) not in by_date  # ordinary weekends are not rows
    assert all(d.year == 2026 for d in by_date)
    assert rows == sorted(rows)
    assert WorkingCalendar({d: w for d, w, _ in rows}).is_workday(date(2026, 10, 10))
    assert package_years() >= {2025, 2026}


@settings(max_examples=300, deadline=None)
@given(
    d=st.dates(min_value=date(2000, 1, 1), max_value=date(2035, 12, 31)),
    off=st.sets(st.dates(min_value=date(2026, 9, 1), max_value=date(2027, 3, 1)), max_size=40),
)
def test_next_working_day_properties(d: date, off: set[date]) -> None:
    cal = WorkingCalendar(dict.fromkeys(off, False), logger=logging.getLogger("prop.silent"))
    nxt = cal.next_working_day(d)
    assert nxt >= d
    assert cal.is_workday(nxt)
    assert not any(cal.is_workday(d + timedelta(days=i)) for i in range((nxt - d).days))
