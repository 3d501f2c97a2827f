"""A dedicated Redis database for a test, taken in turn by every test run on this machine.

Several runs (developers, or CI beside them) share the machine's Redis: a worker of another
run would take this run's jobs to its own database, and its flushdb would drop ours.
"""

from __future__ import annotations

import fcntl
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from redis import Redis


@contextmanager
def dedicated_redis(url: str) -> Iterator[Redis]:
    """Lock the db for this test, flush it before and after; fail under CI if unreachable."""
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
            pytest.skip(f"Redis unreachable ({exc}); CI runs these")
        conn.flushdb()
        try:
            yield conn
        finally:
            conn.flushdb()
            conn.close()
