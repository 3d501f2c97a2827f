"""Imports the admin UI starts: the file is stored, an ImportRun records the outcome, and large
files run as an RQ job whose meta["progress"] says how far it got (the CLI runs inline)."""

from __future__ import annotations

import hashlib
from typing import Any

from ..extensions import db
from ..models import ImportRun, StaffUser, utcnow
from ..services.errors import Forbidden, NotFound
from ..services.uow import transaction
from .ledger import IMPORT_ROLES, LedgerResult, import_ledger
from .payments import import_payments
from .tables import error_report_csv

INLINE_LIMIT = 256 * 1024  # bytes; larger files go to a worker
JOB_TIMEOUT = 3600
KEEP_ERRORS = 1000


def start_import(kind: str, data: bytes, filename: str, *, user: StaffUser | None = None,
                 community_code: str | None = None, mapping: str | dict | None = None,
                 dry_run: bool = False, inline: bool | None = None) -> ImportRun:
    """Store the upload, record the run, and import it here (small files) or in a worker."""
    from .. import storage

    if kind not in ("ledger", "payments"):
        raise NotFound(f"没有这种导入：{kind}", f"No such import: {kind}")
    ensure_can_import(user)
    digest = hashlib.sha256(data).hexdigest()
    relpath = storage.save(f"imports/{digest[:16]}-{storage.safe_filename(filename, 'upload')}",
                           data)
    with transaction():
        run = ImportRun(kind=kind, filename=filename[:256], sha256=digest, path=relpath,
                        status="pending", dry_run=dry_run, community_code=community_code,
                        mapping_name=mapping if isinstance(mapping, str) else None,
                        summary={"mapping": mapping} if isinstance(mapping, dict) else {},
                        created_by_id=user.id if user else None, created_at=utcnow())
        db.session.add(run)
    if inline or (inline is None and len(data) <= INLINE_LIMIT):
        return run_import(run.id)
    from ..queues import get_queue

    try:
        job = get_queue("default").enqueue("casework.imports.runs.import_job", run.id,
                                           job_id=f"import-{run.id}", job_timeout=JOB_TIMEOUT,
                                           result_ttl=86400)
    except Exception as exc:  # noqa: BLE001  Redis down or not configured: say so on the run
        with transaction():
            run = db.session.get(ImportRun, run.id)
            run.status, run.finished_at, run.error_count = "failed", utcnow(), 1
            run.errors = [{"row": 0, "column": "", "value": type(exc).__name__,
                           "reason": "任务队列暂不可用，导入没有开始；请稍后重试"}]
        return run
    with transaction():
        run = db.session.get(ImportRun, run.id)
        run.job_id = job.id
    return run


def get_run(run_id: int, user: StaffUser | None) -> ImportRun:
    """A run `user` may see (None: the system): admins see every run, supervisors the runs
    they started; anyone else is refused before the id is looked up."""
    if user is not None and not user.has_role(*IMPORT_ROLES):
        raise Forbidden("只有管理员或催缴组长可以查看导入。",
                        "Only an admin or supervisor may see imports.")
    run = db.session.get(ImportRun, run_id)
    if run is None:
        raise NotFound(f"导入记录 {run_id} 不存在。", f"Import run {run_id} does not exist.")
    if user is not None and not user.has_role("admin") and run.created_by_id != user.id:
        raise Forbidden("这是其他人发起的导入。", "Someone else started this import.")
    return run


def ensure_can_import(user: StaffUser | None) -> None:
    if user is not None and not user.has_role(*IMPORT_ROLES):
        raise Forbidden("只有管理员或催缴组长可以导入。",
                        "Only an admin or supervisor may import.")


def run_import(run_id: int, progress=None) -> ImportRun:
    """Do the import of a recorded run and store its outcome (errors, report, summary)."""
    from .. import storage

    run = db.session.get(ImportRun, run_id)
    if run is None:
        raise NotFound(f"导入记录 {run_id} 不存在。", f"Import run {run_id} does not exist.")
    with transaction():
        run.status = "running"
    user = db.session.get(StaffUser, run.created_by_id) if run.created_by_id else None
    mapping = run.mapping_name or (run.summary or {}).get("mapping")
    importer = import_ledger if run.kind == "ledger" else import_payments
    try:
        result: LedgerResult = importer(storage.read(run.path), run.filename,
                                        community_code=run.community_code, mapping=mapping,
                                        dry_run=run.dry_run, user=user, progress=progress)
    except Exception:
        db.session.rollback()
        with transaction():
            run = db.session.get(ImportRun, run_id)
            run.status, run.finished_at = "failed", utcnow()
        raise
    summary: dict[str, Any] = {"counts": result.summary, "samples": result.samples,
                               "warnings": [w.as_dict() for w in result.warnings[:KEEP_ERRORS]],
                               "case_ids": result.case_ids[:KEEP_ERRORS],
                               "seconds": round(result.seconds, 3), "rows": result.rows}
    if result.errors:
        summary["report_path"] = storage.save(f"imports/run-{run_id}.errors.csv",
                                              result.error_report())
    with transaction():
        run = db.session.get(ImportRun, run_id)
        run.status = result.status
        run.summary = summary
        run.error_count = len(result.errors)
        run.errors = [e.as_dict() for e in result.errors[:KEEP_ERRORS]]
        run.finished_at = utcnow()
    return run


def import_job(run_id: int) -> str:
    """RQ entry point: run the import, reporting meta["progress"] = {phase, done, total}."""
    from rq import get_current_job

    from ..jobs import job_context

    job = get_current_job()

    def progress(phase: str, done: int, total: int | None) -> None:
        if job is not None:
            job.meta["progress"] = {"phase": phase, "done": done, "total": total}
            job.save_meta()

    with job_context():
        return run_import(run_id, progress).status


def import_progress(run_id: int) -> dict[str, Any]:
    """What the UI shows while a run is going and after it ended."""
    run = db.session.get(ImportRun, run_id)
    if run is None:
        raise NotFound(f"导入记录 {run_id} 不存在。", f"Import run {run_id} does not exist.")
    return {"id": run.id, "kind": run.kind, "status": run.status, "dry_run": run.dry_run,
            "filename": run.filename, "progress": job_progress(run),
            "summary": (run.summary or {}).get("counts", {}), "error_count": run.error_count,
            "errors": run.errors[:50], "finished": run.finished_at is not None}


def job_progress(run: ImportRun) -> dict[str, Any] | None:
    """{phase, done, total} of a run still going in a worker (None once it ended, or when
    Redis cannot tell: the run's row still does)."""
    if not run.job_id or run.status not in ("pending", "running"):
        return None
    try:
        from rq.job import Job

        from ..queues import redis_connection

        return Job.fetch(run.job_id, connection=redis_connection()).get_meta(
            refresh=True).get("progress")
    except Exception:  # noqa: BLE001  Redis down or the job expired
        return None


def error_report(run_id: int) -> bytes:
    """The full error report of a refused run (CSV, UTF-8 with BOM)."""
    from .. import storage

    run = db.session.get(ImportRun, run_id)
    if run is None:
        raise NotFound(f"导入记录 {run_id} 不存在。", f"Import run {run_id} does not exist.")
    path = (run.summary or {}).get("report_path")
    if path and storage.exists(path):
        return storage.read(path)
    from .tables import RowError

    return error_report_csv([RowError(**e) for e in run.errors])
