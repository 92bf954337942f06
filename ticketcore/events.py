"""Every event a ticket's history records, by one name each.

An event is what happened to a ticket, written into its history by the change that made it
happen; effect kinds subscribe to events (ticketcore.effects), and the flows file's rules
are `on:` some of them (FLOW_EVENTS). The values are what the store, the API, the flows
file and the Slack thread show, so they never change once a desk has used them.
"""

from __future__ import annotations

from enum import StrEnum


class Event(StrEnum):
    # A player writes.
    TICKET_CREATED = "ticket.created"
    MESSAGE_RECEIVED = "message.received"
    MESSAGE_EDITED = "message.edited"
    PLAYER_CHANGED = "ticket.player_changed"  # the player behind the ticket became known
    PLAYER_REBOUND = "player.rebound"  # the player's game account moved to another chat
    CSAT_RECEIVED = "csat.received"
    CSAT_LOW = "csat.low"  # a score at or under LOW_CSAT

    # An agent acts.
    REPLY_SENT = "reply.sent"
    NOTE_ADDED = "note.added"
    ASSIGNED = "ticket.assigned"
    STATUS_CHANGED = "ticket.status_changed"
    PRIORITY_CHANGED = "ticket.priority_changed"
    QUEUE_CHANGED = "ticket.queue_changed"
    TAGS_CHANGED = "ticket.tags_changed"
    UPDATED = "ticket.updated"  # several fields at once
    ESCALATED = "ticket.escalated"
    ESCALATION_ACKNOWLEDGED = "escalation.acknowledged"
    MERGED = "ticket.merged"  # this ticket went into another
    MERGE_RECEIVED = "ticket.merge_received"  # another ticket came into this one

    # The desk acts.
    ESCALATION_REPEATED = "escalation.repeated"
    SLA_WARNING = "sla.warning"
    SLA_BREACHED = "sla.breached"
    FLOW_FIRED = "flow.fired"
    ACCOUNT_LOADED = "account.loaded"  # the game's admin API answered about the player
    DELIVERY_FAILED = "delivery.failed"  # a reply could not reach the player
    INCIDENT_DETECTED = "incident.detected"  # the ticket that made a storm an incident
    INCIDENT_JOINED = "incident.joined"  # a later ticket of the same storm


# What a flows rule may be `on:`; `account.loaded` makes `account.*` known to conditions.
FLOW_EVENTS: tuple[Event, ...] = (
    Event.TICKET_CREATED,
    Event.MESSAGE_RECEIVED,
    Event.STATUS_CHANGED,
    Event.ASSIGNED,
    Event.PRIORITY_CHANGED,
    Event.REPLY_SENT,
    Event.NOTE_ADDED,
    Event.ESCALATED,
    Event.SLA_WARNING,
    Event.SLA_BREACHED,
    Event.CSAT_LOW,
    Event.INCIDENT_DETECTED,
    Event.ACCOUNT_LOADED,
)
