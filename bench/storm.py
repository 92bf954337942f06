"""Storm benchmark: a burst of similar new tickets becomes one incident, and leads hear of it.

2,000 new tickets in 60 seconds, 80% about one problem in varied wording (English and
Russian), against the fake Slack at Slack's real 1 post/s per channel. It starts the
embedded MongoDB-wire server, an embedded Redis and a fake Slack Web API in this process;
the fake answers 429 (Retry-After: 1) beyond one successful chat.postMessage per channel in
any one second, and allows chat.update generously. The service side is wired exactly as in
production (`Settings` -> `Stack` -> runtime) with a flows file that turns storm detection
on (`incidents: {min_similar: 10, window: 5m}`), and `--workers` real `python -m app
worker` processes (the first one with the cron) deliver the effects, the storm detector
among them.

The tickets come from `tests/storm_corpus.py` (seeded), created through the ticket service
at an even pace over `--seconds`, in corpus order, each in the corpus's queue. The bench
then keeps measuring for `--settle` seconds after the last ticket (or until every outbox is
empty) and takes a snapshot of the database, the fake Slack and the workers' logs. At one
post per second the triage channel cannot carry a card for every ticket that is not in the
storm, so cards still owed at the end are reported rather than waited for.

It reports the tickets created and the achieved creation rate; the Slack posts made (triage
/ leads), chat.update calls and the 429s, and whether any effect failed or died because of
a 429 (an unhandled one: a 429 that was postponed and retried is handled); the time from the
first storm ticket's creation to the first message in the leads channel that starts with
"Incident #" (the alert); the incidents opened; the share of storm tickets in an incident
(also per language) and of unrelated tickets wrongly in one; the card posts saved (storm
tickets that never got a card of their own) and the cards still owed. Targets: leads
alerted within 30 s of the storm's start; at least 95% of storm tickets grouped; at most 2%
of unrelated tickets grouped; no Slack 429 left unhandled. It prints a table and whether
each target is met, then one line of JSON with every figure. Run it from the project root:
`.venv/bin/python bench/storm.py` (or `--quick`: 400 tickets in 12 s, 15 s to settle).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import os
import re
import time
from collections import Counter
from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime

from rq.job import Job
from rq.registry import FailedJobRegistry

from bench import harness
from helpdesk.settings import Settings
from helpdesk.stack import Stack
from jobs.slack import CARD_REF, SLACK_CARD, SLACK_INCIDENT
from jobs.storms import STORM_DETECT
from tests.fakes.http import Call
from tests.fakes.slack import FakeSlack
from tests.storm_corpus import STORM_QUEUE, CorpusTicket, storm_corpus
from ticketcore.models import Channel, Player
from ticketcore.queries import carried_entries

TRIAGE = "C0TRIAGE"
LEADS = "C0LEADS"
POST = "chat.postMessage"
UPDATE = "chat.update"
POST_RATE = 1  # Slack's real limit: about one chat.postMessage per second per channel
UPDATE_RATE = 20  # our own chat.update budget for the workspace
FAKE_UPDATE_LIMIT = 50  # the fake's chat.update limit per second: generous
MIN_SIMILAR = 10
WINDOW = "5m"
ALERT_PREFIX = "Incident #"
INCIDENT_EVENTS = ("incident.detected", "incident.joined")
LANGUAGES = ("en", "ru")

# An effect that failed with the Slack client's own error for a 429 (one the delivery code
# did not turn into a postponement); a postponed one says "Slack rate limit; retry in ...".
RATE_LIMIT_ERROR = re.compile(r"ratelimited|status(?:_code)?\W{0,3}429\b|HTTP Error 429")
POSTPONED_AFTER_429 = "Slack rate limit"
POSTPONED_BY_PACER = "pacing"
FAILED_EFFECT = re.compile(r"effect (\S+?):\S* of ticket #(\d+) failed")
LOG_RECORD = re.compile(r"^(?=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)", re.MULTILINE)

# The outboxes rarely empty here (cards wait for triage's one post a second), and each look
# is a scan on the embedded server, which runs in this process: look seldom.
SETTLE_POLL_SECONDS = 2.0

MAX_ALERT_SECONDS = 30.0
MIN_STORM_GROUPED = 0.95
MAX_OTHER_GROUPED = 0.02
MAX_UNHANDLED_429 = 0


@dataclass(frozen=True)
class Scale:
    n: int
    seconds: float
    settle: float


FULL = Scale(n=2000, seconds=60.0, settle=30.0)
QUICK = Scale(n=400, seconds=12.0, settle=15.0)


# ----------------------------------------------------------------- services


def fake_slack(stack: ExitStack) -> FakeSlack:
    fake = FakeSlack().start()
    stack.callback(fake.stop)
    fake.rate_limit(POST, POST_RATE, per_channel=True, retry_after=1)
    fake.rate_limit(UPDATE, FAKE_UPDATE_LIMIT, per_channel=False, retry_after=1)
    return fake


def write_flows(directory: Path) -> Path:
    """A flows file with no rules, only the storm detector's settings."""
    path = directory / "flows.yaml"
    path.write_text(f"rules: []\nincidents:\n  min_similar: {MIN_SIMILAR}\n  window: {WINDOW}\n")
    return path


def storm_settings(directory: Path, uri: str, url: str, fake: FakeSlack, flows: Path) -> Settings:
    return harness.slack_bench_settings(
        directory,
        uri,
        url,
        fake.url,
        TRIAGE,
        slack_leads_channel=LEADS,
        slack_post_rate=POST_RATE,
        slack_update_rate=UPDATE_RATE,
        flows_file=flows,
    )


def storm_env(settings: Settings) -> dict[str, str]:
    """The workers' environment: the bench's servers, the fake Slack and the flows file."""
    return harness.worker_env(
        settings,
        {
            "SLACK_BOT_TOKEN": str(settings.slack_bot_token),
            "SLACK_SIGNING_SECRET": str(settings.slack_signing_secret),
            "SLACK_API_URL": str(settings.slack_api_url),
            "SLACK_TRIAGE_CHANNEL": str(settings.slack_triage_channel),
            "SLACK_LEADS_CHANNEL": str(settings.slack_leads_channel),
            "SLACK_POST_RATE": str(settings.slack_post_rate),
            "SLACK_UPDATE_RATE": str(settings.slack_update_rate),
            "FLOWS_FILE": str(settings.flows_file),
            "SWEEP_INTERVAL": "10",
            "OUTBOX_GRACE": "30",
        },
    )


# ----------------------------------------------------------------- the run


@dataclass(frozen=True)
class Created:
    number: int
    item: CorpusTicket
    at: float  # time.monotonic() when open_ticket returned
    late: float  # seconds behind the even schedule when it was started


@dataclass
class Effects:
    """What the outboxes still owed at the end, and what the workers logged as failed."""

    owed: dict[str, int]  # effect kind -> records still owed (not dead)
    dead: int
    dead_by_429: int
    failed_by_429_owed: int  # owed, its last attempt failed with a 429 error
    postponed_after_429_owed: int  # owed, postponed after a 429 (handled), not yet retried
    postponed_by_pacer_owed: int
    failures_logged: dict[str, int]  # effect kind -> failures the workers logged
    failures_by_429_logged: int
    failed_jobs: int
    failed_jobs_by_429: int


@dataclass
class Run:
    n: int
    seconds: float
    settle: float
    storm_share: float
    seed: int
    workers: int
    started: float  # time.monotonic() when the first ticket was due
    clock_offset: float  # time.time() - time.monotonic(): maps wall times onto Call.at
    created: list[Created]
    creation_seconds: float
    settled: bool  # every outbox emptied before the settle time ran out
    measured_seconds: float  # from the first ticket to the snapshot
    poll_seconds: float
    cpu_seconds: float
    tickets: dict[int, harness.Document]  # number -> the ticket at the end (no payloads)
    incidents: list[harness.Document]
    joined_at: dict[int, float]  # number -> when it joined its incident (monotonic)
    effects: Effects
    job_outcomes: dict[str, dict[str, int]]
    calls: list[Call]
    worker_cpu_seconds: float
    crashed: dict[int, str]
    worker_errors: list[str] = field(default_factory=list)


def create_tickets(services: Stack, corpus: list[CorpusTicket], seconds: float) -> list[Created]:
    """Open the corpus's tickets in order, evenly spread over `seconds`."""
    service = services.runtime.service
    interval = seconds / len(corpus)
    began = time.monotonic()
    created: list[Created] = []
    for i, item in enumerate(corpus):
        late = time.monotonic() - (began + i * interval)
        if late < 0:
            time.sleep(-late)
        ticket = service.open_ticket(
            player=Player(player_id=f"p{i}", email=f"p{i}@players.example"),
            channel=Channel.API,
            text=item.text,
            queue=item.queue,
        )
        created.append(Created(ticket.number, item, time.monotonic(), max(0.0, late)))
    return created


def wall(value: datetime) -> float:
    """A stored time (naive ones are UTC) as seconds since the epoch."""
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def load_tickets(services: Stack) -> dict[int, harness.Document]:
    cursor = services.runtime.store.tickets.find(
        {}, {"number": 1, "incident": 1, "refs": 1, "created_at": 1, "outbox": 1}
    )
    return {int(doc["number"]): doc for doc in cursor}


def joined_times(
    services: Stack, tickets: dict[int, harness.Document], clock_offset: float
) -> dict[int, float]:
    """When each grouped ticket joined its incident (monotonic), from its history entry,
    stored or still carried in its outbox."""
    joined: dict[int, float] = {}
    for entry in services.runtime.store.history.find(
        {"event": {"$in": list(INCIDENT_EVENTS)}}, {"number": 1, "at": 1}
    ):
        joined[int(entry["number"])] = wall(entry["at"]) - clock_offset
    for number, doc in tickets.items():
        for carried in carried_entries(doc):
            if carried.event in INCIDENT_EVENTS:
                joined.setdefault(number, wall(carried.at) - clock_offset)
    return joined


def effect_state(
    tickets: Iterable[harness.Document], logs: list[Path], failed: tuple[int, int]
) -> Effects:
    owed: Counter[str] = Counter()
    dead = dead_by_429 = failed_owed = after_429 = by_pacer = 0
    for doc in tickets:
        for record in doc.get("outbox") or []:
            error = str(record.get("last_error") or "")
            by_429 = bool(RATE_LIMIT_ERROR.search(error))
            if record.get("dead_at") is not None:
                dead += 1
                dead_by_429 += by_429
                continue
            owed[record["kind"]] += 1
            failed_owed += by_429
            after_429 += error.startswith(POSTPONED_AFTER_429)
            by_pacer += error.startswith(POSTPONED_BY_PACER)
    logged: Counter[str] = Counter()
    logged_429 = 0
    for record in log_records(logs):
        match = FAILED_EFFECT.search(record)
        if match:
            logged[match.group(1)] += 1
            logged_429 += bool(RATE_LIMIT_ERROR.search(record, match.end()))
    return Effects(
        owed=dict(sorted(owed.items())),
        dead=dead,
        dead_by_429=dead_by_429,
        failed_by_429_owed=failed_owed,
        postponed_after_429_owed=after_429,
        postponed_by_pacer_owed=by_pacer,
        failures_logged=dict(sorted(logged.items())),
        failures_by_429_logged=logged_429,
        failed_jobs=failed[0],
        failed_jobs_by_429=failed[1],
    )


def failed_jobs(services: Stack) -> tuple[int, int]:
    """The jobs that failed outright, and how many of those with a 429."""
    queues = harness.delivery_queues(services.runtime)
    ids = [i for queue in queues for i in FailedJobRegistry(queue=queue).get_job_ids()]
    by_429 = 0
    for job in Job.fetch_many(ids, connection=queues[0].connection):
        if job is not None and RATE_LIMIT_ERROR.search(str(job.exc_info or "")):
            by_429 += 1
    return len(ids), by_429


def log_records(logs: list[Path]) -> list[str]:
    """The workers' log records, each with its continuation lines (an error's second line,
    a traceback)."""
    return [
        record
        for path in logs
        for record in LOG_RECORD.split(path.read_text(errors="replace"))
        if record.strip()
    ]


def worker_errors(logs: list[Path]) -> list[str]:
    """The first line of each record the workers logged as an error (a crash, a job that
    raised): anything but an effect failure, which is counted on its own."""
    return [
        record.strip().splitlines()[0][:200]
        for record in log_records(logs)
        if (" ERROR " in record or "Traceback" in record) and not FAILED_EFFECT.search(record)
    ]


def run_bench(directory: Path, scale: Scale, share: float, seed: int, worker_count: int) -> Run:
    n_storm = round(scale.n * share)
    corpus = storm_corpus(n_storm=n_storm, n_other=scale.n - n_storm, seed=seed)
    with ExitStack() as stack:
        uri = harness.mongo_server(stack, directory)
        url = harness.redis_server(stack, directory)
        fake = fake_slack(stack)
        settings = storm_settings(directory, uri, url, fake, write_flows(directory))
        services = harness.connect(stack, settings, directory)
        runtime = services.runtime
        workers = harness.start_workers(
            stack, worker_count, storm_env(settings), directory / "logs"
        )
        harness.wait_for_workers(workers, runtime.queue, worker_count)

        cpu_start = time.process_time()
        started = time.monotonic()
        clock_offset = time.time() - started
        created = create_tickets(services, corpus, scale.seconds)
        creation_seconds = created[-1].at - started
        settled, poll_seconds = harness.wait_until(
            lambda: harness.owed_tickets(services) == 0,
            created[-1].at + scale.settle,
            workers,
            interval=SETTLE_POLL_SECONDS,
        )
        measured = time.monotonic() - started
        cpu_seconds = time.process_time() - cpu_start

        calls = fake.calls
        tickets = load_tickets(services)
        incidents = list(runtime.store.incidents.find({}))
        joined = joined_times(services, tickets, clock_offset)
        failed = failed_jobs(services)
        jobs = harness.finished_jobs(harness.delivery_queues(runtime))
        crashed = workers.finish()
        for doc in tickets.values():  # the payloads were needed for the carried history only
            doc["outbox"] = [
                {k: v for k, v in r.items() if k != "payload"} for r in doc.get("outbox") or []
            ]
        return Run(
            n=scale.n,
            seconds=scale.seconds,
            settle=scale.settle,
            storm_share=share,
            seed=seed,
            workers=worker_count,
            started=started,
            clock_offset=clock_offset,
            created=created,
            creation_seconds=creation_seconds,
            settled=settled,
            measured_seconds=measured,
            poll_seconds=poll_seconds,
            cpu_seconds=cpu_seconds,
            tickets=tickets,
            incidents=incidents,
            joined_at=joined,
            effects=effect_state(tickets.values(), workers.logs, failed),
            job_outcomes=jobs.outcomes,
            calls=calls,
            worker_cpu_seconds=harness.worker_cpu_seconds(),
            crashed=crashed,
            worker_errors=worker_errors(workers.logs),
        )


# ----------------------------------------------------------------- figures


def share(part: float, whole: float) -> float:
    return part / whole if whole else 0.0


def grouping_figures(run: Run) -> harness.Document:
    """Which tickets ended up in an incident, by kind and language, and the incidents."""
    storm = [c for c in run.created if c.item.is_storm]
    other = [c for c in run.created if not c.item.is_storm]

    def grouped(items: list[Created]) -> list[Created]:
        return [c for c in items if run.tickets[c.number].get("incident")]

    figures: harness.Document = {
        "storm_tickets": len(storm),
        "storm_grouped": len(grouped(storm)),
        "storm_grouped_share": round(share(len(grouped(storm)), len(storm)), 4),
        "other_tickets": len(other),
        "other_grouped": len(grouped(other)),
        "other_grouped_share": round(share(len(grouped(other)), len(other)), 4),
    }
    for language in LANGUAGES:
        mine = [c for c in storm if c.item.language == language]
        figures[f"storm_{language}"] = len(mine)
        figures[f"storm_{language}_grouped_share"] = round(share(len(grouped(mine)), len(mine)), 4)
    same_queue = [c for c in other if c.item.queue == STORM_QUEUE]
    figures["other_in_storm_queue"] = len(same_queue)
    figures["other_in_storm_queue_grouped"] = len(grouped(same_queue))

    def detected(items: list[Created]) -> list[Created]:
        """Those the detector has seen: no storm.detect effect still owed (or dead)."""
        return [
            c
            for c in items
            if all(r["kind"] != STORM_DETECT for r in run.tickets[c.number].get("outbox") or [])
        ]

    for name, items in (("storm", storm), ("other", other)):
        seen = detected(items)
        figures[f"{name}_detected"] = len(seen)
        figures[f"{name}_grouped_of_detected_share"] = round(
            share(len(grouped(seen)), len(seen)), 4
        )

    members: dict[str, Counter[str]] = {str(i["_id"]): Counter() for i in run.incidents}
    for c in run.created:
        link = run.tickets[c.number].get("incident")
        if link:
            kind = f"storm_{c.item.language}" if c.item.is_storm else "other"
            members.setdefault(str(link["id"]), Counter())[kind] += 1
    figures["incidents"] = len(run.incidents)
    first_storm = storm[0].at if storm else run.started
    figures["incident_members"] = [
        {
            "number": int(i["number"]),
            "queue": i.get("queue"),
            "opened_after": round(wall(i["started_at"]) - run.clock_offset - first_storm, 2),
            **{k: members[str(i["_id"])][k] for k in ("storm_en", "storm_ru", "other")},
        }
        for i in sorted(run.incidents, key=lambda i: int(i["number"]))
    ]
    largest = max((sum(m.values()) for m in members.values()), default=0)
    biggest = max(members.values(), key=lambda m: sum(m.values()), default=Counter())
    figures["largest_incident_tickets"] = largest
    figures["largest_incident_storm_share"] = round(
        share(biggest["storm_en"] + biggest["storm_ru"], len(storm)), 4
    )
    latencies = [
        run.joined_at[c.number] - c.at
        for c in storm
        if c.number in run.joined_at and run.tickets[c.number].get("incident")
    ]
    figures |= harness.latency_figures("join", latencies)
    return figures


def card_figures(run: Run) -> harness.Document:
    """Cards of their own: posted, saved by the incident, still owed at the end."""

    def has_card(c: Created) -> bool:
        return CARD_REF in (run.tickets[c.number].get("refs") or {})

    def in_incident(c: Created) -> bool:
        return bool(run.tickets[c.number].get("incident"))

    def owes_card(c: Created) -> bool:
        records = run.tickets[c.number].get("outbox") or []
        return any(r["kind"] == SLACK_CARD and r.get("dead_at") is None for r in records)

    storm = [c for c in run.created if c.item.is_storm]
    other = [c for c in run.created if not c.item.is_storm]
    without = [c for c in run.created if not has_card(c) and not in_incident(c)]
    return {
        "cards_posted": sum(1 for c in run.created if has_card(c)),
        "storm_cards_posted": sum(1 for c in storm if has_card(c)),
        "card_posts_saved": sum(1 for c in storm if in_incident(c) and not has_card(c)),
        "other_cards_posted": sum(1 for c in other if has_card(c)),
        "other_hidden_in_incident": sum(1 for c in other if in_incident(c) and not has_card(c)),
        "cards_owed_at_end": sum(1 for c in without if owes_card(c)),
        "storm_cards_owed_at_end": sum(1 for c in without if c.item.is_storm and owes_card(c)),
        "no_card_nothing_owed": sum(1 for c in without if not owes_card(c)),
    }


def is_alert(call: Call) -> bool:
    return str(call.params.get("text", "")).startswith(ALERT_PREFIX)


def slack_figures(run: Run) -> harness.Document:
    calls = run.calls
    posts = [c for c in calls if c.method == POST and c.ok]
    updates = [c for c in calls if c.method == UPDATE and c.ok]
    post_channels = Counter(str(c.params.get("channel")) for c in posts)
    limited = [c for c in calls if c.status == 429]
    limited_posts = Counter(str(c.params.get("channel")) for c in limited if c.method == POST)
    storm = [c for c in run.created if c.item.is_storm]
    first_storm = storm[0].at if storm else run.started

    def first_incident_post(channel: str) -> Call | None:
        return next(
            (c for c in posts if c.params.get("channel") == channel and is_alert(c)),
            None,
        )

    alert, triage_card = first_incident_post(LEADS), first_incident_post(TRIAGE)
    opened = [wall(i["started_at"]) - run.clock_offset for i in run.incidents]
    triage_posts = [c for c in posts if c.params.get("channel") == TRIAGE]
    last_call = max((c.at for c in calls if c.ok), default=run.started)

    def after(at: float | None) -> float | None:
        return None if at is None else round(at - first_storm, 2)

    return {
        "posts": len(posts),
        "triage_posts": post_channels[TRIAGE],
        "leads_posts": post_channels[LEADS],
        "other_channel_posts": len(posts) - post_channels[TRIAGE] - post_channels[LEADS],
        "triage_ticket_cards": sum(1 for c in triage_posts if c.params.get("metadata")),
        "triage_incident_cards": sum(1 for c in triage_posts if is_alert(c)),
        "triage_thread_replies": sum(1 for c in triage_posts if c.params.get("thread_ts")),
        "leads_incident_cards": sum(
            1 for c in posts if c.params.get("channel") == LEADS and is_alert(c)
        ),
        "updates": len(updates),
        "incident_card_updates": sum(1 for c in updates if is_alert(c)),
        "rate_limited": len(limited),
        "rate_limited_posts_triage": limited_posts[TRIAGE],
        "rate_limited_posts_leads": limited_posts[LEADS],
        "rate_limited_updates": sum(1 for c in limited if c.method == UPDATE),
        "other_errors": sum(1 for c in calls if not c.ok and c.status != 429),
        "calls_by_method": dict(sorted(Counter(c.method for c in calls).items())),
        "max_triage_posts_in_any_sliding_second": harness.max_in_sliding_second(
            [c.at for c in triage_posts]
        ),
        "incident_opened_after": after(min(opened, default=None)),
        "triage_incident_card_after": after(triage_card.at if triage_card else None),
        "leads_alert_after": after(alert.at if alert else None),
        "first_post_after_start": round(posts[0].at - run.started, 2) if posts else None,
        "last_call_after_start": round(last_call - run.started, 2),
    }


def figures(run: Run) -> harness.Document:
    groups, cards, slack = grouping_figures(run), card_figures(run), slack_figures(run)
    effects = run.effects
    unhandled = effects.failures_by_429_logged + effects.failed_jobs_by_429
    unhandled = max(unhandled, effects.failed_by_429_owed + effects.dead_by_429)
    lateness = [c.late for c in run.created]
    alert = slack["leads_alert_after"]
    met = {
        "leads_alerted": alert is not None and alert <= MAX_ALERT_SECONDS,
        "storm_grouped": groups["storm_grouped_share"] >= MIN_STORM_GROUPED,
        "other_grouped": groups["other_grouped_share"] <= MAX_OTHER_GROUPED,
        "no_unhandled_429": unhandled <= MAX_UNHANDLED_429,
    }
    return {
        "n": run.n,
        "seconds": run.seconds,
        "settle": run.settle,
        "storm_share": run.storm_share,
        "seed": run.seed,
        "workers": run.workers,
        "min_similar": MIN_SIMILAR,
        "window": WINDOW,
        "post_rate": POST_RATE,
        "created": len(run.created),
        "creation_seconds": round(run.creation_seconds, 2),
        "creation_rate": round(share(len(run.created), run.creation_seconds), 2),
        "target_creation_rate": round(run.n / run.seconds, 2),
        "creation_late_max": round(max(lateness, default=0.0), 2),
        "settled": run.settled,
        "measured_seconds": round(run.measured_seconds, 2),
        **groups,
        **cards,
        **slack,
        "unhandled_429": unhandled,
        "effect_failures_by_429_logged": effects.failures_by_429_logged,
        "effect_failures_logged": effects.failures_logged,
        "failed_jobs": effects.failed_jobs,
        "failed_jobs_by_429": effects.failed_jobs_by_429,
        "dead_effects": effects.dead,
        "dead_effects_by_429": effects.dead_by_429,
        "owed_failed_by_429": effects.failed_by_429_owed,
        "owed_postponed_after_429": effects.postponed_after_429_owed,
        "owed_postponed_by_pacer": effects.postponed_by_pacer_owed,
        "owed_effects_at_end": effects.owed,
        "owed_detections_at_end": effects.owed.get(STORM_DETECT, 0),
        "owed_incident_cards_at_end": effects.owed.get(SLACK_INCIDENT, 0),
        "job_outcomes": run.job_outcomes,
        "worker_errors": run.worker_errors[:10],
        "bench_process_cpu_seconds": round(run.cpu_seconds, 2),
        "bench_poll_seconds": round(run.poll_seconds, 2),
        "worker_cpu_seconds": round(run.worker_cpu_seconds, 2),
        "cpus": os.cpu_count(),
        "targets_met": met,
    }


# ----------------------------------------------------------------- report


def seconds_text(value: float | None) -> str:
    return "never" if value is None else f"{value:.1f} s"


def percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def report(fig: harness.Document) -> str:
    met = fig["targets_met"]
    rows = [
        ["", "value", "target", ""],
        [
            "tickets created (rate)",
            f"{fig['created']} in {fig['creation_seconds']:.1f} s ({fig['creation_rate']:.1f}/s)",
            f"{fig['target_creation_rate']:.1f}/s",
            "",
        ],
        [
            "leads alerted after storm start",
            seconds_text(fig["leads_alert_after"]),
            f"<= {MAX_ALERT_SECONDS:g} s",
            harness.verdict(met["leads_alerted"]),
        ],
        [
            "storm tickets grouped",
            f"{percent(fig['storm_grouped_share'])} "
            f"({fig['storm_grouped']} / {fig['storm_tickets']})",
            f">= {percent(MIN_STORM_GROUPED)}",
            harness.verdict(met["storm_grouped"]),
        ],
        [
            "  EN / RU",
            f"{percent(fig['storm_en_grouped_share'])} / {percent(fig['storm_ru_grouped_share'])}",
            "",
            "",
        ],
        [
            "unrelated tickets grouped",
            f"{percent(fig['other_grouped_share'])} "
            f"({fig['other_grouped']} / {fig['other_tickets']})",
            f"<= {percent(MAX_OTHER_GROUPED)}",
            harness.verdict(met["other_grouped"]),
        ],
        [
            "  of those the detector saw",
            f"{percent(fig['storm_grouped_of_detected_share'])} storm "
            f"({fig['storm_detected']} seen), "
            f"{percent(fig['other_grouped_of_detected_share'])} unrelated "
            f"({fig['other_detected']} seen)",
            "",
            "",
        ],
        ["incidents opened", str(fig["incidents"]), "", ""],
        [
            "429s unhandled (of all 429s)",
            f"{fig['unhandled_429']} (of {fig['rate_limited']})",
            f"{MAX_UNHANDLED_429}",
            harness.verdict(met["no_unhandled_429"]),
        ],
        [
            "Slack posts: triage / leads",
            f"{fig['posts']}: {fig['triage_posts']} / {fig['leads_posts']}",
            "",
            "",
        ],
        ["chat.update calls", str(fig["updates"]), "", ""],
        [
            "card posts saved",
            f"{fig['card_posts_saved']} / {fig['storm_tickets']} storm tickets",
            "",
            "",
        ],
        ["cards still owed at the end", str(fig["cards_owed_at_end"]), "", ""],
        ["measured (creation + settle)", f"{fig['measured_seconds']:.1f} s", "", ""],
    ]
    members = ", ".join(
        f"#{m['number']} ({m['queue'] or '-'}, opened {m['opened_after']:.1f} s): "
        f"EN {m['storm_en']}, RU {m['storm_ru']}, other {m['other']}"
        for m in fig["incident_members"]
    )
    details = [
        f"  incident opened {seconds_text(fig['incident_opened_after'])}, its card in triage "
        f"{seconds_text(fig['triage_incident_card_after'])}, in leads "
        f"{seconds_text(fig['leads_alert_after'])} after the first storm ticket",
        f"  incidents: {members or 'none'}; the largest holds "
        f"{percent(fig['largest_incident_storm_share'])} of the storm",
        f"  joining latency from creation: p50 {fig['join_latency_p50']:.1f} s, "
        f"p95 {fig['join_latency_p95']:.1f} s, max {fig['join_latency_max']:.1f} s; "
        f"detections still owed {fig['owed_detections_at_end']}",
        f"  unrelated tickets in the storm's queue: {fig['other_in_storm_queue']}, grouped "
        f"{fig['other_in_storm_queue_grouped']}",
        f"  triage posts: {fig['triage_ticket_cards']} ticket cards, "
        f"{fig['triage_incident_cards']} incident cards, {fig['triage_thread_replies']} thread "
        f"replies (at most {fig['max_triage_posts_in_any_sliding_second']} in a sliding second)"
        f"; leads: {fig['leads_incident_cards']} incident cards; incident card updates "
        f"{fig['incident_card_updates']}",
        f"  own cards: {fig['storm_cards_posted']} storm (posted before they joined), "
        f"{fig['other_cards_posted']} other; {fig['other_hidden_in_incident']} unrelated "
        f"tickets hidden behind an incident; owed at the end {fig['cards_owed_at_end']} "
        f"({fig['storm_cards_owed_at_end']} storm)",
        f"  429s: {fig['rate_limited_posts_triage']} posts to triage, "
        f"{fig['rate_limited_posts_leads']} to leads, {fig['rate_limited_updates']} updates; "
        f"effect failures from a 429 {fig['effect_failures_by_429_logged']}, failed jobs "
        f"{fig['failed_jobs']} ({fig['failed_jobs_by_429']} from a 429), dead effects "
        f"{fig['dead_effects']} ({fig['dead_effects_by_429']} from a 429)",
        f"  owed at the end: {fig['owed_effects_at_end'] or 'nothing'}; of them postponed "
        f"after a 429 {fig['owed_postponed_after_429']}, by our pacer "
        f"{fig['owed_postponed_by_pacer']}, failed with a 429 {fig['owed_failed_by_429']}",
        harness.jobs_line(fig),
        f"  effect failures the workers logged: {fig['effect_failures_logged'] or 'none'}; "
        f"other worker errors: {len(fig['worker_errors'])}",
        f"  creation at most {fig['creation_late_max']:.2f} s behind schedule; CPU: this "
        f"process (servers, fake, bench) {fig['bench_process_cpu_seconds']:.1f} s (the wait "
        f"loop's queries took {fig['bench_poll_seconds']:.1f} s), workers "
        f"{fig['worker_cpu_seconds']:.1f} s, on {fig['cpus']} CPUs",
    ]
    title = (
        f"storm benchmark, n={fig['n']} in {fig['seconds']:g} s, storm share "
        f"{fig['storm_share']:g}, {POST_RATE} post/s per channel, workers={fig['workers']}, "
        f"settle {fig['settle']:g} s: "
        + ("every outbox emptied" if fig["settled"] else "effects still owed at the end")
    )
    return harness.summary(title, rows, "details:", details, met)


# ----------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = harness.bench_parser(__doc__, FULL.n, f"tickets (default {FULL.n})")
    parser.set_defaults(n=None)
    parser.add_argument(
        "--seconds",
        type=harness.positive(float),
        help=f"seconds to create them in, at an even pace (default {FULL.seconds:g})",
    )
    parser.add_argument(
        "--storm-share",
        type=float,
        default=0.8,
        help="share of the tickets that are about the storm's problem (default 0.8)",
    )
    parser.add_argument(
        "--workers", type=harness.positive(int), default=2, help="worker processes (default 2)"
    )
    parser.add_argument(
        "--settle",
        type=float,
        help=f"seconds to keep measuring after the last ticket (default {FULL.settle:g})",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"{QUICK.n} tickets in {QUICK.seconds:g} s, settle {QUICK.settle:g} s",
    )
    parser.add_argument("--seed", type=int, default=1, help="the corpus's seed (default 1)")
    args = parser.parse_args(argv)
    if not 0 < args.storm_share <= 1:
        parser.error("--storm-share must be above 0 and at most 1")
    if args.settle is not None and args.settle < 0:
        parser.error("--settle must not be negative")
    return args


def scale_of(args: argparse.Namespace) -> Scale:
    base = QUICK if args.quick else FULL
    return Scale(
        n=args.n if args.n is not None else base.n,
        seconds=args.seconds if args.seconds is not None else base.seconds,
        settle=args.settle if args.settle is not None else base.settle,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with harness.temporary_dir("storm-bench-") as path:
        run = run_bench(path, scale_of(args), args.storm_share, args.seed, args.workers)
    fig = figures(run)
    harness.print_results(report(fig), fig, run.crashed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
