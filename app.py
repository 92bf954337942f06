"""The helpdesk's entry point: read Settings once, build the services, run a command.

helpdesk serve    web app (API, health, platform webhooks); on embedded defaults also
                  the embedded servers, one worker and the cron
helpdesk worker   RQ worker + cron, for deployments with real services
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from helpdesk.admin import (
    backfill_stats,
    check_flows,
    link_token,
    outbox_command,
    print_stats,
    reindex,
)
from helpdesk.serve import serve
from helpdesk.settings import Settings, StartupError
from helpdesk.worker import worker
from ticketcore.logs import configure as configure_logs

log = logging.getLogger("helpdesk")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="helpdesk", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command")
    serve_cmd = commands.add_parser("serve", help="run the web app (and, embedded, everything)")
    serve_cmd.add_argument("--host")
    serve_cmd.add_argument("--port", type=int)
    serve_cmd.add_argument(
        "--worker",
        dest="with_worker",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also run a worker and the cron (default: only when Redis is embedded)",
    )
    worker_cmd = commands.add_parser("worker", help="run an RQ worker and the cron")
    worker_cmd.add_argument("--no-cron", dest="with_cron", action="store_false")
    worker_cmd.add_argument("--burst", action="store_true", help="stop when the queue is empty")
    link_cmd = commands.add_parser("link-token", help="print a Telegram deep link for a player")
    link_cmd.add_argument("player_id")
    link_cmd.add_argument(
        "--days", type=int, default=7, help="how long the link is valid (1 to 30 days)"
    )
    flows_cmd = commands.add_parser("flows", help="work with the flows file")
    flows_actions = flows_cmd.add_subparsers(dest="flows_command", required=True)
    check_cmd = flows_actions.add_parser("check", help="validate a flows file, line by line")
    check_cmd.add_argument("file", type=Path)
    reindex_cmd = commands.add_parser(
        "reindex", help="rebuild the search index from the store, then swap it in"
    )
    reindex_cmd.add_argument("--batch", type=int, default=1_000, help="tickets per write")
    stats_cmd = commands.add_parser("stats", help="print the KPI report (docs/metrics.md)")
    stats_cmd.add_argument("--since", default="30d", help="7d, 30d, today, yesterday, Nd")
    stats_cmd.add_argument("--format", choices=("table", "csv", "json"), default="table")
    stats_cmd.add_argument("--queue")
    stats_cmd.add_argument("--channel")
    stats_cmd.add_argument(
        "--backfill",
        action="store_true",
        help="fill what reports read on older tickets, and count tickets per status again",
    )
    outbox_cmd = commands.add_parser("outbox", help="see and retry effects that gave up")
    outbox_actions = outbox_cmd.add_subparsers(dest="outbox_command", required=True)
    outbox_actions.add_parser("dead", help="list effects that gave up, newest first")
    retry_cmd = outbox_actions.add_parser("retry", help="make dead effects owed again")
    retry_cmd.add_argument("--kind", help="only this kind, e.g. reply.deliver or slack.card")
    args = parser.parse_args(argv)
    if args.command == "flows":
        sys.exit(check_flows(args.file))
    # python-telegram-bot: take retry_after as a timedelta now (the coming default), not the
    # deprecated int; child processes inherit it.
    os.environ.setdefault("PTB_TIMEDELTA", "true")

    overrides = {
        k: v
        for k, v in {
            "host": getattr(args, "host", None),
            "port": getattr(args, "port", None),
        }.items()
        if v is not None
    }
    settings = Settings(**overrides)
    configure_logs(settings.log_level, settings.log_format)
    try:
        if args.command == "worker":
            worker(settings, with_cron=args.with_cron, burst=args.burst)
        elif args.command == "link-token":
            link_token(settings, args.player_id, args.days)
        elif args.command == "reindex":
            sys.exit(reindex(settings, batch=args.batch))
        elif args.command == "outbox":
            outbox_command(settings, args.outbox_command, getattr(args, "kind", None))
        elif args.command == "stats" and args.backfill:
            sys.exit(backfill_stats(settings))
        elif args.command == "stats":
            sys.exit(print_stats(settings, args.since, args.format, args.queue, args.channel))
        else:
            serve(settings, with_worker=getattr(args, "with_worker", None))
    except StartupError as exc:
        print(f"helpdesk: {exc.message}", file=sys.stderr)
        raise


if __name__ == "__main__":
    main()
