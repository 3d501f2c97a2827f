"""Staff users and their roles (DESIGN §1)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from ..extensions import db
from .types import UTCDateTime, utcnow

ROLES = ("collector", "supervisor", "legal", "auditor", "admin")
ROLE_LABELS = {"collector": "催费员", "supervisor": "催缴组长", "legal": "法务",
               "auditor": "审计", "admin": "管理员"}

staff_community = sa.Table(
    "staff_community", db.metadata,
    sa.Column("staff_id", sa.ForeignKey("staff_user.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("community_id", sa.ForeignKey("community.id", ondelete="CASCADE"), primary_key=True),
)


class StaffUser(db.Model):
    __tablename__ = "staff_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(64))
    password_hash: Mapped[str] = mapped_column(sa.String(256), default="")
    roles_text: Mapped[str] = mapped_column("roles", sa.String(128), default="collector")
    active: Mapped[bool] = mapped_column(default=True)
    phone: Mapped[str | None] = mapped_column(sa.String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    communities = relationship("Community", secondary=staff_community, lazy="selectin")

    @property
    def roles(self) -> frozenset[str]:
        return frozenset(r for r in self.roles_text.split() if r)

    @roles.setter
    def roles(self, values) -> None:
        unknown = set(values) - set(ROLES)
        if unknown:
            raise ValueError(f"unknown role(s): {', '.join(sorted(unknown))}")
        self.roles_text = " ".join(r for r in ROLES if r in set(values))

    # Flask-Login: an inactive account cannot sign in, and a new password ends old sessions.
    is_authenticated = True
    is_anonymous = False

    @property
    def is_active(self) -> bool:
        return self.active

    def get_id(self) -> str:
        return f"{self.id}:{self.password_hash[-16:]}"

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return bool(self.password_hash) and check_password_hash(self.password_hash, password)

    def __repr__(self) -> str:
        return f"<StaffUser {self.username} {self.roles_text}>"
