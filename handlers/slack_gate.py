"""The one door into the Bolt app: every button, modal, command and event from someone
outside the agents' group is refused here, privately, before any listener runs. A new
listener is behind it without asking; lead-only actions check again in their listener."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, BoltContext, BoltResponse, Respond
from slack_sdk import WebClient

from bot.slack import views
from bot.slack.access import Access

NOT_AGENT = (
    "Only support agents can see and act on tickets. A lead adds you to the agents' "
    "group (the helpdesk's SLACK_AGENTS setting)."
)
SLASH_SUBCOMMANDS = frozenset({"help", "search", "mine", "queue", "stats", "merge", "player"})


def action_of(body: dict[str, Any]) -> str:
    """What the request asks for, as a short bounded label for logs and /metrics."""
    kind = str(body.get("type") or "")
    if "command" in body:
        words = str(body.get("text") or "").split()
        head = words[0].lstrip("#") if words else "help"
        word = "show" if head.isdigit() else head if head in SLASH_SUBCOMMANDS else "other"
        return f"{body['command']} {word}"[:64]
    if kind == "block_actions":
        actions = body.get("actions") or [{}]
        return f"button:{actions[0].get('action_id', '?')}"[:64]
    if kind in ("view_submission", "view_closed"):
        return f"view:{(body.get('view') or {}).get('callback_id', '?')}"[:64]
    if kind == "event_callback":
        return f"event:{(body.get('event') or {}).get('type', '?')}"[:64]
    return kind[:64] or "unknown"


class AgentGate:
    """A Bolt middleware: agents pass, everyone else gets a private refusal."""

    def __init__(self, access: Access) -> None:
        self.access = access

    def __call__(
        self,
        body: dict[str, Any],
        context: BoltContext,
        ack: Ack,
        respond: Respond,
        client: WebClient,
        next: Callable[[], BoltResponse],
    ) -> BoltResponse:
        user = context.user_id
        if isinstance(body, dict) and body.get("type") == "event_callback":
            event = body.get("event") or {}
            # Messages are mostly talk, not requests: the thread listener refuses the one
            # kind that acts (a note under a card) itself. Bots' events carry no user.
            if not user or event.get("type") == "message":
                return next()
        elif isinstance(body, dict) and body.get("type") == "view_closed":
            return next()
        if user and self.access.is_agent(user):
            return next()
        self.access.refused(user or "unknown", action_of(body))
        return self.refuse(body, ack, respond, client, user)

    @staticmethod
    def refuse(
        body: dict[str, Any], ack: Ack, respond: Respond, client: WebClient, user: str | None
    ) -> BoltResponse:
        kind = body.get("type")
        if "command" in body:
            return ack(text=NOT_AGENT, response_type="ephemeral")
        if kind == "view_submission":
            return ack(response_action="update", view=views.refusal_view("modal", NOT_AGENT))
        if kind == "event_callback":
            if user and (body.get("event") or {}).get("type") == "app_home_opened":
                client.views_publish(user_id=user, view=views.refusal_view("home", NOT_AGENT))
            return BoltResponse(status=200, body="")
        response = ack()
        if body.get("response_url"):
            respond(text=NOT_AGENT, response_type="ephemeral", replace_original=False)
        return response
