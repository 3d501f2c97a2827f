"""Imports through the API: upload a ledger or payments file, get the run (202), poll its status
and its row errors; a refused file names row and column and writes nothing."""

from __future__ import annotations

import io
import os

import pytest
import sqlalchemy as sa

from casework.extensions import db
from casework.imports import runs
from casework.models import ChargeLine, DunningCase, ImportRun, Payment
from tests.integration.test_imports import LEDGER, PAY_HEADER, counts, csv_bytes, row, xlsx_bytes

REDIS_URL = os.environ.get("CASEWORK_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")


def upload(api, kind: str, data: bytes | None, filename: str = "台账.xlsx", **form):
    fields = {"kind": kind, **form} if kind else dict(form)
    if data is not None:
        fields["file"] = (io.BytesIO(data), filename)
    return api.client.post("/api/v1/imports", data=fields, headers=api.headers(),
                           content_type="multipart/form-data")


def test_a_ledger_upload_is_imported_and_its_run_can_be_polled(api_as, estate, now):
    admin = api_as("admin")
    response = upload(admin, "ledger", xlsx_bytes(LEDGER))
    assert response.status_code == 202, response.get_json()
    run = response.get_json()
    assert response.headers["Location"] == f"/api/v1/imports/{run['id']}"
    assert (run["kind"], run["status"], run["dry_run"], run["finished"]) == (
        "ledger", "imported", False, True)
    assert run["counts"]["lines_new"] == 5 and run["counts"]["cases_opened"] == 2
    assert run["error_count"] == 0 and run["errors"] == []
    opened = db.session.scalars(sa.select(DunningCase.id).where(
        DunningCase.id != estate.case.id).order_by(DunningCase.id)).all()
    assert sorted(run["case_ids"]) == opened
    polled = admin.get(f"/imports/{run['id']}")
    assert polled.status_code == 200 and polled.get_json()["status"] == "imported"
    errors = admin.get(f"/imports/{run['id']}/errors").get_json()
    assert errors == {"id": run["id"], "status": "imported", "error_count": 0, "errors": [],
                      "truncated": False}
    again = upload(admin, "ledger", xlsx_bytes(LEDGER)).get_json()  # the same file again
    assert again["status"] == "imported" and again["counts"]["lines_unchanged"] == 5


def test_a_bad_file_is_refused_naming_row_and_column_and_nothing_is_written(api_as, estate):
    before = counts()
    supervisor = api_as("supervisor")
    bad = xlsx_bytes([row(), row(period="2024-02", due="-5"), row(period="2024-13")])
    response = upload(supervisor, "ledger", bad)
    assert response.status_code == 202
    run = response.get_json()
    assert run["status"] == "refused" and run["error_count"] == 2
    assert counts() == before
    errors = supervisor.get(f"/imports/{run['id']}/errors").get_json()
    assert [(e["row"], e["column"]) for e in errors["errors"]] == [(3, "应收"), (4, "所属期")]
    assert errors["errors"][0]["value"] == "-5" and "负数" in errors["errors"][0]["reason"]
    report = supervisor.get(f"/imports/{run['id']}/errors.csv")
    assert report.status_code == 200 and report.mimetype == "text/csv"
    text = report.data.decode("utf-8-sig")
    assert "应收" in text and "所属期" in text


def test_a_text_file_named_xlsx_and_a_dry_run_write_nothing(api_as, estate):
    before = counts()
    admin = api_as("admin")
    fake = upload(admin, "ledger", b"just some text, not a workbook\n", "ledger.xlsx").get_json()
    assert fake["status"] == "refused" and "Excel" in fake["errors"][0]["reason"]
    preview = upload(admin, "ledger", csv_bytes(LEDGER), "ledger.csv", dry_run="true")
    run = preview.get_json()
    assert preview.status_code == 202 and run["status"] == "previewed" and run["dry_run"]
    assert run["counts"]["lines_new"] == 5
    assert counts() == before


@pytest.mark.parametrize("kind, data, form, field", [
    ("ledger", None, {}, "file"),
    ("ledger", b"   \n", {}, "file"),
    ("ledger", b"x", {"dry_run": "maybe"}, "dry_run"),
    ("ledger", b"x", {"community_code": "C" * 33}, "community_code"),
    ("", b"x", {}, "kind"),
    ("accounts", b"x", {}, "kind"),
])
def test_bad_requests_name_the_field_and_record_no_run(api_as, estate, kind, data, form, field):
    response = upload(api_as("admin"), kind, data, **form)
    assert response.status_code == 422
    assert response.get_json()["field"] == field
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ImportRun)) == 0


def test_json_instead_of_a_file_names_the_file_field(api_as, estate):
    response = api_as("admin").post("/imports", {"kind": "ledger", "file": "台账.xlsx"})
    assert response.status_code == 422 and response.get_json()["field"] == "file"


def test_who_may_start_and_see_imports(api_as, client, estate):
    assert upload(api_as("collector"), "ledger", xlsx_bytes(LEDGER)).status_code == 403
    assert client.post("/api/v1/imports").status_code == 401
    run = upload(api_as("admin"), "ledger", xlsx_bytes(LEDGER)).get_json()
    assert api_as("supervisor").get(f"/imports/{run['id']}").status_code == 403  # not theirs
    assert api_as("collector").get(f"/imports/{run['id']}/errors").status_code == 403
    assert api_as("admin").get("/imports/999999").status_code == 404
    assert api_as("admin").get(f"/imports/{2**40}").status_code == 404


def test_a_payments_file_through_the_api_counts_once(api_as, estate):
    pay = csv_bytes([["API-1", estate.case.number, "", "", "", "100.00", "2026-11-20", "", ""]],
                    header=PAY_HEADER)
    admin = api_as("admin")
    first = upload(admin, "payments", pay, "缴费.csv").get_json()
    assert first["status"] == "imported", first["errors"]
    assert first["counts"]["payments_new"] == 1
    again = upload(admin, "payments", pay, "缴费.csv").get_json()
    assert again["counts"] == {**again["counts"], "payments_new": 0, "payments_known": 1}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Payment)) == 1


def test_redis_down_answers_503_and_the_run_says_why(api_as, app, estate, monkeypatch):
    monkeypatch.setattr(runs, "INLINE_LIMIT", 0)  # every file goes to a worker
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"  # nothing listens there
    response = upload(api_as("admin"), "ledger", xlsx_bytes(LEDGER))
    assert response.status_code == 503 and response.get_json()["error"] == "unavailable"
    run = db.session.scalar(sa.select(ImportRun))
    assert run.status == "failed" and "任务队列" in run.errors[0]["reason"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ChargeLine)) == 6


@pytest.mark.redis
def test_a_large_upload_runs_as_a_job_and_reports_when_done(api_as, app, estate, monkeypatch):
    from rq import Queue, SimpleWorker

    from casework import jobs
    from tests.redis_db import dedicated_redis

    monkeypatch.setattr(runs, "INLINE_LIMIT", 0)
    monkeypatch.setattr(jobs, "_app", app)
    with dedicated_redis(REDIS_URL) as conn:
        app.config["REDIS_URL"] = REDIS_URL
        admin = api_as("admin")
        response = upload(admin, "ledger", xlsx_bytes(LEDGER))
        assert response.status_code == 202
        run = response.get_json()
        assert run["status"] == "pending" and not run["finished"]
        assert counts()["charge_line"] == 6  # nothing imported yet
        queue = Queue("default", connection=conn)
        assert queue.job_ids == [f"import-{run['id']}"]
        db.session.rollback()
        SimpleWorker([queue], connection=conn).work(burst=True)
        db.session.expire_all()
        done = admin.get(f"/imports/{run['id']}").get_json()
        assert done["status"] == "imported" and done["finished"], done
        assert done["counts"]["lines_new"] == 5 and done["progress"] is None
