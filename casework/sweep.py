"""The sweep: claim due timers and queued messages in batches and hand them to RQ workers.

Safe on several machines at once: PostgreSQL claims rows with FOR UPDATE SKIP LOCKED, the job
ids are deterministic, and every job re-checks before it acts. Losing Redis loses nothing:
claimed rows are only marked enqueued after RQ accepted the job, and a job that never ran is
claimed again later.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from rq import Queue, Retry

from .extensions import db
from .models import Document, OutboxMessage, Timer
from .services.balances import refresh_stale
from .services.clock import local_date
from .services.timers import due_timer_ids

log = logging.getLogger("casework.sweep")
RETRY = Retry(max=3, interval=[10, 30, 60])
DOCUMENTS_PER_JOB = 25
# Due timers per job. A job pays ~70 ms of its own (the forked work horse, its connection,
# compiling its statements afresh) however many timers it runs; the batch's case locks are
# held about half a second at this size.
TIMERS_PER_JOB = 1000


def batch_job_id(prefix: str, ids: list[int]) -> str:
    """A job id that names exactly this set of rows: the same batch gets the same id (so a
    second sweep cannot queue it twice), two different batches never share one."""
    digest = hashlib.sha1(",".join(map(str, ids)).encode()).hexdigest()[:16]
    return f"{prefix}-{ids[0]}-{len(ids)}-{digest}"


@dataclass
class SweepResult:
    timers: int = 0
    messages: int = 0
    documents: int = 0
    balances: int = 0  # case_balance rows recomputed for the day (services.balances)
    jobs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _due_message_ids(now: datetime, limit: int, stale_after=timedelta(minutes=15)) -> list[int]:
    query = sa.select(OutboxMessage.id).where(
        OutboxMessage.not_before <= now, OutboxMessage.status == "queued"
    ).order_by(OutboxMessage.not_before, OutboxMessage.id).limit(limit)
    if db.engine.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(db.session.scalars(query))


def sweep(now: datetime, *, batch: int = TIMERS_PER_JOB, max_batches: int = 200, queue=None,
          inline: bool = False, documents_queue=None) -> SweepResult:
    """Claim due work in batches; enqueue one job per batch (or run it here when inline).

    Pending documents go one job each (id ``doc-<id>``) to the documents queue: by default
    the RQ queue "documents" on `queue`'s connection (a stand-in queue receives them itself).
    """
    from . import jobs

    result = SweepResult()
    for _ in range(max_batches):
        ids = due_timer_ids(now, batch)
        if not ids:
            db.session.rollback()
            break
        job_id = batch_job_id("timers", ids)
        if inline:
            db.session.rollback()
            jobs.run_timers_here(ids, now)
        else:
            try:
                queue.enqueue(jobs.run_timers, ids, now.isoformat(), job_id=job_id, retry=RETRY,
                              result_ttl=3600, failure_ttl=7 * 86400)
            except Exception as exc:  # Redis down: leave the timers pending for the next sweep
                db.session.rollback()
                log.error("could not enqueue %s: %s", job_id, exc)
                result.errors.append(f"{job_id}: {exc}")
                break
            db.session.execute(sa.update(Timer).where(Timer.id.in_(ids))
                               .values(status="enqueued", enqueued_at=now))
            db.session.commit()
        result.timers += len(ids)
        result.jobs.append(job_id)
        if len(ids) < batch:
            break
    ids = _due_message_ids(now, batch)
    if ids:
        job_id = f"{batch_job_id('messages', ids)}-{int(now.timestamp())}"
        if inline:
            db.session.rollback()
            jobs.send_messages_here(ids, now)
        else:
            try:
                queue.enqueue(jobs.send_messages, ids, now.isoformat(), job_id=job_id,
                              retry=RETRY)
            except Exception as exc:
                log.error("could not enqueue %s: %s", job_id, exc)
                result.errors.append(f"{job_id}: {exc}")
                ids = []  # handed over nothing: they stay queued for the next sweep
        result.messages = len(ids)
        if ids:
            result.jobs.append(job_id)
    db.session.rollback()
    _sweep_documents(now, batch, queue, documents_queue, inline, result, max_batches)
    try:
        result.balances = refresh_stale(local_date(now))
    except Exception as exc:  # noqa: BLE001  the queues sum the lines themselves meanwhile
        db.session.rollback()
        log.error("could not recompute case balances: %s", exc)
        result.errors.append(f"balances: {exc}")
    return result


def _documents_queue(queue, documents_queue):
    if documents_queue is not None or queue is None:
        return documents_queue
    if isinstance(queue, Queue):
        return Queue("documents", connection=queue.connection)
    return queue  # a test double stands in for every queue


def _sweep_documents(now: datetime, batch: int, queue, documents_queue, inline: bool,
                     result: SweepResult, max_batches: int = 200) -> None:
    """Letters made by the services but not (or long ago) handed to a worker: render them,
    DOCUMENTS_PER_JOB to a job (a job pays for its fork, its connection and LibreOffice once)."""
    from . import jobs
    from .letters import pending_document_ids

    target = None if inline else _documents_queue(queue, documents_queue)
    for _ in range(max_batches):
        ids = pending_document_ids(now, batch)
        if not ids:
            db.session.rollback()
            return
        if inline:
            db.session.rollback()
            for document_id in ids:
                try:
                    jobs.render_document_here(document_id)
                except Exception as exc:  # noqa: BLE001  one broken letter must not stop it
                    db.session.rollback()
                    log.exception("rendering document %s failed", document_id)
                    result.errors.append(f"doc-{document_id}: {exc}")
                result.jobs.append(f"doc-{document_id}")
            result.documents += len(ids)
            return  # one round: a letter that raised is still pending and would come again
        enqueued: list[int] = []
        for start in range(0, len(ids), DOCUMENTS_PER_JOB):
            chunk = ids[start:start + DOCUMENTS_PER_JOB]
            job_id = batch_job_id("docs", chunk)
            try:
                target.enqueue(jobs.render_documents, chunk, job_id=job_id, retry=RETRY,
                               result_ttl=3600, failure_ttl=7 * 86400, job_timeout=1800)
            except Exception as exc:  # Redis down: the rest stay pending for the next sweep
                log.error("could not enqueue %s: %s", job_id, exc)
                result.errors.append(f"{job_id}: {exc}")
                break
            enqueued += chunk
            result.jobs.append(job_id)
        if enqueued:
            db.session.execute(sa.update(Document).where(Document.id.in_(enqueued))
                               .values(enqueued_at=now))
            db.session.commit()
        else:
            db.session.rollback()
        result.documents += len(enqueued)
        if len(enqueued) < len(ids) or len(ids) < batch:
            return
