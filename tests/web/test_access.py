"""Who may open what: every route of the staff UI for every role and for an anonymous visitor.

EXPECTED is the access contract written out by hand; the test fails when a route is added
without an entry here, when a view declares other roles, and when a request gets through (or
is stopped) against the contract.
"""

from __future__ import annotations

import re

import pytest

from casework import services
from casework.extensions import db
from casework.models import DocumentBatch
from casework.web.access import allowed_roles
from tests.conftest import NOW
from tests.factories import fresh_case, make_estate, two_contacts, walk

ROLES = ("collector", "supervisor", "legal", "auditor", "admin")
ALL = frozenset(ROLES)
ACTING = frozenset({"collector", "supervisor", "legal"})
SUP = frozenset({"supervisor"})
LEGAL = frozenset({"legal"})
AUDIT = frozenset({"auditor"})
ADMIN = frozenset({"admin"})

EXPECTED: dict[str, frozenset[str]] = {
    "web.index": ALL, "web.logout": ALL,
    "web.queue": ACTING, "web.claim_task": ACTING, "web.complete_task": ACTING,
    "web.case_detail": ALL, "web.add_contact": ACTING, "web.add_payment": ACTING,
    "web.fire": ACTING, "web.show_phone": ACTING, "web.assign_case": SUP,
    "web.waive_late_fee": SUP,
    "web.download": ACTING, "web.dispatch": ACTING, "web.retry_document": ACTING,
    "web.legal_review": LEGAL, "web.litigation": LEGAL | SUP, "web.update_litigation": LEGAL,
    "web.board": SUP, "web.set_targets": SUP, "web.bulk_assign": SUP, "web.daily": SUP,
    "web.start_batch": SUP, "web.batch": SUP | LEGAL, "web.batch_progress_fragment": SUP | LEGAL,
    "web.batch_download": SUP | LEGAL,
    "web.audit_search": AUDIT, "web.audit_chain": AUDIT, "web.audit_trace": AUDIT,
    "web.audit_trace_csv": AUDIT, "web.export": AUDIT | SUP,
    "web.admin_users": ADMIN, "web.admin_create_user": ADMIN, "web.admin_update_user": ADMIN,
    "web.admin_communities": ADMIN, "web.admin_create_community": ADMIN,
    "web.admin_add_building": ADMIN, "web.admin_policy": ADMIN, "web.admin_templates": ADMIN,
    "web.submit_review": frozenset({"collector", "supervisor"}), "web.confirm_review": SUP,
    "web.return_review": SUP, "web.reviews_to_confirm": SUP,
    "web.reports_index": SUP | AUDIT | ADMIN, "web.report": SUP | AUDIT | ADMIN,
    "web.report_export": SUP | AUDIT | ADMIN,
}
PUBLIC = {"web.login", "web.set_language"}


def web_rules(app):
    return [r for r in app.url_map.iter_rules() if r.endpoint.startswith("web.")]


def test_every_route_is_in_the_access_contract_and_declares_its_roles(app):
    endpoints = {r.endpoint for r in web_rules(app)}
    assert endpoints - PUBLIC == set(EXPECTED), "a route without an access decision"
    for endpoint, roles in EXPECTED.items():
        assert allowed_roles(app.view_functions[endpoint]) == roles, endpoint


def _world(now):
    """An estate with a document, a task, a batch: every id a route can name exists."""
    estate = make_estate(now)
    walk(estate, estate.case.id, "formal_demand", now)
    task = services.add_task(estate.case, "call", "回访", now, assignee_id=estate.collector.id)
    batch = DocumentBatch(job_id="batch-x", kind="payment_demand", case_ids=[estate.case.id])
    db.session.add(batch)
    db.session.commit()
    from casework.models import Document

    doc = db.session.scalars(db.select(Document)).first()
    ids = {"case_id": estate.case.id, "task_id": task.id, "document_id": doc.id,
           "batch_id": batch.id, "user_id": estate.collector2.id,
           "community_id": estate.community.id, "event": "withdraw", "kind": "cases",
           "fmt": "csv", "review_id": 1, "name": "aging"}
    return estate, ids


def _url(rule, ids) -> str:
    return re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(ids[m.group(1)]), rule.rule)


def _sign_in(client, user):
    client.post("/logout")
    r = client.post("/login", data={"username": user.username,
                                    "password": "secret-" + user.username})
    assert r.status_code == 302


@pytest.mark.parametrize("endpoint", sorted(EXPECTED))
def test_each_route_lets_in_exactly_the_roles_of_the_contract(web, client, endpoint):
    estate, ids = _world(NOW)
    people = {"collector": estate.collector, "legal": estate.legal, "auditor": estate.auditor,
              "admin": estate.admin, "supervisor": estate.supervisor}  # supervisor last
    rules = [r for r in web_rules(web) if r.endpoint == endpoint]
    for rule in rules:
        url = _url(rule, ids)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            client.post("/logout")
            anonymous = client.open(url, method=method)
            assert anonymous.status_code == 302 and "/login" in anonymous.location, \
                (method, url, anonymous.status_code)
            for role, user in people.items():
                _sign_in(client, user)
                response = client.open(url, method=method, data={})
                where = (role, method, url, response.status_code)
                if role in EXPECTED[endpoint]:
                    assert response.status_code not in (403, 500), where
                    if endpoint != "web.logout":  # signing out does lead to the login page
                        assert "/login" not in (response.location or ""), where
                else:
                    assert response.status_code == 403, where


def test_a_collector_cannot_open_another_collectors_case_by_changing_the_id(web, client, estate):
    theirs, _ = fresh_case(estate, NOW, assignee=estate.collector2)
    for event in ("start_outreach", "escalate_follow_up"):  # they have a demand letter too
        services.fire_event(theirs.id, event, estate.collector2, now=NOW)
    two_contacts(theirs.id, estate.collector2, NOW)
    services.fire_event(theirs.id, "issue_demand", estate.collector2, now=NOW)
    from casework.models import Document

    doc = db.session.scalars(db.select(Document).where(Document.case_id == theirs.id)).first()
    _sign_in(client, estate.collector)
    assert client.get(f"/cases/{estate.case.id}").status_code == 200
    for method, url in (("GET", f"/cases/{theirs.id}"),
                        ("POST", f"/cases/{theirs.id}/contacts"),
                        ("POST", f"/cases/{theirs.id}/payments"),
                        ("POST", f"/cases/{theirs.id}/phone"),
                        ("POST", f"/cases/{theirs.id}/events/withdraw"),
                        ("GET", f"/documents/{doc.id}/download"),
                        ("POST", f"/documents/{doc.id}/dispatch")):
        response = client.open(url, method=method, data={"channel": "phone",
                                                          "outcome": "reached"})
        assert response.status_code == 403, (method, url)
    body = client.get("/queue").get_data(as_text=True)
    assert theirs.debtor.name not in body and theirs.number not in body
    from tests.factories import case_events  # nothing was written: only the walk's two calls

    assert [e.name for e in case_events(theirs.id, "contact")] == ["record_contact"] * 2


def test_an_inactive_account_cannot_sign_in_and_loses_its_session(web, client, estate):
    _sign_in(client, estate.collector)
    assert client.get("/queue").status_code == 200
    estate.collector.active = False
    db.session.commit()
    assert client.get("/queue").status_code == 302  # the session no longer loads the user
    r = client.post("/login", data={"username": "col", "password": "secret-col"})
    assert r.status_code == 401
