"""The operator's commands: reindex, the outbox, statistics, link tokens, checking flows."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

from helpdesk.settings import Settings, StartupError, utc_now
from helpdesk.stack import open_stack
from helpdesk.wiring import flows_file, search_index, telegram_username


def reindex(settings: Settings, *, batch: int) -> int:
    """`helpdesk reindex`: a new search index from MongoDB, swapped in when complete. It may
    run beside the serving helpdesk, and resumes where an interrupted one stopped."""
    from rich.console import Console

    from helpdesk.reindex_command import reindex as rebuild
    from ticketcore.search.rebuild import RebuildBusy
    from ticketcore.store import Store

    stack = open_stack(settings, own_embedded=False)
    try:
        store = Store.connect(stack.mongo, settings.mongodb_db)
        store.ensure_indexes()
        index = search_index(stack)
        try:
            rebuild(store, index, utc_now, Console(stderr=True), batch=batch)
        except RebuildBusy as exc:
            print(f"helpdesk: {exc}", file=sys.stderr)
            return 1
        finally:
            if hasattr(index, "close"):
                index.close()
    finally:
        stack.close()
    return 0


def outbox_command(settings: Settings, action: str, kind: str | None) -> None:
    """`helpdesk outbox dead|retry`: what gave up after every retry, and a second chance
    for it once its cause is fixed (the sweeper hands revived effects to the workers)."""
    from ticketcore.outbox import Outbox
    from ticketcore.store import Store

    stack = open_stack(settings, own_embedded=False)
    try:
        outbox = Outbox(Store.connect(stack.mongo, settings.mongodb_db))
        if action == "retry":
            print(f"{outbox.revive(utc_now(), kind=kind)} tickets have effects owed again")
            return
        for row in outbox.dead():
            print(
                f"#{row['number']}\t{row['kind']}\t{row['dead_at']:%Y-%m-%d %H:%M}\t"
                f"{row.get('last_error') or ''}"
            )
    finally:
        stack.close()


def print_stats(
    settings: Settings, since: str, fmt: str, queue: str | None, channel: str | None
) -> int:
    """`helpdesk stats`: the report for a period, in business hours when the flows file
    sets an SLA calendar."""
    from rich.console import Console

    from helpdesk.stats_command import as_csv, as_json, print_table
    from ticketcore.macros import Macros
    from ticketcore.stats import Period, Stats, business_calendar, zone_of
    from ticketcore.store import Store

    flows = flows_file(settings, Macros.load(settings.macros_file))
    calendar = business_calendar(flows.current().sla if flows is not None else None)
    try:  # before anything starts: a mistyped period is refused at once
        period = Period.parse(since, now=utc_now(), zone=zone_of(calendar))
    except ValueError as exc:
        print(f"helpdesk: --since: {exc}", file=sys.stderr)
        return 2
    stack = open_stack(settings, own_embedded=False)
    try:
        stats = Stats(Store.connect(stack.mongo, settings.mongodb_db), calendar)
        report = stats.report(period, queue=queue, channel=channel)
    finally:
        stack.close()
    if fmt == "table":
        print_table(report, Console())
    else:
        print(as_json(report) if fmt == "json" else as_csv(report), end="")
    return 0


def backfill_stats(settings: Settings) -> int:
    """`helpdesk stats --backfill`: fill what reports read on tickets written before it."""
    from helpdesk.stats_command import backfill
    from ticketcore.store import Store

    stack = open_stack(settings, own_embedded=False)
    try:
        print(backfill(Store.connect(stack.mongo, settings.mongodb_db)))
    finally:
        stack.close()
    return 0


def link_token(settings: Settings, player_id: str, days: int) -> None:
    """Print the deep link that opens the support bot as `player_id`."""
    from ticketcore.links import deep_link, make_token

    if not settings.player_link_secret:
        raise StartupError("PLAYER_LINK_SECRET is not set: player links cannot be signed")
    username = settings.telegram_bot_username or telegram_username(settings)
    try:
        token = make_token(
            player_id, secret=settings.player_link_secret, now=utc_now(), ttl=timedelta(days=days)
        )
    except ValueError as exc:
        raise StartupError(str(exc)) from exc
    print(deep_link(username, token))


def check_flows(path: Path) -> int:
    """`helpdesk flows check FILE`: every problem with its line, or how many rules."""
    from ticketcore.flows import check_file
    from ticketcore.flows_file import SECTIONS
    from ticketcore.macros import Macros

    macros = Macros.load(Settings().macros_file)
    lines = check_file(path, sections=SECTIONS, known_macros=set(macros.by_name) or None)
    for line in lines:
        print(line)
    return 0 if lines and lines[0].startswith("ok") else 1
