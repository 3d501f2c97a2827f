"""docker/: the compose file is valid Compose and names the five services; the Dockerfile copies
what the package is made of; the entrypoint waits for the database, migrates, then execs.

No Docker engine is needed: `docker compose config` only reads files.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
COMPOSE = DOCKER / "compose.yaml"
SERVICES = {"postgres", "redis", "web", "worker", "sweep"}
APP_SERVICES = ("web", "worker", "sweep")
DATABASE_URL = "postgresql://casework:casework@postgres:5432/casework"
REDIS_URL = "redis://redis:6379/0"


def compose_command() -> list[str]:
    """`docker compose` (the Compose plugin), else the standalone `docker-compose`."""
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True,
                                 timeout=30).returncode == 0:
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    if legacy:
        return [legacy]
    pytest.fail("no Compose CLI: install the docker compose plugin, or Debian's docker-compose "
                "(apt-get install docker-compose)")


def compose(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("WITH_LIBREOFFICE", "SECRET_KEY")}
    return subprocess.run([*compose_command(), "-f", str(COMPOSE), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def service_blocks(text: str) -> dict[str, str]:
    """The text of each service under `services:` (two-space indented keys)."""
    body = ("\n" + text).split("\nservices:\n", 1)[1]
    body = re.split(r"\n(?=\S)", body, maxsplit=1)[0]  # up to the next top-level key
    parts = re.split(r"^  ([A-Za-z0-9_.-]+):[^\S\n]*$", body, flags=re.M)
    return {name: block for name, block in zip(parts[1::2], parts[2::2], strict=True)}


# -- compose ----------------------------------------------------------------------------------


def test_docker_compose_config_accepts_the_file():
    result = compose("config", "--quiet")
    assert result.returncode == 0, result.stderr


def test_compose_names_the_five_services():
    result = compose("config", "--services")
    assert result.returncode == 0, result.stderr
    assert set(result.stdout.split()) == SERVICES


def test_every_app_service_reaches_the_same_database_and_redis():
    result = compose("config")
    assert result.returncode == 0, result.stderr
    blocks = service_blocks(result.stdout)  # anchors and merge keys resolved by Compose
    assert set(blocks) == SERVICES
    for name in APP_SERVICES:
        assert f"DATABASE_URL: {DATABASE_URL}" in blocks[name], name
        assert f"REDIS_URL: {REDIS_URL}" in blocks[name], name
        assert "docker/Dockerfile" in blocks[name], name


def test_each_service_runs_what_it_should():
    blocks = service_blocks(COMPOSE.read_text(encoding="utf-8"))
    assert set(blocks) == SERVICES
    assert "image: postgres:16" in blocks["postgres"]
    assert "healthcheck:" in blocks["postgres"] and "pg_isready" in blocks["postgres"]
    assert "image: redis:7" in blocks["redis"]
    assert re.search(r'command: \["gunicorn", "-w", "4", "-b", "0\.0\.0\.0:8000", '
                     r'"--worker-tmp-dir", "/dev/shm",\s+"wsgi:app"\]', blocks["web"])
    assert 'command: ["flask", "worker"]' in blocks["worker"]
    assert re.search(r"deploy:\s*\n\s+replicas: 2\b", blocks["worker"])
    assert 'command: ["flask", "sweep", "--every", "60"]' in blocks["sweep"]


# -- Dockerfile -------------------------------------------------------------------------------


def test_the_dockerfile_builds_a_non_root_image_of_the_package():
    text = (DOCKER / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.11-slim\s*$", text, flags=re.M)
    assert re.search(r"^ARG WITH_LIBREOFFICE=0\s*$", text, flags=re.M)
    assert "libreoffice-writer-nogui" in text and "fonts-noto-cjk" in text
    assert re.search(r"pip install /src\b", text)
    user = re.findall(r"^USER (\S+)", text, flags=re.M)
    assert user and user[-1] not in ("root", "0")
    assert "ENTRYPOINT" in text
    # every path the Dockerfile copies exists, and every package of pyproject is copied
    sources = [part for line in re.findall(r"^COPY (.+)$", text, flags=re.M)
               for part in line.split()[:-1] if not part.startswith("--")]
    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: no such path"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = [p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]
                ["include"]]
    for package in packages:
        assert package in sources, f"the Dockerfile does not copy the package {package}"


# -- entrypoint -------------------------------------------------------------------------------


def entrypoint(tmp_path, *command: str, **env: str) -> subprocess.CompletedProcess:
    bin_dir = str(Path(sys.executable).parent)  # python and flask of this environment
    base = {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "DB_WAIT"))}
    base.update({"PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
                 "PYTHONPATH": str(ROOT), **env})
    return subprocess.run(["sh", str(DOCKER / "entrypoint.sh"), *command], cwd=ROOT, env=base,
                          capture_output=True, text=True, timeout=120)


def test_the_entrypoint_is_an_executable_shell_script():
    path = DOCKER / "entrypoint.sh"
    assert os.access(path, os.X_OK)
    assert path.read_text(encoding="utf-8").startswith("#!/bin/sh\n")
    assert subprocess.run(["sh", "-n", str(path)]).returncode == 0


def test_the_entrypoint_migrates_then_runs_the_command(tmp_path):
    db_file = tmp_path / "casework.sqlite3"
    result = entrypoint(tmp_path, "sh", "-c", "echo started: $0", "web",
                        DATABASE_URL=f"sqlite:///{db_file}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "started: web"
    assert "Running upgrade" in result.stderr  # flask db upgrade ran
    import sqlite3

    with sqlite3.connect(db_file) as conn:
        tables = {row[0] for row in conn.execute("select name from sqlite_master")}
    assert {"alembic_version", "dunning_case", "timer", "outbox_message"} <= tables


def test_the_entrypoint_gives_up_on_a_database_that_never_answers(tmp_path):
    with __import__("socket").socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = entrypoint(tmp_path, "echo", "must-not-run", DB_WAIT_TRIES="2",
                        DB_WAIT_SECONDS="0",
                        DATABASE_URL=f"postgresql://casework:casework@127.0.0.1:{port}/casework")
    assert result.returncode != 0
    assert "must-not-run" not in result.stdout
    assert result.stderr.count("database not ready") == 2
    assert "gave up waiting for the database after 2 attempts" in result.stderr
