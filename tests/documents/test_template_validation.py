"""An uploaded template is refused for banned content, unknown variables or a broken render."""

import io

import pytest
from docx import Document

from documents.contexts import TEMPLATES
from documents.render import template_path, validate_template


def _edited(kind: str, extra: str) -> bytes:
    """The shipped template of a kind with one more paragraph, as legal staff might upload it."""
    document = Document(str(template_path(kind)))
    document.add_paragraph(extra)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


@pytest.mark.parametrize("kind", sorted(TEMPLATES))
def test_shipped_templates_are_accepted(kind):
    assert validate_template(kind, template_path(kind).read_bytes()) == []


def test_a_template_threatening_utility_cuts_is_refused_naming_the_phrase():
    problems = validate_template("payment_demand", _edited("payment_demand", "逾期将停水停电。"))
    assert problems
    assert any("停水" in p for p in problems)
    assert any("停电" in p for p in problems)


def test_a_template_with_an_unknown_variable_is_refused_naming_it():
    data = _edited("lawyer_letter", "您的车牌号：{{ licence_plate }}")
    problems = validate_template("lawyer_letter", data)
    assert any("licence_plate" in p for p in problems)


def test_banned_content_that_only_appears_after_rendering_is_refused():
    data = _edited("statement", "{% if has_penalty %}否则列入黑名单{% endif %}")
    problems = validate_template("statement", data)
    assert any("黑名单" in p for p in problems)


def test_a_template_with_a_jinja_syntax_error_is_refused():
    problems = validate_template("statement", _edited("statement", "{{ debtor_name "))
    assert problems and "语法" in problems[0]


def test_a_file_that_is_not_a_docx_is_refused():
    problems = validate_template("statement", b"not a word file")
    assert problems and ".docx" in problems[0]


def test_a_template_that_drops_a_mandatory_item_is_refused():
    document = Document(str(template_path("payment_demand")))
    for paragraph in document.paragraphs:
        if "{{ deadline }}" in paragraph.text:
            paragraph.text = paragraph.text.replace("{{ deadline }}", "尽快")
    out = io.BytesIO()
    document.save(out)
    problems = validate_template("payment_demand", out.getvalue())
    assert any("付款期限" in p for p in problems)
