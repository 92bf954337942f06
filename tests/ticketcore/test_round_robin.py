"""Round robin among the agents on shift: fair turns, the cap respected, nobody off shift."""

from __future__ import annotations

from collections import Counter

from tests.conftest import FakeClock
from ticketcore.agents import Roster
from ticketcore.store import Store


def test_turns_are_fair_and_skip_the_full_and_the_off_shift(store: Store, clock: FakeClock) -> None:
    roster = Roster(store)
    for agent in ("U0ANN", "U0BOB", "U0CAT", "U0DAN"):
        roster.set_on_shift(agent, True, clock())
    roster.set_on_shift("U0DAN", False, clock())
    held: Counter[str] = Counter()
    picks = []
    for _ in range(9):
        clock.advance(seconds=1)
        agent = roster.next_on_shift(clock(), open_count=lambda a: held[a], cap=100)
        assert agent is not None
        held[agent] += 1
        picks.append(agent)
    assert Counter(picks) == {"U0ANN": 3, "U0BOB": 3, "U0CAT": 3}
    assert picks[:3] == sorted(picks[:3])  # nobody twice before everyone once
    # An agent at the cap is passed by; when everyone is full, nobody gets it.
    held["U0ANN"] = 5
    clock.advance(seconds=1)
    assert roster.next_on_shift(clock(), open_count=lambda a: held[a], cap=5) in ("U0BOB", "U0CAT")
    assert roster.next_on_shift(clock(), open_count=lambda a: 5, cap=5) is None
