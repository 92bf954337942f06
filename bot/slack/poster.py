"""Post to Slack once and within its limits: a message that must appear once carries its
effect's key in its metadata, so a retry finds it instead of posting it again; every call
waits its turn in a shared budget (bot.pacing), and a rate limit becomes a retry at the
moment Slack names."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from redis import Redis
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from bot.pacing import FIRST_LANE_SLEEP, MAX_SLEEP, Pacer
from bot.slack.cards import MAX_COPIED_FILE
from bot.slack.hooks import CardHooks
from ticketcore.effects import RetryLater
from ticketcore.models import Attachment
from ticketcore.store import Document

log = logging.getLogger(__name__)

SHORT_RETRY = 1.0  # seconds: a 429 asking for no more than this is waited out in place
# Every message the helpdesk posts carries its effect's key in its metadata, so a retry
# whose earlier attempt may have posted (the worker died mid-call, the answer was lost)
# finds that message instead of posting a second one.
POSTED_EVENT = "helpdesk_ticket"
LOOKBACK_PAGES, LOOKBACK_PAGE = 5, 200  # how far back such a retry looks: 1,000 messages


@dataclass
class SlackPoster:
    client: WebClient
    redis: Redis  # the pace budgets, shared by every worker
    post_rate: int = 1  # chat.postMessage per channel per second (Slack allows about 1)
    update_rate: int = 1  # chat.update per second for the workspace (Tier 3: 50+/min)
    hooks: CardHooks | None = None  # response URLs of agents' clicks on cards
    # Reads a player's file by its reference (set when a channel that has files is on).
    fetch_file: Callable[[str], bytes] | None = None

    def redraw_card(self, number: int, channel: str, ts: str, text: str, blocks: list[Any]) -> None:
        """Redraw a posted card through the response URL of a recent click on it while one
        has a use left (no turn in chat.update's budget), else with chat.update."""
        hooks = self.hooks
        url = hooks.take(number) if hooks is not None else None
        if hooks is not None and url is not None:
            try:
                answer = WebhookClient(url, timeout=10).send(
                    text=text, blocks=blocks, replace_original=True
                )
                if answer.status_code == 200:
                    return
                refused = f"{answer.status_code} {answer.body}"
            except OSError as exc:  # no answer: redraw the sure way
                refused = str(exc)
            log.info("card #%s: its response URL was refused (%s)", number, refused)
            hooks.forget(number)
        self.update(channel, ts, text=text, blocks=blocks)

    def call(
        self,
        budget: str,
        rate: int,
        method: Callable[..., Any],
        *,
        first: bool = False,
        **args: Any,
    ) -> Any:
        """Call Slack within our own pace. A 429 asking for a short wait is waited out once
        in place (rescheduled, the card would come back whole seconds later, behind
        everything posted meanwhile); a longer one becomes a precise retry. `first`: in
        the budget's first lane, which other calls make way for (bot.pacing)."""
        pacer = Pacer(self.redis, rate, max_sleep=FIRST_LANE_SLEEP if first else MAX_SLEEP)
        for attempt in range(2):
            wait = pacer.wait_for(budget, first=first)
            if wait:
                raise RetryLater(wait, f"pacing {budget}", first=first)
            try:
                return method(**args)
            except SlackApiError as exc:
                if exc.response.status_code != 429:
                    raise
                retry_after = float(exc.response.headers.get("Retry-After", 1))
                if attempt == 0 and retry_after <= SHORT_RETRY:
                    time.sleep(retry_after + random.uniform(0, 0.1))
                    continue
                raise RetryLater(
                    retry_after + random.uniform(0, 0.5), "Slack rate limit", first=first
                ) from exc
        raise AssertionError("unreachable")

    def post(self, channel: str, *, first: bool = False, **args: Any) -> Any:
        return self.call(
            f"post:{channel}",
            self.post_rate,
            self.client.chat_postMessage,
            first=first,
            channel=channel,
            **args,
        )

    def post_once(
        self,
        channel: str,
        effect: str,
        *,
        look: bool,
        number: int | None = None,
        thread_ts: str | None = None,
        first: bool = False,
        **args: Any,
    ) -> Document:
        """Post a message that must appear once: `effect` names it in the message's
        metadata, and when an earlier attempt may have posted it (`look`: its outcome is
        unknown) the message found there is kept, and redrawn, instead. Returns where it
        is, `{"channel", "ts"}`. `first`: a message people wait to see appear (a new
        card, an alert), which the channel's thread messages make way for."""
        if look:
            ts = self.find_posted(channel, effect, thread_ts)
            if ts is not None:
                # Drawn by the earlier attempt, from the state then: show the state now.
                log.warning("effect %s was posted by an earlier attempt: kept", effect)
                self.update(channel, ts, **args)
                return {"channel": channel, "ts": ts}
        payload: Document = {"effect": effect}
        if number is not None:
            payload["number"] = number
        if thread_ts is not None:
            args["thread_ts"] = thread_ts
        metadata = {"event_type": POSTED_EVENT, "event_payload": payload}
        answer = self.post(channel, first=first, metadata=metadata, **args)
        return {"channel": answer["channel"], "ts": answer["ts"]}

    def find_posted(self, channel: str, effect: str, thread_ts: str | None) -> str | None:
        """The `ts` of the message posted for `effect` among the channel's latest messages
        (or the thread's), if any. A look Slack refuses for good (a DM addressed by user
        ID, a workspace that never granted the history scope) finds nothing: the message
        is posted, possibly twice, rather than never. A look that fails for now (Slack's
        5xx) fails the attempt, to be retried."""
        method: Callable[..., Any] = self.client.conversations_history
        where: Document = {"channel": channel}
        if thread_ts is not None:
            method, where["ts"] = self.client.conversations_replies, thread_ts
        cursor = None
        for _ in range(LOOKBACK_PAGES):
            try:
                page = self.call(
                    "history",
                    self.update_rate,
                    method,
                    **where,
                    include_all_metadata=True,
                    limit=LOOKBACK_PAGE,
                    cursor=cursor,
                )
            except SlackApiError as exc:
                if exc.response.status_code >= 500:
                    raise
                log.warning("could not look for effect %s in %s: %s", effect, channel, exc)
                return None
            for message in page.get("messages") or []:
                payload = (message.get("metadata") or {}).get("event_payload") or {}
                if payload.get("effect") == effect:
                    return str(message["ts"])
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return None
        return None

    def update(self, channel: str, ts: str, **args: Any) -> Any:
        return self.call(
            "update", self.update_rate, self.client.chat_update, channel=channel, ts=ts, **args
        )

    def can_relay(self, attachment: Attachment) -> bool:
        return (
            self.fetch_file is not None
            and bool(attachment.ref)
            and attachment.size <= MAX_COPIED_FILE
        )

    def relay(self, channel: str, thread_ts: str, attachment: Attachment) -> None:
        """Copy a player's file into the thread, so agents see it without leaving Slack."""
        assert self.fetch_file is not None and attachment.ref is not None
        content = self.fetch_file(attachment.ref)
        try:
            self.client.files_upload_v2(
                channel=channel,
                thread_ts=thread_ts,
                content=content,
                filename=attachment.name,
                title=attachment.name,
            )
        except SlackApiError as exc:
            if exc.response.status_code == 429:
                raise RetryLater(float(exc.response.headers.get("Retry-After", 5))) from exc
            raise
