# ruff: noqa: RUF001 - Russian player texts are Cyrillic on purpose
"""The search behaviour every adapter must have: the same tests, embedded and Elasticsearch."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from tests.conftest import FakeClock
from tests.ticketcore.search_support import (
    AGENT,
    CLOSE,
    OPEN,
    PLAYER,
    RefreshingElastic,
    elastic_client,
    numbers,
    ticket,
)
from ticketcore.models import Channel, Player
from ticketcore.search.ast import DateFilter, Filter, Phrase, Query, Words
from ticketcore.search.embedded import EmbeddedIndex
from ticketcore.search.port import RebuildableIndex, SearchIndex, Viewer
from ticketcore.search.rebuild import Rebuild, RebuildBusy
from ticketcore.service import TicketService
from ticketcore.store import Store


@pytest.fixture(scope="module")
def client() -> Iterator[Elasticsearch]:
    yield from elastic_client()


@pytest.fixture(params=["embedded", "elasticsearch"])
def index(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RebuildableIndex]:
    if request.param == "embedded":
        with EmbeddedIndex(tmp_path / "search") as embedded:
            yield embedded
        return
    elastic = RefreshingElastic(
        request.getfixturevalue("client"), alias=f"tickets-{uuid.uuid4().hex[:8]}"
    )
    elastic.ensure()
    yield elastic


def test_every_word_must_occur_in_some_text_field(index: SearchIndex) -> None:
    index.upsert(
        [
            ticket(1, subject="Lost gems", player_texts=("my purchase vanished",)),
            ticket(2, player_texts=("lost my sword",)),
            ticket(3, replies=("the gems are back, sorry they were lost",)),
        ]
    )
    assert sorted(numbers(index, Words("lost gems"))) == [1, 3]
    assert numbers(index, Words("purchase"), Words("gems")) == [1]


def test_phrase_needs_the_words_together(index: SearchIndex) -> None:
    index.upsert(
        [
            ticket(1, player_texts=("I get error 503 at login",)),
            ticket(2, player_texts=("error at login, code 503",)),
        ]
    )
    assert numbers(index, Phrase("error 503")) == [1]
    assert sorted(numbers(index, Phrase("login"))) == [1, 2]


def test_negated_terms_exclude(index: SearchIndex) -> None:
    index.upsert(
        [
            ticket(1, player_texts=("gems lost, want a refund",)),
            ticket(2, player_texts=("gems lost",)),
            ticket(3, player_texts=("gems lost", "error 503")),
        ]
    )
    assert sorted(numbers(index, Words("gems"), Words("refund", negated=True))) == [2, 3]
    assert sorted(numbers(index, Words("gems"), Phrase("error 503", negated=True))) == [1, 2]
    assert numbers(index, Filter("status", "new", negated=True)) == []


@pytest.mark.parametrize(
    ("name", "value", "changes"),
    [
        ("status", "Pending", {"status": "pending"}),
        ("priority", "urgent", {"priority": "urgent"}),
        ("channel", "email", {"channel": "email"}),
        ("queue", "billing", {"queue": "billing"}),
        ("assignee", "U7", {"assignee": "U7"}),
        ("tag", "vip", {"tags": ("whale", "vip")}),
        ("player", "p-42", {"player_id": "P-42"}),
        ("email", "Ann@Example.com", {"email": "ann@example.com"}),
        ("telegram", "@Ann_tg", {"telegram_username": "ann_tg"}),
    ],
)
def test_filter_matches_its_keyword_field_only(
    index: SearchIndex, name: str, value: str, changes: dict[str, object]
) -> None:
    index.upsert([ticket(1), ticket(2, **changes)])
    assert numbers(index, Filter(name, value)) == [2]
    assert numbers(index, Filter(name, value, negated=True)) == [1]


def test_assignee_me_is_whoever_searches(index: SearchIndex) -> None:
    index.upsert([ticket(1, assignee="U1"), ticket(2, assignee="U2")])
    assert numbers(index, Filter("assignee", "me")) == [1]
    assert numbers(
        index, Filter("assignee", "@me"), viewer=Viewer(is_agent=True, user_id="U2")
    ) == [2]
    assert numbers(index, Filter("assignee", "me"), viewer=Viewer(is_agent=True)) == []


def test_date_filters_count_whole_utc_days(index: SearchIndex) -> None:
    days = {
        1: datetime(2026, 11, 1, 0, 0, tzinfo=UTC),
        2: datetime(2026, 11, 2, 23, 59, tzinfo=UTC),
    }
    days[3] = datetime(2026, 11, 3, 0, 0, tzinfo=UTC)
    index.upsert([ticket(n, created_at=at, updated_at=at) for n, at in days.items()])
    nov2 = date(2026, 11, 2)

    def created(op: str) -> list[int]:
        return sorted(numbers(index, DateFilter("created", op, nov2)))  # type: ignore[arg-type]

    assert created("=") == [2]
    assert created(">") == [3]
    assert created(">=") == [2, 3]
    assert created("<") == [1]
    assert created("<=") == [1, 2]
    assert numbers(index, DateFilter("updated", "=", nov2, negated=True)) == [3, 1]


def test_number_jumps_to_that_ticket_if_the_rest_allows(index: SearchIndex) -> None:
    index.upsert([ticket(1234, player_texts=("gems",)), ticket(99, player_texts=("gems",))])
    assert numbers(index, number=1234) == [1234]
    assert numbers(index, Words("gems"), number=1234) == [1234]
    assert numbers(index, Words("sword"), number=1234) == []
    assert numbers(index, number=5) == []


def test_empty_query_is_an_error(index: SearchIndex) -> None:
    with pytest.raises(ValueError):
        index.search(Query(), viewer=AGENT)


def test_words_match_other_forms_in_english_and_russian(index: SearchIndex) -> None:
    index.upsert(
        [
            ticket(1, language="ru", player_texts=("Не могу войти в мой аккаунт",)),
            ticket(2, language="ru", player_texts=("Пропали деньги с аккаунта",)),
            ticket(3, player_texts=("I logged in yesterday",)),
            ticket(4, replies=("We are logging this",)),
        ]
    )
    assert sorted(numbers(index, Words("аккаунта"))) == [1, 2]
    assert sorted(numbers(index, Words("аккаунт"))) == [1, 2]
    assert sorted(numbers(index, Words("logged"))) == [3, 4]
    assert sorted(numbers(index, Words("logging"))) == [3, 4]


def test_relevance_first_then_newest(index: SearchIndex) -> None:
    index.upsert(
        [
            ticket(1, subject="Gems", player_texts=("gems gems gems",)),
            ticket(2, player_texts=("something about gems and a long story " * 5,)),
            ticket(3, player_texts=("gems",)),
            ticket(4, player_texts=("gems",)),
        ]
    )
    assert numbers(index, Words("gems")) == [1, 4, 3, 2]


def test_snippet_marks_matches_and_never_shows_notes(index: SearchIndex) -> None:
    story = "word " * 100 + "then my Аккаунта was stolen and " + "more " * 100
    index.upsert([ticket(1, player_texts=(story,), notes=("аккаунт is flagged: secret fraud",))])
    for viewer in (AGENT, PLAYER):
        [hit] = index.search(Query(terms=(Words("аккаунт"),)), viewer=viewer).hits
        assert f"my {OPEN}Аккаунта{CLOSE} was" in hit.snippet
        assert "secret" not in hit.snippet
        assert len(hit.snippet) <= 210
        assert hit.snippet.startswith("…") and hit.snippet.endswith("…")


def test_notes_are_searched_for_agents_only(index: SearchIndex) -> None:
    index.upsert([ticket(1, player_texts=("help",), notes=("suspected chargeback fraud",))])
    assert numbers(index, Words("fraud"), viewer=AGENT) == [1]
    assert numbers(index, Words("fraud"), viewer=PLAYER) == []
    assert numbers(index, Phrase("chargeback fraud"), viewer=PLAYER) == []
    [hit] = index.search(Query(terms=(Words("fraud"),)), viewer=AGENT).hits
    assert "fraud" not in hit.snippet


def test_upsert_replaces_the_ticket(index: SearchIndex) -> None:
    index.upsert([ticket(1, status="new", player_texts=("gems",))])
    index.upsert([ticket(1, status="solved", player_texts=("gems", "thanks"))])
    index.upsert([ticket(1, status="closed"), ticket(1, status="closed", player_texts=("gems",))])
    assert numbers(index, Words("gems")) == [1]
    assert numbers(index, Filter("status", "closed")) == [1]
    assert numbers(index, Filter("status", "new")) == []


def test_delete_removes_the_ticket(index: SearchIndex) -> None:
    index.upsert([ticket(1, player_texts=("gems",)), ticket(2, player_texts=("gems",))])
    index.delete(["t1"])
    assert numbers(index, Words("gems")) == [2]


class ChangesDuringRebuild:
    """The rebuild's progress hook, changing tickets in the store while it runs, two minutes
    of the clock per batch, so each catch-up's window (since its start, less a minute of
    skew) matters: a change in a ticket the scan has passed, new tickets, a change made while
    the first catch-up runs (an index job could write it to the old index before the swap),
    and a change once the new index is live."""

    def __init__(
        self, service: TicketService, clock: FakeClock, index: RebuildableIndex, first: list[int]
    ) -> None:
        self.service = service
        self.clock = clock
        self.index = index
        self.live_before = index.live_generation()
        self.first = first
        self.stages: list[str] = []
        self.batches = 0
        self.words: dict[str, int] = {}

    def stage(self, name: str, total: int) -> None:
        self.stages.append(name)
        if self.index.live_generation() != self.live_before and "afterswap" not in self.words:
            self.say(self.first[2], "afterswap")

    def advance(self, count: int) -> None:
        self.clock.advance(minutes=2)
        self.batches += 1
        if self.stages == ["copying"] and self.batches in (2, 4):
            self.say(self.first[0], f"scanned{self.batches}")
            self.words[f"newcomer{self.batches}"] = self.service.open_ticket(
                player=Player(player_id=f"p{self.batches}"),
                channel=Channel.API,
                text=f"newcomer{self.batches} cannot log in",
            ).number
        if self.stages == ["copying", "catching up"] and "late" not in self.words:
            self.say(self.first[1], "late")

    def say(self, number: int, word: str) -> None:
        ticket = self.service.get(number)
        self.service.add_player_message(
            player=ticket.player, channel=ticket.channel, text=f"and also {word}"
        )
        self.words[word] = number


def test_rebuild_while_writes_continue_misses_nothing(
    index: RebuildableIndex, store: Store, service: TicketService, clock: FakeClock
) -> None:
    opened = [
        service.open_ticket(
            player=Player(player_id=f"player{n}"), channel=Channel.API, text=f"word{n} lost gems"
        ).number
        for n in range(120)
    ]
    index.upsert([ticket(9_999, player_texts=("stale ticket the store no longer has",))])
    clock.advance(minutes=10)  # they are old news: only changes made from here are caught up
    changes = ChangesDuringRebuild(service, clock, index, opened)
    before = index.live_generation()

    report = Rebuild(store, index, service.clock, batch=25, progress=changes).run()

    index.refresh()
    assert report.replaced == before and index.live_generation() == report.generation != before
    # Newcomers sort after the scan's place: it meets them if its cursor has not read so far.
    assert report.copied in (120, 122)
    assert report.caught_up >= len(set(changes.words.values()))  # only the changed, again
    assert report.caught_up < 120
    assert numbers(index, Words("stale")) == []  # the index now holds the store, nothing else
    for n, number in enumerate(opened):
        assert numbers(index, Words(f"word{n}")) == [number]
    for word in ("scanned2", "scanned4", "newcomer2", "newcomer4", "late", "afterswap"):
        assert numbers(index, Words(word)) == [changes.words[word]], word
    assert store.search_rebuilds.count_documents({}) == 0
    assert changes.stages == ["copying", "catching up", "catching up"]


def test_an_interrupted_rebuild_resumes_where_it_stopped(
    index: RebuildableIndex, store: Store, service: TicketService
) -> None:
    for n in range(60):
        service.open_ticket(player=Player(player_id=f"p{n}"), channel=Channel.API, text=f"w{n}")

    class Interrupt:
        seen = 0

        def stage(self, name: str, total: int) -> None:
            return None

        def advance(self, count: int) -> None:
            self.seen += count
            if self.seen >= 30:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Rebuild(store, index, service.clock, batch=10, progress=Interrupt()).run()
    checkpoint = store.search_rebuilds.find_one()
    assert checkpoint is not None and checkpoint["copied"] == 30

    report = Rebuild(store, index, service.clock, batch=10).run()

    index.refresh()
    assert report.resumed and report.copied == 60 and report.generation == checkpoint["generation"]
    assert all(numbers(index, Words(f"w{n}")) for n in range(60))


def test_only_one_rebuild_runs_at_a_time(
    index: RebuildableIndex, store: Store, service: TicketService
) -> None:
    service.open_ticket(player=Player(player_id="p1"), channel=Channel.API, text="hello")
    other = Rebuild(store, index, service.clock)

    class StartAnother:
        def stage(self, name: str, total: int) -> None:
            with pytest.raises(RebuildBusy):
                other.run()

        def advance(self, count: int) -> None:
            return None

    Rebuild(store, index, service.clock, progress=StartAnother()).run()
    assert numbers(index, Words("hello"))
