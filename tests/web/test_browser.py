"""The staff UI in a real Chromium against a real server (werkzeug in a thread, SQLite in tmp).

A collector records a contact with a promise and sees the case move to installments, and marks
a task done from the queue (the rows' buttons share one form); a legal
officer approves another user's escalation (not their own) and downloads the lawyer letter; an
auditor runs the chain check. Screenshots go to test-artifacts/ for a human to look at.

Needs the Debian `chromium` package (/usr/bin/chromium) and pip `playwright`; skipped without
them (never `playwright install`: no browser download at test time).
"""

from __future__ import annotations

import os
import shutil
import threading
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from werkzeug.serving import make_server

from casework import letters, services
from casework.extensions import db
from casework.models import Document, DunningCase, Policy
from tests.conftest import NOW
from tests.factories import LETTER_POLICY, fresh_case, make_estate, walk

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]

if os.environ.get("CI") == "true" and not (shutil.which(CHROMIUM) or os.path.exists(CHROMIUM)):
    pytest.fail(f"no Chromium at {CHROMIUM} under CI (.ci/run installs it)", pytrace=False)
playwright_api = pytest.importorskip("playwright.sync_api")
if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)



class Server:
    def __init__(self, app):
        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.thread.join(5)


@pytest.fixture
def live(app, monkeypatch):
    """The seeded app served on a free port, CSRF on, the clock frozen at NOW."""
    from tests.factories import fast_password_hashing

    fast_password_hashing(monkeypatch)
    app.config.update(FROZEN_NOW=NOW, WTF_CSRF_ENABLED=True)
    estate = make_estate(NOW)
    for policy in db.session.scalars(sa.select(Policy)):
        policy.data = {**policy.data, **LETTER_POLICY}
    db.session.commit()
    with Server(app) as server:
        yield server, estate


@pytest.fixture
def browser(request):
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield chromium
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:  # what the page showed when it failed
            for n, context in enumerate(chromium.contexts):
                for m, page in enumerate(context.pages):
                    shot(page, f"FAILED-{request.node.name}-{n}-{m}")
        chromium.close()


def state_of(case_id: int) -> str:
    db.session.expire_all()  # the server wrote in its own session
    return db.session.get(DunningCase, case_id).state


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def sign_in(browser, server, user, **context):
    page = browser.new_context(accept_downloads=True, **context).new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server.url + "/login")
    page.fill("#username", user.username)
    page.fill("#password", "secret-" + user.username)
    page.click("button[type=submit]")
    page.errors = errors
    return page


def test_a_collector_records_a_promise_and_the_case_moves_to_installments(live, browser):
    server, estate = live
    case_id = estate.case.id
    services.fire_event(case_id, "start_outreach", estate.collector, now=NOW)
    page = sign_in(browser, server, estate.collector, viewport={"width": 1280, "height": 900})
    assert page.url.endswith("/queue")
    shot(page, "collector-queue")
    page.click(f"a[href='/cases/{case_id}']")
    page.wait_for_url(f"**/cases/{case_id}")
    assert "138****8000" in page.content() and "13800138000" not in page.content()
    page.click("#debtor button:has-text('查看号码')")  # htmx: reveal (audited)
    page.wait_for_selector("#debtor .phone")
    assert page.inner_text("#debtor .phone") == "13800138000"
    page.select_option("#f-channel", "phone")
    page.select_option("#f-outcome", "promised")
    page.select_option("#f-reason_class", "excuse")
    page.select_option("#f-reason_sub", "hardship")
    page.check("input[name=techniques][value=sympathy]")
    page.check("input[name=techniques][value=sugar_coated]")
    page.fill("#f-notes", "业主称近期资金紧张，同意分两期缴清。")
    page.check("#contact input[name=with_promise]")
    page.fill("#contact input[name=inst_date_1]", "2026-12-15")
    page.fill("#contact input[name=inst_amount_1]", "805.50")
    page.fill("#contact input[name=inst_date_2]", "2027-01-15")
    page.fill("#contact input[name=inst_amount_2]", "805.50")
    page.click("#contact button[type=submit]")
    page.wait_for_selector(".flash.ok")
    assert page.get_attribute("[aria-current=step]", "data-state") == "payment_plan"
    assert "分期/承诺付款" in page.inner_text("h1")
    shot(page, "collector-case-payment-plan")
    assert state_of(case_id) == "payment_plan"

    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                storage_state=page.context.storage_state()).new_page()
    phone.goto(server.url + f"/cases/{case_id}")
    shot(phone, "collector-case-phone")
    assert not page.errors, page.errors


def test_a_legal_officer_approves_another_users_escalation_and_downloads_the_letter(
        live, browser):
    server, estate = live
    case_id = estate.case.id
    walk(estate, case_id, "legal_review", NOW)  # the collector asked for legal action
    mine, _ = fresh_case(estate, NOW)
    walk(estate, mine.id, "formal_demand", NOW)
    services.fire_event(mine.id, "request_legal_action", estate.legal,
                        now=NOW + timedelta(days=30))
    page = sign_in(browser, server, estate.legal, viewport={"width": 1280, "height": 900})
    assert page.url.endswith("/legal/review")
    own = page.locator(f"#review-{mine.id}")
    assert own.locator("button[disabled]").count() == 1  # four-eyes: not one's own request
    shot(page, "legal-review-queue")
    page.click(f"#review-{case_id} button:has-text('批准律师函')")
    page.wait_for_selector(".flash.ok")
    assert state_of(case_id) == "lawyer_letter"

    doc = db.session.scalars(sa.select(Document).where(
        Document.case_id == case_id, Document.kind == "lawyer_letter")).one()
    assert letters.render_stored(doc.id) == "rendered"  # what the documents worker does
    page.goto(server.url + f"/cases/{case_id}")
    link = page.locator(f"tr[data-document='{doc.id}'] a.download")
    with page.expect_download() as info:
        link.click()
    download = info.value
    data = Path(download.path()).read_bytes()
    assert download.suggested_filename.endswith(".docx") and data[:2] == b"PK"
    shot(page, "legal-case-lawyer-letter")
    assert not page.errors, page.errors


def test_an_auditor_runs_the_chain_check(live, browser):
    server, estate = live
    walk(estate, estate.case.id, "formal_demand", NOW)
    page = sign_in(browser, server, estate.auditor, viewport={"width": 1280, "height": 900})
    assert page.url.endswith("/audit")
    page.click("a:has-text('校验审计链')")
    page.wait_for_selector("#chain-result")
    assert "全部审计链完好" in page.inner_text("#chain-result")
    shot(page, "auditor-chain-check")
    page.goto(server.url + f"/audit/cases/{estate.case.id}?as_of=2026-11-23")
    assert page.locator("#trace tbody tr").count() >= 5
    shot(page, "auditor-trace")
    assert not page.errors, page.errors


def test_a_collector_marks_a_task_done_from_the_queue(live, browser):
    """The rows' buttons post the one shared form (form="row-action", their own formaction):
    in a real browser the task is done, with the form's CSRF token, and the queue comes back."""
    from casework.models import Task

    server, estate = live
    task = services.add_task(estate.case, "call", "电话跟进", NOW + timedelta(hours=2),
                             assignee_id=estate.collector.id)
    db.session.commit()
    page = sign_in(browser, server, estate.collector)
    page.click(f"button[formaction='/tasks/{task.id}/done']")
    page.wait_for_selector(".flash.ok")
    assert page.url.endswith("/queue")
    assert not page.query_selector(f"button[formaction='/tasks/{task.id}/done']")
    db.session.expire_all()
    assert db.session.get(Task, task.id).status == "done"
    shot(page, "collector-queue-task-done")
    assert not page.errors, page.errors
