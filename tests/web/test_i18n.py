"""Chinese by default, English on request; money as ¥1,234.56, dates as 2026年11月23日;
every UI string translated and the committed .mo matching the .po."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from flask_babel import force_locale

from casework.web import fmt, labels
from workflows.dunning import EVENT_LABELS, STATE_LABELS

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "casework" / "translations"


def test_pages_are_chinese_by_default_and_english_on_request(web, client, login, estate):
    login(estate.collector)
    body = client.get(f"/cases/{estate.case.id}").get_data(as_text=True)
    assert '<html lang="zh-CN">' in body and "登记催缴记录" in body and "2024年1月28日" in body
    r = client.post("/lang", data={"lang": "en", "next": f"/cases/{estate.case.id}"})
    assert r.location == f"/cases/{estate.case.id}"
    body = client.get(f"/cases/{estate.case.id}").get_data(as_text=True)
    assert '<html lang="en">' in body and "Record a contact" in body
    assert "Jan 28, 2024" in body and "¥1,611.00" in body and "登记催缴记录" not in body
    refused = client.post(f"/cases/{estate.case.id}/events/withdraw",
                          data={"version": str(estate.case.version)})
    assert "A reason is required." in refused.get_data(as_text=True)
    client.post("/lang", data={"lang": "zh"})
    assert "登记催缴记录" in client.get(f"/cases/{estate.case.id}").get_data(as_text=True)


def test_the_language_survives_signing_in_and_out(web, client, estate):
    client.post("/lang", data={"lang": "en"})
    assert "Sign in" in client.get("/login").get_data(as_text=True)
    client.post("/login", data={"username": "col", "password": "secret-col"})
    assert "My queue" in client.get("/queue").get_data(as_text=True)
    client.post("/logout")
    assert "Sign in" in client.get("/login").get_data(as_text=True)


@pytest.mark.parametrize("value,text", [(Decimal("1234.56"), "¥1,234.56"),
                                         (Decimal("0"), "¥0.00"),
                                         (Decimal("-5.5"), "-¥5.50"),
                                         (None, "—")])
def test_money_reads_in_yuan(web, value, text):
    assert fmt.money(value) == text


def test_dates_read_in_chinese_and_in_english(web):
    with web.test_request_context():
        with force_locale("zh"):
            assert fmt.day(date(2026, 11, 23)) == "2026年11月23日"
        with force_locale("en"):
            assert fmt.day(date(2026, 11, 23)) == "Nov 23, 2026"


def test_state_and_event_names_match_the_statechart_in_both_languages(web):
    with web.test_request_context():
        with force_locale("zh"):
            assert {k: str(v) for k, v in labels.STATES.items()} == STATE_LABELS
            assert {k: str(v) for k, v in labels.EVENTS.items()} == {
                k: v[0] for k, v in EVENT_LABELS.items()}
        with force_locale("en"):
            assert {k: str(v) for k, v in labels.EVENTS.items()} == {
                k: v[1] for k, v in EVENT_LABELS.items()}


def test_the_queues_label_tables_name_the_queries_ids(web):
    from casework import queries

    assert tuple(labels.SORTS) == queries.QUEUE_SORTS
    assert tuple(labels.SECTIONS) == queries.SECTIONS


def test_the_seven_techniques_carry_their_training_names(web):
    with web.test_request_context(), force_locale("zh"):
        assert [str(labels.TECHNIQUES[t]) for t in labels.TECHNIQUES] == [
            "适时提醒", "断其后路", "苦肉计", "地毯式轰炸", "统一战线", "糖衣炮弹", "全民动员"]


def test_every_ui_string_is_translated_and_the_mo_is_compiled_from_the_po(tmp_path):
    pot = tmp_path / "messages.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-F",
                    str(CATALOG / "babel.cfg"), "-k", "_l", "-k", "lazy_gettext", "-o", str(pot),
                    "--no-location", "."], cwd=ROOT, check=True, capture_output=True)
    with pot.open("rb") as f:
        wanted = {m.id for m in read_po(f) if m.id}
    with (CATALOG / "zh/LC_MESSAGES/messages.po").open("rb") as f:
        po = {m.id: m.string for m in read_po(f) if m.id}
    missing = sorted(w for w in wanted if not po.get(w))
    assert not missing, f"untranslated (run pybabel update/compile): {missing}"
    with (CATALOG / "zh/LC_MESSAGES/messages.mo").open("rb") as f:
        mo = {m.id: m.string for m in read_mo(f) if m.id}
    assert mo == {k: v for k, v in po.items() if v}, "messages.mo is stale: pybabel compile"


def test_template_strings_use_the_requests_language_catalogue(web):
    """fmt.template_gettext keeps one catalogue per language: filled while Flask-Babel was
    forced to another language, it still holds the request's language's strings."""
    from flask import g, render_template_string

    fmt._CATALOGS.clear()
    with web.test_request_context():
        g.locale = "zh"  # as the web guard sets it
        with force_locale("en"):
            render_template_string("{{ _('Done') }}")
        assert render_template_string("{{ _('Done') }}") == "完成"
        assert render_template_string("{{ _('%(n)d open tasks', n=3) }}") == "3 项待办任务"
        g.locale = "en"
        assert render_template_string("{{ _('Done') }}") == "Done"
        assert render_template_string("{{ _('<%(x)s>', x='<b>') }}") == "<&lt;b&gt;>"


def test_label_tables_use_the_requests_language(web):
    """labels keeps one table per language: filled while Flask-Babel was forced to another
    language, it still holds the request's language's words."""
    from flask import g

    labels.translated._tables.clear()
    with web.test_request_context():
        g.locale = "zh"
        with force_locale("en"):
            assert labels.translated.STATES  # filled while forced to English
        assert labels.translated.STATES["payment_plan"] == "分期/承诺付款"
        g.locale = "en"
        assert labels.translated.STATES["payment_plan"] != "分期/承诺付款"


def test_a_stage_tag_is_in_the_requests_language_and_escaped(web):
    """fmt.state_tag keeps one tag per stage and language: each language its own label; an
    unknown value is shown as it is, escaped."""
    from flask import g, render_template_string

    fmt._TAGS.clear()
    with web.test_request_context():
        g.locale = "zh"
        assert render_template_string("{{ 'payment_plan'|state_tag }}") == (
            '<span class="tag state" data-state="payment_plan">分期/承诺付款</span>')
        g.locale = "en"
        english = render_template_string("{{ 'payment_plan'|state_tag }}")
        assert english.startswith('<span class="tag state" data-state="payment_plan">')
        assert "分期" not in english
        assert render_template_string("{{ s|state_tag }}", s='<x">') == (
            '<span class="tag state" data-state="&lt;x&#34;&gt;">&lt;x&#34;&gt;</span>')


def test_a_row_link_is_the_url_for_url(web):
    """fmt.id_link builds a row's link from url_for's once and fills the id in: the same URL for
    every id, under whatever root the application is mounted at."""
    from flask import url_for

    fmt._LINKS.clear()
    for endpoint, name in (("web.case_detail", "case_id"), ("web.complete_task", "task_id"),
                           ("web.claim_task", "task_id"), ("web.audit_trace", "case_id")):
        for root in ("", "/casework", ""):
            with web.test_request_context(base_url=f"http://x{root}"):
                for number in (1, 42, 9_876_543_210, 10**12):
                    link = fmt.id_link(endpoint, name)
                    assert link(number) == url_for(endpoint, **{name: number})
                    assert link(number).startswith(f"{root}/")
