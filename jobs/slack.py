"""Deliver tickets to Slack: post or update the card, mirror the conversation in its
thread, alert the leads. Each effect is idempotent and paced to Slack's limits."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from redis import Redis

from bot import refs
from bot.slack.alerts import alert_blocks, alert_text, headline_for
from bot.slack.cards import (
    CardStyle,
    card_digest,
    card_text,
    thread_message,
    ticket_card,
)
from bot.slack.incidents import incident_blocks, incident_text
from bot.slack.poster import SlackPoster
from bot.slack.text import SECTION_TEXT, escape
from bot.slack.views import card_link
from jobs.deliver import SCHEDULER_GRAIN
from jobs.flows import FLOWS_RUN
from jobs.lease import locked
from jobs.runtime import Handler, Runtime
from jobs.storms import STORM_DETECT
from ticketcore.effects import EVERY_EVENT, Change, Lane, RetryLater, effect_kind, without_message
from ticketcore.events import Event
from ticketcore.incidents import Incidents
from ticketcore.models import Actor, ActorKind, Ticket
from ticketcore.store import Document, save_entries, to_ticket

log = logging.getLogger(__name__)

SLACK_CARD = "slack.card"
SLACK_THREAD = "slack.thread"
SLACK_ESCALATION = "slack.escalation"
SLACK_NOTIFY = "slack.notify"
SLACK_INCIDENT = "slack.incident"
INCIDENT_REFRESH = 2.0  # seconds: an incident card is redrawn at most this often
CARD_REF = refs.SLACK_CARD
THREAD_NOTE_VIA = "slack_thread"  # notes agents typed in the thread: already there

# A digest of what the ticket's card showed when last drawn: a change that leaves it the
# same costs no redraw.
CARD_DRAWN = "slack_card_drawn"
ALERT_REF = refs.SLACK_ALERT
CARD_DEBOUNCE = 1.0  # seconds: changes to one ticket within it become one chat.update


def notifies_nobody(change: Change) -> bool:
    """A flow rule's firing owes the notifications only what the rule sends: a rule that
    just routed the ticket owes none."""
    return not change.data.get("notify")


# Thread messages and the incident's card wait as long as the ticket's card, so all the
# Slack work a change owes is one job, not more jobs that would mostly find nothing to do
# (runs of those held the workers while card posts stood still).
KINDS = (
    effect_kind(
        SLACK_CARD,
        {EVERY_EVENT},  # the card shows the whole ticket: any change redraws it
        lane=Lane.URGENT,
        delay=CARD_DEBOUNCE,
        # A rule that routes a new ticket to its queue decides the card's channel, and a
        # storm's ticket joins its incident instead of posting a card of its own. Behind a
        # backlog of bookkeeping the flows came late, and the cards piled up in triage.
        after=(FLOWS_RUN, STORM_DETECT),
    ),
    effect_kind(
        SLACK_THREAD,
        {
            Event.TICKET_CREATED,
            Event.MESSAGE_RECEIVED,
            Event.MESSAGE_EDITED,
            Event.REPLY_SENT,
            Event.NOTE_ADDED,
            Event.FLOW_FIRED,  # a flow's auto-reply: agents see what the player got
        },
        lane=Lane.URGENT,
        delay=CARD_DEBOUNCE,
        needless=without_message,  # a rule's firing owes the thread only its auto-reply
        after=(SLACK_CARD,),  # a thread hangs under its card
    ),
    effect_kind(
        SLACK_ESCALATION,
        {Event.ESCALATED, Event.ESCALATION_REPEATED, Event.ESCALATION_ACKNOWLEDGED},
        lane=Lane.URGENT,
    ),
    effect_kind(SLACK_NOTIFY, {Event.FLOW_FIRED}, needless=notifies_nobody),
    effect_kind(
        SLACK_INCIDENT,
        {Event.INCIDENT_DETECTED, Event.INCIDENT_JOINED, Event.STATUS_CHANGED},
        lane=Lane.URGENT,
        delay=CARD_DEBOUNCE,
    ),
)
# How long a later change of a card waits while an earlier one is in line to redraw it;
# it is dropped when the earlier one draws the card, and acts itself if that one is lost.
CARD_FOLLOWER_WAIT = 60.0
FOLLOWER_WAIT_MOST = 3600.0  # a line of redraws an hour long is a Slack outage
# Seconds a thread message waits for its card at least and at most: the most, in case the
# card's turn is held by a worker that died.
THREAD_WAIT = (2.0, 15.0)


def wait_behind(
    ahead: Document | None, now: datetime, *, margin: float, bounds: tuple[float, float]
) -> float:
    """Seconds an effect waiting for `ahead` (an owed record of the same ticket: the card
    it hangs off, the change that will redraw it) sleeps: until `ahead`'s own turn plus
    `margin`, within `bounds`. A record a worker holds is being carried out now: the least.
    A fixed wait instead had every waiting effect back many times while the one it waits
    for queued behind Slack's rate limit, each visit a claim and a release on the store."""
    least, most = bounds
    if ahead is None or ahead.get("lease") or not ahead.get("due_at"):
        return least
    seconds = float((ahead["due_at"] - now).total_seconds()) + margin
    return min(max(seconds, least), most)


def owed_cards(doc: Document) -> list[Document]:
    """The ticket's card changes still owed, oldest first."""
    return [
        r for r in doc.get("outbox", []) if r["kind"] == SLACK_CARD and r.get("dead_at") is None
    ]


def retried(record: Document) -> bool:
    """Whether an earlier attempt at this effect ended without a known outcome: it failed,
    or its worker died holding it. Waiting out a rate limit is not an attempt (`postpone`
    gives it back), so only these pay for a look at what Slack already has."""
    return int(record.get("attempts") or 0) > 1


def mention_of(actor: Actor) -> str:
    """An agent as a Slack mention; anyone else (a flow, the helpdesk) by name, escaped."""
    if actor.kind is ActorKind.AGENT:
        return f"<@{actor.id}>"
    return escape(actor.id)


@dataclass
class SlackDelivery:
    """The Slack effects of tickets: what to post or redraw, and where; the poster posts it."""

    poster: SlackPoster
    redis: Redis  # the locks that keep one card's redraws in line
    triage_channel: str
    leads_channel: str | None = None
    queue_channels: dict[str, str] = field(default_factory=dict)
    style: CardStyle = field(default_factory=CardStyle)

    def channel_for(self, ticket: Ticket) -> str:
        return self.queue_channels.get(ticket.queue or "", self.triage_channel)

    # ------------------------------------------------------------------ effects

    def sync_card(self, rt: Runtime, claimed: Document, record: Document) -> Document | None:
        """Post the card once, then keep it in step with the ticket."""
        if claimed.get("incident") and CARD_REF not in (claimed.get("refs") or {}):
            return None  # a storm's ticket without a card: its incident's card speaks for it
        with locked(self.redis, f"slack:card:{claimed['_id']}", rt.outbox.lease) as ours:
            if not ours:
                raise RetryLater(CARD_DEBOUNCE, "another worker is updating this card")
            # Render the latest state, read under the lock, so a slower worker can never
            # overwrite the card with an older one.
            doc = rt.store.tickets.find_one({"_id": claimed["_id"]}, {"outbox.payload": 0})
            assert doc is not None
            in_line = owed_cards(doc)
            if record["key"] not in [r["key"] for r in in_line]:
                return None  # drawn meanwhile, by the change in line before it
            ticket = to_ticket(doc)
            text = card_text(ticket)
            blocks = ticket_card(
                ticket,
                first_message=rt.service.opening_text(ticket),
                now=rt.clock(),
                style=self.style,
            )
            drawn = card_digest(text, blocks)
            ref = ticket.refs.get(CARD_REF)
            # Every card change this rendering covers is done, not just the claimed one.
            others = [
                r["key"]
                for r in doc.get("outbox", [])
                if r["kind"] == SLACK_CARD and r["key"] != record["key"]
            ]
            if ref is not None and drawn == doc.get(CARD_DRAWN):
                # Nothing the card shows has changed (a follow-up, which goes to the
                # thread; a flow's bookkeeping): no redraw, no turn in Slack's budget.
                if others:
                    rt.outbox.complete_many(str(doc["_id"]), others)
                return None
            if in_line[0]["key"] != record["key"]:
                # The ticket's oldest owed card change draws the card for all of them (and
                # drops the rest when done): only it waits for a rate-limit slot, so one
                # redraw costs one slot, not one slot per change waiting in line. The rest
                # look again after its turn, and act themselves if it was lost.
                wait = wait_behind(
                    in_line[0],
                    rt.clock(),
                    margin=CARD_FOLLOWER_WAIT,
                    bounds=(CARD_FOLLOWER_WAIT, FOLLOWER_WAIT_MOST),
                )
                raise RetryLater(wait, "an earlier change will redraw this card")
            result: Document | None = {CARD_DRAWN: drawn}
            if ref is None and ticket.incident is not None:
                result = None  # a storm's ticket: its incident's card speaks for it
            elif ref is None:
                answer = self.poster.post_once(
                    self.channel_for(ticket),
                    record["key"],
                    look=retried(record),
                    number=ticket.number,
                    first=True,
                    text=text,
                    blocks=blocks,
                )
                result = {
                    CARD_DRAWN: drawn,
                    f"refs.{CARD_REF}": f"{answer['channel']}:{answer['ts']}",
                }
            else:
                channel, _, ts = ref.partition(":")
                self.poster.redraw_card(ticket.number, channel, ts, text, blocks)
            if others:
                rt.outbox.complete_many(str(doc["_id"]), others)
            return result

    def post_to_thread(self, rt: Runtime, doc: Document, record: Document) -> None:
        """Mirror one message of the conversation under the ticket's card, with its files."""
        entry = rt.service.entry(doc, record["entry_id"])
        if entry.message is None or entry.actor.via == THREAD_NOTE_VIA:
            return None
        media = [a for a in entry.message.attachments if self.poster.can_relay(a)]
        whole_on_card = len(entry.message.text) <= SECTION_TEXT
        original = entry.message.original_ref is not None  # its button goes in the thread
        if entry.event == Event.TICKET_CREATED and whole_on_card and not media and not original:
            return None  # the card shows it whole
        ticket = to_ticket(doc)
        ref = ticket.refs.get(CARD_REF)
        if ref is None and ticket.incident is not None:
            return None  # no card of its own: the incident's card stands for it
        if ref is None:
            card = next(iter(owed_cards(doc)), None)
            wait = wait_behind(card, rt.clock(), margin=SCHEDULER_GRAIN, bounds=THREAD_WAIT)
            raise RetryLater(wait, "the card is not posted yet")
        channel, _, ts = ref.partition(":")
        stored = rt.store.history.find_one({"_id": entry.id}, {"slack_ts": 1, "slack_files": 1})
        stored = stored or {}
        if not stored.get("slack_ts"):
            text, blocks = thread_message(entry)
            answer = self.poster.post_once(
                channel,
                record["key"],
                look=retried(record),
                number=ticket.number,
                thread_ts=ts,
                text=text,
                blocks=blocks,
            )
            save_entries(rt.store, [entry], slack_ts=answer["ts"])
        relayed: list[str] = list(stored.get("slack_files") or [])
        for attachment in media:
            if attachment.ref in relayed:
                continue  # uploaded before this retry
            self.poster.relay(channel, ts, attachment)
            relayed.append(str(attachment.ref))
            rt.store.history.update_one({"_id": entry.id}, {"$set": {"slack_files": relayed}})
        return None

    def alert_leads(self, rt: Runtime, doc: Document, record: Document) -> Document | None:
        """Escalations and their reminders are new messages in the leads' channel (so they
        notify); an acknowledgement updates the latest alert in place."""
        if self.leads_channel is None:
            return None
        entry = rt.service.entry(doc, record["entry_id"])
        current = rt.store.tickets.find_one({"_id": doc["_id"]}, {"outbox.payload": 0})
        assert current is not None
        ticket = to_ticket(current)
        who = mention_of(entry.actor)
        headline = headline_for(entry.event, ticket, entry.data, who)
        blocks = alert_blocks(
            ticket, headline=headline, card_ref=ticket.refs.get(CARD_REF), now=rt.clock()
        )
        text = alert_text(ticket, headline)
        posted = ticket.refs.get(ALERT_REF)
        if entry.event == Event.ESCALATION_ACKNOWLEDGED:
            if posted is None:
                return None
            channel, _, ts = posted.partition(":")
            self.poster.update(channel, ts, text=text, blocks=blocks)
            return None
        # Posted once per escalation or reminder, even if this job runs again.
        if ticket.refs.get(f"{ALERT_REF}_for") == entry.id:
            return None
        answer = self.poster.post_once(
            self.leads_channel,
            record["key"],
            look=retried(record),
            number=ticket.number,
            first=True,
            text=text,
            blocks=blocks,
        )
        return {
            f"refs.{ALERT_REF}": f"{answer['channel']}:{answer['ts']}",
            f"refs.{ALERT_REF}_for": entry.id,
        }

    def notify(self, rt: Runtime, doc: Document, record: Document) -> None:
        """The messages a flow rule sends: to a channel, a user (the app's DM) or a user
        group (mentioned in the leads' or triage channel). Each is posted once."""
        entry = rt.service.entry(doc, record["entry_id"])
        notes = entry.data.get("notify") or []
        if not notes:
            return None
        ticket = to_ticket(doc)
        link = card_link(ticket.refs.get(CARD_REF))
        where = f"\n<{link}|#{ticket.number} in triage>" if link else ""
        stored = rt.store.history.find_one({"_id": entry.id}, {"notified": 1}) or {}
        done: list[int] = list(stored.get("notified") or [])
        for index, note in enumerate(notes):
            if index in done:
                continue
            text = f"{note['text']}{where}"
            if note["target"] == "usergroup":
                channel = self.leads_channel or self.channel_for(ticket)
                text = f"<!subteam^{note['id']}> {text}"
            else:
                channel = note["id"]  # a channel, or a user: the app's DM with them
            self.poster.post_once(
                channel, f"{record['key']}#{index}", look=retried(record), text=text
            )
            done.append(index)
            save_entries(rt.store, [entry], notified=done)
        return None

    def sync_incident(self, rt: Runtime, doc: Document, record: Document) -> None:
        """Post the incident's card to triage and the leads, then keep its count current:
        redrawn at most every INCIDENT_REFRESH seconds however fast tickets join."""
        link = to_ticket(doc).incident
        if link is None:
            return None
        incidents = Incidents(rt.store)
        with locked(self.redis, f"slack:incident:{link['id']}", rt.outbox.lease) as ours:
            if not ours:
                raise RetryLater(INCIDENT_REFRESH, "another worker is drawing this incident")
            incident = incidents.get(link["id"])
            if incident is None:
                return None
            now = rt.clock()
            drawn_at = incident.drawn_at
            changed_at = rt.service.entry(doc, record["entry_id"]).at
            if drawn_at is not None and drawn_at >= changed_at:
                return None  # drawn since this change: it shows it (or a later state)
            if drawn_at is not None and now - drawn_at < timedelta(seconds=INCIDENT_REFRESH):
                raise RetryLater(INCIDENT_REFRESH, "the incident card was just redrawn")
            count, still_open = incidents.count(incident.id), incidents.open_count(incident.id)
            state = {"count": count, "open": still_open, "status": incident.status}
            blocks = incident_blocks(incident, count=count, still_open=still_open, now=now)
            text = incident_text(incident, count)
            places = {"triage": self.queue_channels.get(incident.queue or "", self.triage_channel)}
            if self.leads_channel:
                places["leads"] = self.leads_channel
            # What each place shows is saved as soon as it is drawn: a retry (the second
            # place may have to wait for its rate-limit slot) redraws only the places still
            # behind, so the two never take turns using up the slot forever.
            for place, channel in places.items():
                if incident.shown.get(place) == state:
                    continue
                if place in incident.refs:
                    posted_channel, _, ts = incident.refs[place].partition(":")
                    self.poster.update(posted_channel, ts, text=text, blocks=blocks)
                    incidents.drawn(incident.id, place, state)
                    continue
                # The incident's card is posted by whichever member's change comes first,
                # so a retry cannot tell from its own record that an earlier post may be
                # there: a mark saved before posting tells it.
                tried = place in incident.posting
                if not tried:
                    incidents.posting(incident.id, place, now)
                answer = self.poster.post_once(
                    channel,
                    f"incident:{incident.id}:{place}",
                    look=tried,
                    first=True,
                    text=text,
                    blocks=blocks,
                )
                incidents.drawn(incident.id, place, state, f"{answer['channel']}:{answer['ts']}")
            incidents.redrawn(incident.id, now)
            return None

    def handlers(self) -> dict[str, Handler]:
        return {
            SLACK_CARD: self.sync_card,
            SLACK_THREAD: self.post_to_thread,
            SLACK_ESCALATION: self.alert_leads,
            SLACK_NOTIFY: self.notify,
            SLACK_INCIDENT: self.sync_incident,
        }
