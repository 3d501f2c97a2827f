"""Fixtures for the web UI: a frozen clock, CSRF off (one test turns it on), fast hashing,
and signing in as any staff member of the estate."""

from __future__ import annotations

import pytest

from tests.conftest import NOW
from tests.factories import fast_password_hashing


@pytest.fixture(autouse=True)
def _fast_hashing(monkeypatch):
    fast_password_hashing(monkeypatch)


@pytest.fixture
def web(app):
    """The app as the web UI tests use it: clock frozen at NOW, forms without CSRF tokens."""
    app.config.update(FROZEN_NOW=NOW, WTF_CSRF_ENABLED=False)
    return app


@pytest.fixture
def login(web, client):
    """login(user) signs the test client in through the real form."""

    def sign_in(user, password: str | None = None):
        client.post("/logout")
        response = client.post("/login", data={"username": user.username,
                                               "password": password or "secret-" + user.username})
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return client

    return sign_in


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item (the browser tests screenshot failures)."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
