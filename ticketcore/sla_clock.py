"""How each change to a ticket moves its SLA clocks: the glue between the pure clock
functions in `ticketcore.sla` and the writes of `TicketService`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ticketcore import sla
from ticketcore.events import Event
from ticketcore.lifecycle import DONE_STATUSES, Status
from ticketcore.models import Actor, ActorKind, Ticket
from ticketcore.sla import SlaConfig, SlaState

PAUSED = frozenset({Status.WAITING, Status.PENDING})  # waiting on the player or others


def state_of(ticket: Ticket) -> SlaState | None:
    return SlaState.model_validate(ticket.sla) if ticket.sla else None


def next_check(state: SlaState | None) -> datetime | None:
    """The next moment a warning or a breach may be due; None while paused or settled."""
    if state is None or state.paused_since is not None:
        return None
    moments = [
        target.due_at if target.warned else min(target.warn_at_time, target.due_at)
        for target in state.targets.values()
        if target.met_at is None and not target.breached
    ]
    return min(moments, default=None)


def stored(state: SlaState | None) -> dict[str, Any]:
    """The ticket fields that keep a clock state."""
    return {
        "sla": None if state is None else state.model_dump(mode="python"),
        "sla_next_check": next_check(state),
    }


def opened(config: SlaConfig, ticket: Ticket, now: datetime) -> dict[str, Any]:
    state = sla.start(config, priority=ticket.priority.value, queue=ticket.queue, now=now)
    return stored(state) if state is not None else {}


def after_change(
    config: SlaConfig,
    current: Ticket,
    updates: Mapping[str, Any],
    *,
    event: str,
    actor: Actor,
    now: datetime,
) -> dict[str, Any]:
    """The SLA fields to write with a change (nothing when the clocks do not move)."""
    before = state_of(current)
    state = before
    status = Status(updates.get("status", current.status))
    priority = str(updates.get("priority", current.priority))
    queue = updates.get("queue", current.queue)
    if priority != current.priority or queue != current.queue:
        state = sla.on_priority_or_queue_change(state, config, priority, queue, now)
    if state is None:
        return {}
    if event == Event.REPLY_SENT and actor.kind is ActorKind.AGENT:
        state = sla.on_agent_reply(state, config, now)
    if event == Event.MESSAGE_RECEIVED:
        state = sla.on_player_message(state, config, now)
    if current.status in DONE_STATUSES and status not in DONE_STATUSES:
        state = sla.on_reopened(state, config, now)
    if status in DONE_STATUSES and current.status not in DONE_STATUSES:
        state = sla.on_resolved(state, now)
    elif status in PAUSED and current.status not in PAUSED:
        state = sla.pause(state, now)
    elif current.status in PAUSED and status not in PAUSED:
        state = sla.resume(state, config, now)
    return {} if state == before else stored(state)
