"""The REST API: tokens, status codes, refusals with their rule, nothing half-written."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import openpyxl
import pytest
import sqlalchemy as sa

from casework import services, storage
from casework.api import create_token, revoke_token
from casework.extensions import db
from casework.models import ApiToken, CaseEvent, ContactAttempt, Document, DunningCase, Payment
from tests import factories

from .conftest import Api


def yesterday() -> str:
    return (datetime.now(ZoneInfo("Asia/Shanghai")).date() - timedelta(days=1)).isoformat()


def count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


# --- tokens -------------------------------------------------------------------------------------


def test_missing_wrong_and_revoked_tokens_answer_401(client, estate, tokens):
    assert Api(client, None).get("/cases").status_code == 401
    response = Api(client, "cw_not-a-token").get("/cases")
    assert response.status_code == 401
    assert response.get_json()["error"] == "unauthorized"
    assert "Bearer" in response.headers["WWW-Authenticate"]
    wrong_scheme = client.get("/api/v1/cases",
                              headers={"Authorization": f"Basic {tokens['supervisor']}"})
    assert wrong_scheme.status_code == 401
    token = create_token(estate.supervisor, label="script")
    assert Api(client, token).get("/cases").status_code == 200
    row = db.session.scalar(sa.select(ApiToken).where(ApiToken.label == "script"))
    assert token not in (row.token_hash, row.prefix) and len(row.token_hash) == 64
    revoke_token(row.id, estate.supervisor)
    assert Api(client, token).get("/cases").status_code == 401


def test_a_deactivated_users_token_stops_working(client, estate, tokens):
    estate.collector.active = False
    db.session.commit()
    assert Api(client, tokens["collector"]).get("/cases").status_code == 401


def test_the_openapi_document_needs_no_token(client, app):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    doc = response.get_json()
    assert doc["openapi"].startswith("3.0")
    assert "/cases/{case_id}/events" in doc["paths"]


@pytest.mark.parametrize("url, name", [
    ("/cases?stat=paid", "stat"),  # a misspelt filter: not every case as if it had applied
    ("/tasks?mine=true&=null", ""),  # a parameter with no name
    ("/cases/1?state=paid", "state"),  # an operation that takes no query parameter
    ("/openapi.json?x=1", "x"),
])
def test_an_unknown_query_parameter_is_refused_by_name(api_as, estate, url, name):
    response = api_as("supervisor").get(url)
    assert response.status_code == 422
    body = response.get_json()
    assert body["error"] == "invalid_input" and body["field"] == name
    assert f"'{name}'" in body["message_en"] and "this operation takes" in body["message_en"]


def test_every_api_route_lists_its_query_parameters_in_the_document(app):
    """The unknown-parameter check reads the OpenAPI document: every route must be in it."""
    from casework.api import _query_parameters, _shape

    routes = {(_shape(rule.rule), method) for rule in app.url_map.iter_rules()
              if rule.rule.startswith("/api/v1/") for method in rule.methods - {"OPTIONS"}}
    assert routes == set(_query_parameters())


def test_unknown_api_urls_answer_json_404(api_as):
    response = api_as("supervisor").get("/nothing-here")
    assert response.status_code == 404 and response.get_json()["error"] == "not_found"


# --- cases --------------------------------------------------------------------------------------


def test_case_list_follows_the_access_rules_and_filters(api_as, estate):
    mine = api_as("collector").get("/cases").get_json()
    assert [c["id"] for c in mine["items"]] == [estate.case.id] and mine["total"] == 1
    assert api_as("collector2").get("/cases").get_json()["total"] == 0
    everything = api_as("supervisor").get("/cases").get_json()
    assert everything["total"] == 1
    case = everything["items"][0]
    assert case["outstanding"] == "1611.00" and case["state"] == "preparation"
    assert api_as("supervisor").get("/cases?state=paid").get_json()["total"] == 0
    supervisor = api_as("supervisor")
    assert supervisor.get(f"/cases?assignee={estate.collector.id}").get_json()["total"] == 1
    other = estate.community.id + 1
    assert supervisor.get(f"/cases?community={other}").get_json()["total"] == 0
    bad = api_as("supervisor").get("/cases?state=nonsense")
    assert bad.status_code == 422 and bad.get_json()["field"] == "state"
    bad = api_as("supervisor").get("/cases?per_page=1000")
    assert bad.status_code == 422 and bad.get_json()["field"] == "per_page"
    listed = api_as("supervisor").get("/cases?state=preparation&page=1&per_page=10")
    assert listed.status_code == 200 and listed.get_json()["total"] == 1


def test_get_case_403_404(api_as, estate):
    detail = api_as("collector").get(f"/cases/{estate.case.id}")
    assert detail.status_code == 200
    body = detail.get_json()
    assert len(body["charge_lines"]) == 6 and body["debtor"]["phone_masked"] == "138****8000"
    assert {"event": "start_outreach", "label": "开始催收"} in body["events_available"]
    assert api_as("collector2").get(f"/cases/{estate.case.id}").status_code == 403
    missing = api_as("supervisor").get("/cases/999999")
    assert missing.status_code == 404 and missing.get_json()["error"] == "not_found"


def test_open_case_from_charge_lines(api_as, estate):
    u = factories.unit(estate.community, building="9栋", number="901")
    d = factories.debtor(name="钱七", phone="13700000000")
    ids = factories.monthly_lines(u, d, months=range(1, 3))
    db.session.commit()
    assert api_as("collector").post("/cases", {"charge_line_ids": ids}).status_code == 403
    bad = api_as("supervisor").post("/cases", {"charge_line_ids": [ids[0], 987654]})
    assert bad.status_code == 422 and bad.get_json()["field"] == "charge_line_ids"
    bad = api_as("supervisor").post("/cases", {"charge_line_ids": ids,
                                               "assignee_id": estate.auditor.id})
    assert bad.status_code == 422 and bad.get_json()["field"] == "assignee_id"
    response = api_as("supervisor").post("/cases", {"charge_line_ids": ids,
                                                    "assignee_id": estate.collector2.id})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["outstanding"] == "537.00" and body["assignee_id"] == estate.collector2.id
    assert response.headers["Location"] == f"/api/v1/cases/{body['id']}"
    again = api_as("supervisor").post("/cases", {"charge_line_ids": ids})
    assert again.status_code == 422  # the lines are in a case now


# --- events -------------------------------------------------------------------------------------


def test_firing_an_event_moves_the_case(api_as, estate):
    response = api_as("collector").post(f"/cases/{estate.case.id}/events",
                                        {"event": "start_outreach",
                                         "expected_version": estate.case.version})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["state"] == "first_reminder"
    history = api_as("auditor").get(f"/cases/{estate.case.id}/history").get_json()
    assert [e["name"] for e in history["events"]][-1] == "start_outreach"
    assert history["events"][-1]["prev_hash"] == history["events"][-2]["hash"]


def test_a_guard_refusal_answers_409_with_its_rule_and_writes_nothing(api_as, estate):
    before = count(CaseEvent)
    response = api_as("collector").post(f"/cases/{estate.case.id}/events",
                                        {"event": "write_off", "params": {"reason": "无力支付"}})
    assert response.status_code == 409
    body = response.get_json()
    assert body["error"] == "guard_failed" and body["rule"] == "approver_role"
    assert "核销" in body["message"] and body["message_en"]
    assert count(CaseEvent) == before
    assert db.session.get(DunningCase, estate.case.id).state == "preparation"


def test_a_transition_not_in_the_stage_answers_409_transition_not_allowed(api_as, estate):
    response = api_as("legal").post(f"/cases/{estate.case.id}/events",
                                    {"event": "approve_lawyer_letter"})
    assert response.status_code == 409
    body = response.get_json()
    assert body["error"] == "transition_not_allowed" and body["rule"] == "transition_not_allowed"


def test_a_stale_version_answers_409_conflict(api_as, estate):
    response = api_as("collector").post(f"/cases/{estate.case.id}/events",
                                        {"event": "start_outreach", "expected_version": 999})
    assert response.status_code == 409 and response.get_json()["error"] == "conflict"


def test_bad_event_input_400_422_403_404(api_as, estate):
    url = f"/cases/{estate.case.id}/events"
    collector = api_as("collector")
    malformed = collector.post(url, data="{not json")
    assert malformed.status_code == 400 and malformed.get_json()["error"] == "bad_request"
    assert collector.post(url, data="").status_code == 400
    for payload, field in (([1, 2], "body"), ({}, "event"), ({"event": "fly"}, "event"),
                           ({"event": "withdraw", "params": []}, "params"),
                           ({"event": "withdraw", "params": {"reason": 5}}, "reason"),
                           ({"event": "record_delivery", "params": {"delivered_on": "31/01/2026"}},
                            "delivered_on"),
                           ({"event": "promise_payment",
                             "params": {"installments": [{"due_date": "2026-12-01",
                                                          "amount": "-5"}]}}, "amount"),
                           ({"event": "start_outreach", "expected_version": "1"},
                            "expected_version")):
        response = collector.post(url, payload)
        assert response.status_code == 422, (payload, response.get_json())
        assert response.get_json() == {**response.get_json(), "error": "invalid_input",
                                       "field": field}
    assert api_as("auditor").post(url, {"event": "start_outreach"}).status_code == 403
    assert api_as("collector2").post(url, {"event": "start_outreach"}).status_code == 403
    assert collector.post("/cases/424242/events", {"event": "start_outreach"}).status_code == 404


# --- contacts -----------------------------------------------------------------------------------


def test_record_a_contact(api_as, estate):
    url = f"/cases/{estate.case.id}/contacts"
    before = count(ContactAttempt)
    response = api_as("collector").post(url, {"channel": "letter", "outcome": "sent",
                                              "person_reached": "none", "notes": "寄出对账单"})
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["channel"] == "letter"
    assert count(ContactAttempt) == before + 1
    bad = api_as("collector").post(url, {"channel": "pigeon", "outcome": "sent"})
    assert bad.status_code == 422 and bad.get_json()["field"] == "channel"
    bad = api_as("collector").post(url, {"channel": "letter", "outcome": "sent",
                                         "at": "2026-01-01T10:00:00"})
    assert bad.status_code == 422 and bad.get_json()["field"] == "at"
    needs_note = api_as("collector").post(url, {"channel": "letter", "outcome": "sent",
                                                "reason_class": "excuse",
                                                "reason_sub": "hardship"})
    assert needs_note.status_code == 422 and needs_note.get_json()["field"] == "notes"
    assert count(ContactAttempt) == before + 1
    assert api_as("auditor").post(url, {"channel": "letter", "outcome": "sent"}).status_code == 403


# --- payments -----------------------------------------------------------------------------------


def test_a_payment_webhook_delivered_twice_counts_once(api_as, estate):
    payload = {"external_id": "WX-20261122-0001", "case_id": estate.case.id, "amount": "268.50",
               "paid_on": yesterday(), "channel": "wechat"}
    first = api_as("collector").post("/payments", payload)
    assert first.status_code == 201, first.get_json()
    assert first.get_json()["replayed"] is False
    assert first.get_json()["allocations"] == [{"charge_line_id": estate.line_ids[0],
                                                "amount": "268.50"}]
    second = api_as("collector").post("/payments", payload)
    assert second.status_code == 200 and second.get_json()["replayed"] is True
    assert second.get_json()["id"] == first.get_json()["id"]
    assert count(Payment) == 1
    case = api_as("collector").get(f"/cases/{estate.case.id}").get_json()
    assert case["outstanding"] == "1342.50"
    clash = api_as("collector").post("/payments", {**payload, "amount": "1.00"})
    assert clash.status_code == 422 and clash.get_json()["field"] == "external_id"
    assert count(Payment) == 1


def test_payment_input_errors_name_the_field(api_as, estate):
    base = {"external_id": "X1", "case_id": estate.case.id, "amount": "10.00",
            "paid_on": yesterday()}
    for change, field in (({"amount": "10.001"}, "amount"), ({"amount": "-3"}, "amount"),
                          ({"amount": "abc"}, "amount"), ({"paid_on": "2026/01/01"}, "paid_on"),
                          ({"paid_on": "2999-01-01"}, "paid_on"), ({"amount": "0"}, "amount"),
                          ({"external_id": None}, "external_id"), ({"case_id": None}, "case_id")):
        response = api_as("collector").post("/payments", {**base, **change})
        assert response.status_code == 422, (change, response.get_json())
        assert response.get_json()["field"] == field
    assert api_as("collector").post("/payments", {**base, "case_id": 777777}).status_code == 404
    assert api_as("collector2").post("/payments", base).status_code == 403
    assert count(Payment) == 0


def test_a_json_number_amount_is_read_exactly(api_as, estate):
    response = api_as("collector").post("/payments", data=(
        f'{{"external_id": "N1", "case_id": {estate.case.id}, "amount": 0.1, '
        f'"paid_on": "{yesterday()}"}}'))
    assert response.status_code == 201 and response.get_json()["amount"] == "0.10"


def test_paying_everything_settles_and_a_reversal_opens_a_linked_case(api_as, estate):
    paid = api_as("collector").post("/payments", {
        "external_id": "BANK-1", "case_number": estate.case.number, "amount": "1611.00",
        "paid_on": yesterday(), "channel": "bank"})
    assert paid.status_code == 201 and paid.get_json()["case_state"] == "paid"
    payment_id = paid.get_json()["id"]
    url = f"/payments/{payment_id}/reverse"
    assert api_as("collector").post(url, {"reason": "退票"}).status_code == 403
    assert api_as("supervisor").post(url, {}).get_json()["field"] == "reason"
    assert api_as("supervisor").post("/payments/99999/reverse", {"reason": "x"}).status_code == 404
    reversed_ = api_as("supervisor").post(url, {"reason": "银行退票"})
    assert reversed_.status_code == 200, reversed_.get_json()
    body = reversed_.get_json()
    assert body["reopened"] is True and body["payment"]["reversed"] is True
    assert body["case"]["previous_case_id"] == estate.case.id
    assert body["case"]["outstanding"] == "1611.00" and body["case"]["state"] == "preparation"
    again = api_as("supervisor").post(url, {"reason": "再次"})
    assert again.status_code == 409 and again.get_json()["error"] == "conflict"


# --- tasks, documents, exports ------------------------------------------------------------------


def test_tasks_of_visible_cases(api_as, estate):
    services.add_task(estate.case, "call", "回访", datetime.now(UTC) + timedelta(days=1),
                      assignee_id=estate.collector.id)
    db.session.commit()
    mine = api_as("collector").get("/tasks?mine=true").get_json()
    assert [t["title"] for t in mine["items"]] == ["回访"]
    assert api_as("collector2").get("/tasks").get_json()["total"] == 0
    assert api_as("supervisor").get("/tasks?status=all").get_json()["total"] >= 1
    assert api_as("supervisor").get("/tasks?status=late").status_code == 422


def test_documents_metadata_and_download(api_as, estate, now):
    factories.walk(estate, estate.case.id, "formal_demand", now)
    doc = db.session.scalar(sa.select(Document).where(Document.case_id == estate.case.id))
    meta = api_as("collector").get(f"/documents/{doc.id}")
    assert meta.status_code == 200 and meta.get_json()["kind"] == "payment_demand"
    if doc.status != "rendered":
        assert meta.get_json()["downloadable"] is False
        not_ready = api_as("collector").get(f"/documents/{doc.id}?download=1")
        assert not_ready.status_code == 409
        doc.path = storage.save(f"test/{doc.id}.docx", b"PK fake docx")
        doc.status = "rendered"
        db.session.commit()
    got = api_as("collector").get(f"/documents/{doc.id}?download=1")
    assert got.status_code == 200 and got.data.startswith(b"PK")
    assert api_as("collector2").get(f"/documents/{doc.id}").status_code == 403
    assert api_as("collector").get("/documents/31337").status_code == 404


def test_exports_as_csv_and_xlsx_follow_the_access_rules(api_as, estate):
    response = api_as("supervisor").get("/exports/cases.csv")
    assert response.status_code == 200
    assert response.data.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert rows[0][:3] == ["案件编号", "小区", "业主"] and rows[1][2] == "张三"
    assert Decimal(rows[1][6]) == Decimal("1611.00")
    none = api_as("collector2").get("/exports/cases.csv").data.decode("utf-8-sig")
    assert len(none.strip().splitlines()) == 1  # the header only
    xlsx = api_as("auditor").get("/exports/histories.xlsx")
    assert xlsx.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(xlsx.data), read_only=True)
    values = list(book.worksheets[0].iter_rows(values_only=True))
    assert values[0][0] == "案件编号" and values[1][6] == "open_case"
    assert api_as("auditor").get("/exports/owners.csv").status_code == 404


@pytest.mark.parametrize("kind", ["cases", "contacts", "payments", "histories"])
def test_every_export_kind_answers(api_as, estate, kind):
    for fmt in ("csv", "xlsx"):
        assert api_as("supervisor").get(f"/exports/{kind}.{fmt}").status_code == 200
