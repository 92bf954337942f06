"""Charts as PNG images, drawn off-screen: one figure per call and no pyplot state, so
charts can be drawn from several threads at once.

matplotlib is imported by the first chart, not with this module: it costs half a second
of every process's start (web, worker, each admin command), and most never draw one."""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING

from ticketcore.stats import DayCount

if TYPE_CHECKING:
    from matplotlib.artist import Artist
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

SIZE_INCHES = (10.0, 5.0)
DPI = 100  # 1000x500 px: sharp in Slack's preview, small to upload
MAX_DATE_LABELS = 14
CREATED, RESOLVED, FIRST_RESPONSE = "#4C78A8", "#59A14F", "#E15759"
MUTED = "#6B6B6B"


def trend_chart(
    days: Sequence[DayCount],
    *,
    title: str,
    first_response_by_day: Mapping[date, float | None] | None = None,
) -> bytes:
    """Tickets created and resolved per day as bars and, when given, the first-response
    median per day (in seconds) as a line in hours; a PNG."""
    import matplotlib

    matplotlib.use("Agg")  # no display on a server, whoever imports pyplot later
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=SIZE_INCHES, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)  # draws with Agg, whatever the default backend
    axes = figure.add_subplot()
    # parse_math off: a `$` in a queue's name is text, not a formula.
    axes.set_title(title, fontsize=16, loc="left", parse_math=False)
    axes.spines[["top", "right"]].set_visible(False)
    axes.tick_params(labelsize=11)
    if not any(d.created or d.resolved for d in days):
        axes.text(
            0.5,
            0.5,
            "no tickets",
            transform=axes.transAxes,
            ha="center",
            va="center",
            fontsize=18,
            color=MUTED,
        )
    if not days:
        axes.set_xticks([])
        axes.set_yticks([])
        return png(figure)
    draw_counts(axes, days)
    if first_response_by_day is not None:
        draw_first_response(axes, days, first_response_by_day)
    handles: list[Artist] = []
    labels: list[str] = []
    for drawn in figure.axes:
        more_handles, more_labels = drawn.get_legend_handles_labels()
        handles += more_handles
        labels += more_labels
    figure.legend(handles, labels, loc="outside upper right", ncols=3, frameon=False, fontsize=11)
    return png(figure)


def draw_counts(axes: Axes, days: Sequence[DayCount]) -> None:
    positions = range(len(days))
    axes.bar(
        [x - 0.2 for x in positions],
        [d.created for d in days],
        width=0.4,
        color=CREATED,
        label="created",
    )
    axes.bar(
        [x + 0.2 for x in positions],
        [d.resolved for d in days],
        width=0.4,
        color=RESOLVED,
        label="resolved",
    )
    axes.set_ylabel("tickets", fontsize=12)
    from matplotlib.ticker import MaxNLocator

    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    peak = max((max(d.created, d.resolved) for d in days), default=0)
    axes.set_ylim(0, None if peak else 1)
    axes.grid(axis="y", color="#DDDDDD", linewidth=0.8)
    axes.set_axisbelow(True)
    axes.set_xlim(-0.6, len(days) - 0.4)
    step = math.ceil(len(days) / MAX_DATE_LABELS)
    shown = list(positions)[::step]
    axes.set_xticks(shown, [date_label(days[x].day, weekday=step == 1) for x in shown])


def draw_first_response(
    axes: Axes, days: Sequence[DayCount], seconds: Mapping[date, float | None]
) -> None:
    """On a second axis; days without a median leave a gap in the line."""
    hours = [to_hours(seconds.get(d.day)) for d in days]
    line_axes = axes.twinx()
    line_axes.plot(
        range(len(days)),
        hours,
        color=FIRST_RESPONSE,
        marker="o",
        linewidth=2,
        label="first response median (h)",
    )
    line_axes.set_ylabel("first response, hours", fontsize=12)
    line_axes.set_ylim(0, None if any(not math.isnan(h) for h in hours) else 1)
    line_axes.spines[["top"]].set_visible(False)
    line_axes.tick_params(labelsize=11)


def to_hours(seconds: float | None) -> float:
    return math.nan if seconds is None else seconds / 3600


def date_label(day: date, *, weekday: bool) -> str:
    text = f"{day.day} {day:%b}"
    return f"{day:%a}\n{text}" if weekday else text


def png(figure: Figure) -> bytes:
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=DPI, metadata={"Software": None})
    return out.getvalue()
