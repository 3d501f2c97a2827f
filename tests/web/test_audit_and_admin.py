"""The auditor's trace, chain check, as-of view and CSV; the admin's users, communities,
policies and templates."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

import sqlalchemy as sa

from casework import services
from casework.extensions import db
from casework.models import CaseEvent, Community, Policy, StaffUser
from tests.conftest import NOW
from tests.factories import walk


def test_the_trace_lists_every_event_with_actor_time_states_payload_and_hash(
        web, client, login, estate):
    walk(estate, estate.case.id, "formal_demand", NOW)
    login(estate.auditor)
    body = client.get(f"/audit/cases/{estate.case.id}").get_data(as_text=True)
    events = db.session.scalars(sa.select(CaseEvent).order_by(CaseEvent.seq)).all()
    for ev in events:
        assert f'data-seq="{ev.seq}"' in body and ev.hash in body
    assert "2026年11月23日 10:00" in body  # 02:00 UTC shown in Shanghai
    assert "李组长" in body and "王催费" in body
    assert "grade: &#34;A&#34;" in body or 'grade: "A"' in body.replace("&#34;", '"')
    assert "本案审计链完好" in body


def test_the_chain_check_points_at_the_first_broken_link(web, client, login, estate):
    walk(estate, estate.case.id, "formal_demand", NOW)
    login(estate.auditor)
    assert "全部审计链完好" in client.get("/audit/chain").get_data(as_text=True)
    if db.engine.dialect.name == "postgresql":  # a DBA goes around the append-only trigger
        db.session.execute(sa.text("SET LOCAL session_replication_role = replica"))
    else:
        db.session.execute(sa.text("DROP TRIGGER case_event_no_update"))
    db.session.execute(sa.update(CaseEvent).where(CaseEvent.seq == 4).values(
        payload={"channel": "phone", "outcome": "paid"}))  # someone edits history
    db.session.commit()
    body = client.get("/audit/chain").get_data(as_text=True)
    assert "审计链断裂" in body and estate.case.number in body and "#4" in body
    assert "hash mismatch" in body
    trace = client.get(f"/audit/cases/{estate.case.id}").get_data(as_text=True)
    assert 'data-seq="4" class="overdue"' in trace


def test_the_case_as_it_stood_on_a_day(web, client, login, estate):
    services.fire_event(estate.case.id, "start_outreach", estate.collector, now=NOW)
    services.record_payment(estate.case.id, Decimal("268.50"), date(2026, 11, 23),
                            user=estate.collector, now=NOW)
    login(estate.auditor)
    before = client.get(f"/audit/cases/{estate.case.id}?as_of=2026-11-22").get_data(
        as_text=True)
    assert "当时案件尚未建立" in before
    today = client.get(f"/audit/cases/{estate.case.id}?as_of=2026-11-23").get_data(
        as_text=True)
    assert 'data-state="first_reminder"' in today.split('id="as-of"')[1].split("</section>")[0]
    assert "¥1,342.50" in today  # 1611.00 - 268.50


def test_owed_at_counts_payments_from_their_event_and_reversals_from_theirs(web, estate):
    from datetime import timedelta

    from casework import queries

    payment = services.record_payment(estate.case.id, Decimal("500.00"), date(2026, 11, 23),
                                      user=estate.collector, now=NOW + timedelta(hours=1))
    services.reverse_payment(payment.id, "退票", estate.supervisor,
                             now=NOW + timedelta(days=2))
    at = lambda days: queries.owed_at(estate.case, NOW + timedelta(days=days)).owed  # noqa
    assert at(-1) == 0  # the case was opened at NOW
    assert at(0) == Decimal("1611.00") and at(1) == Decimal("1111.00")
    assert at(3) == Decimal("1611.00")


def test_the_trace_exports_as_csv(web, client, login, estate):
    walk(estate, estate.case.id, "first_reminder", NOW)
    login(estate.auditor)
    r = client.get(f"/audit/cases/{estate.case.id}/trace.csv")
    assert r.mimetype == "text/csv" and "attachment" in r.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(r.get_data(as_text=True).lstrip("\ufeff"))))
    assert [row["event"] for row in rows] == ["open_case", "start_outreach"]
    assert rows[0]["at_shanghai"] == "2026-11-23 10:00:00" and len(rows[0]["hash"]) == 64
    assert rows[1]["from_state"] == "preparation" and rows[1]["actor"] == "王催费"


def test_exports_keep_to_what_the_user_may_see(web, client, login, estate):
    login(estate.auditor)
    r = client.get("/exports/cases.csv")
    assert r.status_code == 200 and estate.case.number in r.get_data(as_text=True)
    assert client.get("/exports/secrets.csv").status_code == 404
    login(estate.collector)
    assert client.get("/exports/cases.csv").status_code == 403


def test_the_search_finds_cases_by_number_or_debtor(web, client, login, estate):
    login(estate.auditor)
    assert estate.case.number in client.get("/audit?q=张三").get_data(as_text=True)
    assert "没有找到案件" in client.get("/audit?q=李四").get_data(as_text=True)


# -- admin ----------------------------------------------------------------------------------------


def test_an_admin_creates_deactivates_and_resets_an_account(web, client, login, estate):
    login(estate.admin)
    r = client.post("/admin/users", data={
        "username": "newbie", "display_name": "新同事", "roles": ["collector"],
        "password": "long-enough-pw", "communities": [str(estate.community.id)]})
    assert r.status_code == 302
    user = db.session.scalars(sa.select(StaffUser).where(StaffUser.username == "newbie")).one()
    assert user.roles == {"collector"} and user.communities == [estate.community]
    short = client.post("/admin/users", data={"username": "x2", "display_name": "x",
                                              "roles": ["collector"], "password": "short"})
    assert short.status_code == 422 and "字段「密码」" in short.get_data(as_text=True)
    taken = client.post("/admin/users", data={"username": "newbie", "display_name": "x",
                                              "roles": ["auditor"], "password": "long-enough-pw"})
    assert taken.status_code == 422 and "用户名已被使用" in taken.get_data(as_text=True)
    client.post(f"/admin/users/{user.id}", data={"action": "deactivate"})
    db.session.refresh(user)
    assert user.active is False
    client.post(f"/admin/users/{user.id}", data={"action": "password",
                                                 "password": "another-long-pw"})
    client.post(f"/admin/users/{user.id}", data={"action": "activate"})
    client.post("/logout")
    assert client.post("/login", data={"username": "newbie",
                                       "password": "another-long-pw"}).status_code == 302
    login(estate.admin)
    self_off = client.post(f"/admin/users/{estate.admin.id}", data={"action": "deactivate"})
    assert self_off.status_code == 422


def test_an_admin_creates_a_community_and_a_building(web, client, login, estate):
    login(estate.admin)
    r = client.post("/admin/communities", data={"code": "LH", "name": "绿湖苑", "city": "杭州"})
    assert r.status_code == 302
    community = db.session.scalars(sa.select(Community).where(Community.code == "LH")).one()
    assert db.session.scalars(sa.select(Policy).where(
        Policy.community_id == community.id)).one().version == 1
    client.post(f"/admin/communities/{community.id}/buildings", data={"building": "3栋"})
    assert "3栋" in client.get("/admin/communities").get_data(as_text=True)


def _policy_form(client, community_id: int) -> dict:
    import re

    body = client.get(f"/admin/communities/{community_id}/policy").get_data(as_text=True)
    values: dict[str, str] = {}
    for name, value in re.findall(r'<input type="(?:text|number|time)"[^>]*name="([^"]+)" '
                                  r'value="([^"]*)"', body):
        values[name] = value
    for name, value in re.findall(r'<textarea[^>]*name="([^"]+)"[^>]*>([^<]*)</textarea>', body):
        values[name] = value
    return values


def test_saving_a_policy_makes_a_new_version_and_refusals_name_the_field(
        web, client, login, estate):
    login(estate.admin)
    values = _policy_form(client, estate.community.id)
    assert values["timeline.first_reminder"] == "5"
    assert values["contact.call_window.0"] == "09:00"
    values.update({"legal_threshold": "2000.00", "contact.calls_per_day": "1"})
    r = client.post(f"/admin/communities/{estate.community.id}/policy", data=values)
    assert r.status_code == 302
    latest = db.session.scalars(sa.select(Policy).order_by(Policy.version.desc())).first()
    assert latest.version == 2 and latest.data["legal_threshold"] == "2000.00"
    assert latest.data["contact"]["calls_per_day"] == 1
    assert latest.data["contact"]["call_window"] == ["09:00", "20:00"]
    assert estate.case.policy.version == 1  # the open case keeps its version
    values["demand_deadline_days"] = "10"
    bad = client.post(f"/admin/communities/{estate.community.id}/policy", data=values)
    body = bad.get_data(as_text=True)
    assert bad.status_code == 422 and "demand_deadline_days" in body and "15" in body
    assert 'name="demand_deadline_days" value="10" min="0" step="1" aria-invalid="true"' in body
    assert db.session.scalar(sa.select(sa.func.max(Policy.version))) == 2
    values["demand_deadline_days"] = "soon"
    word = client.post(f"/admin/communities/{estate.community.id}/policy", data=values)
    assert word.status_code == 422 and "请填写整数" in word.get_data(as_text=True)


def test_the_template_page_lists_kinds_and_refuses_a_bad_upload(web, client, login, estate):
    login(estate.admin)
    body = client.get("/admin/templates").get_data(as_text=True)
    assert 'data-kind="lawyer_letter"' in body and "内置模板" in body
    r = client.post("/admin/templates", data={
        "kind": "payment_demand", "file": (io.BytesIO(b"not a docx"), "x.docx")},
        content_type="multipart/form-data")
    assert r.status_code == 422 and "模板未通过检查" in r.get_data(as_text=True)
