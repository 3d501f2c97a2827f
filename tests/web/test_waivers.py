"""The late-fee waiver form on the case page: supervisors only, errors name the field."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa

from casework.extensions import db
from casework.models import DunningCase
from casework.models.waivers import LateFeeWaiver
from tests.factories import contract_rate


@pytest.fixture
def rated(estate):
    contract_rate("0.0003")
    return estate


def _form(case: DunningCase, **fields) -> dict:
    db.session.refresh(case)
    return {"version": str(case.version), "seq": str(case.event_seq), **fields}


def test_the_supervisor_waives_from_the_case_page_and_sees_it_in_the_statement(
        web, client, login, rated):
    login(rated.supervisor)
    page = client.get(f"/cases/{rated.case.id}").get_data(as_text=True)
    assert "减免部分违约金" in page and f'action="/cases/{rated.case.id}/waivers"' in page
    r = client.post(f"/cases/{rated.case.id}/waivers",
                    data=_form(rated.case, amount="50", reason="首次逾期 <b>一次性</b>结清"),
                    follow_redirects=True)
    body = r.get_data(as_text=True)
    assert r.status_code == 200 and "已减免违约金 ¥50.00" in body
    assert "&lt;b&gt;一次性&lt;/b&gt;" in body and "<b>一次性</b>" not in body
    assert "李组长" in body.split('id="waivers"')[1]
    assert db.session.scalar(sa.select(LateFeeWaiver.amount)) == Decimal("50.00")


@pytest.mark.parametrize("amount, reason, field", [("abc", "理由", "amount"),
                                                   ("99999", "理由", "amount"),
                                                   ("10", "", "reason")])
def test_a_bad_waiver_shows_the_form_again_naming_the_field(
        web, client, login, rated, amount, reason, field):
    login(rated.supervisor)
    r = client.post(f"/cases/{rated.case.id}/waivers",
                    data=_form(rated.case, amount=amount, reason=reason))
    body = r.get_data(as_text=True)
    assert r.status_code == 422
    assert f'id="err-{field}"' in body and 'role="alert"' in body
    assert db.session.scalar(sa.select(sa.func.count(LateFeeWaiver.id))) == 0


@pytest.mark.parametrize("who", ["collector", "legal", "auditor"])
def test_other_roles_get_no_form_and_a_403(web, client, login, rated, who):
    login(getattr(rated, who))
    page = client.get(f"/cases/{rated.case.id}")
    assert "减免部分违约金" not in page.get_data(as_text=True)
    r = client.post(f"/cases/{rated.case.id}/waivers",
                    data=_form(rated.case, amount="10", reason="理由"))
    assert r.status_code == 403
    assert db.session.scalar(sa.select(sa.func.count(LateFeeWaiver.id))) == 0


def test_no_form_when_there_is_no_late_fee(web, client, login, estate):
    login(estate.supervisor)
    page = client.get(f"/cases/{estate.case.id}").get_data(as_text=True)
    assert "减免部分违约金" not in page
