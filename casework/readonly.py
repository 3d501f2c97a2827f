"""A request whose transaction only read ends it with COMMIT, not ROLLBACK.

For a transaction that wrote nothing the two are the same to the database, but not to psycopg:
on every ROLLBACK it forgets the statements it has prepared on that connection (PostgreSQL
keeps them; psycopg drops its cache in case the rollback undid a table they use). Ending each
request with a rollback (Flask-SQLAlchemy closes the session) meant that PostgreSQL parsed and
planned every statement of every page anew; the queue page's one large statement alone cost
3 ms more a view that way.

A transaction counts as read-only when every statement it ran began with SELECT or WITH and
named no statement or function that changes anything (_WRITES), none failed, its connection is
sound, and the session holds no unflushed change; code that writes on the driver's own cursor
(COPY) says so with note_write(). Anything else, and any request that ended in an exception, is
rolled back as before: a mistaken "wrote" costs only the prepared statements. The commit keeps
the loaded objects as they are (no expiry), and a failing commit is logged, never raised: the
page has been sent, and Flask-SQLAlchemy still removes the session (a rollback).
"""

from __future__ import annotations

import re
from functools import lru_cache

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from .extensions import db

_WROTE = "casework_wrote"  # in Connection.info: set by any statement that may have written
_CONNECTIONS = "casework_connections"  # in Session.info: its transaction's connections
_READS = re.compile(r"\s*(SELECT|WITH)\b", re.IGNORECASE)
_WRITES = re.compile(r"\b(INSERT|UPDATE|DELETE|MERGE|TRUNCATE|CREATE|ALTER|DROP|COPY|CALL|LOCK"
                     r"|NOTIFY|NEXTVAL|SETVAL|SET_CONFIG|INTO)\b|PG_NOTIFY|ADVISORY",
                     re.IGNORECASE)


@lru_cache(maxsize=2048)  # the app's statements are few and built once: read each once
def may_write(statement: str) -> bool:
    """Whether the statement could change anything (SELECT ... FOR UPDATE counts: it locks)."""
    return _READS.match(statement) is None or _WRITES.search(statement) is not None


def note_write(connection) -> None:
    """For writes made on the driver's own cursor (COPY), which the engine's events miss."""
    connection.info[_WROTE] = True


@event.listens_for(Engine, "before_cursor_execute")
def _note_writes(conn, _cursor, statement, _parameters, _context, _executemany) -> None:
    if not conn.info.get(_WROTE) and may_write(statement):
        conn.info[_WROTE] = True


@event.listens_for(Engine, "handle_error")
def _note_failure(context) -> None:
    if context.connection is not None:
        note_write(context.connection)  # a failed statement: roll back, as ever


@event.listens_for(Session, "after_begin")
def _track(session, transaction, connection) -> None:
    if transaction.nested:  # a SAVEPOINT on a connection the outer transaction tracks already
        return
    connection.info[_WROTE] = False
    session.info.setdefault(_CONNECTIONS, []).append(connection)


@event.listens_for(Session, "after_transaction_end")
def _untrack(session, transaction) -> None:
    if transaction.parent is None:  # the outermost transaction: its connections are returned
        session.info.pop(_CONNECTIONS, None)


def only_read(session: Session) -> bool:
    """Whether the session's open transaction has run statements and none may have written."""
    transaction = session.get_transaction()
    connections = session.info.get(_CONNECTIONS)
    return bool(transaction is not None and transaction.is_active and connections
                and not (session.new or session.dirty or session.deleted)
                and not any(conn.invalidated or conn.closed or conn.info.get(_WROTE, True)
                            for conn in connections))


def init_app(app: Flask) -> None:
    """Registered after Flask-SQLAlchemy, so it runs first: before the session is removed."""

    @app.teardown_appcontext
    def _commit_reads(exc: BaseException | None) -> None:
        if exc is None and db.session.registry.has():
            session = db.session()
            try:
                if only_read(session):
                    expire, session.expire_on_commit = session.expire_on_commit, False
                    try:
                        session.commit()
                    finally:
                        session.expire_on_commit = expire
            except Exception:  # noqa: BLE001  the page is sent: never skip session.remove()
                app.logger.warning("commit of a read-only request failed", exc_info=True)
