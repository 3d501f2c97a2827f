"""Letters through real RQ workers: PostgreSQL, Redis db 12, `rq worker --burst` subprocesses.

The services enqueue `doc-<id>` after commit, the sweep hands over what they could not, a
batch job reports its progress in job.meta and writes one zip. Redis db 12 is flushed before
and after each test (CASEWORK_TEST_DOCS_REDIS_URL overrides the URL).
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from rq import Queue
from rq.job import Job

from casework import services, storage
from casework.extensions import db
from casework.models import Building, Document, DocumentBatch, DunningCase, Unit
from casework.sweep import batch_job_id, sweep
from documents.render import docx_text, find_office
from tests.factories import debtor, two_contacts
from tests.integration.test_letters import HOSTILE_NAME, use_letter_policy
from tests.redis_db import dedicated_redis

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("CASEWORK_TEST_DOCS_REDIS_URL", "redis://127.0.0.1:6379/12")
WORKER_TIMEOUT = 180


@pytest.fixture
def redis_conn(app):
    with dedicated_redis(REDIS_URL) as conn:
        app.config["REDIS_URL"] = REDIS_URL
        yield conn


def run_worker(app, tmp_path, **extra: str) -> str:
    """One `rq worker --burst` on the documents queue, against the test database and store."""
    db.session.rollback()  # hold no locks while it works
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "RQ_"))}
    env.update(DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"], REDIS_URL=REDIS_URL,
               DOCUMENT_STORE=app.config["DOCUMENT_STORE"], PYTHONPATH=str(ROOT),
               CASEWORK_LO_PROFILE_DIR=str(tmp_path), **extra)
    proc = subprocess.run(
        [sys.executable, "-m", "rq.cli", "worker", "--burst", "--url", REDIS_URL, "documents"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=WORKER_TIMEOUT)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    db.session.expire_all()
    return output


def building_with_cases(estate, now, names: list[str]) -> tuple[Building, list[DunningCase]]:
    """One building, one unit and one debtor per name, each with a demand issued."""
    building = Building(community_id=estate.community.id, name="9栋")
    db.session.add(building)
    db.session.flush()
    cases = []
    for n, name in enumerate(names, start=1):
        u = Unit(building_id=building.id, number=f"{n:02d}01室", area=Decimal("89.50"))
        db.session.add(u)
        db.session.flush()
        d = debtor(name=name, phone=f"1360000{n:04d}")
        ids = []
        for month, amount in ((1, Decimal("0.01")), (2, Decimal("9999999.99"))):
            line = services.charge_line(u.id, d.id, f"2024年{month:02d}月", date(2024, month, 1),
                                        date(2024, month, 28), date(2024, month, 28), amount)
            db.session.flush()
            ids.append(line.id)
        db.session.commit()
        case = services.open_case(d.id, estate.community.id, ids, estate.supervisor,
                                  assignee_id=estate.collector.id, now=now)
        services.fire_event(case.id, "start_outreach", estate.collector, now=now)
        services.fire_event(case.id, "escalate_follow_up", estate.collector, now=now)
        two_contacts(case.id, estate.collector, now)
        services.fire_event(case.id, "issue_demand", estate.collector, now=now)
        cases.append(case)
    return building, cases


def test_a_batch_in_a_real_worker_reports_progress_and_a_failure_and_zips_the_rest(
        estate, now, app, runner, redis_conn, tmp_path):
    use_letter_policy(estate.community.id)
    building, cases = building_with_cases(
        estate, now, [HOSTILE_NAME, "钱未核实", "孙正常"])
    db.session.get(DunningCase, cases[1].id).debtor.identified = False  # its builder fails
    db.session.commit()

    result = runner.invoke(args=["letters", "batch", "--building", str(building.id)])
    assert result.exit_code == 0, result.output
    job_id = result.output.strip().splitlines()[-1]
    assert job_id.startswith("batch-")
    assert Queue("documents", connection=redis_conn).job_ids == [job_id]

    run_worker(app, tmp_path, CASEWORK_PDF="0")

    job = Job.fetch(job_id, connection=redis_conn)
    assert job.get_status().value == "finished"
    progress = job.get_meta()["progress"]
    assert (progress["done"], progress["total"]) == (3, 3)
    [failure] = progress["failed"]
    assert failure["case"] == cases[1].number and "欠费责任人" in failure["error"]

    batch = db.session.scalar(sa.select(DocumentBatch).where(DocumentBatch.job_id == job_id))
    assert batch.status == "done" and batch.done == 3 and len(batch.failed) == 1
    with zipfile.ZipFile(io.BytesIO(storage.read(batch.path))) as archive:
        names = archive.namelist()
        assert len(names) == 2
        texts = [docx_text(archive.read(n)) for n in names]
    assert any(HOSTILE_NAME in t for t in texts) and any("孙正常" in t for t in texts)
    assert all("¥9,999,999.99" in t and "¥0.01" in t for t in texts)
    statuses = {d.case_id: d.status for d in db.session.scalars(sa.select(Document))}
    assert statuses == {cases[0].id: "rendered", cases[1].id: "failed",
                        cases[2].id: "rendered"}

    shown = runner.invoke(args=["letters", "progress", job_id])
    assert shown.exit_code == 0, shown.output
    assert "3/3 done, 1 failed" in shown.output and cases[1].number in shown.output
    assert ".zip" in shown.output


def test_a_letter_enqueued_after_commit_is_rendered_once_by_a_worker(
        estate, now, app, redis_conn, tmp_path):
    use_letter_policy(estate.community.id)
    app.config["DOCUMENTS_ENQUEUE_ON_COMMIT"] = True
    _, [case] = building_with_cases(estate, now, [HOSTILE_NAME])
    [doc] = db.session.scalars(sa.select(Document).where(Document.case_id == case.id)).all()
    queue = Queue("documents", connection=redis_conn)
    assert queue.job_ids == [f"doc-{doc.id}"] and doc.enqueued_at is not None

    # the sweep does not hand it over again; a duplicate delivery (RQ retry) changes nothing
    assert sweep(now, queue=Queue("dunning", connection=redis_conn)).documents == 0
    from casework import jobs
    queue.enqueue(jobs.render_document, doc.id, job_id=f"doc-{doc.id}-again")

    pdf = "1" if find_office() else "0"
    run_worker(app, tmp_path, CASEWORK_PDF=pdf)
    doc = db.session.get(Document, doc.id)
    assert doc.status == "rendered" and doc.template_version == "builtin-1"
    assert Job.fetch(f"doc-{doc.id}", connection=redis_conn).return_value() == "rendered"
    assert Job.fetch(f"doc-{doc.id}-again",
                     connection=redis_conn).return_value() == "already rendered"
    folder = storage.path_of(doc.path).parent
    assert sorted(p.suffix for p in folder.iterdir()) == ([".docx", ".pdf"] if pdf == "1"
                                                          else [".docx"])
    assert HOSTILE_NAME in docx_text(storage.read(doc.path))
    if pdf == "1":  # each worker process converts with its own LibreOffice profile
        assert any(p.name.startswith("lo-profile-") for p in tmp_path.iterdir())


def test_the_sweep_hands_pending_letters_to_the_documents_queue_in_batches(
        estate, now, app, redis_conn, tmp_path):
    use_letter_policy(estate.community.id)
    _, cases = building_with_cases(estate, now, ["甲", "乙", "丙未核实"])
    db.session.get(DunningCase, cases[2].id).debtor.identified = False  # its builder fails
    db.session.commit()
    first = sweep(now, queue=Queue("dunning", connection=redis_conn))
    again = sweep(now + timedelta(minutes=1), queue=Queue("dunning", connection=redis_conn))
    assert first.documents == 3 and again.documents == 0
    ids = sorted(d.id for d in db.session.scalars(sa.select(Document)))
    job_id = batch_job_id("docs", ids)
    assert Queue("documents", connection=redis_conn).job_ids == [job_id]  # one job for all

    pdf = "1" if find_office() else "0"
    run_worker(app, tmp_path, CASEWORK_PDF=pdf)
    assert Job.fetch(job_id, connection=redis_conn).return_value() == {"rendered": 2,
                                                                      "failed": 1}
    by_case = {d.case_id: d for d in db.session.scalars(sa.select(Document))}
    assert [by_case[c.id].status for c in cases] == ["rendered", "rendered", "failed"]
    assert "欠费责任人" in by_case[cases[2].id].error
    for case in cases[:2]:  # the batch's PDFs, made in one LibreOffice run, next to each .docx
        folder = storage.path_of(by_case[case.id].path).parent
        assert sorted(p.suffix for p in folder.iterdir()) == ([".docx", ".pdf"] if pdf == "1"
                                                              else [".docx"])
