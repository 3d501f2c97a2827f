"""CSRF, escaping, sign-in throttling, cookies and security headers of the staff UI."""

from __future__ import annotations

import re
from datetime import timedelta

from casework import create_app, services
from casework.extensions import db
from casework.models import ContactAttempt
from casework.services import admin as admin_service
from tests.conftest import NOW
from tests.factories import case_events, debtor, monthly_lines, unit, walk

HOSTILE = "<script>alert(1)</script>"


def token_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_forms_without_a_csrf_token_are_refused(web, client, estate):
    web.config["WTF_CSRF_ENABLED"] = True
    refused = client.post("/login", data={"username": "col", "password": "secret-col"})
    assert refused.status_code == 400 and "表单已失效" in refused.get_data(as_text=True)
    token = token_of(client.get("/login").get_data(as_text=True))
    ok = client.post("/login", data={"username": "col", "password": "secret-col",
                                     "csrf_token": token})
    assert ok.status_code == 302
    page = client.get(f"/cases/{estate.case.id}").get_data(as_text=True)
    form = {"channel": "visit", "outcome": "reached", "person_reached": "debtor",
            "version": str(estate.case.version), "notes": "上门"}
    assert client.post(f"/cases/{estate.case.id}/contacts", data=form).status_code == 400
    assert client.post(f"/cases/{estate.case.id}/contacts",
                       data={**form, "csrf_token": "forged"}).status_code == 400
    assert db.session.scalar(db.select(db.func.count(ContactAttempt.id))) == 0
    sent = client.post(f"/cases/{estate.case.id}/contacts",
                       data={**form, "csrf_token": token_of(page)})
    assert sent.status_code == 302
    assert db.session.scalar(db.select(db.func.count(ContactAttempt.id))) == 1
    htmx = client.post(f"/cases/{estate.case.id}/phone", headers={"HX-Request": "true"})
    assert htmx.status_code == 400  # htmx requests carry the token in X-CSRFToken
    htmx = client.post(f"/cases/{estate.case.id}/phone",
                       headers={"HX-Request": "true", "X-CSRFToken": token_of(page)})
    assert htmx.status_code == 200 and "13800138000" in htmx.get_data(as_text=True)


def test_a_hostile_debtor_name_is_escaped_in_the_queue_the_case_and_the_trace(
        web, client, login, estate):
    u = unit(estate.community, building="9栋", number="901")
    d = debtor(name=HOSTILE, phone="13912345678")
    ids = monthly_lines(u, d)
    db.session.commit()
    case = services.open_case(d.id, estate.community.id, ids, estate.supervisor,
                              assignee_id=estate.collector.id, now=NOW)
    services.add_task(case, "call", HOSTILE, NOW, assignee_id=estate.collector.id)
    db.session.commit()
    services.record_contact(case.id, estate.collector, channel="phone", outcome="reached",
                            notes=HOSTILE, reason_class="excuse", reason_sub="hardship",
                            now=NOW)
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    login(estate.collector)
    for url in ("/queue", f"/cases/{case.id}"):
        body = client.get(url).get_data(as_text=True)
        assert HOSTILE not in body and escaped in body, url
    login(estate.auditor)
    for url in (f"/audit/cases/{case.id}", f"/audit?q={case.number}"):
        body = client.get(url).get_data(as_text=True)
        assert HOSTILE not in body and escaped in body, url
    login(estate.supervisor)
    for url in ("/team/assign", "/team/daily?day=2026-11-23"):
        body = client.get(url).get_data(as_text=True)
        assert HOSTILE not in body and escaped in body, url


def test_a_csv_cell_that_looks_like_a_formula_is_defused(web, client, login, estate):
    estate.debtor.name = "=HYPERLINK(\"http://evil\")"
    db.session.commit()
    services.fire_event(estate.case.id, "withdraw", estate.supervisor,
                        {"reason": "=1+1 wrong debtor"}, now=NOW)
    login(estate.auditor)
    csv = client.get(f"/audit/cases/{estate.case.id}/trace.csv").get_data(as_text=True)
    assert "\n=" not in csv and ",=" not in csv


def test_five_failed_sign_ins_lock_that_user_name_from_that_address(web, client, estate):
    for _ in range(5):
        r = client.post("/login", data={"username": "col", "password": "wrong"},
                        environ_base={"REMOTE_ADDR": "10.0.0.7"})
        assert r.status_code == 401
    locked = client.post("/login", data={"username": "col", "password": "secret-col"},
                         environ_base={"REMOTE_ADDR": "10.0.0.7"})
    assert locked.status_code == 429 and "分钟后再试" in locked.get_data(as_text=True)
    elsewhere = client.post("/login", data={"username": "col", "password": "secret-col"},
                            environ_base={"REMOTE_ADDR": "10.0.0.8"})
    assert elsewhere.status_code == 302
    other_user = client.post("/login", data={"username": "sup", "password": "secret-sup"},
                             environ_base={"REMOTE_ADDR": "10.0.0.7"})
    assert other_user.status_code == 302  # (the earlier session is simply replaced)


def test_the_lock_lifts_after_the_window(web, client, estate, monkeypatch):
    from casework.models import LoginAttempt

    for _ in range(5):
        client.post("/login", data={"username": "col", "password": "wrong"})
    for row in db.session.scalars(db.select(LoginAttempt)):
        row.at = row.at - timedelta(minutes=16)
    db.session.commit()
    assert client.post("/login", data={"username": "col",
                                       "password": "secret-col"}).status_code == 302


def test_a_sign_in_only_follows_a_local_next(web, client, estate):
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil"):
        r = client.post("/login", data={"username": "col", "password": "secret-col",
                                        "next": target})
        assert r.location == "/queue", target
        client.post("/logout")
    r = client.post("/login", data={"username": "col", "password": "secret-col",
                                    "next": f"/cases/{estate.case.id}"})
    assert r.location == f"/cases/{estate.case.id}"


def test_pages_carry_the_security_headers(web, client, login, estate):
    login(estate.collector)
    response = client.get(f"/cases/{estate.case.id}")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "http" not in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_data(as_text=True)
    assert "<script>" not in body and " onclick=" not in body and "style=" not in body
    assert re.findall(r'<script src="([^"]+)"', body) == ["/static/htmx.min.js",
                                                          "/static/app.js"]


def test_the_session_cookie_is_http_only_lax_and_secure_outside_tests(web, client, estate,
                                                                      tmp_path):
    r = client.post("/login", data={"username": "col", "password": "secret-col"})
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    production = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/p.sqlite3"})
    assert production.config["SESSION_COOKIE_SECURE"] is True
    assert production.config["REMEMBER_COOKIE_SECURE"] is True


def test_a_new_password_ends_the_old_sessions(web, client, login, estate):
    login(estate.collector)
    assert client.get("/queue").status_code == 200
    admin_service.reset_password(estate.collector.id, "a-new-long-password", estate.admin)
    assert client.get("/queue").status_code == 302


def test_the_contact_form_refuses_a_stale_version_with_a_reload_link(web, client, login, estate):
    login(estate.collector)
    stale = estate.case.version
    walk(estate, estate.case.id, "first_reminder", NOW)
    r = client.post(f"/cases/{estate.case.id}/contacts", data={
        "channel": "visit", "outcome": "reached", "version": str(stale),
        "seq": str(estate.case.event_seq - 1)})
    body = r.get_data(as_text=True)
    assert r.status_code == 409 and "刷新页面" in body
    assert case_events(estate.case.id, "contact") == []
