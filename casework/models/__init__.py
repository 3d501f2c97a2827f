"""The Casework tables; import from here."""

from .api import IMPORT_KINDS, IMPORT_STATUSES, ApiToken, ColumnMapping, ImportRun
from .audit import GENESIS, CaseEvent
from .case import (
    CHANNELS,
    DOCUMENT_KINDS,
    OUTCOMES,
    PERSONS,
    REASON_CLASSES,
    REASON_SUBS,
    TECHNIQUES,
    ContactAttempt,
    Dispute,
    Document,
    DunningCase,
    Policy,
    Task,
)
from .documents import BUILTIN_VERSION, DocumentBatch, TemplateVersion
from .estate import Building, Community, ContactChannel, Debtor, Holiday, Unit
from .ledger import CaseBalance, ChargeLine, Installment, Payment, PaymentAllocation, PaymentPlan
from .review import REVIEW_STATUSES, OutcomeReview  # noqa: F401
from .staff import ROLE_LABELS, ROLES, StaffUser, staff_community
from .timers import TIMER_STATUSES, OutboxMessage, Timer
from .types import Fixed, Money, UTCDateTime, money, utcnow
from .waivers import LateFeeWaiver  # noqa: F401
from .work import CollectionTarget, LitigationRecord, LoginAttempt

__all__ = [
    "ApiToken", "BUILTIN_VERSION", "Building", "CHANNELS", "CaseBalance", "CaseEvent",
    "ChargeLine", "CollectionTarget", "ColumnMapping", "Community", "ContactAttempt",
    "ContactChannel", "DOCUMENT_KINDS", "Debtor", "Dispute", "Document", "DocumentBatch",
    "DunningCase", "Fixed", "GENESIS", "Holiday", "IMPORT_KINDS", "IMPORT_STATUSES", "ImportRun",
    "Installment", "LitigationRecord", "LoginAttempt", "Money", "OUTCOMES", "OutboxMessage",
    "PERSONS", "Payment", "PaymentAllocation", "PaymentPlan", "Policy", "REASON_CLASSES",
    "REASON_SUBS", "ROLES", "ROLE_LABELS", "StaffUser", "TECHNIQUES", "TIMER_STATUSES", "Task",
    "TemplateVersion", "Timer", "UTCDateTime", "Unit", "money", "staff_community", "utcnow",
]
