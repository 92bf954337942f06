# ruff: noqa: RUF001 - Russian player texts are Cyrillic on purpose
"""Flows evaluation benchmark: how many ticket events per second one core checks against the rules.

It loads a realistic flows file (26 rules: regexes in English and Russian, whole words,
account and field comparisons, time windows, business hours, nesting) and generates N
ticket events from a fixed seed: tickets of every channel, language and status, with
player texts, accounts and game context. Setup (not measured): the rules load and each
event's facts are built once with `facts_for`. Measured, in one process on one core:
`Flows.matching` over all N events, and again with `facts_for` included. It prints the
rates, the time per event, the rule checks per event and how often rules matched, whether
the target is met, then one line of JSON with every figure. Run it from the project root:
`.venv/bin/python bench/flows_eval.py --n 20000`.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.harness import print_results, summary, verdict
from ticketcore.events import FLOW_EVENTS
from ticketcore.events import Event as HistoryEvent
from ticketcore.flows import Flows, facts_for, load_flows
from ticketcore.lifecycle import Status
from ticketcore.models import Channel, Player, Priority, Ticket

Document = dict[str, Any]

MIN_EVENTS_PER_S = 500
SEED = 20_26
START = datetime(2026, 11, 2, tzinfo=UTC)

RULES = r"""
rules:
  - name: refunds-to-leads
    on: [ticket.created]
    if: {text_matches: "(?i)refund|chargeback|возврат"}
    then: [notify: {channel: C0LEADS, text: "Refund request #{{ ticket.number }}"}]
  - name: vip-payments
    on: [ticket.created, message.received]
    if:
      account: {vip: true}
      text_contains: [payment, paid, charged, purchase, оплата, оплату, платёж, списали]
      tags_exclude: vip-payment
    then: [tag: vip-payment, set_priority: urgent, escalate: {reason: "VIP payment"}]
  - name: big-spenders
    on: ticket.created
    if: {account: {total_spend: {gte: 500}, country: [DE, AT, CH, US, GB]}}
    then: [set_queue: priority]
  - name: crashes-are-bugs
    on: [ticket.created, message.received]
    if:
      text_matches: '(?i)(?:^|\W)(crash\w*|freez\w*|froze\w*|вылет\w*|завис\w*)'
      tags_exclude: bug
    then: [tag: bug]
  - name: ios-crashes
    on: ticket.created
    if:
      all:
        - field: {path: ticket.context.platform, equals: ios}
        - text_matches: "(?i)crash|вылет"
    then: [notify: {channel: C0IOS, text: "iOS crash #{{ ticket.number }}"}]
  - name: old-builds
    on: ticket.created
    if: {field: {path: ticket.context.build, lt: 1400}}
    then: [reply: {macro: update-the-game}]
  - name: beta-testers
    on: ticket.created
    if: {field: {path: ticket.context.cohorts, contains: beta}}
    then: [tag: beta]
  - name: account-recovery
    on: ticket.created
    if:
      text_matches: '(?i)(hack(ed)?|stolen|lost (my )?account|взлом\w*|украли)'
    then: [tag: security, set_priority: high, set_queue: security]
  - name: cheaters
    on: [ticket.created, message.received]
    if: {text_contains: [cheat, cheater, cheating, hacker, aimbot, читер, читы]}
    then: [tag: report, set_queue: moderation]
  - name: russian-queue
    on: ticket.created
    if: {language: ru, not: {queue: [security, moderation]}}
    then: [set_queue: ru]
  - name: german-queue
    on: ticket.created
    if: {language: de}
    then: [set_queue: de]
  - name: email-round-robin
    on: ticket.created
    if: {channel: email, assigned: false}
    then: [assign: {round_robin: true, queue: email}]
  - name: urgent-to-oncall
    on: ticket.priority_changed
    if: {priority: urgent}
    then: [notify: {usergroup: S0ONCALL, text: "Urgent #{{ ticket.number }}"}]
  - name: night-urgent
    on: ticket.priority_changed
    if:
      priority: [high, urgent]
      time: {between: ["22:00", "08:00"], timezone: Europe/Moscow}
    then: [notify: {usergroup: S0NIGHT, text: "Night: #{{ ticket.number }}"}]
  - name: weekend-tag
    on: ticket.created
    if: {time: {days: [sat, sun], timezone: Europe/Berlin}}
    then: [tag: weekend]
  - name: after-hours
    on: ticket.created
    if: {business_hours: false, channel: [telegram, api]}
    then: [reply: {macro: after-hours}]
  - name: sla-warning
    on: sla.warning
    if: {not: {status: [waiting, pending]}}
    then: [notify: {channel: C0LEADS, text: "SLA soon: #{{ ticket.number }}"}]
  - name: sla-breach
    on: sla.breached
    then: [escalate: {reason: "SLA breached"}]
  - name: low-csat
    on: csat.low
    if: {any: [{account: {vip: true}}, {tags_include: [press, partner]}]}
    then: [notify: {channel: C0LEADS, text: "Low CSAT #{{ ticket.number }}"}]
  - name: player-waiting-again
    on: message.received
    if: {status: [answered, waiting], text_matches: "(?i)still|again|снова|опять"}
    then: [set_priority: high]
  - name: angry-players
    on: message.received
    if:
      text_matches: '(?i)(?:^|\W)(scam|lawyer|sue|refund now|мошенн\w*|суд)'
      not: {tags_include: legal}
    then: [tag: legal, escalate: {reason: "legal words"}]
  - name: escalated-note
    on: ticket.escalated
    then: [notify: {channel: C0LEADS, text: "Escalated #{{ ticket.number }}"}]
  - name: assigned-tag
    on: ticket.assigned
    if: {field: {path: ticket.assignee, exists: true}}
    then: [tag: assigned]
  - name: incidents
    on: incident.detected
    then: [notify: {channel: C0INCIDENTS, text: "Incident: {{ ticket.subject }}"}]
  - name: reply-sent-close-spam
    on: reply.sent
    if: {tags_include: spam}
    then: [set_status: resolved]
  - name: disabled-experiment
    enabled: false
    on: ticket.created
    if: {text_contains: test}
    then: [tag: experiment]
"""

TEXTS = (
    "I want a refund for my last purchase",
    "The game crashes on start since the update",
    "Игра вылетает после обновления, помогите",
    "My payment went through but I got no gems",
    "Не прошла оплата, деньги списали",
    "My account was hacked, someone changed the password",
    "There is a cheater with an aimbot in every match",
    "How do I change my nickname?",
    "Still waiting for an answer, please help again",
    "Верните деньги, это мошенничество",
    "The app freezes on the loading screen",
    "Where can I find my player ID?",
    "Thanks, it works now!",
    "Hallo, ich habe ein Problem mit dem Login",
)
LANGUAGES = ("en", "ru", "de", "ru-RU", "pt-BR", None)
COUNTRIES = ("DE", "AT", "US", "RU", "BR", "GB", "FR")
TAGS = ("press", "partner", "bug", "spam", "legal", "vip-payment")


@dataclass(frozen=True)
class Timing:
    """One timed pass over every event."""

    seconds: float
    matched: Counter[str]

    def rate(self, n: int) -> float:
        return n / self.seconds if self.seconds > 0 else float("inf")


def ticket(rng: random.Random, number: int, now: datetime) -> Ticket:
    text = rng.choice(TEXTS)
    return Ticket(
        id=f"t{number}",
        number=number,
        subject=text[:60],
        channel=rng.choice(list(Channel)),
        player=Player(player_id=f"p{number}", language=rng.choice(LANGUAGES)),
        status=rng.choice(list(Status)),
        priority=rng.choice(list(Priority)),
        assignee=rng.choice((None, None, "U0AGENT")),
        queue=rng.choice((None, None, "security", "ru")),
        tags=tuple(rng.sample(TAGS, rng.randint(0, 2))),
        context={
            "platform": rng.choice(("ios", "android", "pc")),
            "build": rng.randint(1300, 1500),
            "cohorts": rng.sample(("beta", "eu", "whale", "new"), rng.randint(0, 2)),
        },
        created_at=now,
        updated_at=now,
        opening_text=text,
    )


def account(rng: random.Random) -> Document:
    return {
        "vip": rng.random() < 0.2,
        "total_spend": rng.choice((0, 5, 50, 499, 500, 2500)),
        "country": rng.choice(COUNTRIES),
    }


def nine_to_six(now: datetime) -> bool:
    return now.weekday() < 5 and 9 <= now.hour < 18


@dataclass(frozen=True)
class Event:
    ticket: Ticket
    name: str
    now: datetime
    text: str | None
    account: Document

    def facts(self) -> Document:
        return facts_for(
            self.ticket,
            event=self.name,
            now=self.now,
            message_text=self.text,
            account=self.account,
            in_business_hours=nine_to_six,
        )


def events(n: int) -> list[Event]:
    """N events over a fortnight: half of them new tickets, the rest of every other kind."""
    rng = random.Random(SEED)
    others = [e for e in FLOW_EVENTS if e != HistoryEvent.TICKET_CREATED]
    result = []
    for number in range(1, n + 1):
        now = START + timedelta(minutes=rng.randint(0, 14 * 24 * 60))
        name = "ticket.created" if rng.random() < 0.5 else rng.choice(others)
        text = rng.choice(TEXTS) if name == "message.received" else None
        result.append(Event(ticket(rng, number, now), name, now, text, account(rng)))
    return result


def timed(work: Callable[[], Counter[str]]) -> Timing:
    start = time.perf_counter()
    matched = work()
    return Timing(time.perf_counter() - start, matched)


def measure(flows: Flows, generated: list[Event]) -> tuple[Timing, Timing]:
    prepared = [event.facts() for event in generated]

    def matching_only() -> Counter[str]:
        matched: Counter[str] = Counter()
        for facts in prepared:
            matched.update(rule.name for rule in flows.matching(facts))
        return matched

    def with_facts() -> Counter[str]:
        matched: Counter[str] = Counter()
        for event in generated:
            matched.update(rule.name for rule in flows.matching(event.facts()))
        return matched

    return timed(matching_only), timed(with_facts)


def figures(n: int, flows: Flows, load_seconds: float, generated: list[Event]) -> Document:
    matching, with_facts = measure(flows, generated)
    assert matching.matched == with_facts.matched, "the two passes disagree"
    checks = sum(len(flows.for_event(event.name)) for event in generated)
    return {
        "n": n,
        "rules": len(flows.rules),
        "load_ms": round(load_seconds * 1000, 2),
        "events_per_s": round(matching.rate(n), 1),
        "us_per_event": round(matching.seconds / n * 1e6, 2),
        "events_per_s_with_facts": round(with_facts.rate(n), 1),
        "us_per_event_with_facts": round(with_facts.seconds / n * 1e6, 2),
        "rule_checks_per_event": round(checks / n, 2),
        "matches_per_event": round(sum(matching.matched.values()) / n, 3),
        "matches_by_rule": dict(matching.matched.most_common()),
        "targets_met": {"events_per_s": matching.rate(n) >= MIN_EVENTS_PER_S},
    }


def report(fig: Document) -> str:
    rows = [
        ["", "events/s", "µs/event"],
        ["Flows.matching", f"{fig['events_per_s']:.0f}", f"{fig['us_per_event']:.1f}"],
        [
            "facts_for + Flows.matching",
            f"{fig['events_per_s_with_facts']:.0f}",
            f"{fig['us_per_event_with_facts']:.1f}",
        ],
    ]
    details = [
        f"  {fig['rules']} rules loaded in {fig['load_ms']:.1f} ms; "
        f"{fig['rule_checks_per_event']:.2f} rule conditions checked per event, "
        f"{fig['matches_per_event']:.2f} rules matched per event",
        *(f"  {name}: {count}" for name, count in fig["matches_by_rule"].items()),
    ]
    met = fig["targets_met"]
    targets = [f"  >= {MIN_EVENTS_PER_S} events/s on one core: {verdict(met['events_per_s'])}"]
    title = f"flows evaluation benchmark, n={fig['n']}"
    return summary(title, rows, "rules matched (totals):", details, met, targets)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="events (default 20000)")
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error("--n must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    flows = load_flows(RULES)
    load_seconds = time.perf_counter() - start
    fig = figures(args.n, flows, load_seconds, events(args.n))
    print_results(report(fig), fig)
    return 0


if __name__ == "__main__":
    sys.exit(main())
