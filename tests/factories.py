"""Small builders for test data (plain functions; the services do the real work)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from casework import services
from casework.extensions import db
from casework.models import (
    Building, Community, ContactChannel, Debtor, DunningCase, Policy, StaffUser, Unit,
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
