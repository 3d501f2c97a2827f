"""One transaction per use case: commit on success, roll back on any error, then run hooks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm.exc import StaleDataError

from ..extensions import db
from .errors import Conflict

_after_commit: list[Callable[[], None]] = []

CONFLICT_ZH = "该案件刚刚被其他人修改过，您的操作没有保存。请刷新页面后重试。"
CONFLICT_EN = "Someone else changed this case a moment ago; nothing was saved. Reload and retry."


def after_commit(hook: Callable[[], None]) -> None:
    """Run `hook` once the current use case has committed (e.g. enqueue a job)."""
    _after_commit.append(hook)


@contextmanager
def transaction() -> Iterator[None]:
    """The unit of work: everything inside commits together or not at all."""
    from .schedule import drop_requested, run_requested

    _after_commit.clear()
    drop_requested()
    try:
        yield
        run_requested()
        db.session.commit()
    except StaleDataError as exc:
        db.session.rollback()
        raise Conflict(CONFLICT_ZH, CONFLICT_EN) from exc
    except IntegrityError as exc:
        db.session.rollback()
        if "uq_case_event_case_id" in str(exc.orig) or "case_event" in str(exc.orig):
            raise Conflict(CONFLICT_ZH, CONFLICT_EN) from exc
        raise
    except OperationalError as exc:
        db.session.rollback()
        if "could not serialize" in str(exc.orig) or "deadlock" in str(exc.orig):
            raise Conflict(CONFLICT_ZH, CONFLICT_EN) from exc
        raise
    except BaseException:
        db.session.rollback()
        drop_requested()
        raise
    hooks = list(_after_commit)
    _after_commit.clear()
    for hook in hooks:
        hook()
