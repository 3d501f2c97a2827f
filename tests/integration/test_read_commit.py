"""casework.readonly: a request whose transaction only read ends with COMMIT (so psycopg keeps
the statements it prepared); any request that wrote, failed or left a change unflushed is
rolled back, as before. Each request here has its own app context, as under gunicorn."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from casework.extensions import db
from casework.models import Community
from casework.readonly import may_write
from tests.conftest import BACKEND, make_app


@pytest.mark.parametrize("statement", [
    "SELECT community.id FROM community WHERE community.id = %(id)s",
    "  select 1",
    "WITH open_task AS (SELECT task.id FROM task) SELECT count(*) FROM open_task",
    "SELECT task.updated_at, task.deleted_flag FROM task",  # words inside names do not count
])
def test_reads(statement):
    assert not may_write(statement)


@pytest.mark.parametrize("statement", [
    "INSERT INTO community (code) VALUES (%(code)s)",
    "update task set status = 'done'",
    "DELETE FROM task",
    "WITH gone AS (DELETE FROM task RETURNING id) SELECT count(*) FROM gone",
    "SELECT dunning_case.id FROM dunning_case WHERE dunning_case.id = 1 FOR UPDATE",
    "SELECT nextval('task_id_seq')",
    "SELECT pg_advisory_xact_lock(1)",
    "SELECT pg_notify('c', 'x')",
    "SET session_replication_role = replica",
    "TRUNCATE task",
    "CREATE TABLE t (id int)",
    "PRAGMA foreign_keys=ON",
    "SELECT community.id INTO copied FROM community",
])
def test_writes(statement):
    assert may_write(statement)


def _count(app) -> int:
    with app.app_context():
        n = db.session.scalar(sa.select(sa.func.count()).select_from(Community))
        db.session.remove()
        return n


def _new_community(code: str) -> Community:
    return Community(code=code, name=f"小区{code}", address="", city="", company_name="")


@pytest.fixture
def served(request, tmp_path, sqlite_template):
    """An app with a few routes of its own, each request in its own app context; it records
    how every transaction ended."""
    backend = "postgresql" if request.node.get_closest_marker("postgres") else BACKEND
    app = make_app(backend, tmp_path, sqlite_template)
    ended: list[str] = []

    @app.get("/t/read")
    def read():
        return str(db.session.scalar(sa.select(sa.func.count()).select_from(Community)))

    @app.get("/t/flushed")
    def flushed():
        db.session.add(_new_community("F1"))
        db.session.flush()
        return "flushed, not committed"

    @app.get("/t/raw")
    def raw():
        db.session.execute(sa.select(Community.id)).all()
        db.session.connection().execute(sa.insert(Community).values(
            code="R1", name="小区R1", address="", city="", company_name=""))
        return "written through the connection, not committed"

    @app.get("/t/pending")
    def pending():
        db.session.execute(sa.select(Community.id)).all()
        db.session.add(_new_community("P1"))  # not flushed: a commit would write it
        return "pending"

    @app.get("/t/failed")
    def failed():
        try:
            db.session.execute(sa.text("SELECT no_such_column FROM community")).all()
        except sa.exc.DBAPIError:
            pass
        return "a failed statement, caught"

    @app.get("/t/boom")
    def boom():
        db.session.execute(sa.select(Community.id)).all()
        raise RuntimeError("boom")

    @app.get("/t/prepared")
    def prepared():
        return str(db.session.scalar(sa.text("SELECT count(*) FROM pg_prepared_statements")))

    with app.app_context():
        sa.event.listen(db.engine, "commit", lambda conn: ended.append("commit"))
        sa.event.listen(db.engine, "rollback", lambda conn: ended.append("rollback"))
    yield app, ended
    with app.app_context():
        db.engine.dispose()


def test_a_request_that_only_read_commits(served):
    app, ended = served
    assert app.test_client().get("/t/read").status_code == 200
    assert ended == ["commit"]


@pytest.mark.parametrize("path", ["/t/flushed", "/t/raw", "/t/pending", "/t/failed"])
def test_a_request_that_wrote_or_failed_is_rolled_back(served, path):
    app, ended = served
    before = _count(app)
    ended.clear()
    assert app.test_client().get(path).status_code == 200
    assert ended == ["rollback"]
    assert _count(app) == before  # nothing it wrote or left pending was kept


def test_a_request_that_raised_is_rolled_back(served):
    app, ended = served
    app.config["PROPAGATE_EXCEPTIONS"] = False
    assert app.test_client().get("/t/boom").status_code == 500
    assert ended == ["rollback"]


def test_a_commit_of_its_own_is_kept_and_the_rest_read(served):
    """A view that commits and then reads ends the read part with a commit too."""
    app, ended = served

    @app.get("/t/commit-then-read")
    def commit_then_read():
        db.session.add(_new_community("C1"))
        db.session.commit()
        return str(len(db.session.execute(sa.select(Community.id)).all()))

    before = _count(app)
    ended.clear()
    assert app.test_client().get("/t/commit-then-read").status_code == 200
    assert ended == ["commit", "commit"]
    assert _count(app) == before + 1


@pytest.mark.postgres
def test_postgres_keeps_the_prepared_statements_between_requests(served):
    """psycopg prepares a statement on its fifth run on a connection and forgets them all on
    a rollback; ending read-only requests with a commit lets them live on."""
    app, _ended = served
    client = app.test_client()
    for _ in range(6):
        client.get("/t/read")
    assert int(client.get("/t/prepared").get_data(as_text=True)) >= 1
    client.get("/t/flushed")  # a rollback: psycopg deallocates them
    assert int(client.get("/t/prepared").get_data(as_text=True)) == 0


def test_a_write_behind_an_open_savepoint_is_rolled_back(served):
    """A savepoint begun after a write (ORM or Core) and left open does not hide the write."""
    app, ended = served

    @app.get("/t/savepoint")
    def savepoint():
        db.session.add(_new_community("S1"))
        db.session.connection().execute(sa.insert(Community).values(
            code="S2", name="小区S2", address="", city="", company_name=""))
        db.session.begin_nested()  # flushes S1
        db.session.execute(sa.select(Community.id)).all()
        return "a savepoint left open"

    before = _count(app)
    ended.clear()
    assert app.test_client().get("/t/savepoint").status_code == 200
    assert ended == ["rollback"]
    assert _count(app) == before


def test_a_lost_connection_is_rolled_back_and_the_page_still_sent(served):
    """The commit is never tried on an invalidated connection, and a failing one is logged,
    not raised: the session is removed either way."""
    app, _ended = served
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.errorhandler(sa.exc.OperationalError)
    def database_down(_exc):
        return "database down", 503

    @app.get("/t/lost")
    def lost():
        db.session.execute(sa.select(Community.id)).all()
        db.session.connection().invalidate()  # as a dropped connection is
        raise sa.exc.OperationalError("SELECT 1", {}, Exception("server closed the connection"))

    client = app.test_client()
    assert client.get("/t/lost").status_code == 503
    assert client.get("/t/read").status_code == 200  # the next request has a sound session


def test_objects_read_in_a_context_keep_their_values_after_it(served):
    """The read-only commit does not expire what was loaded (scripts use it afterwards)."""
    app, _ended = served
    with app.app_context():
        db.session.add(_new_community("K1"))
        db.session.commit()
    with app.app_context():
        community = db.session.scalar(sa.select(Community).where(Community.code == "K1"))
    assert community.code == "K1"
