"""The embedded server's update savings keep every index exactly as a rebuild makes it.

These tests run a server in this process, to read its index tables directly: the entries
an update left behind must be the ones a fresh build of the same index writes.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
from collections.abc import Iterator
from typing import Any

import pymongo
import pytest
import secantus
from pymongo.errors import DuplicateKeyError
from secantus import SecantusDBServer, storage

from embedded import speedups

DB = "speedups"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecantusDBServer]:
    assert speedups.install()
    server = SecantusDBServer(
        storage_path=str(tmp_path_factory.mktemp("speedups")), replica_set_name=None
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture
def client(server: SecantusDBServer) -> Iterator[pymongo.MongoClient[dict[str, Any]]]:
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(server.uri)
    client.drop_database(DB)
    yield client
    client.close()


def index_tables(server: SecantusDBServer, coll: str) -> tuple[set[Any], set[Any]]:
    """Every index entry and every unique-key claim the collection holds."""
    store = server.storage
    store._refresh_read_snapshot()
    entries = {key for key, _ in store._collect_prefix(storage._IDX_ENTRIES_TABLE, (DB, coll))}
    claims = set(store._collect_prefix(storage._UNIQ_TABLE, (DB, coll)))
    return entries, claims


def rebuilt_tables(
    server: SecantusDBServer, collection: pymongo.collection.Collection[dict[str, Any]]
) -> tuple[set[Any], set[Any]]:
    """The same tables after dropping every index and building it again from the
    documents."""
    for name, info in collection.index_information().items():
        if name == "_id_":
            continue
        options = {k: v for k, v in info.items() if k in ("unique", "sparse")}
        if "partialFilterExpression" in info:
            options["partialFilterExpression"] = info["partialFilterExpression"]
        collection.drop_index(name)
        collection.create_index(info["key"], name=name, **options)
    return index_tables(server, collection.name)


VALUES: list[Any] = [
    None,
    0,
    1,
    1.0,
    True,
    False,
    "1",
    "open",
    "closed",
    dt.datetime(2026, 1, 1),
    dt.datetime(2026, 1, 2),
    {"by": "U1"},
    {"by": "U2", "at": 1},
    [],
    [1, 2],
    ["a", "a", "b"],
    [{"by": "U1"}, {"by": "U2"}],
]
FIELDS = ["status", "number", "player.id", "player.email", "tags", "replies", "due", "other"]


def random_update(rng: random.Random) -> dict[str, Any]:
    update: dict[str, Any] = {}
    for _ in range(rng.randint(1, 3)):
        field = rng.choice(FIELDS)
        if any(field in ops for ops in update.values()):
            continue
        operator = rng.choice(["$set", "$set", "$set", "$unset", "$push", "$pull", "$inc"])
        if operator == "$set":
            update.setdefault("$set", {})[field] = rng.choice(VALUES)
        elif operator == "$unset":
            update.setdefault("$unset", {})[field] = ""
        elif operator == "$push" and field in ("tags", "replies"):
            update.setdefault("$push", {})[field] = rng.choice(VALUES)
        elif operator == "$pull" and field in ("tags", "replies"):
            update.setdefault("$pull", {})[field] = rng.choice(VALUES)
        elif field == "number":
            update.setdefault("$inc", {})[field] = rng.choice([1, -1, 0.5])
    update.setdefault("$set", {})["other"] = rng.random()
    return update


def play(
    rng: random.Random, collection: pymongo.collection.Collection[dict[str, Any]], rounds: int
) -> None:
    for step in range(rounds):
        which = {"_id": rng.randrange(40)}
        action = rng.random()
        try:
            if action < 0.15:
                collection.insert_one(
                    {**which, "status": rng.choice(VALUES), "mail_ids": [f"m{rng.randrange(60)}"]}
                )
            elif action < 0.2:
                collection.delete_one(which)
            elif action < 0.25:
                collection.update_many(
                    {"status": rng.choice(VALUES)}, {"$set": {"due": rng.choice(VALUES)}}
                )
            elif action < 0.3:
                mail = f"m{rng.randrange(60)}"
                collection.update_one(which, {"$addToSet": {"mail_ids": mail}})
            elif action < 0.33:
                collection.replace_one(which, {"status": rng.choice(VALUES), "n": step})
            elif action < 0.45:
                change_outbox(rng, collection, which, step)
            else:
                collection.update_one(which, random_update(rng), upsert=rng.random() < 0.1)
        except (DuplicateKeyError, pymongo.errors.WriteError):
            pass  # refused writes must leave the indexes as they were, too


def change_outbox(
    rng: random.Random,
    collection: pymongo.collection.Collection[dict[str, Any]],
    which: dict[str, Any],
    step: int,
) -> None:
    """What the outbox does to a ticket: owe an effect, lease one (its due time moves,
    through an array filter), drop one delivered."""
    key = f"k{rng.randrange(6)}"
    action = rng.random()
    if action < 0.4:
        record = {"key": f"{key}-{step}", "due": rng.choice(VALUES), "kind": key}
        collection.update_one(which, {"$push": {"outbox": record}})
    elif action < 0.8:
        collection.update_one(
            which,
            {"$set": {"outbox.$[e].due": rng.choice(VALUES)}, "$inc": {"outbox.$[e].n": 1}},
            array_filters=[{"e.kind": key}],
        )
    else:
        collection.update_one(which, {"$pull": {"outbox": {"kind": key}}})


def make_indexes(collection: pymongo.collection.Collection[dict[str, Any]]) -> None:
    collection.create_index([("status", 1), ("number", -1)])
    collection.create_index([("player.id", 1), ("number", -1)])
    collection.create_index([("player.email", 1)], sparse=True)
    collection.create_index([("tags", 1)])
    collection.create_index([("replies.by", 1), ("due", 1)])
    collection.create_index([("outbox.due", 1)])
    collection.create_index([("outbox.kind", 1), ("status", -1)], sparse=True)
    collection.create_index([("mail_ids", 1)], unique=True, sparse=True)
    collection.create_index(
        [("due", 1)], name="due_when_open", partialFilterExpression={"status": "open"}
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_updates_leave_the_entries_a_rebuild_makes(
    server: SecantusDBServer, client: pymongo.MongoClient[dict[str, Any]], seed: int
) -> None:
    collection = client[DB]["tickets"]
    make_indexes(collection)
    rng = random.Random(seed)
    play(rng, collection, 300)
    # The catalog changes under the cached lists: a new index, a dropped one.
    collection.create_index([("other", 1), ("status", 1)], name="late")
    play(rng, collection, 150)
    collection.drop_index("tags_1")
    play(rng, collection, 150)

    left_behind = index_tables(server, "tickets")
    assert left_behind[0], "the play wrote no entries"
    assert left_behind == rebuilt_tables(server, collection)


def test_an_index_created_by_another_connection_binds_the_next_update(
    server: SecantusDBServer, client: pymongo.MongoClient[dict[str, Any]]
) -> None:
    collection = client[DB]["tickets"]
    collection.create_index([("number", 1)])
    collection.insert_many([{"_id": 1, "ref": "a"}, {"_id": 2, "ref": "b"}])
    for n in range(20):  # the catalog is now cached for this collection's updates
        collection.update_one({"_id": 1}, {"$set": {"number": n}})

    def create_elsewhere() -> None:
        with pymongo.MongoClient(server.uri) as other:
            other[DB]["tickets"].create_index([("ref", 1)], unique=True, name="one_ref")

    created = threading.Thread(target=create_elsewhere)
    created.start()
    created.join()
    with pytest.raises(DuplicateKeyError):
        collection.update_one({"_id": 2}, {"$set": {"ref": "a"}})

    collection.drop_index("one_ref")
    collection.update_one({"_id": 2}, {"$set": {"ref": "a"}})
    assert collection.count_documents({"ref": "a"}) == 2


def test_unique_values_an_update_gives_up_are_free_for_others(
    client: pymongo.MongoClient[dict[str, Any]],
) -> None:
    collection = client[DB]["tickets"]
    collection.create_index([("mail_ids", 1)], unique=True, sparse=True)
    collection.insert_many([{"_id": 1, "mail_ids": ["a"]}, {"_id": 2, "mail_ids": ["b"]}])
    collection.update_one({"_id": 1}, {"$set": {"other": 1}})  # keeps "a"
    with pytest.raises(DuplicateKeyError):
        collection.update_one({"_id": 2}, {"$push": {"mail_ids": "a"}})

    collection.update_one({"_id": 1}, {"$set": {"mail_ids": ["c"]}})
    collection.update_one({"_id": 2}, {"$push": {"mail_ids": "a"}})
    assert collection.find_one({"mail_ids": "a"}, {"_id": 1}) == {"_id": 2}


def test_a_field_turning_into_an_array_is_still_found_by_its_elements(
    client: pymongo.MongoClient[dict[str, Any]],
) -> None:
    collection = client[DB]["tickets"]
    collection.create_index([("tags", 1)])
    collection.insert_many([{"_id": n, "tags": f"t{n}"} for n in range(5)])
    for n in range(5):
        collection.update_one({"tags": f"t{n}"}, {"$set": {"seen": True}})
    collection.update_one({"_id": 3}, {"$set": {"tags": ["x", "t3"]}})

    collection.update_many({"tags": "t3"}, {"$set": {"found": True}})
    assert [d["_id"] for d in collection.find({"found": True})] == [3]
    assert [d["_id"] for d in collection.find({"tags": "x"})] == [3]


def test_the_savings_are_written_for_the_pinned_server_version(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert secantus.__version__ == speedups.SUPPORTED_VERSION
    monkeypatch.setattr(secantus, "__version__", "0.8.0")
    assert speedups.install() is False


@pytest.fixture
def second_server(tmp_path: Any) -> Iterator[SecantusDBServer]:
    server = SecantusDBServer(storage_path=str(tmp_path / "second"), replica_set_name=None)
    server.start()
    yield server
    server.stop()


def test_two_servers_in_one_process_keep_caches_of_their_own(
    server: SecantusDBServer,
    second_server: SecantusDBServer,
    client: pymongo.MongoClient[dict[str, Any]],
) -> None:
    """Same database, same collection, different indexes and settings: neither server
    may act on what the other cached."""
    with pymongo.MongoClient(second_server.uri) as other_client:
        here, there = client[DB], other_client[DB]
        here["tickets"].create_index([("ref", 1)], unique=True)
        there["tickets"].insert_many([{"_id": 1, "ref": "a"}, {"_id": 2, "ref": "b"}])
        here["tickets"].insert_many([{"_id": 1, "ref": "a"}, {"_id": 2, "ref": "b"}])
        for n in range(5):  # both servers now hold the collection's catalog
            here["tickets"].update_one({"_id": 1}, {"$set": {"n": n}})
            there["tickets"].update_one({"_id": 1}, {"$set": {"n": n}})

        there["tickets"].update_one({"_id": 2}, {"$set": {"ref": "a"}})
        with pytest.raises(DuplicateKeyError):
            here["tickets"].update_one({"_id": 2}, {"$set": {"ref": "a"}})

        here.command("profile", 0, slowms=7)
        there.command("profile", 0, slowms=300)
        assert here.command("profile", -1)["slowms"] == 7
        assert there.command("profile", -1)["slowms"] == 300
        other_client.drop_database(DB)


def test_profiling_settings_read_after_a_change_are_the_new_ones(
    client: pymongo.MongoClient[dict[str, Any]],
) -> None:
    database = client[DB]
    for slowms in (5, 50, 500):
        database.command("profile", 0, slowms=slowms)
        for _ in range(3):  # each command reads the settings: the cached ones from now on
            assert database.command("profile", -1)["slowms"] == slowms
