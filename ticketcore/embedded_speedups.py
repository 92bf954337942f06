"""Two savings for the embedded MongoDB-wire server's updates, installed in its process.

A SecantusDB update reads the collection's index definitions from the catalog and decodes
them several times over (two fifths of an update's time on the tickets, with their 17
indexes), then deletes and rewrites every entry the document has in every index, though
most updates change one or two indexed fields. Both are pure overhead for a helpdesk,
whose indexes change only when a process starts:

- **The catalog is cached per collection, for the statements that write it.** A cached
  list is used only inside an insert, update or delete statement: those hold the
  collection's lock and read in a transaction begun after it, so what they read is the
  committed catalog, and any statement that changes the catalog (index creation, drops,
  renames, an index turning multikey) invalidates every cached list, before it starts and
  after it ends. A list read while one runs, or in a statement that began before the last
  one ended, is never kept. Everything else reads the catalog as before.
- **An update leaves alone the entries of an index whose keys it did not change**: for a
  plain ascending or descending index without a partial filter, the entries are a function
  of the indexed fields' values alone, so equal values (compared as BSON, type and all)
  mean equal entries.

Both reach into the server's private methods, so they install only on the version they
were written against (the one `pyproject.toml` pins) and leave any other untouched.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import bson

SUPPORTED_VERSION = "0.7.0b3"

IndexRow = tuple[str, dict[str, Any], dict[str, Any]]
IndexSpec = tuple[str, dict[str, Any], bool, bool]

# What changes the catalog. Each of these runs as one statement of its own, except
# `_maybe_mark_multikey`, which runs inside an update and is handled apart.
CATALOG_WRITERS = (
    "create_index",
    "drop_index",
    "drop_all_indexes",
    "set_index_expiry",
    "set_index_options",
    "drop_collection",
    "drop_database",
    "rename_collection",
    "_recover_pending_drops_locked",
)
# The statements that read the catalog with the collection locked, in a transaction of
# their own begun after the lock. Each takes (db, coll) as its first arguments.
WRITE_STATEMENTS = (
    "_insert_chunk",
    "_update_matching_single_txn",
    "_update_chunk",
    "_delete_chunk",
    "_delete_matching_single_txn",
)
UPDATE_STATEMENTS = ("_update_matching_single_txn", "_update_chunk")


@dataclass
class CatalogCache:
    """Index definitions per collection, valid while `generation` stands still."""

    generation: int = 0
    writers_running: int = 0
    lists: dict[tuple[str, str], tuple[int, list[IndexRow]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def invalidate(self) -> None:
        with self.lock:
            self.generation += 1
            self.lists.clear()

    def writer_started(self) -> None:
        with self.lock:
            self.generation += 1
            self.writers_running += 1
            self.lists.clear()

    def writer_ended(self) -> None:
        with self.lock:
            self.generation += 1
            self.writers_running -= 1
            self.lists.clear()

    def settled_generation(self) -> int | None:
        """The generation, or None while a catalog writer runs."""
        with self.lock:
            return None if self.writers_running else self.generation

    def get(self, key: tuple[str, str], generation: int) -> list[IndexRow] | None:
        with self.lock:
            held = self.lists.get(key)
            if held is None or held[0] != generation or generation != self.generation:
                return None
            return held[1]

    def keep(self, key: tuple[str, str], generation: int, rows: list[IndexRow]) -> None:
        with self.lock:
            if generation == self.generation and not self.writers_running:
                self.lists[key] = (generation, rows)


@dataclass
class Statement:
    """The write statement a server thread is running: its collection, the catalog's
    generation when it began, and the index entries an update has yet to move."""

    db: str
    coll: str
    generation: int | None
    is_update: bool
    deferred_delete: tuple[int, dict[str, Any]] | None = None


class _Local(threading.local):
    statement: Statement | None = None


def install() -> bool:
    """Patch the embedded server's storage class; False (and nothing changed) on a
    version other than the one these savings were written for."""
    import secantus
    from secantus import storage

    if secantus.__version__ != SUPPORTED_VERSION:
        return False
    storage_class = storage.Storage
    if getattr(storage_class, "_helpdesk_speedups", False):
        return True
    cache = CatalogCache()
    local = _Local()
    _cache_catalog_reads(storage_class, cache, local)
    for name in CATALOG_WRITERS:
        _invalidate_around(storage_class, name, cache)
    _invalidate_on_multikey(storage_class, cache)
    for name in WRITE_STATEMENTS:
        _track_statement(storage_class, name, cache, local)
    _skip_unchanged_entries(storage_class, local)
    storage_class._helpdesk_speedups = True
    return True


def _patch(cls: type, name: str, make: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    original = getattr(cls, name)
    setattr(cls, name, functools.wraps(original)(make(original)))


def _cache_catalog_reads(cls: type, cache: CatalogCache, local: _Local) -> None:
    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def iter_indexes(self: Any, db: str, coll: str) -> Iterator[IndexRow]:
            statement = local.statement
            if (
                statement is None
                or statement.generation is None
                or (statement.db, statement.coll) != (db, coll)
                or getattr(self._tls, "user_txn", None) is not None
            ):
                return original(self, db, coll)  # type: ignore[no-any-return]
            rows = cache.get((db, coll), statement.generation)
            if rows is None:
                rows = list(original(self, db, coll))
                cache.keep((db, coll), statement.generation, rows)
            # Callers get their own dicts, as from a fresh decode.
            return iter([(name, dict(key), dict(options)) for name, key, options in rows])

        return iter_indexes

    _patch(cls, "_iter_indexes", make)


def _invalidate_around(cls: type, name: str, cache: CatalogCache) -> None:
    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def catalog_writer(self: Any, *args: Any, **kwargs: Any) -> Any:
            cache.writer_started()
            try:
                return original(self, *args, **kwargs)
            finally:
                cache.writer_ended()

        return catalog_writer

    _patch(cls, name, make)


def _invalidate_on_multikey(cls: type, cache: CatalogCache) -> None:
    """An index turning multikey rewrites its catalog row inside the update's
    transaction: invalidating then is enough, as the collection stays locked until the
    update commits, and the statement itself no longer trusts the cache (its generation
    is now behind)."""

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def mark_multikey(
            self: Any, db: str, coll: str, doc: Any, indexes: Any, already: set[str]
        ) -> set[str]:
            known = len(already)
            marked: set[str] = original(self, db, coll, doc, indexes, already)
            if len(marked) != known:
                cache.invalidate()
            return marked

        return mark_multikey

    _patch(cls, "_maybe_mark_multikey", make)


def _track_statement(cls: type, name: str, cache: CatalogCache, local: _Local) -> None:
    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def statement(self: Any, db: str, coll: str, *args: Any, **kwargs: Any) -> Any:
            outer = local.statement
            local.statement = Statement(
                db, coll, cache.settled_generation(), is_update=name in UPDATE_STATEMENTS
            )
            try:
                return original(self, db, coll, *args, **kwargs)
            finally:
                local.statement = outer

        return statement

    _patch(cls, name, make)


def _skip_unchanged_entries(cls: type, local: _Local) -> None:
    """Inside an update, the old document's index entries are deleted just before the
    new one's are written, for the same record. The delete waits for the write, which
    then moves only the entries of indexes whose keys changed. Should the statement fail
    in between, its transaction rolls back the document too."""
    delete_entries = cls._delete_index_entries  # type: ignore[attr-defined]

    def make_delete(original: Callable[..., Any]) -> Callable[..., Any]:
        def deferred_delete(
            self: Any,
            db: str,
            coll: str,
            doc: dict[str, Any],
            indexes: list[IndexSpec],
            partials: dict[str, dict[str, Any]] | None = None,
            *,
            recordid: int,
        ) -> None:
            statement = local.statement
            if (
                statement is not None
                and statement.is_update
                and (statement.db, statement.coll) == (db, coll)
                and statement.deferred_delete is None
            ):
                statement.deferred_delete = (recordid, doc)
                return
            original(self, db, coll, doc, indexes, partials, recordid=recordid)

        return deferred_delete

    def make_write(original: Callable[..., Any]) -> Callable[..., Any]:
        def write_changed(
            self: Any,
            db: str,
            coll: str,
            doc: dict[str, Any],
            indexes: list[IndexSpec],
            partials: dict[str, dict[str, Any]] | None = None,
            *,
            recordid: int,
        ) -> None:
            statement = local.statement
            deferred = statement.deferred_delete if statement is not None else None
            if statement is None or deferred is None:
                original(self, db, coll, doc, indexes, partials, recordid=recordid)
                return
            statement.deferred_delete = None
            old_recordid, old = deferred
            if old_recordid != recordid or (statement.db, statement.coll) != (db, coll):
                raise RuntimeError("an update's index entries moved out of order")
            if partials is None:
                partials = self._partial_filters(db, coll)
            changed = [ix for ix in indexes if not keeps_entries(ix, partials, old, doc)]
            if changed:
                delete_entries(self, db, coll, old, changed, partials, recordid=recordid)
                original(self, db, coll, doc, changed, partials, recordid=recordid)

        return write_changed

    _patch(cls, "_delete_index_entries", make_delete)
    _patch(cls, "_write_index_entries", make_write)


def keeps_entries(
    index: IndexSpec, partials: Mapping[str, Any], old: Mapping[str, Any], new: Mapping[str, Any]
) -> bool:
    """True when `new` has exactly the entries `old` had in `index`: a plain index
    (every field ascending or descending, no partial filter) over fields whose values,
    compared as BSON, did not change."""
    from secantus.paths import get_path_values

    name, key_spec, _sparse, _unique = index
    if name in partials:
        return False
    for path, direction in key_spec.items():
        if "$" in path or isinstance(direction, bool) or direction not in (1, -1):
            return False
        if _as_bson(get_path_values(old, path)) != _as_bson(get_path_values(new, path)):
            return False
    return True


def _as_bson(values: tuple[list[Any], bool]) -> bytes:
    found, through_array = values
    return bson.encode({"v": found, "a": through_array})
