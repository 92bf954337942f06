"""The incident card's buttons: a lead answers every player of a storm at once, or
resolves them all. The work is recorded on the incident and done by a job."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot.slack import incidents as cards
from bot.slack.access import Access
from handlers.slack import NOT_LEAD, actor_of, after_ack
from ticketcore.incidents import ActionKind, Incident, Incidents
from ticketcore.models import Actor

# (incident id, "reply" | "resolve", the lead, the reply's text): records and starts it.
StartAction = Callable[[str, ActionKind, Actor, str | None], object]


@dataclass
class IncidentListeners:
    incidents: Incidents
    access: Access
    start: StartAction

    def register(self, app: App) -> None:
        app.action(cards.REPLY_ALL)(after_ack(self.open_reply_all))
        app.action(cards.RESOLVE_ALL)(after_ack(self.resolve_all))
        app.view(cards.REPLY_ALL_VIEW)(after_ack(self.submit_reply_all))

    def incident_of(self, body: dict[str, Any]) -> Incident | None:
        raw = str(body["actions"][0].get("value") or "")
        return self.incidents.by_number(int(raw)) if raw.isdigit() else None

    def refuse(self, body: dict[str, Any], respond: Respond) -> bool:
        if self.access.is_lead(body["user"]["id"]):
            return False
        self.access.refused(body["user"]["id"], body["actions"][0]["action_id"], needs="lead")
        respond(text=NOT_LEAD, response_type="ephemeral", replace_original=False)
        return True

    def open_reply_all(
        self, ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond
    ) -> None:
        ack()
        incident = self.incident_of(body)
        if incident is None or self.refuse(body, respond):
            return
        count = self.incidents.count(incident.id)
        view = cards.reply_all_view(incident.number, count)
        client.views_open(trigger_id=body["trigger_id"], view=view)

    def submit_reply_all(self, ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        state = view["state"]["values"][cards.REPLY_BLOCK][cards.REPLY_INPUT]
        text = (state.get("value") or "").strip()
        if not text:
            ack(response_action="errors", errors={cards.REPLY_BLOCK: "Write the answer first."})
            return
        if not self.access.is_lead(body["user"]["id"]):
            self.access.refused(body["user"]["id"], f"view:{cards.REPLY_ALL_VIEW}", needs="lead")
            ack(response_action="errors", errors={cards.REPLY_BLOCK: NOT_LEAD})
            return
        incident = self.incidents.by_number(int(view["private_metadata"]))
        if incident is None:
            ack(response_action="errors", errors={cards.REPLY_BLOCK: "No such incident."})
            return
        ack()
        self.start(incident.id, "reply", actor_of(body["user"]), text)

    def resolve_all(self, ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        incident = self.incident_of(body)
        if incident is None or self.refuse(body, respond):
            return
        self.start(incident.id, "resolve", actor_of(body["user"]), None)
