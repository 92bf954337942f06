"""Ticket statuses and the one table of allowed moves between them."""

from __future__ import annotations

from enum import StrEnum

from ticketcore.errors import InvalidTransition


class Status(StrEnum):
    NEW = "new"
    INPROGRESS = "inprogress"
    WAITING = "waiting"  # waiting for the player
    PENDING = "pending"  # on hold for another team
    ANSWERED = "answered"
    RESOLVED = "resolved"
    CLOSED = "closed"


OPEN_STATUSES: frozenset[Status] = frozenset(
    {Status.NEW, Status.INPROGRESS, Status.WAITING, Status.PENDING, Status.ANSWERED}
)

# Support's work on the ticket is done (a resolved one may still reopen).
DONE_STATUSES: frozenset[Status] = frozenset({Status.RESOLVED, Status.CLOSED})

# The whole lifecycle: from each status, the statuses it may move to.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    **{s: (OPEN_STATUSES - {s}) | DONE_STATUSES for s in OPEN_STATUSES},
    Status.RESOLVED: OPEN_STATUSES | {Status.CLOSED},
    Status.CLOSED: frozenset(),
}

# A player writing again on one of these puts the ticket back in the agents' court.
REOPENED_BY_PLAYER: frozenset[Status] = frozenset(
    {Status.ANSWERED, Status.WAITING, Status.RESOLVED}
)


def allowed_moves(current: Status) -> frozenset[Status]:
    return TRANSITIONS[current]


def is_allowed(current: Status, target: Status) -> bool:
    return target in TRANSITIONS[current]


def check_transition(number: int, current: Status, target: Status) -> None:
    """Raise InvalidTransition unless `current -> target` is in the table."""
    if not is_allowed(current, target):
        raise InvalidTransition(number, current, target, sorted(TRANSITIONS[current]))


def reopened_status(is_assigned: bool) -> Status:
    """Where a reopened ticket lands: with its agent if it has one, else back in triage."""
    return Status.INPROGRESS if is_assigned else Status.NEW


def status_after_player_message(current: Status, *, is_assigned: bool) -> Status:
    if current in REOPENED_BY_PLAYER:
        return reopened_status(is_assigned)
    return current


def status_after_take(current: Status) -> Status:
    """Taking a new ticket starts work on it; taking it later leaves its status alone."""
    return Status.INPROGRESS if current is Status.NEW else current
