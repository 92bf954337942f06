"""Bookkeeping drained many tickets at a time: one job however many changes, nothing lost."""

from __future__ import annotations

import pytest
from rq import Queue

from jobs import drain as drain_module
from jobs.dispatch import QueueDispatcher, drain_flag, owing
from jobs.drain import drain
from jobs.effects import CORE_BATCH_HANDLERS
from jobs.runtime import Claimed, Runtime
from jobs.sweeper import sweep
from tests.conftest import FakeClock, run_jobs
from ticketcore.effects import CORE_KINDS, PLAYER_SYNC, EffectTable
from ticketcore.models import Channel, Player
from ticketcore.outbox import HISTORY_STORE, backoff
from ticketcore.store import Document


def open_tickets(runtime: Runtime, count: int) -> list[int]:
    return [
        runtime.service.open_ticket(
            player=Player(player_id=f"p-{n}"), channel=Channel.API, text=f"help {n}"
        ).number
        for n in range(count)
    ]


def drains_queued(queue: Queue) -> list[tuple[str, ...]]:
    return [job.args for job in queue.jobs if job.func_name == "jobs.drain.drain"]


def owed(runtime: Runtime, kind: str) -> list[Document]:
    return [
        record
        for ticket in runtime.store.tickets.find()
        for record in ticket.get("outbox", [])
        if record["kind"] == kind
    ]


def test_a_burst_of_changes_queues_one_drain_per_kind_and_it_does_them_all(
    runtime: Runtime, queue: Queue
) -> None:
    open_tickets(runtime, 5)

    assert sorted(drains_queued(queue)) == [(HISTORY_STORE,), ("player.sync",)]
    run_jobs(queue)

    assert runtime.store.history.count_documents({"event": "ticket.created"}) == 5
    assert runtime.store.players.count_documents({}) == 5
    assert owed(runtime, HISTORY_STORE) == owed(runtime, "player.sync") == []


def test_bookkeeping_drains_wait_a_moment_so_a_burst_is_one_round(
    runtime: Runtime, queue: Queue
) -> None:
    runtime.service.dispatcher = QueueDispatcher(
        queue, EffectTable.of(CORE_KINDS).delays, drained=frozenset(CORE_BATCH_HANDLERS)
    )
    open_tickets(runtime, 5)

    assert drains_queued(queue) == []  # nothing at once: each change would be a round
    registry = queue.scheduled_job_registry
    waiting = {job.args[0]: job for job in map(queue.fetch_job, registry.get_job_ids())}
    assert sorted(waiting) == [HISTORY_STORE, PLAYER_SYNC]
    history_at = registry.get_scheduled_time(waiting[HISTORY_STORE])
    assert history_at < registry.get_scheduled_time(waiting[PLAYER_SYNC])
    run_jobs(queue, scheduled=True)

    assert waiting[HISTORY_STORE].return_value() == 5  # the burst, in one round
    assert runtime.store.history.count_documents({"event": "ticket.created"}) == 5
    assert runtime.store.players.count_documents({}) == 5


def test_a_change_stored_once_a_drain_has_started_queues_the_next(
    runtime: Runtime, queue: Queue
) -> None:
    open_tickets(runtime, 1)
    queue.empty()  # the drain below is that job, taken by a worker
    assert drain(HISTORY_STORE) == 1

    runtime.service.open_ticket(player=Player(player_id="late"), channel=Channel.API, text="hi")

    assert drains_queued(queue).count((HISTORY_STORE,)) == 1
    run_jobs(queue)
    assert runtime.store.history.count_documents({"event": "ticket.created"}) == 2


def test_a_drain_goes_on_while_rounds_come_back_full(
    runtime: Runtime, queue: Queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(drain_module, "BATCH", 2)
    open_tickets(runtime, 5)

    assert drain(HISTORY_STORE) == 5  # rounds of 2, 2 and 1
    assert owed(runtime, HISTORY_STORE) == []


def test_a_drain_past_its_time_leaves_the_rest_to_a_successor_behind_the_queue(
    runtime: Runtime, queue: Queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(drain_module, "BATCH", 2)
    monkeypatch.setattr(drain_module, "BUDGET", -1.0)  # every round is past it
    open_tickets(runtime, 5)
    queue.empty()

    assert drain(HISTORY_STORE) == 2
    assert len(owed(runtime, HISTORY_STORE)) == 3
    assert drains_queued(queue) == [(HISTORY_STORE,)]


def test_a_failed_batch_is_retried_record_by_record_on_their_backoff(
    runtime: Runtime, queue: Queue, clock: FakeClock
) -> None:
    stored = runtime.batch_handlers[HISTORY_STORE]

    def far_end_down(rt: Runtime, claimed: Claimed) -> None:
        raise RuntimeError("the history is unwritable")

    runtime.batch_handlers[HISTORY_STORE] = far_end_down
    open_tickets(runtime, 2)
    run_jobs(queue)

    records = owed(runtime, HISTORY_STORE)
    assert [r["attempts"] for r in records] == [1, 1]
    assert {r["due_at"] for r in records} == {clock.now + backoff(1)}
    assert {r["last_error"] for r in records} == {"RuntimeError: the history is unwritable"}
    assert all(r["lease"] is None for r in records)

    runtime.batch_handlers[HISTORY_STORE] = stored
    assert drain(HISTORY_STORE) == 0, "not before their retry is due"
    clock.advance(seconds=backoff(1).total_seconds() + 31)  # due, and past the grace
    assert sweep() == 2
    run_jobs(queue)
    assert owed(runtime, HISTORY_STORE) == []
    assert runtime.store.history.count_documents({"event": "ticket.created"}) == 2


def test_a_lost_drain_is_replaced_by_the_sweeper_though_its_flag_stayed(
    runtime: Runtime, queue: Queue, clock: FakeClock
) -> None:
    open_tickets(runtime, 2)
    queue.empty()  # the job is gone; its flag says one is on its way
    assert queue.connection.exists(drain_flag(HISTORY_STORE))

    clock.advance(seconds=31)
    sweep()
    run_jobs(queue)

    assert owed(runtime, HISTORY_STORE) == []


def test_tickets_the_drain_was_not_told_of_are_named_again_by_the_sweeper(
    runtime: Runtime, queue: Queue, clock: FakeClock
) -> None:
    open_tickets(runtime, 3)
    queue.connection.delete(owing(HISTORY_STORE))  # Redis lost them, or a drain died with them
    assert drain(HISTORY_STORE) == 0
    assert len(owed(runtime, HISTORY_STORE)) == 3

    clock.advance(seconds=31)
    sweep()
    run_jobs(queue)

    assert owed(runtime, HISTORY_STORE) == []
    assert runtime.store.history.count_documents({"event": "ticket.created"}) == 3


def test_a_drain_takes_only_the_tickets_that_owe_its_kind(runtime: Runtime, queue: Queue) -> None:
    open_tickets(runtime, 2)
    assert queue.connection.scard(owing(HISTORY_STORE)) == 2
    assert queue.connection.scard(owing("search.index")) == 0  # not subscribed here

    assert drain(HISTORY_STORE) == 2
    assert queue.connection.scard(owing(HISTORY_STORE)) == 0


def test_two_drains_at_once_never_carry_out_the_same_effect(
    runtime: Runtime, clock: FakeClock
) -> None:
    open_tickets(runtime, 3)
    tickets = [str(doc["_id"]) for doc in runtime.store.tickets.find()]

    first = runtime.outbox.claim_due(HISTORY_STORE, clock(), tickets)
    second = runtime.outbox.claim_due(HISTORY_STORE, clock(), tickets)

    assert len(first) == 3 and all(len(records) == 1 for _, records in first)
    assert second == []
