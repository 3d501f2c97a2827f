"""Working-day calendar for legal deadlines and service levels (DESIGN §4, legal-rules D3, H).

Pure module: the app passes in the admin override table it keeps in its DB.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta

import chinese_calendar
from chinese_calendar import constants as _cc

__all__ = [
    "HOLIDAY_NAMES_ZH",
    "WorkingCalendar",
    "package_years",
    "seed_rows",
]

_log = logging.getLogger(__name__)
_ONE_DAY = timedelta(days=1)
_MAX_SCAN_DAYS = 366 * 2  # no real calendar has two years without a working day

HOLIDAY_NAMES_ZH: dict[str, str] = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "Mid-autumn Festival": "中秋节",
    "National Day": "国庆节",
    "Anti-Fascist 70th Day": "中国人民抗日战争暨世界反法西斯战争胜利70周年纪念日",
}


def package_years() -> frozenset[int]:
    """Years for which the installed chinesecalendar has State Council data."""
    first, last = min(_cc.holidays).year, max(_cc.holidays).year
    return frozenset(range(first, last + 1))


def _zh(name: str | None) -> str:
    return HOLIDAY_NAMES_ZH.get(name or "", name or "")


def seed_rows(years: Iterable[int]) -> list[tuple[date, bool, str]]:
    """Rows (date, is_workday, name) of holidays and 调休 workdays the package knows for years."""
    wanted = set(years) & package_years()
    rows = [(d, False, _zh(n)) for d, n in _cc.holidays.items() if d.year in wanted]
    rows += [(d, True, f"{_zh(n)}调休上班") for d, n in _cc.workdays.items() if d.year in wanted]
    return sorted(rows)


def _check_date(d: date) -> date:
    if isinstance(d, datetime) or not isinstance(d, date):
        raise TypeError(f"expected a datetime.date (local date), got {type(d).__name__}")
    return d


class WorkingCalendar:
    """Working days: admin overrides, then chinesecalendar, then weekends only (with a warning)."""

    def __init__(
        self,
        overrides: Mapping[date, bool] | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self._overrides: dict[date, bool] = {
            _check_date(d): bool(v) for d, v in (overrides or {}).items()
        }
        self._log = logger or _log
        self._package_years = package_years()
        self._override_years = frozenset(d.year for d in self._overrides)
        self._warned: set[int] = set()

    # -- data coverage -------------------------------------------------------------------------

    def known_years(self) -> frozenset[int]:
        """Years with holiday data: the package's years plus any year with an admin entry."""
        return self._package_years | self._override_years

    def years_missing(self, years: Iterable[int]) -> list[int]:
        """The given years that have no holiday data (weekends-only fallback applies)."""
        known = self.known_years()
        return sorted({y for y in years if y not in known})

    # -- day classification --------------------------------------------------------------------

    def is_workday(self, d: date) -> bool:
        """True if d is a working day (override > chinesecalendar > Mon–Fri)."""
        _check_date(d)
        if d in self._overrides:
            return self._overrides[d]
        if d.year in self._package_years:
            return chinese_calendar.is_workday(d)
        if d.year not in self._override_years and d.year not in self._warned:
            self._warned.add(d.year)
            self._log.warning(
                "no holiday data for %d; weekends only until an admin enters the State Council "
                "notice",
                d.year,
            )
        return d.weekday() < 5

    def is_public_holiday(self, d: date) -> bool:
        """True if d is a statutory holiday or a day of its break (not an ordinary weekend)."""
        if self.is_workday(d):
            return False
        if d in self._overrides:
            return True
        if d.year in self._package_years:
            return chinese_calendar.get_holiday_detail(d)[1] is not None
        return d.weekday() < 5

    # -- arithmetic ----------------------------------------------------------------------------

    def next_working_day(self, d: date) -> date:
        """d itself if it is a working day, else the first working day after it."""
        _check_date(d)
        for _ in range(_MAX_SCAN_DAYS):
            if self.is_workday(d):
                return d
            d += _ONE_DAY
        raise ValueError(f"no working day within {_MAX_SCAN_DAYS} days; check the overrides")

    def add_working_days(self, d: date, n: int) -> date:
        """The n-th working day after d (before d if n < 0), d itself not counted; n=0 gives d."""
        _check_date(d)
        step = _ONE_DAY if n >= 0 else -_ONE_DAY
        remaining, scanned = abs(n), 0
        while remaining:
            d += step
            scanned += 1
            if scanned > _MAX_SCAN_DAYS + abs(n) * 7:
                raise ValueError("working-day search ran away; check the overrides")
            if self.is_workday(d):
                remaining -= 1
        return d

    def deadline_after(self, start: date, days: int) -> date:
        """CC 201–203: start not counted; last day start+days, moved to the next working day."""
        if days < 0:
            raise ValueError("days must be >= 0")
        return self.next_working_day(_check_date(start) + timedelta(days=days))

    def working_days_deadline(self, start: date, n: int) -> date:
        """Service level in working days: the n-th working day after start (start not counted)."""
        if n < 1:
            raise ValueError("n must be >= 1")
        return self.add_working_days(start, n)
