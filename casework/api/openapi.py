"""The OpenAPI 3.0 document of /api/v1, next to the routes it describes (kept precise: the
Schemathesis test checks every response against it)."""

from __future__ import annotations

from typing import Any

from workflows.dunning import EVENT_NAMES, STATE_IDS

from ..exports import FORMATS, KINDS
from ..models import CHANNELS, OUTCOMES, PERSONS, REASON_CLASSES, REASON_SUBS, TECHNIQUES

MAX_ID = 2**31 - 1
MONEY = {"type": "string", "pattern": r"^-?\d+\.\d{2}$", "example": "268.50"}
MONEY_IN = {"type": "string", "pattern": r"^\d{1,12}(\.\d{1,2})?$", "example": "268.50",
            "description": "Yuan with at most 2 decimals, as a string (a JSON number is also "
                           "accepted and read exactly)."}
ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
DATE_IN = {"type": "string", "format": "date", "pattern": r"^(20\d\d|2100)-\d\d-\d\d$",
           "description": "YYYY-MM-DD, years 2000 to 2100."}
TS = {"type": "string", "format": "date-time"}
IMPORT_STATUSES = ("pending", "running", "previewed", "imported", "refused", "failed")


def nullable(schema: dict) -> dict:
    return {**schema, "nullable": True}


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(properties: dict, required: list[str] | None = None, **extra) -> dict:
    out: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        out["required"] = required
    out.update(extra)
    return out


def text(max_len: int = 2000, **extra) -> dict:
    return {"type": "string", "maxLength": max_len, **extra}


SCHEMAS: dict[str, Any] = {
    "Error": obj({"error": {"type": "string"}, "message": {"type": "string"},
                  "message_en": {"type": "string"}}, ["error", "message"]),
    "InvalidInput": obj({"error": {"type": "string", "enum": ["invalid_input"]},
                         "field": {"type": "string"}, "message": {"type": "string"},
                         "message_en": {"type": "string"}}, ["error", "field", "message"]),
    "WorkflowRefusal": obj({"error": {"type": "string",
                                      "enum": ["transition_not_allowed", "guard_failed"]},
                            "rule": {"type": "string"}, "message": {"type": "string"},
                            "message_en": {"type": "string"}}, ["error", "rule", "message"]),
    "ConflictError": obj({"error": {"type": "string", "enum": ["conflict"]},
                          "message": {"type": "string"}, "message_en": {"type": "string"}},
                         ["error", "message"]),
    "Community": obj({"id": ID, "code": {"type": "string"}, "name": {"type": "string"}},
                     ["id", "code", "name"]),
    "CaseSummary": obj({
        "id": ID, "number": {"type": "string"},
        "state": {"type": "string", "enum": list(STATE_IDS)},
        "state_label": {"type": "string"}, "version": {"type": "integer", "minimum": 1},
        "community": ref("Community"),
        "debtor": obj({"id": ID, "name": {"type": "string"}}, ["id", "name"]),
        "assignee_id": nullable(ID), "reason_class": nullable({"type": "string"}),
        "reason_sub": nullable({"type": "string"}), "priority": {"type": "integer"},
        "outstanding": MONEY, "opened_at": TS, "stage_since": TS, "closed_at": nullable(TS),
        "previous_case_id": nullable(ID),
    }, ["id", "number", "state", "version", "community", "debtor", "outstanding", "opened_at"]),
    "ChargeLine": obj({
        "id": ID, "unit_id": ID, "fee_type": {"type": "string"},
        "period_label": {"type": "string"}, "period_start": {"type": "string", "format": "date"},
        "period_end": {"type": "string", "format": "date"},
        "due_date": {"type": "string", "format": "date"}, "amount_due": MONEY,
        "amount_paid": MONEY, "credit": MONEY, "balance": MONEY,
        "limitation_expiry": {"type": "string", "format": "date"}, "frozen": {"type": "boolean"},
        "external_ref": nullable({"type": "string"}),
    }, ["id", "fee_type", "period_label", "due_date", "amount_due", "amount_paid", "balance"]),
    "CaseDetail": {"allOf": [ref("CaseSummary"), obj({
        "debtor": obj({"id": ID, "name": {"type": "string"},
                       "phone_masked": nullable({"type": "string"}),
                       "written_only": {"type": "boolean"}}, ["id", "name"]),
        "litigation_route": nullable({"type": "string"}),
        "events_available": {"type": "array", "items": obj({
            "event": {"type": "string", "enum": list(EVENT_NAMES)},
            "label": {"type": "string"}}, ["event", "label"])},
        "charge_lines": {"type": "array", "items": ref("ChargeLine")},
    }, ["events_available", "charge_lines"])]},
    "CasePage": obj({"items": {"type": "array", "items": ref("CaseSummary")},
                     "page": {"type": "integer", "minimum": 1},
                     "per_page": {"type": "integer", "minimum": 1, "maximum": 200},
                     "total": {"type": "integer", "minimum": 0}},
                    ["items", "page", "per_page", "total"]),
    "Event": obj({
        "seq": {"type": "integer", "minimum": 1}, "at": TS, "actor_id": nullable(ID),
        "actor_role": {"type": "string"}, "kind": {"type": "string"}, "name": {"type": "string"},
        "from_state": nullable({"type": "string"}), "to_state": nullable({"type": "string"}),
        "payload": {"type": "object"},
        "prev_hash": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "hash": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
    }, ["seq", "at", "actor_role", "kind", "name", "payload", "prev_hash", "hash"]),
    "History": obj({"case_id": ID, "number": {"type": "string"},
                    "events": {"type": "array", "items": ref("Event")}},
                   ["case_id", "number", "events"]),
    "Installment": obj({"due_date": DATE_IN, "amount": MONEY_IN}, ["due_date", "amount"]),
    "EventParams": obj({
        **{k: text() for k in ("reason", "note", "court", "tracking_no", "contents_label",
                                "proof_ref", "channel", "ticket_ref", "category", "outcome",
                                "route", "grade")},
        "delivered_on": DATE_IN, "credit_amount": MONEY_IN,
        "charge_line_ids": {"type": "array", "maxItems": 1000, "items": ID},
        "installments": {"type": "array", "minItems": 1, "maxItems": 120,
                         "items": ref("Installment")},
    }, description="Parameters of the event; their meaning is checked by the event's guards "
                   "(a missing reason, grade or route answers 409 guard_failed with the rule)."),
    "EventRequest": obj({"event": {"type": "string", "enum": list(EVENT_NAMES)},
                         "params": ref("EventParams"),
                         "expected_version": {"type": "integer", "minimum": 1,
                                              "maximum": MAX_ID}}, ["event"]),
    "OpenCaseRequest": obj({"charge_line_ids": {"type": "array", "minItems": 1,
                                                "maxItems": 1000, "items": ID},
                            "assignee_id": nullable(ID)}, ["charge_line_ids"]),
    "ContactRequest": obj({
        "channel": {"type": "string", "enum": list(CHANNELS)},
        "outcome": {"type": "string", "enum": list(OUTCOMES)},
        "at": {**TS, "description": "When it happened (with a time zone); default now."},
        "person_reached": {"type": "string", "enum": list(PERSONS)},
        "techniques": {"type": "array", "items": {"type": "string", "enum": list(TECHNIQUES)}},
        "reason_class": nullable({"type": "string", "enum": list(REASON_CLASSES)}),
        "reason_sub": nullable({"type": "string", "enum": list(REASON_SUBS)}),
        "notes": text(5000), "override_reason": nullable(text()),
        "promise": {"type": "array", "minItems": 1, "maxItems": 120,
                    "items": ref("Installment")},
        "dispute": ref("EventParams"),
    }, ["channel", "outcome"]),
    "Contact": obj({
        "id": ID, "case_id": ID, "staff_id": nullable(ID),
        "channel": {"type": "string", "enum": list(CHANNELS)}, "at": TS,
        "person_reached": {"type": "string"},
        "outcome": {"type": "string", "enum": list(OUTCOMES)},
        "techniques": {"type": "array", "items": {"type": "string"}},
        "reason_class": nullable({"type": "string"}), "reason_sub": nullable({"type": "string"}),
        "notes": {"type": "string"}, "outside_rules": {"type": "array",
                                                       "items": {"type": "string"}},
        "override_reason": nullable({"type": "string"}), "flagged": {"type": "boolean"},
    }, ["id", "case_id", "channel", "at", "outcome", "flagged"]),
    "PaymentRequest": obj({
        "external_id": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": r"\S"},
        "case_id": ID, "case_number": text(32),
        "amount": MONEY_IN, "paid_on": DATE_IN, "channel": text(32),
        "designated": {"type": "array", "maxItems": 1000, "items": ID},
    }, ["external_id", "amount", "paid_on"],
        description="Give case_id or case_number. Delivered twice with the same external_id, "
                    "the payment counts once (the second answer is 200 with replayed=true)."),
    "Payment": obj({
        "id": ID, "case_id": ID, "amount": MONEY, "unallocated": MONEY,
        "paid_on": {"type": "string", "format": "date"}, "channel": {"type": "string"},
        "external_id": nullable({"type": "string"}),
        "designated": {"type": "array", "items": ID}, "reversed": {"type": "boolean"},
        "allocations": {"type": "array", "items": obj({"charge_line_id": ID, "amount": MONEY},
                                                      ["charge_line_id", "amount"])},
    }, ["id", "case_id", "amount", "paid_on", "reversed", "allocations"]),
    "PaymentReceipt": {"allOf": [ref("Payment"), obj({
        "replayed": {"type": "boolean"},
        "case_state": {"type": "string", "enum": list(STATE_IDS)}},
        ["replayed", "case_state"])]},
    "ReverseRequest": obj({"reason": {"type": "string", "minLength": 1, "maxLength": 2000,
                                      "pattern": r"\S"}}, ["reason"]),
    "Reversal": obj({"payment": ref("Payment"), "case": ref("CaseSummary"),
                     "reopened": {"type": "boolean"}}, ["payment", "case", "reopened"]),
    "Task": obj({
        "id": ID, "case_id": ID, "kind": {"type": "string"}, "title": {"type": "string"},
        "assignee_id": nullable(ID), "candidate_role": nullable({"type": "string"}),
        "due_at": TS, "priority": {"type": "integer"},
        "status": {"type": "string", "enum": ["open", "done", "cancelled"]},
        "note": {"type": "string"}, "created_at": TS, "done_at": nullable(TS),
    }, ["id", "case_id", "kind", "title", "due_at", "status"]),
    "TaskPage": obj({"items": {"type": "array", "items": ref("Task")},
                     "page": {"type": "integer", "minimum": 1},
                     "per_page": {"type": "integer", "minimum": 1, "maximum": 200},
                     "total": {"type": "integer", "minimum": 0}},
                    ["items", "page", "per_page", "total"]),
    "Document": obj({
        "id": ID, "case_id": ID, "kind": {"type": "string"},
        "status": {"type": "string"}, "event_seq": {"type": "integer"},
        "template_version": nullable({"type": "string"}), "sha256": nullable({"type": "string"}),
        "amount": nullable(MONEY), "deadline": nullable({"type": "string", "format": "date"}),
        "charge_line_ids": {"type": "array", "items": ID}, "approved_by_id": nullable(ID),
        "dispatch_channel": nullable({"type": "string"}),
        "tracking_no": nullable({"type": "string"}),
        "contents_label": nullable({"type": "string"}), "dispatched_at": nullable(TS),
        "delivered_on": nullable({"type": "string", "format": "date"}),
        "grade": nullable({"type": "string"}), "created_at": TS,
        "error": nullable({"type": "string"}), "downloadable": {"type": "boolean"},
    }, ["id", "case_id", "kind", "status", "downloadable"]),
    "RowError": obj({"row": {"type": "integer", "minimum": 0,
                             "description": "The row as the spreadsheet numbers it (0: the file "
                                            "as a whole)."},
                     "column": {"type": "string", "description": "The file's column header."},
                     "value": {"type": "string"}, "reason": {"type": "string"}},
                    ["row", "column", "value", "reason"]),
    "ImportRequest": obj({
        "kind": {"type": "string", "enum": ["ledger", "payments"]},
        "file": {"type": "string", "format": "binary",
                 "description": "The ledger (.xlsx, or .csv in UTF-8 or GBK) or payments file."},
        "dry_run": {"type": "string", "enum": ["true", "false"], "default": "false",
                    "description": "true: preview what would change and write nothing."},
        "community_code": text(32, description="Every row belongs to this community."),
        "mapping": text(64, description="The name of a saved column mapping."),
    }, ["kind", "file"]),
    "ImportRun": obj({
        "id": ID, "kind": {"type": "string", "enum": ["ledger", "payments"]},
        "status": {"type": "string", "enum": list(IMPORT_STATUSES)},
        "dry_run": {"type": "boolean"}, "filename": {"type": "string"},
        "community_code": nullable({"type": "string"}),
        "mapping_name": nullable({"type": "string"}), "created_at": TS,
        "finished_at": nullable(TS), "finished": {"type": "boolean"},
        "progress": nullable(obj({
            "phase": {"type": "string"}, "done": {"type": "integer", "minimum": 0},
            "total": nullable({"type": "integer", "minimum": 0})}, ["phase", "done"],
            description="How far a worker got (while the run is pending or running).")),
        "counts": {"type": "object", "additionalProperties": {"type": "integer"},
                   "description": "What the import did or, for a dry run, would do."},
        "case_ids": {"type": "array", "items": ID},
        "warnings": {"type": "array", "items": ref("RowError")},
        "error_count": {"type": "integer", "minimum": 0},
        "errors": {"type": "array", "items": ref("RowError"), "maxItems": 50,
                   "description": "The first errors; a refused file writes nothing."},
        "links": obj({"self": {"type": "string"}, "errors": {"type": "string"},
                      "error_report": {"type": "string"}}, ["self", "errors", "error_report"]),
    }, ["id", "kind", "status", "dry_run", "filename", "finished", "counts", "error_count",
        "errors", "links"]),
    "ImportErrors": obj({
        "id": ID, "status": {"type": "string", "enum": list(IMPORT_STATUSES)},
        "error_count": {"type": "integer", "minimum": 0},
        "errors": {"type": "array", "items": ref("RowError")},
        "truncated": {"type": "boolean",
                      "description": "More errors than kept here (errors.csv has them all)."},
    }, ["id", "status", "error_count", "errors", "truncated"]),
}

JSON = "application/json"


def _error(description: str, schema: str = "Error") -> dict:
    return {"description": description, "content": {JSON: {"schema": ref(schema)}}}


RESPONSES = {
    "BadRequest": _error("The body is not JSON."),
    "Unauthorized": {**_error("Missing or invalid bearer token."),
                     "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}}},
    "Forbidden": _error("The user's role or assignment does not allow this."),
    "NotFound": _error("No such object."),
    "InvalidInput": _error("Input of the wrong shape or value; names the field.", "InvalidInput"),
    "Refused": {"description": "A refused transition (with the rule) or a conflicting change.",
                "content": {JSON: {"schema": {"oneOf": [ref("WorkflowRefusal"),
                                                        ref("ConflictError")]}}}},
    "Conflict": _error("Someone else changed it first, or it is not possible in its state.",
                       "ConflictError"),
    "TooLarge": _error("The upload is larger than 50 MiB."),
    "Unavailable": _error("The job queue is down; the import did not start."),
}


def _r(name: str) -> dict:
    return {"$ref": f"#/components/responses/{name}"}


def _ok(schema: str, description: str = "OK") -> dict:
    return {"description": description, "content": {JSON: {"schema": ref(schema)}}}


def _body(schema: str) -> dict:
    return {"required": True, "content": {JSON: {"schema": ref(schema)}}}


def _path_id(name: str, example: int = 1) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": ID, "example": example}


PAGE_PARAMS = [
    {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                "maximum": 1_000_000, "default": 1}},
    {"name": "per_page", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                    "maximum": 200, "default": 50}},
]
READ = {"401": _r("Unauthorized"), "422": _r("InvalidInput")}
WRITE = {"400": _r("BadRequest"), "401": _r("Unauthorized"), "403": _r("Forbidden"),
         "404": _r("NotFound"), "422": _r("InvalidInput")}


def _run_get(operation_id: str, summary: str, ok: dict) -> dict:
    return {"get": {"operationId": operation_id, "summary": summary,
                    "parameters": [_path_id("run_id")],
                    "responses": {"200": ok, "401": _r("Unauthorized"), "403": _r("Forbidden"),
                                  "404": _r("NotFound")}}}


def document() -> dict[str, Any]:
    paths = {
        "/cases": {
            "get": {
                "operationId": "listCases", "summary": "Cases the user may see",
                "parameters": [
                    {"name": "state", "in": "query",
                     "schema": {"type": "string", "enum": list(STATE_IDS)}},
                    {"name": "community", "in": "query", "schema": ID,
                     "description": "Community id."},
                    {"name": "assignee", "in": "query", "schema": ID,
                     "description": "Assigned collector's id."},
                    *PAGE_PARAMS],
                "responses": {"200": _ok("CasePage"), **READ},
            },
            "post": {
                "operationId": "openCase",
                "summary": "Open a case for charge lines of one debtor and community (or add "
                           "them to the debtor's open case); supervisors and admins",
                "requestBody": _body("OpenCaseRequest"),
                "responses": {"201": _ok("CaseDetail", "The case holding the lines"), **WRITE,
                              "409": _r("Conflict")},
            },
        },
        "/cases/{case_id}": {
            "get": {"operationId": "getCase", "parameters": [_path_id("case_id")],
                    "responses": {"200": _ok("CaseDetail"), "401": _r("Unauthorized"),
                                  "403": _r("Forbidden"), "404": _r("NotFound")}},
        },
        "/cases/{case_id}/events": {
            "post": {
                "operationId": "fireEvent",
                "summary": "Fire a workflow event; a refusal answers 409 with the rule",
                "parameters": [_path_id("case_id")],
                "requestBody": _body("EventRequest"),
                "responses": {"200": _ok("CaseDetail"), **WRITE, "409": _r("Refused")},
            },
        },
        "/cases/{case_id}/history": {
            "get": {"operationId": "caseHistory", "parameters": [_path_id("case_id")],
                    "responses": {"200": _ok("History"), "401": _r("Unauthorized"),
                                  "403": _r("Forbidden"), "404": _r("NotFound")}},
        },
        "/cases/{case_id}/contacts": {
            "post": {
                "operationId": "recordContact",
                "summary": "Record a contact attempt (催缴记录); outside the contact rules it "
                           "needs override_reason",
                "parameters": [_path_id("case_id")],
                "requestBody": _body("ContactRequest"),
                "responses": {"201": _ok("Contact", "Recorded"), **WRITE, "409": _r("Refused")},
            },
        },
        "/payments": {
            "post": {
                "operationId": "recordPayment",
                "summary": "Payment webhook, idempotent by external_id; allocates oldest first "
                           "unless periods are designated and settles a cleared case",
                "requestBody": _body("PaymentRequest"),
                "responses": {"201": _ok("PaymentReceipt", "Recorded"),
                              "200": _ok("PaymentReceipt", "Already recorded (replayed)"),
                              **WRITE, "409": _r("Refused")},
            },
        },
        "/payments/{payment_id}/reverse": {
            "post": {
                "operationId": "reversePayment",
                "summary": "Reverse a payment (supervisors); if it had closed the case a new "
                           "linked case takes the debt",
                "parameters": [_path_id("payment_id")],
                "requestBody": _body("ReverseRequest"),
                "responses": {"200": _ok("Reversal"), **WRITE, "409": _r("Refused")},
            },
        },
        "/tasks": {
            "get": {
                "operationId": "listTasks",
                "parameters": [
                    {"name": "status", "in": "query",
                     "schema": {"type": "string", "enum": ["open", "done", "cancelled", "all"],
                                "default": "open"}},
                    {"name": "mine", "in": "query",
                     "schema": {"type": "string", "enum": ["true", "false"]},
                     "description": "Only tasks for me or for one of my roles."},
                    *PAGE_PARAMS],
                "responses": {"200": _ok("TaskPage"), **READ},
            },
        },
        "/documents/{document_id}": {
            "get": {
                "operationId": "getDocument",
                "parameters": [
                    _path_id("document_id"),
                    {"name": "download", "in": "query",
                     "schema": {"type": "string", "enum": ["0", "1"]},
                     "description": "1: the rendered file itself."}],
                "responses": {
                    "200": {"description": "Metadata, or the file with download=1",
                            "content": {
                                JSON: {"schema": ref("Document")},
                                "application/vnd.openxmlformats-officedocument."
                                "wordprocessingml.document": {
                                    "schema": {"type": "string", "format": "binary"}},
                                "application/pdf": {"schema": {"type": "string",
                                                               "format": "binary"}},
                                "application/octet-stream": {
                                    "schema": {"type": "string", "format": "binary"}},
                            }},
                    "401": _r("Unauthorized"), "403": _r("Forbidden"), "404": _r("NotFound"),
                    "409": _r("Conflict"), "422": _r("InvalidInput")},
            },
        },
        "/exports/{kind}.{format}": {
            "get": {
                "operationId": "export",
                "summary": "Cases, contacts, payments or case histories as CSV (UTF-8 with "
                           "BOM) or XLSX, with what the user may see",
                "parameters": [
                    {"name": "kind", "in": "path", "required": True,
                     "schema": {"type": "string", "enum": list(KINDS)}},
                    {"name": "format", "in": "path", "required": True,
                     "schema": {"type": "string", "enum": list(FORMATS)}}],
                "responses": {
                    "200": {"description": "The file", "content": {
                        "text/csv": {"schema": {"type": "string", "format": "binary"}},
                        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                            "schema": {"type": "string", "format": "binary"}}}},
                    "401": _r("Unauthorized"), "404": _r("NotFound")},
            },
        },
        "/imports": {
            "post": {
                "operationId": "startImport",
                "summary": "Upload a ledger or payments file (admins and supervisors): the run "
                           "is recorded and imported at once (small files) or by a worker; "
                           "poll it. A refused file writes nothing and its run lists the "
                           "errors by row and column",
                "requestBody": {"required": True, "content": {"multipart/form-data": {
                    "schema": ref("ImportRequest"),
                    "encoding": {"file": {"contentType": "application/octet-stream"}}}}},
                "responses": {
                    "202": {"description": "The run (finished already for a small file)",
                            "headers": {"Location": {"schema": {"type": "string"}}},
                            "content": {JSON: {"schema": ref("ImportRun")}}},
                    **WRITE, "413": _r("TooLarge"), "503": _r("Unavailable")},
            },
        },
        "/imports/{run_id}": _run_get("getImport", "An import run's status and counts",
                                      _ok("ImportRun")),
        "/imports/{run_id}/errors": _run_get(
            "getImportErrors", "An import run's row errors (row, column, value, reason)",
            _ok("ImportErrors")),
        "/imports/{run_id}/errors.csv": _run_get(
            "getImportErrorReport", "All of an import run's errors as CSV (UTF-8 with BOM)",
            {"description": "The error report", "content": {
                "text/csv": {"schema": {"type": "string", "format": "binary"}}}}),
        "/openapi.json": {
            "get": {"operationId": "openapi", "security": [],
                    "responses": {"200": {"description": "This document",
                                          "content": {JSON: {"schema": {"type": "object"}}}}}},
        },
    }
    for operations in paths.values():
        for operation in operations.values():  # every operation refuses an unknown parameter
            operation["responses"].setdefault("422", _r("InvalidInput"))
    return {
        "openapi": "3.0.3",
        "info": {"title": "Casework API", "version": "1.0.0",
                 "description": "The dunning case manager (物业费催缴案件管理). Money is a string "
                                "of yuan with 2 decimals; times are ISO 8601 in UTC. Errors carry "
                                "`error`, `message` (Chinese) and `message_en`. A query "
                                "parameter an operation does not list is refused (422, "
                                "`field` naming it)."},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearerAuth": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer",
                                               "description": "`flask create-token USERNAME`"}},
            "schemas": SCHEMAS,
            "responses": RESPONSES,
        },
    }
