"""`flask seed-demo`: a realistic demo estate whose case histories come from the real services.

Two communities (阳光花园, 翠湖苑) with buildings, units, owners, paying tenants and staff in
every role. Each arrears case is played forward through the past on a simulated clock: the
monthly 物业费 falls due and is billed, the case is opened, collectors call and visit inside
the contact windows on working days, letters are issued and delivered (EMS, grade A), legal
officers approve (four-eyes) and file, owners promise, dispute and pay. Every step calls the
service layer, so the guards, the audit chain and the timers are exactly what production
would have produced. 翠湖苑's ledger was moved into Casework about 15 months ago, with older
arrears from the old ledger: some of its periods are past or near the 3-year limitation.

Deterministic for a given seed and `now`; idempotent (nothing happens when the demo
community exists).
"""

from __future__ import annotations

import calendar as _month_calendar
import logging
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any

import click
import sqlalchemy as sa
from flask import current_app

from workflows.dunning import STATE_IDS
from workflows.errors import WorkflowError

from . import contact_rules, letters, services
from .extensions import db
from .models import (
    ROLES,
    Building,
    Community,
    ContactChannel,
    Debtor,
    Document,
    DunningCase,
    Installment,
    PaymentPlan,
    Policy,
    StaffUser,
    Task,
    Unit,
    staff_community,
)
from .policy import default_policy
from .services.clock import SHANGHAI, local_date, working_calendar
from .services.contacts import RULES_CHANNEL, contact_policy
from .services.errors import ServiceError

log = logging.getLogger("casework.seed")

# (username, password, role): printed by `flask seed-demo`; demo only, never in production.
DEMO_LOGINS: list[tuple[str, str, str]] = [
    ("cuifei1", "cuifei1-demo", "collector"),
    ("cuifei2", "cuifei2-demo", "collector"),
    ("cuifei3", "cuifei3-demo", "collector"),
    ("zuzhang", "zuzhang-demo", "supervisor"),
    ("fawu1", "fawu1-demo", "legal"),
    ("fawu2", "fawu2-demo", "legal"),
    ("shenji", "shenji-demo", "auditor"),
    ("admin", "admin-demo", "admin"),
]
COMPLETION_ROLE = "auditor"  # its account is created last (see Estate.complete)
STAFF_NAMES = {"cuifei1": "王丽娟", "cuifei2": "刘建军", "cuifei3": "陈思雨", "zuzhang": "李国强",
               "fawu1": "赵敏", "fawu2": "周文博", "shenji": "孙静", "admin": "钱志远"}

COMPANY = "示范物业服务有限公司"
COLLECTORS = {"YGHY": ("cuifei1", "cuifei3"), "CHY": ("cuifei2", "cuifei3")}  # by community


@dataclass(frozen=True)
class Site:
    code: str
    name: str
    address: str
    court: str
    rate: Decimal  # 物业费, yuan per m² and month
    floors: int
    per_floor: int
    layouts: tuple[str, ...]  # m² of the flat types, by position on the floor
    penalty: Decimal | None  # contractual daily late-fee rate, where the contract has one
    share: float  # of the units
    legacy: bool  # arrears imported from the old ledger
    contract: dict[str, str]  # the letters print it (policy "contract" block)


SITES = (
    Site("YGHY", "阳光花园", "杭州市余杭区五常街道阳光路88号", "杭州市余杭区人民法院",
         Decimal("1.80"), 11, 4, ("78.45", "89.62", "96.30", "118.75"), None, 0.55, False,
         {"name": "《前期物业服务合同》", "number": "YGHY-QQ-2019-001", "signed_on": "2019-05-20",
          "fee_clause": "第五条：住宅物业服务费按建筑面积每月每平方米1.80元计收。",
          "rate_per_m2_month": "1.80", "service_start": "2019-07-01", "penalty_clause": ""}),
    Site("CHY", "翠湖苑", "杭州市拱墅区翠湖路16号", "杭州市拱墅区人民法院",
         Decimal("2.50"), 18, 4, ("92.18", "105.66", "126.40", "143.85"), Decimal("0.000300"),
         0.45, True,
         {"name": "《物业服务合同》", "number": "CHY-WY-2016-003", "signed_on": "2016-08-26",
          "fee_clause": "第六条：住宅物业服务费按建筑面积每月每平方米2.50元计收。",
          "rate_per_m2_month": "2.50", "service_start": "2016-10-01",
          "penalty_clause": "第十二条：业主逾期交纳物业服务费的，"
                            "每日按逾期未付金额的万分之三支付违约金。"}),
)
# What the letters print about the company and the engaged law firm (all demo values).
LETTER_COMPANY = {
    "full_name": COMPANY, "phone": "0571-8888 6600", "legal_representative": "张建华",
    "credit_code": "91330110DEMO00001X", "account_name": COMPANY,
    "bank_name": "中国工商银行杭州示范支行", "account_number": "1202 0210 0990 0000 001",
    "payment_channels": ["物业服务中心前台（工作日9:00—17:30）", "物业微信公众号在线缴费",
                         "银行转账至上列对公账户（请备注房号）"],
    "contact_person": "李国强", "contact_phone": "0571-8888 6601",
}
LETTER_FIRM = {"name": "浙江示范律师事务所", "address": "杭州市上城区示范路8号",
               "phone": "0571-8765 0000", "lawyer_name": "黄振华",
               "lawyer_license": "13301201910000001", "lawyer_phone": "0571-8765 0001"}
IMPORT_DAYS = 450  # 翠湖苑's old ledger (with older arrears) was imported 15 months ago

SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董"
            "袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟"
            "熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤")
GIVEN = ("伟 芳 娜 敏 静 丽 强 磊 军 洋 勇 艳 杰 娟 涛 明 超 霞 平 刚 秀英 桂英 建华 "
         "志强 海燕 晓东 文 婷 宇 浩 欣怡 子涵 俊杰 雨涵 建国 国强 玉兰 红梅 丽华 春梅 "
         "建平 秀兰 志明 海涛 小红 晓明 伟华 立新 德华 淑珍 凤英 玉珍 永刚 振华 嘉怡 "
         "思远 一鸣 子轩 梓萱 佳琪 文静 晨曦 浩然 宏伟 金凤 桂兰 建军 海峰 雪梅 慧敏 "
         "亚楠 鹏飞 国华 荣 斌 鑫 琳 颖 倩 蕾").split()
PHONE_PREFIXES = ("130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151",
                  "152", "153", "155", "156", "157", "158", "159", "180", "181", "182", "183",
                  "185", "186", "187", "188", "189")
STYLES = ("性格直爽，喜欢直接说明金额和期限。",
          "工作繁忙，白天不便接听，适合短信或傍晚联系。",
          "对物业服务有意见，沟通时需耐心倾听再谈缴费。",
          "年纪较大，说话需慢、需重复金额。",
          "讲道理，重视书面依据，给出账单明细效果好。",
          "爱面子，宜私下沟通，不宜在公共场合提及欠费。",
          "")
HOUSEHOLDS = ("家中有老人，白天有人在家。", "长期在外地工作，房屋由亲戚照看。",
              "三口之家，孩子上小学。", "房屋出租中，业主不常住。", "退休夫妻二人居住。", "")

SMS_REMINDER = ("【{company}】尊敬的{name}您好：您在{community}{unit}的物业服务费"
                "（{first}至{last}）尚有{amount}元未缴，烦请近期通过物业APP、微信或到服务中心缴纳。"
                "如已缴纳请忽略；如有疑问，请联系物业服务中心。感谢您的理解与支持！")
REASON_NOTES: dict[tuple[str, str | None], tuple[str, ...]] = {
    ("unaware", "forgot"): ("业主表示工作忙忘记缴费，答应近日通过APP缴纳。",
                            "业主以为已开通自动扣款，得知未扣款后表示尽快补缴。"),
    ("excuse", "hardship"): ("业主称今年失业、家庭经济困难，希望分期缴纳。",
                             "业主称家人住院花费较大，暂时无力一次缴清，愿意分期。"),
    ("excuse", "service_quality"): (
        "业主反映楼道灯长期不亮、电梯经常故障，对物业服务不满，暂不缴费。",
        "业主反映楼上渗水多次报修未处理，要求先解决问题再缴费。"),
    ("excuse", "billing"): ("业主对计费面积有疑问，要求提供计费明细后再缴费。",),
    ("excuse", "developer_legacy"): ("业主称房屋存在开发商遗留的外墙渗漏问题未解决，拒绝缴费。",),
    ("excuse", "vacancy"): ("业主称房屋交付后长期空置未入住，要求按空置房减免物业费。",),
    ("excuse", "wrong_debtor"): ("接电话者称房屋已于去年出售，欠费不应由其承担。",),
    ("excuse", "contract_end"): ("承租人称租赁合同已到期并已搬离，物业费应由业主承担。",),
    ("excuse", "collective"): ("业主称楼内多户约定等业委会与物业协商结果后再缴费。",),
    ("wilful", None): ("业主明确表示不缴物业费，态度强硬，沟通未果。",
                       "业主称“别的业主也没交”，拒绝缴费，已做好记录。"),
    ("unreachable", None): ("电话无人接听。", "电话提示关机。", "号码为空号，需补充联系方式。"),
}
TECHNIQUE_NOTES = {
    "timely_reminder": "提醒缴费期限并说明缴费渠道。",
    "sympathy": "说明物业服务中心的运营困难和员工的辛苦，请业主理解支持。",
    "cut_retreat": "如实说明逾期将按合同约定处理，必要时物业公司可依法申请支付令或起诉。",
    "carpet_bombing": "电话、短信、上门多渠道跟进，留下缴费通知。",
    "united_front": "与业委会成员一同上门沟通，听取业主意见。",
    "sugar_coated": "告知一次性缴清可申请减免部分违约金。",
    "mobilize_all": "邀请楼栋长协助做业主的沟通工作，仅谈服务改进和缴费渠道，不涉及欠费金额。",
}
DISPUTE_NOTES = {
    "service_quality": "业主反映电梯经常故障、楼道保洁不到位，已转维修工单，要求整改后再缴费。",
    "billing": "业主对{periods}的计费面积有异议，要求按不动产权证面积核对。",
    "developer_legacy": "业主称外墙渗漏属开发商遗留问题，要求物业协调开发商维修后再缴费。",
    "vacancy": "业主称房屋在{periods}期间空置未住，已提交空置申请材料，要求按合同减免。",
}
RESOLVE_NOTES = {
    "upheld": "工单已完成整改，业主确认，收费维持。",
    "reduced": "经核实服务确有不足，经项目经理审批给予部分减免。",
    "waived": "经核实所列期间确属空置或计费有误，相应期间费用予以免除。",
}
WITHDRAW_REASONS = ("非责任人：房屋已于两年前过户，欠费属于原业主，已转交原业主另行处理。",
                    "账务错误：系统重复计费，经财务核对后撤销本案。",
                    "合同终止：租赁合同已解除，物业费由业主另行结算，撤销对承租人的催缴。")
WRITE_OFF_REASONS = (
    "部分期间已超过三年诉讼时效，业主明确拒绝支付，剩余金额催收成本过高，经审批核销。",
    "业主已去世且无可联系的继承人，经法务核实后核销。",
    "低保家庭，经社区证明确有困难，经项目经理审批予以核销。")
REJECT_REASONS = ("对账单与系统欠费金额不一致，请先核对账目后再申请。",
                  "送达证据的签收人与业主身份不符，请补充有效送达后再申请。")
COURT_ROUTES = ("payment_order", "small_claims", "pre_suit_mediation", "suit")


LABELS = {"payment_demand": "物业费催缴通知书", "lawyer_letter": "律师函"}  # EMS 内件品名


class IncompleteDemo(click.ClickException):
    """Seeding was interrupted earlier: `flask seed-demo` says so instead of pretending."""


def _completed() -> bool:
    username = next(u for u, _, role in DEMO_LOGINS if role == COMPLETION_ROLE)
    return db.session.scalar(sa.select(StaffUser.id).where(StaffUser.username == username)) \
        is not None


class OutOfTime(Exception):
    """The story would run past `now`: it stops where it is."""


@dataclass
class Step:
    kind: str
    gap: tuple[int, int] = (0, 0)  # days after the previous step (working days only)
    args: dict[str, Any] = field(default_factory=dict)
    after: str | None = None  # wait until this document's deadline has passed
    anchor: bool = False  # snapped towards now: the final stage is entered here


@dataclass
class Story:
    target: str
    steps: list[Step]
    dwell: int  # days the case has been in its final stage at `now`
    reason: tuple[str, str | None]
    legal: bool = False  # needs a balance above the legal threshold
    profile: str = ""  # debtor adjustments: unidentified, no_channel, unreachable, written_only


@dataclass
class SeedReport:
    logins: list[tuple[str, str, str]]
    cases: dict[int, tuple[str, str]] = field(default_factory=dict)  # id -> (target, reached)
    failures: list[str] = field(default_factory=list)


def seed(units: int = 520, cases: int = 160, seed: int = 20261123,
         now: datetime | None = None) -> list[tuple[str, str, str]] | None:
    """Seed the demo; returns the logins, or None (changing nothing) when demo data exists."""
    report = run(units=units, cases=cases, seed=seed, now=now)
    return None if report is None else report.logins


def run(units: int = 520, cases: int = 160, seed: int = 20261123,
        now: datetime | None = None) -> SeedReport | None:
    now = (now or datetime.now(UTC)).astimezone(UTC)
    if db.session.scalar(sa.select(Community.id).where(Community.code == SITES[0].code)):
        if _completed():
            return None
        raise IncompleteDemo(
            "an earlier seed-demo stopped half-way, so the demo data is incomplete (and the "
            "audit chain cannot be deleted). Delete the demo database (`make clean-demo`, or "
            "instance/casework.sqlite3*) and run `flask db upgrade` and `flask seed-demo` again.")
    if cases < len(STATE_IDS):
        log.warning("fewer than %d cases: not every stage will be shown", len(STATE_IDS))
    with _letters_inline(), _fast_sqlite():
        return _run(units, cases, seed, now)


@contextmanager
def _fast_sqlite() -> Iterator[None]:
    """SQLite in WAL mode stays consistent with synchronous=NORMAL; the seed's thousands of
    small commits then skip the fsync (a crash mid-seed loses at most the demo data)."""
    engine = db.engine
    if engine.dialect.name != "sqlite":
        yield
        return

    def relaxed(dbapi_connection, _record, _proxy) -> None:
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")

    sa.event.listen(engine, "checkout", relaxed)
    try:
        yield
    finally:
        sa.event.remove(engine, "checkout", relaxed)
        db.session.remove()
        engine.dispose()  # later connections start with the default (FULL) again


@contextmanager
def _letters_inline() -> Iterator[None]:
    """While seeding, letters are rendered in-process at their historical moment (no Redis,
    no PDF); the app's own settings come back afterwards."""
    config = current_app.config
    saved = {key: config.get(key, _UNSET) for key in ("DOCUMENTS_ENQUEUE_ON_COMMIT",
                                                       "DOCUMENT_PDF")}
    config.update({key: False for key in saved})
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is _UNSET:
                config.pop(key, None)
            else:
                config[key] = value


_UNSET = object()


def _run(units: int, cases: int, seed: int, now: datetime) -> SeedReport:
    rng = random.Random(seed)
    estate = Estate(rng, now)
    estate.build(units)
    report = SeedReport(logins=estate.logins)
    payers = estate.payers()
    if cases > len(payers):
        raise ValueError(f"{cases} cases need at least as many owners in arrears; "
                         f"{units} units give {len(payers)}")
    targets = [STATE_IDS[i] for i in range(min(cases, len(STATE_IDS)))]
    targets += rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()),
                           k=cases - len(targets))
    rng.shuffle(targets)
    chosen = rng.sample(payers, cases)
    for n, (target, payer) in enumerate(zip(targets, chosen, strict=True)):
        case_rng = random.Random(f"{seed}:{n}")
        story = STORIES[target](case_rng, payer)
        runner = CaseRun(estate, payer, story, case_rng)
        try:
            runner.play()
        except OutOfTime:
            report.failures.append(f"{payer.debtor_name}: ran out of time before {target}")
        except (ServiceError, WorkflowError, ValueError, sa.exc.SQLAlchemyError) as exc:
            db.session.rollback()  # the case stays where the story got to; the rest go on
            report.failures.append(f"{payer.debtor_name} ({target}): {exc.__class__.__name__}: "
                                   f"{getattr(exc, 'message', exc)}")
            log.warning("demo story towards %s stopped: %s", target, exc)
        if runner.case_id:
            state = db.session.scalar(sa.select(DunningCase.state)
                                      .where(DunningCase.id == runner.case_id))
            report.cases[runner.case_id] = (target, state)
    estate.complete()
    report.logins = estate.logins
    return report


# --- the estate --------------------------------------------------------------------------------

@dataclass
class Payer:
    """Someone who pays (and owes) the fees of one or more units: an owner or a paying tenant."""

    debtor_id: int
    debtor_name: str
    site: Site
    community_id: int
    unit_ids: list[int]
    unit_label: str
    monthly: Decimal
    collector: str
    fees: dict[int, Decimal] = field(default_factory=dict)  # unit id -> monthly 物业费


class Estate:
    """Staff, communities with their policies, buildings, units, owners and paying tenants."""

    def __init__(self, rng: random.Random, now: datetime) -> None:
        self.rng, self.now = rng, now
        self.today = local_date(now)
        self.cal = working_calendar()
        self.staff: dict[str, StaffUser] = {}
        self.logins: list[tuple[str, str, str]] = []
        self._contact_policies: dict[int, contact_rules.ContactPolicy] = {}
        self.communities: dict[str, Community] = {}
        self._payers: list[Payer] = []
        self._phones: set[str] = set()

    def add_staff(self, roles) -> None:
        roles = set(roles)
        for username, password, role in DEMO_LOGINS:
            if role not in roles:
                continue
            user = db.session.scalar(sa.select(StaffUser).where(StaffUser.username == username))
            if user is not None:  # made by `flask create-user` before the demo: keep it as is
                if not user.has_role(role):
                    raise ValueError(f"user {username} exists without the role {role}; "
                                     "rename it or seed an empty database")
                self.logins.append((username, "(unchanged)", role))
            else:
                user = StaffUser(username=username, display_name=STAFF_NAMES[username],
                                 created_at=self.moment(1500), phone=self.phone())
                user.roles = (role,)
                user.set_password(password)
                db.session.add(user)
                self.logins.append((username, password, role))
            self.staff[username] = user
        order = [login[0] for login in DEMO_LOGINS]
        self.logins.sort(key=lambda login: order.index(login[0]))

    def complete(self) -> None:
        """The auditor's account comes last: it marks a demo that was seeded to the end."""
        self.add_staff([COMPLETION_ROLE])
        db.session.commit()

    def user(self, username: str) -> StaffUser:
        return self.staff[username]

    def contact_policy(self, case_id: int, community_id: int) -> contact_rules.ContactPolicy:
        """The contact rules of a community's policy (the same for all its demo cases)."""
        if community_id not in self._contact_policies:
            case = db.session.get(DunningCase, case_id)
            self._contact_policies[community_id] = contact_policy(case)
        return self._contact_policies[community_id]

    def moment(self, days_ago: int, hour: int = 10) -> datetime:
        day = self.today - timedelta(days=days_ago)
        return datetime.combine(day, time(hour), SHANGHAI).astimezone(UTC)

    def build(self, units: int) -> None:
        self.add_staff(role for role in ROLES if role != COMPLETION_ROLE)
        db.session.flush()
        counts = [round(units * site.share) for site in SITES[:-1]]
        counts.append(units - sum(counts))
        for site, count in zip(SITES, counts, strict=True):
            self._community(site, count)
        for code, names in COLLECTORS.items():
            for name in names:
                db.session.execute(staff_community.insert().values(
                    staff_id=self.staff[name].id, community_id=self.communities[code].id))
        db.session.commit()

    def _community(self, site: Site, count: int) -> None:
        since = IMPORT_DAYS if site.legacy else 1300
        community = Community(code=site.code, name=site.name, address=site.address,
                              city="杭州", company_name=COMPANY)
        db.session.add(community)
        db.session.flush()
        self.communities[site.code] = community
        db.session.add(Policy(community_id=community.id, version=1, data=policy_data(site),
                              created_at=self.moment(since), created_by_id=self.staff["admin"].id))
        per_building = site.floors * site.per_floor
        units: list[Unit] = []
        for b in range((count + per_building - 1) // per_building):
            building = Building(community_id=community.id, name=f"{b + 1}栋")
            db.session.add(building)
            db.session.flush()
            for n in range(min(per_building, count - len(units))):
                floor, pos = n // site.per_floor + 1, n % site.per_floor
                unit = Unit(building_id=building.id, number=f"{floor}{pos + 1:02d}",
                            area=Decimal(site.layouts[pos]),
                            delivered_on=self.today - timedelta(days=since + 400))
                unit.building = building
                db.session.add(unit)
                units.append(unit)
        db.session.flush()
        self._people(site, community, units, since)

    def _people(self, site: Site, community: Community, units: list[Unit], since: int) -> None:
        rng = self.rng
        owners: list[tuple[Debtor, list[Unit]]] = []
        for unit in units:
            if owners and rng.random() < 0.04 and len(owners[-1][1]) == 1:
                owners[-1][1].append(unit)  # a household with a second flat
                continue
            owners.append((self.debtor(site, unit, "owner", since), [unit]))
        db.session.flush()
        for owner, owned in owners:
            paying = []
            for unit in owned:
                if rng.random() < 0.08:  # let; the lease makes the tenant pay the fees
                    tenant = self.debtor(site, unit, "tenant", rng.randint(60, since))
                    tenant.household_notes = (f"承租人，租赁合同约定由承租人缴纳物业费；"
                                              f"业主{owner.name}。")
                    tenant.owner_name = owner.name  # jointly liable; the letters name them
                    db.session.flush()
                    self._payers.append(self.payer(site, community, tenant, [unit]))
                else:
                    paying.append(unit)
            if paying:
                self._payers.append(self.payer(site, community, owner, paying))

    def payer(self, site: Site, community: Community, debtor: Debtor,
              units: list[Unit]) -> Payer:
        monthly = sum((monthly_fee(unit.area, site.rate) for unit in units), Decimal("0.00"))
        building_no = int(units[0].building.name.rstrip("栋"))
        collector = COLLECTORS[site.code][(building_no + 1) % 2]  # split by building
        label = "、".join(f"{u.building.name}{u.number}室" for u in units)
        return Payer(debtor.id, debtor.name, site, community.id, [u.id for u in units], label,
                     monthly, collector, {u.id: monthly_fee(u.area, site.rate) for u in units})

    def debtor(self, site: Site, unit: Unit, kind: str, since: int) -> Debtor:
        rng = self.rng
        name = rng.choice(SURNAMES) + rng.choice(GIVEN)
        verified = rng.random() < 0.93
        debtor = Debtor(name=name, kind=kind, identified=True, address_verified=verified,
                        address=f"{site.address}{unit.building.name}{unit.number}室",
                        communication_style=rng.choice(STYLES),
                        household_notes=rng.choice(HOUSEHOLDS), created_at=self.moment(since))
        debtor.channels = [ContactChannel(kind="phone", value=self.phone(), verified=True),
                           ContactChannel(kind="address", value=debtor.address, verified=verified)]
        if rng.random() < 0.3:
            debtor.channels.append(ContactChannel(kind="wechat", value=f"wx_{self.phone()[-8:]}"))
        db.session.add(debtor)
        return debtor

    def phone(self) -> str:
        while True:
            number = self.rng.choice(PHONE_PREFIXES) + f"{self.rng.randrange(10 ** 8):08d}"
            if number not in self._phones:
                self._phones.add(number)
                return number

    def payers(self) -> list[Payer]:
        return list(self._payers)


def policy_data(site: Site) -> dict[str, Any]:
    """The default policy, with the company, contract and law firm the letters print."""
    data = default_policy()
    blocks = {"company": {**LETTER_COMPANY, "number_prefix": site.code + "-"},
              "contract": site.contract, "law_firm": LETTER_FIRM}
    for block, values in blocks.items():
        data[block] = {**data.get(block, {}), **values}
    return data


def monthly_fee(area: Decimal, rate: Decimal) -> Decimal:
    return (area * rate).quantize(Decimal("0.01"))


def month_end(d: date) -> date:
    return date(d.year, d.month, _month_calendar.monthrange(d.year, d.month)[1])


def month_add(d: date, months: int) -> date:
    y, m = divmod(d.year * 12 + d.month - 1 + months, 12)
    return date(y, m + 1, 1)


# --- one case's story, played on a simulated clock ---------------------------------------------

EARLY_STAGES = ("preparation", "first_reminder", "follow_up", "disputed")
REACHED = ("reached", "promised", "refused", "disputed", "paid")
HOLIDAY_MARGIN = 9  # a Spring Festival or National Day break


def upper(step: Step) -> int:
    """A generous bound on the days a step takes, for planning a story backwards from now."""
    days = step.gap[1] + 1 + step.args.get("from_stage", 0)
    if step.after == "payment_demand":
        days += 26
    elif step.after == "lawyer_letter":
        days += 20
    if step.kind == "contact":
        days += 2
    elif step.kind == "pay_installments":
        n = step.args["n"] if step.args.get("mode") == "all" else 0
        days += 16 + 31 * max(n - 1, 0)
    elif step.kind == "break":
        days += 16 + 31 + 8 + 4
    return days


class CaseRun:
    """Plays one story through the services; `clock` is the simulated now."""

    def __init__(self, estate: Estate, payer: Payer, story: Story, rng: random.Random) -> None:
        self.e, self.p, self.s, self.rng = estate, payer, story, rng
        self.case_id: int | None = None
        self.limit = estate.now - timedelta(minutes=10)
        self.collector = payer.collector
        self.requester: str | None = None
        self.history: list[contact_rules.Contact] = []
        self.accruing = True
        self.next_month: date | None = None
        self.payments = 0
        self.clock = estate.now
        self.plan_n = 0
        self.tracking: dict[str, str | None] = {}

    # -- planning -------------------------------------------------------------------------------

    def play(self) -> None:
        steps, today = self.s.steps, self.e.today
        anchor = next((i for i, st in enumerate(steps) if st.anchor), None)
        head = steps if anchor is None else steps[:anchor + 1]
        tail = 0 if anchor is None else sum(upper(st) for st in steps[anchor + 1:])
        dwell = max(self.s.dwell, tail + 1)
        pre = sum(upper(st) for st in head) + HOLIDAY_MARGIN
        open_day = today - timedelta(days=dwell + pre)
        snap = None
        if anchor is not None:
            snap = self._snap(today - timedelta(days=dwell))
        self._profile()
        self._first_month(open_day)
        self.clock = datetime.combine(open_day, time(0), SHANGHAI).astimezone(UTC)
        self.clock = self._slot(self.e.cal.next_working_day(open_day))
        for i, step in enumerate(steps):
            try:
                self._when(step, snap if i == anchor else None)
            except OutOfTime:
                if anchor is not None and i > anchor:
                    return  # an optional detail after the final stage was entered
                raise
            getattr(self, f"do_{step.kind}")(step)

    def _snap(self, day: date) -> date:
        """The working day nearest `day`: forward if that is not after today, else backward."""
        forward = self.e.cal.next_working_day(day)
        morning_left = self.limit.astimezone(SHANGHAI).time() > time(10)
        if forward < self.e.today or (forward == self.e.today and morning_left):
            return forward
        while not self.e.cal.is_workday(day):
            day -= timedelta(days=1)
        return day

    def _first_month(self, open_day: date) -> None:
        """The first unpaid month: shortly before the case opened or, for arrears found in
        翠湖苑's old ledger, up to 39 months back (past or near the 3-year limitation)."""
        rng, earliest = self.rng, month_add(self.e.today, -39)
        imported = self.e.today - timedelta(days=IMPORT_DAYS)
        early = self.s.target in EARLY_STAGES
        if self.s.profile == "legacy":  # periods already past the limitation
            first = month_add(earliest, rng.randint(0, 2))
        elif self.p.site.legacy and open_day >= imported and rng.random() < (
                0.7 if early else 0.4):
            back = rng.choice((37, 38, 39, 31, 32, 33, 34, 35, 29, 30) if early else
                              range(16, 40))
            first = month_add(self.e.today, -back)
        else:
            lag = rng.randint(20, 100)
            if self.s.legal:
                months = int(Decimal("1150") / self.p.monthly) + 1
                lag = max(lag, (months - 1) * 31 + rng.randint(5, 25))
            first = month_add(open_day - timedelta(days=lag), 0)
            if month_end(first) > open_day:
                first = month_add(first, -1)
        self.next_month = max(first, earliest)

    def _profile(self) -> None:
        profile = self.s.profile
        if not profile or profile == "legacy":
            return
        debtor = db.session.get(Debtor, self.p.debtor_id)
        if profile == "unidentified":
            debtor.identified = False
            debtor.household_notes = "房屋已办理过户，新业主身份待向不动产登记中心核实。"
        elif profile == "no_channel":
            for channel in debtor.channels:
                channel.usable = False
            debtor.household_notes = "原登记电话为空号，房屋无人应门，待补充联系方式。"
        elif profile == "unreachable":
            debtor.unreachable = True
            debtor.address_verified = False
            debtor.household_notes = "业主长期在外，电话无人接听，邻居称已一年多未见。"
        elif profile == "written_only":
            debtor.written_only = True
            debtor.communication_style = "业主书面要求：仅以书面方式联系，不接受电话和上门。"
        elif profile == "vulnerable":
            debtor.vulnerable = True
            debtor.household_notes = "独居老人，享受低保，社区网格员知情。"
        db.session.commit()

    # -- the clock ------------------------------------------------------------------------------

    def _slot(self, day: date) -> datetime:
        """A moment in working hours on `day` (Shanghai), after the clock and before the limit."""
        minute = self.rng.randint(9 * 60 + 5, 19 * 60 + 20)
        moment = datetime.combine(day, time(minute // 60, minute % 60), SHANGHAI).astimezone(UTC)
        earliest = self.clock + timedelta(minutes=self.rng.randint(3, 40))
        if moment <= earliest:
            moment = earliest
            if local_date(moment) != day or moment.astimezone(SHANGHAI).time() > time(19, 40):
                return self._slot(self.e.cal.next_working_day(day + timedelta(days=1)))
        if moment > self.limit:
            start = max(earliest, datetime.combine(day, time(9, 5), SHANGHAI).astimezone(UTC))
            end = min(self.limit, datetime.combine(day, time(19, 40), SHANGHAI).astimezone(UTC))
            if start < end:
                span = int((end - start).total_seconds() // 60)
                return start + timedelta(minutes=self.rng.randint(0, span))
            raise OutOfTime
        return moment

    def _when(self, step: Step, snap: date | None) -> None:
        day = local_date(self.clock)
        if step.after:
            day = max(day, self._deadline(step.after) + timedelta(days=1))
        day += timedelta(days=self.rng.randint(*step.gap))
        if step.args.get("from_stage"):
            since = db.session.scalar(sa.select(DunningCase.stage_since)
                                      .where(DunningCase.id == self.case_id))
            day = max(day, local_date(since) + timedelta(days=step.args["from_stage"]))
        if snap is not None and snap > day:
            day = snap
        self.clock = self._slot(self.e.cal.next_working_day(day))

    def _deadline(self, kind: str) -> date:
        deadline = db.session.scalar(sa.select(Document.deadline).where(
            Document.case_id == self.case_id, Document.kind == kind,
            Document.delivered_on.is_not(None)).order_by(Document.id.desc()))
        if deadline is None:
            raise ValueError(f"no delivered {kind} to wait for")
        return deadline

    @property
    def today(self) -> date:
        return local_date(self.clock)

    # -- the ledger -----------------------------------------------------------------------------

    def _accrue(self) -> list[int]:
        """Bill the months that fell due by today (the owner has not paid them)."""
        if not self.accruing or self.next_month is None:
            return []
        ids = []
        while month_end(self.next_month) <= self.today:
            m = self.next_month
            for unit_id, fee in self.p.fees.items():
                line = services.charge_line(  # 按月交纳，每月末前交清当月费用
                    unit_id, self.p.debtor_id, f"{m.year}年{m.month:02d}月", m,
                    month_end(m), month_end(m), fee,
                    contract_daily_rate=self.p.site.penalty,
                    external_ref=f"{self.p.site.code}-{unit_id}-{m:%Y%m}")
                db.session.flush()
                ids.append(line.id)
            self.next_month = month_add(m, 1)
        return ids

    def _bill(self) -> None:
        ids = self._accrue()
        if ids and self.case_id:
            services.open_case(self.p.debtor_id, self.p.community_id, ids, None, now=self.clock)
            self._backdate()

    def _backdate(self) -> None:
        """Some effects stamp their tasks with the wall clock; the demo lives in the past."""
        late = sa.and_(Task.case_id == self.case_id, Task.created_at > self.clock)
        if db.session.scalar(sa.select(sa.func.count(Task.id)).where(late)):
            db.session.execute(sa.update(Task).where(late).values(created_at=self.clock))
            db.session.commit()

    def outstanding(self) -> Decimal:
        case = db.session.get(DunningCase, self.case_id)
        return services.outstanding(case)

    # -- who acts -------------------------------------------------------------------------------

    def who(self, role: str) -> StaffUser | None:
        if role == "system":
            return None
        if role == "collector":
            return self.e.user(self.collector)
        if role == "approver":  # a legal officer who did not ask for the escalation
            return self.e.user("fawu2" if self.requester == "fawu1" else
                               self.rng.choice(("fawu1", "fawu2")))
        if role == "legal_a":
            return self.e.user("fawu1")
        return self.e.user({"supervisor": "zuzhang"}.get(role, role))

    # -- steps ----------------------------------------------------------------------------------

    def do_open(self, step: Step) -> None:
        ids = self._accrue()
        assignee = self.e.user(self.collector).id if step.args.get("assign", True) else None
        case = services.open_case(self.p.debtor_id, self.p.community_id, ids,
                                  self.e.user("zuzhang"), assignee_id=assignee, now=self.clock)
        self.case_id = case.id
        self._backdate()

    def do_assign(self, step: Step) -> None:
        self._bill()
        choices = COLLECTORS[self.p.site.code]
        if step.args.get("other"):
            choices = tuple(c for c in choices if c != self.collector)
        self.collector = self.rng.choice(choices)
        services.assign([self.case_id], self.e.user(self.collector).id, self.e.user("zuzhang"),
                        now=self.clock)

    def do_fire(self, step: Step) -> None:
        self._bill()
        event, params = step.args["event"], dict(step.args.get("params", {}))
        role = step.args.get("who", "collector")
        if event == "request_legal_action":
            role = self.rng.choice(("supervisor", "collector", "legal_a"))
            self.requester = {"legal_a": "fawu1"}.get(role, role)
        elif event == "file_claim":
            params.setdefault("court", self.p.site.court)
            debtor = db.session.get(Debtor, self.p.debtor_id)
            if params.get("route") == "payment_order" and (
                    not debtor.address_verified or debtor.unreachable):
                params["route"] = "suit" if debtor.unreachable else "small_claims"
        if event == "request_legal_action":
            self._reach_threshold()
        elif event == "resolve_dispute" and params.get("outcome") == "reduced":
            credit = min(self.p.monthly, self.outstanding()) * Decimal("0.5")
            params["credit_amount"] = str(credit.quantize(Decimal("0.01")))
        user = self.who(role)
        services.fire_event(self.case_id, event, user, params, now=self.clock)
        self._backdate()
        self._render_new()
        if event in ("issue_demand", "approve_lawyer_letter"):
            kind = "payment_demand" if event == "issue_demand" else "lawyer_letter"
            self._dispatch(kind, step.args.get("dispatch", "ems"), user)
        if event in ("write_off", "withdraw", "settle"):
            self.accruing = False

    def _reach_threshold(self) -> None:
        """Legal action needs the policy's minimum balance: wait for more months if need be."""
        threshold = Decimal(default_policy()["legal_threshold"])
        for _ in range(12):
            if self.outstanding() >= threshold or not self.accruing:
                return
            self.clock = self._slot(self.e.cal.next_working_day(self.today + timedelta(days=31)))
            self._bill()

    def do_deliver(self, step: Step) -> None:
        """Proof of delivery: EMS with the contents label (A), an SMS report (B), or weaker."""
        self._bill()
        kind, grade = step.args["kind"], step.args.get("grade", "A")
        created = db.session.scalar(sa.select(Document.created_at).where(
            Document.case_id == self.case_id, Document.kind == kind)
            .order_by(Document.id.desc()))
        delivered = max(self.today - timedelta(days=self.rng.randint(0, 1)),
                        local_date(created))
        params: dict[str, Any] = {"grade": grade, "delivered_on": delivered}
        tracking = self.tracking.get(kind)
        debtor = db.session.get(Debtor, self.p.debtor_id)
        signer = "同住成年家属" if debtor.unreachable else "本人"
        if grade == "A":
            params |= {"channel": "ems", "tracking_no": tracking, "contents_label": LABELS[kind],
                       "proof_ref": f"EMS {tracking} 妥投记录，签收人：{signer}"}
        elif grade == "B":
            params |= {"channel": "sms",
                       "proof_ref": "运营商短信送达报告（合同登记号码）及短信原文"}
        else:
            params |= {"proof_ref": step.args.get("proof", "门口张贴照片及见证人签字")}
        role = "collector" if kind == "payment_demand" else "approver"
        services.fire_event(self.case_id, "record_delivery", self.who(role), params,
                            now=self.clock)

    def _render_new(self) -> None:
        """Render the letters the last command made, as the worker would have done then."""
        for doc_id in db.session.scalars(sa.select(Document.id).where(
                Document.case_id == self.case_id, Document.status == "pending")):
            try:
                letters.render_stored(doc_id)
            except Exception as exc:  # noqa: BLE001  a letter problem must not stop the demo
                db.session.rollback()
                log.warning("demo letter %s not rendered: %s", doc_id, exc)

    def _dispatch(self, kind: str, channel: str, user: StaffUser | None) -> None:
        """The letter leaves the same day: EMS with its tracking number, an SMS, or by hand."""
        tracking = f"11{self.rng.randrange(10 ** 11):011d}" if channel == "ems" else None
        self.tracking[kind] = tracking
        doc = db.session.scalars(sa.select(Document).where(
            Document.case_id == self.case_id, Document.kind == kind)
            .order_by(Document.id.desc())).first()
        if doc is None or doc.status != "rendered":
            return  # a letter that failed to render is not sent
        later = self.clock + timedelta(minutes=self.rng.randint(20, 150))
        if local_date(later) == self.today and later <= self.limit:
            self.clock = later
        letters.record_dispatch(doc.id, user, channel, tracking, LABELS[kind], now=self.clock)

    def do_contact(self, step: Step) -> None:
        a = step.args
        if a.get("channel") == "sms" or a.get("promise"):  # they state or settle the amount
            self._bill()
        debtor = db.session.get(Debtor, self.p.debtor_id)
        channel, outcome = a.get("channel", "phone"), a.get("outcome", "reached")
        if debtor.written_only and channel != "letter":
            channel, outcome = "letter", {"reached": "sent", "no_answer": "sent",
                                          "refused": "sent"}.get(outcome, outcome)
        if debtor.unreachable and outcome in REACHED:
            outcome = "no_answer"
        if channel == "sms":
            outcome = "sent"
        self._allowed(channel, debtor.written_only)
        if a.get("reveal") and channel == "phone" and debtor.phone():
            services.reveal_phone(self.case_id, self.who("collector"), now=self.clock)
        reason_class, reason_sub = a.get("reason") or self.s.reason
        if outcome not in REACHED:
            reason_class, reason_sub = (("unreachable", None) if debtor.unreachable
                                        else (None, None))
        techniques = list(a.get("tech", ()))
        notes = self._notes(channel, outcome, (reason_class, reason_sub), techniques, a)
        promise = self._installments(a["promise"]) if a.get("promise") else None
        dispute = self._dispute(a["dispute"]) if a.get("dispute") else None
        services.record_contact(
            self.case_id, self.who(a.get("who", "collector")), channel=channel, outcome=outcome,
            at=self.clock, person_reached=self._person(outcome), techniques=techniques,
            reason_class=reason_class, reason_sub=reason_sub, notes=notes,
            promise=promise, dispute=dispute, now=self.clock)
        self.history.append(contact_rules.Contact(RULES_CHANNEL[channel], self.clock,
                                                  outcome in REACHED))
        if promise:
            self.accruing = False
        self._backdate()
        self._render_new()

    def _allowed(self, channel: str, written_only: bool) -> None:
        """Move to a later working day until the contact rules allow this contact."""
        policy = self.e.contact_policy(self.case_id, self.p.community_id)
        for _ in range(15):
            if not contact_rules.check_contact(RULES_CHANNEL[channel], self.clock, self.history,
                                               policy, self.e.cal, written_only=written_only):
                return
            self.clock = self._slot(self.e.cal.next_working_day(self.today + timedelta(days=1)))
        raise ValueError("no allowed contact moment within three weeks")

    def _person(self, outcome: str) -> str:
        if outcome not in REACHED:
            return "none"
        debtor = db.session.get(Debtor, self.p.debtor_id)
        if debtor.kind == "tenant":
            return "tenant"
        return "family_adult" if self.rng.random() < 0.15 else "debtor"

    def _notes(self, channel: str, outcome: str, reason: tuple[str | None, str | None],
               techniques: list[str], a: dict) -> str:
        if a.get("notes"):
            return a["notes"]
        if channel == "sms":
            case = db.session.get(DunningCase, self.case_id)
            labels = [line.period_label for line in case.charge_lines if line.balance > 0]
            text = SMS_REMINDER.format(company=COMPANY, name=self._salutation(),
                                       community=self.p.site.name, unit=self.p.unit_label,
                                       first=labels[0] if labels else "",
                                       last=labels[-1] if labels else "",
                                       amount=self.outstanding())
            return "短信内容：" + text
        if channel == "letter":
            return {"promised": "业主书面回复，同意按分期方案缴纳欠费。",
                    "disputed": "业主来函对物业服务提出异议，要求先行处理。"}.get(
                outcome, "寄送书面缴费提醒函（挂号信），附欠费明细。")
        if outcome == "no_answer":
            base = self.rng.choice(REASON_NOTES[("unreachable", None)])
            return base if channel == "phone" else "上门拜访，家中无人，已在门口留下缴费提醒卡。"
        key = reason if reason in REASON_NOTES else (reason[0], None)
        text = self.rng.choice(REASON_NOTES.get(key, ("与业主沟通欠费情况。",)))
        prefix = "上门拜访：" if channel == "visit" else ""
        return prefix + text + "".join(TECHNIQUE_NOTES[t] for t in techniques)

    def _salutation(self) -> str:
        debtor = db.session.get(Debtor, self.p.debtor_id)
        return debtor.name[0] + ("先生/女士" if debtor.kind == "owner" else "（承租人）")

    def _dispute(self, category: str) -> dict[str, Any]:
        case = db.session.get(DunningCase, self.case_id)
        lines = [line for line in case.charge_lines if line.balance > 0]
        named = lines[-self.rng.randint(1, min(3, len(lines))):] \
            if category in ("billing", "vacancy") else []
        periods = "、".join(line.period_label for line in named)
        note = DISPUTE_NOTES[category].format(periods=periods)
        ticket = f"BX{self.today:%Y%m}{self.rng.randrange(10 ** 4):04d}"
        return {"category": category, "note": note, "ticket_ref": ticket,
                "charge_line_ids": [line.id for line in named]}

    def _installments(self, n: int) -> list[dict]:
        total = self.outstanding()
        self.plan_n = n
        base = (total / n).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
        first = self.today + timedelta(days=self.rng.randint(7, 14))
        return [{"due_date": first + timedelta(days=30 * k),
                 "amount": base if k < n - 1 else total - base * (n - 1)} for k in range(n)]

    def do_pay(self, step: Step) -> None:
        self._bill()
        mode = step.args.get("mode", "all")
        case = db.session.get(DunningCase, self.case_id)
        if mode == "all":
            amount = self.outstanding()
        else:
            open_lines = [line for line in case.charge_lines if line.balance > 0]
            k = max(1, len(open_lines) // 2)
            amount = sum((line.balance for line in open_lines[:k]), Decimal("0.00"))
        self._payment(amount, step.args.get("channel"))

    def _payment(self, amount: Decimal, channel: str | None = None) -> None:
        channel = channel or self.rng.choice(("wechat", "wechat", "alipay", "bank", "counter"))
        self.payments += 1
        prefix = {"wechat": "WX", "alipay": "ZFB", "bank": "YH", "counter": "SJ"}[channel]
        external = f"{prefix}{self.today:%Y%m%d}{self.case_id:05d}{self.payments:02d}"
        user = self.who("collector") if channel == "counter" else None
        services.record_payment(self.case_id, amount, self.today, channel=channel,
                                external_id=external, user=user, now=self.clock)
        self._backdate()
        if db.session.scalar(sa.select(DunningCase.state).where(
                DunningCase.id == self.case_id)) == "paid":
            self.accruing = False

    def _plan_items(self) -> list[Installment]:
        return list(db.session.scalars(sa.select(Installment).join(PaymentPlan).where(
            PaymentPlan.case_id == self.case_id, PaymentPlan.status == "active")
            .order_by(Installment.seq)))

    def do_pay_installments(self, step: Step) -> None:
        """Pay the installments on (or a little before) their due dates."""
        mode = step.args.get("mode", "due")
        for item in self._plan_items():
            if item.paid_amount >= item.amount:
                continue
            if mode == "first" and item.seq > 1:
                break
            day = item.due_date - timedelta(days=self.rng.randint(0, 3))
            if day <= self.today:
                day = self.today
            if day > local_date(self.limit):
                break
            try:
                self.clock = self._slot(day) if day > self.today else \
                    self._slot(self.today)
            except OutOfTime:
                break
            self._payment(item.amount - item.paid_amount)

    def do_break(self, step: Step) -> None:
        """The system notices an installment missed beyond the grace days and breaks the plan."""
        items = [i for i in self._plan_items() if i.paid_amount < i.amount]
        due = items[0].due_date + timedelta(days=8 + self.rng.randint(0, 3))
        self.clock = self._slot(self.e.cal.next_working_day(max(due, self.today)))
        services.fire_event(self.case_id, "break_plan", None, {}, now=self.clock)
        self._backdate()
        self.accruing = True
        self.next_month = month_add(self.today, 1)  # the months of the plan were paid


# --- the stories -------------------------------------------------------------------------------

UNAWARE = ("unaware", "forgot")
HARDSHIP = ("excuse", "hardship")
WILFUL = ("wilful", None)
UNREACHABLE = ("unreachable", None)
SERVICE = ("excuse", "service_quality")
DISPUTE_REASONS = {"service_quality": SERVICE, "billing": ("excuse", "billing"),
                   "developer_legacy": ("excuse", "developer_legacy"),
                   "vacancy": ("excuse", "vacancy")}
FIRST_OUTCOME = {"unaware": "reached", "wilful": "refused", "unreachable": "no_answer"}


class Path:
    """Builds a story's steps: each method appends one stage of the process."""

    def __init__(self, rng: random.Random, reason: tuple[str, str | None]) -> None:
        self.rng, self.reason, self.steps = rng, reason, []

    def add(self, step: str, gap=(0, 0), anchor: bool = False, after: str | None = None,
            **args) -> Path:
        self.steps.append(Step(step, gap, args, after, anchor))
        return self

    def outcome(self) -> str:
        if self.reason[0] == "excuse":
            return "reached" if self.reason[1] in ("hardship", "forgot") else "refused"
        return FIRST_OUTCOME.get(self.reason[0] or "", "reached")

    def talk(self, outcome: str | None = None, channel: str = "phone", gap=(2, 6),
             tech=("timely_reminder",), anchor: bool = False, **kw) -> Path:
        return self.add("contact", gap, anchor, channel=channel,
                        outcome=outcome or self.outcome(), tech=list(tech), **kw)

    def open(self, assign: bool = True, anchor: bool = False) -> Path:
        return self.add("open", anchor=anchor, assign=assign)

    def outreach(self, anchor: bool = False, sms: bool = True) -> Path:
        self.add("fire", (1, 4), anchor, event="start_outreach")
        if sms:
            self.add("contact", (0, 0), channel="sms", outcome="sent", tech=["timely_reminder"])
        if self.rng.random() < 0.1:
            self.add("assign", (0, 2), other=True)
        return self

    def first_call(self) -> Path:
        return self.talk(gap=(1, 4), reveal=True)

    def follow(self, anchor: bool = False, calls: int = 1) -> Path:
        self.add("fire", (0, 2), anchor, event="escalate_follow_up", who="system",
                 from_stage=8)
        techniques = (("sympathy",), ("carpet_bombing",), ("cut_retreat",))
        for n in range(calls):
            channel = "visit" if n % 2 else "phone"
            self.talk(gap=(2, 7), channel=channel, tech=self.rng.choice(techniques))
        return self

    def early(self, calls: int = 1) -> Path:
        """Opened, first reminder sent, first call made, escalated to follow-up."""
        return self.open().outreach().first_call().follow(calls=calls)

    def demand(self, anchor: bool = False, grade: str | None = "A", **kw) -> Path:
        dispatch = {"B": "sms", "C": kw.pop("channel", "hand")}.get(grade or "", "ems")
        self.add("fire", (2, 12), anchor, event="issue_demand", dispatch=dispatch)
        if grade:
            self.add("deliver", (2, 4), kind="payment_demand", grade=grade, **kw)
        return self

    def mediation(self, anchor: bool = False) -> Path:
        self.add("fire", (1, 6), anchor, after="payment_demand", event="refer_mediation",
                 who="supervisor")
        return self.talk(gap=(3, 15), channel="visit",
                         tech=self.rng.choice((("united_front",), ("mobilize_all",))),
                         notes=self.rng.choice((
                             "与居委会调解员、业委会委员一同上门调解，听取业主意见，业主仍未同意缴费。",
                             "业委会主任参与沟通，说明小区物业费收支情况，业主表示再考虑。")))

    def request(self, anchor: bool = False) -> Path:
        return self.add("fire", (1, 6), anchor, after="payment_demand",
                        event="request_legal_action")

    def approve(self, anchor: bool = False, deliver: bool = True) -> Path:
        self.add("fire", (1, 3), anchor, event="approve_lawyer_letter", who="approver")
        if deliver:
            self.add("deliver", (2, 4), kind="lawyer_letter", grade="A")
        return self

    def legal(self, mediation: bool | None = None) -> Path:
        """From the first call to a delivered lawyer letter."""
        self.early(calls=self.rng.randint(1, 2)).demand()
        if mediation if mediation is not None else self.rng.random() < 0.4:
            self.mediation()
        return self.request().approve()

    def file(self, anchor: bool = False) -> Path:
        route = self.rng.choices(COURT_ROUTES, weights=(4, 3, 2, 2))[0]
        return self.add("fire", (1, 10), anchor, after="lawyer_letter", event="file_claim",
                        who="approver", params={"route": route})

    def promise(self, n: int, anchor: bool = False, channel: str = "phone") -> Path:
        return self.talk("promised", channel=channel, gap=(1, 6), anchor=anchor,
                         tech=self.rng.choice((("sugar_coated",), ("sympathy",), ())),
                         promise=n, reason=HARDSHIP if self.reason[0] != "unaware" else None)

    def dispute(self, category: str, anchor: bool = False) -> Path:
        return self.talk("disputed", channel=self.rng.choice(("phone", "visit")), gap=(1, 6),
                         anchor=anchor, tech=(), dispute=category,
                         reason=DISPUTE_REASONS[category])

    def resolve(self, outcome: str, anchor: bool = False) -> Path:
        return self.add("fire", (4, 14), anchor, event="resolve_dispute", who="supervisor",
                        params={"outcome": outcome, "note": RESOLVE_NOTES[outcome]})

    def pay(self, mode: str = "all", gap=(1, 10), **kw) -> Path:
        return self.add("pay", gap, mode=mode, **kw)

    def close(self, event: str, who: str, reason: str, gap=(2, 10)) -> Path:
        return self.add("fire", gap, event=event, who=who, params={"reason": reason})

    def story(self, target: str, dwell: int, legal: bool = False, profile: str = "") -> Story:
        return Story(target, self.steps, dwell, self.reason, legal, profile)


def _profile(rng: random.Random, *allowed: str) -> str:
    roll = rng.random()
    if "written_only" in allowed and roll < 0.06:
        return "written_only"
    if "unreachable" in allowed and 0.06 <= roll < 0.16:
        return "unreachable"
    return ""


def story_preparation(rng: random.Random, payer: Payer) -> Story:
    profile = rng.choice(("unidentified", "no_channel"))
    assign = rng.random() < 0.6
    p = Path(rng, (None, None)).open(assign=assign, anchor=True)
    if rng.random() < 0.6:
        p.talk("no_answer", channel="visit", gap=(1, 4), tech=(),
               who="collector" if assign else "supervisor",
               notes="上门核实：房屋无人应门，已留下联系卡；待核实业主身份及联系方式。")
    return p.story("preparation", rng.randint(2, 25), profile=profile)


def story_first_reminder(rng: random.Random, payer: Payer) -> Story:
    p = Path(rng, rng.choice((UNAWARE, WILFUL, HARDSHIP)))
    assign = rng.random() < 0.85
    p.open(assign=assign)
    if not assign:
        p.add("assign", (0, 3))
    p.add("fire", (1, 4), True, event="start_outreach")
    p.add("contact", (0, 0), channel="sms", outcome="sent", tech=["timely_reminder"])
    return p.story("first_reminder", rng.randint(1, 3), profile=_profile(rng, "written_only"))


def story_follow_up(rng: random.Random, payer: Payer) -> Story:
    variant = rng.choices(("plain", "rejected", "broken_plan", "dispute"), (5, 2, 2, 2))[0]
    if variant == "plain":
        p = Path(rng, rng.choice((WILFUL, UNAWARE, HARDSHIP, UNREACHABLE)))
        p.open().outreach().first_call().follow(anchor=True, calls=rng.randint(0, 1))
        return p.story("follow_up", rng.randint(2, 25), profile=_profile(rng, "written_only"))
    if variant == "rejected":
        p = Path(rng, WILFUL)
        p.early().demand().request()
        p.add("fire", (1, 3), True, event="reject_legal_action", who="approver",
              params={"reason": rng.choice(REJECT_REASONS)})
        return p.story("follow_up", rng.randint(2, 20), legal=True)
    if variant == "broken_plan":
        p = Path(rng, HARDSHIP)
        p.early().promise(rng.randint(3, 4))
        p.add("pay_installments", mode="first")
        p.add("break", anchor=True)
        return p.story("follow_up", rng.randint(2, 25))
    p = Path(rng, SERVICE)
    p.early(calls=0).dispute("service_quality").resolve("upheld", anchor=True)
    return p.story("follow_up", rng.randint(2, 25))


def story_formal_demand(rng: random.Random, payer: Payer) -> Story:
    variant = rng.choices(("A", "B", "C", "undelivered", "broken_plan"), (6, 1, 1, 1, 1))[0]
    p = Path(rng, rng.choice((WILFUL, UNREACHABLE, HARDSHIP)))
    if variant == "broken_plan":
        p.reason = HARDSHIP
        p.early().demand().promise(rng.randint(3, 5))
        p.add("pay_installments", mode="first")
        p.add("break", anchor=True)
        return p.story("formal_demand", rng.randint(3, 30))
    p.early(calls=rng.randint(1, 2))
    grade = None if variant == "undelivered" else variant
    p.demand(anchor=True, grade=grade)
    profile = _profile(rng, "written_only", "unreachable") if variant == "A" else ""
    return p.story("formal_demand", rng.randint(5, 35), profile=profile)


def story_mediation(rng: random.Random, payer: Payer) -> Story:
    p = Path(rng, rng.choice((WILFUL, UNREACHABLE, ("excuse", "collective"))))
    p.early(calls=rng.randint(1, 2)).demand().mediation(anchor=True)
    return p.story("mediation", rng.randint(5, 60),
                   profile=_profile(rng, "written_only", "unreachable"))


def story_legal_review(rng: random.Random, payer: Payer) -> Story:
    p = Path(rng, rng.choice((WILFUL, UNREACHABLE)))
    p.early(calls=rng.randint(1, 2)).demand()
    if rng.random() < 0.4:
        p.mediation()
    p.request(anchor=True)
    return p.story("legal_review", rng.randint(1, 4), legal=True,
                   profile=_profile(rng, "unreachable"))


def story_lawyer_letter(rng: random.Random, payer: Payer) -> Story:
    p = Path(rng, rng.choice((WILFUL, UNREACHABLE)))
    p.early(calls=rng.randint(1, 2)).demand()
    if rng.random() < 0.4:
        p.mediation()
    p.request().approve(anchor=True, deliver=rng.random() < 0.75)
    return p.story("lawyer_letter", rng.randint(4, 30), legal=True,
                   profile=_profile(rng, "unreachable"))


def story_litigation(rng: random.Random, payer: Payer) -> Story:
    p = Path(rng, rng.choice((WILFUL, WILFUL, UNREACHABLE)))
    p.legal().file(anchor=True)
    return p.story("litigation", rng.randint(3, 150), legal=True,
                   profile=_profile(rng, "unreachable", "written_only"))


def story_payment_plan(rng: random.Random, payer: Payer) -> Story:
    p = Path(rng, rng.choice((HARDSHIP, HARDSHIP, WILFUL)))
    dwell = rng.randint(10, 120)
    n = max(rng.randint(3, 6), dwell // 30 + 2)  # still running at `now`
    stage = rng.choices(("first_reminder", "follow_up", "formal_demand", "lawyer_letter"),
                        (2, 4, 3, 1))[0]
    legal = stage == "lawyer_letter"
    if stage == "first_reminder":
        p.open().outreach()
    elif stage == "follow_up":
        p.early()
    elif stage == "formal_demand":
        p.early().demand()
    else:
        p.legal(mediation=False)
    p.promise(n, anchor=True)
    p.add("pay_installments", mode="due")
    return p.story("payment_plan", dwell, legal=legal, profile=_profile(rng, "written_only"))


def story_disputed(rng: random.Random, payer: Payer) -> Story:
    category = rng.choices(list(DISPUTE_REASONS), (5, 2, 2, 2))[0]
    p = Path(rng, DISPUTE_REASONS[category])
    stage = rng.choices(("first_reminder", "follow_up", "formal_demand"), (3, 4, 2))[0]
    p.open().outreach()
    if stage != "first_reminder":
        p.first_call().follow(calls=0)
    if stage == "formal_demand":
        p.demand()
    p.dispute(category, anchor=True)
    return p.story("disputed", rng.randint(1, 20), profile=_profile(rng, "written_only"))


def story_paid(rng: random.Random, payer: Payer) -> Story:
    variant = rng.choices(("quick", "follow_up", "plan", "demand", "letter", "court",
                           "dispute", "partial"), (6, 3, 3, 2, 1, 1, 1, 2))[0]
    p = Path(rng, UNAWARE)
    legal = variant in ("letter", "court")
    if variant == "quick":
        p.open().outreach()
        if rng.random() < 0.5:
            p.first_call()
    elif variant in ("follow_up", "partial"):
        p.reason = rng.choice((UNAWARE, HARDSHIP))
        p.early()
        if variant == "partial":
            p.pay("part").talk(gap=(10, 25), tech=("timely_reminder",))
    elif variant == "plan":
        p.reason = HARDSHIP
        n = rng.randint(2, 4)
        p.early().promise(n).add("pay_installments", mode="all", n=n)
        return p.story("paid", rng.randint(1, 120))
    elif variant == "demand":
        p.reason = WILFUL
        p.early().demand()
    elif variant == "letter":
        p.reason = WILFUL
        p.legal(mediation=False)
    elif variant == "court":
        p.reason = WILFUL
        p.legal(mediation=False).file()
    else:
        p.reason = SERVICE
        p.early(calls=0).dispute("service_quality").resolve("reduced")
    p.pay("all", gap=(1, 12) if variant != "court" else (20, 60),
          channel="bank" if variant == "court" else None)
    return p.story("paid", rng.randint(1, 240), legal=legal)


def story_written_off(rng: random.Random, payer: Payer) -> Story:
    if payer.site.legacy and rng.random() < 0.6:
        p = Path(rng, WILFUL)
        p.open().outreach()
        p.talk("refused", gap=(1, 4), reveal=True, tech=("cut_retreat",),
               notes="业主称前期物业的欠费已超过三年，以诉讼时效为由拒绝支付。")
        p.follow().close("write_off", "supervisor", WRITE_OFF_REASONS[0])
        return p.story("written_off", rng.randint(1, 150), profile="legacy")
    if rng.random() < 0.5:
        p = Path(rng, UNREACHABLE)
        p.early().demand(grade="C", channel="ems", proof="EMS退回：原址无人签收，退件凭证存档")
        p.mediation().close("write_off", "legal_a", WRITE_OFF_REASONS[1])
        return p.story("written_off", rng.randint(1, 200), profile="unreachable")
    p = Path(rng, HARDSHIP)
    p.early().close("write_off", "supervisor", WRITE_OFF_REASONS[2])
    return p.story("written_off", rng.randint(1, 200), profile="vulnerable")


def story_withdrawn(rng: random.Random, payer: Payer) -> Story:
    debtor_kind = db.session.scalar(sa.select(Debtor.kind).where(Debtor.id == payer.debtor_id))
    if debtor_kind == "tenant":
        p = Path(rng, ("excuse", "contract_end"))
        p.open().outreach().first_call().close("withdraw", "supervisor", WITHDRAW_REASONS[2])
    elif rng.random() < 0.5:
        p = Path(rng, ("excuse", "wrong_debtor"))
        p.open().outreach().first_call().close("withdraw", "supervisor", WITHDRAW_REASONS[0])
    else:
        p = Path(rng, ("excuse", "billing"))
        p.early().close("withdraw", "supervisor", WITHDRAW_REASONS[1])
    return p.story("withdrawn", rng.randint(1, 240))


STORIES: dict[str, Callable[[random.Random, Payer], Story]] = {
    "preparation": story_preparation,
    "first_reminder": story_first_reminder,
    "follow_up": story_follow_up,
    "formal_demand": story_formal_demand,
    "mediation": story_mediation,
    "legal_review": story_legal_review,
    "lawyer_letter": story_lawyer_letter,
    "litigation": story_litigation,
    "payment_plan": story_payment_plan,
    "disputed": story_disputed,
    "paid": story_paid,
    "written_off": story_written_off,
    "withdrawn": story_withdrawn,
}
# how often each stage is the end of a story, beyond the first one of each
WEIGHTS = {"preparation": 5, "first_reminder": 8, "follow_up": 10, "formal_demand": 9,
           "mediation": 5, "legal_review": 3, "lawyer_letter": 5, "litigation": 6,
           "payment_plan": 10, "disputed": 6, "paid": 22, "written_off": 5, "withdrawn": 5}
