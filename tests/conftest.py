"""Fixtures: an app on a migrated database (SQLite by default, PostgreSQL on request).

CASEWORK_TEST_DB=postgresql runs the database tests on the machine's PostgreSQL
(CASEWORK_PG_URL, default postgresql+psycopg://postgres@127.0.0.1:5432/test). Tests marked
`postgres` always use PostgreSQL; when it cannot be reached they are skipped on a developer
machine and FAIL under CI=true.
"""

from __future__ import annotations

import os
import shutil
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from casework import create_app
from casework.extensions import db

PG_URL = os.environ.get("CASEWORK_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BACKEND = os.environ.get("CASEWORK_TEST_DB", "sqlite")
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai, a Monday


def _pg_reachable() -> str | None:
    try:
        engine = sa.create_engine(PG_URL)
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
        return None
    except Exception as exc:  # noqa: BLE001
        return str(exc).splitlines()[0]


def _require_pg() -> None:
    problem = _pg_reachable()
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL at {PG_URL} is unreachable under CI: {problem}")
        pytest.skip(f"PostgreSQL unreachable ({problem}); CI runs these")


def _reset_pg_schema() -> None:
    engine = sa.create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public;"))
    engine.dispose()


def _truncate_pg() -> None:
    tables = ", ".join(t.name for t in db.metadata.sorted_tables)
    with db.engine.begin() as conn:
        conn.execute(sa.text("SET session_replication_role = replica"))
        conn.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        conn.execute(sa.text("SET session_replication_role = DEFAULT"))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> str:
    """A SQLite file migrated once; every test gets a copy."""
    path = tmp_path_factory.mktemp("db") / "template.sqlite3"
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}"})
    with app.app_context():
        upgrade()
        db.engine.dispose()
    return str(path)


_pg_migrated = False


def make_app(backend: str, tmp_path, sqlite_template: str | None = None):
    global _pg_migrated
    if backend == "postgresql":
        _require_pg()
        app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": PG_URL,
                          "DOCUMENT_STORE": str(tmp_path / "documents")})
        with app.app_context():
            if not _pg_migrated:
                _reset_pg_schema()
                upgrade()
                _pg_migrated = True
            else:
                _truncate_pg()
        return app
    path = tmp_path / "test.sqlite3"
    shutil.copy(sqlite_template, path)
    return create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}",
                       "DOCUMENT_STORE": str(tmp_path / "documents")})


@pytest.fixture
def app(request, tmp_path, sqlite_template):
    """The app on the configured backend (postgres-marked tests: always PostgreSQL)."""
    backend = "postgresql" if request.node.get_closest_marker("postgres") else BACKEND
    app = make_app(backend, tmp_path, sqlite_template)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def now():
    return NOW


@pytest.fixture
def estate(app):
    """A small estate: one community with a policy, staff in every role, one debtor owing
    six months (2024-01..06, ¥268.50 each) in an open case assigned to the collector."""
    from tests.factories import make_estate

    return make_estate(NOW)


@pytest.fixture
def today() -> date:
    return date(2026, 11, 23)


@pytest.fixture
def yuan():
    return lambda text: Decimal(text)
