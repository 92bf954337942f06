"""Run the flow rules on each ticket event, in the background, from the outbox.

Rules run in file order against the ticket as it is now. A rule's field changes are
made with the rule as the actor; its notifications and auto-reply are recorded with its
firing (`flow.fired`) in one write, so each is sent once, however often this job runs. A
rule never fires on a change it made itself, and a ticket gets at most MAX_FIRINGS rule
firings in GUARD_WINDOW, so two rules that undo each other cannot loop forever.
"""

from __future__ import annotations

import logging
from typing import Any

from bot.slack.text import escape
from jobs.runtime import Runtime
from ticketcore.agents import DEFAULT_CAP, Roster
from ticketcore.calendar import ALWAYS
from ticketcore.effects import Change, EffectKind, Lane, Needless, effect_kind
from ticketcore.errors import TicketError
from ticketcore.events import FLOW_EVENTS
from ticketcore.flows import (
    Action,
    AddTags,
    Assign,
    Escalate,
    Notify,
    Reply,
    Rule,
    SetPriority,
    SetQueue,
    SetStatus,
    TextError,
    facts_for,
    render_text,
)
from ticketcore.flows_file import FlowsFileHolder
from ticketcore.lifecycle import Status
from ticketcore.models import Actor, ActorKind, HistoryEntry, MessageKind, Ticket
from ticketcore.store import Document, to_ticket

log = logging.getLogger(__name__)

FLOWS_RUN = "flows.run"
MAX_FIRINGS = 20
GUARD_WINDOW = 600  # seconds


def no_rule_on(flows: FlowsFileHolder) -> Needless:
    """A change whose event no enabled rule is `on` owes no flows run: the run would read
    the ticket and its entry to find nothing to do (most of a day's events, when the
    rules route new tickets). A rule acts on the events that happen while it is in the
    file, so one added later does not reach back to earlier events."""

    def needless(change: Change) -> bool:
        return not flows.current().flows.for_event(change.event)

    return needless


def kind(flows: FlowsFileHolder) -> EffectKind:
    """The flows run's declaration: every event, but only those some rule is `on`.
    Urgent: routing, auto-replies and escalations are what people wait for."""
    return effect_kind(FLOWS_RUN, FLOW_EVENTS, lane=Lane.URGENT, needless=no_rule_on(flows))


def flow_actor(rule: Rule) -> Actor:
    return Actor(kind=ActorKind.SYSTEM, id=f"flow:{rule.name}"[:200], via="flow")


def run_flows(rt: Runtime, doc: Document, record: Document) -> None:
    """The effect handler: every rule that matches the event, in file order."""
    in_force = rt.flows_in_force
    if in_force is None:
        return None
    entry = rt.service.entry(doc, record["entry_id"])
    fresh = rt.store.tickets.find_one({"_id": doc["_id"]}, {"outbox.payload": 0})
    if fresh is None:
        return None
    ticket = to_ticket(fresh)
    calendar = in_force.sla.calendar_for(None) if in_force.sla else ALWAYS
    said = (
        entry.message.text if entry.message and entry.message.kind is MessageKind.PLAYER else None
    )
    facts = facts_for(
        ticket,
        event=entry.event,
        now=rt.clock(),
        message_text=said,
        account=account_facts(ticket),
        in_business_hours=calendar.is_open,
    )
    for rule in in_force.flows.matching(facts):
        if f"{entry.id}:{rule.name}" in ticket.done_keys or entry.actor.id == f"flow:{rule.name}":
            continue  # done before, or this rule's own change
        if not within_guard(rt, ticket):
            log.warning(
                "ticket #%s: flow rules fired too often; %s skipped", ticket.number, rule.name
            )
            break
        fire(rt, rule, ticket, entry, facts)
        ticket = rt.service.get(ticket.number)
    return None


def within_guard(rt: Runtime, ticket: Ticket) -> bool:
    key = f"flows:fired:{ticket.id}"
    redis = rt.queue.connection
    count = int(redis.incr(key))
    if count == 1:
        redis.expire(key, GUARD_WINDOW)
    return count <= MAX_FIRINGS


def fire(rt: Runtime, rule: Rule, ticket: Ticket, entry: HistoryEntry, facts: Any) -> None:
    service, number = rt.service, ticket.number
    notify: list[dict[str, str]] = []
    reply: str | None = None
    problems: list[str] = []
    for action in rule.actions:
        try:
            reply = apply(rt, rule, action, ticket, facts, notify) or reply
        except (TicketError, ValueError) as exc:  # e.g. a status move the lifecycle forbids
            problems.append(f"{getattr(action, 'kind', 'action')}: {exc}")
    service.flow_fired(
        number, rule=rule.name, trigger=entry.id, notify=notify, reply=reply, problems=problems
    )
    log.info("ticket #%s: flow %s fired on %s", number, rule.name, entry.event)


def apply(
    rt: Runtime,
    rule: Rule,
    action: Action,
    ticket: Ticket,
    facts: Any,
    notify: list[dict[str, str]],
) -> str | None:
    """Carry out one action; a reply's text is returned, to go out with the firing."""
    actor = flow_actor(rule)
    service, number = rt.service, ticket.number
    match action:
        case Notify():
            kind, target = action.target
            try:
                text = render_text(action.text, facts, escape=escape)
            except TextError as exc:
                text = f"(rule {rule.name}: the text could not be rendered: {exc})"
            notify.append({"target": kind, "id": target, "text": text})
        case Assign(user=str(user)):
            service.assign(number, user, actor=actor)
        case Assign():
            roster = Roster(rt.store)
            cap = rt.flows_in_force.assignment.max_open if rt.flows_in_force else DEFAULT_CAP
            agent = roster.next_on_shift(
                rt.clock(),
                open_count=service.open_count,
                cap=cap,
            )
            if agent is not None:
                service.assign(number, agent, actor=actor)
        case SetPriority():
            service.set_priority(number, action.priority, actor=actor)
        case SetStatus():
            if action.status is not ticket.status:
                service.set_status(number, Status(action.status), actor=actor)
        case AddTags():
            service.tag(number, action.tags, actor=actor)
        case SetQueue():
            service.change(number, actor=actor, queue=action.queue)
        case Reply():
            macro = rt.macros.get(action.macro)
            if macro is None:
                raise ValueError(f"no macro named {action.macro}")
            return macro.text_for(ticket.player.language)
        case Escalate():
            service.escalate(number, actor=actor, reason=action.reason or f"flow {rule.name}")
    return None


def account_facts(ticket: Ticket) -> dict[str, Any] | None:
    """`account.*` in conditions: what the game's admin API said, else what the game sent
    with the ticket (its `context.account`)."""
    if ticket.account is not None and ticket.account.get("status") == "ok":
        return dict(ticket.account.get("facts") or {})
    sent = ticket.context.get("account") if isinstance(ticket.context, dict) else None
    return dict(sent) if isinstance(sent, dict) else None
