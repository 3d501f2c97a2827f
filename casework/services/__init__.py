"""Use cases, one transaction each (cosmicpython's service layer)."""

from .access import actor_of, can_see, ensure_can_act, visible_cases
from .cases import (
    add_task,
    assign,
    charge_line,
    fire_event,
    get_case,
    money_at_risk,
    open_case,
    reveal_phone,
)
from .contacts import record_contact
from .errors import (
    Conflict,
    Forbidden,
    GuardFailed,
    InvalidInput,
    NotFound,
    ServiceError,
    TransitionNotAllowed,
    WorkflowError,
)
from .facts import gather, outstanding
from .payments import allocate, record_payment, reverse_payment

__all__ = [
    "Conflict", "Forbidden", "GuardFailed", "InvalidInput", "NotFound", "ServiceError",
    "TransitionNotAllowed", "WorkflowError", "actor_of", "add_task", "allocate", "assign",
    "can_see", "charge_line", "ensure_can_act", "fire_event", "gather", "get_case",
    "money_at_risk", "open_case", "outstanding", "record_contact", "record_payment",
    "reveal_phone", "reverse_payment", "visible_cases",
]
