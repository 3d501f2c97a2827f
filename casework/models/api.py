"""Data in and out: API tokens, saved column mappings and import runs (DESIGN §7)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .types import UTCDateTime, utcnow

IMPORT_KINDS = ("ledger", "payments")
IMPORT_STATUSES = ("pending", "running", "previewed", "imported", "refused", "failed")


class ApiToken(db.Model):
    """A staff user's API token: only its sha256 is stored; the token is shown once."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("staff_user.id"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    prefix: Mapped[str] = mapped_column(sa.String(16))  # first characters, to tell tokens apart
    label: Mapped[str] = mapped_column(sa.String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user = relationship("StaffUser")


class ColumnMapping(db.Model):
    """A saved mapping of import fields to a file's column headers: name -> {field: header}."""

    __tablename__ = "column_mapping"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(16), default="ledger")
    mapping: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ImportRun(db.Model):
    """One import of a ledger or payments file: its preview or result, errors and progress."""

    __tablename__ = "import_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    filename: Mapped[str] = mapped_column(sa.String(256))
    sha256: Mapped[str] = mapped_column(sa.String(64))
    path: Mapped[str | None] = mapped_column(sa.String(512))  # the uploaded file in the store
    status: Mapped[str] = mapped_column(sa.String(16), default="pending")
    dry_run: Mapped[bool] = mapped_column(default=False)
    community_code: Mapped[str | None] = mapped_column(sa.String(32))
    mapping_name: Mapped[str | None] = mapped_column(sa.String(64))
    summary: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    error_count: Mapped[int] = mapped_column(default=0)
    errors: Mapped[list] = mapped_column(sa.JSON, default=list)  # the first errors, for display
    job_id: Mapped[str | None] = mapped_column(sa.String(64))
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
