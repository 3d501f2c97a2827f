"""Benchmark: 1,000 lawyer letters on PostgreSQL rendered end to end by 2 RQ workers.

Run by `make bench`; writes its figures to docs/PERFORMANCE.md. Each case has one delivered
demand and one pending 律师函; the sweep hands the letters to the documents queue (25 to a job)
and two `flask worker --burst` processes render them: facts from the database, the template,
the G5 lint, the store, the row. The floor, in the same run, is plain docxtpl on one core:
`DocxTemplate(<the same .docx>).render(<one letter's context>)` and `save()` to a file, no
database. PDF copies (LibreOffice) are measured apart, on fewer letters, against a floor of
the same docxtpl loop plus one LibreOffice run converting all of them.

Sizes: BENCH_LETTERS (default 1000), BENCH_LETTER_PDFS (default 100, 0 skips the PDF part).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from rq import Queue

from casework import create_app
from casework.extensions import db
from casework.models import Document
from casework.policy import default_policy
from tests.factories import LETTER_POLICY
from tests.perf.bench_db import fresh_database
from tests.perf.report import record
from tests.redis_db import dedicated_redis

pytestmark = pytest.mark.bench
N = int(os.environ.get("BENCH_LETTERS", "1000"))
FLOOR_N = min(N, int(os.environ.get("BENCH_LETTER_FLOOR", "300")))  # letters per floor run
PDF_N = int(os.environ.get("BENCH_LETTER_PDFS", "100"))
REDIS_URL = os.environ.get("BENCH_LETTERS_REDIS_URL", "redis://127.0.0.1:6379/11")
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]
WORKERS = 2

# The worker, run in this process so that at its end getrusage can report the peak resident
# set of the worker itself and of the largest process it waited for (its work horses, one
# forked per job, and their LibreOffice children).
WORKER = """
import json, resource, sys
from flask.cli import main
sys.argv = ["flask", "--app", "wsgi", "worker", "--burst", "--queue", "documents"]
try:
    main()
except SystemExit as exc:
    code = exc.code or 0
else:
    code = 0
self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
children_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print("RUSAGE " + json.dumps({"worker_kb": self_kb, "horse_kb": children_kb}), file=sys.stderr)
sys.exit(code)
"""


def _fill(n: int) -> None:
    """n cases at the lawyer-letter stage: a delivered demand and a pending 律师函 each."""
    conn = db.session.connection()
    t = db.metadata.tables
    policy = default_policy() | {key: dict(block) for key, block in LETTER_POLICY.items()}
    conn.execute(t["community"].insert(), [{"code": "B", "name": "基准小区",
                                            "address": "浙江省杭州市西湖区文三路100号",
                                            "city": "杭州", "company_name": "示范物业"}])
    conn.execute(t["policy"].insert(), [{"community_id": 1, "version": 1, "data": policy,
                                         "created_at": NOW}])
    conn.execute(t["building"].insert(), [{"community_id": 1, "name": "1栋"}])
    conn.execute(t["unit"].insert(), [{"building_id": 1, "number": f"{i:04d}室",
                                       "area": Decimal("89.75"), "vacant_filed": False}
                                      for i in range(1, n + 1)])
    conn.execute(t["debtor"].insert(), [dict(
        name=f"业主{i}号", kind="owner", identified=True, address=f"基准小区1栋{i:04d}室",
        address_verified=True, written_only=False, unreachable=False, vulnerable=False,
        communication_style="", household_notes="", created_at=NOW) for i in range(1, n + 1)])
    since = NOW - timedelta(days=60)
    conn.execute(t["dunning_case"].insert(), [dict(
        number=f"B-{i}", debtor_id=i, community_id=1, policy_id=1, state="lawyer_letter",
        version=1, priority=0, event_seq=2, event_hash=f"{i:064x}", opened_at=since,
        stage_since=NOW, updated_at=NOW) for i in range(1, n + 1)])
    months = range(1, 7)  # six unpaid months of 2026, the largest one over a million
    conn.execute(t["charge_line"].insert(), [dict(
        case_id=i, unit_id=i, debtor_id=i, fee_type="物业服务费", period_label=f"2026年{m:02d}月",
        period_start=date(2026, m, 1), period_end=date(2026, m, 28), due_date=date(2026, m, 28),
        amount_due=Decimal("1234567.89") if m == 6 else Decimal("269.25"),
        amount_paid=Decimal("0"), credit=Decimal("0"), contract_daily_rate=Decimal("0.0003"),
        limitation_expiry=date(2029, m, 28), frozen=False)
        for i in range(1, n + 1) for m in months])
    events = []
    for i in range(1, n + 1):
        for seq, name, at in ((1, "issue_demand", since), (2, "approve_lawyer_letter", NOW)):
            events.append(dict(case_id=i, seq=seq, at=at, actor_role="system", kind="transition",
                               name=name, payload={}, prev_hash=f"{i:060x}{seq - 1:04x}",
                               hash=f"{i:060x}{seq:04x}"))
    conn.execute(t["case_event"].insert(), events)
    lines = {i: list(range((i - 1) * 6 + 1, i * 6 + 1)) for i in range(1, n + 1)}
    conn.execute(t["document"].insert(), [dict(
        case_id=i, kind="payment_demand", status="rendered", event_seq=1,
        template_version="builtin-1", charge_line_ids=lines[i], deadline=date(2026, 10, 20),
        dispatch_channel="ems", tracking_no=f"EA{i:09d}CN", contents_label="物业费催缴通知书",
        dispatched_at=since, delivered_on=(since + timedelta(days=3)).date(), grade="A",
        created_at=since) for i in range(1, n + 1)])
    conn.execute(t["document"].insert(), [dict(
        case_id=i, kind="lawyer_letter", status="pending", event_seq=2,
        charge_line_ids=lines[i], approved_by_id=None, created_at=NOW)
        for i in range(1, n + 1)])
    db.session.commit()


NOTES = [
    "Is the PDF part of rendering a letter? The .docx is the record (its sha256 is stored);"
    " the job then makes a PDF copy next to it when LibreOffice is installed and PDFs are "
    "on (`DOCUMENT_PDF`, else `CASEWORK_PDF`, else on outside tests). Both are measured: "
    "the first table without, the second with; each floor does the same work as its run "
    "(same template, same context, .docx files, plus PDFs in the second).",
    "",
    "What the job path does per letter, and what was changed to get here (earlier "
    "1,000-letter runs of this benchmark during the work: 0.84× at load ≈4-10 with one "
    "transaction per letter, 1.12× at load ≈1 with one transaction per job but a savepoint "
    "and an UPDATE per letter): the compiled template is cached per process (docxtpl re-"
    "parsed and recompiled it for every letter; now each render opens a fresh Document from"
    " the cached bytes and renders the precompiled Jinja templates: same bytes as plain "
    "docxtpl, tested); the shipped templates lost 750 KB of unused styles that every render"
    " parsed, wrote and compressed (this speeds up the floor too); the .docx is written "
    "once into a fixed-time zip instead of saved and re-zipped; the G5 lint reads the in-"
    "memory XML instead of re-opening the file; docxtpl's listing pass runs only when a "
    "value holds a tab or newline; the sweep hands over 25 letters a job (one fork, one "
    "connection, one template compile, one LibreOffice start per job); the job loads its "
    "batch's rows in seven queries, locks the document rows, and writes them in one "
    "statement with one commit. About 17 ms of CPU a letter remain in the job (render 10, "
    "facts 3, file with fsync 1, the rest SQL and RQ), against 27 ms for the floor's plain "
    "docxtpl.",
    "",
    "The ratio depends on the machine: both workers and PostgreSQL share 2 cores with other"
    " sessions' work, while the floor has a core to itself: with other work running, RQ's "
    "own job times showed the two work horses each at about half speed (one core's worth "
    "between them). The load averages of the run are given above; on a busier machine the "
    "same code measures lower.",
]


def _letter_context() -> dict:
    """The context the job builds for the first letter (the floor renders it N times)."""
    from casework.letters import letter_facts
    from documents.contexts import build_context

    doc = db.session.scalars(sa.select(Document).where(Document.kind == "lawyer_letter")
                             .order_by(Document.id)).first()
    context = build_context("lawyer_letter", letter_facts(doc))
    db.session.rollback()
    return context


def _floor(context: dict, n: int, out: Path) -> float:
    """Seconds for n plain docxtpl renders of the shipped template, each saved to a file."""
    from docxtpl import DocxTemplate
    from jinja2 import Environment, StrictUndefined

    from documents.render import template_path

    out.mkdir(parents=True, exist_ok=True)
    source = str(template_path("lawyer_letter"))
    start = time.perf_counter()
    for i in range(n):
        template = DocxTemplate(source)
        template.render(context, jinja_env=Environment(autoescape=True,
                                                       undefined=StrictUndefined),
                        autoescape=True)
        template.save(out / f"{i}.docx")
    return time.perf_counter() - start


def _cached(context: dict, n: int, out: Path) -> float:
    """Seconds for n renders through documents.render (cached compile), saved to files."""
    from documents.render import render_letter

    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    for i in range(n):
        (out / f"{i}.docx").write_bytes(render_letter("lawyer_letter", context).data)
    return time.perf_counter() - start


def _workers(env: dict) -> tuple[float, list[dict]]:
    """Start the workers, wait for both; seconds and each one's rusage figures."""
    start = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-c", WORKER], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for _ in range(WORKERS)]
    errors = [p.communicate(timeout=7200)[1] for p in procs]
    elapsed = time.perf_counter() - start
    assert all(p.returncode == 0 for p in procs), errors
    usage = [json.loads(line.split(" ", 1)[1]) for err in errors for line in err.splitlines()
             if line.startswith("RUSAGE ")]
    assert len(usage) == WORKERS, errors
    return elapsed, usage


def _statuses() -> dict:
    counts = dict(db.session.execute(sa.select(Document.status, sa.func.count()).where(
        Document.kind == "lawyer_letter").group_by(Document.status)).all())
    db.session.rollback()
    return counts


def _mib(kb: int) -> str:
    return f"{kb / 1024:,.0f}"


def _load() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def test_a_thousand_lawyer_letters_by_two_workers(tmp_path):
    url = fresh_database("casework_letter_bench")
    store = tmp_path / "store"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": REDIS_URL,
                      "DOCUMENT_STORE": str(store), "DOCUMENT_PDF": False})
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "RQ_"))}
    env.update(DATABASE_URL=url, REDIS_URL=REDIS_URL, DOCUMENT_STORE=str(store),
               PYTHONPATH=str(ROOT), CASEWORK_LO_PROFILE_DIR=str(tmp_path / "lo"))
    load_before = _load()
    with dedicated_redis(REDIS_URL) as redis, app.app_context():
        from flask_migrate import upgrade

        from casework.sweep import sweep
        from documents.render import find_office

        upgrade()
        _fill(N)
        context = _letter_context()
        floor_before = _floor(context, FLOOR_N, tmp_path / "floor")
        cached_seconds = _cached(context, FLOOR_N, tmp_path / "cached")

        idle_seconds, _ = _workers(env | {"CASEWORK_PDF": "0"})  # nothing queued yet
        start = time.perf_counter()
        swept = sweep(NOW, queue=Queue("dunning", connection=redis))
        sweep_seconds = time.perf_counter() - start
        work_seconds, usage = _workers(env | {"CASEWORK_PDF": "0"})
        elapsed = sweep_seconds + work_seconds
        counts = _statuses()
        assert counts == {"rendered": N}, counts
        files = sorted(store.rglob("lawyer_letter-*.docx"))
        assert len(files) == N and not list(store.rglob("*.pdf"))
        floor_after = _floor(context, FLOOR_N, tmp_path / "floor")

        pdf_lines: list[str] = []
        if PDF_N and find_office():
            pdf_lines = _pdf_part(context, tmp_path, store, env, redis)
        db.session.remove()
        db.engine.dispose()
    load_after = _load()

    # the machine is shared: the floor runs before and after the workers, and the faster of
    # the two runs is the floor (the ratio is the conservative one)
    floor_seconds = min(floor_before, floor_after)
    rate, floor_rate, cached_rate = N / elapsed, FLOOR_N / floor_seconds, FLOOR_N / cached_seconds
    ratio = rate / floor_rate
    met = "met" if ratio >= 1.5 else "NOT MET"
    record("Letters (issue 4)", [
        f"{N:,} lawyer letters (律师函, six unpaid months each, one delivered demand listed) "
        f"on PostgreSQL: the sweep hands them to the documents queue in {len(swept.jobs)} jobs "
        f"of up to 25, and {WORKERS} `flask worker --burst` processes render them (facts from "
        f"the database, cached compiled template, G5 lint, the file written with fsync, "
        f"the row). Machine: 2 cores "
        f"shared with other work; load average (1/5/15 min) {load_before} before, "
        f"{load_after} after.",
        "",
        "| run (no PDF) | seconds | letters/s | × floor |",
        "|---|---:|---:|---:|",
        f"| floor: plain docxtpl render + save to a file, one core, no database "
        f"({FLOOR_N} letters; before the workers {FLOOR_N / floor_before:,.1f}/s, after "
        f"{FLOOR_N / floor_after:,.1f}/s, the faster counts) | "
        f"{floor_seconds:.1f} | {floor_rate:,.1f} | 1.00 |",
        f"| documents.render with the per-process template cache, one core, no database "
        f"({FLOOR_N} letters) | {cached_seconds:.1f} | {cached_rate:,.1f} | "
        f"{cached_rate / floor_rate:.2f} |",
        f"| end to end: sweep ({sweep_seconds:.2f} s) + 2 workers | {elapsed:.1f} | "
        f"{rate:,.1f} | **{ratio:.2f}** |",
        "",
        f"Target: at least 1.5× the one-core floor with 2 workers — {met} ({ratio:.2f}×). "
        f"The end-to-end time includes starting the workers (importing and building the app): "
        f"2 workers with an empty queue took {idle_seconds:.1f} s in this run.",
        "",
        "Peak memory (`getrusage` in each worker process at its end: `ru_maxrss` of the worker "
        "itself, and of RUSAGE_CHILDREN = the largest process it waited for, i.e. a forked "
        "work horse, whose resident set includes the pages it shares with the worker): "
        + "; ".join(f"worker {i + 1}: {_mib(u['worker_kb'])} MiB, largest work horse "
                    f"{_mib(u['horse_kb'])} MiB" for i, u in enumerate(usage)) + ".",
        *pdf_lines,
        "",
        *NOTES,
    ])
    assert rate > 0


def _pdf_part(context: dict, tmp_path: Path, store: Path, env: dict, redis) -> list[str]:
    """The first PDF_N letters again, with their PDF copies, against docxtpl + LibreOffice."""
    from documents.render import to_pdfs

    floor_dir = tmp_path / "floor-pdf"
    start = time.perf_counter()
    _floor(context, PDF_N, floor_dir)
    made = to_pdfs(sorted(floor_dir.glob("*.docx")), tmp_path / "lo-floor")
    floor_seconds = time.perf_counter() - start
    assert all(made)

    ids = list(db.session.scalars(sa.select(Document.id).where(
        Document.kind == "lawyer_letter").order_by(Document.id).limit(PDF_N)))
    db.session.execute(sa.update(Document).where(Document.id.in_(ids)).values(
        status="pending", path=None, sha256=None, enqueued_at=None))
    db.session.commit()
    from casework.sweep import sweep

    start = time.perf_counter()
    sweep(NOW, queue=Queue("dunning", connection=redis))
    sweep_seconds = time.perf_counter() - start
    work_seconds, usage = _workers(env | {"CASEWORK_PDF": "1"})
    elapsed = sweep_seconds + work_seconds
    pdfs = len(list(store.rglob("lawyer_letter-*.pdf")))
    assert pdfs == PDF_N, pdfs
    rate, floor_rate = PDF_N / elapsed, PDF_N / floor_seconds
    return [
        "",
        f"With PDF copies ({PDF_N} of the letters rendered again with `CASEWORK_PDF=1`; each "
        f"job converts its letters in one LibreOffice run, with its own profile per worker "
        f"process):",
        "",
        "| run (with PDF) | seconds | letters/s | × floor |",
        "|---|---:|---:|---:|",
        f"| floor: plain docxtpl render + save, then one LibreOffice run for all, one core | "
        f"{floor_seconds:.1f} | {floor_rate:,.2f} | 1.00 |",
        f"| end to end: sweep + 2 workers | {elapsed:.1f} | {rate:,.2f} | "
        f"**{rate / floor_rate:.2f}** |",
        "",
        "Peak memory with LibreOffice (the largest waited-for process may be soffice): "
        + "; ".join(f"worker {i + 1}: {_mib(u['worker_kb'])} MiB, largest child "
                    f"{_mib(u['horse_kb'])} MiB" for i, u in enumerate(usage)) + ".",
    ]
