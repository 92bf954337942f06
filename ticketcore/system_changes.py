"""What the desk does by itself: flow rules firing, SLA alerts, auto-close, repeated
escalations, storms joining incidents, account lookups and failed deliveries recorded."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

from bson import ObjectId

from ticketcore import sla, sla_clock
from ticketcore.accounts import AccountSummary, same_account, snapshot
from ticketcore.events import Event
from ticketcore.incidents import Incident
from ticketcore.lifecycle import Status
from ticketcore.models import (
    SYSTEM,
    Actor,
    ActorKind,
    Channel,
    Message,
    MessageKind,
    Ticket,
)
from ticketcore.store import at_or_before
from ticketcore.writer import TicketWriter
from ticketcore.writes import (
    Action,
    reply_updates,
    status_updates,
)


class SystemChanges(TicketWriter):
    """The desk's own side of TicketService."""

    def delivery_failed(self, number: int, *, channel: Channel, reason: str) -> Ticket:
        """An outward delivery failed for good (an address refused): agents must see it."""
        problem = f"{channel.value}: {reason}"[:500]

        def decide(current: Ticket) -> Action:
            return Action(
                Event.DELIVERY_FAILED, SYSTEM, self.clock(), {"delivery_problem": problem}
            )

        return self._required(number, self._change({"number": number}, decide))

    def set_account(self, number: int, summary: AccountSummary, *, actor: Actor) -> Ticket | None:
        """Keep what the game said of the ticket's player (`account.loaded`), for its card and
        flow rules; nothing when it says what the ticket already keeps, or is about a player
        the ticket no longer has."""
        kept = snapshot(summary)

        def decide(current: Ticket) -> Action | None:
            if current.player.player_id != summary.player_id:
                return None
            if same_account(current.account, kept):
                return None
            said = {"status": kept["status"], "reason": kept["reason"]}
            return Action(Event.ACCOUNT_LOADED, actor, self.clock(), {"account": kept}, data=said)

        return self._change({"number": number}, decide)

    def flow_fired(
        self,
        number: int,
        *,
        rule: str,
        trigger: str,
        notify: Sequence[Mapping[str, str]] = (),
        reply: str | None = None,
        problems: Sequence[str] = (),
    ) -> Ticket | None:
        """Record that a flow rule fired on the event `trigger` (a history entry id), with
        the notifications it sends and the auto-reply it gives: once per rule and event,
        however often the flow's job runs. None if it was recorded before."""
        key = f"{trigger}:{rule}"
        actor = Actor(kind=ActorKind.SYSTEM, id=f"flow:{rule}"[:200], via="flow")
        fired = False

        def decide(current: Ticket) -> Action | None:
            nonlocal fired
            if key in current.done_keys:
                return None
            fired = True
            message = None
            if reply is not None and current.status is not Status.CLOSED:
                message = Message(kind=MessageKind.REPLY, channel=current.channel, text=reply)
            data = {"rule": rule, "trigger": trigger, "notify": [dict(n) for n in notify]}
            if problems:
                data["problems"] = list(problems)
            return Action(
                Event.FLOW_FIRED,
                actor,
                self.clock(),
                {},
                message,
                data=data,
                adds={"done_keys": (key,)},
            )

        ticket = self._required(number, self._change({"number": number}, decide))
        return ticket if fired else None

    def auto_close(
        self,
        *,
        answered_after: timedelta,
        resolved_after: timedelta,
        notice: Callable[[Ticket], str | None] = lambda ticket: None,
        limit: int = 500,
    ) -> tuple[list[int], list[int]]:
        """Tidy up quiet tickets: `answered` with no word from the player for
        `answered_after` become resolved (telling the player, where `notice` has a text for
        them), and `resolved` ones become closed after `resolved_after`. Returns the numbers
        resolved and the numbers closed; at most `limit` of each per call."""
        now = self.clock()
        actor = Actor(kind=ActorKind.SYSTEM, id="autoclose", via="autoclose")
        resolved: list[int] = []
        closed: list[int] = []

        def quiet(current: Ticket) -> Action | None:
            reply_at = current.last_agent_reply_at
            if current.status is not Status.ANSWERED or reply_at is None:
                return None
            if reply_at > now - answered_after:
                return None
            text = notice(current)
            updates = status_updates(current, Status.RESOLVED, now)
            if text is None:
                return Action(Event.STATUS_CHANGED, actor, now, updates, data={"auto": True})
            message = Message(kind=MessageKind.REPLY, channel=current.channel, text=text)
            updates = reply_updates(current, Status.RESOLVED, now)
            return Action(Event.REPLY_SENT, actor, now, updates, message, data={"auto": True})

        def done(current: Ticket) -> Action | None:
            if current.status is not Status.RESOLVED or current.resolved_at is None:
                return None
            if current.resolved_at > now - resolved_after:
                return None
            updates = status_updates(current, Status.CLOSED, now)
            return Action(Event.STATUS_CHANGED, actor, now, updates, data={"auto": True})

        for status, field, decide, numbers in (
            (Status.ANSWERED, "last_agent_reply_at", quiet, resolved),
            (Status.RESOLVED, "resolved_at", done, closed),
        ):
            cutoff = now - (answered_after if status is Status.ANSWERED else resolved_after)
            due = self.store.tickets.find(
                {"status": status.value, field: at_or_before(cutoff)}, {"number": 1}
            ).limit(limit)
            for doc in due:
                before = doc["number"]
                ticket = self._change({"_id": doc["_id"]}, decide)
                if ticket is not None and ticket.updated_at == now:
                    numbers.append(before)
        return resolved, closed

    def raise_sla_alerts(self, limit: int = 500) -> list[tuple[int, str, str]]:
        """Raise every SLA warning and breach that is due, each once per ticket and target,
        as `sla.warning` / `sla.breached` events; (number, target, kind) of each raised."""
        now = self.clock()
        raised: list[tuple[int, str, str]] = []
        due = self.store.tickets.find({"sla_next_check": at_or_before(now)}, {"number": 1})
        for doc in due.limit(limit):
            while True:
                ticket, alert = self._raise_sla_alert(doc["_id"], now)
                if ticket is None or alert is None:
                    break
                raised.append((ticket.number, *alert))
            if ticket is not None:  # settled: make sure the next look is in the future
                fields = sla_clock.stored(sla_clock.state_of(ticket))
                self.store.tickets.update_one(
                    {"_id": doc["_id"], "version": ticket.version},
                    {"$set": {"sla_next_check": fields["sla_next_check"]}},
                )
        return raised

    def _raise_sla_alert(
        self, ticket_id: ObjectId, now: datetime
    ) -> tuple[Ticket | None, tuple[str, str] | None]:
        """Raise the first due SLA alert of one ticket; the ticket and the alert raised."""
        raised: list[tuple[str, str]] = []

        def decide(current: Ticket) -> Action | None:
            state = sla_clock.state_of(current)
            alerts = sla.due_alerts(state, now) if state is not None else []
            if state is None or not alerts:
                return None
            raised[:] = alerts[:1]
            name, kind = alerts[0]
            after = sla.mark_raised(state, alerts[:1])
            data = {"target": name, "due_at": after.targets[name].due_at, "policy": state.policy}
            event = Event.SLA_WARNING if kind == "warning" else Event.SLA_BREACHED
            return Action(event, SYSTEM, now, sla_clock.stored(after), data=data)

        ticket = self._change({"_id": ticket_id}, decide)
        return ticket, (raised[0] if raised else None)

    def join_incident(
        self, number: int, incident: Incident, *, first: bool = False
    ) -> Ticket | None:
        """Link a ticket to the incident of its storm (`first`: the ticket that showed the
        storm, whose event is `incident.detected`). None if it was linked already."""
        link = incident.link
        joined = False

        def decide(current: Ticket) -> Action | None:
            nonlocal joined
            if current.incident is not None:
                return None
            joined = True
            event = Event.INCIDENT_DETECTED if first else Event.INCIDENT_JOINED
            data = {"incident": link["number"]}
            return Action(event, SYSTEM, self.clock(), {"incident": link}, data=data)

        ticket = self._required(number, self._change({"number": number}, decide))
        return ticket if joined else None

    def repeat_escalations(self, *, every: timedelta, limit: int) -> list[int]:
        """Alert the leads again about escalations nobody acknowledged within `every`, at
        most `limit` times each; the numbers of the tickets alerted again."""
        now = self.clock()
        # The index's field alone in the query (with others the embedded server reads
        # every ticket); the rest is checked here, and again in `decide`.
        alerted = self.store.tickets.find(
            {"escalation.last_alert_at": at_or_before(now - every)},
            {"number": 1, "active": 1, "escalation": 1},
        )
        due = [
            doc
            for doc in alerted
            if doc.get("active")
            and doc["escalation"].get("acked_at") is None
            and doc["escalation"].get("repeats", 0) < limit
        ]
        repeated = []
        for doc in due:

            def decide(current: Ticket) -> Action | None:
                escalation = current.escalation or {}
                if (
                    escalation.get("acked_at") is not None
                    or escalation.get("repeats", 0) >= limit
                    or escalation["last_alert_at"] > now - every
                    or current.status is Status.CLOSED
                ):
                    return None
                repeats = escalation["repeats"] + 1
                again = {**escalation, "repeats": repeats, "last_alert_at": now}
                data = {"repeat": repeats, "of": limit}
                return Action(
                    Event.ESCALATION_REPEATED, SYSTEM, now, {"escalation": again}, data=data
                )

            ticket = self._change({"_id": doc["_id"]}, decide)
            if (
                ticket is not None
                and ticket.escalation
                and ticket.escalation["last_alert_at"] == now
            ):
                repeated.append(ticket.number)
        return repeated
