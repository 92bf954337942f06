"""Effects owed by a change are delivered exactly once, whatever dies in between."""

import email
import time
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError
from rq import Queue

from helpdesk.settings import Settings
from jobs.deliver import deliver
from jobs.runtime import Runtime
from jobs.sweeper import BACKLOG_JOBS, sweep
from tests.conftest import AGENT, PLAYER, FakeClock, run_jobs
from ticketcore.models import Channel, Player, Ticket
from ticketcore.outbox import BACKOFF, MAX_ATTEMPTS, Outbox, Owed
from ticketcore.service import TicketService


def pending(service: TicketService) -> list[str]:
    return [r["kind"] for t in service.store.tickets.find() for r in t.get("outbox", [])]


def mails(directory: Path) -> list[email.message.Message]:
    return [email.message_from_bytes(p.read_bytes()) for p in sorted(directory.glob("*.eml"))]


def test_a_reply_is_mailed_once_and_the_outbox_drains(
    runtime: Runtime, queue: Queue, mail_dir: Path
) -> None:
    service = runtime.service
    number = service.add_player_message(player=PLAYER, channel=Channel.API, text="help").number
    service.reply(number, actor=AGENT, text="Here is your answer")
    assert "reply.deliver" in pending(service)
    run_jobs(queue)
    assert pending(service) == []
    [mail] = mails(mail_dir)
    assert mail["To"] == "gamer@example.com"
    assert mail["Subject"] == f"Re: [#{number}] help"
    text, html = (part.get_payload(decode=True).decode() for part in mail.get_payload())
    assert "Here is your answer" in text and "Here is your answer" in html
    reply = service.messages(service.get(number)).items[-1]
    stored = service.store.history.find_one({"_id": reply.id})
    assert stored["delivery"]["message_id"] == mail["Message-ID"]
    assert stored["message"]["text"] == "Here is your answer"


def test_the_player_directory_follows_tickets(runtime: Runtime, queue: Queue) -> None:
    runtime.service.add_player_message(player=PLAYER, channel=Channel.API, text="help")
    run_jobs(queue)
    player = runtime.store.players.find_one({"player_id": "p-1001"})
    assert player["email"] == "gamer@example.com"


def test_lost_jobs_are_found_by_the_sweeper(
    runtime: Runtime, queue: Queue, clock: FakeClock, mail_dir: Path
) -> None:
    service = runtime.service
    number = service.add_player_message(player=PLAYER, channel=Channel.API, text="help").number
    service.reply(number, actor=AGENT, text="answer")
    queue.connection.flushall()  # Redis lost every queued job
    assert sweep() == 0, "fresh effects are left to their own job during the grace period"
    clock.advance(seconds=31)
    assert sweep() == len(pending(service)) > 0
    run_jobs(queue)
    assert pending(service) == []
    assert len(mails(mail_dir)) == 1


def test_the_sweeper_leaves_a_backlogged_queue_alone_until_it_drains(
    runtime: Runtime, queue: Queue, clock: FakeClock, mail_dir: Path
) -> None:
    service = runtime.service
    number = service.add_player_message(player=PLAYER, channel=Channel.API, text="help").number
    service.reply(number, actor=AGENT, text="answer")
    queue.connection.flushall()  # the jobs are lost...
    reply_queue = runtime.queue_for("reply.deliver")
    for _ in range(BACKLOG_JOBS + 1):  # ...and the workers are far behind on others
        reply_queue.enqueue("jobs.deliver.deliver", "no-such-ticket", [])
    clock.advance(seconds=31)
    sweep()
    assert "reply.deliver" in pending(service)
    assert reply_queue.count == BACKLOG_JOBS + 1, "no copy joins the backlog"
    reply_queue.empty()  # the backlog drains; what is still overdue was really lost
    clock.advance(seconds=31)
    assert sweep() > 0
    run_jobs(queue)
    assert pending(service) == []
    assert len(mails(mail_dir)) == 1


def owed_reply(service: TicketService, ticket: Ticket) -> Owed:
    """The ticket's owed reply delivery."""
    [record] = [
        r
        for r in service.store.tickets.find_one({"number": ticket.number})["outbox"]
        if r["kind"] == "reply.deliver"
    ]
    return Owed(ticket.id, record["key"])


def test_a_worker_that_died_mid_effect_is_replaced_after_its_lease(
    runtime: Runtime, queue: Queue, clock: FakeClock, mail_dir: Path
) -> None:
    service = runtime.service
    number = service.add_player_message(player=PLAYER, channel=Channel.API, text="help").number
    ticket = service.reply(number, actor=AGENT, text="answer")
    queue.empty()
    owed = owed_reply(service, ticket)
    # A worker claims the effect, sends the mail, then dies before recording it.
    claimed = runtime.outbox.claim(owed, clock())
    assert claimed is not None
    runtime.handlers["reply.deliver"](runtime, *claimed)
    assert deliver(ticket.id, [owed.key]) == {owed.key: "not due"}, "the lease keeps others off"
    clock.advance(seconds=runtime.outbox.lease.total_seconds() + 31)
    sweep()
    run_jobs(queue)
    assert pending(service) == []
    assert len(mails(mail_dir)) == 1, "the re-run recognised the mail it had already sent"


def test_running_the_same_delivery_twice_sends_once(
    runtime: Runtime, queue: Queue, mail_dir: Path
) -> None:
    service = runtime.service
    number = service.add_player_message(player=PLAYER, channel=Channel.API, text="help").number
    ticket = service.reply(number, actor=AGENT, text="answer")
    keys = [r["key"] for r in service.store.tickets.find_one({"number": number})["outbox"]]
    first = deliver(ticket.id, keys)
    second = deliver(ticket.id, keys)
    assert set(first.values()) == {"done"}
    assert set(second.values()) == {"not due"}
    assert len(mails(mail_dir)) == 1


def test_a_failing_effect_backs_off_and_is_retried(
    runtime: Runtime, queue: Queue, clock: FakeClock, mail_dir: Path
) -> None:
    service = runtime.service
    ticket = service.add_player_message(
        player=Player(telegram_user_id=42), channel=Channel.TELEGRAM, text="hi"
    )
    service.reply(ticket.number, actor=AGENT, text="answer")
    run_jobs(queue)
    [record] = service.store.tickets.find_one({"number": ticket.number})["outbox"]
    assert record["kind"] == "reply.deliver"
    assert "replies on telegram are not configured" in record["last_error"]
    assert record["due_at"] > clock()
    # The channel gets configured; the next retry after the backoff delivers it.
    sent: list[str] = []
    runtime.reply_routes[Channel.TELEGRAM] = lambda rt, t, entry: sent.append(entry.id) or None
    clock.advance(minutes=2)
    sweep()
    run_jobs(queue)
    assert len(sent) == 1
    assert pending(service) == []


def test_messages_are_readable_at_once_and_stored_by_the_worker(
    runtime: Runtime, queue: Queue
) -> None:
    service = runtime.service
    number = service.add_player_message(player=PLAYER, channel=Channel.API, text="help").number
    service.add_player_message(player=PLAYER, channel=Channel.API, text="second message")
    # The history still rides in the ticket's outbox: nothing can lose it, readers see it.
    assert service.store.history.count_documents({}) == 0
    texts = [m.message.text for m in service.messages(service.get(number)).items if m.message]
    assert texts == ["help", "second message"]
    run_jobs(queue)
    assert service.store.history.count_documents({}) == 2
    assert pending(service) == []
    again = [m.message.text for m in service.messages(service.get(number)).items if m.message]
    assert again == texts


def test_dead_effects_are_counted(runtime: Runtime, queue: Queue, clock: FakeClock) -> None:
    service = runtime.service
    ticket = service.add_player_message(
        player=Player(telegram_user_id=42), channel=Channel.TELEGRAM, text="hi"
    )
    service.reply(ticket.number, actor=AGENT, text="answer")
    run_jobs(queue)
    for _ in range(20):
        clock.advance(hours=2)
        sweep()
        run_jobs(queue)
    assert runtime.outbox.counts() == {"pending": 0, "dead": 1}


def test_a_reply_delivered_before_its_history_is_stored_keeps_both(
    runtime: Runtime, mail_dir: Path
) -> None:
    service = runtime.service
    number = service.add_player_message(player=PLAYER, channel=Channel.API, text="help").number
    ticket = service.reply(number, actor=AGENT, text="answer")
    records = service.store.tickets.find_one({"number": number})["outbox"]
    by_kind = {r["kind"]: r["key"] for r in records if r["entry_id"] == records[-1]["entry_id"]}
    assert deliver(ticket.id, [by_kind["reply.deliver"]]) == {by_kind["reply.deliver"]: "done"}
    assert deliver(ticket.id, [by_kind["history.store"]]) == {by_kind["history.store"]: "done"}
    stored = service.store.history.find_one({"message.kind": "reply"})
    assert stored["message"]["text"] == "answer"
    assert stored["delivery"]["channel"] == "email"


def test_a_batch_claim_leases_only_what_is_due_and_not_leased(
    runtime: Runtime, clock: FakeClock
) -> None:
    service = runtime.service
    ticket = service.add_player_message(player=PLAYER, channel=Channel.API, text="help")
    service.reply(ticket.number, actor=AGENT, text="answer")
    keys = [r["key"] for r in service.store.tickets.find_one({"number": ticket.number})["outbox"]]
    first = runtime.outbox.claim_many(ticket.id, keys[:2], clock())
    second = runtime.outbox.claim_many(ticket.id, keys, clock())
    assert first is not None and second is not None
    assert {r["key"] for r in first[1]} == set(keys[:2])
    assert {r["key"] for r in second[1]} == set(keys[2:]), "the first two are leased already"
    assert runtime.outbox.claim_many(ticket.id, keys, clock()) is None
    assert all(r["attempts"] == 1 for r in first[1] + second[1])


def test_dead_effects_are_listed_and_revived_by_the_operator(
    runtime: Runtime, queue: Queue, clock: FakeClock, mail_dir: Path
) -> None:
    service = runtime.service
    number = service.add_player_message(player=PLAYER, channel=Channel.API, text="help").number
    service.reply(number, actor=AGENT, text="answer")
    doc = runtime.store.tickets.find_one({"number": number})
    [reply] = [r for r in doc["outbox"] if r["kind"] == "reply.deliver"]
    owed = Owed(str(doc["_id"]), reply["key"])
    assert runtime.outbox.fail(owed, MAX_ATTEMPTS, "SMTPServerDisconnected: gone", clock())
    run_jobs(queue)
    assert mails(mail_dir) == []  # a dead effect is not tried again by itself

    [dead] = runtime.outbox.dead()
    assert (dead["number"], dead["kind"]) == (number, "reply.deliver")
    assert dead["last_error"].startswith("SMTPServerDisconnected")
    assert runtime.outbox.revive(clock(), kind="player.sync") == 0  # another kind: untouched
    assert runtime.outbox.revive(clock(), kind="reply.deliver") == 1
    assert runtime.outbox.dead() == []
    clock.advance(seconds=31)
    sweep()
    run_jobs(queue)
    assert len(mails(mail_dir)) == 1
    assert runtime.outbox.counts()["dead"] == 0


def test_retry_delays_come_from_the_settings_and_the_last_repeats(
    service: TicketService, clock: FakeClock
) -> None:
    delays = Settings(_env_file=None, outbox_backoff="1, 2,4").retry_delays()
    assert delays == tuple(timedelta(seconds=s) for s in (1, 2, 4))
    assert Settings(_env_file=None).retry_delays() == ()  # unset: the outbox's own
    with pytest.raises(ValidationError, match="whole seconds above 0"):
        Settings(_env_file=None, outbox_backoff="1,0")

    outbox = Outbox(service.store, delays=delays)
    ticket = service.add_player_message(player=PLAYER, channel=Channel.API, text="hi")
    key = service.store.tickets.find_one({"number": ticket.number})["outbox"][0]["key"]
    owed = Owed(str(ticket.id), key)
    retries = []
    for attempts in range(1, 6):
        outbox.fail(owed, attempts, "down", clock())
        records = service.store.tickets.find_one({"number": ticket.number})["outbox"]
        [due_at] = [r["due_at"] for r in records if r["key"] == key]
        retries.append((due_at - clock()).total_seconds())
    assert retries == [1, 2, 4, 4, 4]
    assert Outbox(service.store, delays=()).delays == BACKOFF  # none given: the default


def test_a_worker_past_its_lease_changes_nothing_its_successor_holds(
    service: TicketService, clock: FakeClock
) -> None:
    """Fencing: a claim's token goes with everything it completes, fails or postpones, so a
    worker that outlived its lease (a long pause, a slow call) cannot undo its successor."""
    outbox = Outbox(service.store)
    ticket = service.add_player_message(player=PLAYER, channel=Channel.API, text="hi")
    key = service.store.tickets.find_one({"number": ticket.number})["outbox"][0]["key"]

    def record() -> dict:
        [found] = [
            r
            for r in service.store.tickets.find_one({"number": ticket.number})["outbox"]
            if r["key"] == key
        ]
        return found

    first = outbox.claim(Owed(str(ticket.id), key), clock())
    assert first is not None
    stale = Owed(str(ticket.id), key, first[1]["lease"])
    clock.advance(seconds=outbox.lease.total_seconds() + 1)  # the first worker stalls
    second = outbox.claim(Owed(str(ticket.id), key), clock())
    assert second is not None
    current = Owed(str(ticket.id), key, second[1]["lease"])
    held = record()

    assert not outbox.complete(stale, {"refs.slack_card": "C0:1.1"})
    assert not outbox.postpone(stale, clock() + timedelta(hours=1), "rate limited")
    assert not outbox.fail(stale, MAX_ATTEMPTS, "gone", clock())
    outbox.complete_many(str(ticket.id), [key], lease=stale.lease)
    outbox.complete_all({str(ticket.id): [key]}, lease=stale.lease)
    assert record() == held  # still the successor's, as it claimed it
    refs = service.store.tickets.find_one({"number": ticket.number}).get("refs") or {}
    assert "slack_card" not in refs

    assert outbox.postpone(current, clock() + timedelta(seconds=30), "rate limited")
    postponed = record()
    assert (postponed["lease"], postponed["attempts"]) == (None, held["attempts"] - 1)
    assert postponed["due_at"] == clock() + timedelta(seconds=30)
    third = outbox.claim(Owed(str(ticket.id), key), clock() + timedelta(seconds=30))
    assert third is not None
    assert outbox.complete(Owed(str(ticket.id), key, third[1]["lease"]), {"refs.x": "y"})
    after = service.store.tickets.find_one({"number": ticket.number})
    assert key not in {r["key"] for r in after["outbox"]}
    assert after["refs"]["x"] == "y"


def owed_telegram_reply(service: TicketService) -> tuple[dict, str]:
    """A Telegram ticket that owes an agent's reply: the ticket as stored, and the key."""
    ticket = service.add_player_message(
        player=Player(telegram_user_id=42), channel=Channel.TELEGRAM, text="hi"
    )
    service.reply(ticket.number, actor=AGENT, text="answer")
    doc = service.store.tickets.find_one({"number": ticket.number})
    [key] = [r["key"] for r in doc["outbox"] if r["kind"] == "reply.deliver"]
    return doc, key


def test_a_delivery_that_outlived_its_lease_leaves_the_effect_to_its_successor(
    runtime: Runtime, clock: FakeClock
) -> None:
    service = runtime.service
    doc, key = owed_telegram_reply(service)
    successors: list[str] = []

    def stalls_past_its_lease(rt: Runtime, ticket: dict, entry: object) -> None:
        """The send takes longer than the lease; another worker claims the effect meanwhile."""
        clock.advance(seconds=rt.outbox.lease.total_seconds() + 1)
        claimed = rt.outbox.claim(Owed(str(doc["_id"]), key), clock())
        assert claimed is not None
        successors.append(claimed[1]["lease"])
        if len(successors) == 2:
            raise ConnectionError("and then it fails")

    runtime.reply_routes[Channel.TELEGRAM] = stalls_past_its_lease
    for outcome in ("done", "failed"):  # it returns, then it fails: neither touches the effect
        assert deliver(str(doc["_id"]), [key]) == {key: outcome}
        [record] = [
            r
            for r in service.store.tickets.find_one({"_id": doc["_id"]})["outbox"]
            if r["key"] == key
        ]
        assert record["lease"] == successors[-1]
        assert record["due_at"] == clock() + runtime.outbox.lease
        clock.advance(seconds=runtime.outbox.lease.total_seconds() + 1)  # the successor stalls


def test_work_that_outlasts_the_lease_keeps_its_claim_while_it_goes_on(
    runtime: Runtime, clock: FakeClock
) -> None:
    """Leases are short so that a dead worker's effects are soon another's; a live worker
    renews its claim while it works (here a lease of 0.3 s, renewed every 0.1 s)."""
    service = runtime.service
    doc, key = owed_telegram_reply(service)
    runtime.outbox.lease = timedelta(seconds=0.3)
    others: list[object] = []

    def slow_send(rt: Runtime, ticket: dict, entry: object) -> None:
        for _ in range(5):  # a second of work, five leases long
            clock.advance(seconds=0.2)
            time.sleep(0.2)
            others.append(rt.outbox.claim(Owed(str(doc["_id"]), key), clock()))

    runtime.reply_routes[Channel.TELEGRAM] = slow_send
    assert deliver(str(doc["_id"]), [key]) == {key: "done"}
    assert others == [None] * 5  # nobody else could take it meanwhile
    outbox = service.store.tickets.find_one({"_id": doc["_id"]})["outbox"]
    assert key not in {r["key"] for r in outbox}

    # A stale token renews nothing.
    other = service.add_player_message(player=PLAYER, channel=Channel.API, text="again")
    claimed = runtime.outbox.claim_many(
        str(other.id), [r["key"] for r in other_outbox(service, other.number)], clock()
    )
    assert claimed is not None
    clock.advance(seconds=1)
    assert runtime.outbox.renew([str(other.id)], "not-the-token", clock()) == 0
    assert runtime.outbox.renew([str(other.id)], claimed[1][0]["lease"], clock()) == 1


def other_outbox(service: TicketService, number: int) -> list[dict]:
    return service.store.tickets.find_one({"number": number})["outbox"]


def test_an_expired_lease_is_handed_over_at_the_next_sweep_without_the_grace(
    runtime: Runtime, queue: Queue, clock: FakeClock, mail_dir: Path
) -> None:
    """A lost job's effect waits out the grace (its job may still be on its way); an
    effect whose claim lapsed has no job coming: the worker that held it is gone."""
    service = runtime.service
    number = service.add_player_message(player=PLAYER, channel=Channel.API, text="help").number
    ticket = service.reply(number, actor=AGENT, text="answer")
    queue.empty()
    assert runtime.outbox.claim(owed_reply(service, ticket), clock()) is not None
    clock.advance(seconds=runtime.outbox.lease.total_seconds() - 1)
    assert sweep() == 0, "still held"
    clock.advance(seconds=2)  # the lease ran out; the grace (30 s) has not
    assert runtime.sweep_grace.total_seconds() > 2
    assert sweep() == 1
    run_jobs(queue)
    assert len(mails(mail_dir)) == 1
