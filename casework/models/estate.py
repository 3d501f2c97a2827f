"""Communities, buildings, units and the debtors who owe for them (DESIGN §2)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .types import Fixed, UTCDateTime, utcnow

CHANNEL_KINDS = ("phone", "sms", "wechat", "email", "address")
DEBTOR_KINDS = ("owner", "tenant", "co_owner", "developer")


class Community(db.Model):
    __tablename__ = "community"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(32), unique=True)
    name: Mapped[str] = mapped_column(sa.String(128))
    address: Mapped[str] = mapped_column(sa.String(256), default="")
    city: Mapped[str] = mapped_column(sa.String(64), default="")
    company_name: Mapped[str] = mapped_column(sa.String(128), default="")

    buildings: Mapped[list[Building]] = relationship(back_populates="community",
                                                     order_by="Building.name")


class Building(db.Model):
    __tablename__ = "building"
    __table_args__ = (sa.UniqueConstraint("community_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(sa.ForeignKey("community.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(32))

    community: Mapped[Community] = relationship(back_populates="buildings")
    units: Mapped[list[Unit]] = relationship(back_populates="building", order_by="Unit.number")


class Unit(db.Model):
    __tablename__ = "unit"
    __table_args__ = (sa.UniqueConstraint("building_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    building_id: Mapped[int] = mapped_column(sa.ForeignKey("building.id"), index=True)
    number: Mapped[str] = mapped_column(sa.String(32))
    area: Mapped[Decimal] = mapped_column(Fixed(2), default=Decimal("0.00"))  # m²
    delivered_on: Mapped[date | None] = mapped_column(sa.Date)
    vacant_filed: Mapped[bool] = mapped_column(default=False)

    building: Mapped[Building] = relationship(back_populates="units")

    @property
    def label(self) -> str:
        return f"{self.building.name}-{self.number}"


class Debtor(db.Model):
    """An owner (or paying tenant, co-owner, developer) who owes property fees."""

    __tablename__ = "debtor"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    kind: Mapped[str] = mapped_column(sa.String(16), default="owner")
    owner_name: Mapped[str | None] = mapped_column(sa.String(200))  # a paying tenant's owner
    identified: Mapped[bool] = mapped_column(default=False)
    address: Mapped[str] = mapped_column(sa.String(256), default="")
    address_verified: Mapped[bool] = mapped_column(default=False)
    written_only: Mapped[bool] = mapped_column(default=False)
    unreachable: Mapped[bool] = mapped_column(default=False)
    vulnerable: Mapped[bool] = mapped_column(default=False)
    communication_style: Mapped[str] = mapped_column(sa.Text, default="")
    household_notes: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    channels: Mapped[list[ContactChannel]] = relationship(
        back_populates="debtor", cascade="all, delete-orphan", order_by="ContactChannel.id")

    def phone(self) -> str | None:
        return next((c.value for c in self.channels if c.kind == "phone" and c.usable), None)


class ContactChannel(db.Model):
    __tablename__ = "contact_channel"

    id: Mapped[int] = mapped_column(primary_key=True)
    debtor_id: Mapped[int] = mapped_column(sa.ForeignKey("debtor.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    value: Mapped[str] = mapped_column(sa.String(256))
    verified: Mapped[bool] = mapped_column(default=False)
    usable: Mapped[bool] = mapped_column(default=True)

    debtor: Mapped[Debtor] = relationship(back_populates="channels")

    @property
    def masked(self) -> str:
        v = self.value
        if self.kind in ("phone", "sms") and len(v) >= 7:
            return v[:3] + "*" * (len(v) - 7) + v[-4:]
        return v[:1] + "***" if v else ""


class Holiday(db.Model):
    """An admin-editable calendar entry: a public holiday or a 调休 working day."""

    __tablename__ = "holiday"

    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    is_workday: Mapped[bool] = mapped_column(default=False)
    name: Mapped[str] = mapped_column(sa.String(64), default="")
