"""Domain errors: each carries the data a caller needs to explain it."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum


class TicketError(Exception):
    """Base of every error the ticket core raises on purpose."""


class TicketNotFound(TicketError):
    def __init__(self, number: int) -> None:
        super().__init__(f"ticket #{number} does not exist")
        self.number = number


class InvalidTransition(TicketError):
    def __init__(
        self, number: int, current: StrEnum, target: StrEnum, allowed: Sequence[StrEnum]
    ) -> None:
        allowed_text = ", ".join(str(s) for s in allowed) or "none, it is final"
        super().__init__(
            f"ticket #{number} cannot move from {current} to {target} (allowed: {allowed_text})"
        )
        self.number = number
        self.current = current
        self.target = target
        self.allowed = [str(s) for s in allowed]


class TicketClosed(TicketError):
    def __init__(self, number: int) -> None:
        super().__init__(f"ticket #{number} is closed")
        self.number = number


class AlreadyRated(TicketError):
    def __init__(self, number: int) -> None:
        super().__init__(f"ticket #{number} is already rated for this resolution")
        self.number = number


class CannotMerge(TicketError):
    def __init__(self, number: int, into: int, reason: str) -> None:
        super().__init__(f"cannot merge #{number} into #{into}: {reason}")
        self.number = number
        self.into = into
        self.reason = reason


class ConcurrentUpdate(TicketError):
    """The ticket kept changing under us; the caller may retry."""

    def __init__(self, number: int) -> None:
        super().__init__(f"ticket #{number} changed concurrently too many times; try again")
        self.number = number


class TooManyNewTickets(TicketError):
    """The sender has opened as many tickets as they may for now; nothing was written."""

    def __init__(self, sender: str) -> None:
        super().__init__(f"{sender} has opened too many tickets for now")
        self.sender = sender
