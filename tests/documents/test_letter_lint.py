"""The banned-content linter refuses threats, 征信, criminal law, court forms and shaming."""

import pytest

from documents.contexts import TEMPLATES, sample_facts
from documents.lint import is_clean, lint_text
from documents.render import docx_text, render_document

BANNED = [
    ("我们不会停水停电", "utility_threat", "停水"),
    ("逾期将停止供水", "utility_threat", "停止供水"),
    ("届时将暂停对您家的供电", "utility_threat", "暂停对您家的供电"),
    ("停掉你家的电", "utility_threat", "停掉你家的电"),
    ("物业将停气、停暖", "utility_threat", "停气"),
    ("我们将限制门禁", "utility_threat", "限制门禁"),
    ("注销您的门禁卡", "utility_threat", "注销您的门禁"),
    ("停用电梯", "utility_threat", "停用电梯"),
    ("锁车位", "utility_threat", "锁车位"),
    ("禁止车辆进入小区", "utility_threat", "禁止车辆进入"),
    ("不予办理装修手续", "utility_threat", "不予办理装修"),
    ("将上报征信系统", "credit_blacklist", "征信"),
    ("列入黑名单", "credit_blacklist", "黑名单"),
    ("纳入失信被执行人", "credit_blacklist", "失信"),
    ("限制高消费", "credit_blacklist", "限制高消费"),
    ("将追究您的刑事责任", "criminal_threat", "刑事责任"),
    ("可能被拘留", "criminal_threat", "拘留"),
    ("我们会报警", "criminal_threat", "报警"),
    ("法院传票", "court_imitation", "传票"),
    ("民事判决书", "court_imitation", "民事判决书"),
    ("法院通知：请于三日内付款", "court_imitation", "法院通知"),
    ("强制执行通知书", "court_imitation", "执行通知"),
    ("后果自负", "exaggeration", "后果自负"),
    ("将查封您的房产", "exaggeration", "查封"),
    ("影响子女上学", "exaggeration", "影响子女"),
    ("这是最后通牒", "exaggeration", "最后通牒"),
    ("你这个老赖", "insult", "老赖"),
    ("不要脸", "insult", "不要脸"),
    ("将在小区公示欠费名单", "public_shaming", "公示欠费名单"),
    ("我们将予以曝光", "public_shaming", "曝光"),
    ("在业主群公布您的姓名", "public_shaming", "在业主群公布"),
    ("我们将通知您的单位", "third_party", "通知您的单位"),
]

CLEAN = [
    "尊敬的业主：您好！您2026年第3季度物业服务费尚未交纳，请于12月8日前通过官方渠道付款。",
    "如您对账单有异议，请联系客服，我司将在2个工作日内答复受理，15个工作日内书面答复。",
    "如期限届满仍未付清，我司可以依法向人民法院申请支付令、提起诉讼或者申请仲裁。",
    "对于逾期付款的违约责任，我司保留依法主张的权利。",
    "欠费项目：物业服务费、公摊水电费、停车位管理费、停车场停车费、垃圾清运费。",
    "我司已将小区整体收缴率向业主委员会报告。",
    "此致\n杭州市西湖区人民法院",
    "判决书生效后依法履行。",
    "如有困难，可与我司协商分期付款，我们将耐心为您服务。",
]


@pytest.mark.parametrize(("text", "rule", "phrase"), BANNED)
def test_banned_phrases_are_found_and_named(text, rule, phrase):
    findings = lint_text(text)
    assert any(f.rule == rule and f.phrase == phrase for f in findings), findings
    assert all(f.phrase in f.message and "禁止" in f.message for f in findings)
    assert not is_clean(text)


@pytest.mark.parametrize("text", CLEAN)
def test_normal_letter_and_sms_text_is_not_flagged(text):
    assert lint_text(text) == []


@pytest.mark.parametrize("kind", sorted(TEMPLATES))
def test_rendered_sample_letters_are_clean(kind):
    text = docx_text(render_document(kind, sample_facts(kind)))
    assert lint_text(text) == []


def test_findings_come_in_text_order():
    findings = lint_text("先说征信，再说停水")
    assert [f.phrase for f in findings] == ["征信", "停水"]
