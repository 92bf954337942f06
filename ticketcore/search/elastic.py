"""The Elasticsearch search adapter: the `SearchIndex` port over an index behind an alias."""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeAlias

from elasticsearch import ApiError, Elasticsearch, helpers

from ticketcore.search.ast import DateFilter, Filter, Phrase, Query, QueryError, Term, Words
from ticketcore.search.documents import (
    FILTER_TO_FIELD,
    LANGUAGES,
    SNIPPET_CHARS,
    keyword_fields,
    snippet_source,
)
from ticketcore.search.documents import keyword as _keyword
from ticketcore.search.port import HIGHLIGHT, Hit, IndexedTicket, Page, Viewer

JsonDict: TypeAlias = dict[str, Any]

# Bump on any change to the mappings or analyzers: `new_index()` then names a fresh index to
# reindex into, and `swap_alias` moves the searches over once it is full.
SCHEMA_VERSION = 1
# `body` is what the player wrote; `replies` is searched but, like notes, never shown in a
# snippet, so highlighting `subject` and `body` alone yields the player's own words.
PUBLIC_TEXT = ("subject", "body", "replies")
TEXT_FIELDS = (*PUBLIC_TEXT, "notes")
KEYWORD_FIELDS: tuple[str, ...] = ("status", "priority", "channel", "queue", "assignee", "tags")
KEYWORD_FIELDS += ("player_id", "email", "telegram")
SORT: list[JsonDict] = [
    {"_score": {"order": "desc"}},
    {"updated_at": {"order": "desc"}},
    {"number": {"order": "desc"}},
]
_WORD = re.compile(r"[^\W_]+")  # the words the embedded index sees, so both split alike
_MARKED = re.compile(re.escape(HIGHLIGHT[0]) + r"(.*?)" + re.escape(HIGHLIGHT[1]), re.S)


def _utc(moment: datetime) -> str:
    aware = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return aware.isoformat()


def _midnight(day: date) -> str:
    return datetime.combine(day, time.min, tzinfo=UTC).isoformat()


def encode_cursor(sort_values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(sort_values).encode()).decode()


def decode_cursor(cursor: str) -> list[Any]:
    try:
        score, updated, number = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return [float(score), int(updated), int(number)]
    except (ValueError, TypeError) as error:
        raise QueryError("This page link has expired; search again.") from error


class ElasticIndex:
    """The `SearchIndex` port over `<alias>-v<SCHEMA_VERSION>-<suffix>`, reached by its alias."""

    def __init__(self, client: Elasticsearch, *, alias: str = "helpdesk-tickets") -> None:
        self.client = client
        self.alias = alias
        self.analyzers = dict(LANGUAGES)  # what each language subfield really uses
        self.is_new = False  # whether `ensure` had to create the index (a rebuild fills it)

    # -- the index and its alias -------------------------------------------------------------

    def ensure(self) -> str:
        """The index behind the alias, created with its mappings and aliased if there is none."""
        if self.client.indices.exists_alias(name=self.alias):
            return next(iter(self.client.indices.get_alias(name=self.alias)))
        name = self.new_index()
        self.client.indices.put_alias(index=name, name=self.alias)
        self.is_new = True
        return name

    def new_index(self) -> str:
        """Create an empty index with the current mappings, not yet aliased; its name."""
        for lang, analyzer in LANGUAGES.items():
            # A cluster without a language's analyzer (a plugin-less or test server) still
            # serves the language, unstemmed: better than refusing to create the index.
            self.analyzers[lang] = analyzer if self._has_analyzer(analyzer) else "standard"
        name = f"{self.alias}-v{SCHEMA_VERSION}-{uuid.uuid4().hex[:8]}"
        self.client.indices.create(index=name, mappings=self._mappings())
        return name

    def swap_alias(self, new_name: str) -> None:
        """Point the alias at `new_name` in one atomic step, so no search sees no index."""
        actions: list[JsonDict] = []
        if self.client.indices.exists_alias(name=self.alias):
            old = self.client.indices.get_alias(name=self.alias)
            actions += [{"remove": {"index": name, "alias": self.alias}} for name in old]
        actions.append({"add": {"index": new_name, "alias": self.alias}})
        self.client.indices.update_aliases(actions=actions)

    # -- generations: the indexes a rebuild fills and swaps in --------------------------------

    def live_generation(self) -> str:
        return self.ensure()

    def new_generation(self) -> str:
        return self.new_index()

    def has_generation(self, name: str) -> bool:
        ours = name.startswith(f"{self.alias}-v{SCHEMA_VERSION}-")
        return ours and bool(self.client.indices.exists(index=name))

    def write_generation(self, name: str, tickets: list[IndexedTicket]) -> None:
        self.upsert(tickets, index=name)

    def promote(self, name: str) -> None:
        self.swap_alias(name)

    def finish_generation(self, name: str) -> None:
        self.client.indices.refresh(index=name)

    def drop_generations(self, keep: set[str]) -> list[str]:
        live = self.live_generation()
        names = self.client.indices.get(index=f"{self.alias}-v*")
        dropped = sorted(name for name in names if name not in keep and name != live)
        for name in dropped:
            self.client.indices.delete(index=name)
        return dropped

    def _has_analyzer(self, analyzer: str) -> bool:
        try:
            self.client.indices.analyze(analyzer=analyzer, text="probe")
        except ApiError:
            return False
        return True

    def _mappings(self) -> JsonDict:
        def text() -> JsonDict:
            subfields = {
                lang: {"type": "text", "analyzer": a} for lang, a in self.analyzers.items()
            }
            return {"type": "text", "fields": subfields}

        properties: JsonDict = {"id": {"type": "keyword"}, "number": {"type": "integer"}}
        properties |= {name: {"type": "keyword"} for name in KEYWORD_FIELDS}
        properties |= {"created_at": {"type": "date"}, "updated_at": {"type": "date"}}
        properties |= {name: text() for name in TEXT_FIELDS}
        properties["snippet_source"] = {"type": "keyword", "index": False, "doc_values": False}
        return {"dynamic": "strict", "properties": properties}

    # -- writing -----------------------------------------------------------------------------

    def upsert(self, tickets: list[IndexedTicket], *, index: str | None = None) -> None:
        """Add or replace; `index` writes into a named index instead (a reindex before a swap)."""
        target = index or self.alias
        actions = ({"_index": target, "_id": t.id, "_source": _document(t)} for t in tickets)
        helpers.bulk(self.client, actions)

    def delete(self, ticket_ids: list[str]) -> None:
        actions = ({"_op_type": "delete", "_index": self.alias, "_id": i} for i in ticket_ids)
        helpers.bulk(self.client, actions, ignore_status=404)  # already gone is gone

    def refresh(self) -> None:
        self.client.indices.refresh(index=self.alias)

    def health(self) -> str:
        count = self.client.count(index=self.alias)["count"]
        return f"ok: {count} tickets in {self.live_generation()}"

    # -- searching ---------------------------------------------------------------------------

    def search(
        self, query: Query, *, viewer: Viewer, limit: int = 20, cursor: str | None = None
    ) -> Page:
        if query.is_empty:
            raise QueryError("Type something to search for.")
        if limit < 1:
            raise ValueError(f"limit must be positive, not {limit}")
        fields = TEXT_FIELDS if viewer.is_agent else PUBLIC_TEXT
        bool_query: JsonDict = {"must": [], "filter": [], "must_not": []}
        for term in query.terms:
            clause = _clause(term, fields, viewer)
            if term.negated:
                bool_query["must_not"].append(clause)
            else:
                is_text = isinstance(term, Words | Phrase)
                bool_query["must" if is_text else "filter"].append(clause)
        if query.number is not None:
            bool_query["filter"].append({"term": {"number": query.number}})
        answer = self.client.search(
            index=self.alias,
            query={"bool": bool_query},
            sort=SORT,
            size=limit + 1,  # one more tells whether there is a next page
            search_after=decode_cursor(cursor) if cursor else None,
            track_total_hits=True,
            source_includes=["snippet_source"],
            highlight=_highlight(),
        )
        found = answer["hits"]["hits"]
        hits = tuple(_hit(raw) for raw in found[:limit])
        more = len(found) > limit
        return Page(
            hits=hits,
            cursor=encode_cursor(found[limit - 1]["sort"]) if more else None,
            total=int(answer["hits"]["total"]["value"]),
        )


def _document(ticket: IndexedTicket) -> JsonDict:
    document: JsonDict = dict(keyword_fields(ticket))
    return document | {
        "id": ticket.id,
        "number": ticket.number,
        "tags": [_keyword("tags", tag) for tag in ticket.tags],
        "created_at": _utc(ticket.created_at),
        "updated_at": _utc(ticket.updated_at),
        "subject": ticket.subject,
        "body": list(ticket.player_texts),
        "replies": list(ticket.replies),
        "notes": list(ticket.notes),
        "snippet_source": snippet_source(ticket),
    }


def _text_fields(fields: Iterable[str]) -> list[str]:
    return [f"{name}{sub}" for name in fields for sub in ("", *(f".{lang}" for lang in LANGUAGES))]


def _clause(term: Term, fields: tuple[str, ...], viewer: Viewer) -> JsonDict:
    if isinstance(term, Words):
        # One clause per word: every word must occur, each in whichever field has it.
        words = [
            {"multi_match": {"query": word, "fields": _text_fields(fields)}}
            for word in _WORD.findall(term.text)
        ]
        return {"bool": {"must": words}} if words else {"match_none": {}}
    if isinstance(term, Phrase):
        return {
            "multi_match": {"query": term.text, "type": "phrase", "fields": _text_fields(fields)}
        }
    if isinstance(term, Filter):
        return _filter(term, viewer)
    if isinstance(term, DateFilter):
        return _date_range(term)
    raise QueryError(f"Cannot search for {term!r}.")


def _filter(term: Filter, viewer: Viewer) -> JsonDict:
    field = FILTER_TO_FIELD.get(term.field, term.field)
    if field not in KEYWORD_FIELDS:
        raise QueryError(f"There is no `{term.field}:` filter.")
    value = term.value
    if field == "assignee" and value.lstrip("@").lower() == "me":
        if viewer.user_id is None:
            return {"match_none": {}}  # nobody to be: nothing is assigned to them
        value = viewer.user_id
    return {"term": {field: _keyword(field, value)}}


def _date_range(term: DateFilter) -> JsonDict:
    """`=` is the whole UTC day; every bound is a midnight, the upper one excluded."""
    start, end = _midnight(term.day), _midnight(term.day + timedelta(days=1))
    bounds = {
        "=": {"gte": start, "lt": end},
        ">": {"gte": end},
        ">=": {"gte": start},
        "<": {"lt": start},
        "<=": {"lt": end},
    }[term.op]
    return {"range": {f"{term.field}_at": bounds}}


def _highlight() -> JsonDict:
    """Marks from each analyzer's view of subject and body: they only name the matched words;
    the snippet itself is cut from `snippet_source`, so no note or reply ever shows."""
    spec = {"fragment_size": 100, "number_of_fragments": 5}
    return {
        "pre_tags": [HIGHLIGHT[0]],
        "post_tags": [HIGHLIGHT[1]],
        "fields": {name: spec for name in _text_fields(("subject", "body"))},
    }


def _hit(raw: JsonDict) -> Hit:
    marked = {
        word.lower()
        for fragments in raw.get("highlight", {}).values()
        for fragment in fragments
        for found in _MARKED.findall(fragment)
        for word in _WORD.findall(found)
    }
    source = str(raw.get("_source", {}).get("snippet_source", ""))
    score = raw.get("_score")
    return Hit(
        number=int(raw["sort"][2]),
        score=float(score) if score is not None else 0.0,
        snippet=_snippet(source, marked),
    )


def _snippet(text: str, marked: set[str]) -> str:
    """About SNIPPET_CHARS of the player's own words around the first match, matches marked."""
    text = " ".join(text.split())
    words = list(_matches(text, marked))
    start = max(0, words[0].start() - SNIPPET_CHARS // 4) if words else 0
    if start:
        start = text.find(" ", start) + 1 or start  # begin on a word
    end = min(len(text), start + SNIPPET_CHARS)
    if end < len(text) and (space := text.rfind(" ", start, end)) > start:
        end = space
    parts, at = [], start
    for match in _matches(text[:end], marked, start):
        parts += [text[at : match.start()], HIGHLIGHT[0], match.group(), HIGHLIGHT[1]]
        at = match.end()
    parts.append(text[at:end])
    return ("…" if start else "") + "".join(parts) + ("…" if end < len(text) else "")


def _matches(text: str, marked: set[str], start: int = 0) -> Iterator[re.Match[str]]:
    return (m for m in _WORD.finditer(text, start) if m.group().lower() in marked)
