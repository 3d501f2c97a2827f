"""The staff web UI: queues, the case workspace, legal, supervisor, audit and admin pages."""

from flask import Blueprint

bp = Blueprint("web", __name__)


@bp.record_once
def _setup(state) -> None:
    from .setup import init_web

    init_web(state.app)


from . import (  # noqa: E402,F401
    admin,
    auditor,
    auth,
    cases,
    legal,
    queue,
    reports,
    reviews,
    supervisor,
)
