"""Banned-content linter for letters, templates and SMS (legal-rules A1, A7, F2, G4, G5).

A phrase is refused wherever it appears, even negated ("我们不会停水"): letters never mention
utilities, credit reports or criminal law at all, so there is nothing lawful to lose.
"""

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Finding:
    """One banned phrase found in a text: the rule it breaks and why, in Chinese."""

    rule: str
    phrase: str
    message: str
    start: int = 0


_GAP = r"[^。；;！!？?\n]{0,8}?"  # a few characters inside one clause
_CUT = (
    r"(?:停止|暂停|中止|中断|切断|掐断|断开|关闭|关掉|停掉|断掉|拆掉|拆除|限制|停用|禁用|锁定|锁闭"
    r"|锁住|注销|冻结|取消|拒绝|不再|不予)"
)
# single-character verbs only right before their object: 停车位 and 停车费 are plain nouns
_SHORT_CUT = (
    r"(?:停|断)(?:掉|了)?(?:您|你|贵)?(?:家|户)?的?(?:水|电|气|暖|热|燃气|电梯|梯|门禁|门卡)"
    r"|锁(?:掉|了)?(?:您|你)?(?:家|户)?的?(?:车位|电梯|梯|门禁|门卡)"
)
_SUPPLY = (
    r"(?:供水|供电|供气|供暖|供热|用水|用电|用气|水电|水、电|自来水|燃气|天然气|煤气|暖气|热水"
    r"|电梯|梯控|门禁|门卡|出入卡|车位|停车|车辆出入|道闸|地锁|网络|宽带)"
)

_RULES: list[tuple[str, str, str]] = [
    (
        "utility_threat",
        "不得以停水、停电、停气、停暖或限制电梯、门禁、车位等方式催缴物业费（民法典第944条）",
        rf"{_SHORT_CUT}|上地锁|{_CUT}{_GAP}{_SUPPLY}"
        r"|(?:限制|禁止|不让|不准|拒绝)(?:您|你|业主|车辆)?(?:进出|出入|进入|入场|回家|停放)"
        r"|不予(?:办理|放行)(?:装修|入住|过户|车辆)?",
    ),
    (
        "credit_blacklist",
        "不得提及征信、黑名单或失信：物业公司无权上报，黑名单只能由法院作出（民法典第944条、"
        "《物业管理条例》及法律规则A7）",
        r"征信|信用记录|信用报告|信用档案|信用中国|不良记录|黑名单|失信|老赖|限制高消费|限高"
        r"|限制(?:出行|乘坐|乘车|出境)",
    ),
    (
        "criminal_threat",
        "不得以刑事责任、拘留或报警相威胁：欠交物业费是民事纠纷",
        r"(?:追究)?刑事(?:责任)?|拘留|坐牢|判刑|入狱|监狱|报警|公安|警察|犯罪|诈骗|拒执罪|罪名",
    ),
    (
        "court_imitation",
        "不得仿冒法院文书或以法院名义通知（传票、判决书、执行通知等）",
        r"传票|(?:^|\n)[ \t\u3000]*[^\n]{0,12}(?:判决书|裁定书|调解书)[ \t\u3000]*(?:$|\n)"
        r"|法院(?:通知|公告|令)|执行通知|执行局",
    ),
    (
        "exaggeration",
        "不得夸大后果：只能如实说明可依法申请支付令、起诉或仲裁（民法典第944条）",
        r"后果自负|一切后果|严重后果|最后通牒|法院将|必将被|必须立即|立即起诉|强制执行您"
        r"|查封|拍卖|扣押|冻结(?:您的)?(?:银行)?(?:账户|存款|工资|房产)|没收|收回房屋"
        r"|影响(?:您的)?(?:子女|孩子|家人)|子女(?:上学|入学|就业)|株连|走着瞧|别怪我们|不客气|后悔",
    ),
    (
        "insult",
        "不得使用侮辱、贬损性语言",
        r"老赖|赖账|赖皮|无赖|骗子|不要脸|无耻|可耻|缺德|人渣|败类|垃圾人|没素质|素质低|素质差"
        r"|穷鬼|混蛋|王八|畜生|傻[逼瓜B]|白痴|蠢货|去死|找死",
    ),
    (
        "public_shaming",
        "不得公开欠费人员信息或以曝光相威胁（个人信息保护法第25条、民法典第1033条）",
        r"曝光|公示欠费(?:名单)?|欠费(?:名单|公示|榜)|黑榜|通报批评|张贴[^。\n]{0,6}(?:姓名|名单|欠费)"
        r"|公布[^。\n]{0,6}(?:姓名|名单|欠费)|在(?:业主)?群[^。\n]{0,4}(?:公布|通报|点名)|点名批评",
    ),
    (
        "third_party",
        "不得向工作单位、亲友、邻居等无关第三人透露或催收欠费",
        r"(?:通知|告知|联系|找)(?:您的)?(?:工作)?(?:单位|领导|同事|亲友|亲戚|邻居|家人)",
    ),
]

RULES: list[tuple[str, str, re.Pattern[str]]] = [
    (rule, message, re.compile(pattern, re.MULTILINE)) for rule, message, pattern in _RULES
]


def lint_text(text: str) -> list[Finding]:
    """Every banned phrase in the text, in order; an empty list means the text may be sent."""
    findings: list[Finding] = []
    for rule, message, pattern in RULES:
        for match in pattern.finditer(text):
            phrase = match.group(0).strip()
            findings.append(
                Finding(rule, phrase, f"含有禁止内容“{phrase}”：{message}", match.start())
            )
    return sorted(findings, key=lambda f: (f.start, f.rule))


def is_clean(text: str) -> bool:
    """True when the text holds no banned phrase."""
    return not lint_text(text)
