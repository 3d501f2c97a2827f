"""Context builders format money and dates in Python and enforce the letters' legal rules."""

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from documents.contexts import BUILDERS, build_context, clean, format_date, sample_facts
from documents.facts import Installment, Party, Period


def test_dates_are_written_the_chinese_way():
    assert format_date(date(2026, 12, 8)) == "2026年12月8日"


def test_clean_drops_control_characters_and_line_breaks():
    assert clean(" 李\x00晓\n明\t\x07 ") == "李晓 明"


@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_every_builder_returns_plain_values_with_the_same_keys_whatever_the_facts(kind):
    facts = sample_facts(kind)
    owner = replace(facts.debtor, role="owner", owner_name="")
    bare_facts = replace(
        facts, debtor=owner, periods=facts.periods[2:], evidence=facts.evidence[:1]
    )
    if kind != "installment_agreement":  # the plan's sum includes the penalty
        bare_facts = replace(bare_facts, penalty=None)
    full = build_context(kind, facts)
    bare = build_context(kind, bare_facts)
    assert full.keys() == bare.keys()
    for value in full.values():
        assert isinstance(value, str | bool | list)


def test_fee_clause_shows_rate_times_area_and_monthly_fee():
    context = build_context("statement", sample_facts("statement"))
    assert (context["fee_rate"], context["area"], context["monthly_fee"]) == (
        "¥2.80",
        "89.75",
        "¥251.30",
    )


def test_time_barred_periods_are_kept_out_of_the_totals():
    context = build_context("payment_demand", sample_facts("payment_demand"))
    assert context["principal"] == "¥3,649.50"
    assert context["total"] == "¥3,775.88"  # principal + contractual penalty
    assert context["barred_total"] == "¥1,507.80"
    assert [p["label"] for p in context["barred_periods"]] == ["2023年第3季度", "2023年第4季度"]


def test_without_a_penalty_clause_no_585_and_no_penalty_in_the_total():
    context = build_context(
        "payment_demand", replace(sample_facts("payment_demand"), penalty=None)
    )
    assert context["legal_basis"] == "第509条、第577条、第944条"
    assert context["total"] == context["principal"]
    assert context["has_penalty"] is False


def test_a_demand_deadline_under_15_days_is_refused():
    facts = replace(sample_facts("payment_demand"), deadline=date(2026, 12, 1))
    with pytest.raises(ValueError, match="15"):
        build_context("payment_demand", facts)


def test_a_lawyer_letter_needs_a_firm_an_earlier_demand_and_7_days():
    facts = sample_facts("lawyer_letter")
    for broken in (
        replace(facts, firm=None),
        replace(facts, earlier_demands=()),
        replace(facts, deadline=date(2026, 11, 25)),
    ):
        with pytest.raises(ValueError):
            build_context("lawyer_letter", broken)


def test_installments_must_sum_to_what_is_owed():
    facts = sample_facts("installment_agreement")
    short = replace(facts, installments=facts.installments[:2])
    with pytest.raises(ValueError, match="分期"):
        build_context("installment_agreement", short)


def test_time_barred_sums_enter_a_plan_only_when_volunteered():
    facts = sample_facts("installment_agreement")
    extra = Installment(date(2027, 2, 26), Decimal("1507.80"))
    context = build_context(
        "installment_agreement", replace(facts, installments=(*facts.installments, extra))
    )
    assert context["plan_includes_barred"] is True
    assert context["plan_total"] == "¥5,283.68"


@pytest.mark.parametrize("kind", ["evidence_list", "payment_order_application", "complaint"])
def test_court_drafts_need_a_court_and_a_claim_within_limitation(kind):
    facts = sample_facts(kind)
    with pytest.raises(ValueError):
        build_context(kind, replace(facts, court=""))
    barred_only = tuple(replace(p, time_barred=True) for p in facts.periods)
    with pytest.raises(ValueError):
        build_context(kind, replace(facts, periods=barred_only))


def test_a_payment_order_claims_no_penalty_without_a_contract_clause():
    facts = replace(sample_facts("payment_order_application"), penalty=None)
    claims = build_context("payment_order_application", facts)["claims"]
    assert len(claims) == 2 and not any("违约金" in c for c in claims)


def test_inputs_are_validated_when_built():
    with pytest.raises(ValueError):
        Period(
            "2026年第1季度", "物业服务费", date(2026, 1, 15), Decimal("10.00"), Decimal("11.00")
        )
    with pytest.raises(TypeError):
        Period("2026年第1季度", "物业服务费", date(2026, 1, 15), 10.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Party("张三", "1栋101", Decimal("80"), "地址", role="tenant")
    with pytest.raises(KeyError):
        build_context("eviction_notice", sample_facts("statement"))


@pytest.mark.parametrize("kind", ["evidence_list", "payment_order_application", "complaint"])
def test_court_drafts_wait_until_the_last_deadline_has_passed(kind):
    facts = sample_facts(kind)
    with pytest.raises(ValueError, match="届满"):
        build_context(kind, replace(facts, deadline=date(2026, 12, 8)))
