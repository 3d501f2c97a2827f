"""Outcome reviews in the web UI: the form on the closed case's page, the supervisor's list,
confirm and return; the suggestion panel on an open case. The clock is frozen at NOW."""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa

from casework import audit, services
from casework.extensions import db
from casework.models import OutcomeReview, Task
from casework.services.clock import local_date
from tests.conftest import NOW
from tests.factories import case_events
from tests.integration.test_suggestions import Builder


def close_by_payment(estate) -> None:
    services.fire_event(estate.case.id, "start_outreach", estate.collector, now=NOW)
    services.record_payment(estate.case.id, Decimal("1611.00"), local_date(NOW), now=NOW)


def body_of(response) -> str:
    return response.get_data(as_text=True)


def review_section(html: str) -> str:
    return html.split('id="review"')[1].split("</section>")[0]


FORM = {"arrears_reason": "unaware", "arrears_reason_sub": "forgot",
        "technique_worked": "timely_reminder", "channel_worked": "phone",
        "techniques_failed": ["carpet_bombing", "united_front"], "note": "提醒后当天缴清"}


def review_tasks(case_id: int, status: str = "open") -> list[Task]:
    return list(db.session.scalars(sa.select(Task).where(
        Task.case_id == case_id, Task.kind == "outcome_review", Task.status == status)))


def test_the_closed_case_shows_a_prefilled_form_and_the_queue_links_to_it(
        web, client, login, estate):
    close_by_payment(estate)
    login(estate.collector)
    html = body_of(client.get(f"/cases/{estate.case.id}"))
    section = review_section(html)
    assert "填写结果评估" in section and "提交评估" in section
    assert "历时 0 天" in section and "最远阶段：首次催收" in section
    assert '<option value="first_reminder" selected>' in section  # stage reached, prefilled
    assert 'href="#review"' in html  # the open review task points at the form
    queue = body_of(client.get("/queue"))
    assert f'/cases/{estate.case.id}#review' in queue
    task = review_tasks(estate.case.id)[0]
    assert f'/tasks/{task.id}/done' not in queue


def test_the_collector_submits_the_form(web, client, login, estate):
    close_by_payment(estate)
    login(estate.collector)
    response = client.post(f"/cases/{estate.case.id}/review", data=FORM)
    assert response.status_code == 302
    review = db.session.scalars(sa.select(OutcomeReview)).one()
    assert (review.arrears_reason, review.technique_worked, review.channel_worked) == \
        ("unaware", "timely_reminder", "phone")
    assert review.techniques_failed == ["carpet_bombing", "united_front"]
    assert (review.stage_reached, review.status) == ("first_reminder", "submitted")
    assert review_tasks(estate.case.id) == []
    html = body_of(client.get(f"/cases/{estate.case.id}"))
    section = review_section(html)
    assert "待组长确认" in section and "适时提醒" in section and "提醒后当天缴清" in section
    assert "确认评估" not in section  # the collector does not confirm
    assert "结果评估已提交" in html  # the timeline reads the audit event


def test_a_bad_field_is_named_and_the_form_keeps_its_values(web, client, login, estate):
    close_by_payment(estate)
    login(estate.collector)
    response = client.post(f"/cases/{estate.case.id}/review",
                           data={**FORM, "channel_worked": "", "note": "再看看"})
    assert response.status_code == 422
    section = review_section(body_of(response))
    assert "「起作用的联系方式」" in section
    assert 'aria-invalid="true" aria-describedby="err-channel_worked"' in section
    assert "再看看" in section  # what was typed stays
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutcomeReview)) == 0
    response = client.post(f"/cases/{estate.case.id}/review",
                           data={**FORM, "service_problems": "门禁坏了"})
    assert response.status_code == 422 and "「转交部门」" in body_of(response)


def test_only_the_cases_collector_or_a_supervisor_may_submit(web, client, login, estate):
    close_by_payment(estate)
    login(estate.collector2)
    assert client.post(f"/cases/{estate.case.id}/review", data=FORM).status_code == 403
    login(estate.auditor)
    assert client.post(f"/cases/{estate.case.id}/review", data=FORM).status_code == 403
    assert "提交评估" not in review_section(body_of(client.get(f"/cases/{estate.case.id}")))
    assert client.get("/team/reviews").status_code == 403


def test_the_supervisor_lists_confirms_and_returns(web, client, login, estate):
    close_by_payment(estate)
    login(estate.collector)
    client.post(f"/cases/{estate.case.id}/review", data=FORM)
    review = db.session.scalars(sa.select(OutcomeReview)).one()
    assert client.post(f"/reviews/{review.id}/confirm").status_code == 403
    login(estate.supervisor)
    listing = body_of(client.get("/team/reviews"))
    assert f'data-review="{review.id}"' in listing and estate.case.number in listing
    assert "/team/reviews" in body_of(client.get("/team"))
    section = review_section(body_of(client.get(f"/cases/{estate.case.id}")))
    assert "确认评估" in section and "退回催费员修改" in section
    refused = client.post(f"/reviews/{review.id}/return", data={"return_reason": ""})
    assert refused.status_code == 422 and "「退回原因」" in body_of(refused)
    assert client.post(f"/reviews/{review.id}/return",
                       data={"return_reason": "请补充无效技巧"}).status_code == 302
    assert [t.assignee_id for t in review_tasks(estate.case.id)] == [estate.collector.id]
    assert f'data-review="{review.id}"' not in body_of(client.get("/team/reviews"))
    login(estate.collector)
    section = review_section(body_of(client.get(f"/cases/{estate.case.id}")))
    assert "已退回" in section and "请补充无效技巧" in section and "修改结果评估" in section
    client.post(f"/cases/{estate.case.id}/review", data={**FORM, "techniques_failed": []})
    login(estate.supervisor)
    assert client.post(f"/reviews/{review.id}/confirm").status_code == 302
    db.session.expire_all()
    assert db.session.get(OutcomeReview, review.id).status == "confirmed"
    section = review_section(body_of(client.get(f"/cases/{estate.case.id}")))
    assert "已确认" in section and "确认评估" not in section and "提交评估" not in section
    names = [e.name for e in case_events(estate.case.id, "review")]
    assert names == ["submit_review", "return_review", "submit_review", "confirm_review"]
    assert audit.verify_all()[1] == []


def test_the_open_case_shows_a_suggestion_only_with_enough_contacts(web, client, login, estate):
    b = Builder(estate, NOW)
    for days in (3, 20):  # one paid within 14 days, one not
        other = b.case()
        b.contact(other, "visit", ["sugar_coated"])
        b.pay(other, days)
    services.fire_event(estate.case.id, "start_outreach", estate.collector, now=NOW)
    b.contact(estate.case, "phone", [], at=NOW)
    login(estate.collector)
    assert 'id="suggestion"' not in body_of(client.get(f"/cases/{estate.case.id}"))
    web.config["SUGGESTION_MIN_SAMPLE"] = 2
    html = body_of(client.get(f"/cases/{estate.case.id}"))
    panel = html.split('id="suggestion"')[1].split("</section>")[0]
    assert "糖衣炮弹 · 上门" in panel
    assert "2 次这样的联系之后 14 天内有 50.0% 收到了缴费" in panel
