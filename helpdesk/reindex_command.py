"""`helpdesk reindex`: rebuild the search index from the store, with a progress bar.

The rebuild itself (resumable, zero downtime) is `ticketcore.search.rebuild`; this shows
it to the operator.
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from ticketcore.clock import Clock
from ticketcore.search.port import Generations
from ticketcore.search.rebuild import Rebuild, RebuildReport
from ticketcore.store import Store


class RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} tickets/s" if speed else "… tickets/s", style="cyan")


class ProgressBar:
    """The rebuild's `Progress`, drawn by rich: one bar per stage."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task: TaskID | None = None

    def stage(self, name: str, total: int) -> None:
        self._finish()
        self.task = self.progress.add_task(name, total=max(total, 1) if total else 0)

    def advance(self, count: int) -> None:
        if self.task is not None:
            task = self.progress.tasks[self.task]
            if task.total is not None and task.completed + count > task.total:
                # The count was an estimate, and tickets keep arriving.
                self.progress.update(self.task, total=task.completed + count)
            self.progress.advance(self.task, count)

    def _finish(self) -> None:
        if self.task is not None:
            task = self.progress.tasks[self.task]
            self.progress.update(self.task, total=task.completed)


def reindex(
    store: Store, index: Generations, clock: Clock, console: Console, *, batch: int = 1_000
) -> RebuildReport:
    columns = (
        TextColumn("{task.description:<12}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console) as progress:
        bar = ProgressBar(progress)
        report = Rebuild(store, index, clock, batch=batch, progress=bar).run()
        bar.stage("done", 0)
    console.print(summary(report))
    return report


def summary(report: RebuildReport) -> str:
    rate = report.copied / report.seconds if report.seconds else 0.0
    lines = [
        f"Search index {report.generation} is live: {report.copied:,} tickets"
        + (" (resumed)" if report.resumed else "")
        + f" in {report.seconds:.1f} s ({rate:,.0f} tickets/s).",
        f"{report.caught_up:,} tickets changed during the rebuild and were copied again.",
    ]
    if report.replaced != report.generation:
        lines.append(f"The previous index {report.replaced} is kept for a rollback.")
    if report.dropped:
        lines.append("Dropped older indexes: " + ", ".join(report.dropped) + ".")
    return "\n".join(lines)
