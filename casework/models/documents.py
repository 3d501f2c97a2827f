"""Letter templates uploaded by legal staff, and batches of rendered letters (DESIGN §5)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import UTCDateTime, utcnow

BUILTIN_VERSION = "builtin-1"  # the template shipped in documents/templates


class TemplateVersion(db.Model):
    """An uploaded .docx template of one kind; at most one version per kind is active."""

    __tablename__ = "template_version"
    __table_args__ = (sa.UniqueConstraint("kind", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(32), index=True)
    version: Mapped[str] = mapped_column(sa.String(32))
    sha256: Mapped[str] = mapped_column(sa.String(64))
    path: Mapped[str] = mapped_column(sa.String(512))  # relative to the document store
    uploaded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    active: Mapped[bool] = mapped_column(default=False)


class DocumentBatch(db.Model):
    """One batch job: the letters it covers, its progress, and the zip it produced."""

    __tablename__ = "document_batch"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(32), default="payment_demand")
    building_id: Mapped[int | None] = mapped_column(sa.ForeignKey("building.id"))
    case_ids: Mapped[list] = mapped_column(sa.JSON, default=list)
    document_ids: Mapped[list] = mapped_column(sa.JSON, default=list)
    status: Mapped[str] = mapped_column(sa.String(16), default="queued")  # running, done
    done: Mapped[int] = mapped_column(default=0)
    total: Mapped[int] = mapped_column(default=0)
    failed: Mapped[list] = mapped_column(sa.JSON, default=list)  # [{document_id, case, error}]
    path: Mapped[str | None] = mapped_column(sa.String(512))  # the zip, in the store
    sha256: Mapped[str | None] = mapped_column(sa.String(64))
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
