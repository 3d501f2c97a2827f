"""RQ queues by purpose (dunning, documents, default) on the configured Redis."""

from __future__ import annotations

from flask import current_app
from redis import Redis
from rq import Queue

QUEUES = ("dunning", "documents", "default")


def redis_connection() -> Redis:
    url = current_app.config.get("REDIS_URL")
    if not url:
        raise RuntimeError("REDIS_URL is not set: start Redis or run `make run`, which starts one")
    return Redis.from_url(url)


def get_queue(name: str = "default") -> Queue:
    if name not in QUEUES:
        raise ValueError(f"unknown queue {name}")
    return Queue(name, connection=redis_connection())
