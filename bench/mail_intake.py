"""Mail intake benchmark: new mails and their follow-ups through the signed endpoint, by store size.

It runs the helpdesk as the end-to-end suite does (`helpdesk serve` and `--workers`
`helpdesk worker` processes on embedded defaults, in a temporary DATA_DIR, against the fake
Slack, Telegram, Mailgun and game-account servers), preloads the store with tickets up to
each of `--sizes`, then posts `--n` new mails from `--senders` concurrent senders through
the signed `/mailgun/inbound`, and right after them `--n` follow-ups threaded by
In-Reply-To, while the workers deliver the confirmations and cards as they normally do;
`--rounds` times per size, once the outbox has drained and the database has written out
the preload. It prints the median new mails/s, follow-ups/s and their ratio per size,
whether follow-ups keep up with new tickets (>= 0.9x) and whether the largest size keeps
within 1.5x of the smallest, then one line of JSON with every figure. Run it from the project root:
`.venv/bin/python bench/mail_intake.py` (`--quick`: sizes 1,000 and 10,000, 100 mails).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import copy
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from email.message import EmailMessage
from typing import Any

import httpx
from bson import ObjectId

from bench.day import DayDesk
from bench.harness import positive, print_results, summary, temporary_dir, verdict
from tests.conftest import wait_for
from tests.e2e.desk import MAIL_KEY, Fakes
from tests.fakes.game_api import FakeGameApi
from tests.fakes.mail import SUPPORT_ADDRESS, mailgun_form
from tests.fakes.mailgun import FakeMailgun
from tests.fakes.slack import FakeSlack
from tests.fakes.telegram import FakeTelegram
from ticketcore.store import EARLIEST

Document = dict[str, Any]

MIN_FOLLOW_UP_RATIO = 0.9  # follow-ups/s over new mails/s, at every size
MAX_SIZE_SLOWDOWN = 1.5  # rates at the smallest size over those at the largest
PRELOAD_BATCH = 1000
DRAIN_SECONDS = 600.0
SETTLE_SECONDS = 5.0
FLOWS = "rules: []\n"


def mail_id(batch: str, kind: str, index: int) -> str:
    return f"<{kind}-{batch}-{index}@players.example>"


def sender(batch: str, index: int) -> str:
    """A sender of its own for each new mail: the hourly limit counts new tickets per sender."""
    return f"player-{batch}-{index}@players.example"


def raw_mail(batch: str, index: int, *, follow_up: bool) -> bytes:
    """Mail `index` of a batch (a store size and a round): new, or the follow-up to it."""
    message = EmailMessage()
    message["From"] = f"Player {index} <{sender(batch, index)}>"
    message["To"] = SUPPORT_ADDRESS
    message["Subject"] = ("Re: " if follow_up else "") + f"My purchase {index} did not arrive"
    message["Message-Id"] = mail_id(batch, "f" if follow_up else "o", index)
    if follow_up:
        message["In-Reply-To"] = mail_id(batch, "o", index)
        message["References"] = mail_id(batch, "o", index)
    words = "still nothing arrived, please check" if follow_up else "I paid and got nothing"
    message.set_content(f"Hello,\n\n{words} (order {batch}-{index}).\n\nThanks")
    return bytes(message)


# ----------------------------------------------------------------- preloading


def template(desk: DayDesk) -> tuple[Document, list[Document]]:
    """A ticket opened by mail through the endpoint, once its effects are delivered, and
    its history: what preloaded tickets are copied from."""
    desk.mail(raw_mail("template", 0, follow_up=False))
    tickets = desk.store["tickets"]
    wait_for(owed(desk), "drain", 120)
    doc = tickets.find_one({"mail_ids": mail_id("template", "o", 0)})
    assert doc is not None
    history = list(desk.store["history"].find({"ticket_id": doc["_id"]}))
    return doc, history


def clone(doc: Document, history: list[Document], number: int) -> tuple[Document, list[Document]]:
    """A copy of the template ticket as ticket `number`, of a player of its own."""
    ticket = copy.deepcopy(doc)
    ticket_id = ObjectId()
    address = f"preloaded-{number}@players.example"
    ticket.update(_id=ticket_id, number=number, mail_ids=[f"<preloaded-{number}@players.example>"])
    ticket["player"] = {**ticket["player"], "email": address}
    ticket["player_key"] = f"email:{address}"
    ticket.pop("refs", None)
    entries = []
    for entry in history:
        copied = copy.deepcopy(entry)
        copied.update(_id=f"{entry['_id']}-{number}", ticket_id=ticket_id)
        entries.append(copied)
    return ticket, entries


def preload(desk: DayDesk, base: tuple[Document, list[Document]], size: int) -> float:
    """Tickets copied from the template until the store holds `size`; the seconds it took."""
    began = time.monotonic()
    tickets, history = desk.store["tickets"], desk.store["history"]
    have = tickets.count_documents({})
    counter = desk.store["counters"].find_one({"_id": "ticket_number"})
    first = int(counter["value"]) + 1 if counter else 1
    missing = max(0, size - have)
    for start in range(first, first + missing, PRELOAD_BATCH):
        end = min(start + PRELOAD_BATCH, first + missing)
        pairs = [clone(*base, number) for number in range(start, end)]
        tickets.insert_many([ticket for ticket, _ in pairs], ordered=False)
        history.insert_many([e for _, entries in pairs for e in entries], ordered=False)
    if missing:
        desk.store["counters"].update_one(
            {"_id": "ticket_number"}, {"$max": {"value": first + missing - 1}}
        )
    return time.monotonic() - began


# ----------------------------------------------------------------- posting


class Senders:
    """`count` concurrent senders, each with a pooled client of its own."""

    def __init__(self, desk: DayDesk, count: int) -> None:
        self.desk = desk
        self.count = count
        self.local = threading.local()
        self.clients: list[httpx.Client] = []
        self.failures: list[str] = []

    def client(self) -> httpx.Client:
        if not hasattr(self.local, "client"):
            self.local.client = httpx.Client(timeout=60)
            self.clients.append(self.local.client)
        return self.local.client

    def post(self, raw: bytes) -> None:
        data, files = mailgun_form(raw, signing_key=MAIL_KEY)
        url = f"{self.desk.url}/mailgun/inbound"
        answer = self.client().post(url, data=data, files=files or None)
        if answer.status_code != 200 or "ticket" not in answer.json():
            self.failures.append(f"{answer.status_code} {answer.text[:120]}")

    def timed(self, mails: list[bytes]) -> float:
        """Seconds to post every mail, `count` at a time (forms are built before the clock)."""
        with ThreadPoolExecutor(self.count) as pool:
            began = time.monotonic()
            list(pool.map(self.post, mails))
            return time.monotonic() - began

    def close(self) -> None:
        for client in self.clients:
            client.close()


def threaded(desk: DayDesk, batch: str, n: int) -> int:
    """How many follow-ups of the batch landed on the ticket their In-Reply-To names."""
    tickets = desk.store["tickets"]
    joined = 0
    for index in range(n):
        doc = tickets.find_one({"mail_ids": mail_id(batch, "f", index)}, {"mail_ids": 1})
        joined += doc is not None and mail_id(batch, "o", index) in doc["mail_ids"]
    return joined


def owed(desk: DayDesk) -> Callable[[], bool]:
    """Whether every effect is delivered. An effect still owed has a due date; asked by the
    index, this stays cheap at 100,000 tickets, where a look at every outbox took seconds
    of the server the desk is being timed on."""
    tickets = desk.store["tickets"]
    return lambda: tickets.find_one({"outbox.due_at": {"$gte": EARLIEST}}, {"_id": 1}) is None


def settle(desk: DayDesk) -> None:
    """Let the database write out what the preload left in its cache: a store that grew
    over months is not one that took 100,000 tickets in the last two minutes, and the
    checkpoint of such a burst slows every command for the next seconds."""
    desk.store.client.admin.command("fsync")
    time.sleep(SETTLE_SECONDS)


def one_round(desk: DayDesk, senders: Senders, batch: str, n: int) -> tuple[float, float, int]:
    """New mails/s, follow-ups/s, and how many follow-ups were threaded, of one batch."""
    new_seconds = senders.timed([raw_mail(batch, i, follow_up=False) for i in range(n)])
    follow_seconds = senders.timed([raw_mail(batch, i, follow_up=True) for i in range(n)])
    return n / new_seconds, n / follow_seconds, threaded(desk, batch, n)


def measure_size(
    desk: DayDesk, senders: Senders, base: Any, size: int, n: int, rounds: int
) -> Document:
    """The median of `rounds` rounds at this size: on two shared cores one round can
    meet a periodic job or a checkpoint, and its rates swing by a third either way. The
    first round starts with the outbox drained; the next ones while the workers still
    post the cards of the rounds before at Slack's pace, as on a busy day."""
    preload_seconds = preload(desk, base, size)
    wait_for(owed(desk), "the outbox to drain before the size", DRAIN_SECONDS)
    settle(desk)
    runs = [one_round(desk, senders, f"{size}r{r}", n) for r in range(rounds)]
    new_rate = statistics.median(run[0] for run in runs)
    follow_rate = statistics.median(run[1] for run in runs)
    fig = {
        "size": size,
        "tickets_in_store": desk.store["tickets"].count_documents({}),
        "new_per_s": round(new_rate, 1),
        "follow_ups_per_s": round(follow_rate, 1),
        "ratio": round(follow_rate / new_rate, 3),
        "threaded": min(run[2] for run in runs),
        "rounds": [[round(run[0], 1), round(run[1], 1)] for run in runs],
        "preload_seconds": round(preload_seconds, 1),
    }
    print(f"size {size}: {fig}", file=sys.stderr)
    return fig


# ----------------------------------------------------------------- report


def figures(args: argparse.Namespace, sizes: list[Document], failures: list[str]) -> Document:
    smallest, largest = sizes[0], sizes[-1]
    slowdown = max(
        smallest["new_per_s"] / largest["new_per_s"],
        smallest["follow_ups_per_s"] / largest["follow_ups_per_s"],
    )
    return {
        "n": args.n,
        "senders": args.senders,
        "workers": args.workers,
        "sizes": sizes,
        "slowdown_largest_vs_smallest": round(slowdown, 3),
        "failures": len(failures),
        "first_failures": failures[:5],
        "targets_met": {
            "follow_ups_keep_up": all(s["ratio"] >= MIN_FOLLOW_UP_RATIO for s in sizes),
            "flat_with_size": slowdown <= MAX_SIZE_SLOWDOWN,
            "all_threaded": all(s["threaded"] == args.n for s in sizes) and not failures,
        },
    }


def report(fig: Document) -> str:
    rows = [["tickets in store", "new mails/s", "follow-ups/s", "follow-ups/new", "threaded"]]
    for s in fig["sizes"]:
        rows.append(
            [
                f"{s['size']:,}",
                f"{s['new_per_s']:.1f}",
                f"{s['follow_ups_per_s']:.1f}",
                f"{s['ratio']:.2f}x",
                f"{s['threaded']}/{fig['n']}",
            ]
        )
    met = fig["targets_met"]
    targets = [
        f"  follow-ups >= {MIN_FOLLOW_UP_RATIO}x new mails' rate at every size: "
        f"{verdict(met['follow_ups_keep_up'])}",
        f"  largest size within {MAX_SIZE_SLOWDOWN}x of the smallest "
        f"({fig['slowdown_largest_vs_smallest']:.2f}x): {verdict(met['flat_with_size'])}",
        f"  every follow-up threaded, no failed post ({fig['failures']} failed): "
        f"{verdict(met['all_threaded'])}",
    ]
    title = (
        f"mail intake benchmark, n={fig['n']}, {fig['senders']} senders, {fig['workers']} workers"
    )
    return summary(title, rows, "", [], met, targets)


# ----------------------------------------------------------------- main


class MailDesk(DayDesk):
    """The day benchmark's desk with the periodic jobs as shipped: the end-to-end suite
    runs them every two seconds, which at 100,000 tickets would be a load of its own."""

    def env(self) -> dict[str, str]:
        return super().env() | {"PERIODIC_INTERVAL": "60"}


@contextmanager
def mail_desk(directory: Path, workers: int) -> Iterator[DayDesk]:
    with ExitStack() as stack:
        fakes = Fakes(
            slack=stack.enter_context(FakeSlack()),
            telegram=stack.enter_context(FakeTelegram()),
            mailgun=stack.enter_context(FakeMailgun()),
            game=stack.enter_context(FakeGameApi()),
        )
        desk = MailDesk(directory / "var", fakes, FLOWS)
        desk.workers = workers
        stack.callback(desk.close)
        desk.start()
        yield desk


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=positive(int), default=None, help="mails (default 300)")
    parser.add_argument("--sizes", default=None, help="store sizes (default 1000,10000,100000)")
    parser.add_argument("--senders", type=positive(int), default=4, help="concurrent senders")
    parser.add_argument("--workers", type=positive(int), default=2, help="worker processes")
    parser.add_argument("--rounds", type=positive(int), default=3, help="rounds per size")
    parser.add_argument("--quick", action="store_true", help="sizes 1000,10000 and 100 mails")
    args = parser.parse_args(argv)
    args.n = args.n or (100 if args.quick else 300)
    sizes = args.sizes or ("1000,10000" if args.quick else "1000,10000,100000")
    try:
        args.sizes = sorted(int(size) for size in sizes.split(","))
    except ValueError:
        parser.error("--sizes takes numbers separated by commas")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with (
        temporary_dir("mail-intake-bench-") as directory,
        mail_desk(directory, args.workers) as desk,
    ):
        base = template(desk)
        senders = Senders(desk, args.senders)
        try:
            sizes = [
                measure_size(desk, senders, base, size, args.n, args.rounds) for size in args.sizes
            ]
        finally:
            senders.close()
        fig = figures(args, sizes, senders.failures)
        # Printed before the desk stops: a worker slow to stop must not cost the figures.
        print_results(report(fig), fig)
    return 0


if __name__ == "__main__":
    sys.exit(main())
