"""Small builders for test data (plain functions; the services do the real work)."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from casework import services
from casework.extensions import db
from casework.models import (
    Building,
    Community,
    ContactChannel,
    Debtor,
    DunningCase,
    Policy,
    StaffUser,
    Unit,
)
from casework.policy import default_policy


@dataclass
class Estate:
    community: Community
    unit: Unit
    debtor: Debtor
    collector: StaffUser
    collector2: StaffUser
    supervisor: StaffUser
    legal: StaffUser
    legal2: StaffUser
    auditor: StaffUser
    admin: StaffUser
    case: DunningCase
    line_ids: list[int]


def staff(username: str, *roles: str, name: str | None = None) -> StaffUser:
    user = StaffUser(username=username, display_name=name or username)
    user.roles = roles
    user.set_password("secret-" + username)
    db.session.add(user)
    return user


def community(code: str = "YG", name: str = "阳光花园", **policy_overrides) -> Community:
    c = Community(code=code, name=name, company_name="示范物业服务有限公司", city="杭州")
    db.session.add(c)
    db.session.flush()
    db.session.add(Policy(community_id=c.id, version=1,
                          data={**default_policy(), **policy_overrides}))
    return c


def debtor(name: str = "张三", phone: str | None = "13800138000", **kw) -> Debtor:
    d = Debtor(name=name, identified=kw.pop("identified", True),
               address=kw.pop("address", "阳光花园1栋101"),
               address_verified=kw.pop("address_verified", True), **kw)
    if phone:
        d.channels = [ContactChannel(kind="phone", value=phone, verified=True)]
    db.session.add(d)
    db.session.flush()
    return d


def unit(c: Community, building: str = "1栋", number: str = "101",
         area: str = "89.50") -> Unit:
    b = Building(community_id=c.id, name=building)
    db.session.add(b)
    db.session.flush()
    u = Unit(building_id=b.id, number=number, area=Decimal(area))
    db.session.add(u)
    db.session.flush()
    return u


def monthly_lines(u: Unit, d: Debtor, year: int = 2024, months=range(1, 7),
                  amount: str = "268.50") -> list[int]:
    lines = [services.charge_line(u.id, d.id, f"{year}年{m:02d}月", date(year, m, 1),
                                  date(year, m, 28), date(year, m, 28), Decimal(amount))
             for m in months]
    db.session.flush()
    return [line.id for line in lines]


def make_estate(now: datetime) -> Estate:
    c = community()
    u = unit(c)
    d = debtor()
    people = dict(
        collector=staff("col", "collector", name="王催费"),
        collector2=staff("col2", "collector", name="赵催费"),
        supervisor=staff("sup", "supervisor", name="李组长"),
        legal=staff("legal", "legal", name="陈法务"),
        legal2=staff("legal2", "legal", name="周法务"),
        auditor=staff("audit", "auditor", name="孙审计"),
        admin=staff("admin", "admin", name="钱管理"),
    )
    ids = monthly_lines(u, d)
    db.session.commit()
    case = services.open_case(d.id, c.id, ids, people["supervisor"],
                              assignee_id=people["collector"].id, now=now)
    return Estate(community=c, unit=u, debtor=d, case=case, line_ids=ids, **people)


# --- helpers for the service, invariant and PostgreSQL tests ---------------------------------

_fresh_counter = iter(range(1, 10**9))


def shanghai(year: int, month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    """An aware UTC instant from a wall-clock time in Asia/Shanghai."""
    from datetime import UTC
    from zoneinfo import ZoneInfo

    return datetime(year, month, day, hour, minute,
                    tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(UTC)


def fresh_case(estate: Estate, now: datetime, *, months=range(1, 7), amount: str = "268.50",
               year: int = 2024, assignee: StaffUser | None = None,
               **debtor_kw) -> tuple[DunningCase, list[int]]:
    """A new debtor with a new unit owing `months` of `year`, in a new open case."""
    n = next(_fresh_counter)
    u = unit(estate.community, building=f"F{n}栋", number=f"{n:04d}")
    d = debtor(name=f"业主{n:05d}", phone=f"139{n:08d}", **debtor_kw)
    ids = monthly_lines(u, d, year=year, months=months, amount=amount)
    db.session.commit()
    who = assignee or estate.collector
    case = services.open_case(d.id, estate.community.id, ids, estate.supervisor,
                              assignee_id=who.id, now=now)
    return case, ids


def case_events(case_id: int, kind: str | None = None) -> list:
    """The audit events of a case in chain order (optionally of one kind)."""
    import sqlalchemy as sa

    from casework.models import CaseEvent

    query = sa.select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.seq)
    if kind:
        query = query.where(CaseEvent.kind == kind)
    return list(db.session.scalars(query))


def two_contacts(case_id: int, user: StaffUser, now: datetime) -> None:
    """Two documented, unanswered calls (inside the call window when `now` is 10:00)."""
    from datetime import timedelta

    for at in (now - timedelta(minutes=30), now):
        services.record_contact(case_id, user, channel="phone", outcome="no_answer", at=at,
                                now=now)


WALK = ("first_reminder", "follow_up", "formal_demand", "legal_review", "lawyer_letter",
        "litigation")


def walk(estate: Estate, case_id: int, target: str, now: datetime) -> datetime:
    """Drive a case from preparation to `target` through the services with the real guards.

    Demands and letters are delivered with grade A proof on the day they are issued and the
    clock moves past their deadlines. Returns the (simulated) time when the target was reached.
    """
    from datetime import timedelta

    fire = services.fire_event
    steps = WALK[:WALK.index(target) + 1]
    for stage in steps:
        if stage == "first_reminder":
            fire(case_id, "start_outreach", estate.collector, now=now)
        elif stage == "follow_up":
            fire(case_id, "escalate_follow_up", estate.collector, now=now)
        elif stage == "formal_demand":
            two_contacts(case_id, estate.collector, now)
            fire(case_id, "issue_demand", estate.collector, now=now)
            fire(case_id, "record_delivery", estate.collector,
                 {"grade": "A", "proof_ref": "签收回执-001"}, now=now)
        elif stage == "legal_review":
            now += timedelta(days=30)
            fire(case_id, "request_legal_action", estate.collector, now=now)
        elif stage == "lawyer_letter":
            fire(case_id, "approve_lawyer_letter", estate.legal, now=now)
            fire(case_id, "record_delivery", estate.legal,
                 {"grade": "A", "tracking_no": "EMS1234567", "contents_label": "律师函"}, now=now)
        elif stage == "litigation":
            now += timedelta(days=20)
            fire(case_id, "file_claim", estate.legal, {"route": "suit", "court": "西湖区人民法院"},
                 now=now)
    return now


def fast_password_hashing(monkeypatch) -> None:
    """Staff passwords hashed with one pbkdf2 round: scrypt makes every estate take ~0.5 s.

    Use from an autouse fixture in modules that build many estates; check_password still works.
    """
    from werkzeug.security import generate_password_hash

    import casework.models.staff as staff_module

    monkeypatch.setattr(staff_module, "generate_password_hash",
                        lambda password: generate_password_hash(password, "pbkdf2:sha256:1"))


# The company, contract and law-firm blocks a community's policy needs before letters render.
LETTER_POLICY = {
    "company": {
        "full_name": "杭州示范物业服务有限公司", "address": "浙江省杭州市西湖区文三路100号",
        "phone": "0571-88880000", "legal_representative": "陈志刚",
        "credit_code": "91330106MA2XXXXX0Q", "bank_name": "中国工商银行杭州文三路支行",
        "account_number": "1202021109001234567",
        "payment_channels": ["物业服务中心前台：阳光花园1栋底商，工作日9:00—17:30"],
        "contact_person": "赵敏（客服主管）", "contact_phone": "0571-88880001",
    },
    "contract": {
        "name": "《阳光花园前期物业服务合同》", "number": "YG-2019-0312",
        "signed_on": "2019-05-20",
        "fee_clause": "第六条第二款", "rate_per_m2_month": "3.00", "service_start": "2019-06-01",
        "billing_cycle": "按月交纳，每月末前交清当月费用", "penalty_clause": "第十二条",
    },
    "law_firm": {
        "name": "浙江明信律师事务所", "address": "浙江省杭州市上城区钱江路58号",
        "phone": "0571-86660000", "lawyer_name": "孙立平", "lawyer_license": "13301201810000000",
        "lawyer_phone": "0571-86660018",
    },
}


def contract_rate(rate: str) -> None:
    """Give every charge line a contracted late-fee rate per day (e.g. "0.0003" = 0.3‰)."""
    from sqlalchemy import select

    from casework.models import ChargeLine

    for line in db.session.scalars(select(ChargeLine)):
        line.contract_daily_rate = Decimal(rate)
    db.session.commit()


@contextmanager
def counting_statements():
    """The SQL statements sent to the database inside the block, in order."""
    import sqlalchemy as sa

    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)
