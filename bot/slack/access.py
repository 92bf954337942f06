"""Who may act on tickets from Slack: members of the agents' (or leads') group or channel."""

from __future__ import annotations

import json
import logging

from redis import Redis
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

log = logging.getLogger(__name__)

MEMBERSHIP_TTL = 300  # seconds; a new agent waits at most this long to be let in


class Access:
    def __init__(
        self, client: WebClient, cache: Redis, *, agents: str | None, leads: str | None
    ) -> None:
        self.client = client
        self.cache = cache
        self.agents = agents
        self.leads = leads

    def is_agent(self, user_id: str) -> bool:
        """Without SLACK_AGENTS everyone in the workspace is an agent (small teams)."""
        if self.agents is None:
            return True
        return user_id in self.members(self.agents) or self.is_lead(user_id)

    def is_lead(self, user_id: str) -> bool:
        return self.leads is not None and user_id in self.members(self.leads)

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
