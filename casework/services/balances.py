"""Upkeep of case_balance, what each case owes (migration f4a2c6e8b1d3).

Triggers on charge_line keep every figure of a case's row whenever its lines change. One figure
depends on the day as well: the money whose limitation expires within the next 180 days. The
row says for which days its figure holds (`risk_from` to `risk_until`); the queues sum the lines
of a case whose row does not hold today, so nothing shown is ever wrong, only slower. The sweep
calls `refresh_stale` so that the rows of the day hold again.
"""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from ..extensions import db
from ..models import CaseBalance, ChargeLine


def refresh_stale(today: date, limit: int = 5000) -> int:
    """Recompute the rows whose money at risk no longer holds on `today` (at most `limit`, the
    lowest case ids first); returns how many. Commits."""
    ids = list(db.session.scalars(
        sa.select(CaseBalance.case_id).where(CaseBalance.risk_until <= today)
        .order_by(CaseBalance.case_id).limit(limit)))
    if ids:
        if db.engine.dialect.name == "postgresql":
            db.session.execute(sa.text("SELECT case_balance_refresh(CAST(:ids AS integer[]))"),
                               {"ids": ids})
        else:  # SQLite's row triggers recompute a case whenever one of its lines is written
            db.session.execute(sa.update(ChargeLine).where(ChargeLine.case_id.in_(ids))
                               .values(case_id=ChargeLine.case_id))
    db.session.commit()
    return len(ids)
