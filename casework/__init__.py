"""Casework: the property-fee dunning case manager (物业费催缴案件管理)."""

from __future__ import annotations

import os

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

from .config import Config, database_uri
from .extensions import db, migrate


def create_app(config: dict | None = None) -> Flask:
    """Build the app: configuration, extensions, blueprints and CLI commands."""
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_object(Config)
    if config:
        app.config.update(config)
    os.makedirs(app.instance_path, exist_ok=True)
    app.config["SQLALCHEMY_DATABASE_URI"] = database_uri(
        app.instance_path, app.config.get("SQLALCHEMY_DATABASE_URI"))

    db.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(__file__), "migrations"),
                     render_as_batch=True, compare_type=True)
    from . import readonly

    readonly.init_app(app)  # after db.init_app: runs before the session is removed

    from . import models  # noqa: F401  (registers the tables)
    from .cli import register_cli
    from .web import bp as web_bp

    app.register_blueprint(web_bp)
    app.jinja_env.filters["shanghai"] = _shanghai
    register_cli(app)
    from .api import init_app as init_api  # last: sees the UI's error pages and CSRF

    init_api(app)
    return app


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record) -> None:
    """SQLite runs in WAL mode with foreign keys on and a busy timeout for the worker."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()


def _shanghai(moment) -> str:
    """Times are stored in UTC and shown in Asia/Shanghai."""
    from zoneinfo import ZoneInfo

    if moment is None:
        return ""
    return moment.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")
