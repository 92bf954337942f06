"""TicketService: the one API every channel calls to read and change tickets.

One class, put together by role: what players do (`intake`), what agents do
(`agent_changes`), what the desk does by itself (`system_changes`), all through one
compare-and-set write (`writer`), over the reads (`queries`)."""

from __future__ import annotations

from ticketcore.agent_changes import AgentChanges
from ticketcore.intake import PlayerIntake
from ticketcore.system_changes import SystemChanges
from ticketcore.writer import UNSET

__all__ = ["UNSET", "TicketService"]


class TicketService(PlayerIntake, AgentChanges, SystemChanges):
    """Every change to tickets, each one atomic with the effects it owes."""
