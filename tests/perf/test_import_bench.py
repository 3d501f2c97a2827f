"""Benchmark: a generated 100,000-row ledger .xlsx imported end to end on PostgreSQL.

Run by `make bench` (marker `bench`; the default test run excludes it); writes its figures to
docs/PERFORMANCE.md, section "Ledger import". Every measurement runs in its own process, so
peak memory is that process's maximum RSS (resource.getrusage). The floor is openpyxl's
read-only iteration of the same file: the least any import of it must do. Target: at most 2x.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from tests.perf.bench_db import fresh_database
from tests.perf.report import record

pytestmark = pytest.mark.bench
N = int(os.environ.get("BENCH_LEDGER_ROWS", "100000"))
ROOT = Path(__file__).resolve().parents[2]
HEADER = ["小区", "楼栋", "房号", "面积", "业主", "电话", "费项", "所属期", "应收", "实收",
          "到期日"]


def generate(path: Path, n: int, seed: int = 6) -> dict[str, int]:
    """A year of monthly 物业费 per unit (plus an annual 车位费 for some): 90% of units paid up,
    7% owing the last 1-3 months, 3% owing everything."""
    import calendar

    from openpyxl import Workbook

    rnd = random.Random(seed)
    book = Workbook(write_only=True)
    sheet = book.create_sheet("台账")
    sheet.append(["基准花园2025年度收费台账"])
    sheet.append(HEADER)
    units = max(1, n // 12.5 if n >= 25 else 1)
    units = int(units)
    rows = owing_units = 0
    unit = 0
    while rows < n:
        building, number = f"{unit // 200 + 1}栋", f"{(unit % 200) // 4 + 1:02d}{unit % 4 + 1:02d}"
        area = round(rnd.uniform(60, 160), 2)
        rate = 2.5
        kind = rnd.random()
        owes_from = 13 if kind < 0.90 else (13 - rnd.randint(1, 3) if kind < 0.97 else 1)
        owing_units += owes_from <= 12
        name, phone = f"业主{unit:06d}", f"139{unit:08d}"
        for month in range(1, 13):
            if rows >= n:
                break
            due = round(area * rate, 2)
            paid = 0 if month >= owes_from else due
            last = calendar.monthrange(2025, month)[1]
            sheet.append(["基准花园", building, number, area, name, phone, "物业费",
                          f"2025-{month:02d}", due, paid, datetime(2025, month, last)])
            rows += 1
        if unit % 2 == 0 and rows < n:
            paid = 0 if owes_from <= 12 and rnd.random() < 0.5 else 600
            sheet.append(["基准花园", building, number, area, name, phone, "车位费", "2025年度",
                          600, paid, datetime(2025, 3, 31)])
            rows += 1
        unit += 1
    book.save(path)
    return {"rows": rows, "units": unit, "owing_units": owing_units}


def measure(mode: str, path: Path, url: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "tests.perf.import_bench_child", mode, str(path),
                          url], cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_ledger_import_100k_rows(tmp_path):
    from flask_migrate import upgrade

    from casework import create_app

    url = fresh_database("casework_bench_import")
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True})
    with app.app_context():
        upgrade()
        from casework.extensions import db

        db.engine.dispose()
    path = tmp_path / "ledger-100k.xlsx"
    shape = generate(path, N)
    load_before = os.getloadavg()[0]
    floor = measure("floor", path, url)
    first = measure("import", path, url)
    again = measure("reimport", path, url)
    load_after = os.getloadavg()[0]
    s = first["summary"]
    assert first["rows"] == N and s["lines_new"] == N
    assert again["summary"]["lines_unchanged"] == N and again["summary"]["lines_new"] == 0
    ratio, ratio_again = first["seconds"] / floor["seconds"], again["seconds"] / floor["seconds"]
    size_mb = path.stat().st_size / 2**20
    cases_s = first["phases"].get("cases", 0.0)
    per_case = 1000 * cases_s / max(1, s["cases_opened"])
    cases_sql = first["statements"].get("cases", 0)
    without_cases = (first["seconds"] - cases_s) / floor["seconds"]
    record("Ledger import", [
        f"A generated ledger .xlsx of {N:,} rows ({size_mb:.1f} MiB: {shape['units']:,} units, "
        f"a year of monthly 物业费 and an annual 车位费 for half of them; "
        f"{shape['owing_units']:,} units owing) imported end to end on PostgreSQL by "
        "`import_ledger` (parse and validate every row, plan against the database, bulk "
        "inserts, the cases in one batch through `services.cases.open_cases`). Each run in its "
        "own process (run size: `BENCH_LEDGER_ROWS`, default 100,000); "
        "memory is the process's peak RSS (`resource.getrusage`), baseline = after imports and "
        f"app creation. Machine: {os.cpu_count()} cores, 1-minute load average "
        f"{load_before:.1f} before and {load_after:.1f} after the runs (other work on the "
        "machine slows every run, the floor included).",
        "",
        "| run | seconds | × floor | peak RSS MiB | baseline MiB |",
        "|---|---:|---:|---:|---:|",
        f"| floor: openpyxl read-only iteration | {floor['seconds']:.2f} | 1.00 | "
        f"{floor['peak_mb']:.0f} | {floor['baseline_mb']:.0f} |",
        f"| first import ({s['lines_new']:,} lines, {s['debtors_new']:,} debtors, "
        f"{s['cases_opened']:,} cases opened) | {first['seconds']:.2f} | {ratio:.2f} | "
        f"{first['peak_mb']:.0f} | {first['baseline_mb']:.0f} |",
        f"| re-import of the same file (nothing changes) | {again['seconds']:.2f} | "
        f"{ratio_again:.2f} | {again['peak_mb']:.0f} | {again['baseline_mb']:.0f} |",
        "",
        f"Phases of the first import (s): {first['phases']}; of the re-import: "
        f"{again['phases']}.",
        "",
        f"Target: at most 2× the floor — first import {'met' if ratio <= 2 else 'NOT met'} "
        f"({ratio:.2f}×), re-import {'met' if ratio_again <= 2 else 'NOT met'} "
        f"({ratio_again:.2f}×).",
        "",
        f"Where the first import's time goes: the `cases` phase — opening the "
        f"{s['cases_opened']:,} cases (`services.cases.open_cases`), rescheduling their timers "
        f"before the commit (`schedule.run_requested`) and the commit — takes {cases_s:.1f} s "
        f"({per_case:.1f} ms a case) in {cases_sql:,} SQL statements. Everything else "
        f"(reading, checking, planning, writing {N:,} lines) is {without_cases:.2f}× the floor. "
        f"SQL statements per phase of the first import: {first['statements']}.",
        "",
        "Done to get here: new charge lines go in by `COPY` on PostgreSQL (executemany with "
        "RETURNING elsewhere) and only the ids of lines that join cases are read back; look-ups "
        "of existing lines, units, debtors and phones are single `= ANY(array)` queries; each "
        "distinct cell value (periods, dates, amounts, names) is parsed once; the cases are "
        "opened in one batch by `open_cases` (the one implementation behind `open_case` too): "
        "one query each for the debtors, communities, charge lines, open cases and policies, "
        "one batched INSERT of the cases and one of their first audit events, one UPDATE for "
        "the lines' case ids (over two arrays) and one executemany UPDATE for the new cases' "
        "numbers and chain heads; their timers are rescheduled in one batch "
        "(`schedule.reschedule_many`).",
    ])
    print(json.dumps({"floor": floor, "import": first, "reimport": again}, ensure_ascii=False))
