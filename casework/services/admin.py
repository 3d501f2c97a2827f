"""Administration: staff accounts, communities and buildings, dunning policy versions."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from ..extensions import db
from ..models import ROLES, Building, Community, Policy, StaffUser, utcnow
from ..policy import merged, validate
from .errors import Forbidden, InvalidInput, NotFound
from .uow import transaction

MIN_PASSWORD = 10
USERNAME = re.compile(r"^[A-Za-z0-9_.-]{2,64}$")


def _admin(user: StaffUser | None) -> None:
    if user is not None and not user.has_role("admin"):
        raise Forbidden("只有管理员可以做这一步。", "Only an admin may do this.")


def check_password_strength(password: str, field: str = "password") -> None:
    if len(password or "") < MIN_PASSWORD:
        raise InvalidInput(field, f"密码至少需要{MIN_PASSWORD}个字符。",
                           f"A password needs at least {MIN_PASSWORD} characters.")


def _staff(user_id: int) -> StaffUser:
    staff = db.session.get(StaffUser, user_id)
    if staff is None:
        raise NotFound(f"用户 {user_id} 不存在。", f"User {user_id} does not exist.")
    return staff


def _roles(roles: Iterable[str]) -> list[str]:
    roles = [r for r in roles if r]
    if not roles:
        raise InvalidInput("roles", "请至少选择一个角色。", "Choose at least one role.")
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise InvalidInput("roles", f"未知角色：{', '.join(sorted(unknown))}", "Unknown role.")
    return roles


def _communities(ids: Iterable[int]) -> list[Community]:
    ids = sorted(set(ids))
    rows = db.session.scalars(sa.select(Community).where(Community.id.in_(ids))).all()
    if len(rows) != len(ids):
        raise InvalidInput("communities", "部分小区不存在。", "Unknown community.")
    return list(rows)


def create_user(username: str, display_name: str, roles: Iterable[str], password: str,
                community_ids: Iterable[int] = (), phone: str | None = None,
                user: StaffUser | None = None) -> StaffUser:
    """A new staff account with its roles and, optionally, the communities it works in."""
    _admin(user)
    username = (username or "").strip()
    if not USERNAME.match(username):
        raise InvalidInput("username", "用户名只能包含字母、数字和 _ . -，长度2到64。",
                           "User names use letters, digits and _ . - (2 to 64).")
    if not (display_name or "").strip():
        raise InvalidInput("display_name", "请填写姓名。", "Enter the name.")
    roles = _roles(roles)
    check_password_strength(password)
    with transaction():
        if db.session.scalar(sa.select(StaffUser.id).where(StaffUser.username == username)):
            raise InvalidInput("username", "用户名已被使用。", "The user name is taken.")
        staff = StaffUser(username=username, display_name=display_name.strip(),
                          phone=(phone or "").strip() or None, created_at=utcnow())
        staff.roles = roles
        staff.set_password(password)
        staff.communities = _communities(community_ids)
        db.session.add(staff)
    return staff


def update_user(user_id: int, *, display_name: str, roles: Iterable[str],
                community_ids: Iterable[int] = (), user: StaffUser | None = None) -> StaffUser:
    _admin(user)
    if not (display_name or "").strip():
        raise InvalidInput("display_name", "请填写姓名。", "Enter the name.")
    roles = _roles(roles)
    with transaction():
        staff = _staff(user_id)
        if user is not None and staff.id == user.id and "admin" not in roles:
            raise InvalidInput("roles", "不能取消自己的管理员角色。",
                               "You cannot remove your own admin role.")
        staff.display_name = display_name.strip()
        staff.roles = roles
        staff.communities = _communities(community_ids)
    return staff


def set_active(user_id: int, active: bool, user: StaffUser | None = None) -> StaffUser:
    """Deactivate (or reactivate) an account; its sessions end at the next request."""
    _admin(user)
    with transaction():
        staff = _staff(user_id)
        if user is not None and staff.id == user.id and not active:
            raise InvalidInput("active", "不能停用自己的账号。", "You cannot deactivate yourself.")
        staff.active = active
    return staff


def reset_password(user_id: int, password: str, user: StaffUser | None = None) -> StaffUser:
    """A new password ends the account's other sessions (the session id carries a stamp)."""
    _admin(user)
    check_password_strength(password)
    with transaction():
        staff = _staff(user_id)
        staff.set_password(password)
    return staff


def create_community(code: str, name: str, address: str = "", city: str = "",
                     company_name: str = "", user: StaffUser | None = None) -> Community:
    """A community with a first policy version (the defaults)."""
    _admin(user)
    code, name = (code or "").strip(), (name or "").strip()
    if not re.match(r"^[A-Za-z0-9_-]{1,32}$", code):
        raise InvalidInput("code", "小区编码只能包含字母、数字、_ 和 -。",
                           "Letters, digits, _ and -.")
    if not name:
        raise InvalidInput("name", "请填写小区名称。", "Enter the community's name.")
    with transaction():
        if db.session.scalar(sa.select(Community.id).where(Community.code == code)):
            raise InvalidInput("code", "小区编码已被使用。", "The code is taken.")
        community = Community(code=code, name=name, address=address.strip(), city=city.strip(),
                              company_name=company_name.strip())
        db.session.add(community)
        db.session.flush()
        db.session.add(Policy(community_id=community.id, version=1, data=merged(None),
                              created_by_id=user.id if user else None, created_at=utcnow()))
    return community


def add_building(community_id: int, name: str, user: StaffUser | None = None) -> Building:
    _admin(user)
    name = (name or "").strip()
    if not name or len(name) > 32:
        raise InvalidInput("building", "请填写楼栋名称（最多32个字符）。",
                           "Enter a building name.")
    with transaction():
        if db.session.get(Community, community_id) is None:
            raise NotFound("小区不存在。", "Unknown community.")
        if db.session.scalar(sa.select(Building.id).where(Building.community_id == community_id,
                                                          Building.name == name)):
            raise InvalidInput("building", "该楼栋已存在。", "The building exists.")
        building = Building(community_id=community_id, name=name)
        db.session.add(building)
    return building


def save_policy(community_id: int, data: dict[str, Any], user: StaffUser | None = None,
                now: datetime | None = None) -> Policy:
    """Save a policy as a new version; open cases keep the version they were opened under."""
    _admin(user)
    problems = validate(data)
    if problems:
        field = problems[0].split(":", 1)[0]
        exc = InvalidInput(field, "；".join(problems), "; ".join(problems))
        exc.problems = problems  # type: ignore[attr-defined]
        raise exc
    with transaction():
        if db.session.get(Community, community_id) is None:
            raise NotFound("小区不存在。", "Unknown community.")
        latest = db.session.scalar(sa.select(sa.func.max(Policy.version)).where(
            Policy.community_id == community_id)) or 0
        policy = Policy(community_id=community_id, version=latest + 1, data=merged(data),
                        created_by_id=user.id if user else None, created_at=now or utcnow())
        db.session.add(policy)
    return policy
