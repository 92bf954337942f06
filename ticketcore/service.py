"""TicketService: the one API every channel calls to change tickets."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pymongo import DESCENDING

from ticketcore.accounts import AccountSummary, same_account, snapshot
from ticketcore.automatic import AutomaticChanges
from ticketcore.errors import AlreadyRated, CannotMerge, TicketClosed
from ticketcore.lifecycle import DONE_STATUSES, Status
from ticketcore.models import (
    LOW_CSAT,
    SYSTEM,
    Actor,
    Attachment,
    Channel,
    Csat,
    HistoryEntry,
    Message,
    MessageKind,
    Player,
    Priority,
    Ticket,
)
from ticketcore.players import Directory
from ticketcore.queries import PRIORITY_ORDER, carried_entries, latest_on_channel
from ticketcore.service_base import ESCALATED_TAG, UNSET
from ticketcore.service_mail import MailIntake
from ticketcore.store import to_entry
from ticketcore.writes import (
    Action,
    event_for,
    normalise_tags,
    player_actor,
    player_message,
    reply_updates,
    status_updates,
    take_updates,
)

__all__ = ["UNSET", "TicketService"]

REBIND_NOTED_TICKETS = 20  # the player's newest tickets that note a move to another user


class TicketService(MailIntake, AutomaticChanges):
    """Every change to tickets, each one atomic with the effects it owes."""

    def delivery_failed(self, number: int, *, channel: Channel, reason: str) -> Ticket:
        """An outward delivery failed for good (an address refused): agents must see it."""
        problem = f"{channel.value}: {reason}"[:500]

        def decide(current: Ticket) -> Action:
            return Action("delivery.failed", SYSTEM, self.clock(), {"delivery_problem": problem})

        return self._required(number, self._change({"number": number}, decide))

    # ----------------------------------------------------------------- agents

    def reply(
        self,
        number: int,
        *,
        actor: Actor,
        text: str,
        html: str | None = None,
        status: Status = Status.ANSWERED,
        once: str | None = None,
    ) -> Ticket:
        """Answer the player; the answer leaves through the outbox on the ticket's channel.
        With `once` (a key), a second call with the same key answers nothing."""
        if status not in (Status.ANSWERED, Status.WAITING, Status.RESOLVED):
            raise ValueError("a reply leaves the ticket answered, waiting or resolved")

        def decide(current: Ticket) -> Action | None:
            if once is not None and once in current.done_keys:
                return None
            if current.status is Status.CLOSED:
                raise TicketClosed(number)
            now = self.clock()
            message = Message(kind=MessageKind.REPLY, channel=current.channel, text=text, html=html)
            updates = reply_updates(current, status, now)
            adds = {"done_keys": (once,)} if once else {}
            return Action("reply.sent", actor, now, updates, message, adds=adds)

        return self._required(number, self._change({"number": number}, decide))

    def add_note(self, number: int, *, actor: Actor, text: str) -> Ticket:
        """An internal note: the team sees it, the player never does."""
        note = Message(kind=MessageKind.NOTE, channel=Channel.SLACK, text=text)
        return self._record(number, Action("note.added", actor, self.clock(), {}, note))

    def take(self, number: int, *, actor: Actor) -> Ticket:
        """Assign to whoever took it; a new ticket moves to inprogress."""

        def decide(current: Ticket) -> Action:
            if current.status is Status.CLOSED:
                raise TicketClosed(number)
            return Action("ticket.assigned", actor, self.clock(), take_updates(current, actor))

        return self._required(number, self._change({"number": number}, decide))

    def assign(self, number: int, assignee: str | None, *, actor: Actor) -> Ticket:
        return self.change(number, actor=actor, assignee=assignee)

    def set_status(self, number: int, status: Status, *, actor: Actor) -> Ticket:
        return self.change(number, actor=actor, status=status)

    def set_priority(self, number: int, priority: Priority, *, actor: Actor) -> Ticket:
        return self.change(number, actor=actor, priority=priority)

    def tag(self, number: int, tags: Iterable[str], *, actor: Actor) -> Ticket:
        return self.change(number, actor=actor, add_tags=tags)

    def untag(self, number: int, tags: Iterable[str], *, actor: Actor) -> Ticket:
        return self.change(number, actor=actor, remove_tags=tags)

    def change(
        self,
        number: int,
        *,
        actor: Actor,
        status: Status | None = None,
        priority: Priority | None = None,
        assignee: str | None = UNSET,
        queue: str | None = UNSET,
        add_tags: Iterable[str] = (),
        remove_tags: Iterable[str] = (),
        set_tags: Iterable[str] | None = None,
    ) -> Ticket:
        """Change several fields in one atomic step with one history entry."""
        added, removed = normalise_tags(add_tags), normalise_tags(remove_tags)
        replaced = None if set_tags is None else normalise_tags(set_tags)

        def decide(current: Ticket) -> Action:
            now = self.clock()
            updates: dict[str, Any] = {}
            if status is not None:
                updates.update(status_updates(current, status, now))
            if priority is not None:
                updates["priority"] = priority
            if assignee is not UNSET:
                updates["assignee"] = assignee
            if queue is not UNSET:
                updates["queue"] = queue
            if replaced is not None:
                updates["tags"] = replaced
            elif added or removed:
                updates["tags"] = tuple(sorted((set(current.tags) | set(added)) - set(removed)))
            return Action(event_for(updates), actor, now, updates)

        return self._required(number, self._change({"number": number}, decide))

    def escalate(self, number: int, *, actor: Actor, reason: str | None = None) -> Ticket:
        """Hand a ticket to the leads: at least high priority, tagged, and leads alerted."""

        def decide(current: Ticket) -> Action:
            if current.status is Status.CLOSED:
                raise TicketClosed(number)
            now = self.clock()
            updates: dict[str, Any] = {
                "tags": tuple(sorted({*current.tags, ESCALATED_TAG})),
                # Each escalation is a fresh alert, repeated until a lead acknowledges it.
                "escalation": {
                    "at": now,
                    "by": actor.id,
                    "reason": reason,
                    "acked_by": None,
                    "acked_at": None,
                    "repeats": 0,
                    "last_alert_at": now,
                },
            }
            if PRIORITY_ORDER.index(current.priority) < PRIORITY_ORDER.index(Priority.HIGH):
                updates["priority"] = Priority.HIGH
            note = None
            if reason:
                note = Message(kind=MessageKind.NOTE, channel=Channel.SLACK, text=reason)
            data = {"reason": reason} if reason else {"by": actor.id}
            return Action("ticket.escalated", actor, now, updates, note, data=data)

        return self._required(number, self._change({"number": number}, decide))

    def acknowledge(self, number: int, *, actor: Actor) -> Ticket:
        """A lead has seen the escalation: record who, and stop repeating the alert."""

        def decide(current: Ticket) -> Action | None:
            escalation = current.escalation
            if escalation is None or escalation.get("acked_at") is not None:
                return None  # nothing to acknowledge, or someone was quicker
            now = self.clock()
            acked = {**escalation, "acked_by": actor.id, "acked_at": now}
            data = {"acked_by": actor.id}
            return Action("escalation.acknowledged", actor, now, {"escalation": acked}, data=data)

        return self._required(number, self._change({"number": number}, decide))

    def edit_player_message(
        self,
        *,
        player: Player,
        channel: Channel,
        external_id: str,
        text: str,
        attachments: Sequence[Attachment] = (),
    ) -> Ticket:
        """A player edited a message: keep both versions, the new one pointing at the old.
        An edit of a message we never saw is taken as a new message, so nothing is lost."""
        message = player_message(channel, text, None, attachments, external_id)
        original = self._entry_by_external_id(external_id, player, channel)
        if original is None:
            return self.add_player_message(
                player=player,
                channel=channel,
                text=text,
                attachments=attachments,
                external_id=external_id,
            )
        action = Action(
            "message.edited",
            player_actor(player, channel),
            self.clock(),
            {},
            message,
            edit_of=original.id,
        )
        return self._record(original.number, action)

    def _entry_by_external_id(
        self, external_id: str, player: Player, channel: Channel
    ) -> HistoryEntry | None:
        doc = self.store.history.find_one({"message.external_id": external_id})
        if doc is not None:
            return to_entry(doc)
        # Not stored yet: look among what the player's latest ticket still carries.
        ticket = self.store.tickets.find_one(
            latest_on_channel(player, channel),
            {"number": 1, "outbox": 1},
            sort=[("number", DESCENDING)],
        )
        for entry in carried_entries(ticket or {}):
            if entry.message is not None and entry.message.external_id == external_id:
                return entry
        return None

    def set_player(self, number: int, player: Player, *, actor: Actor) -> Ticket:
        """Correct who the ticket's player is (an agent learned the player id)."""
        action = Action("ticket.player_changed", actor, self.clock(), {"player": player})
        return self._record(number, action)

    def bind_player_id(self, telegram_user_id: int, player_id: str, *, actor: Actor) -> int:
        """The game vouched that this Telegram user is `player_id`: remember it, and put it
        on the user's open tickets. Returns how many tickets changed. A player taken from
        another Telegram user has it said in their tickets' history (that chat is told by
        a notice the directory owes)."""
        previous = Directory(self.store).link_telegram(telegram_user_id, player_id, self.clock())
        if previous is not None:
            self._note_rebind(player_id, previous, telegram_user_id, actor=actor)
        query = {"player.telegram_user_id": telegram_user_id}  # all of it on one index
        found = self.store.tickets.find(query, {"number": 1, "active": 1})
        numbers = [d["number"] for d in found if d.get("active")]
        for number in numbers:

            def decide(current: Ticket) -> Action:
                player = current.player.model_copy(update={"player_id": player_id})
                return Action("ticket.player_changed", actor, self.clock(), {"player": player})

            self._change({"number": number}, decide)
        return len(numbers)

    def _note_rebind(self, player_id: str, previous: int, current: int, *, actor: Actor) -> None:
        moved = {"telegram_user_id_before": previous, "telegram_user_id": current}
        found = self.store.tickets.find({"player.player_id": player_id}, {"number": 1})
        for doc in found.sort("number", DESCENDING).limit(REBIND_NOTED_TICKETS):
            action = Action("player.rebound", actor, self.clock(), {}, data=moved)
            self._record(doc["number"], action)

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
            return Action("account.loaded", actor, self.clock(), {"account": kept}, data=said)

        return self._change({"number": number}, decide)

    def rate(self, number: int, score: int, *, actor: Actor) -> Ticket:
        """The player's satisfaction with how a resolved ticket went (1 to 5), once per
        resolution."""

        def decide(current: Ticket) -> Action:
            if current.status not in DONE_STATUSES:
                raise ValueError(f"ticket #{number} is not resolved; nothing to rate")
            # One score per resolution: a forwarded mail's link must not overwrite it.
            resolved = current.resolved_at
            if current.csat is not None and resolved is not None and current.csat.at >= resolved:
                raise AlreadyRated(number)
            csat = Csat(score=score, at=self.clock())
            event = "csat.low" if score <= LOW_CSAT else "csat.received"
            return Action(event, actor, csat.at, {"csat": csat})

        return self._required(number, self._change({"number": number}, decide))

    def merge(self, number: int, into: int, *, actor: Actor) -> Ticket:
        """Close `number` as a duplicate of `into`; later player messages follow it there."""
        if number == into:
            raise CannotMerge(number, into, "a ticket cannot be merged into itself")
        source, target = self.get(number), self.get(into)
        if target.status is Status.CLOSED:
            raise CannotMerge(number, into, f"#{into} is closed")
        if source.merged_into is not None:
            raise CannotMerge(
                number, into, f"#{number} is already merged into #{source.merged_into}"
            )
        note = Message(
            kind=MessageKind.NOTE,
            channel=Channel.SLACK,
            text=f"Ticket #{number} ({source.subject}) was merged into this one.",
        )
        self._record(into, Action("ticket.merge_received", actor, self.clock(), {}, note))

        def decide(current: Ticket) -> Action:
            if current.merged_into is not None:
                raise CannotMerge(number, into, f"#{number} was merged meanwhile")
            now = self.clock()
            updates = {**status_updates(current, Status.CLOSED, now), "merged_into": into}
            return Action("ticket.merged", actor, now, updates)

        return self._required(number, self._change({"number": number}, decide))
