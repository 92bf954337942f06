"""The helpdesk's own timing rules, as sections of the flows file: how often an
unacknowledged escalation is repeated, and when quiet tickets resolve and close."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field

from ticketcore.sla import Duration


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EscalationPolicy(Policy):
    repeat_every: Duration = timedelta(minutes=15)
    max_repeats: int = Field(default=3, ge=0, le=50)


class AutoClosePolicy(Policy):
    enabled: bool = True
    answered_after: Duration = timedelta(days=3)  # no word from the player since our answer
    resolved_after: Duration = timedelta(days=7)
    # A canned response (macros file) sent to the player when a quiet ticket is resolved,
    # on channels that can carry it; none: resolved without a word.
    notice_macro: str | None = "auto-resolved"


class AssignmentPolicy(Policy):
    # Round robin passes by an agent holding this many open tickets.
    max_open: int = Field(default=25, ge=1, le=1000)


class IncidentPolicy(Policy):
    """When similar new tickets become one incident: `min_similar` of them in one queue
    within `window`."""

    enabled: bool = True
    min_similar: int = Field(default=10, ge=2, le=10_000)
    window: Duration = timedelta(minutes=5)
