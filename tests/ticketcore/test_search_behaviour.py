# ruff: noqa: RUF001 - Russian player texts are Cyrillic on purpose
"""The search behaviour every adapter must have: the same tests, embedded and Elasticsearch."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

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
from ticketcore.search.ast import DateFilter, Filter, Phrase, Query, Words
from ticketcore.search.embedded import EmbeddedIndex
from ticketcore.search.port import SearchIndex, Viewer


@pytest.fixture(scope="module")
def client() -> Iterator[Elasticsearch]:
    yield from elastic_client()


@pytest.fixture(params=["embedded", "elasticsearch"])
def index(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SearchIndex]:
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
