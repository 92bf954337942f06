"""What players do: write (Telegram, mail, the API), edit what they wrote, rate an answer,
and bind their game account. Mail threads onto its ticket by Message-Id or subject when
the sender is that ticket's player, one ticket per Message-Id."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from bson import ObjectId
from pymongo import DESCENDING
from pymongo.errors import DuplicateKeyError

from ticketcore import sla_clock
from ticketcore.effects import Change
from ticketcore.errors import (
    AlreadyRated,
    TicketClosed,
    TooManyNewTickets,
)
from ticketcore.events import Event
from ticketcore.lifecycle import DONE_STATUSES, Status
from ticketcore.models import (
    LOW_CSAT,
    MAX_SUBJECT,
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
from ticketcore.originals import check_original, keep_original, original_ref, read_original
from ticketcore.players import Directory
from ticketcore.queries import (
    RECENTLY_CLOSED,
    carried_entries,
    latest_on_channel,
)
from ticketcore.store import (
    Document,
    to_entry,
    to_ticket,
)
from ticketcore.writer import WITHOUT_BODIES, TicketWriter
from ticketcore.writes import (
    Action,
    entry_record,
    new_entry_id,
    normalise_tags,
    player_actor,
    player_message,
    player_message_updates,
    subject_from,
)

MAX_REDIRECTS = 5  # merges followed to find an open ticket
REBIND_NOTED_TICKETS = 20  # the player's newest tickets that note a move to another user


def always() -> bool:
    return True


def is_senders_ticket(ticket: Ticket, sender: Player, *, sender_verified: bool) -> bool:
    """Whether a mail from `sender` may join `ticket`: a verified sender whose address (or
    game player id, known from a verified address) is the ticket's player's; an unverified
    one only onto an unverified ticket of the same address, never a verified player's."""
    same_address = sender.email is not None and sender.email == ticket.player.email
    if not (sender_verified and ticket.sender_verified):
        return same_address and not sender_verified and not ticket.sender_verified
    same_player = sender.player_id is not None and sender.player_id == ticket.player.player_id
    return same_address or same_player


def not_threaded_note(ticket: Ticket, sender: Player, *, sender_verified: bool) -> str:
    """Why a mail that names another ticket opened this one instead."""
    who = f"{sender.email} ({'verified' if sender_verified else 'unverified'} sender)"
    return (
        f"This mail answers ticket #{ticket.number}, but {who} is not that ticket's player, "
        "so it was not added there."
    )


def mail_lookup(message_id: str, thread_ids: Sequence[str]) -> dict[str, Any]:
    """The query for the tickets holding a mail's own Message-Id or one it answers. No sort:
    the embedded server never sorts by index, and each id is on one ticket at most (a
    unique index), so the matches are few and the newest is picked in memory."""
    return {"mail_ids": {"$in": [message_id, *thread_ids]}}


class PlayerIntake(TicketWriter):
    """The players' side of TicketService."""

    def open_ticket(
        self,
        *,
        player: Player,
        channel: Channel,
        text: str,
        actor: Actor | None = None,
        subject: str | None = None,
        html: str | None = None,
        attachments: Sequence[Attachment] = (),
        priority: Priority = Priority.NORMAL,
        queue: str | None = None,
        tags: Iterable[str] = (),
        context: Document | None = None,
        reopened_from: int | None = None,
        external_id: str | None = None,
        mail_id: str | None = None,
        sender_verified: bool = True,
        original_ref: str | None = None,
        inbound_id: str | None = None,
    ) -> Ticket:
        """Open a new ticket with the player's first message (`mail_id`: its Message-Id,
        when it came by mail: DuplicateKeyError if another ticket has it already;
        `inbound_id`: the platform's id of any other message: the ticket that has it
        already, if one does)."""

        def store() -> Ticket:
            message = player_message(channel, text, html, attachments, external_id, original_ref)
            author = actor or player_actor(player, channel)
            title = subject.strip() if subject and subject.strip() else subject_from(text)
            clean_tags = normalise_tags(tags)
            now = self.clock()
            ticket = Ticket(
                id=str(ObjectId()),
                number=0,
                subject=title[:MAX_SUBJECT],
                channel=channel,
                player=player,
                status=Status.NEW,
                priority=priority,
                queue=queue,
                tags=clean_tags,
                context=context or {},
                created_at=now,
                updated_at=now,
                last_player_message_at=now,
                reopened_from=reopened_from,
                opening_text=text,
                message_count=1,
                version=1,
                mail_ids=(mail_id,) if mail_id else (),
                inbound_ids=(inbound_id,) if inbound_id else (),
                sender_verified=sender_verified,
            )
            # The ticket is validated above and the player checked here before a number is
            # taken: a refused ticket must not burn a number.
            player_key = player.key()
            ticket = ticket.model_copy(update={"number": self.store.next_number()})
            entry = HistoryEntry(
                id=new_entry_id(),
                ticket_id=ticket.id,
                number=ticket.number,
                seq=1,
                event=Event.TICKET_CREATED,
                actor=author,
                at=now,
                message=message,
            )
            # Never an empty mail_ids or inbound_ids: the unique index would see every such
            # ticket as equal.
            empty = {name for name in ("mail_ids", "inbound_ids") if not getattr(ticket, name)}
            doc = ticket.model_dump(mode="python", exclude={"id", *empty})
            config = self.sla()
            if config is not None:
                clocks = sla_clock.opened(config, ticket, now)
                doc.update(clocks)
                ticket = ticket.model_copy(update=clocks)
            # What the opening owes, less what it could gain nothing from (a lookup of a
            # player the ticket names no game account for).
            opened = Change(entry.event, ticket, now, message=message)
            kinds = self.subscriptions.kinds_for(entry.event, channel.value, change=opened)
            doc.update(
                _id=ObjectId(ticket.id),
                player_key=player_key,
                active=True,
                outbox=entry_record(entry, kinds),
            )
            self.store.tickets.insert_one(doc)
            self.counts.opened(ticket)
            self._dispatch(ticket.id, [r["key"] for r in doc["outbox"]], opening=True)
            return ticket

        return self._once(inbound_id, store)

    def add_player_message(
        self,
        *,
        player: Player,
        channel: Channel,
        text: str,
        html: str | None = None,
        attachments: Sequence[Attachment] = (),
        subject: str | None = None,
        context: Document | None = None,
        external_id: str | None = None,
        new: bool = False,
        inbound_id: str | None = None,
    ) -> Ticket:
        """Add to the player's current ticket on this channel, or open one (always, with
        `new`). `inbound_id`: the platform's id of the message; if a ticket has it
        already, that ticket is returned and nothing is stored again."""

        def store() -> Ticket:
            message = player_message(channel, text, html, attachments, external_id)
            actor = player_actor(player, channel)
            if not new:
                # The player's latest ticket on this channel: one read serves both cases, a
                # follow-up on an open ticket, or a new ticket linked to a closed one.
                latest = self._change(
                    latest_on_channel(player, channel),
                    lambda current: (
                        None
                        if current.status is Status.CLOSED
                        else Action(
                            Event.MESSAGE_RECEIVED,
                            actor,
                            self.clock(),
                            player_message_updates(current, self.clock()),
                            message,
                            inbound_id=inbound_id,
                        )
                    ),
                )
                if latest is not None and latest.status is not Status.CLOSED:
                    return latest
                if latest is not None and latest.merged_into is not None:
                    return self.add_player_message_to(
                        latest.merged_into,
                        text=text,
                        channel=channel,
                        html=html,
                        attachments=attachments,
                        inbound_id=inbound_id,
                    )
            previous = None if new else latest
            recent = (
                previous is not None
                and previous.closed_at is not None
                and (previous.closed_at >= self.clock() - RECENTLY_CLOSED)
            )
            return self.open_ticket(
                player=player,
                channel=channel,
                text=text,
                actor=actor,
                subject=subject,
                html=html,
                attachments=attachments,
                context=context,
                external_id=external_id,
                reopened_from=previous.number if previous is not None and recent else None,
                inbound_id=inbound_id,
            )

        return self._once(inbound_id, store)

    def add_player_message_to(
        self,
        number: int,
        *,
        text: str,
        channel: Channel,
        html: str | None = None,
        attachments: Sequence[Attachment] = (),
        external_id: str | None = None,
        mail_id: str | None = None,
        via: str | None = None,
        original_ref: str | None = None,
        read: Document | None = None,
        inbound_id: str | None = None,
    ) -> Ticket:
        """A follow-up on a known ticket; on a closed one it opens a new linked ticket.
        A mail whose Message-Id the ticket has already is not added again. The player is
        its author; `via` names what carried it in, when not the channel (an API key).
        `read`: the ticket as the caller has just read it (see `_change`); `inbound_id`:
        as for `add_player_message`."""
        message = player_message(channel, text, html, attachments, external_id, original_ref)
        adds = {"mail_ids": (mail_id,)} if mail_id else {}

        def decide(current: Ticket) -> Action | None:
            if current.status is Status.CLOSED or mail_id in current.mail_ids:
                return None  # closed: decided below (follow a merge, or open a linked ticket)
            now = self.clock()
            updates = player_message_updates(current, now)
            writer = player_actor(current.player, channel, via=via)
            return Action(
                Event.MESSAGE_RECEIVED,
                writer,
                now,
                updates,
                message,
                adds=adds,
                inbound_id=inbound_id,
            )

        def store() -> Ticket:
            nonlocal number, read
            for _ in range(MAX_REDIRECTS):
                ticket = self._required(number, self._change({"number": number}, decide, read=read))
                read = None  # it was this ticket's; a merge leads to another
                if ticket.status is not Status.CLOSED:
                    return ticket
                if ticket.merged_into is not None:
                    number = ticket.merged_into
                    continue
                return self.open_ticket(
                    player=ticket.player,
                    channel=channel,
                    text=text,
                    html=html,
                    attachments=attachments,
                    subject=ticket.subject,
                    queue=ticket.queue,
                    reopened_from=ticket.number,
                    external_id=external_id,
                    mail_id=mail_id,
                    sender_verified=ticket.sender_verified,
                    actor=player_actor(ticket.player, channel, via=via),
                    original_ref=original_ref,
                    inbound_id=inbound_id,
                )
            raise TicketClosed(number)

        return self._once(inbound_id, store)

    def edit_player_message(
        self,
        *,
        player: Player,
        channel: Channel,
        external_id: str,
        text: str,
        attachments: Sequence[Attachment] = (),
        inbound_id: str | None = None,
    ) -> Ticket:
        """A player edited a message: keep both versions, the new one pointing at the old.
        An edit of a message we never saw is taken as a new message, so nothing is lost.
        `inbound_id`: the platform's id of this edit (see `add_player_message`)."""
        message = player_message(channel, text, None, attachments, external_id)
        original = self._entry_by_external_id(external_id, player, channel)
        if original is None:
            return self.add_player_message(
                player=player,
                channel=channel,
                text=text,
                attachments=attachments,
                external_id=external_id,
                inbound_id=inbound_id,
            )
        action = Action(
            Event.MESSAGE_EDITED,
            player_actor(player, channel),
            self.clock(),
            {},
            message,
            edit_of=original.id,
            inbound_id=inbound_id,
        )
        return self._once(inbound_id, lambda: self._record(original.number, action))

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
            event = Event.CSAT_LOW if score <= LOW_CSAT else Event.CSAT_RECEIVED
            return Action(event, actor, csat.at, {"csat": csat})

        return self._required(number, self._change({"number": number}, decide))

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
                return Action(Event.PLAYER_CHANGED, actor, self.clock(), {"player": player})

            self._change({"number": number}, decide)
        return len(numbers)

    def _note_rebind(self, player_id: str, previous: int, current: int, *, actor: Actor) -> None:
        moved = {"telegram_user_id_before": previous, "telegram_user_id": current}
        found = self.store.tickets.find({"player.player_id": player_id}, {"number": 1})
        for doc in found.sort("number", DESCENDING).limit(REBIND_NOTED_TICKETS):
            action = Action(Event.PLAYER_REBOUND, actor, self.clock(), {}, data=moved)
            self._record(doc["number"], action)

    def receive_mail(
        self,
        *,
        player: Player,
        message_id: str,
        text: str,
        sender_verified: bool,
        subject: str | None = None,
        html: str | None = None,
        attachments: Sequence[Attachment] = (),
        thread_ids: Sequence[str] = (),
        subject_number: int | None = None,
        may_open: Callable[[], bool] = always,
        original: str | None = None,
    ) -> tuple[Ticket, bool]:
        """A player's mail: onto the ticket whose conversation it answers (its In-Reply-To
        or References name a Message-Id of the ticket, or its subject names `[#1234]`) when
        the sender is that ticket's player (`is_senders_ticket`); else a new ticket, linked
        to the one it named with a note why. A new ticket first asks `may_open`, and raises
        TooManyNewTickets, writing nothing, when refused. Returns the ticket and whether
        the mail was new (False: the same Message-Id was seen before). `original`: the
        mail as it arrived, when `text` shows less of it; kept beside the message."""
        if original is not None:
            check_original(original)
        ref = original_ref(message_id) if original is not None else None

        def kept(ticket: Ticket, new: bool) -> tuple[Ticket, bool]:
            # Also for a mail seen before: its first delivery may have ended in between.
            if original is not None and ref is not None:
                at = self.clock()
                keep_original(self.store, ref, number=ticket.number, text=original, at=at)
            return ticket, new

        seen, named_doc = self._mail_tickets(message_id, thread_ids, subject_number)
        if seen is not None:
            return kept(seen, False)
        named = to_ticket(named_doc) if named_doc is not None else None
        joins = named is not None and is_senders_ticket(
            named, player, sender_verified=sender_verified
        )
        mail: dict[str, Any] = {
            "text": text,
            "html": html,
            "attachments": attachments,
            "external_id": message_id,
            "mail_id": message_id,
            "original_ref": ref,
        }
        try:
            if named is not None and joins:
                added = self.add_player_message_to(
                    named.number, channel=Channel.EMAIL, read=named_doc, **mail
                )
                return kept(added, True)
            if not may_open():
                raise TooManyNewTickets(player.email or player.key())
            ticket = self.open_ticket(
                player=player,
                channel=Channel.EMAIL,
                subject=subject,
                reopened_from=named.number if named is not None else None,
                sender_verified=sender_verified,
                **mail,
            )
        except DuplicateKeyError:  # the same mail, delivered twice at the same moment
            first = self.store.tickets.find_one({"mail_ids": message_id}, {"number": 1})
            if first is None:
                raise
            return kept(self.get(first["number"]), False)
        if named is not None:
            text = not_threaded_note(named, player, sender_verified=sender_verified)
            note = Message(kind=MessageKind.NOTE, channel=Channel.SLACK, text=text)
            ticket = self._record(
                ticket.number, Action(Event.NOTE_ADDED, SYSTEM, self.clock(), {}, note)
            )
        return kept(ticket, True)

    def _mail_tickets(
        self, message_id: str, thread_ids: Sequence[str], subject_number: int | None
    ) -> tuple[Ticket | None, Document | None]:
        """The ticket that already holds this mail, and the ticket the mail names: by a
        Message-Id of its conversation, else by number. One indexed read serves both, and
        the named ticket's document is read as `_change` reads it, so that adding the mail
        to it needs no second read."""
        query = mail_lookup(message_id, thread_ids)
        docs = list(self.store.tickets.find(query, WITHOUT_BODIES))
        for doc in docs:
            if message_id in doc.get("mail_ids", ()):
                return to_ticket(doc), None
        if docs:  # several tickets named: the newest conversation wins
            return None, max(docs, key=lambda doc: int(doc["number"]))
        if subject_number is not None:
            return None, self.store.tickets.find_one({"number": subject_number}, WITHOUT_BODIES)
        return None, None

    def original_mail(self, number: int, ref: str) -> str | None:
        """The mail as it arrived of a message of ticket `number`, by its `original_ref`."""
        return read_original(self.store, number, ref)

    def remember_mail_id(self, ticket_id: str, message_id: str) -> None:
        """Record the Message-Id of a mail we send, before sending it: the player's answer
        names it, and finds this ticket even if the sender crashed right after."""
        self.store.tickets.update_one(
            {"_id": ObjectId(ticket_id)}, {"$addToSet": {"mail_ids": message_id}}
        )
