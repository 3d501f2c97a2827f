"""Data in: ledger and payment files (CLI, RQ job, and functions the admin UI calls)."""

from .ledger import LEDGER_FIELDS, LedgerResult, external_ref, import_ledger, save_mapping
from .payments import PAYMENT_FIELDS, import_payments
from .runs import error_report, import_progress, run_import, start_import
from .tables import FileRefused, RowError, error_report_csv

__all__ = [
    "LEDGER_FIELDS", "PAYMENT_FIELDS", "FileRefused", "LedgerResult", "RowError",
    "error_report", "error_report_csv", "external_ref", "import_ledger", "import_payments",
    "import_progress", "run_import", "save_mapping", "start_import",
]
