"""Configuration from the environment, with embedded defaults for a fresh machine."""

from __future__ import annotations

import os
from decimal import Decimal


class Config:
    SECRET_KEY = os.environ.get("SECRET_KEY", "dev-only-change-me")
    SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL")  # None: SQLite in the instance folder
    REDIS_URL = os.environ.get("REDIS_URL")  # None: an embedded Redis from PyPI is started
    SQLALCHEMY_ENGINE_OPTIONS: dict = {}
    TIMEZONE = os.environ.get("CASEWORK_TIMEZONE", "Asia/Shanghai")
    BABEL_DEFAULT_LOCALE = "zh"
    DOCUMENT_STORE = os.environ.get("DOCUMENT_STORE")  # None: instance/documents
    DEFAULT_LPR = Decimal(os.environ.get("CASEWORK_LPR", "0.0300"))
    COMPANY_NAME = os.environ.get("CASEWORK_COMPANY", "示范物业服务有限公司")


def database_uri(app_instance_path: str, configured: str | None) -> str:
    """The configured URL, with postgres:// normalised to psycopg 3; SQLite by default."""
    if not configured:
        return f"sqlite:///{os.path.join(app_instance_path, 'casework.sqlite3')}"
    if configured.startswith("postgres://"):
        configured = "postgresql://" + configured[len("postgres://"):]
    if configured.startswith("postgresql://"):
        configured = "postgresql+psycopg://" + configured[len("postgresql://"):]
    return configured
