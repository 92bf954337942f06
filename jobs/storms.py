"""Storms: spot a burst of similar new tickets and make it one incident; carry out what
the team does to a whole incident (one reply to every player, resolve them all).

Detection runs in the same job as the new ticket's Slack card, just before it, so a
ticket of a storm joins the incident instead of getting a card of its own.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from bson import ObjectId

from jobs import runtime
from jobs.dispatch import FAILURE_TTL, RESULT_TTL
from jobs.runtime import Runtime
from jobs.storm_window import StormWindow
from ticketcore.effects import Lane, effect_kind
from ticketcore.errors import TicketError
from ticketcore.events import Event
from ticketcore.incidents import ActionKind, Incidents
from ticketcore.lifecycle import DONE_STATUSES, Status
from ticketcore.models import Actor, ActorKind
from ticketcore.store import Document, to_ticket

log = logging.getLogger(__name__)

STORM_DETECT = "storm.detect"
KIND = effect_kind(STORM_DETECT, {Event.TICKET_CREATED}, lane=Lane.URGENT)
LOST_AFTER = timedelta(minutes=5)  # an incident action still not done by then is run again


def detect(rt: Runtime, doc: Document, record: Document) -> None:
    """Observe a new ticket; when it tips a burst over, open the incident and link the
    burst's tickets to it; when a burst is on, link this one."""
    in_force = rt.flows_in_force
    if in_force is None or not in_force.incidents.enabled:
        return None
    ticket = to_ticket(doc)
    window = StormWindow(
        rt.queue.connection,
        window=in_force.incidents.window,
        min_similar=in_force.incidents.min_similar,
    )
    seen = window.observe(ticket.id, ticket.queue, ticket.opening_text, ticket.created_at)
    if seen.group is None:
        return None
    incidents = Incidents(rt.store)
    incident = incidents.open_for(
        seen.group, queue=ticket.queue, title=ticket.subject, now=rt.clock()
    )
    rt.service.join_incident(ticket.number, incident, first=seen.started)
    for ticket_id in seen.earlier:
        earlier = rt.store.tickets.find_one({"_id": ObjectId(ticket_id)}, {"number": 1})
        if earlier is not None:
            rt.service.join_incident(int(earlier["number"]), incident)
    if seen.started:
        log.warning(
            "incident #%s: a storm of %d similar tickets in queue %s",
            incident.number,
            seen.size,
            ticket.queue or "(none)",
        )
    return None


# ------------------------------------------------------------------ whole-incident actions


def start_action(
    rt: Runtime, incident_id: str, kind: ActionKind, *, actor: Actor, text: str | None = None
) -> str:
    """Record an action on the whole incident and hand it to a worker."""
    action_id = Incidents(rt.store).record_action(
        incident_id, kind, actor=actor.id, now=rt.clock(), text=text
    )
    rt.queue.enqueue(
        run_action, incident_id, action_id, result_ttl=RESULT_TTL, failure_ttl=FAILURE_TTL
    )
    return action_id


def run_action(incident_id: str, action_id: str) -> int:
    """RQ job: do the action to every ticket of the incident that has not had it; safe to
    run again. Returns how many tickets it changed."""
    rt = runtime.current()
    incidents = Incidents(rt.store)
    incident = incidents.get(incident_id)
    if incident is None:
        return 0
    action = incident.action(action_id)
    if action is None or action.done_at is not None:
        return 0
    actor = Actor(kind=ActorKind.AGENT, id=action.actor, via="incident")
    changed = 0
    for number in incidents.ticket_numbers(incident_id):
        try:
            if action.kind == "reply" and action.text is not None:
                before = rt.service.get(number)
                after = rt.service.reply(
                    number, actor=actor, text=action.text, once=f"incident:{action_id}"
                )
                changed += after.version != before.version
            elif action.kind == "resolve":
                ticket = rt.service.get(number)
                if ticket.status not in DONE_STATUSES:
                    rt.service.set_status(number, Status.RESOLVED, actor=actor)
                    changed += 1
        except TicketError as exc:  # a closed ticket, say: the others still get it
            log.info("incident #%s: ticket #%s skipped: %s", incident.number, number, exc)
    incidents.finish_action(incident_id, action_id, rt.clock())
    return changed


def resume_lost_actions(rt: Runtime) -> int:
    """From the periodic job: run again incident actions whose job was lost."""
    lost = list(Incidents(rt.store).unfinished(rt.clock() - LOST_AFTER))
    for incident_id, action_id in lost:
        rt.queue.enqueue(
            run_action, incident_id, action_id, result_ttl=RESULT_TTL, failure_ttl=FAILURE_TTL
        )
    return len(lost)
