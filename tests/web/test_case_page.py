"""The case workspace: debtor card, statement with late fees, stage ladder, actions, forms."""

from __future__ import annotations

import re
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa

from casework import queries, services
from casework.extensions import db
from casework.models import ChargeLine, ContactAttempt, DunningCase, Payment
from tests.conftest import NOW
from tests.factories import case_events, walk


def page(client, case_id: int) -> str:
    response = client.get(f"/cases/{case_id}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def form(case: DunningCase, **values) -> dict:
    db.session.refresh(case)
    return {"version": str(case.version), "seq": str(case.event_seq), **values}


def test_the_phone_number_is_masked_until_revealed_and_each_reveal_is_audited(
        web, client, login, estate):
    login(estate.collector)
    body = page(client, estate.case.id)
    assert "138****8000" in body and "13800138000" not in body
    shown = client.post(f"/cases/{estate.case.id}/phone", headers={"HX-Request": "true"})
    assert shown.get_data(as_text=True).strip() == '<span class="phone">13800138000</span>'
    full = client.post(f"/cases/{estate.case.id}/phone").get_data(as_text=True)
    assert "13800138000" in full
    reveals = case_events(estate.case.id, "reveal")
    assert [(e.actor_id, e.name) for e in reveals] == [(estate.collector.id, "reveal_phone")] * 2
    login(estate.auditor)  # reads the case, may not call: no number, no button
    body = page(client, estate.case.id)
    assert "13800138000" not in body and "查看号码" not in body
    assert client.post(f"/cases/{estate.case.id}/phone").status_code == 403


def test_the_ladder_shows_all_13_states_with_the_current_one_marked(web, client, login, estate):
    walk(estate, estate.case.id, "formal_demand", NOW)
    login(estate.collector)
    body = page(client, estate.case.id)
    ladder = body.split('id="workflow"')[1].split("</section>")[0]
    states = re.findall(r'class="stage[^"]*" data-state="(\w+)"', ladder)
    assert len(states) == 13 and len(set(states)) == 13
    assert re.findall(r'data-state="(\w+)" aria-current="step"', ladder) == ["formal_demand"]
    assert re.findall(r'class="stage visited" data-state="(\w+)"', ladder) == [
        "preparation", "first_reminder", "follow_up"]


def test_allowed_actions_are_buttons_and_refused_ones_say_which_rule(web, client, login, estate):
    estate.debtor.identified = False
    db.session.commit()
    login(estate.collector)
    body = page(client, estate.case.id)
    start = body.split('id="action-start_outreach"')[1].split("</div>")[0]
    assert "disabled" in start and "还未确认欠费责任人" in start
    withdraw = body.split('id="action-withdraw"')[1].split("</details>")[0]
    assert "disabled" not in withdraw and 'name="reason"' in withdraw
    estate.debtor.identified = True
    db.session.commit()
    body = page(client, estate.case.id)
    start = body.split('id="action-start_outreach"')[1].split("</div>")[0]
    assert "disabled" not in start


def test_starting_outreach_from_the_button_moves_the_case(web, client, login, estate):
    login(estate.collector)
    r = client.post(f"/cases/{estate.case.id}/events/start_outreach", data=form(estate.case))
    assert r.status_code == 302
    assert db.session.get(DunningCase, estate.case.id).state == "first_reminder"
    assert "已完成：开始催收" in page(client, estate.case.id)


def test_a_refused_event_names_its_rule_and_changes_nothing(web, client, login, estate):
    login(estate.collector)
    r = client.post(f"/cases/{estate.case.id}/events/withdraw", data=form(estate.case))
    assert r.status_code == 422 and "请填写原因" in r.get_data(as_text=True)
    r = client.post(f"/cases/{estate.case.id}/events/issue_demand", data=form(estate.case))
    assert r.status_code == 409 and "不能执行" in r.get_data(as_text=True)
    assert db.session.get(DunningCase, estate.case.id).state == "preparation"


def test_a_contact_error_names_the_field_and_keeps_what_was_typed(web, client, login, estate):
    login(estate.collector)
    r = client.post(f"/cases/{estate.case.id}/contacts", data=form(
        estate.case, channel="phone", outcome="reached", person_reached="debtor",
        reason_class="excuse", reason_sub="hardship", notes="", techniques="sympathy"))
    body = r.get_data(as_text=True)
    assert r.status_code == 422
    assert "字段「沟通记录」" in body
    assert 'aria-invalid="true" aria-describedby="err-notes"' in body
    assert 'value="sympathy" checked' in body
    assert db.session.scalar(sa.select(sa.func.count(ContactAttempt.id))) == 0


def test_a_contact_with_a_promise_moves_the_case_to_installments(web, client, login, estate):
    services.fire_event(estate.case.id, "start_outreach", estate.collector, now=NOW)
    login(estate.collector)
    r = client.post(f"/cases/{estate.case.id}/contacts", data=form(
        estate.case, channel="phone", outcome="promised", person_reached="debtor",
        reason_class="excuse", reason_sub="hardship", notes="资金紧张，分两期",
        techniques=["sympathy", "sugar_coated"], with_promise="1",
        inst_date_1="2026-12-15", inst_amount_1="805.50",
        inst_date_2="2027-01-15", inst_amount_2="805.50"))
    assert r.status_code == 302
    case = db.session.get(DunningCase, estate.case.id)
    assert case.state == "payment_plan" and case.reason_sub == "hardship"
    contact = db.session.scalars(sa.select(ContactAttempt)).one()
    assert contact.techniques == ["sympathy", "sugar_coated"]
    body = page(client, case.id)
    assert "分期计划" in body and "¥805.50" in body


def test_installments_that_do_not_add_up_are_refused_with_the_rule(web, client, login, estate):
    services.fire_event(estate.case.id, "start_outreach", estate.collector, now=NOW)
    login(estate.collector)
    r = client.post(f"/cases/{estate.case.id}/contacts", data=form(
        estate.case, channel="phone", outcome="promised", person_reached="debtor",
        with_promise="1", inst_date_1="2026-12-15", inst_amount_1="100"))
    assert r.status_code == 422 and "合计须等于全部欠费余额" in r.get_data(as_text=True)
    assert db.session.get(DunningCase, estate.case.id).state == "first_reminder"
    half = client.post(f"/cases/{estate.case.id}/contacts", data=form(
        estate.case, channel="phone", outcome="promised", with_promise="1",
        inst_date_1="2026-12-15"))
    assert half.status_code == 422 and "第1期须同时填写日期和金额" in half.get_data(as_text=True)


def test_a_payment_is_allocated_and_the_one_that_clears_the_debt_settles(
        web, client, login, estate):
    login(estate.collector)
    r = client.post(f"/cases/{estate.case.id}/payments", data=form(
        estate.case, amount="1,000.00", paid_on="2026-11-22", channel="wechat_pay",
        external_id="WX-1"))
    assert r.status_code == 302
    assert "已登记缴费 ¥1,000.00" in page(client, estate.case.id)
    bad = client.post(f"/cases/{estate.case.id}/payments", data=form(
        estate.case, amount="abc", paid_on="2026-11-22"))
    assert bad.status_code == 422 and "字段「金额」" in bad.get_data(as_text=True)
    future = client.post(f"/cases/{estate.case.id}/payments", data=form(
        estate.case, amount="1", paid_on="2027-01-01"))
    assert future.status_code == 422 and "字段「缴费日期」" in future.get_data(as_text=True)
    client.post(f"/cases/{estate.case.id}/payments", data=form(
        estate.case, amount="611.00", paid_on="2026-11-23"))
    case = db.session.get(DunningCase, estate.case.id)
    assert case.state == "paid"
    assert db.session.scalar(sa.select(sa.func.sum(Payment.amount))) == Decimal("1611.00")
    body = page(client, case.id)
    assert "只读" in body and 'id="payment"' not in body  # a closed case takes no more input


def test_a_dispute_from_the_form_pauses_the_case(web, client, login, estate):
    services.fire_event(estate.case.id, "start_outreach", estate.collector, now=NOW)
    login(estate.collector)
    r = client.post(f"/cases/{estate.case.id}/events/raise_dispute", data=form(
        estate.case, category="billing", note="面积计算有误", charge_line_ids=[
            str(i) for i in estate.line_ids[:2]], ticket_ref="GD-1"))
    assert r.status_code == 302
    case = db.session.get(DunningCase, estate.case.id)
    assert case.state == "disputed" and case.dispute_resume_state == "first_reminder"
    frozen = db.session.scalars(sa.select(ChargeLine.id).where(ChargeLine.frozen.is_(True)))
    assert sorted(frozen) == estate.line_ids[:2]
    body = page(client, case.id)
    assert "面积计算有误" in body and "收费疑问" in body
    r = client.post(f"/cases/{case.id}/events/resolve_dispute", data=form(
        case, outcome="reduced", credit_amount="100.00"))
    assert r.status_code == 302
    assert db.session.get(DunningCase, case.id).state == "first_reminder"


def test_a_supervisor_reassigns_from_the_case_page(web, client, login, estate):
    login(estate.supervisor)
    r = client.post(f"/cases/{estate.case.id}/assign", data=form(
        estate.case, assignee_id=str(estate.collector2.id)))
    assert r.status_code == 302
    assert db.session.get(DunningCase, estate.case.id).assignee_id == estate.collector2.id
    login(estate.collector)
    assert client.get(f"/cases/{estate.case.id}").status_code == 403


def test_a_delivery_with_a_proof_file_is_stored_and_graded(web, client, login, estate):
    import io

    walk(estate, estate.case.id, "follow_up", NOW)
    from tests.factories import two_contacts

    two_contacts(estate.case.id, estate.collector, NOW)
    services.fire_event(estate.case.id, "issue_demand", estate.collector, now=NOW)
    login(estate.collector)
    data = form(estate.case, grade="A", delivered_on="2026-11-23", channel="hand")
    data["proof"] = (io.BytesIO(b"signed receipt"), "receipt.txt")
    r = client.post(f"/cases/{estate.case.id}/events/record_delivery", data=data,
                    content_type="multipart/form-data")
    assert r.status_code == 302, r.get_data(as_text=True)[-2000:]
    events = [e.name for e in case_events(estate.case.id)]
    assert events[-2:] == ["attach_proof", "record_delivery"]
    body = page(client, estate.case.id)
    assert "等级 A" in body or "等级 A" in body.replace("&nbsp;", " ")


# -- the statement --------------------------------------------------------------------------------


def _with_rate(estate, rate: str) -> None:
    for line in db.session.scalars(sa.select(ChargeLine)):
        line.contract_daily_rate = Decimal(rate)
    db.session.commit()


def test_late_fees_are_capped_at_the_lpr_multiple_and_the_contract_figure_is_shown(
        web, client, login, estate):
    _with_rate(estate, "0.003")  # 0.3 % a day: far above 1.5 x 3 % a year
    today = date(2026, 11, 23)
    st = queries.statement(estate.case, today, Decimal("0.03"))
    first = st.rows[0]
    days = (today - date(2024, 1, 28)).days
    assert first.late_fee.days == days
    cent = Decimal("0.01")
    assert first.late_fee.contractual == (Decimal("268.50") * Decimal("0.003") * days).quantize(
        cent, ROUND_HALF_UP)
    capped = (Decimal("268.50") * Decimal("0.045") * days / 365).quantize(cent, ROUND_HALF_UP)
    assert first.late_fee.allowed == capped and first.late_fee.over_cap
    assert st.over_cap and st.late_fees == sum(r.late_fee.allowed for r in st.rows)
    login(estate.collector)
    body = page(client, estate.case.id)
    assert f"¥{capped:,.2f}" in body and "超过上限" in body


def test_late_fees_never_exceed_the_principal_and_need_a_contract_rate(web, estate):
    st = queries.statement(estate.case, date(2026, 11, 23), Decimal("0.03"))
    assert all(r.late_fee is None for r in st.rows) and st.late_fees == 0
    _with_rate(estate, "0.003")
    st = queries.statement(estate.case, date(2026, 11, 23), Decimal("10"))  # absurd LPR
    assert all(r.late_fee.allowed <= r.balance for r in st.rows)
    assert st.late_fees <= st.principal


def test_late_fees_stop_while_a_service_quality_dispute_is_open(web, client, login, estate):
    _with_rate(estate, "0.0001")
    services.fire_event(estate.case.id, "start_outreach", estate.collector, now=NOW)
    services.fire_event(estate.case.id, "raise_dispute", estate.collector,
                        {"category": "service_quality", "note": "电梯常坏"}, now=NOW)
    later = date(2027, 3, 1)
    st = queries.statement(estate.case, later, Decimal("0.03"))
    assert st.stopped_on == date(2026, 11, 23)
    june = st.rows[-1]  # still within limitation on 2027-03-01
    assert june.late_fee.days == (date(2026, 11, 23) - date(2024, 6, 28)).days
    login(estate.collector)
    assert "滞纳金自2026年11月23日起停止计算" in page(client, estate.case.id)


def test_the_statement_marks_periods_near_or_past_their_limitation(web, client, login, estate):
    line = db.session.get(ChargeLine, estate.line_ids[0])
    line.limitation_expiry = date(2026, 1, 1)
    db.session.commit()
    login(estate.collector)
    body = page(client, estate.case.id)
    assert "已过时效" in body and "即将届满" in body


def test_the_72_hour_visit_after_payment_can_be_done_on_the_closed_case(
        web, client, login, estate):
    from casework.models import Task

    services.record_payment(estate.case.id, Decimal("1611.00"), date(2026, 11, 23),
                            user=estate.collector, now=NOW)
    task = db.session.scalars(sa.select(Task).where(Task.kind == "after_payment_visit")).one()
    login(estate.collector)
    body = page(client, estate.case.id)
    assert "只读" in body and f'action="/tasks/{task.id}/done"' in body
    queue = client.get("/queue").get_data(as_text=True)
    assert f'formaction="/tasks/{task.id}/done"' in queue and 'id="row-action"' in queue
    done = client.post(f"/tasks/{task.id}/done", data={"note": "已回访，业主满意"})
    assert done.status_code == 302
    db.session.refresh(task)
    assert task.status == "done"
    assert case_events(estate.case.id, "task")[-1].payload["note"] == "已回访，业主满意"
