"""Per-user API tokens: a random token is shown once; only its sha256 is stored."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa

from ..extensions import db
from ..models import ApiToken, StaffUser, utcnow
from ..services.errors import InvalidInput, NotFound
from ..services.uow import transaction

PREFIX = "cw_"
TOUCH_EVERY = timedelta(minutes=5)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(user: StaffUser, label: str = "", now: datetime | None = None) -> str:
    """A new API token for `user`; returns the token, which is not stored and not shown again."""
    if user is None or not user.active:
        raise InvalidInput("user", "只能为在职员工创建令牌。", "Tokens are for active staff only.")
    token = PREFIX + secrets.token_urlsafe(32)
    with transaction():
        db.session.add(ApiToken(user_id=user.id, token_hash=token_hash(token),
                                prefix=token[:10], label=(label or "")[:64],
                                created_at=now or utcnow()))
    return token


def revoke_token(token_id: int, user: StaffUser | None = None,
                 now: datetime | None = None) -> None:
    """Revoke a token (its owner or an admin)."""
    with transaction():
        row = db.session.get(ApiToken, token_id)
        if row is None or (user is not None and row.user_id != user.id
                           and not user.has_role("admin")):
            raise NotFound("令牌不存在。", "Unknown token.")
        row.revoked_at = row.revoked_at or now or utcnow()


def authenticate(token: str | None, now: datetime | None = None) -> StaffUser | None:
    """The active staff user a presented token belongs to, or None."""
    if not token or len(token) > 200:
        return None
    row = db.session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == token_hash(token),
                                                      ApiToken.revoked_at.is_(None)))
    if row is None or row.user is None or not row.user.active:
        return None
    now = now or utcnow()
    if row.last_used_at is None or now - row.last_used_at > TOUCH_EVERY:
        row.last_used_at = now
        db.session.commit()
    return row.user
