"""What a report covers: a range of Shanghai dates, a place, a collector, and a grouping."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta

from ..services.clock import SHANGHAI
from ..services.errors import InvalidInput

GROUPS = ("community", "building", "collector", "month")
MAX_MONTHS = 60  # a five-year range at the most: one row (and one chart bar) a month


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(first: date) -> date:
    return (first.replace(day=28) + timedelta(days=4)).replace(day=1)


def local_midnight(day: date) -> datetime:
    """The UTC instant at which a Shanghai calendar day begins."""
    return datetime.combine(day, time(0), tzinfo=SHANGHAI).astimezone(UTC)


@dataclass(frozen=True)
class ReportFilters:
    start: date  # first Shanghai day in the range
    end: date  # last Shanghai day in the range (inclusive)
    community_id: int | None = None
    building_id: int | None = None
    collector_id: int | None = None
    group: str = "community"
    scope: frozenset[int] | None = None  # the reader's communities; None: all of them

    @classmethod
    def month_of(cls, today: date, **kw) -> ReportFilters:
        """The default: the current calendar month."""
        first = month_start(today)
        return cls(first, next_month(first) - timedelta(days=1), **kw)

    def with_group(self, group: str) -> ReportFilters:
        return replace(self, group=group)

    @property
    def since(self) -> datetime:
        return local_midnight(self.start)

    @property
    def until(self) -> datetime:
        """The instant after the range (exclusive)."""
        return local_midnight(self.end + timedelta(days=1))

    def months(self) -> list[tuple[str, date, date]]:
        """Each calendar month the range touches, clipped to the range: (YYYY-MM, first, last)."""
        out, first = [], month_start(self.start)
        while first <= self.end:
            following = next_month(first)
            out.append((f"{first:%Y-%m}", max(first, self.start),
                        min(following - timedelta(days=1), self.end)))
            first = following
        return out

    def periods(self) -> list[tuple[str, date, date]]:
        """The spans the flow figures are counted over: each month, or the whole range."""
        if self.group == "month":
            return self.months()
        return [("all", self.start, self.end)]


def _int(args: Mapping[str, str], name: str) -> int | None:
    value = (args.get(name) or "").strip()
    if not value:
        return None
    if not value.isdigit():
        raise InvalidInput(name, f"“{value}”不是有效的编号。", f"'{value}' is not a valid id.")
    return int(value)


def _date(args: Mapping[str, str], name: str, default: date) -> date:
    value = (args.get(name) or "").strip()
    if not value:
        return default
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(name, f"日期格式不正确：“{value}”（应为 YYYY-MM-DD）。",
                           f"Not a date: '{value}' (YYYY-MM-DD).") from None


def parse(args: Mapping[str, str], today: date, scope: frozenset[int] | None = None,
          groups: tuple[str, ...] = GROUPS) -> ReportFilters:
    """Filters from a query string; a bad value raises InvalidInput naming its field."""
    default = ReportFilters.month_of(today)
    start = _date(args, "from", default.start)
    end = _date(args, "to", default.end if not args.get("from") else
                next_month(month_start(start)) - timedelta(days=1))
    if end < start:
        raise InvalidInput("to", "结束日期不能早于开始日期。",
                           "The end date is before the start date.")
    if (end.year - start.year) * 12 + end.month - start.month >= MAX_MONTHS:
        raise InvalidInput("to", f"日期范围最长 {MAX_MONTHS} 个月。",
                           f"The range may span at most {MAX_MONTHS} months.")
    community = _int(args, "community")
    if community is not None and scope is not None and community not in scope:
        raise InvalidInput("community", "您不负责该小区。", "That community is not one of yours.")
    group = (args.get("group") or groups[0]).strip()
    if group not in groups:
        raise InvalidInput("group", f"不支持的分组方式：“{group}”。",
                           f"Unknown grouping: '{group}'.")
    return ReportFilters(start, end, community, _int(args, "building"), _int(args, "collector"),
                         group, scope)
