"""The legal officer's review queue and litigation board; the supervisor's board, targets,
bulk assignment, daily summary and letter batches."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import sqlalchemy as sa

from casework import services
from casework.extensions import db
from casework.models import (
    CaseEvent,
    CollectionTarget,
    DocumentBatch,
    DunningCase,
    LitigationRecord,
)
from tests.conftest import NOW
from tests.factories import case_events, fresh_case, walk


def form(case: DunningCase, **values) -> dict:
    db.session.refresh(case)
    return {"version": str(case.version), "seq": str(case.event_seq), **values}


def test_the_review_queue_shows_the_evidence_and_hides_approval_of_ones_own_request(
        web, client, login, estate):
    later = walk(estate, estate.case.id, "legal_review", NOW)  # asked by the collector
    own, _ = fresh_case(estate, NOW)
    walk(estate, own.id, "formal_demand", NOW)
    services.fire_event(own.id, "request_legal_action", estate.legal, now=later)
    login(estate.legal)
    body = client.get("/legal/review").get_data(as_text=True)
    theirs = body.split(f'id="review-{estate.case.id}"')[1].split("</section>")[0]
    mine = body.split(f'id="review-{own.id}"')[1].split("</section>")[0]
    assert "有记录 2 次" in theirs and "证据等级A" in theirs and "¥1,611.00" in theirs
    assert "王催费" in theirs  # who asked
    assert "disabled" not in theirs.split("驳回原因")[0]
    assert "disabled" in mine and "四眼原则" in mine
    refused = client.post(f"/cases/{own.id}/events/approve_lawyer_letter", data=form(own))
    assert refused.status_code == 422 and "不能审批自己提出的" in refused.get_data(as_text=True)
    ok = client.post(f"/cases/{estate.case.id}/events/approve_lawyer_letter",
                     data=form(estate.case, next="/legal/review"))
    assert ok.status_code == 302 and ok.location == "/legal/review"
    assert db.session.get(DunningCase, estate.case.id).state == "lawyer_letter"


def test_rejecting_needs_a_reason_and_sends_the_case_back_to_follow_up(
        web, client, login, estate):
    walk(estate, estate.case.id, "legal_review", NOW)
    login(estate.legal)
    r = client.post(f"/cases/{estate.case.id}/events/reject_legal_action",
                    data=form(estate.case, reason=""))
    assert r.status_code == 422 and "请填写原因" in r.get_data(as_text=True)
    r = client.post(f"/cases/{estate.case.id}/events/reject_legal_action",
                    data=form(estate.case, reason="证据不足，先上门"))
    assert r.status_code == 302
    assert db.session.get(DunningCase, estate.case.id).state == "follow_up"


def test_the_litigation_record_is_audited_and_gives_the_enforcement_deadline(
        web, client, login, estate):
    walk(estate, estate.case.id, "litigation", NOW)
    login(estate.legal)
    r = client.post(f"/legal/litigation/{estate.case.id}", data=form(
        estate.case, court="西湖区人民法院", court_case_number="(2027)浙0106民初123号",
        filed_on="2027-01-20", hearing_dates_more="2027-03-01, 2027-04-15",
        judgment_on="2027-05-10", notes="已开庭"))
    assert r.status_code == 302
    record = db.session.scalars(sa.select(LitigationRecord)).one()
    assert record.enforcement_deadline == date(2029, 5, 10)
    assert record.hearing_dates == ["2027-03-01", "2027-04-15"]
    event = case_events(estate.case.id, "litigation")[-1]
    assert event.payload["changes"]["judgment_on"] == "2027-05-10"
    board = client.get("/legal/litigation").get_data(as_text=True)
    assert "(2027)浙0106民初123号" in board and "2029年5月10日" in board
    assert "2027年3月1日" in board  # the next hearing
    bad = client.post(f"/legal/litigation/{estate.case.id}", data=form(
        estate.case, filed_on="2027-05-01", judgment_on="2027-01-01"))
    assert bad.status_code == 422 and "字段「判决日期」" in bad.get_data(as_text=True)
    login(estate.supervisor)
    assert client.get("/legal/litigation").status_code == 200
    assert client.post(f"/legal/litigation/{estate.case.id}",
                       data=form(estate.case)).status_code == 403


def test_the_board_shows_workload_overdue_tasks_and_progress_against_targets(
        web, client, login, estate):
    services.add_task(estate.case, "call", "逾期回访", NOW - timedelta(days=3),
                      assignee_id=estate.collector.id)
    db.session.commit()
    services.record_payment(estate.case.id, Decimal("500.00"), date(2026, 11, 20),
                            user=estate.collector, now=NOW)
    login(estate.supervisor)
    r = client.post("/team/targets", data={"month": "2026-11",
                                           "collector_id": [str(estate.collector.id)],
                                           f"target_{estate.collector.id}": "2000"})
    assert r.status_code == 302
    target = db.session.scalars(sa.select(CollectionTarget)).one()
    assert target.month == date(2026, 11, 1) and target.amount == Decimal("2000.00")
    body = client.get("/team?month=2026-11").get_data(as_text=True)
    row = body.split(f'data-collector="{estate.collector.id}"')[1].split("</tr>")[0]
    assert "¥1,111.00" in row and "¥500.00" in row and "25%" in row
    assert '<span class="bad">1</span>' in row  # one overdue task
    december = client.get("/team?month=2026-12").get_data(as_text=True)
    assert "25%" not in december


def test_bulk_assignment_by_building(web, client, login, estate):
    second, _ = fresh_case(estate, NOW)
    login(estate.supervisor)
    building = estate.unit.building_id
    listing = client.get(f"/team/assign?building={building}").get_data(as_text=True)
    assert estate.case.number in listing and second.number not in listing
    # The queue's filter form, with the page's own "now with" field; the chosen ones stay chosen.
    form = listing.split('class="filters noprint"')[1].split("</form>")[0]
    assert f'<option value="{building}" selected>' in form
    assert 'name="assignee"' in form and 'name="sort"' not in form  # no order or page size
    unassigned = client.get("/team/assign?assignee=none").get_data(as_text=True)
    assert '<option value="none" selected>' in unassigned
    r = client.post(f"/team/assign?building={building}", data={
        "case_ids": [str(estate.case.id)], "assignee_id": str(estate.collector2.id)})
    assert r.status_code == 302
    assert db.session.get(DunningCase, estate.case.id).assignee_id == estate.collector2.id
    assert db.session.get(DunningCase, second.id).assignee_id == estate.collector.id
    assert case_events(estate.case.id, "assignment")[-1].payload["to"] == estate.collector2.id
    nothing = client.post("/team/assign", data={"assignee_id": str(estate.collector.id)},
                          follow_redirects=True)
    assert "请至少选择一个案件" in nothing.get_data(as_text=True)
    nobody = client.post("/team/assign", data={"case_ids": [str(second.id)]},
                         follow_redirects=True)
    assert "请选择催费员" in nobody.get_data(as_text=True)
    assert db.session.get(DunningCase, second.id).assignee_id == estate.collector.id
    everything = client.post(f"/team/assign?assignee={estate.collector.id}",
                             data={"all": "1", "assignee_id": "none"})
    assert everything.status_code == 302
    assert db.session.get(DunningCase, second.id).assignee_id is None
    assert db.session.get(DunningCase, estate.case.id).assignee_id == estate.collector2.id


def test_the_daily_summary_counts_yesterdays_work_and_prints(web, client, login, estate):
    yesterday = NOW - timedelta(days=1)
    services.fire_event(estate.case.id, "start_outreach", estate.collector, now=yesterday)
    services.record_contact(estate.case.id, estate.collector, channel="phone",
                            outcome="promised", techniques=["timely_reminder"],
                            promise=[{"due_date": "2026-12-30", "amount": "1611.00"}],
                            now=yesterday)
    other, _ = fresh_case(estate, NOW)
    services.fire_event(other.id, "start_outreach", estate.collector, now=yesterday)
    services.fire_event(other.id, "raise_dispute", estate.collector,
                        {"category": "service_quality", "note": "楼道卫生差"}, now=yesterday)
    services.record_payment(other.id, Decimal("268.50"), date(2026, 11, 22),
                            user=estate.collector, now=yesterday)
    login(estate.supervisor)
    body = client.get("/team/daily").get_data(as_text=True)  # default: yesterday
    assert "2026年11月22日" in body
    assert "楼道卫生差" in body and "适时提醒" in body
    assert "¥268.50" in body and "¥1,611.00" in body
    assert "data-print" in body and "app.css" in body


def test_a_letter_batch_shows_its_progress_while_it_runs_and_the_zip_when_done(
        web, client, login, estate):
    batch = DocumentBatch(job_id="batch-t", kind="payment_demand", total=4, done=1,
                          status="running", case_ids=[estate.case.id])
    db.session.add(batch)
    db.session.commit()
    login(estate.supervisor)
    running = client.get(f"/batches/{batch.id}/progress").get_data(as_text=True)
    assert '<progress max="4" value="1">' in running and 'hx-trigger="every 1s"' in running
    batch.status, batch.done, batch.path = "done", 4, "batches/x.zip"
    db.session.commit()
    done = client.get(f"/batches/{batch.id}/progress").get_data(as_text=True)
    assert "hx-trigger" not in done and "下载压缩包" in done
    page = client.get(f"/batches/{batch.id}").get_data(as_text=True)
    assert 'id="batch-progress"' in page


def test_starting_a_batch_without_redis_says_so(web, client, login, estate):
    web.config["REDIS_URL"] = None
    login(estate.supervisor)
    r = client.post("/team/batches", data={"building_id": str(estate.unit.building_id)},
                    follow_redirects=True)
    assert "文书队列暂时无法连接" in r.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(CaseEvent.id))) >= 1


def test_a_batch_of_another_communitys_cases_is_not_shown(web, client, login, estate):
    from tests.factories import community, staff

    other = community(code="LH", name="绿湖苑")
    boss = staff("boss2", "supervisor", name="外小区组长")
    boss.communities = [other]
    batch = DocumentBatch(job_id="batch-o", kind="payment_demand", case_ids=[estate.case.id])
    db.session.add(batch)
    db.session.commit()
    login(boss)
    assert client.get(f"/batches/{batch.id}").status_code == 403
    login(estate.supervisor)
    assert client.get(f"/batches/{batch.id}").status_code == 200
