import itertools

import pytest

from ticketcore.errors import InvalidTransition
from ticketcore.lifecycle import (
    OPEN_STATUSES,
    Status,
    allowed_moves,
    check_transition,
    is_allowed,
    status_after_player_message,
    status_after_take,
)

OPEN = ["new", "inprogress", "waiting", "pending", "answered"]


def expected(current: str, target: str) -> bool:
    """The rule as the seed system states it, written independently of the table."""
    if current in OPEN:
        return target != current and (target in OPEN or target in ("resolved", "closed"))
    if current == "resolved":
        return target in OPEN or target == "closed"
    return False  # closed is final


@pytest.mark.parametrize(("current", "target"), list(itertools.product(Status, Status)))
def test_every_pair_of_statuses_follows_the_rule(current: Status, target: Status) -> None:
    assert is_allowed(current, target) is expected(current.value, target.value)
    if expected(current.value, target.value):
        check_transition(7, current, target)
    else:
        with pytest.raises(InvalidTransition) as refused:
            check_transition(7, current, target)
        assert refused.value.number == 7
        assert refused.value.allowed == sorted(str(s) for s in allowed_moves(current))
        assert f"from {current} to {target}" in str(refused.value)


def test_there_are_exactly_seven_statuses_and_five_open_ones() -> None:
    assert [s.value for s in Status] == [
        "new",
        "inprogress",
        "waiting",
        "pending",
        "answered",
        "resolved",
        "closed",
    ]
    assert {s.value for s in OPEN_STATUSES} == set(OPEN)


def test_closed_is_final_and_says_so() -> None:
    with pytest.raises(InvalidTransition, match="none, it is final"):
        check_transition(3, Status.CLOSED, Status.NEW)


@pytest.mark.parametrize("current", list(Status))
@pytest.mark.parametrize("assigned", [True, False])
def test_player_message_reopens_answered_waiting_and_resolved(
    current: Status, assigned: bool
) -> None:
    after = status_after_player_message(current, is_assigned=assigned)
    if current.value in ("answered", "waiting", "resolved"):
        assert after is (Status.INPROGRESS if assigned else Status.NEW)
    else:
        assert after is current


@pytest.mark.parametrize("current", list(Status))
def test_taking_moves_only_new_tickets_to_inprogress(current: Status) -> None:
    assert status_after_take(current) is (Status.INPROGRESS if current is Status.NEW else current)
