"""API fixtures: a token per staff user of the estate and a JSON client that sends it."""

from __future__ import annotations

import pytest

from casework.api import create_token


class Api:
    def __init__(self, client, token: str | None) -> None:
        self.client = client
        self.token = token

    def headers(self, token: str | None = "default") -> dict:
        token = self.token if token == "default" else token
        return {"Authorization": f"Bearer {token}"} if token else {}

    def get(self, url: str, token="default", **kw):
        return self.client.get("/api/v1" + url, headers=self.headers(token), **kw)

    def post(self, url: str, json=None, token="default", data=None, **kw):
        if data is not None:
            return self.client.post("/api/v1" + url, data=data, headers={
                **self.headers(token), "Content-Type": "application/json"}, **kw)
        return self.client.post("/api/v1" + url, json=json, headers=self.headers(token), **kw)


@pytest.fixture
def tokens(estate):
    return {role: create_token(getattr(estate, role)) for role in (
        "collector", "collector2", "supervisor", "legal", "legal2", "auditor", "admin")}


@pytest.fixture
def api_as(client, tokens):
    return lambda role: Api(client, tokens[role])


@pytest.fixture(autouse=True)
def _fast_passwords(monkeypatch):
    from tests.factories import fast_password_hashing

    fast_password_hashing(monkeypatch)
