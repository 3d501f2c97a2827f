"""Helpers for the benchmarks: a separate PostgreSQL database, migrated, filled in bulk."""

from __future__ import annotations

import os

import sqlalchemy as sa

ADMIN_URL = os.environ.get("CASEWORK_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def fresh_database(name: str) -> str:
    """Drop and create database `name` on the test server; returns its URL."""
    engine = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
