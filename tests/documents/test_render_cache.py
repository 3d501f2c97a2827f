"""The per-process template cache renders exactly what plain docxtpl renders, and notices a
changed template (file rewritten, other uploaded bytes)."""

import os
import shutil

import pytest

from documents import render
from documents.contexts import TEMPLATES, build_context
from documents.render import docx_text, render_docx, render_letter, render_uncached
from tests.documents.conftest import HOSTILE_NAME, hostile_facts


@pytest.mark.parametrize("kind", sorted(TEMPLATES))
def test_cached_rendering_gives_the_bytes_of_plain_docxtpl(kind):
    context = build_context(kind, hostile_facts(kind))
    first = render_letter(kind, context)
    again = render_letter(kind, context)  # the second render comes from the cache
    assert first.data == again.data == render_uncached(kind, context)
    assert first.text == docx_text(first.data)
    assert HOSTILE_NAME[:20] in first.text  # escaped markup, read back as text


def test_two_letters_from_one_cached_template_do_not_leak_into_each_other():
    a = build_context("lawyer_letter", hostile_facts("lawyer_letter", tenant=False))
    b = build_context("lawyer_letter", hostile_facts("lawyer_letter", tenant=True))
    first, second = render_docx("lawyer_letter", a), render_docx("lawyer_letter", b)
    assert first != second
    assert render_docx("lawyer_letter", a) == first == render_uncached("lawyer_letter", a)


def test_a_rewritten_template_file_is_compiled_again(tmp_path):
    demand, letter = tmp_path / "demand.docx", tmp_path / "letter.docx"
    shutil.copy(render.template_path("payment_demand"), demand)
    shutil.copy(render.template_path("lawyer_letter"), letter)
    context = build_context("lawyer_letter", hostile_facts("lawyer_letter"))
    target = tmp_path / "current.docx"
    shutil.copy(letter, target)
    assert "律师函" in render_letter(target, context).text
    shutil.copy(demand, target)  # another template under the same path
    stat = target.stat()
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    demand_context = build_context("payment_demand", hostile_facts("payment_demand"))
    assert "物业费催缴通知书" in render_letter(target, demand_context).text


def test_uploaded_bytes_are_cached_by_their_content():
    data = render.template_path("statement").read_bytes()
    context = build_context("statement", hostile_facts("statement"))
    assert render_docx(data, context) == render_docx(bytes(data), context)
    assert render.compiled_template(data) is render.compiled_template(bytes(data))


def test_tabs_and_line_breaks_in_values_render_as_plain_docxtpl_renders_them():
    # the context builders flatten whitespace; an uploaded template's own text may not
    context = build_context("payment_demand", hostile_facts("payment_demand"))
    context["debtor_address"] = "第一行\n第二行\t（后附）"
    data = render_docx("payment_demand", context)
    assert data == render_uncached("payment_demand", context)
    assert "第一行\n第二行\t（后附）" in docx_text(data)
