"""Who may act on tickets from Slack: members of the agents' (or leads') group or channel.

Fail closed: without SLACK_AGENTS nobody is an agent; `*` opens the desk to the whole
workspace, and only when a studio says so."""

from __future__ import annotations

import json
import logging
from typing import Protocol

from redis import Redis
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

log = logging.getLogger(__name__)

MEMBERSHIP_TTL = 300  # seconds; a new agent waits at most this long to be let in
EVERYONE = "*"


class RefusalCounter(Protocol):
    def refusal(self, edge: str, action: str) -> None: ...


class Access:
    def __init__(
        self,
        client: WebClient,
        cache: Redis,
        *,
        agents: str | None,
        leads: str | None,
        counter: RefusalCounter | None = None,
    ) -> None:
        self.client = client
        self.cache = cache
        self.agents = agents
        self.leads = leads
        self.counter = counter

    def is_agent(self, user_id: str) -> bool:
        """Members of SLACK_AGENTS (everyone with `*`), and leads; nobody when it is unset."""
        if self.agents == EVERYONE:
            return True
        if self.agents is not None and user_id in self.members(self.agents):
            return True
        return self.is_lead(user_id)

    def is_lead(self, user_id: str) -> bool:
        return self.leads is not None and user_id in self.members(self.leads)

    def refused(self, user_id: str, action: str, *, needs: str = "agent") -> None:
        """Record a refusal: one log line with who and what, and one count in /metrics."""
        setting = "SLACK_LEADS" if needs == "lead" else "SLACK_AGENTS"
        # Both come from the payload: %r keeps a line break or a lone surrogate in them
        # from forging a log line or breaking a handler that writes UTF-8.
        log.warning("Slack: refused %r to %r (not in %s)", action, user_id, setting)
        if self.counter is not None:
            self.counter.refusal("slack", action)

    def members(self, group: str) -> set[str]:
        """Members of a user group (S…) or a channel (C…/G…), cached for a few minutes."""
        key = f"slack:members:{group}"
        cached = self.cache.get(key)
        if cached is not None:
            return set(json.loads(cached))
        try:
            found = self._fetch(group)
        except SlackApiError as exc:
            log.warning("cannot read members of %s: %s; refusing for now", group, exc)
            return set()
        self.cache.set(key, json.dumps(sorted(found)), ex=MEMBERSHIP_TTL)
        return found

    def _fetch(self, group: str) -> set[str]:
        if group.startswith("S"):
            return set(self.client.usergroups_users_list(usergroup=group)["users"])
        members: set[str] = set()
        cursor = None
        while True:
            page = self.client.conversations_members(channel=group, cursor=cursor, limit=1000)
            members.update(page["members"])
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return members
