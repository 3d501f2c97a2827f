"""Tests for casework.contact_rules (DESIGN §4, legal-rules G3)."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from casework.calendar import WorkingCalendar
from casework.contact_rules import (
    Contact,
    ContactPolicy,
    check_contact,
    next_allowed_moment,
)

SH = ZoneInfo("Asia/Shanghai")
POLICY = ContactPolicy()
CAL = WorkingCalendar(logger=logging.getLogger("test.contact.silent"))


def sh(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    """A Shanghai wall-clock time as a UTC datetime (what the app passes in)."""
    return datetime(y, mo, d, h, mi, tzinfo=SH).astimezone(UTC)


def rules(channel: str, at: datetime, history=(), **kw) -> list[str]:
    return [v.rule for v in check_contact(channel, at, list(history), POLICY, CAL, **kw)]


def nxt(channel: str, after: datetime, history=(), **kw) -> datetime | None:
    return next_allowed_moment(channel, after, list(history), POLICY, CAL, **kw)


def test_sms_at_2310_goes_at_0800_next_morning() -> None:
    at = sh(2026, 3, 10, 23, 10)
    assert rules("sms", at) == ["contact_window"]
    assert nxt("sms", at) == sh(2026, 3, 11, 8) == datetime(2026, 3, 11, 0, 0, tzinfo=UTC)


def test_call_at_2030_goes_at_0900_next_day() -> None:
    at = sh(2026, 3, 10, 20, 30)
    assert rules("call", at) == ["contact_window"]
    assert rules("sms", at) == []  # SMS window runs to 21:00
    assert nxt("call", at) == sh(2026, 3, 11, 9)
    assert nxt("call", sh(2026, 3, 11, 6)) == sh(2026, 3, 11, 9)  # early morning: same day


def test_window_edges() -> None:
    assert rules("call", sh(2026, 3, 10, 9)) == []
    assert rules("call", sh(2026, 3, 10, 19, 59)) == []
    assert rules("visit", sh(2026, 3, 10, 20)) == ["contact_window"]
    assert rules("sms", sh(2026, 3, 10, 8)) == []
    assert rules("wechat", sh(2026, 3, 10, 21)) == ["contact_window"]
    assert rules("email", sh(2026, 3, 10, 7, 59)) == ["contact_window"]


def test_hard_block_wins_over_a_wide_window() -> None:
    wide = ContactPolicy(message_window=(time(6), time(23)))
    assert [v.rule for v in check_contact("sms", sh(2026, 3, 10, 22), [], wide, CAL)] == [
        "contact_window"
    ]
    assert next_allowed_moment("sms", sh(2026, 3, 10, 22), [], wide, CAL) == sh(2026, 3, 11, 8)


def test_holiday_waits_for_next_working_morning() -> None:
    at = sh(2026, 9, 30, 22)  # eve of National Day
    assert nxt("sms", at) == sh(2026, 10, 8, 8)
    assert nxt("call", at) == sh(2026, 10, 8, 9)
    assert rules("call", sh(2026, 10, 3, 10)) == ["holiday"]  # Saturday inside the break
    msgs = check_contact("call", sh(2026, 10, 1, 10), [], POLICY, CAL)
    assert "法定节假日" in msgs[0].message and "holiday" in msgs[0].message_en


def test_ordinary_weekend_allowed_and_tiaoxiu_saturday_allowed() -> None:
    assert rules("call", sh(2026, 3, 7, 10)) == []  # ordinary Saturday
    assert rules("sms", sh(2026, 10, 10, 10)) == []  # 调休 workday


def test_holiday_from_admin_override_in_2027() -> None:
    cal = WorkingCalendar({date(2027, 2, 17): False})
    assert [v.rule for v in check_contact("sms", sh(2027, 2, 17, 10), [], POLICY, cal)] == [
        "holiday"
    ]
    assert next_allowed_moment("sms", sh(2027, 2, 17, 10), [], POLICY, cal) == sh(2027, 2, 18, 8)


def test_daily_call_cap() -> None:
    hist = [Contact("call", sh(2026, 3, 10, 9, 5)), Contact("call", sh(2026, 3, 10, 11))]
    at = sh(2026, 3, 10, 15)
    assert rules("call", at, hist) == ["daily_call_cap"]
    assert rules("call", at, hist[:1]) == []
    assert rules("visit", at, hist) == []  # visits are not call attempts
    assert nxt("call", at, hist) == sh(2026, 3, 11, 9)
    msg = check_contact("call", at, hist, POLICY, CAL)[0].message
    assert "今日" in msg and "2" in msg


def test_weekly_call_cap_is_rolling_seven_days() -> None:
    days = [3, 3, 4, 5, 6, 7, 8]  # 7 unanswered attempts, at most 2 a day
    hist = [Contact("call", sh(2026, 3, d, 10 + i)) for i, d in enumerate(days)]
    at = sh(2026, 3, 9, 10)
    assert rules("call", at, hist) == ["weekly_call_cap"]
    # The oldest attempt (03-03 10:00) leaves the window at 03-10 10:00; then 6 in 7 days.
    assert nxt("call", at, hist) == sh(2026, 3, 10, 10)


def test_cooldown_after_conversation() -> None:
    hist = [Contact("call", sh(2026, 3, 2, 15), reached=True)]
    at = sh(2026, 3, 5, 10)
    assert rules("call", at, hist) == ["cooldown_after_conversation"]
    assert rules("sms", at, hist) == []  # cooldown is about calls
    assert rules("call", sh(2026, 3, 9, 15), hist) == []
    assert nxt("call", at, hist) == sh(2026, 3, 9, 15)
    hist_visit = [Contact("visit", sh(2026, 3, 2, 15), reached=True)]
    assert rules("call", at, hist_visit) == ["cooldown_after_conversation"]
    assert rules("call", at, [Contact("call", sh(2026, 3, 2, 15), reached=False)]) == []


def test_cooldown_end_respects_window_and_holidays() -> None:
    hist = [Contact("call", sh(2026, 3, 2, 19, 50), reached=True)]
    assert nxt("call", sh(2026, 3, 3, 10), hist) == sh(2026, 3, 9, 19, 50)  # inside the window
    hist = [Contact("visit", sh(2026, 3, 2, 20, 30), reached=True)]  # late manual visit
    assert nxt("call", sh(2026, 3, 3, 10), hist) == sh(2026, 3, 10, 9)
    hist = [Contact("call", sh(2026, 9, 24, 10), reached=True)]  # cooldown ends on 10-01
    assert nxt("call", sh(2026, 9, 24, 11), hist) == sh(2026, 10, 8, 9)


def test_sms_caps_shared_by_message_channels() -> None:
    at = sh(2026, 3, 10, 15)
    assert rules("sms", at, [Contact("wechat", sh(2026, 3, 10, 9))]) == ["daily_sms_cap"]
    assert nxt("sms", at, [Contact("sms", sh(2026, 3, 10, 9))]) == sh(2026, 3, 11, 8)
    week = [Contact("sms", sh(2026, 3, d, 9)) for d in (5, 7, 9)]
    assert rules("email", at, week) == ["weekly_sms_cap"]
    assert nxt("email", at, week) == sh(2026, 3, 12, 9)
    assert rules("call", at, week) == []


def test_written_only() -> None:
    at = sh(2026, 3, 10, 10)
    assert rules("sms", at, written_only=True) == ["written_only"]
    assert rules("call", at, written_only=True) == ["written_only"]
    assert nxt("sms", at, written_only=True) is None
    assert nxt("visit", at, written_only=True) is None
    assert rules("letter", at, written_only=True) == []
    assert nxt("letter", sh(2026, 10, 1, 23), written_only=True) == sh(2026, 10, 1, 23)
    assert "书面" in check_contact("sms", at, [], POLICY, CAL, written_only=True)[0].message


def test_multiple_violations_reported_together() -> None:
    hist = [Contact("call", sh(2026, 10, 1, 9)), Contact("call", sh(2026, 10, 1, 10))]
    got = rules("call", sh(2026, 10, 1, 22), hist)
    assert got == ["contact_window", "holiday", "daily_call_cap"]


def test_utc_in_and_out() -> None:
    at_utc = datetime(2026, 3, 10, 15, 10, tzinfo=UTC)  # 23:10 Shanghai
    at_sh = at_utc.astimezone(SH)
    for at in (at_utc, at_sh):
        got = nxt("sms", at)
        assert got is not None and got.tzinfo is UTC
        assert got == datetime(2026, 3, 11, 0, 0, tzinfo=UTC)
    assert nxt("sms", sh(2026, 3, 10, 12)) == sh(2026, 3, 10, 12)  # allowed: returned unchanged
    with pytest.raises(ValueError):
        check_contact("sms", datetime(2026, 3, 10, 12), [], POLICY, CAL)
    with pytest.raises(ValueError):
        check_contact("fax", at_utc, [], POLICY, CAL)


def test_shanghai_has_no_dst() -> None:
    # US and EU switch clocks in March/October/November; Shanghai stays at UTC+8.
    for day in (date(2026, 3, 8), date(2026, 3, 29), date(2026, 10, 25), date(2026, 11, 1)):
        local = datetime.combine(day, time(8), SH)
        assert local.utcoffset() == timedelta(hours=8)
        before = datetime.combine(day, time(0), UTC)  # 08:00 Shanghai
        assert rules("sms", before) == [] or CAL.is_public_holiday(day)


def test_policy_from_dict_and_plain_dict_history() -> None:
    pol = {"call_window": ["10:00", "18:00"], "daily_call_cap": 1}
    hist = [{"channel": "call", "at": sh(2026, 3, 10, 10), "reached": False}]
    got = check_contact("call", sh(2026, 3, 10, 9, 30), hist, pol, CAL)
    assert [v.rule for v in got] == ["contact_window"]
    assert next_allowed_moment("call", sh(2026, 3, 10, 12), hist, pol, CAL) == sh(2026, 3, 11, 10)
    with pytest.raises(ValueError):
        ContactPolicy.from_dict({"call_windw": ["10:00", "18:00"]})
    with pytest.raises(ValueError):
        ContactPolicy(call_window=(time(20), time(9)))
    with pytest.raises(ValueError):
        ContactPolicy(weekly_message_cap=0)


@settings(max_examples=300, deadline=None)
@given(
    channel=st.sampled_from(["call", "visit", "sms", "wechat", "email"]),
    after=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2026, 12, 20)),
    offsets=st.lists(st.integers(min_value=1, max_value=8 * 24 * 60), max_size=10),
    reached=st.lists(st.booleans(), min_size=10, max_size=10),
    ch=st.lists(st.sampled_from(["call", "visit", "sms", "wechat"]), min_size=10, max_size=10),
)
def test_next_allowed_moment_properties(channel, after, offsets, reached, ch) -> None:
    after = after.replace(tzinfo=UTC)
    hist = [
        Contact(c, after - timedelta(minutes=o), r)
        for o, r, c in zip(offsets, reached, ch, strict=False)
    ]
    got = nxt(channel, after, hist)
    assert got is not None and got >= after and got.tzinfo is UTC
    assert check_contact(channel, got, hist, POLICY, CAL) == []
    if got > after:  # earliest: one minute before was still blocked
        assert check_contact(channel, got - timedelta(minutes=1), hist, POLICY, CAL)
