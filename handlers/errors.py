"""Every refusal the HTTP edge makes, as JSON that names the reason (and the field)."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from starlette.responses import JSONResponse

from ticketcore.errors import (
    CannotMerge,
    ConcurrentUpdate,
    InvalidTransition,
    TicketClosed,
    TicketError,
    TicketNotFound,
)


class BadRequest(Exception):
    def __init__(self, reason: str, *, field: str | None = None, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field
        self.status = status


def problem(status: int, reason: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": reason, **extra}, status_code=status)


def field_errors(exc: ValidationError) -> list[dict[str, str]]:
    return [
        {"field": ".".join(str(p) for p in err["loc"]) or "body", "reason": err["msg"]}
        for err in exc.errors(include_url=False, include_input=False)
    ]


def from_validation(exc: ValidationError) -> JSONResponse:
    errors = field_errors(exc)
    first = errors[0] if errors else {"field": "body", "reason": "invalid"}
    return problem(422, f"{first['field']}: {first['reason']}", fields=errors)


def from_ticket_error(exc: TicketError) -> JSONResponse:
    if isinstance(exc, TicketNotFound):
        return problem(404, str(exc))
    if isinstance(exc, InvalidTransition):
        return problem(409, str(exc), allowed=exc.allowed)
    if isinstance(exc, TicketClosed | CannotMerge | ConcurrentUpdate):
        return problem(409, str(exc))
    return problem(400, str(exc))
