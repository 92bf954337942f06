"""The embedded search adapter: an on-disk tantivy index, for a helpdesk without Elasticsearch."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from time import monotonic, sleep, time_ns
from types import TracebackType
from typing import Any, TypeAlias

import tantivy

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

# tantivy ships no type stubs: its objects stay `Any` inside this module and never leave it.
TantivyQuery: TypeAlias = Any
Key: TypeAlias = tuple[float, int, int]  # (score, updated_at in µs, number): the total order

# Bump on any change to `_schema` or the analyzers: a new version opens a fresh directory,
# which `is_new` reports and `helpdesk reindex` fills.
SCHEMA_VERSION = 1
TEXT_FIELDS = ("subject", "body", "notes")  # each indexed once per language: body_en, body_ru
KEYWORD_FIELDS: tuple[str, ...] = ("status", "priority", "channel", "queue", "assignee", "tags")
KEYWORD_FIELDS += ("player_id", "email", "telegram")
WRITER_HEAP = 64_000_000
WRITER_WAIT = 30.0  # seconds a write waits for the directory lock a rebuild holds
POINTER = "CURRENT"  # names the live generation directory
STEM_CACHE = 100_000  # words whose stems snippets remember
TIES = 64  # hits sharing one updated time fetched at first: more are rare
_WORD = re.compile(r"[^\W_]+")  # what tantivy's simple tokenizer calls a word


def _analyzer(language: str) -> Any:
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(40))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.stemmer(language))
        .build()
    )


def _schema() -> Any:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("id", stored=True, tokenizer_name="raw")
    builder.add_integer_field("number", stored=True, indexed=True, fast=True)
    builder.add_integer_field("updated_key", indexed=True, fast=True)
    for name in KEYWORD_FIELDS:
        builder.add_text_field(name, tokenizer_name="raw")
    builder.add_date_field("created_at", indexed=True, fast=True)
    builder.add_date_field("updated_at", indexed=True, fast=True)
    for name in TEXT_FIELDS:
        for lang in LANGUAGES:
            builder.add_text_field(f"{name}_{lang}", tokenizer_name=f"helpdesk_{lang}")
    builder.add_text_field(
        "snippet_source", stored=True, tokenizer_name="raw", index_option="basic"
    )
    return builder.build()


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _micros(moment: datetime) -> int:
    return (_utc(moment) - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def encode_cursor(key: Key) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode()


def decode_cursor(cursor: str) -> Key:
    try:
        score, updated, number = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return float(score), int(updated), int(number)
    except (ValueError, TypeError) as error:
        raise QueryError("This page link has expired; search again.") from error


class EmbeddedIndex:
    """The `SearchIndex` port over tantivy indexes kept in generation directories of `root`.

    `root/CURRENT` names the live generation (`v<SCHEMA_VERSION>-<stamp>`); a rebuild
    fills a new directory and rewrites the pointer, and every process follows it at its next
    search or write. Without a pointer (or with one from another schema) the live
    generation is `root/v<SCHEMA_VERSION>`.
    """

    def __init__(self, root: Path, *, writer_threads: int = 1) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self._schema = _schema()
        self._analyzers = {lang: _analyzer(name) for lang, name in LANGUAGES.items()}
        self._stem_cache: dict[str, tuple[str, ...]] = {}
        self._writer_threads = writer_threads
        self._lock = threading.RLock()
        self._indexes: dict[str, Any] = {}  # generation name -> its open tantivy index
        self._writers: dict[str, Any] = {}  # opened on first write: one per directory
        self._pointer_stamp: tuple[int, int] | None = None
        self._live = ""
        self.is_new = not self.has_generation(self._live_name())
        self._follow_pointer()

    # -- generations -------------------------------------------------------------------------

    def live_generation(self) -> str:
        with self._lock:
            self._follow_pointer()
            return self._live

    def new_generation(self) -> str:
        name = f"v{SCHEMA_VERSION}-{time_ns():x}"
        with self._lock:
            self._open(name)
        return name

    def has_generation(self, name: str) -> bool:
        path = self.root / name
        return _is_current_schema(name) and path.is_dir() and tantivy.Index.exists(str(path))

    def write_generation(self, name: str, tickets: list[IndexedTicket]) -> None:
        with self._lock:
            self._write(name, tickets)

    def promote(self, name: str) -> None:
        if not self.has_generation(name):
            raise ValueError(f"there is no search index generation {name!r} to promote")
        pointer = self.root / POINTER
        staged = pointer.with_suffix(".new")
        with staged.open("w") as file:
            file.write(name)
            file.flush()
            os.fsync(file.fileno())
        os.replace(staged, pointer)  # atomic: a reader sees the old name or the new one
        with self._lock:
            self._follow_pointer()

    def finish_generation(self, name: str) -> None:
        with self._lock:
            self._release(name)

    def drop_generations(self, keep: set[str]) -> list[str]:
        dropped = []
        with self._lock:
            self._follow_pointer()
            for path in sorted(self.root.glob("v*")):
                name = path.name
                if path.is_dir() and name not in keep and name != self._live:
                    self._release(name)
                    self._indexes.pop(name, None)
                    shutil.rmtree(path, ignore_errors=True)
                    dropped.append(name)
        return dropped

    def _live_name(self) -> str:
        try:
            name = (self.root / POINTER).read_text().strip()
        except FileNotFoundError:
            name = ""
        if _is_current_schema(name) and (self.root / name).is_dir():
            return name
        return f"v{SCHEMA_VERSION}"

    def _follow_pointer(self) -> Any:
        """The live tantivy index, switched when a rebuild has promoted another generation.

        Costs a stat per call; the pointer is re-read only when the file was replaced.
        """
        try:
            info = (self.root / POINTER).stat()
            stamp: tuple[int, int] | None = (info.st_ino, info.st_mtime_ns)
        except FileNotFoundError:
            stamp = None
        if stamp != self._pointer_stamp or not self._live:
            with self._lock:
                name = self._live_name()
                if name != self._live:
                    # The old generation's writer goes, so its last merges finish.
                    self._release(self._live)
                    self._open(name)
                    self._live = name
                self._pointer_stamp = stamp
        return self._indexes[self._live]

    def _open(self, name: str) -> Any:
        if name not in self._indexes:
            path = self.root / name
            path.mkdir(parents=True, exist_ok=True)
            index = tantivy.Index(self._schema, path=str(path), reuse=True)
            for lang, analyzer in self._analyzers.items():
                index.register_tokenizer(f"helpdesk_{lang}", analyzer)
            self._indexes[name] = index
        return self._indexes[name]

    # -- writing -----------------------------------------------------------------------------

    def upsert(self, tickets: list[IndexedTicket]) -> None:
        with self._lock:
            self._follow_pointer()
            self._write(self._live, tickets)

    def delete(self, ticket_ids: list[str]) -> None:
        with self._lock:
            self._follow_pointer()
            writer = self._writer(self._live)
            for ticket_id in ticket_ids:
                writer.delete_documents_by_term("id", ticket_id)
            self._commit(self._live)

    def refresh(self) -> None:
        self._follow_pointer().reload()

    def health(self) -> str:
        searcher = self._follow_pointer().searcher()
        return f"ok: {searcher.num_docs} tickets in {self.live_generation()}"

    def close(self) -> None:
        """Release every writer's directory lock, so another process (or a reopen) may write."""
        with self._lock:
            for name in list(self._writers):
                self._release(name)

    def __enter__(self) -> EmbeddedIndex:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _write(self, name: str, tickets: list[IndexedTicket]) -> None:
        writer = self._writer(name)
        for ticket in tickets:
            writer.delete_documents_by_term("id", ticket.id)
            writer.add_document(self._document(ticket))
        self._commit(name)

    def _writer(self, name: str) -> Any:
        """This generation's writer. tantivy allows one per directory across processes, so a
        write waits a little for the one a rebuild holds during its last catch-up."""
        if name not in self._writers:
            index = self._open(name)
            deadline = monotonic() + WRITER_WAIT
            while True:
                try:
                    writer = index.writer(heap_size=WRITER_HEAP, num_threads=self._writer_threads)
                    break
                except ValueError as error:
                    if "LockBusy" not in str(error) or monotonic() > deadline:
                        raise
                    sleep(0.05)
            self._writers[name] = writer
        return self._writers[name]

    def _commit(self, name: str) -> None:
        self._writers[name].commit()
        self._indexes[name].reload()  # read-your-writes: the next search sees this commit

    def _release(self, name: str) -> None:
        writer = self._writers.pop(name, None)
        if writer is not None:
            writer.wait_merging_threads()

    def _document(self, ticket: IndexedTicket) -> Any:
        doc = tantivy.Document()
        doc.add_text("id", ticket.id)
        doc.add_integer("number", ticket.number)
        doc.add_integer("updated_key", _micros(ticket.updated_at))
        doc.add_date("created_at", _utc(ticket.created_at))
        doc.add_date("updated_at", _utc(ticket.updated_at))
        tags = (("tags", _keyword("tags", tag)) for tag in ticket.tags if tag)
        for field, value in [*keyword_fields(ticket).items(), *tags]:
            doc.add_text(field, value)
        texts = {
            "subject": (ticket.subject,),
            "body": (ticket.subject, *ticket.player_texts, *ticket.replies),
            "notes": ticket.notes,
        }
        for name, values in texts.items():
            for lang in LANGUAGES:
                for value in values:
                    doc.add_text(f"{name}_{lang}", value)
        doc.add_text("snippet_source", snippet_source(ticket))
        return doc

    # -- searching ---------------------------------------------------------------------------

    def search(
        self, query: Query, *, viewer: Viewer, limit: int = 20, cursor: str | None = None
    ) -> Page:
        if query.is_empty:
            raise QueryError("Type something to search for.")
        if limit < 1:
            raise ValueError(f"limit must be positive, not {limit}")
        fields = ("subject", "body", "notes") if viewer.is_agent else ("subject", "body")
        must: list[TantivyQuery] = []
        must_not: list[TantivyQuery] = []
        has_text = False
        for term in query.terms:
            clause = self._clause(term, fields, viewer)
            if clause is None:
                continue
            (must_not if term.negated else must).append(clause)
            has_text = has_text or (isinstance(term, Words | Phrase) and not term.negated)
        if query.number is not None:
            must.append(self._term("number", query.number))
        if not must:
            must.append(tantivy.Query.const_score_query(tantivy.Query.all_query(), 0.0))
        clauses = [(tantivy.Occur.Must, q) for q in must]
        clauses += [(tantivy.Occur.MustNot, q) for q in must_not]
        matcher = tantivy.Query.boolean_query(clauses)
        after = decode_cursor(cursor) if cursor else None
        searcher = self._follow_pointer().searcher()
        ranked = _by_relevance if has_text else _by_recency
        keyed, total = ranked(searcher, self._schema, matcher, limit, after)
        highlight = self._highlighter(query.terms)
        hits = tuple(
            Hit(number=key[2], score=key[0], snippet=_snippet(_source(searcher, addr), highlight))
            for key, addr in keyed[:limit]
        )
        more = len(keyed) > limit
        return Page(
            hits=hits, cursor=encode_cursor(keyed[limit - 1][0]) if more else None, total=total
        )

    def _clause(self, term: Term, fields: tuple[str, ...], viewer: Viewer) -> TantivyQuery | None:
        if isinstance(term, Words):
            words = [self._any_field(word, fields) for word in _WORD.findall(term.text)]
            return _all_of([w for w in words if w is not None])
        if isinstance(term, Phrase):
            return self._phrase(term.text, fields)
        if isinstance(term, Filter):
            return _constant(self._filter(term, viewer))
        if isinstance(term, DateFilter):
            return _constant(self._date_range(term))
        raise QueryError(f"Cannot search for {term!r}.")

    def _term(self, field: str, value: object) -> TantivyQuery:
        return _constant(tantivy.Query.term_query(self._schema, field, value))

    def _any_field(self, word: str, fields: tuple[str, ...]) -> TantivyQuery | None:
        """One word, stemmed by each field's own analyzer, found in any text field."""
        options = []
        for lang, analyzer in self._analyzers.items():
            for stem in analyzer.analyze(word)[:1]:
                for name in fields:
                    term = tantivy.Query.term_query(self._schema, f"{name}_{lang}", stem)
                    options.append((tantivy.Occur.Should, term))
        return tantivy.Query.boolean_query(options) if options else None

    def _phrase(self, text: str, fields: tuple[str, ...]) -> TantivyQuery | None:
        options = []
        for lang, analyzer in self._analyzers.items():
            stems = analyzer.analyze(text)
            for name in fields if stems else ():
                field = f"{name}_{lang}"
                # tantivy refuses (panics on) a one-word phrase: that is a plain term.
                query = (
                    tantivy.Query.phrase_query(self._schema, field, stems)
                    if len(stems) > 1
                    else tantivy.Query.term_query(self._schema, field, stems[0])
                )
                options.append((tantivy.Occur.Should, query))
        return tantivy.Query.boolean_query(options) if options else None

    def _filter(self, term: Filter, viewer: Viewer) -> TantivyQuery:
        field = FILTER_TO_FIELD.get(term.field, term.field)
        if field not in KEYWORD_FIELDS:
            raise QueryError(f"There is no `{term.field}:` filter.")
        value = term.value
        if field == "assignee" and value.lstrip("@").lower() == "me":
            if viewer.user_id is None:
                return tantivy.Query.empty_query()  # nobody to be: nothing is assigned to them
            value = viewer.user_id
        return tantivy.Query.term_query(self._schema, field, _keyword(field, value))

    def _date_range(self, term: DateFilter) -> TantivyQuery:
        start, end = _midnight(term.day), _midnight(term.day + timedelta(days=1))
        lower, upper = {
            "=": (start, end),
            ">": (end, None),
            ">=": (start, None),
            "<": (None, start),
            "<=": (None, end),
        }[term.op]
        return tantivy.Query.range_query(
            self._schema,
            f"{term.field}_at",
            tantivy.FieldType.Date,
            lower_bound=lower,
            upper_bound=upper,
            include_upper=upper is None,  # every upper bound is the next midnight, excluded
        )

    def _highlighter(self, terms: Iterable[Term]) -> Marks:
        """Which words of a text the query looked for, by either stemmer."""
        wanted = [set[str]() for _ in self._analyzers]
        for term in terms:
            if isinstance(term, Words | Phrase) and not term.negated:
                for stems, analyzer in zip(wanted, self._analyzers.values(), strict=True):
                    stems.update(analyzer.analyze(term.text))
        seen: dict[str, bool] = {}  # a snippet asks about every candidate once

        def is_wanted(word: str) -> bool:
            found = seen.get(word)
            if found is None:
                pairs = zip(self._stems(word), wanted, strict=True)
                found = seen[word] = any(stem in stems for stem, stems in pairs)
            return found

        # A stem keeps its word's first character (both stemmers only change endings), so
        # only words starting like a wanted stem need stemming: a regex finds them in C.
        firsts = {stem[0].lower() for stems in wanted for stem in stems if stem}
        if not firsts:
            return Marks(is_wanted, None)
        letters = "".join(sorted(re.escape(first) for first in firsts))
        return Marks(is_wanted, re.compile(rf"(?<![^\W_])[{letters}][^\W_]*", re.IGNORECASE))

    def _stems(self, word: str) -> tuple[str, ...]:
        """The word's stem by each language's analyzer, remembered: snippets stem every word
        they show, and the same words come back query after query."""
        stems = self._stem_cache.get(word)
        if stems is None:
            if len(self._stem_cache) >= STEM_CACHE:
                self._stem_cache.clear()
            analyzed = (analyzer.analyze(word) for analyzer in self._analyzers.values())
            stems = self._stem_cache[word] = tuple(found[0] if found else "" for found in analyzed)
        return stems


def _is_current_schema(name: str) -> bool:
    return name == f"v{SCHEMA_VERSION}" or name.startswith(f"v{SCHEMA_VERSION}-")


def _constant(query: TantivyQuery) -> TantivyQuery:
    """Filters narrow the results but add no relevance, so they leave the ranking to recency."""
    return tantivy.Query.const_score_query(query, 0.0)


def _all_of(queries: list[TantivyQuery]) -> TantivyQuery | None:
    if not queries:
        return None
    return tantivy.Query.boolean_query([(tantivy.Occur.Must, q) for q in queries])


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


Ranked: TypeAlias = tuple[list[tuple[Key, Any]], int]


@dataclass(frozen=True)
class Marks:
    """How a snippet finds what to highlight: `candidates` are the words that may be
    wanted (None: nothing is), `is_wanted` decides."""

    is_wanted: Callable[[str], bool]
    candidates: re.Pattern[str] | None


def _keyed(searcher: Any, hits: list[tuple[Any, Any]], scored: bool) -> list[tuple[Key, Any]]:
    addresses = [address for _, address in hits]
    updated = searcher.fast_field_values("updated_key", addresses)
    numbers = searcher.fast_field_values("number", addresses)
    return [
        ((float(score) if scored else 0.0, int(u), int(n)), address)
        for (score, address), u, n in zip(hits, updated, numbers, strict=True)
    ]


def _by_relevance(
    searcher: Any, schema: Any, query: TantivyQuery, limit: int, after: Key | None
) -> Ranked:
    """The page after `after` in (score, updated, number) order, newest first among equals.

    tantivy ranks by score only and has no search-after, so this fetches a growing top-k
    until every hit on the page (and one more, to know there is more) scores strictly above
    the k-th: only then can no unfetched hit tie with, and outrank, one on the page. A page
    deep in the results therefore costs that depth, paid inside tantivy's collector.
    """
    k = 2 * (limit + 1)
    while True:
        result = searcher.search(query, limit=k, count=True)
        keyed = _keyed(searcher, result.hits, scored=True)
        keyed = sorted((h for h in keyed if after is None or h[0] < after), reverse=True)
        exhausted = len(result.hits) < k
        if exhausted or (len(keyed) > limit and keyed[limit][0][0] > result.hits[-1][0]):
            return keyed[: limit + 1], int(result.count)
        k *= 4


def _by_recency(
    searcher: Any, schema: Any, query: TantivyQuery, limit: int, after: Key | None
) -> Ranked:
    """Without words there is no relevance: newest first, by a true search-after on the
    updated time, so a page costs its size whatever its depth."""
    total = None
    if after is not None:
        total = int(searcher.search(query, limit=1, count=True).count)
        _, updated, number = after
        older = _range(schema, "updated_key", upper=updated)
        same = tantivy.Query.boolean_query(
            [
                (tantivy.Occur.Must, tantivy.Query.term_query(schema, "updated_key", updated)),
                (tantivy.Occur.Must, _range(schema, "number", upper=number)),
            ]
        )
        query = query.and_must_match(older.or_should_match(same))
    # The first page counts in the same pass; a later one counted its own above.
    result = searcher.search(
        query, limit=limit + 1, count=total is None, order_by_field="updated_key"
    )
    keyed = _keyed(searcher, result.hits, scored=False)
    if len(keyed) > limit:
        # Hits sharing the last one's time were cut by an order that ignores numbers: take
        # them all, so the number decides among them (a few, or ask again for every one).
        last = keyed[-1][0][1]
        ties = query.and_must_match(tantivy.Query.term_query(schema, "updated_key", last))
        tied = searcher.search(ties, limit=TIES, count=False).hits
        if len(tied) == TIES:
            tied = searcher.search(ties, limit=searcher.num_docs, count=False).hits
        keyed = [h for h in keyed if h[0][1] != last] + _keyed(searcher, tied, scored=False)
    return sorted(keyed, reverse=True)[: limit + 1], total if total is not None else int(
        result.count
    )


def _range(schema: Any, field: str, *, upper: int) -> TantivyQuery:
    return tantivy.Query.range_query(
        schema, field, tantivy.FieldType.Integer, upper_bound=upper, include_upper=False
    )


def _source(searcher: Any, address: Any) -> str:
    text = searcher.doc(address).get_first("snippet_source")
    return str(text or "")


def _snippet(text: str, marks: Marks) -> str:
    """About SNIPPET_CHARS of the player's own words around the first match, matches marked.

    Built from `snippet_source` only (subject and player texts), so no note or reply text
    can ever show, whoever searches.
    """
    text = " ".join(text.split())
    first = next(_marked(text, marks, 0, len(text)), None)
    start = 0 if first is None else max(0, first.start() - SNIPPET_CHARS // 4)
    if start:
        start = text.find(" ", start) + 1 or start  # begin on a word
    end = min(len(text), start + SNIPPET_CHARS)
    if end < len(text) and (space := text.rfind(" ", start, end)) > start:
        end = space
    parts, at = [], start
    for match in _marked(text, marks, start, end):
        parts += [text[at : match.start()], HIGHLIGHT[0], match.group(), HIGHLIGHT[1]]
        at = match.end()
    parts.append(text[at:end])
    return ("…" if start else "") + "".join(parts) + ("…" if end < len(text) else "")


def _marked(text: str, marks: Marks, start: int, end: int) -> Iterator[re.Match[str]]:
    """The wanted words of text[start:end], whole words only."""
    if marks.candidates is None:
        return
    for match in marks.candidates.finditer(text, start, end):
        if marks.is_wanted(match.group()):
            yield match
