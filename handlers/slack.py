"""Slack's inbound side: buttons, modals, slash commands and events become TicketService
calls. Every listener acknowledges first, checks who is asking, then makes one call."""

from __future__ import annotations

import functools
import html
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt import Ack, App, BoltResponse, Respond
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from slack_bolt.request import payload_utils
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.slack import alerts, cards, views
from bot.slack.access import Access
from bot.slack.cards import CardStyle, ticket_card
from bot.slack.hooks import CardHooks
from bot.slack.player import player_modal
from bot.slack.search import SEARCH_RESULTS, search_results
from bot.slack.text import cut_escaped, escape
from handlers.slack_gate import AgentGate
from handlers.slack_stats import StatsCommand
from jobs.slack import CARD_REF, THREAD_NOTE_VIA
from ticketcore.accounts import AccountProvider
from ticketcore.agents import Roster
from ticketcore.errors import TicketError
from ticketcore.lifecycle import Status
from ticketcore.macros import Macros
from ticketcore.models import Actor, ActorKind, Priority, Ticket
from ticketcore.search.ast import QueryError
from ticketcore.search.port import SearchIndex, Viewer
from ticketcore.search.query import parse
from ticketcore.service import TicketService

log = logging.getLogger(__name__)

USAGE = (
    "*/ticket* commands:\n"
    "• `/ticket 1234`: show ticket #1234\n"
    "• `/ticket mine`: your open tickets\n"
    "• `/ticket queue [name]`: tickets per status, for one queue or all\n"
    "• `/ticket search lost gems status:new -refund`: find tickets (also player:, email:,"
    ' tag:, queue:, assignee:@me, channel:, created:>2026-11-01, "a phrase")\n'
    "• `/ticket stats [7d|30d|today|yesterday] [queue]`: the numbers, with a chart\n"
    "• `/ticket merge 12 34`: merge #12 into #34 (leads)\n"
    "• `/ticket player 1234 PLAYER_ID`: set the ticket's player id\n"
    "• `/ticket help`: this message"
)
NOT_LEAD = "Only leads can do that."
# The card's own buttons and menus: a click on one of them, on the card itself, hands over
# a response URL that can redraw the card.
CARD_ACTIONS = frozenset(
    {
        cards.TAKE,
        cards.RESOLVE,
        cards.ESCALATE,
        cards.SET_STATUS,
        cards.SET_PRIORITY,
        cards.REPLY,
        cards.NOTE,
        cards.PLAYER,
    }
)
# What reading a payload of the wrong shape raises, in Bolt or in a listener.
UNREADABLE = (KeyError, IndexError, TypeError, AttributeError, ValueError, RecursionError)
TIMESTAMP = re.compile(r"[0-9]{1,12}")
# What Bolt takes out of every payload before any listener or error handler runs.
PAYLOAD_PARTS = (
    payload_utils.to_options,
    payload_utils.to_shortcut,
    payload_utils.to_action,
    payload_utils.to_view,
    payload_utils.to_command,
    payload_utils.to_event,
    payload_utils.to_message,
    payload_utils.to_step,
)


def after_ack(listener: Callable[..., None]) -> Callable[..., None]:
    """What fails once the listener has acked is logged, not raised: Bolt would take the
    ack back, and Slack would get a 404 three seconds later for a request it saw answered."""

    @functools.wraps(listener)
    def run(**kwargs: Any) -> None:
        try:
            listener(**kwargs)
        except Exception:
            if kwargs["ack"].response is None:
                raise
            log.exception("Slack listener %s failed after its ack", listener.__name__)

    return run


def actor_of(user: dict[str, Any]) -> Actor:
    name = user.get("name") or user.get("username")
    return Actor(kind=ActorKind.AGENT, id=user["id"], name=name, via="slack")


STATS_PROGRESS = ":hourglass_flowing_sand: Working out the numbers; they follow in a moment."


@dataclass
class SlackWorkspace:
    """The listeners of the Bolt app, with what they need to answer."""

    service: TicketService
    access: Access
    roster: Roster
    macros: Macros
    style: CardStyle
    search: SearchIndex | None = None
    accounts: AccountProvider | None = None  # the game's admin API, for the Player modal
    stats: StatsCommand | None = None
    hooks: CardHooks | None = None  # response URLs of clicks on cards, to redraw them

    def register(self, app: App) -> None:
        app.error(refuse_unreadable)
        app.middleware(AgentGate(self.access))
        listeners: dict[str, Callable[..., None]] = {
            cards.TAKE: self.take,
            cards.RESOLVE: self.resolve,
            cards.ESCALATE: self.escalate,
            cards.SET_STATUS: self.set_status,
            cards.SET_PRIORITY: self.set_priority,
            cards.REPLY: self.open_reply,
            cards.NOTE: self.open_note,
            cards.PLAYER: self.open_player,
            cards.ORIGINAL: self.open_original,
            views.MACRO_PICKED: self.pick_macro,
            views.SHIFT_TOGGLE: self.toggle_shift,
            alerts.ACKNOWLEDGE: self.acknowledge,
            alerts.REASSIGN: self.reassign,
        }
        for action_id, listener in listeners.items():
            if action_id in CARD_ACTIONS:
                listener = self.keeping_card_hook(listener)
            app.action(action_id)(after_ack(listener))
        link_buttons = r"^((home|search)\.open\.|player\.admin$)"
        app.action({"action_id": link_buttons})(lambda ack: ack())
        app.view(views.REPLY_VIEW)(after_ack(self.submit_reply))
        app.view(views.NOTE_VIEW)(after_ack(self.submit_note))
        app.command("/ticket")(after_ack(self.command))
        app.event("message")(self.thread_message)
        app.event("app_home_opened")(self.publish_home)

    # ------------------------------------------------------------------ plumbing

    def act(
        self,
        body: dict[str, Any],
        respond: Respond,
        change: Callable[[Actor], Ticket],
        *,
        lead: bool = False,
    ) -> None:
        """Make the change (a lead's, if `lead`), and explain any refusal privately."""
        actor = actor_of(body["user"])
        if lead and not self.access.is_lead(actor.id):
            self.access.refused(actor.id, body["actions"][0]["action_id"], needs="lead")
            respond(text=NOT_LEAD, response_type="ephemeral", replace_original=False)
            return
        try:
            change(actor)
        except (TicketError, ValueError) as exc:
            respond(text=f":warning: {exc}", response_type="ephemeral", replace_original=False)

    def keeping_card_hook(self, listener: Callable[..., None]) -> Callable[..., None]:
        """The listener, then keep the click's response URL if it was on the ticket's own
        card (not on a copy in /ticket's answer, the App Home or search results)."""

        @functools.wraps(listener)
        def run(**kwargs: Any) -> None:
            listener(**kwargs)
            body = kwargs["body"]
            container = body.get("container") or {}
            url = body.get("response_url")
            if self.hooks is None or not url or container.get("is_ephemeral"):
                return
            try:
                ticket = self.service.get(self.number_of(body))
            except (TicketError, *UNREADABLE):
                return
            clicked = f"{container.get('channel_id')}:{container.get('message_ts')}"
            if ticket.refs.get(CARD_REF) == clicked:
                self.hooks.remember(ticket.number, str(url))

        return run

    @staticmethod
    def number_of(body: dict[str, Any]) -> int:
        action = body["actions"][0]
        raw = action.get("value") or action["selected_option"]["value"]
        return int(str(raw).split(":", 1)[0])

    @staticmethod
    def selected(body: dict[str, Any]) -> str:
        return str(body["actions"][0]["selected_option"]["value"]).split(":", 1)[1]

    # ------------------------------------------------------------------ card buttons

    def take(self, ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        number = self.number_of(body)
        ticket = self.service.get(number)
        # Taking a ticket someone else holds is a reassignment: leads only.
        lead = ticket.assignee not in (None, body["user"]["id"])
        self.act(body, respond, lambda actor: self.service.take(number, actor=actor), lead=lead)

    def resolve(self, ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        number = self.number_of(body)
        self.act(body, respond, lambda a: self.service.set_status(number, Status.RESOLVED, actor=a))

    def escalate(self, ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        number = self.number_of(body)
        self.act(body, respond, lambda actor: self.service.escalate(number, actor=actor))

    def set_status(self, ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        number, status = self.number_of(body), Status(self.selected(body))
        self.act(body, respond, lambda a: self.service.set_status(number, status, actor=a))

    def set_priority(self, ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        number, priority = self.number_of(body), Priority(self.selected(body))
        self.act(body, respond, lambda a: self.service.set_priority(number, priority, actor=a))

    # ------------------------------------------------------------------ leads' alerts

    def acknowledge(self, ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        number = self.number_of(body)
        self.act(body, respond, lambda a: self.service.acknowledge(number, actor=a), lead=True)

    def reassign(self, ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        action = body["actions"][0]
        number = int(str(action["block_id"]).removeprefix(alerts.ACTIONS_BLOCK))
        user = str(action["selected_user"])
        self.act(body, respond, lambda a: self.service.assign(number, user, actor=a), lead=True)

    # ------------------------------------------------------------------ modals

    def open_reply(
        self, ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond
    ) -> None:
        self.open_modal(
            ack,
            body,
            client,
            respond,
            lambda ticket: views.reply_modal(
                ticket, last_player_text=self.last_player_text(ticket), macros=self.macros.all()
            ),
        )

    def open_note(
        self, ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond
    ) -> None:
        self.open_modal(ack, body, client, respond, views.note_modal)

    def open_player(
        self, ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond
    ) -> None:
        def view(ticket: Ticket) -> Any:
            player_id = ticket.player.player_id
            # Only the cache: the modal must open within the trigger's three seconds.
            cached = self.accounts.cached(player_id) if self.accounts and player_id else None
            return player_modal(
                ticket,
                account=cached,
                tickets=self.service.player_tickets(ticket.player),
                admin_url=self.style.admin_url,
            )

        self.open_modal(ack, body, client, respond, view)

    def open_original(self, ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        """The mail as it arrived, from a thread message's button ("number:original_ref")."""
        ack()
        number, ref = self.number_of(body), str(body["actions"][0]["value"]).partition(":")[2]
        view = views.original_modal(number, self.service.original_mail(number, ref))
        client.views_open(trigger_id=body["trigger_id"], view=view)

    def open_modal(
        self,
        ack: Ack,
        body: dict[str, Any],
        client: WebClient,
        respond: Respond,
        make_view: Callable[[Ticket], Any],
    ) -> None:
        """Open a modal about the clicked ticket, within the trigger's three seconds."""
        ack()
        ticket = self.service.get(self.number_of(body))
        client.views_open(trigger_id=body["trigger_id"], view=make_view(ticket))

    def last_player_text(self, ticket: Ticket) -> str | None:
        page = self.service.messages(ticket, limit=20)
        texts = [e.message.text for e in page.items if e.message and e.message.kind == "player"]
        return texts[-1] if texts else None

    def pick_macro(self, ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        view = body["view"]
        meta = json.loads(view["private_metadata"])
        macro = self.macros.get(body["actions"][0]["selected_option"]["value"])
        if macro is None:
            return
        ticket = self.service.get(meta["number"])
        client.views_update(
            view_id=view["id"],
            hash=view.get("hash"),
            view=views.reply_modal(
                ticket,
                last_player_text=self.last_player_text(ticket),
                macros=self.macros.all(),
                prefill=macro.text_for(ticket.player.language),
                revision=meta.get("revision", 0) + 1,
            ),
        )

    def submit_reply(self, ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        meta = json.loads(view["private_metadata"])
        block_id = views.reply_text_block_id(meta.get("revision", 0))
        values = view["state"]["values"]
        text = (values.get(block_id, {}).get(views.TEXT_INPUT, {}).get("value") or "").strip()
        status_value = values[views.STATUS_INPUT][views.STATUS_INPUT]["selected_option"]["value"]
        self.submit(
            ack,
            body,
            block_id,
            text,
            lambda actor: self.service.reply(
                meta["number"], actor=actor, text=text, status=Status(status_value)
            ),
        )

    def submit_note(self, ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        meta = json.loads(view["private_metadata"])
        text = (view["state"]["values"]["note.text"][views.TEXT_INPUT].get("value") or "").strip()
        self.submit(
            ack,
            body,
            "note.text",
            text,
            lambda actor: self.service.add_note(meta["number"], actor=actor, text=text),
        )

    def submit(
        self,
        ack: Ack,
        body: dict[str, Any],
        block_id: str,
        text: str,
        change: Callable[[Actor], Ticket],
    ) -> None:
        """A modal is answered by its ack: errors show beside the input, in the modal."""
        actor = actor_of(body["user"])
        if not text:
            ack(response_action="errors", errors={block_id: "Write something first."})
            return
        try:
            change(actor)
        except (TicketError, ValueError) as exc:
            ack(response_action="errors", errors={block_id: str(exc)[:150]})
            return
        ack()

    # ------------------------------------------------------------------ slash command

    def command(
        self, ack: Ack, command: dict[str, Any], respond: Respond, client: WebClient
    ) -> None:
        words = (command.get("text") or "").split()
        user = command["user_id"]
        if words[:1] == ["stats"] and self.stats is not None:
            # The report and its chart take longer than Slack waits: the asker sees a note
            # at once, the numbers after it.
            ack(response_type="ephemeral", text=STATS_PROGRESS)
            self.stats.answer(words[1:], user, client, respond)
            return
        ack()
        try:
            answer = self.answer_command(words, user)
        except (TicketError, ValueError) as exc:
            answer = {"text": f":warning: {exc}"}
        respond(response_type="ephemeral", **answer)

    def answer_command(self, words: list[str], user: str) -> dict[str, Any]:
        if not words or words[0] == "help":
            return {"text": USAGE}
        head = words[0].lstrip("#")
        if head.isdigit() and len(words) == 1:
            ticket = self.service.get(int(head))
            text = self.service.opening_text(ticket)
            blocks = ticket_card(
                ticket, first_message=text, now=self.service.clock(), style=self.style
            )
            return {"text": cards.card_text(ticket), "blocks": [b.to_dict() for b in blocks]}
        if head == "search":
            return self.answer_search(" ".join(words[1:]), user)
        if head == "mine" and len(words) == 1:
            mine = self.service.open_tickets(assignee=user)
            lines = [
                f"• *#{t.number}* {cut_escaped(t.subject, 120)[0]} · {t.status} · {t.priority}"
                for t in mine
            ]
            return {
                "text": "\n".join(["*Your open tickets*", *lines])
                if lines
                else "You have no open tickets."
            }
        if head == "queue" and len(words) <= 2:
            name = words[1] if len(words) == 2 else None
            counts = self.service.count_by_status(queue=name)
            parts = [f"{cards.STATUS_ICON[s]} {s}: *{n}*" for s, n in counts.items()]
            label = f"queue {escape(name)}" if name else "all queues"
            return {"text": f"*Tickets in {label}*\n" + " · ".join(parts)}
        if head == "merge" and len(words) == 3 and all(w.lstrip("#").isdigit() for w in words[1:]):
            if not self.access.is_lead(user):
                self.access.refused(user, "/ticket merge", needs="lead")
                return {"text": NOT_LEAD}
            source, target = (int(w.lstrip("#")) for w in words[1:])
            actor = Actor(kind=ActorKind.AGENT, id=user, via="slack")
            self.service.merge(source, target, actor=actor)
            return {"text": f"Merged #{source} into #{target}."}
        if head == "player" and len(words) == 3 and words[1].lstrip("#").isdigit():
            number, player_id = int(words[1].lstrip("#")), words[2][:128]
            ticket = self.service.get(number)
            player = ticket.player.model_copy(update={"player_id": player_id})
            actor = Actor(kind=ActorKind.AGENT, id=user, via="slack")
            self.service.set_player(number, player, actor=actor)
            return {"text": f"Ticket #{number} now belongs to player {escape(player_id)}."}
        return {"text": f"I did not understand that.\n{USAGE}"}

    def answer_search(self, text: str, user: str) -> dict[str, Any]:
        """`/ticket search <query>`: the best matches, each with a link to its card."""
        if self.search is None:
            return {"text": "Search is not configured."}
        try:
            query = parse(html.unescape(text), today=self.service.clock().date())
        except QueryError as exc:
            return {"text": f":mag: {escape(str(exc))}"}
        if query.is_empty:
            return {"text": "Say what to look for, e.g. `/ticket search refund status:new`."}
        viewer = Viewer(is_agent=True, user_id=user)  # the gate let only agents in
        self.search.refresh()
        page = self.search.search(query, viewer=viewer, limit=SEARCH_RESULTS)
        found = self.service.found(page)
        blocks = search_results(escape(text), found)
        return {"text": f"{len(found)} tickets found", "blocks": [b.to_dict() for b in blocks]}

    # ------------------------------------------------------------------ events

    def thread_message(self, event: dict[str, Any]) -> None:
        """What an agent types under a card is an internal note, never a reply."""
        if event.get("subtype") or event.get("bot_id") or not event.get("user"):
            return
        thread_ts = event.get("thread_ts")
        if not thread_ts or thread_ts == event.get("ts"):
            return
        ticket = self.service.find_by_ref(CARD_REF, f"{event['channel']}:{thread_ts}")
        if ticket is None:
            return
        if not self.access.is_agent(event["user"]):
            self.access.refused(event["user"], "event:thread_note")
            return
        actor = Actor(kind=ActorKind.AGENT, id=event["user"], via=THREAD_NOTE_VIA)
        text = (event.get("text") or "").strip()
        if text:
            inbound_id = f"slack:{event['channel']}:{event['ts']}" if event.get("ts") else None
            self.service.add_note(
                ticket.number, actor=actor, text=text[:20_000], inbound_id=inbound_id
            )

    def publish_home(self, event: dict[str, Any], client: WebClient) -> None:
        if event.get("tab", "home") != "home":
            return
        self.refresh_home(event["user"], client)

    def refresh_home(self, user: str, client: WebClient) -> None:
        mine = self.service.open_tickets(assignee=user)
        view = views.home_view(
            user_id=user,
            mine=[(t, t.refs.get(CARD_REF)) for t in mine],
            counts=self.service.count_by_status(),
            on_shift=self.roster.is_on_shift(user),
            now=self.service.clock(),
        )
        client.views_publish(user_id=user, view=view)

    def toggle_shift(self, ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        user = body["user"]["id"]
        self.roster.set_on_shift(user, body["actions"][0]["value"] == "on", self.service.clock())
        self.refresh_home(user, client)


def refuse_unreadable(error: Exception, response: BoltResponse | None) -> BoltResponse | None:
    """A payload that Bolt, or a listener before its ack, cannot read gets a 400, not
    Bolt's bare 500."""
    log.error("Slack request not handled: %s", error, exc_info=error)
    if response is None or not isinstance(error, UNREADABLE):
        return None  # acknowledged already, or a failure of ours
    return BoltResponse(status=400, body={"error": f"unreadable payload: {error!r}"[:200]})


class SlackEndpoint:
    """POST /slack/events: checks Slack's signature on the raw body, then hands the request
    to Bolt without blocking the loop."""

    def __init__(self, app: App, signing_secret: str) -> None:
        self.app = app
        self.verifier = SignatureVerifier(signing_secret)

    async def handle(self, request: Request) -> Response:
        body = await request.body()  # bounded by the body limit before it gets here
        # The verifier (like Bolt's) turns a timestamp that is not a number into a 500.
        stamp = request.headers.get("x-slack-request-timestamp")
        if stamp is not None and not TIMESTAMP.fullmatch(stamp):
            return JSONResponse({"error": "X-Slack-Request-Timestamp is not a time"}, 401)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return JSONResponse({"error": "body is not UTF-8"}, status_code=400)
        if not self.verifier.is_valid_request(text, dict(request.headers)):
            return JSONResponse({"error": "not signed by Slack, or too old"}, status_code=401)
        try:  # Bolt reads the body before it checks the signature, and fails on odd shapes
            bolt_request = to_bolt_request(request, body)
            for part in PAYLOAD_PARTS:
                part(bolt_request.body)
        except UNREADABLE:
            return JSONResponse({"error": "body is not a request Slack sends"}, status_code=400)
        bolt_response = await run_in_threadpool(self.app.dispatch, bolt_request)
        return to_starlette_response(bolt_response)
