"""The Slack Web API client, pointed at SLACK_API_URL (Slack's other hosts, or a test fake)."""

from __future__ import annotations

from slack_sdk import WebClient

DEFAULT_API_URL = "https://slack.com/api/"


def web_client(token: str, api_url: str | None = None) -> WebClient:
    base = api_url or DEFAULT_API_URL
    # Delivery jobs handle 429s themselves (they reschedule instead of sleeping), so the
    # client retries only what slack-sdk retries by default: connection errors.
    return WebClient(token=token, base_url=base if base.endswith("/") else base + "/", timeout=10)
