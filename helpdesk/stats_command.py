"""`helpdesk stats`: the KPI report on the command line, as a table, CSV or JSON; and
`helpdesk stats --backfill`, which fills what the report reads on tickets written before
it was kept on them.

The numbers are `ticketcore.stats` (defined in docs/metrics.md); this only lays them out.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from rich.console import Console
from rich.table import Table

from ticketcore.counts import TicketCounts
from ticketcore.stats import Report
from ticketcore.stats.timeline import backfill as fill_timelines
from ticketcore.store import Store

FORMATS = ("table", "csv", "json")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours < 48 else f"{hours / 24:.1f} d"


def share(value: float | None, *, scale: float = 1.0) -> str:
    return "-" if value is None else f"{value * scale:.1f}%"


def backfill(store: Store) -> str:
    """Fill the status moves and agent replies of every ticket that lacks them, from its
    history, and count the tickets in each status again; what was done, in a line."""
    store.ensure_indexes()
    filled = fill_timelines(store)
    TicketCounts(store).recount()
    return (
        f"filled the status moves and agent replies of {filled} tickets from their history;"
        " counted the tickets in each status again"
    )


def rows(report: Report) -> Iterator[tuple[str, str, str]]:
    """(section, key, value) for every figure: the CSV's rows and the table's lines."""
    data = report.to_json()
    yield "period", "start", data["period"]["start"]
    yield "period", "end", data["period"]["end"]
    for key in ("created", "resolved", "reopened"):
        yield "tickets", key, str(data[key])
    for key in ("first_response_seconds", "resolution_seconds"):
        for stat in ("median", "p90"):
            yield key, stat, _plain(data[key][stat])
    yield "sla_met_pct", "overall", _plain(data["sla_met_pct"]["overall"])
    for target, value in data["sla_met_pct"]["by_target"].items():
        yield "sla_met_pct", target, _plain(value)
    for key in ("csat_avg", "csat_low_share", "csat_response_rate"):
        yield "csat", key, _plain(data[key])
    for status, count in data["backlog"]["by_status"].items():
        yield "backlog", status, str(count)
    for bucket, count in data["backlog"]["by_age"].items():
        yield "backlog_age", bucket, str(count)
    for agent in data["by_agent"]:
        for key, value in agent.items():
            if key != "agent":
                yield f"agent:{agent['agent']}", key, _plain(value)


def _plain(value: Any) -> str:
    return "" if value is None else str(round(value, 3) if isinstance(value, float) else value)


def as_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("section", "key", "value"))
    writer.writerows(rows(report))
    return out.getvalue()


def as_json(report: Report) -> str:
    return json.dumps(report.to_json(), ensure_ascii=False, indent=2)


def print_table(report: Report, console: Console) -> None:
    clock = "business hours" if report.business_hours else "wall-clock"
    overview = Table(title=f"{report.period.start:%Y-%m-%d} to {report.period.end:%Y-%m-%d}")
    overview.add_column("metric")
    overview.add_column("value", justify="right")
    overview.add_row("created", str(report.created))
    overview.add_row("resolved", str(report.resolved))
    overview.add_row("reopened", str(report.reopened))
    first, resolution = report.first_response_seconds, report.resolution_seconds
    overview.add_row(
        f"first response median / p90 ({clock})",
        f"{duration(first.median)} / {duration(first.p90)}",
    )
    overview.add_row(
        f"resolution median / p90 ({clock})",
        f"{duration(resolution.median)} / {duration(resolution.p90)}",
    )
    overview.add_row("SLA met", share(report.sla_met_pct.overall))
    overview.add_row("CSAT average", "-" if report.csat_avg is None else f"{report.csat_avg:.2f}")
    overview.add_row("CSAT low scores", share(report.csat_low_share, scale=100))
    overview.add_row("CSAT response rate", share(report.csat_response_rate, scale=100))
    backlog = ", ".join(f"{k} {v}" for k, v in report.backlog.by_status.items() if v)
    overview.add_row("backlog", f"{report.backlog.total} ({backlog or 'none'})")
    console.print(overview)
    if report.by_agent:
        agents = Table(title="agents")
        for name in ("agent", "replies", "resolved", "open now", "first response", "SLA met"):
            agents.add_column(name, justify="left" if name == "agent" else "right")
        for load in report.by_agent:
            agents.add_row(
                load.agent,
                str(load.replies),
                str(load.resolved),
                str(load.open_now),
                duration(load.first_response_median),
                share(load.sla_met_pct),
            )
        console.print(agents)
