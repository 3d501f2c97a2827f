"""Contact-conduct rules: windows, holidays, caps, cooldown, written-only (DESIGN §4, G3).

Pure module. All instants are aware datetimes (UTC in and out); rules run in policy.tz
(Asia/Shanghai, no DST). Decisions: ordinary weekends are allowed, statutory holidays (the
calendar's ``is_public_holiday``) are blocked; letters are exempt from windows, holidays and
caps; visits have windows and holidays but no caps; WeChat, email and app messages share
the SMS window and caps; a reached call or visit starts the call cooldown; history entries at
or after the instant checked are ignored; "a day" is the Shanghai calendar day, "a week" the
last 7×24 h.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, NamedTuple, Protocol
from zoneinfo import ZoneInfo

__all__ = [
    "CALL",
    "LETTER",
    "MESSAGE",
    "Contact",
    "ContactPolicy",
    "HolidayCalendar",
    "Violation",
    "check_contact",
    "next_allowed_moment",
]

CALL = frozenset({"call", "visit"})
MESSAGE = frozenset({"sms", "wechat", "email", "app"})
LETTER = frozenset({"letter"})
_NAMES_ZH = {"call": "电话", "visit": "上门", "sms": "短信", "wechat": "微信", "email": "邮件"}
_NAMES_ZH |= {"app": "App 消息", "letter": "书面函件"}
_WEEK = timedelta(days=7)


class HolidayCalendar(Protocol):
    """What the rules need from casework.calendar.WorkingCalendar."""

    def is_public_holiday(self, d: date) -> bool: ...


class Contact(NamedTuple):
    """One prior contact with the debtor; reached=True means a conversation took place."""

    channel: str
    at: datetime
    reached: bool = False


@dataclass(frozen=True)
class Violation:
    """A broken contact rule, with a message for the collector (zh) and for logs (en)."""

    rule: str
    message: str
    message_en: str


@dataclass(frozen=True)
class ContactPolicy:
    """Per-community contact policy; defaults are legal-rules G3."""

    call_window: tuple[time, time] = (time(9), time(20))
    message_window: tuple[time, time] = (time(8), time(21))
    quiet_hours: tuple[time, time] = (time(21), time(8))
    block_holidays: bool = True
    daily_call_cap: int = 2
    weekly_call_cap: int = 7
    cooldown_days: int = 7
    daily_message_cap: int = 1
    weekly_message_cap: int = 3
    tz: str = "Asia/Shanghai"

    def __post_init__(self) -> None:
        for name in ("call_window", "message_window", "quiet_hours"):
            a, b = (
                x if isinstance(x, time) else time.fromisoformat(x) for x in getattr(self, name)
            )
            object.__setattr__(self, name, (a, b))
            if (name == "quiet_hours") != (a > b):
                raise ValueError(f"{name}: windows must not wrap midnight, quiet hours must")
        caps = (self.daily_call_cap, self.weekly_call_cap, self.daily_message_cap)
        if min(*caps, self.weekly_message_cap, self.cooldown_days) < 1:
            raise ValueError("caps and cooldown_days must be >= 1")
        ZoneInfo(self.tz)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ContactPolicy:
        """Build from a stored dict (times as "HH:MM"); unknown keys are rejected."""
        known = {f.name for f in fields(cls)}
        if extra := set(data) - known:
            raise ValueError(f"unknown policy keys: {sorted(extra)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


def _policy(p: ContactPolicy | Mapping[str, Any] | None) -> ContactPolicy:
    if p is None:
        return ContactPolicy()
    return p if isinstance(p, ContactPolicy) else ContactPolicy.from_dict(p)


def _contacts(history: Iterable[Any]) -> list[Contact]:
    out = []
    for h in history:
        if isinstance(h, Mapping):
            h = Contact(h["channel"], h["at"], bool(h.get("reached", False)))
        elif not isinstance(h, tuple):
            h = Contact(h.channel, h.at, bool(getattr(h, "reached", False)))
        out.append(Contact(*h))
    return sorted(out, key=lambda c: _aware(c.at))


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("naive datetime: pass aware (UTC) datetimes")
    return at


def _kind(channel: str) -> str:
    for kind, group in (("call", CALL), ("message", MESSAGE), ("letter", LETTER)):
        if channel in group:
            return kind
    raise ValueError(f"unknown channel {channel!r}")


def _window(policy: ContactPolicy, kind: str) -> tuple[time, time]:
    start, end = policy.call_window if kind == "call" else policy.message_window
    q_start, q_end = policy.quiet_hours
    return max(start, q_end), min(end, q_start)


def _hm(t: time) -> str:
    return t.strftime("%H:%M")


_Block = tuple[Violation, datetime | None]


def _caps(
    kind: str, at: datetime, local: datetime, start: time, past: list[Contact], p: ContactPolicy
) -> list[_Block]:
    """Daily (Shanghai day) and weekly (rolling 7 days) caps on calls or on messages."""
    tz = ZoneInfo(p.tz)
    if kind == "call":
        label, caps, zh = "call", (p.daily_call_cap, p.weekly_call_cap), "致电该业主 {n} 次"
        counted = [c for c in past if c.channel == "call"]
    else:
        label, caps = "sms", (p.daily_message_cap, p.weekly_message_cap)
        zh = "发送短信/消息 {n} 条"
        counted = [c for c in past if c.channel in MESSAGE]
    out: list[_Block] = []
    today = [c for c in counted if c.at.astimezone(tz).date() == local.date()]
    if len(today) >= caps[0]:
        zh_msg = f"今日已{zh.format(n=len(today))}，已达每日上限 {caps[0]}"
        en_msg = f"{len(today)} {label} today; daily cap is {caps[0]}"
        tomorrow = datetime.combine(local.date() + timedelta(days=1), start, tz)
        out.append((Violation(f"daily_{label}_cap", zh_msg, en_msg), tomorrow))
    week = [c for c in counted if c.at > at - _WEEK]
    if len(week) >= caps[1]:
        free = week[len(week) - caps[1]].at + _WEEK
        zh_msg = (
            f"近 7 天已{zh.format(n=len(week))}，已达每周上限 {caps[1]}；"
            f"{free.astimezone(tz):%m-%d %H:%M} 后方可再联系"
        )
        en_msg = f"{len(week)} {label} in the last 7 days; weekly cap is {caps[1]}"
        out.append((Violation(f"weekly_{label}_cap", zh_msg, en_msg), free))
    return out


def _cooldown(at: datetime, past: list[Contact], p: ContactPolicy) -> list[_Block]:
    """No calls for cooldown_days after a conversation (a reached call or visit)."""
    talks = [c for c in past if c.reached and c.channel in CALL]
    if not talks or talks[-1].at <= at - timedelta(days=p.cooldown_days):
        return []
    tz = ZoneInfo(p.tz)
    talked = talks[-1].at.astimezone(tz)
    free = talks[-1].at + timedelta(days=p.cooldown_days)
    zh_msg = (
        f"已于 {talked:%Y-%m-%d %H:%M} 与业主沟通，{p.cooldown_days} 天内"
        f"（{free.astimezone(tz):%Y-%m-%d %H:%M} 前）不得再次致电"
    )
    en_msg = f"conversation on {talked:%Y-%m-%d}; no calls for {p.cooldown_days} days"
    return [(Violation("cooldown_after_conversation", zh_msg, en_msg), free)]


def _blocks(
    channel: str,
    at: datetime,
    hist: list[Contact],
    p: ContactPolicy,
    calendar: HolidayCalendar,
    written_only: bool,
) -> list[_Block]:
    """Each broken rule with the earliest instant it could stop applying (None: never)."""
    kind, tz = _kind(channel), ZoneInfo(p.tz)
    local, name = _aware(at).astimezone(tz), _NAMES_ZH[channel]
    if kind == "letter":
        return []
    if written_only:
        zh_msg = f"业主要求仅书面联系：不得{name}联系，只能寄送书面函件"
        en_msg = f"debtor asked for written contact only: no {channel}, letters only"
        return [(Violation("written_only", zh_msg, en_msg), None)]
    out: list[_Block] = []
    start, end = _window(p, kind)
    if not start <= local.time() < end:
        quiet = f"{_hm(p.quiet_hours[0])}–{_hm(p.quiet_hours[1])}"
        zh_msg = (
            f"当前北京时间 {local:%H:%M} 不在{name}联系时段 {_hm(start)}–{_hm(end)} 内"
            f"（{quiet} 一律禁止联系）"
        )
        en_msg = f"{local:%H:%M} Shanghai is outside the {channel} window {_hm(start)}-{_hm(end)}"
        day = local.date() + timedelta(days=local.time() >= end)
        out.append((Violation("contact_window", zh_msg, en_msg), datetime.combine(day, start, tz)))
    if p.block_holidays and calendar.is_public_holiday(local.date()):
        zh_msg = f"{local:%Y-%m-%d} 是法定节假日，不得联系业主"
        en_msg = f"{local:%Y-%m-%d} is a public holiday: no contact"
        tomorrow = datetime.combine(local.date() + timedelta(days=1), start, tz)
        out.append((Violation("holiday", zh_msg, en_msg), tomorrow))
    past = [c for c in hist if c.at < at]
    if channel != "visit":
        out += _caps(kind, at, local, start, past, p)
    if channel == "call":
        out += _cooldown(at, past, p)
    return out


def check_contact(
    channel: str,
    at: datetime,
    history: Iterable[Any],
    policy: ContactPolicy | Mapping[str, Any] | None,
    calendar: HolidayCalendar,
    written_only: bool = False,
) -> list[Violation]:
    """Every G3 rule that a contact on channel at instant at (aware) would break; [] if allowed."""
    blocks = _blocks(channel, at, _contacts(history), _policy(policy), calendar, written_only)
    return [v for v, _ in blocks]


def next_allowed_moment(
    channel: str,
    after: datetime,
    history: Iterable[Any],
    policy: ContactPolicy | Mapping[str, Any] | None,
    calendar: HolidayCalendar,
    written_only: bool = False,
) -> datetime | None:
    """Earliest UTC instant >= after at which an automatic send breaks no rule (None: never)."""
    hist, pol = _contacts(history), _policy(policy)
    t = _aware(after).astimezone(UTC)
    for _ in range(2000):
        blocks = _blocks(channel, t, hist, pol, calendar, written_only)
        if not blocks:
            return t
        if any(free is None for _, free in blocks):
            return None
        t = max(free for _, free in blocks if free is not None).astimezone(UTC)
    raise ValueError("no allowed moment found within the search horizon; check the calendar")
