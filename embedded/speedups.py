"""Savings for the embedded MongoDB-wire server's commands, installed in its process.

A SecantusDB update reads the collection's index definitions from the catalog and decodes
them several times over (two fifths of an update's time on the tickets, with their 17
indexes), then deletes and rewrites every entry the document has in every index, though
most updates change one or two indexed fields; and every command reads the database's
profiling settings from disk. All of it is pure overhead for a helpdesk, whose indexes
change only when a process starts and which never profiles:

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
  mean equal entries. An index that did change, and holds no unique values, moves only
  the entries of the keys that came or went: on the outbox's due times, an array that
  grows with a ticket's backlog, a lease changes one key of many.
- **The profiling settings are cached per database**, and `set_profile` invalidates them
  the same way.

Caches belong to the server's storage object, never shared between two servers in one
process. All of it reaches into the server's private methods, so it installs only on the
version it was written against (the one `pyproject.toml` pins) and leaves any other
untouched.
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
class SettledCache:
    """Values read from the server's own tables (index definitions per collection,
    profiling settings per database), valid while `generation` stands still: every writer
    of those tables moves it when it starts and when it ends."""

    generation: int = 0
    writers_running: int = 0
    lists: dict[tuple[str, ...], tuple[int, Any]] = field(default_factory=dict)
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

    def get(self, key: tuple[str, ...], generation: int) -> Any:
        with self.lock:
            held = self.lists.get(key)
            if held is None or held[0] != generation or generation != self.generation:
                return None
            return held[1]

    def keep(self, key: tuple[str, ...], generation: int, value: Any) -> None:
        with self.lock:
            if generation == self.generation and not self.writers_running:
                self.lists[key] = (generation, value)


@dataclass
class Caches:
    """One server's caches."""

    catalog: SettledCache = field(default_factory=SettledCache)
    profiles: SettledCache = field(default_factory=SettledCache)


_caches_made = threading.Lock()


def caches_of(server_storage: Any) -> Caches:
    """The caches of this storage object, made on first use."""
    caches = server_storage.__dict__.get("_helpdesk_caches")
    if caches is None:
        with _caches_made:
            caches = server_storage.__dict__.setdefault("_helpdesk_caches", Caches())
    return caches  # type: ignore[no-any-return]


@dataclass
class Statement:
    """The write statement a server thread is running: its collection, the catalog's
    generation when it began, and the index entries an update has yet to move."""

    db: str
    coll: str
    catalog: SettledCache
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
    local = _Local()
    _cache_catalog_reads(storage_class, local)
    for name in CATALOG_WRITERS:
        _invalidate_around(storage_class, name, lambda caches: caches.catalog)
    _invalidate_on_multikey(storage_class)
    for name in WRITE_STATEMENTS:
        _track_statement(storage_class, name, local)
    _skip_unchanged_entries(storage_class, local)
    _cache_profile_settings(storage_class)
    storage_class._helpdesk_speedups = True
    return True


def _patch(cls: type, name: str, make: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    original = getattr(cls, name)
    setattr(cls, name, functools.wraps(original)(make(original)))


def _cache_catalog_reads(cls: type, local: _Local) -> None:
    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def iter_indexes(self: Any, db: str, coll: str) -> Iterator[IndexRow]:
            statement = local.statement
            if (
                statement is None
                or statement.generation is None
                or (statement.db, statement.coll) != (db, coll)
                or statement.catalog is not caches_of(self).catalog
                or getattr(self._tls, "user_txn", None) is not None
            ):
                return original(self, db, coll)  # type: ignore[no-any-return]
            cache = statement.catalog
            rows: list[IndexRow] | None = cache.get((db, coll), statement.generation)
            if rows is None:
                rows = list(original(self, db, coll))
                cache.keep((db, coll), statement.generation, rows)
            # Callers get their own dicts, as from a fresh decode.
            return iter([(name, dict(key), dict(options)) for name, key, options in rows])

        return iter_indexes

    _patch(cls, "_iter_indexes", make)


def _invalidate_around(cls: type, name: str, which: Callable[[Caches], SettledCache]) -> None:
    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def catalog_writer(self: Any, *args: Any, **kwargs: Any) -> Any:
            cache = which(caches_of(self))
            cache.writer_started()
            try:
                return original(self, *args, **kwargs)
            finally:
                cache.writer_ended()

        return catalog_writer

    _patch(cls, name, make)


def _invalidate_on_multikey(cls: type) -> None:
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
                caches_of(self).catalog.invalidate()
            return marked

        return mark_multikey

    _patch(cls, "_maybe_mark_multikey", make)


def _track_statement(cls: type, name: str, local: _Local) -> None:
    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def statement(self: Any, db: str, coll: str, *args: Any, **kwargs: Any) -> Any:
            outer = local.statement
            catalog = caches_of(self).catalog
            local.statement = Statement(
                db,
                coll,
                catalog,
                catalog.settled_generation(),
                is_update=name in UPDATE_STATEMENTS,
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
            if not changed:
                return
            options = self._index_options_map(db, coll)
            whole: list[IndexSpec] = []
            by_key: list[IndexSpec] = []
            for index in changed:
                (by_key if moves_by_key(index, partials, options) else whole).append(index)
            if whole:
                delete_entries(self, db, coll, old, whole, partials, recordid=recordid)
                original(self, db, coll, doc, whole, partials, recordid=recordid)
            if by_key:
                move_changed_keys(self, db, coll, old, doc, by_key, options, recordid)

        return write_changed

    _patch(cls, "_delete_index_entries", make_delete)
    _patch(cls, "_write_index_entries", make_write)


def moves_by_key(index: IndexSpec, partials: Mapping[str, Any], options: Mapping[str, Any]) -> bool:
    """Whether an index's entries are one per key and nothing else: no unique claims to
    hand over, no partial filter that decides whether the document has entries at all,
    and no geo cells."""
    from secantus.storage import _geo_type_of

    name, key_spec, _sparse, unique = index
    return not (
        unique
        or options.get(name, {}).get("prepareUnique")
        or name in partials
        or _geo_type_of(key_spec) is not None
    )


def move_changed_keys(
    server_storage: Any,
    db: str,
    coll: str,
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    indexes: list[IndexSpec],
    options: Mapping[str, Any],
    recordid: int,
) -> None:
    """Delete the entries of the keys `old` had and `new` has not, and write those `new`
    brought: the end state of deleting them all and writing them again."""
    from secantus.storage import (
        _IDX_ENTRIES_TABLE,
        _index_key_variants,
        _pack_entry,
        _parse_index_collation,
    )

    cursor = server_storage._cursor(_IDX_ENTRIES_TABLE)
    for name, key_spec, sparse, _unique in indexes:
        collation = _parse_index_collation(options.get(name, {}).get("collation"))
        before = set(_index_key_variants(old, key_spec, sparse=sparse, collation=collation))
        after = set(_index_key_variants(new, key_spec, sparse=sparse, collation=collation))
        for key in before - after:
            cursor.reset()
            cursor.set_key(db, coll, name, _pack_entry(key, recordid))
            if cursor.search() == 0:
                cursor.remove()
        for key in after - before:
            cursor.reset()
            cursor[db, coll, name, _pack_entry(key, recordid)] = b""


def _cache_profile_settings(cls: type) -> None:
    """Every command reads its database's profiling settings; they change only through
    `set_profile`."""

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def get_profile(self: Any, db: str) -> dict[str, Any]:
            cache = caches_of(self).profiles
            generation = cache.settled_generation()
            if generation is not None:
                held = cache.get((db,), generation)
                if held is not None:
                    return dict(held)
            settings: dict[str, Any] = original(self, db)
            if generation is not None:
                cache.keep((db,), generation, dict(settings))
            return settings

        return get_profile

    _patch(cls, "get_profile", make)
    _invalidate_around(cls, "set_profile", lambda caches: caches.profiles)


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
