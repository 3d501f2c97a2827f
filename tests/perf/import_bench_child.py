"""One measurement of the ledger import benchmark, in its own process (so its peak RSS is its
own): `python -m tests.perf.import_bench_child MODE FILE DATABASE_URL` prints JSON.

MODE floor: openpyxl read-only iteration of every row (values_only), the least any import of
the file must do. MODE import / reimport: `import_ledger` end to end on the database, with its
time and SQL statements (counted by a before_cursor_execute listener) per progress phase.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from datetime import UTC, datetime

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(mode: str, path: str, url: str) -> dict:
    import openpyxl

    from casework import create_app
    from casework.imports import import_ledger

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True})
    baseline = rss_mb()
    if mode == "floor":
        started = time.perf_counter()
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        rows = cells = 0
        for values in book.worksheets[0].iter_rows(values_only=True):
            rows += 1
            cells += len(values)
        book.close()
        return {"mode": mode, "seconds": time.perf_counter() - started, "rows": rows,
                "cells": cells, "baseline_mb": baseline, "peak_mb": rss_mb()}
    import sqlalchemy as sa

    from casework.extensions import db

    phases: dict[str, float] = {}
    statements: dict[str, int] = {}
    last = [time.perf_counter(), "start"]

    def progress(phase: str, done: int, total: int | None) -> None:
        if phase != last[1]:
            moment = time.perf_counter()
            phases[last[1]] = phases.get(last[1], 0.0) + moment - last[0]
            last[0], last[1] = moment, phase

    def count(conn, cursor, statement, parameters, context, executemany) -> None:
        statements[last[1]] = statements.get(last[1], 0) + 1

    with app.app_context():
        sa.event.listen(db.engine, "before_cursor_execute", count)
        started = time.perf_counter()
        last[0] = started
        result = import_ledger(path, now=NOW, progress=progress)
        seconds = time.perf_counter() - started
        phases[last[1]] = phases.get(last[1], 0.0) + time.perf_counter() - last[0]
    if not result.ok:
        raise SystemExit(f"import refused: {result.errors[:5]}")
    return {"mode": mode, "seconds": seconds, "rows": result.rows, "summary": result.summary,
            "phases": {k: round(v, 2) for k, v in phases.items()}, "statements": statements,
            "baseline_mb": baseline,
            "peak_mb": rss_mb()}


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:4])))
