"""Evaluation reports (issue 7): collection rate, aging, stage funnel, what works, money at
risk, conduct, targets and outcome reviews; their SVG charts and CSV/XLSX files."""

from .filters import GROUPS, ReportFilters, parse
from .queries import GROUPINGS, REPORTS, Report, run

__all__ = ["GROUPINGS", "GROUPS", "REPORTS", "Report", "ReportFilters", "parse", "run"]
