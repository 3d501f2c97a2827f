"""Who may see and act on a case (DESIGN §1)."""

from __future__ import annotations

import sqlalchemy as sa

from workflows.facts import SYSTEM, Actor

from ..models import DunningCase, StaffUser
from .errors import Forbidden

ACTING_ROLES = ("collector", "supervisor", "legal")


def actor_of(user: StaffUser | None) -> Actor:
    if user is None:
        return SYSTEM
    return Actor(id=user.id, roles=user.roles, name=user.display_name)


def community_ids(user: StaffUser) -> set[int] | None:
    """The communities a user works in; None means all of them (no restriction recorded)."""
    ids = {c.id for c in user.communities}
    return ids or None


def case_scope(user: StaffUser) -> tuple[str, dict]:
    """Which cases a user may see, as a kind of filter and its values: every case ("all"),
    those of some communities ("communities"), their own ("own": collectors) or none."""
    if user.has_role("supervisor", "legal", "auditor", "admin"):
        ids = community_ids(user)
        return ("all", {}) if ids is None else ("communities",
                                                {"scope_communities": sorted(ids)})
    if user.has_role("collector"):
        return "own", {"scope_user": user.id}
    return "none", {}


def scope_filter(kind: str, values: dict):
    """The filter of a case_scope, its values as named bind parameters (so that a statement
    built once per kind can be run with other values: queries.queue_page)."""
    if kind == "all":
        return sa.true()
    if kind == "communities":
        return DunningCase.community_id.in_(
            sa.bindparam("scope_communities", values["scope_communities"], expanding=True))
    if kind == "own":
        return DunningCase.assignee_id == sa.bindparam("scope_user", values["scope_user"])
    return sa.false()


def visible_cases(user: StaffUser):
    """A filter for the cases this user may see: collectors only their own."""
    return scope_filter(*case_scope(user))


def can_see(user: StaffUser, case: DunningCase) -> bool:
    if user.has_role("supervisor", "legal", "auditor", "admin"):
        ids = community_ids(user)
        if ids is None or case.community_id in ids:
            return True
    return user.has_role("collector") and case.assignee_id == user.id


def ensure_can_act(user: StaffUser | None, case: DunningCase) -> None:
    """Auditors only read; collectors act only on their own cases."""
    if user is None:
        return
    if not user.active or not user.has_role(*ACTING_ROLES):
        raise Forbidden("您的角色不能修改案件。", "Your role cannot change cases.")
    if user.has_role("supervisor", "legal") and can_see(user, case):
        return
    if user.has_role("collector") and case.assignee_id == user.id:
        return
    raise Forbidden("这个案件没有分配给您。", "This case is not assigned to you.")
