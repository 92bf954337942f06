"""Counters and histograms for /metrics, kept in Redis so that the web process and every
worker count into the same numbers, and a restart of one of them loses none.

What is counted: every event in the tickets' history by name and channel (intake is
`ticket.created`, replies `reply.sent`, breaches `sla.breached`, ...), and every effect
the workers carry out by kind and outcome (done, postponed, failed, dead), with how long
after it was due a done one finished; and every request refused for who sent it.
Counting never stands in the way of the work: a Redis error loses a count, never an effect.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime

from redis import Redis, RedisError

log = logging.getLogger(__name__)

KEY = "helpdesk:metrics"
EFFECT_SECONDS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)
HELP = {
    "helpdesk_events_total": "Events in the tickets' history, by event and channel.",
    "helpdesk_effects_total": "Effects the workers carried out, by kind and outcome.",
    "helpdesk_effect_seconds": "From the change that owed an effect to its completion, by kind.",
    "helpdesk_refusals_total": "Requests refused for who sent them, by edge and action.",
}
TYPES = {
    "helpdesk_events_total": "counter",
    "helpdesk_effects_total": "counter",
    "helpdesk_effect_seconds": "histogram",
    "helpdesk_refusals_total": "counter",
}


def series(name: str, **labels: str) -> str:
    """A Prometheus series name with its labels, values escaped."""
    escaped = (
        f'{key}="{value.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for key, value in sorted(labels.items())
    )
    return f"{name}{{{','.join(escaped)}}}"


class Metrics:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    def event(self, event: str, channel: str) -> None:
        self._add([(series("helpdesk_events_total", event=event, channel=channel), 1)])

    def effect(
        self, kind: str, outcome: str, *, due: datetime | None = None, now: datetime | None = None
    ) -> None:
        """One effect carried out; a done one's time from `due` to `now` is observed."""
        counts: list[tuple[str, float]] = [
            (series("helpdesk_effects_total", kind=kind, outcome=outcome), 1)
        ]
        if outcome == "done" and due is not None and now is not None:
            seconds = max(0.0, (_utc(now) - _utc(due)).total_seconds())
            for bound in EFFECT_SECONDS:
                if seconds <= bound:
                    counts.append(
                        (series("helpdesk_effect_seconds_bucket", kind=kind, le=str(bound)), 1)
                    )
            counts.append((series("helpdesk_effect_seconds_bucket", kind=kind, le="+Inf"), 1))
            counts.append((series("helpdesk_effect_seconds_sum", kind=kind), seconds))
            counts.append((series("helpdesk_effect_seconds_count", kind=kind), 1))
        self._add(counts)

    def refusal(self, edge: str, action: str) -> None:
        """One request refused because its sender may not do what it asked."""
        self._add([(series("helpdesk_refusals_total", edge=edge, action=action[:64]), 1)])

    def lines(self) -> list[str]:
        """The Prometheus text lines of everything counted so far."""
        stored = self.redis.hgetall(KEY)
        by_metric: dict[str, list[str]] = defaultdict(list)
        for raw_series, raw_value in sorted(stored.items()):
            name = raw_series.decode() if isinstance(raw_series, bytes) else str(raw_series)
            value = float(raw_value)
            family = name.split("{", 1)[0].removesuffix("_bucket").removesuffix("_sum")
            family = family.removesuffix("_count")
            shown = int(value) if value.is_integer() else round(value, 6)
            by_metric[family].append(f"{name} {shown}")
        lines: list[str] = []
        for family, samples in sorted(by_metric.items()):
            lines += [f"# HELP {family} {HELP.get(family, family)}"]
            lines += [f"# TYPE {family} {TYPES.get(family, 'untyped')}", *samples]
        return lines

    def _add(self, counts: Iterable[tuple[str, float]]) -> None:
        try:
            pipe = self.redis.pipeline(transaction=False)
            for name, amount in counts:
                if "_sum{" in name:  # the only fractional series: always a float
                    pipe.hincrbyfloat(KEY, name, amount)
                else:
                    pipe.hincrby(KEY, name, int(amount))
            pipe.execute()
        except RedisError as exc:
            log.debug("a metric was not counted: %s", exc)


def _utc(at: datetime) -> datetime:
    """MongoDB keeps UTC; a client without tz_aware reads it back naive."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at
