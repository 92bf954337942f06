"""`/ticket stats [7d|30d|today|yesterday|Nd] [queue]`: the KPI report for whoever asks.

The command is acknowledged at once; the report is computed and answered (ephemeral, to
the asker alone) after that, and the chart, which takes longest, is uploaded last into the
asker's direct messages with the app, since a file cannot be ephemeral.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.charts import trend_chart
from bot.slack.stats import stats_blocks, stats_text
from bot.slack.text import label
from ticketcore.clock import Clock
from ticketcore.stats import Period, Report, Stats

log = logging.getLogger(__name__)

DEFAULT_PERIOD = "7d"


@dataclass(frozen=True)
class StatsCommand:
    stats: Callable[[], Stats]  # with the SLA calendar in force now
    clock: Clock

    def parse(self, words: list[str], zone: str) -> tuple[Period, str | None]:
        """`[period] [queue]` in either order of presence: the period if it parses."""
        period_text, queue = DEFAULT_PERIOD, None
        for word in words:
            try:
                Period.parse(word, now=self.clock(), zone=zone)
            except ValueError:
                if queue is not None:
                    raise ValueError(
                        f"say one period and at most one queue, e.g. `/ticket stats 7d billing`;"
                        f" not {label(word)!r}"
                    ) from None
                queue = word
            else:
                period_text = word
        return Period.parse(period_text, now=self.clock(), zone=zone), queue

    def answer(
        self, words: list[str], user: str, client: WebClient, respond: Callable[..., Any]
    ) -> None:
        stats = self.stats()
        try:
            period, queue = self.parse(words, stats.zone)
        except ValueError as exc:
            respond(response_type="ephemeral", text=f":warning: {exc}")
            return
        report = stats.report(period, queue=queue)
        title = f"Support stats{f' · queue {queue}' if queue else ''}"
        respond(
            response_type="ephemeral",
            text=stats_text(report),
            blocks=[b.to_dict() for b in stats_blocks(report, title=title, chart_note=NOTE)],
        )
        self.send_chart(report, title, user, client)

    def send_chart(self, report: Report, title: str, user: str, client: WebClient) -> None:
        chart = trend_chart(report.by_day or (), title=title)
        try:
            dm = client.conversations_open(users=user)["channel"]["id"]
            client.files_upload_v2(
                channel=dm,
                file=chart,
                filename="support-stats.png",
                title=title,
                initial_comment=stats_text(report),
            )
        except SlackApiError as exc:  # the numbers were answered; the chart is a bonus
            log.warning("stats chart for %s not sent: %s", user, exc.response.get("error"))


NOTE = "The chart of created and resolved tickets per day comes in your messages with the app."
