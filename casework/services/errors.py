"""Errors the services raise; the web and API layers turn them into pages and status codes."""

from __future__ import annotations

from workflows.errors import GuardFailed, TransitionNotAllowed, WorkflowError

__all__ = ["Conflict", "Forbidden", "GuardFailed", "InvalidInput", "NotFound", "ServiceError",
           "TransitionNotAllowed", "WorkflowError"]


class ServiceError(Exception):
    code = "error"

    def __init__(self, message: str, message_en: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.message_en = message_en or message

    def as_dict(self) -> dict[str, str]:
        return {"error": self.code, "message": self.message, "message_en": self.message_en}


class InvalidInput(ServiceError):
    """Bad input: names the field at fault; nothing was written."""

    code = "invalid_input"

    def __init__(self, field: str, message: str, message_en: str = "") -> None:
        super().__init__(message, message_en)
        self.field = field

    def as_dict(self) -> dict[str, str]:
        return {**super().as_dict(), "field": self.field}


class NotFound(ServiceError):
    code = "not_found"


class Forbidden(ServiceError):
    code = "forbidden"


class Conflict(ServiceError):
    """Someone else changed the case first; the caller should reload and try again."""

    code = "conflict"
