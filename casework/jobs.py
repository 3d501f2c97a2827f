"""RQ entry points: ids and plain values in, a fresh app context per job, services do the work."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from flask import Flask
from sqlalchemy.orm import configure_mappers

_app: Flask | None = None


def use_app(app: Flask) -> None:
    """Let a worker process that already built the app share it with its jobs.

    The worker forks a work horse per job, so what is done here is done once. The mappers
    are configured here (otherwise every job configures all of them again: ~40 ms). Then
    what exists (modules, the app, the mappers: ~170,000 objects, none of them garbage) is
    moved out of the cyclic garbage collector's reach: otherwise the first full collection
    in each work horse walks them all, touching (and so copying) their pages: ~100 ms a job.
    """
    global _app
    _app = app
    configure_mappers()
    gc.collect()
    gc.freeze()


@contextmanager
def job_context() -> Iterator[Flask]:
    """The app is built once per process; each job gets its own app context and session."""
    global _app
    if _app is None:
        from . import create_app

        _app = create_app()
    with _app.app_context():
        try:
            yield _app
        finally:
            from .extensions import db

            db.session.remove()


def _when(now_iso: str | None) -> datetime:
    return datetime.fromisoformat(now_iso) if now_iso else datetime.now(UTC)


def run_timers_here(ids: list[int], now: datetime) -> dict[str, int]:
    from .services.timers import run_batch, run_timer

    outcome = run_batch(ids, now)
    if outcome is not None:
        return outcome
    outcome = {}
    for timer_id in ids:
        result = run_timer(timer_id, now).split(":")[0]
        outcome[result] = outcome.get(result, 0) + 1
    return outcome


def run_timers(ids: list[int], now_iso: str | None = None) -> dict[str, int]:
    """Fire a batch of due timers: together in one transaction, or one by one if that fails."""
    with job_context():
        return run_timers_here(ids, _when(now_iso))


def send_messages_here(ids: list[int], now: datetime) -> dict[str, int]:
    from .services.messages import send_one
    from .services.uow import transaction

    outcome: dict[str, int] = {}
    for message_id in ids:
        try:
            with transaction():
                result = send_one(message_id, now)
        except Exception as exc:  # noqa: BLE001  one bad message must not stop the rest
            result = f"failed {exc.__class__.__name__}"
        key = result.split(" ")[0]
        outcome[key] = outcome.get(key, 0) + 1
    return outcome


def send_messages(ids: list[int], now_iso: str | None = None) -> dict[str, int]:
    """Send queued messages that the contact rules allow now; defer the rest."""
    with job_context():
        return send_messages_here(ids, _when(now_iso))


def sweep_job(now_iso: str | None = None) -> dict[str, int]:
    """The sweep as a job, so the scheduler of any worker can run it every minute."""
    from .queues import get_queue
    from .sweep import sweep

    with job_context():
        result = sweep(_when(now_iso), queue=get_queue("dunning"))
        return {"timers": result.timers, "messages": result.messages}


def render_document_here(document_id: int) -> str:
    from .letters import render_stored

    return render_stored(document_id)


def render_document(document_id: int) -> str:
    """Render one letter into the document store (idempotent: a rendered one is left alone)."""
    with job_context():
        return render_document_here(document_id)


def render_documents(document_ids: list[int]) -> dict[str, int]:
    """Render a batch of letters handed over by the sweep (each idempotent, one failure does
    not stop the rest); their PDFs in one LibreOffice run."""
    from .letters import render_many

    with job_context():
        return render_many(document_ids)


def render_batch(document_ids: list[int] | None = None, *, building_id: int | None = None,
                 case_ids: list[int] | None = None, kind: str = "payment_demand",
                 batch_id: int | None = None) -> dict:
    """Render a building's (or a set of cases') letters into one zip, reporting progress in
    job.meta["progress"] = {"done", "total", "failed"}; one failed case does not stop the rest."""
    from .letters import run_batch

    with job_context():
        return run_batch(document_ids, building_id=building_id, case_ids=case_ids, kind=kind,
                         batch_id=batch_id)
