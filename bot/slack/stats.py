"""The KPI report and the daily digest as Slack messages: pure functions of a `Report`.

The numbers are `ticketcore.stats` (defined in docs/metrics.md); this only lays them out so
a lead can read them in a few seconds. Names from the data (agents, queues, statuses) are
escaped and stripped of formatting marks, so none can ping anyone or format the message.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
    TextObject,
)

from bot.slack.cards import SLACK_USER
from bot.slack.text import FALLBACK_TEXT, HEADER_TEXT, cut, cut_escaped, label, one_line
from ticketcore.models import LOW_CSAT
from ticketcore.stats import AgentLoad, Report

NO_DATA = DASH = "\N{EN DASH}"
MINUS = "\N{MINUS SIGN}"
TOP_AGENTS = 5
TOP_STATUSES = 3
TOP_QUEUES = 3
NAME_LENGTH = 40  # raw characters of a name from the data, before escaping
NOTE_LENGTH = 300


# ------------------------------------------------------------------ numbers as text


def duration(seconds: float | None) -> str:
    """`42 min`, `3 h 05 min` under two days, `2.5 d` beyond; a dash without data."""
    if seconds is None:
        return NO_DATA
    minutes = round(seconds / 60)
    if minutes < 1:
        return "< 1 min"
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {rest:02d} min"
    return f"{minutes / 1440:.1f} d"


def percent(value: float | None) -> str:
    """A value already in percent: `93.5%`, `100%`; a dash without data."""
    if value is None:
        return NO_DATA
    return f"{value:.1f}".removesuffix(".0") + "%"


def share(value: float | None) -> str:
    """A share of 0 to 1 as a percentage."""
    return NO_DATA if value is None else percent(100 * value)


def signed_count(change: int) -> str:
    if change == 0:
        return "±0"
    return f"+{change}" if change > 0 else f"{MINUS}{-change}"


def signed_duration(now: float | None, before: float | None) -> str:
    if now is None or before is None:
        return NO_DATA
    change = now - before
    if round(abs(change) / 60) == 0:
        return "±0"
    return ("+" if change > 0 else MINUS) + duration(abs(change))


def signed_points(now: float | None, before: float | None) -> str:
    if now is None or before is None:
        return NO_DATA
    change = round(now - before, 1)
    if change == 0:
        return "±0 pts"
    return ("+" if change > 0 else MINUS) + f"{abs(change):.1f} pts"


# ------------------------------------------------------------------ names and dates


def name(text: str | None, *, empty: str = "none") -> str:
    """A name from the data, short, on one line, escaped and without formatting marks."""
    if text is None or not text.strip():
        return empty
    return label(cut(one_line(text), NAME_LENGTH)[0])


def agent_name(agent: str, *, mention: bool = True) -> str:
    """Slack user ids as mentions, so leads see names; anything else inert. A message posted
    to a channel mentions nobody (`mention=False`): the daily digest must not ping agents."""
    return f"<@{agent}>" if mention and SLACK_USER.match(agent) else name(agent)


def day_label(day: date) -> str:
    return f"{day:%a} {day.day} {day:%b}"


def days_label(first: date, last: date) -> str:
    if first == last:
        return f"{day_label(first)} {first.year}"
    if first.year == last.year:
        return f"{first.day} {first:%b} {DASH} {last.day} {last:%b} {last.year}"
    return f"{first.day} {first:%b} {first.year} {DASH} {last.day} {last:%b} {last.year}"


def period_label(report: Report) -> str:
    """The local days the period touches, from the day series; its UTC dates without one."""
    if report.by_day:
        return days_label(report.by_day[0].day, report.by_day[-1].day)
    start, end = report.period.start, report.period.end
    last = max(start, end - timedelta(microseconds=1))
    return f"{days_label(start.date(), last.date())} (UTC)"


def slack_date(at: datetime) -> str:
    """An instant Slack shows in each reader's own time zone."""
    fallback = f"{at:%Y-%m-%d %H:%M} UTC"
    return f"<!date^{int(at.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


# ------------------------------------------------------------------ pieces


def summary_fields(report: Report) -> list[str]:
    """Eight fields, read in pairs: volume, then speed, then quality and load."""
    first, resolution = report.first_response_seconds, report.resolution_seconds
    return [
        f"*Created*\n{report.created:,}",
        f"*Resolved*\n{report.resolved:,}",
        f"*Reopened*\n{report.reopened:,}",
        f"*SLA met*\n{percent(report.sla_met_pct.overall)}",
        f"*First response*\n{duration(first.median)} median · {duration(first.p90)} p90",
        f"*Resolution*\n{duration(resolution.median)} median · {duration(resolution.p90)} p90",
        f"*CSAT*\n{csat_text(report)}",
        f"*Backlog*\n{backlog_text(report)}",
    ]


def csat_text(report: Report) -> str:
    average = NO_DATA if report.csat_avg is None else f"{report.csat_avg:.1f} / 5"
    return (
        f"{average} · {share(report.csat_low_share)} low (≤{LOW_CSAT}) · "
        f"{share(report.csat_response_rate)} rated"
    )


def backlog_text(report: Report) -> str:
    backlog = report.backlog
    biggest = sorted(
        ((status, n) for status, n in backlog.by_status.items() if n),
        key=lambda item: (-item[1], item[0]),
    )[:TOP_STATUSES]
    statuses = ", ".join(f"{name(status)} {n:,}" for status, n in biggest)
    return f"{backlog.total:,} open" + (f" ({statuses})" if statuses else "")


def queues_field(report: Report) -> str | None:
    busiest = sorted(report.by_queue, key=lambda g: (-g.created, -g.resolved, g.key or ""))
    shown = [g for g in busiest if g.created or g.resolved][:TOP_QUEUES]
    if not shown:
        return None
    lines = [
        f"{name(g.key, empty='no queue')} · {g.created:,} created · {g.resolved:,} resolved"
        for g in shown
    ]
    return "*Busiest queues*\n" + "\n".join(lines)


def top_agents(agents: Iterable[AgentLoad]) -> list[AgentLoad]:
    """The agents with the most replies; ties by tickets resolved, then by id."""
    ranked = sorted(agents, key=lambda a: (-a.replies, -a.resolved, a.agent))
    return ranked[:TOP_AGENTS]


def agents_section(report: Report, *, block_id: str, mention: bool = True) -> SectionBlock:
    shown = top_agents(report.by_agent)
    if not shown:
        text = "*By agent*\n_No agent activity in this period._"
    else:
        total = len(report.by_agent)
        heading = f"*By agent* · top {len(shown)} of {total} by replies"
        lines = [
            f"{agent_name(a.agent, mention=mention)} · {a.replies:,} replies · "
            f"{a.resolved:,} resolved · {a.open_now:,} open now · "
            f"first response {duration(a.first_response_median)}"
            for a in shown
        ]
        text = "\n".join([heading, *lines])
    return SectionBlock(block_id=block_id, text=MarkdownTextObject(text=text))


def context_block(report: Report, *, block_id: str, note: str | None = None) -> ContextBlock:
    clock = (
        ":clock3: Times count business hours only"
        if report.business_hours
        else ":clock3: Times are wall-clock"
    )
    span = f"From {slack_date(report.period.start)} to {slack_date(report.period.end)}"
    elements: list[TextObject] = [MarkdownTextObject(text=clock), MarkdownTextObject(text=span)]
    if note and note.strip():
        text = cut(one_line(note), NOTE_LENGTH)[0]
        elements.append(PlainTextObject(text=text, emoji=False))
    return ContextBlock(block_id=block_id, elements=elements)


# ------------------------------------------------------------------ messages


def stats_blocks(report: Report, *, title: str, chart_note: str | None = None) -> list[Block]:
    """The report for a lead: period, headline figures, busiest agents; `chart_note` is
    shown as plain text under them."""
    period = f" · {period_label(report)}"
    header = cut(one_line(title), HEADER_TEXT - len(period))[0] + period
    fields = summary_fields(report)
    queues = queues_field(report)
    if queues is not None:
        fields.append(queues)
    return [
        HeaderBlock(block_id="stats.header", text=PlainTextObject(text=header, emoji=False)),
        SectionBlock(block_id="stats.fields", fields=[MarkdownTextObject(text=f) for f in fields]),
        agents_section(report, block_id="stats.agents"),
        context_block(report, block_id="stats.context", note=chart_note),
    ]


def stats_text(report: Report) -> str:
    """The notification line beside the blocks."""
    text = (
        f"Support {period_label(report)}: {report.created:,} created, "
        f"{report.resolved:,} resolved, {report.reopened:,} reopened; first response "
        f"{duration(report.first_response_seconds.median)} median; SLA met "
        f"{percent(report.sla_met_pct.overall)}; backlog {report.backlog.total:,} open"
    )
    return cut_escaped(text, FALLBACK_TEXT)[0]


def comparison_text(report: Report, before: Report, *, day: date) -> str:
    """How `report` moved from `before`, the report of the day preceding `day`."""
    changes = [
        f"created {signed_count(report.created - before.created)}",
        f"resolved {signed_count(report.resolved - before.resolved)}",
        f"reopened {signed_count(report.reopened - before.reopened)}",
        "first response "
        + signed_duration(
            report.first_response_seconds.median, before.first_response_seconds.median
        ),
        f"SLA met {signed_points(report.sla_met_pct.overall, before.sla_met_pct.overall)}",
        f"backlog {signed_count(report.backlog.total - before.backlog.total)}",
    ]
    return f"Compared with {day_label(day - timedelta(days=1))}: " + " · ".join(changes)


def digest_blocks(report: Report, trend: Report | None, *, day: date) -> list[Block]:
    """The daily digest of `day`, compared with `trend` (the day before) when given."""
    first = report.first_response_seconds
    text = "\n".join(
        [
            f":sunrise: *Yesterday in support* ({day_label(day)}): {report.created:,} created, "
            f"{report.resolved:,} resolved, {report.reopened:,} reopened",
            f"First response {duration(first.median)} median, {duration(first.p90)} p90 · "
            f"SLA met {percent(report.sla_met_pct.overall)} · CSAT {csat_text(report)}",
            f"Backlog {backlog_text(report)}",
        ]
    )
    blocks: list[Block] = [
        SectionBlock(block_id="digest.summary", text=MarkdownTextObject(text=text))
    ]
    if trend is not None:
        blocks.append(
            ContextBlock(
                block_id="digest.trend",
                elements=[MarkdownTextObject(text=comparison_text(report, trend, day=day))],
            )
        )
    blocks.append(agents_section(report, block_id="digest.agents", mention=False))
    blocks.append(context_block(report, block_id="digest.context"))
    return blocks
