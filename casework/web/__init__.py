"""The staff web UI (for now: the case list, a case's statement and history)."""

from flask import Blueprint

bp = Blueprint("web", __name__)

from . import routes  # noqa: E402,F401
