"""Who may open which page: each view declares its roles; the blueprint denies the rest."""

from __future__ import annotations

from collections.abc import Callable

ALL_STAFF = ("collector", "supervisor", "legal", "auditor", "admin")
ACTING = ("collector", "supervisor", "legal")
READERS = ("collector", "supervisor", "legal", "auditor", "admin")
PUBLIC_ENDPOINTS = frozenset({"web.login", "web.set_language", "static", "web.static"})


def roles(*names: str) -> Callable:
    """Declare the roles that may open a view (checked before the view runs)."""

    def mark(view: Callable) -> Callable:
        view.allowed_roles = frozenset(names)
        return view

    return mark


def allowed_roles(view) -> frozenset[str]:
    return getattr(view, "allowed_roles", frozenset())
