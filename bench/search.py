# ruff: noqa: RUF001 - Russian words are Cyrillic on purpose
"""Search benchmark: how fast the embedded index takes a reindex and answers queries.

It generates N synthetic tickets (seeded, so every run with the same options sees the same
data): English and Russian game-support subjects, one to six player messages of 5 to 120
words, agent replies, some internal notes, statuses, priorities, queues, tags, player ids
and emails spread unevenly, and dates over a year. Generation is timed on its own. The
tickets go into a fresh `EmbeddedIndex` in batches of `--batch` per `upsert` (each upsert
commits, so every batch is searchable when it returns); the index time is the time spent
in those upserts, and the wait for tantivy's background merges afterwards is shown apart.

Then it runs `--queries` mixed queries in the query language (single words, two words,
phrases, negations, `status:`/`tag:`/`queue:`/`player:`/`priority:`/`assignee:` filters,
dates, Russian words), each parsed once with `parse()` (parse time shown apart), through
`EmbeddedIndex.search(query, viewer=<an agent>, limit=20)`, and the same queries issued
straight to tantivy. "Raw" is the tantivy query the adapter itself would build (built
outside the timing), and its time is only `searcher.search(query, limit=20)` on a searcher
taken once, plus reading the stored `number` of each of the (up to) 20 hits. Ours
additionally includes taking a searcher, the adapter's deeper top-k with a total count
(relevance) or recency order and tie handling (filters only), cursor and snippets. The
two are interleaved query by query, alternating which goes first, so both see the same
caches. It prints the index rate, query p50/p95/p99 for both, the ratios ours/raw and
whether the targets are met, then one line of JSON with every figure. Run it from the
project root: `.venv/bin/python bench/search.py --quick`.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import tantivy

from bench.harness import (
    percentile,
    positive,
    print_results,
    sized,
    sized_parser,
    summary,
    temporary_dir,
    verdict,
)
from ticketcore.search.ast import Query
from ticketcore.search.embedded import EmbeddedIndex
from ticketcore.search.port import IndexedTicket, Viewer
from ticketcore.search.query import parse

Document = dict[str, Any]

FULL_TICKETS = 200_000
FULL_QUERIES = 1_000
QUICK_TICKETS = 20_000
QUICK_QUERIES = 300
LIMIT = 20

MAX_INDEX_SECONDS_FULL = 60.0  # for 200,000 tickets on a 2-core machine; scaled by --n
MAX_QUERY_P95_MS = 30.0
MAX_RAW_RATIO = 1.5

VIEWER = Viewer(is_agent=True, user_id="U1")
YEAR_START = datetime(2025, 11, 1, tzinfo=UTC)
YEAR_SECONDS = 365 * 24 * 3600
TODAY = date(2026, 11, 1)  # anchors relative dates; the data spans the year before it

# ----------------------------------------------------------------- vocabularies

EN_PHRASES = """
i cannot log in to my account|login keeps failing|it says wrong password|
i paid for gems but did not get them|the payment went through|my card was charged twice|
the game crashes on startup|the game keeps crashing after the update|it freezes on loading|
i was banned for no reason|my account got banned|please unban me|
the event rewards are missing|i did not receive the event prize|the event ended early|
where are my gems|lost all my gems|gems disappeared from inventory|
i want a refund|please refund my purchase|refund request|
my progress was reset|lost my progress|the save is gone|
the shop does not open|the purchase failed with error 503|error 503 on purchase|
the server is down|connection lost|cannot connect to the server|
my guild was deleted|someone hacked my account|my email was changed|
the daily bonus did not arrive|the quest does not complete|the boss is bugged|
please help|thank you|this is urgent|i have been waiting for days|
on android|on iphone|on my tablet|after the latest update|since yesterday|
level|player|chest|coins|subscription|battle pass|tournament|leaderboard|
""".replace("\n", "").split("|")

RU_PHRASES = """
не могу войти в аккаунт|пишет неверный пароль|вход не работает|
я оплатил но гемы не пришли|оплата прошла|деньги списали дважды|
игра вылетает при запуске|игра вылетает после обновления|зависает на загрузке|
меня забанили без причины|аккаунт заблокирован|прошу разбанить|
не пришла награда за ивент|ивент закончился раньше|где мои награды|
пропали гемы|пропали все кристаллы|гемы исчезли из инвентаря|
хочу вернуть деньги|верните деньги за покупку|возврат средств|
пропал прогресс|сбросился прогресс|сохранение пропало|
магазин не открывается|покупка не прошла ошибка 503|ошибка 503 при покупке|
сервер не работает|соединение потеряно|не могу подключиться к серверу|
гильдию удалили|мой аккаунт взломали|поменяли почту|
ежедневный бонус не пришел|задание не выполняется|босс глючит|
помогите пожалуйста|спасибо|это срочно|жду ответа уже несколько дней|
на андроиде|на айфоне|на планшете|после последнего обновления|со вчерашнего дня|
уровень|игрок|сундук|монеты|подписка|боевой пропуск|турнир|рейтинг|
""".replace("\n", "").split("|")

EN_SUBJECTS = [
    "Cannot log in",
    "Payment problem",
    "Missing gems",
    "Game crashes",
    "Account banned",
    "Event rewards missing",
    "Refund request",
    "Lost progress",
    "Error 503 in shop",
    "Connection problem",
    "Account hacked",
    "Daily bonus missing",
    "Help",
]
RU_SUBJECTS = [
    "Не могу войти",
    "Проблема с оплатой",
    "Пропали гемы",
    "Игра вылетает",
    "Аккаунт заблокирован",
    "Нет награды за ивент",
    "Возврат денег",
    "Пропал прогресс",
    "Ошибка 503 в магазине",
    "Нет соединения",
    "Аккаунт взломали",
    "Помогите",
]
EN_REPLIES = [
    "Hello! Thank you for contacting support.",
    "We have restored your gems, please restart the game.",
    "Please send us your player id and a screenshot of the error.",
    "The refund has been processed and should arrive within 5 days.",
    "We are aware of the crash and a fix is coming in the next update.",
    "Your account ban has been reviewed.",
    "Please reinstall the game and try to log in again.",
]
RU_REPLIES = [
    "Здравствуйте! Спасибо за обращение в поддержку.",
    "Мы вернули ваши гемы, перезапустите игру.",
    "Пришлите, пожалуйста, ваш id игрока и скриншот ошибки.",
    "Возврат оформлен, деньги придут в течение 5 дней.",
    "Мы знаем о вылетах, исправление будет в следующем обновлении.",
    "Блокировка аккаунта проверена.",
]
NOTES = [
    "checked payment logs, transaction found",
    "duplicate of an earlier ticket",
    "escalated to the billing team",
    "known crash, see release notes",
    "suspected cheater, keep the ban",
    "VIP player, handle first",
    "проверил логи оплаты",
    "передал в команду модерации",
]

STATUS_BAG = ["new"] * 15 + ["inprogress"] * 10 + ["waiting"] * 10 + ["pending"] * 3
STATUS_BAG += ["answered"] * 12 + ["resolved"] * 20 + ["closed"] * 30
PRIORITY_BAG = ["low"] * 15 + ["normal"] * 65 + ["high"] * 15 + ["urgent"] * 5
CHANNEL_BAG = ["telegram"] * 55 + ["email"] * 25 + ["api"] * 15 + ["slack"] * 5
QUEUE_BAG = [None] * 30 + ["billing"] * 25 + ["tech"] * 25 + ["moderation"] * 10
QUEUE_BAG += ["events"] * 10
TAGS = ["vip", "payment", "crash", "ban", "event", "refund", "android", "ios", "bug", "dup"]
TAG_WEIGHTS = [3, 10, 10, 5, 6, 6, 12, 8, 7, 2]
ASSIGNEES = ["U1"] + [f"U{i:02d}" for i in range(2, 21)]  # U1: who searches


def cumulative(weights: list[float]) -> list[float]:
    total, out = 0.0, []
    for w in weights:
        total += w
        out.append(total)
    return out


def zipf(n: int) -> list[float]:
    """Cumulative weights 1/rank: a few phrases are common, most are rare."""
    return cumulative([1.0 / (rank + 1) for rank in range(n)])


EN_CUM, RU_CUM = zipf(len(EN_PHRASES)), zipf(len(RU_PHRASES))
TAG_CUM = cumulative([float(w) for w in TAG_WEIGHTS])


# ----------------------------------------------------------------- tickets


class TicketMaker:
    """Deterministic synthetic tickets: ticket i depends only on the seed and i."""

    def __init__(self, seed: int, n: int) -> None:
        self.seed = seed
        self.players = max(10, n // 3)  # players come back: about three tickets each

    def text(self, rng: random.Random, russian: bool) -> str:
        # Lengths skew short: most messages are a sentence or two, a few are long.
        words = min(120, max(5, int(rng.triangular(5, 120, 12))))
        phrases, cum = (RU_PHRASES, RU_CUM) if russian else (EN_PHRASES, EN_CUM)
        picked = rng.choices(phrases, cum_weights=cum, k=words // 2 + 1)
        return " ".join(" ".join(picked).split()[:words])

    def ticket(self, i: int) -> IndexedTicket:
        rng = random.Random(self.seed * 1_000_003 + i)
        russian = rng.random() < 0.4
        created = YEAR_START + timedelta(seconds=rng.randrange(YEAR_SECONDS))
        updated = created + timedelta(minutes=rng.randrange(1, 14 * 24 * 60))
        player = int(self.players * rng.random() ** 2)  # some players write much more
        subjects = RU_SUBJECTS if russian else EN_SUBJECTS
        player_texts = tuple(
            self.text(rng, russian)
            for _ in range(rng.choices((1, 2, 3, 4, 5, 6), (40, 25, 15, 10, 6, 4))[0])
        )
        replies = tuple(
            rng.choice(RU_REPLIES if russian else EN_REPLIES)
            for _ in range(rng.choices((0, 1, 2, 3), (25, 45, 20, 10))[0])
        )
        notes = tuple(rng.choice(NOTES) for _ in range(rng.choices((0, 1, 2), (75, 20, 5))[0]))
        channel = rng.choice(CHANNEL_BAG)
        status = rng.choice(STATUS_BAG)
        tags = tuple(sorted(set(rng.choices(TAGS, cum_weights=TAG_CUM, k=rng.randrange(0, 4)))))
        return IndexedTicket(
            id=f"t{i}",
            number=i + 1,
            subject=rng.choice(subjects),
            status=status,
            priority=rng.choice(PRIORITY_BAG),
            channel=channel,
            queue=rng.choice(QUEUE_BAG),
            assignee=None if status == "new" else rng.choice(ASSIGNEES),
            tags=tags,
            player_id=f"p{player}" if rng.random() < 0.9 else None,
            email=f"player{player}@mail.example" if channel == "email" else None,
            telegram_username=f"gamer{player}" if channel == "telegram" else None,
            language="ru" if russian else "en",
            created_at=created,
            updated_at=updated,
            player_texts=player_texts,
            replies=replies,
            notes=notes,
        )


# ----------------------------------------------------------------- queries

EN_WORDS = ["gems", "crash", "login", "refund", "banned", "payment", "event", "progress"]
EN_WORDS += ["error", "server", "shop", "tournament", "android", "update", "hacked", "chest"]
RU_WORDS = ["аккаунт", "оплата", "вылетает", "гемы", "забанили", "ивент", "прогресс"]
RU_WORDS += ["ошибка", "сервер", "магазин", "турнир", "обновления", "взломали", "деньги"]
EN_QUOTED = ["error 503", "lost all my gems", "the game crashes", "wrong password"]
EN_QUOTED += ["event prize", "card was charged twice", "battle pass"]
RU_QUOTED = ["игра вылетает", "пропали гемы", "неверный пароль", "ошибка 503"]
RU_QUOTED += ["боевой пропуск", "деньги списали дважды"]
FILTER_VALUES = {
    "status": ["new", "inprogress", "waiting", "resolved", "closed"],
    "tag": TAGS,
    "queue": ["billing", "tech", "moderation", "events"],
    "priority": ["high", "urgent", "low"],
    "assignee": ["@me", "U07"],
}


def day_in_year(rng: random.Random) -> str:
    return (YEAR_START.date() + timedelta(days=rng.randrange(365))).isoformat()


def query_texts(seed: int, count: int, players: int) -> list[tuple[str, str]]:
    """`count` (kind, query text) pairs, in a seeded mix of the kinds agents type."""
    rng = random.Random(seed * 7919 + 1)

    def word() -> str:
        return rng.choice(RU_WORDS if rng.random() < 0.35 else EN_WORDS)

    def quoted() -> str:
        return rng.choice(RU_QUOTED if rng.random() < 0.35 else EN_QUOTED)

    def flt() -> str:
        field = rng.choice(list(FILTER_VALUES))
        return f"{field}:{rng.choice(FILTER_VALUES[field])}"

    def date() -> str:
        op = rng.choice([">", ">=", "<", "="])
        return f"{rng.choice(['created', 'updated'])}:{op}{day_in_year(rng)}"

    kinds: list[tuple[str, int, Callable[[], str]]] = [
        ("one word", 20, word),
        ("two words", 15, lambda: f"{word()} {word()}"),
        ("phrase", 10, lambda: f'"{quoted()}"'),
        ("negation", 8, lambda: f"{word()} -{word()}"),
        ("word + filter", 15, lambda: f"{word()} {flt()}"),
        ("filters only", 8, lambda: f"{flt()} {flt()}"),
        ("player", 6, lambda: f"player:p{int(players * rng.random() ** 2)}"),
        ("word + date", 8, lambda: f"{word()} {date()}"),
        ("relative date", 4, lambda: f"{word()} created:>{rng.choice([7, 30, 90])}d"),
        ("mixed", 6, lambda: f'{word()} "{quoted()}" -tag:dup {flt()} {date()}'),
    ]
    cum = cumulative([float(weight) for _, weight, _ in kinds])
    picked = rng.choices(kinds, cum_weights=cum, k=count)
    return [(name, make()) for name, _, make in picked]


# ----------------------------------------------------------------- raw tantivy


def raw_query(index: EmbeddedIndex, query: Query, viewer: Viewer) -> Any:
    """The tantivy query `EmbeddedIndex.search` builds for `query`, made by its own
    translation of each term, so both sides search for exactly the same thing."""
    fields = ("subject", "body", "notes") if viewer.is_agent else ("subject", "body")
    must: list[Any] = []
    must_not: list[Any] = []
    for term in query.terms:
        clause = index._clause(term, fields, viewer)
        if clause is not None:
            (must_not if term.negated else must).append(clause)
    if query.number is not None:
        must.append(index._term("number", query.number))
    if not must:
        must.append(tantivy.Query.const_score_query(tantivy.Query.all_query(), 0.0))
    clauses = [(tantivy.Occur.Must, q) for q in must]
    clauses += [(tantivy.Occur.MustNot, q) for q in must_not]
    return tantivy.Query.boolean_query(clauses)


def raw_search(searcher: Any, matcher: Any) -> list[int]:
    """What "raw" times: the top 20 and each hit's stored number."""
    hits = searcher.search(matcher, limit=LIMIT).hits
    return [searcher.doc(address).get_first("number") for _, address in hits]


# ----------------------------------------------------------------- run


@dataclass
class Timings:
    generate_seconds: float = 0.0
    index_seconds: float = 0.0
    merge_seconds: float = 0.0
    parse_seconds: float = 0.0


def ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def latency(values: list[float]) -> Document:
    return {
        "p50_ms": ms(percentile(values, 0.5)),
        "p95_ms": ms(percentile(values, 0.95)),
        "p99_ms": ms(percentile(values, 0.99)),
        "mean_ms": ms(statistics.fmean(values)) if values else 0.0,
    }


def index_tickets(
    index: EmbeddedIndex, maker: TicketMaker, n: int, batch: int, timings: Timings
) -> None:
    for start in range(0, n, batch):
        began = time.perf_counter()
        tickets = [maker.ticket(i) for i in range(start, min(n, start + batch))]
        made = time.perf_counter()
        index.upsert(tickets)
        timings.generate_seconds += made - began
        timings.index_seconds += time.perf_counter() - made
    began = time.perf_counter()
    index.close()  # waits for tantivy's background merges, so they do not run during queries
    timings.merge_seconds = time.perf_counter() - began
    index.refresh()


def run_queries(
    index: EmbeddedIndex, texts: list[tuple[str, str]], timings: Timings
) -> tuple[list[float], list[float], list[int], list[str]]:
    began = time.perf_counter()
    queries = [parse(text, today=TODAY) for _, text in texts]
    timings.parse_seconds = time.perf_counter() - began
    matchers = [raw_query(index, q, VIEWER) for q in queries]
    searcher = index._follow_pointer().searcher()
    ours: list[float] = []
    raw: list[float] = []
    totals: list[int] = []
    for i, (query, matcher) in enumerate(zip(queries, matchers, strict=True)):
        for side in ("ours", "raw") if i % 2 == 0 else ("raw", "ours"):
            began = time.perf_counter()
            if side == "ours":
                page = index.search(query, viewer=VIEWER, limit=LIMIT)
                ours.append(time.perf_counter() - began)
                totals.append(page.total or 0)
            else:
                raw_search(searcher, matcher)
                raw.append(time.perf_counter() - began)
    return ours, raw, totals, [kind for kind, _ in texts]


def by_kind(kinds: list[str], ours: list[float], raw: list[float]) -> Document:
    out: Document = {}
    for kind in dict.fromkeys(kinds):
        picked = [i for i, k in enumerate(kinds) if k == kind]
        mine = [ours[i] for i in picked]
        theirs = [raw[i] for i in picked]
        out[kind] = {
            "queries": len(picked),
            "ours_p50_ms": ms(percentile(mine, 0.5)),
            "ours_p95_ms": ms(percentile(mine, 0.95)),
            "raw_p50_ms": ms(percentile(theirs, 0.5)),
            "raw_p95_ms": ms(percentile(theirs, 0.95)),
        }
    return out


def measure(n: int, count: int, seed: int, batch: int, directory: Path) -> Document:
    timings = Timings()
    maker = TicketMaker(seed, n)
    index = EmbeddedIndex(directory)
    index_tickets(index, maker, n, batch, timings)
    texts = query_texts(seed, count, maker.players)
    ours, raw, totals, kinds = run_queries(index, texts, timings)
    max_index = MAX_INDEX_SECONDS_FULL * n / FULL_TICKETS
    ours_fig, raw_fig = latency(ours), latency(raw)
    ratio50 = ours_fig["p50_ms"] / raw_fig["p50_ms"] if raw_fig["p50_ms"] else float("inf")
    ratio95 = ours_fig["p95_ms"] / raw_fig["p95_ms"] if raw_fig["p95_ms"] else float("inf")
    return {
        "n": n,
        "queries": count,
        "seed": seed,
        "batch": batch,
        "generate_seconds": round(timings.generate_seconds, 3),
        "index_seconds": round(timings.index_seconds, 3),
        "index_docs_per_s": round(n / timings.index_seconds, 1),
        "merge_wait_seconds": round(timings.merge_seconds, 3),
        "index_target_seconds": round(max_index, 1),
        "parse_ms_per_query": ms(timings.parse_seconds / count),
        "ours": ours_fig,
        "raw": raw_fig,
        "ratio_p50": round(ratio50, 3),
        "ratio_p95": round(ratio95, 3),
        "zero_hit_queries": sum(1 for t in totals if t == 0),
        "median_total_hits": int(statistics.median(totals)),
        "by_kind": by_kind(kinds, ours, raw),
        "targets_met": {
            "index_seconds": timings.index_seconds <= max_index,
            "query_p95": ours_fig["p95_ms"] <= MAX_QUERY_P95_MS,
            "ratio_p50": ratio50 <= MAX_RAW_RATIO,
            "ratio_p95": ratio95 <= MAX_RAW_RATIO,
        },
    }


# ----------------------------------------------------------------- report


def report(fig: Document) -> str:
    ours, raw, met = fig["ours"], fig["raw"], fig["targets_met"]
    rows = [
        ["", "EmbeddedIndex", "raw tantivy", "ours/raw"],
        ["index docs/s", f"{fig['index_docs_per_s']:.0f}", "", ""],
        ["index seconds", f"{fig['index_seconds']:.1f} s", "", ""],
        [
            "query p50",
            f"{ours['p50_ms']:.2f} ms",
            f"{raw['p50_ms']:.2f} ms",
            f"{fig['ratio_p50']:.2f}x",
        ],
        [
            "query p95",
            f"{ours['p95_ms']:.2f} ms",
            f"{raw['p95_ms']:.2f} ms",
            f"{fig['ratio_p95']:.2f}x",
        ],
        ["query p99", f"{ours['p99_ms']:.2f} ms", f"{raw['p99_ms']:.2f} ms", ""],
    ]
    details = [
        f"  generating the tickets (not in the index time): {fig['generate_seconds']:.1f} s",
        f"  waiting for background merges after the last commit: {fig['merge_wait_seconds']:.1f} s",
        f"  parsing: {fig['parse_ms_per_query']:.3f} ms per query (not in the query times)",
        f"  queries with no hit: {fig['zero_hit_queries']} of {fig['queries']}; "
        f"median total hits {fig['median_total_hits']}",
        "  raw = searcher.search(query, limit=20) + each hit's stored number; ours = search()",
    ]
    for kind, k in fig["by_kind"].items():
        details.append(
            f"  {kind:<14} x{k['queries']:<4} ours p50/p95 {k['ours_p50_ms']:.2f}/"
            f"{k['ours_p95_ms']:.2f} ms, raw {k['raw_p50_ms']:.2f}/{k['raw_p95_ms']:.2f} ms"
        )
    targets = [
        f"  reindex of {fig['n']} tickets under {fig['index_target_seconds']:g} s "
        f"({MAX_INDEX_SECONDS_FULL:g} s per {FULL_TICKETS}): {verdict(met['index_seconds'])}",
        f"  query p95 under {MAX_QUERY_P95_MS:g} ms: {verdict(met['query_p95'])}",
        f"  within {MAX_RAW_RATIO}x of raw tantivy at p50: {verdict(met['ratio_p50'])}",
        f"  within {MAX_RAW_RATIO}x of raw tantivy at p95: {verdict(met['ratio_p95'])}",
    ]
    title = f"search benchmark, n={fig['n']}, queries={fig['queries']}, seed={fig['seed']}"
    return summary(title, rows, "details (latency by query kind):", details, met, targets)


# ----------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = sized_parser(__doc__, FULL_TICKETS, QUICK_TICKETS)
    parser.add_argument(
        "--queries", type=positive(int), default=None, help=f"queries (default {FULL_QUERIES})"
    )
    parser.add_argument(
        "--batch", type=positive(int), default=5000, help="tickets per upsert (default 5000)"
    )
    args = sized(parser.parse_args(argv))
    if args.queries is None:
        args.queries = QUICK_QUERIES if args.quick else FULL_QUERIES
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with temporary_dir("search-bench-") as path:
        fig = measure(args.n, args.queries, args.seed, args.batch, path)
    print_results(report(fig), fig)
    return 0


if __name__ == "__main__":
    sys.exit(main())
