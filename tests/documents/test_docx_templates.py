"""Every shipped template renders hostile data and holds the mandatory contents (rules (c))."""

import pytest
from docx import Document
from docx.oxml.ns import qn

from documents.build_templates import build_all
from documents.contexts import BUILDERS, TEMPLATES, build_context, sample_facts
from documents.lint import lint_text
from documents.mandatory import OBJECTION_SERVICE_LEVEL, RESERVATION, missing_contents
from documents.render import (
    docx_text,
    render_document,
    render_docx,
    sha256_hex,
    template_path,
    template_variables,
)
from tests.documents.conftest import HOSTILE_NAME, HOSTILE_OWNER, hostile_facts, read_docx_text

KINDS = sorted(TEMPLATES)
LETTERS = ["payment_demand", "lawyer_letter", "installment_agreement", "statement"]


def test_every_kind_has_a_builder_and_a_template_file():
    assert (
        set(BUILDERS)
        == set(TEMPLATES)
        == {
            "payment_demand",
            "lawyer_letter",
            "installment_agreement",
            "statement",
            "evidence_list",
            "payment_order_application",
            "complaint",
        }
    )
    for kind in KINDS:
        assert template_path(kind).is_file()


@pytest.mark.parametrize("kind", KINDS)
def test_template_variables_are_all_provided_by_its_builder(kind):
    context = build_context(kind, sample_facts(kind))
    assert template_variables(kind) <= context.keys()


@pytest.mark.parametrize("kind", KINDS)
def test_template_text_is_free_of_banned_content(kind):
    assert lint_text(docx_text(template_path(kind))) == []


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("penalty", [True, False], ids=["penalty", "no_penalty"])
def test_hostile_data_renders_with_every_mandatory_item(kind, penalty):
    facts = hostile_facts(kind, penalty=penalty)
    context = build_context(kind, facts)
    text = read_docx_text(render_docx(kind, context))

    assert HOSTILE_NAME in text  # exactly, with & < > quotes and {{ kept as text
    assert f"{HOSTILE_OWNER}对上述费用负连带交纳责任" in text
    assert context["doc_number"] in text and "2026年11月20日" in text
    for label in ("2025年<第3季度>&", "2025年'第4季度'", "2026年第1季度"):
        assert label in text
    assert "¥9,999,999.99" in text and "¥0.01" in text
    assert "¥10,000,000.01" in text and "壹仟万元零壹分" in text  # principal in figures and 大写
    total, capital = (
        ("¥10,000,000.02", "壹仟万元零贰分") if penalty else ("¥10,000,000.01", "壹仟万元零壹分")
    )
    assert total in text and capital in text
    assert context["deadline"] in text
    for article in ("第509条", "第577条", "第944条"):
        assert article in text
    assert ("第585条" in text) is penalty
    assert (RESERVATION in text) is not penalty
    assert "1202 0211 0900 1234 567" in text  # the official account
    assert "物业服务中心前台 <3栋> & 扫码" in text
    assert '赵敏 "客服" & <主管>' in text and "0571-88880001" in text
    assert OBJECTION_SERVICE_LEVEL in text
    assert "《前期物业服务合同》&<附件>" in text and "¥2.80/m²·月" in text and "89.75" in text
    assert "杭州<安居>&物业服务有限公司" in text
    assert missing_contents(kind, text, context) == []
    assert lint_text(text) == []


@pytest.mark.parametrize("kind", KINDS)
def test_time_barred_periods_are_listed_apart_and_never_claimed(kind):
    context = build_context(kind, hostile_facts(kind))
    text = read_docx_text(render_docx(kind, context))
    assert "2023年第1季度{{" in text
    assert "诉讼时效期间" in text
    assert all(row["label"] != "2023年第1季度{{" for row in context["periods"])
    if kind in LETTERS and kind != "installment_agreement":
        assert "是否支付由您自愿决定" in text
    for claim in context.get("claims", []):
        assert "2023" not in claim


@pytest.mark.parametrize("kind", LETTERS)
def test_an_owner_gets_no_joint_liability_note(kind):
    text = read_docx_text(render_document(kind, hostile_facts(kind, tenant=False)))
    assert "连带" not in text


def test_payment_demand_names_ems_item_and_lawful_steps_only():
    text = read_docx_text(render_document("payment_demand", sample_facts("payment_demand")))
    assert "“内件品名”栏注明“物业费催缴通知书”" in text
    assert "申请支付令、提起诉讼或者申请仲裁" in text
    assert "（盖章）" in text


def test_lawyer_letter_carries_mandate_earlier_demands_and_attached_statement():
    text = read_docx_text(render_document("lawyer_letter", sample_facts("lawyer_letter")))
    for item in (
        "浙江明信律师事务所",
        "杭州安居物业服务有限公司",
        "孙立平",
        "13301201810000000",
        "2026年6月2日",
        "AJ-CJ-2026-0153",
        "0571-86660018",
        "附件：物业费对账单",
    ):
        assert item in text


def test_installment_agreement_lists_every_installment_in_figures_and_capitals():
    text = read_docx_text(
        render_document("installment_agreement", sample_facts("installment_agreement"))
    )
    for item in (
        "第1期",
        "2026年12月15日",
        "¥1,258.63",
        "壹仟贰佰伍拾捌元陆角叁分",
        "第3期",
        "2027年2月26日",
        "¥1,258.62",
        "¥3,775.88",
        "叁仟柒佰柒拾伍元捌角捌分",
    ):
        assert item in text
    assert "该部分费用未纳入本协议" in text


@pytest.mark.parametrize("kind", ["payment_order_application", "complaint"])
def test_court_drafts_claim_principal_penalty_and_costs(kind):
    context = build_context(kind, sample_facts(kind))
    text = read_docx_text(render_docx(kind, context))
    assert len(context["claims"]) == 3
    assert (
        "2025年第3季度至2026年第3季度物业服务费、车位管理费共计¥3,649.50" in context["claims"][0]
    )
    assert "违约金¥126.38" in context["claims"][1]
    assert "杭州市西湖区人民法院" in text and "草稿" in text


def test_evidence_list_lists_items_in_court_order():
    text = read_docx_text(render_document("evidence_list", sample_facts("evidence_list")))
    titles = [e.title for e in sample_facts("evidence_list").evidence]
    positions = [text.index(t) for t in titles]
    assert positions == sorted(positions)


def test_same_input_gives_the_same_bytes():
    facts = hostile_facts("payment_demand")
    first = render_document("payment_demand", facts)
    second = render_document("payment_demand", facts)
    assert sha256_hex(first) == sha256_hex(second)
    assert len(sha256_hex(first)) == 64


def test_committed_templates_match_the_generator(tmp_path):
    build_all(tmp_path)
    for kind, name in TEMPLATES.items():
        assert (tmp_path / name).read_bytes() == template_path(kind).read_bytes(), name


def test_templates_are_a4_with_chinese_east_asian_font():
    for kind in KINDS:
        document = Document(str(template_path(kind)))
        section = document.sections[0]
        assert round(section.page_width.cm, 1) == 21.0
        assert round(section.page_height.cm, 1) == 29.7
        for margin in (section.left_margin, section.right_margin, section.top_margin):
            assert round(margin.cm, 1) == 2.5
        fonts = document.styles["Normal"].element.rPr.find(qn("w:rFonts"))
        assert fonts.get(qn("w:eastAsia")) == "宋体"
