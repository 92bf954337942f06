"""What the search adapters' tests share: tickets to index, who searches, the query helper,
and the Elasticsearch-API test server's client."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from elasticsearch import Elasticsearch

from tests.fakes.osmem import fake_elasticsearch
from ticketcore.search.ast import Query, Term
from ticketcore.search.elastic import ElasticIndex
from ticketcore.search.port import HIGHLIGHT, IndexedTicket, SearchIndex, Viewer

AGENT = Viewer(is_agent=True, user_id="U1")
PLAYER = Viewer(is_agent=False)
START = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
OPEN, CLOSE = HIGHLIGHT


def ticket(number: int, **changes: object) -> IndexedTicket:
    base = IndexedTicket(
        id=f"t{number}",
        number=number,
        subject="Help",
        status="new",
        priority="normal",
        channel="telegram",
        queue=None,
        assignee=None,
        tags=(),
        player_id=None,
        email=None,
        telegram_username=None,
        language="en",
        created_at=START,
        updated_at=START + timedelta(minutes=number),
        player_texts=(),
        replies=(),
        notes=(),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def numbers(
    index: SearchIndex, *terms: Term, viewer: Viewer = AGENT, number: int | None = None
) -> list[int]:
    page = index.search(Query(terms=terms, number=number), viewer=viewer, limit=100)
    return [hit.number for hit in page.hits]


def elastic_client() -> Iterator[Elasticsearch]:
    """A client of a fresh Elasticsearch-API server (for a module-scoped fixture)."""
    with fake_elasticsearch() as url, Elasticsearch(url, request_timeout=60) as opened:
        yield opened


class RefreshingElastic(ElasticIndex):
    """The adapter as tests drive it: every write visible to the next search."""

    def upsert(self, tickets: list[IndexedTicket], *, index: str | None = None) -> None:
        super().upsert(tickets, index=index)
        self.refresh()

    def delete(self, ticket_ids: list[str]) -> None:
        super().delete(ticket_ids)
        self.refresh()
