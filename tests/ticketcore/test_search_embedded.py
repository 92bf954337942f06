from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.ticketcore.search_support import (
    AGENT,
    CLOSE,
    OPEN,
    PLAYER,
    START,
    numbers,
    ticket,
)
from ticketcore.search.ast import Filter, Phrase, Query, Term, Words
from ticketcore.search.embedded import EmbeddedIndex


@pytest.fixture
def index(tmp_path: Path) -> Iterator[EmbeddedIndex]:
    with EmbeddedIndex(tmp_path / "search") as opened:
        yield opened


def test_reopened_index_keeps_its_documents(tmp_path: Path) -> None:
    with EmbeddedIndex(tmp_path) as first:
        assert first.is_new
        first.upsert([ticket(1, player_texts=("аккаунта",))])
    with EmbeddedIndex(tmp_path) as again:
        assert not again.is_new
        assert numbers(again, Words("аккаунт")) == [1]
        again.upsert([ticket(2, player_texts=("аккаунт",))])
        assert sorted(numbers(again, Words("аккаунт"))) == [1, 2]


@pytest.mark.parametrize(
    ("terms", "scored"), [((Words("gems"),), True), ((Filter("channel", "telegram"),), False)]
)
def test_cursor_pages_past_ten_thousand_hits(
    tmp_path: Path, terms: tuple[Term, ...], scored: bool
) -> None:
    with EmbeddedIndex(tmp_path) as index:
        # Texts of three lengths make scores tie in big groups; a shared minute ties times.
        tickets = [
            ticket(
                n,
                player_texts=("gems " + "x " * (n % 3),),
                updated_at=START + timedelta(minutes=n // 7),
            )
            for n in range(12_000)
        ]
        index.upsert(tickets)
        seen: list[int] = []
        cursor = None
        pages = 0
        while True:
            page = index.search(Query(terms=terms), viewer=AGENT, limit=500, cursor=cursor)
            seen += [hit.number for hit in page.hits]
            pages += 1
            assert page.total == 12_000
            if page.cursor is None:
                break
            cursor = page.cursor
        assert sorted(seen) == list(range(12_000))
        assert pages == 24
        # Shorter texts score higher; then the newest; then the higher number.
        rank = {n: (-(n % 3) if scored else 0, n // 7, n) for n in range(12_000)}
        assert seen == sorted(rank, key=rank.__getitem__, reverse=True)


def test_ticket_with_ten_thousand_messages_is_found(index: EmbeddedIndex) -> None:
    texts = tuple(f"message {i} about the lost castle" for i in range(10_000))
    index.upsert([ticket(1, player_texts=(*texts, "finally: refund please"), replies=texts[:100])])
    assert numbers(index, Words("refund")) == [1]
    assert numbers(index, Phrase("lost castle")) == [1]
    [hit] = index.search(Query(terms=(Words("castle"),)), viewer=PLAYER).hits
    assert f"{OPEN}castle{CLOSE}" in hit.snippet


def test_many_tickets_changed_at_the_same_moment_page_by_number(tmp_path: Path) -> None:
    """More ties on the updated time than the first look fetches (a bulk import)."""
    same = START + timedelta(hours=1)
    with EmbeddedIndex(tmp_path) as index:
        index.upsert([ticket(n, updated_at=same) for n in range(1, 151)])
        seen: list[int] = []
        cursor = None
        while True:
            page = index.search(
                Query(terms=(Filter("channel", "telegram"),)), viewer=AGENT, limit=20, cursor=cursor
            )
            seen += [hit.number for hit in page.hits]
            assert page.total == 150
            cursor = page.cursor
            if cursor is None:
                break
    assert seen == list(range(150, 0, -1))


def test_snippets_mark_every_form_of_a_word_even_when_its_stem_is_no_prefix(
    tmp_path: Path,
) -> None:
    """ "cries" and "cry" both stem to "cri"; "happy" to "happi": highlighting must stem
    every word that starts like a wanted stem, not only those the stem is a prefix of."""
    with EmbeddedIndex(tmp_path) as index:
        index.upsert([ticket(1, player_texts=("The kids cry, then cried: HAPPY no more",))])
        [hit] = index.search(Query(terms=(Words("cries happiness"),)), viewer=AGENT).hits
    assert hit.snippet == (
        f"Help The kids {OPEN}cry{CLOSE}, then {OPEN}cried{CLOSE}: {OPEN}HAPPY{CLOSE} no more"
    )
