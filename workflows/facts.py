"""Plain values the guards read: what the case knows now, who acts, and what they entered."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal


@dataclass(frozen=True)
class Actor:
    """Who fires an event: a staff user, or the system (timers, payments)."""

    id: int | None
    roles: frozenset[str] = frozenset()
    name: str = ""

    @property
    def is_system(self) -> bool:
        return self.id is None

    def has(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))


SYSTEM = Actor(id=None, roles=frozenset({"system"}), name="system")


@dataclass(frozen=True)
class CaseFacts:
    """Everything a guard may look at, computed by the application from the case's records."""

    today: date
    outstanding: Decimal = Decimal("0.00")
    claimable: Decimal = Decimal("0.00")  # outstanding on periods still within limitation
    legal_threshold: Decimal = Decimal("0.00")
    debtor_identified: bool = False
    contact_channels: int = 0
    documented_attempts: int = 0
    debtor_unreachable: bool = False
    address_verified: bool = False
    open_dispute: bool = False
    demand_delivered_grade: str | None = None  # best grade of the current demand's delivery
    demand_deadline: date | None = None
    letter_deadline: date | None = None
    legal_requested_by: int | None = None
    plan_in_default: bool = False
    now: datetime | None = None
    extra: dict = field(default_factory=dict)

    @property
    def demand_proven(self) -> bool:
        return self.demand_delivered_grade in ("A", "B")

    @property
    def demand_deadline_passed(self) -> bool:
        return self.demand_deadline is not None and self.today > self.demand_deadline

    @property
    def letter_deadline_passed(self) -> bool:
        return self.letter_deadline is not None and self.today > self.letter_deadline
