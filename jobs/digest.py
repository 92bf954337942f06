"""The daily digest: yesterday's numbers, compared with the day before, and a 14-day trend
chart, in the leads' channel at a set hour.

The minutely job asks whether it is due. A claim in the store, one per reported day, makes
every worker and every minute after the first one pass: at most one digest a day. A failed
post drops the claim, so the next minute tries again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pymongo.errors import DuplicateKeyError
from slack_sdk import WebClient

from bot.charts import trend_chart
from bot.slack.stats import digest_blocks, stats_text
from ticketcore.stats import Period, Stats
from ticketcore.store import Store

log = logging.getLogger(__name__)

TREND_DAYS = 14


@dataclass(frozen=True)
class Digest:
    store: Store
    client: WebClient
    channel: str
    hour: int  # local hour of the stats' zone (the SLA calendar's, else UTC)
    stats: Callable[[], Stats]

    def post_if_due(self, now: datetime) -> bool:
        """Post yesterday's digest if its hour has come and nobody posted it yet."""
        stats = self.stats()
        zone = ZoneInfo(stats.zone)
        local = now.astimezone(zone)
        if local.hour < self.hour:
            return False
        day = local.date() - timedelta(days=1)
        claims = self.store.db["digests"]
        try:
            claims.insert_one({"_id": day.isoformat(), "state": "posting", "at": now})
        except DuplicateKeyError:
            return False
        try:
            self._post(stats, day, zone)
        except Exception:
            claims.delete_one({"_id": day.isoformat(), "state": "posting"})
            raise
        claims.update_one({"_id": day.isoformat()}, {"$set": {"state": "posted"}})
        return True

    def _post(self, stats: Stats, day: date, zone: ZoneInfo) -> None:
        def days(first: date, last: date) -> Period:
            start = datetime.combine(first, time(), tzinfo=zone)
            return Period(start, datetime.combine(last + timedelta(days=1), time(), tzinfo=zone))

        report = stats.report(days(day, day))
        before = stats.report(days(day - timedelta(days=1), day - timedelta(days=1)))
        trend = stats.report(days(day - timedelta(days=TREND_DAYS - 1), day))
        blocks = digest_blocks(report, before, day=day)
        self.client.chat_postMessage(
            channel=self.channel, text=stats_text(report), blocks=[b.to_dict() for b in blocks]
        )
        title = f"Support, the {TREND_DAYS} days to {day:%d %b %Y}"
        self.client.files_upload_v2(
            channel=self.channel,
            file=trend_chart(trend.by_day or (), title=title),
            filename=f"support-{day.isoformat()}.png",
            title=title,
        )
        log.info("digest of %s posted to %s", day, self.channel)
