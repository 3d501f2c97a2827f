"""Domain errors raised by the workflows, carrying the rule and a message a collector
understands."""

from __future__ import annotations


class WorkflowError(Exception):
    """Base of every refusal the workflow gives."""

    code = "workflow_error"

    def __init__(self, rule: str, message: str, message_en: str = "") -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message
        self.message_en = message_en or message

    def localized(self, locale: str = "zh") -> str:
        return self.message_en if locale.startswith("en") else self.message

    def as_dict(self) -> dict[str, str]:
        return {"error": self.code, "rule": self.rule, "message": self.message,
                "message_en": self.message_en}


class TransitionNotAllowed(WorkflowError):
    """The event does not exist in the case's current stage."""

    code = "transition_not_allowed"


class GuardFailed(WorkflowError):
    """The event exists in this stage, but a rule of the process refuses it now."""

    code = "guard_failed"
