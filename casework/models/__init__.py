"""The Casework tables; import from here."""

from .api import IMPORT_KINDS, IMPORT_STATUSES, ApiToken, ColumnMapping, ImportRun
from .audit import GENESIS, CaseEvent
from .case import (
    CHANNELS, DOCUMENT_KINDS, OUTCOMES, PERSONS, REASON_CLASSES, REASON_SUBS, TECHNIQUES,
    ContactAttempt, Dispute, Document, DunningCase, Policy, Task,
)
from .documents import BUILTIN_VERSION, DocumentBatch, TemplateVersion
from .estate import Building, Community, ContactChannel, Debtor, Holiday, Unit
from .ledger import ChargeLine, Installment, Payment, PaymentAllocation, PaymentPlan
from .review import REVIEW_STATUSES, OutcomeReview  # noqa: F401
from .staff import ROLE_LABELS, ROLES, StaffUser, staff_community
from .timers import TIMER_STATUSES, OutboxMessage, Timer
from .types import Fixed, Money, UTCDateTime, money, utcnow
from .waivers import LateFeeWaiver  # noqa: F401
from .work import CollectionTarget, LitigationRecord, LoginAttempt

__all__ = [
    "CHANNELS", "DOCUMENT_KINDS", "GENESIS", "OUTCOMES", "PERSONS", "REASON_CLASSES",
    "REASON_SUBS", "ROLES", "ROLE_LABELS", "TECHNIQUES", "Building", "CaseEvent", "ChargeLine",
    "Community", "ContactAttempt", "ContactChannel", "Debtor", "Dispute", "Document",
    "DunningCase", "Fixed", "Holiday", "Installment", "OutboxMessage", "TIMER_STATUSES", "Timer", "Money", "Payment", "PaymentAllocation",
    "PaymentPlan", "Policy", "StaffUser", "Task", "UTCDateTime", "Unit", "money", "staff_community",
    "utcnow", "BUILTIN_VERSION", "DocumentBatch", "TemplateVersion",
    "ApiToken", "ColumnMapping", "IMPORT_KINDS", "IMPORT_STATUSES", "ImportRun",
    "CollectionTarget", "LitigationRecord", "LoginAttempt",
]
