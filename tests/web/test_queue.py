"""My queue (我的任务): order, filters, the team queue, claiming, and a constant query count."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from casework import queries, services
from casework.extensions import db
from casework.models import Building, ChargeLine, Unit
from casework.services import admin
from tests.conftest import NOW
from tests.factories import counting_statements, fresh_case


def _cases_with_tasks(estate, n: int) -> None:
    for i in range(n):
        case, _ = fresh_case(estate, NOW, months=range(1, 2 + i % 5))
        services.add_task(case, "call", f"回访{i}", NOW + timedelta(hours=i - n // 2),
                          assignee_id=estate.collector.id, priority=i % 3)
        services.add_task(case, "review", "组长复核", NOW, role="collector")
    db.session.commit()


def _statements_for_queue(client) -> list[str]:
    client.get("/queue")  # warm: connections, caches
    with counting_statements() as statements:
        response = client.get("/queue")
    assert response.status_code == 200
    return [s.split(" FROM ")[0][:60] for s in statements]


@pytest.mark.parametrize("more", [45])
def test_the_queue_page_runs_the_same_number_of_statements_for_5_and_for_50_cases(
        web, client, login, estate, more):
    _cases_with_tasks(estate, 5)
    login(estate.collector)
    seen = _statements_for_queue(client)
    _cases_with_tasks(estate, more)
    few, many = len(seen), len(_statements_for_queue(client))
    assert few == many, f"{few} statements for 5 cases, {many} for 50: an N+1 crept in"
    # the user with their communities; every list and count with the rows' places (the
    # filters' communities and buildings are kept: test_the_filters_see_a_new_building_...)
    assert few <= 2, f"{few} statements: {seen}"


def _small_and_large(estate):
    """Two cases of the collector's: one month owed, and twelve."""
    return fresh_case(estate, NOW, months=range(1, 2))[0], \
        fresh_case(estate, NOW, months=range(1, 13))[0]


def test_overdue_tasks_come_first_then_today_then_upcoming_each_by_priority(
        web, client, login, estate):
    small, large = _small_and_large(estate)
    services.add_task(small, "call", "今天-小额", NOW + timedelta(hours=2),
                      assignee_id=estate.collector.id)
    services.add_task(large, "call", "今天-大额", NOW + timedelta(hours=3),
                      assignee_id=estate.collector.id)
    services.add_task(small, "call", "逾期", NOW - timedelta(days=2),
                      assignee_id=estate.collector.id)
    services.add_task(large, "call", "以后", NOW + timedelta(days=3),
                      assignee_id=estate.collector.id)
    db.session.commit()
    login(estate.collector)
    body = client.get("/queue").get_data(as_text=True)
    order = [body.index(t) for t in ("逾期", "今天-大额", "今天-小额", "以后")]
    assert order == sorted(order)
    assert 'id="section-overdue"' in body
    nav = re.search(r"我的任务\s*<span class=\"badge\"[^>]*>(\d+)</span>", body)
    assert nav and nav.group(1) == "4"


def test_the_queue_filters_by_state_building_and_reason(web, client, login, estate):
    other, _ = fresh_case(estate, NOW)
    for case in (estate.case, other):
        services.add_task(case, "call", f"任务{case.number}", NOW,
                          assignee_id=estate.collector.id)
    db.session.commit()
    services.fire_event(other.id, "start_outreach", estate.collector, now=NOW)
    services.record_contact(other.id, estate.collector, channel="phone", outcome="refused",
                            reason_class="wilful", notes="拒绝", now=NOW)
    login(estate.collector)
    by_state = client.get("/queue?state=first_reminder").get_data(as_text=True)
    assert f"任务{other.number}" in by_state and f"任务{estate.case.number}" not in by_state
    by_reason = client.get("/queue?reason=wilful").get_data(as_text=True)
    assert f"任务{other.number}" in by_reason and f"任务{estate.case.number}" not in by_reason
    building = estate.unit.building_id
    by_building = client.get(f"/queue?building={building}").get_data(as_text=True)
    assert f"任务{estate.case.number}" in by_building and f"任务{other.number}" not in by_building


def _row_of(body: str, case_id: int) -> str:
    start = body.index(f'data-case="{case_id}"')
    return body[start:body.index("</tr>", start)]


def test_each_row_shows_its_own_units_and_the_filters_keep_their_choice_escaped(
        web, client, login, estate):
    other, _ = fresh_case(estate, NOW)
    for case in (estate.case, other):
        services.add_task(case, "call", f"任务{case.number}", NOW,
                          assignee_id=estate.collector.id)
    other_building = db.session.get(Unit, db.session.get(ChargeLine, _[0]).unit_id).building
    other_building.name = "A&B<栋>"
    db.session.commit()
    login(estate.collector)
    body = client.get("/queue").get_data(as_text=True)
    mine, theirs = _row_of(body, estate.case.id), _row_of(body, other.id)
    assert "1栋-101" in mine and "A&amp;B&lt;栋&gt;" not in mine
    assert "A&amp;B&lt;栋&gt;-" in theirs and "1栋-101" not in theirs
    chosen = client.get(f"/queue?building={other_building.id}&sort=due&state=first_reminder")
    form = chosen.get_data(as_text=True).split('class="filters')[1].split("</form>")[0]
    assert f'<option value="{other_building.id}" selected>A&amp;B&lt;栋&gt;</option>' in form
    assert f'<option value="{estate.unit.building_id}">1栋</option>' in form
    assert '<option value="due" selected>按到期时间</option>' in form
    assert '<option value="priority">按优先级</option>' in form
    assert '<option value="first_reminder" selected>' in form
    assert '<option value="25" selected>' in form  # the page size: the default
    assert form.count(" selected") == 4


def _buildings_offered(client) -> str:
    body = client.get("/queue").get_data(as_text=True)
    return body.split('name="building"')[1].split("</select>")[0]


def test_the_filters_see_a_new_building_at_once_or_another_process_s_within_a_minute(
        web, client, login, estate, monkeypatch):
    login(estate.collector)
    assert ">1栋<" in _buildings_offered(client) and "2栋" not in _buildings_offered(client)
    with counting_statements() as statements:
        client.get("/queue")
    assert not [s for s in statements if "FROM building" in s]  # kept, not read again
    admin.add_building(estate.community.id, "2栋", estate.admin)  # this process
    assert ">2栋<" in _buildings_offered(client)
    db.session.execute(sa.insert(Building), [{"community_id": estate.community.id,
                                              "name": "3栋"}])  # a bulk insert (the import's)
    db.session.commit()
    assert ">3栋<" in _buildings_offered(client)
    db.session.add(Building(community_id=estate.community.id, name="5栋"))
    db.session.flush()
    assert "5栋" in dict(queries.filter_choices(estate.collector)["buildings"]).values()
    db.session.rollback()  # what the transaction's page kept goes with it
    assert "5栋" not in _buildings_offered(client)
    with db.engine.begin() as elsewhere:  # another process: no session of ours sees it
        elsewhere.execute(sa.insert(Building).values(community_id=estate.community.id,
                                                     name="4栋"))
    assert "4栋" not in _buildings_offered(client)
    later = queries.monotonic() + queries.CHOICES_SECONDS
    monkeypatch.setattr(queries, "monotonic", lambda: later)
    assert ">4栋<" in _buildings_offered(client)


def test_places_read_back_by_building_and_unit_once_each():
    sep, glue = queries._UNIT_SEP, queries._PLACE_SEP
    text = glue.join(f"{b}{sep}{n}" for b, n in (("2栋", "101"), ("1栋", "201"), ("2栋", "101")))
    assert queries.read_places(text) == ["1栋-201", "2栋-101"]
    assert queries.read_places(None) == [] and queries.read_places("") == []


def test_a_team_task_can_be_claimed_once(web, client, login, estate):
    task = services.add_task(estate.case, "after_payment_visit", "缴费后72小时回访", NOW,
                             role="collector")
    db.session.commit()
    login(estate.collector)
    body = client.get("/queue").get_data(as_text=True)
    assert "缴费后72小时回访" in body.split('id="team-queue"')[1]
    assert client.post(f"/tasks/{task.id}/claim").status_code == 302
    db.session.refresh(task)
    assert task.assignee_id == estate.collector.id
    again = client.post(f"/tasks/{task.id}/claim", follow_redirects=True)
    assert "已被他人领取" in again.get_data(as_text=True)
    done = client.post(f"/tasks/{task.id}/done", data={"note": "已上门回访"})
    assert done.status_code == 302
    db.session.refresh(task)
    assert task.status == "done" and task.done_by_id == estate.collector.id


def test_a_collector_cannot_claim_a_task_on_another_collectors_case(web, client, login, estate):
    theirs, _ = fresh_case(estate, NOW, assignee=estate.collector2)
    task = services.add_task(theirs, "call", "别人的任务", NOW, role="collector")
    db.session.commit()
    login(estate.collector)
    assert "别人的任务" not in client.get("/queue").get_data(as_text=True)
    client.post(f"/tasks/{task.id}/claim")
    db.session.refresh(task)
    assert task.assignee_id is None


def test_the_queue_shows_money_at_risk_and_amounts_in_yuan(web, client, login, estate):
    services.add_task(estate.case, "call", "回访", NOW, assignee_id=estate.collector.id)
    db.session.commit()
    login(estate.collector)
    body = client.get("/queue").get_data(as_text=True)
    assert "¥1,611.00" in body  # 6 x 268.50
    assert "2024年1月28日" in body  # the oldest unpaid due date
    assert "¥1,074.00" in body  # Jan..Apr 2024 expire within 180 days of 2026-11-23


def _rows_in(body: str, section: str) -> list[str]:
    """The case numbers listed in one part of the page, in order."""
    start = body.index(f'id="{section}"')
    end = min((i for i in (body.find('id="my-cases"', start + 1),
                           body.find('id="team-queue"', start + 1)) if i > 0), default=len(body))
    return re.findall(r'<tr[^>]*data-case="(\d+)"', body[start:end])


def test_a_long_queue_is_paged_in_priority_order_and_the_counts_cover_every_page(
        web, client, login, estate):
    cases = []
    for i in range(30):  # 30 overdue tasks; case i owes i+1 months
        case, _ = fresh_case(estate, NOW, months=range(1, 2 + i % 12))
        services.add_task(case, "call", f"逾期{i}", NOW - timedelta(days=1, hours=i),
                          assignee_id=estate.collector.id)
        cases.append(case)
    db.session.commit()
    login(estate.collector)
    first = client.get("/queue").get_data(as_text=True)
    second = client.get("/queue?page=2").get_data(as_text=True)
    page1, page2 = _rows_in(first, "my-queue"), _rows_in(second, "my-queue")
    assert (len(page1), len(page2)) == (25, 5)
    assert not set(page1) & set(page2)
    owed = {str(c.id): len(range(1, 2 + i % 12)) for i, c in enumerate(cases)}
    months = [owed[c] for c in page1 + page2]
    assert months == sorted(months, reverse=True)  # most money first, across the pages
    assert re.search(r'id="section-overdue">\s*<h2>[^<]*<span class="badge bad">30</span>', first)
    assert "第 2 / 2 页" in second or "Page 2 of 2" in second
    everything = client.get("/queue?per=50").get_data(as_text=True)
    assert _rows_in(everything, "my-queue") == page1 + page2


def test_the_queue_can_be_ordered_by_due_time(web, client, login, estate):
    small, large = _small_and_large(estate)
    services.add_task(small, "call", "先到期-小额", NOW + timedelta(days=2),
                      assignee_id=estate.collector.id)
    services.add_task(large, "call", "后到期-大额", NOW + timedelta(days=3),
                      assignee_id=estate.collector.id)
    db.session.commit()
    login(estate.collector)
    by_priority = client.get("/queue").get_data(as_text=True)
    assert by_priority.index("后到期-大额") < by_priority.index("先到期-小额")
    by_due = client.get("/queue?sort=due").get_data(as_text=True)
    assert by_due.index("先到期-小额") < by_due.index("后到期-大额")


def test_my_other_cases_lists_only_cases_without_an_open_task_of_mine(web, client, login, estate):
    quiet, _ = fresh_case(estate, NOW, months=range(1, 4))
    busy, _ = fresh_case(estate, NOW, months=range(1, 4))
    services.add_task(busy, "call", "回访", NOW, assignee_id=estate.collector.id)
    db.session.commit()
    login(estate.collector)
    body = client.get("/queue").get_data(as_text=True)
    others = _rows_in(body, "my-cases")
    assert str(quiet.id) in others and str(busy.id) not in others
    assert str(busy.id) in _rows_in(body, "my-queue")
