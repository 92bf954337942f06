"""A value worked out at most once per window, however many requests ask for it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Generic, TypeVar, cast

T = TypeVar("T")


class Cached(Generic[T]):
    """`get()` answers from the last computation while it is younger than `seconds`.

    Callers that arrive while it is being worked out wait for that one computation
    instead of starting their own. A failure is kept for the window too: a store that
    is down is asked once per window, not once per request.
    """

    def __init__(
        self, compute: Callable[[], T], *, seconds: float, clock: Callable[[], datetime]
    ) -> None:
        self.compute = compute
        self.window = timedelta(seconds=seconds)
        self.clock = clock
        self.lock = threading.Lock()
        self.at: datetime | None = None
        self.outcome: T | Exception | None = None

    def get(self) -> T:
        """The value of at most `seconds` ago; raises what the computation raised."""
        with self.lock:
            if self.at is None or not self.is_fresh(self.at):
                try:
                    self.outcome = self.compute()
                except Exception as exc:
                    self.outcome = exc
                self.at = self.clock()
            outcome = self.outcome
        if isinstance(outcome, Exception):
            raise outcome
        return cast(T, outcome)

    def is_fresh(self, at: datetime) -> bool:
        # A clock set back counts as stale: the window must not stretch.
        return at <= self.clock() < at + self.window
