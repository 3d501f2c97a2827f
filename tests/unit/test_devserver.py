"""The dev runner: an embedded Redis on a free port, and children that never outlive it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest
import redis

from casework import devserver

SLEEPER = f'{sys.executable} -c "import time; time.sleep(60)"'


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as fh:  # a zombie is dead, merely not yet reaped
        return fh.read().split(") ")[-1][0] != "Z"


def _gone(pids, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(_alive(pid) for pid in pids):
            return True
        time.sleep(0.1)
    return False


def test_embedded_redis_answers_ping_on_a_free_port_and_stops(tmp_path):
    server = devserver.EmbeddedRedis(tmp_path / "redis").start()
    try:
        assert server.port and server.url == f"redis://127.0.0.1:{server.port}/0"
        with redis.Redis.from_url(server.url) as client:
            assert client.ping()
            client.set("casework", "ok")
            assert client.get("casework") == b"ok"
            assert client.config_get("save") == {"save": ""}  # nothing written to disk
        pid = server.child.pid
    finally:
        server.stop()
    assert _gone([pid])
    with redis.Redis(port=server.port, socket_connect_timeout=1) as client, \
            pytest.raises(redis.exceptions.ConnectionError):
        client.ping()


def _start(tmp_path, *processes: str) -> subprocess.Popen:
    argv = [sys.executable, "-m", "casework.devserver", "--no-banner",
            "--redis-dir", str(tmp_path / "redis"), "--only", "web"]
    for item in processes:
        argv += ["--process", item]
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env["PORT"] = str(devserver.free_port())
    return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, cwd=devserver.ROOT)


def _started(proc: subprocess.Popen, names: set[str], timeout: float = 30.0) -> dict[str, int]:
    """Read the runner's output until every named child has started; name -> pid."""
    pids: dict[str, int] = {}
    deadline = time.monotonic() + timeout
    while not names <= set(pids) and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        match = re.search(r"started (\S+) \(pid (\d+)\)", line)
        if match:
            pids[match.group(1)] = int(match.group(2))
    assert names <= set(pids), f"only {pids} started"
    return pids


def test_sigterm_stops_every_child_and_the_embedded_redis(tmp_path):
    with _start(tmp_path, f"web={SLEEPER}", f"worker={SLEEPER}") as proc:
        try:
            pids = _started(proc, {"redis", "web", "worker"})
            assert all(_alive(pid) for pid in pids.values())
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 0
            assert "worker stopped" in proc.stdout.read()
        finally:
            if proc.poll() is None:
                proc.kill()
    assert _gone(pids.values()), "a child outlived the dev server"


def test_a_dying_child_stops_the_rest_and_fails(tmp_path):
    quitter = f'{sys.executable} -c "import sys, time; time.sleep(1); sys.exit(3)"'
    with _start(tmp_path, f"web={SLEEPER}", f"quitter={quitter}") as proc:
        try:
            pids = _started(proc, {"redis", "web", "quitter"})
            assert proc.wait(30) == 3
            assert "quitter exited with code 3" in proc.stdout.read()
        finally:
            if proc.poll() is None:
                proc.kill()
    assert _gone(pids.values())


def test_the_process_list_is_a_procfile_in_a_constant():
    assert devserver.PROCESSES["web"].startswith("flask --app wsgi run --port ${PORT:-5000}")
    args = devserver.parse_args(["--only", "web", "--process", "extra=echo hi"])
    assert devserver.selected(args) == {"web": devserver.PROCESSES["web"], "extra": "echo hi"}
    with pytest.raises(SystemExit):
        devserver.selected(devserver.parse_args(["--only", "nosuch"]))
