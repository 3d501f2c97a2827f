#!/bin/sh
# Wait for the database, bring its schema up to date, then run the given command.
#
#   DB_WAIT_TRIES    attempts to reach the database (default 30)
#   DB_WAIT_SECONDS  pause between attempts (default 2)
#   SKIP_MIGRATIONS  1: do not run `flask db upgrade` (e.g. a read-only replica)
#
# Several containers start at once (web, two workers, the sweep): on PostgreSQL the upgrade
# runs under an advisory lock, so one of them migrates and the others find nothing to do.
set -eu

: "${FLASK_APP:=wsgi}"
export FLASK_APP

python - <<'PY'
import os
import subprocess
import sys
import time

import sqlalchemy as sa

from casework.config import database_uri

tries = int(os.environ.get("DB_WAIT_TRIES", "30"))
pause = float(os.environ.get("DB_WAIT_SECONDS", "2"))
migrate = os.environ.get("SKIP_MIGRATIONS", "0") != "1"
url = database_uri(os.path.join(os.getcwd(), "instance"), os.environ.get("DATABASE_URL"))
engine = sa.create_engine(url, pool_pre_ping=True)
conn = None
if engine.dialect.name == "sqlite":  # a file: nothing to wait for, and the app knows where
    tries = 0

for attempt in range(1, tries + 1):
    try:
        conn = engine.connect()
        conn.execute(sa.text("SELECT 1"))
        break
    except Exception as exc:  # noqa: BLE001
        first = (str(exc).splitlines() or [exc.__class__.__name__])[0]
        print(f"entrypoint: database not ready ({attempt}/{tries}): {first}",
              file=sys.stderr, flush=True)
        if attempt == tries:
            sys.exit(f"entrypoint: gave up waiting for the database after {tries} attempts")
        time.sleep(pause)

if migrate:
    locked = conn is not None and engine.dialect.name == "postgresql"
    if locked:  # one migrator at a time; the key is arbitrary but fixed
        conn.execute(sa.text("SELECT pg_advisory_lock(7275201)"))
        conn.commit()
    try:
        code = subprocess.call(["flask", "db", "upgrade"])
    finally:
        if locked:
            conn.execute(sa.text("SELECT pg_advisory_unlock(7275201)"))
            conn.commit()
    if code:
        sys.exit(f"entrypoint: flask db upgrade failed with exit code {code}")
if conn is not None:
    conn.close()
engine.dispose()
PY

exec "$@"
