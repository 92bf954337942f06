"""The growth benchmark loads its store in bulk with clones of tickets the service wrote:
each clone must look to every reader exactly like a ticket the service wrote itself."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from rq import Queue

from bench.growth import (
    Cloner,
    Template,
    agent_pool,
    counted,
    insert,
    read_template,
    reserve_numbers,
)
from jobs.runtime import Runtime
from tests.conftest import AGENT, FakeClock, run_jobs
from ticketcore.lifecycle import Status
from ticketcore.models import Channel, Player
from ticketcore.service import TicketService
from ticketcore.store import NUMBER_COUNTER, Store, to_entry, to_ticket
from ticketcore.writes import player_actor

CLONES_PER_TEMPLATE = 2


def shape(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every key path of a document with the type of the value there (list items as
    `path[]`), recursively."""
    yield path, type(value).__name__
    if isinstance(value, dict):
        for key, item in value.items():
            yield from shape(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for item in value:
            yield from shape(item, f"{path}[]")


def templates(service: TicketService, clock: FakeClock, queue: Queue) -> list[Template]:
    """Tickets on each channel, taken, answered, noted, resolved and closed by the service,
    their effects all carried out."""
    game_player = Player(player_id="p-1", email="p1@example.com", language="en")
    api = service.open_ticket(
        player=game_player,
        channel=Channel.API,
        text="Payment failed\nTwice today",
        queue="skyforge",
        context={"game": "skyforge"},
        actor=player_actor(game_player, Channel.API, via="api:game"),
        inbound_id="api:game:key-1",
    )
    clock.advance(minutes=1)
    service.add_player_message_to(api.number, text="Still failing", channel=Channel.API)
    telegram_player = Player(
        telegram_user_id=101,
        telegram_chat_id=101,
        telegram_username="ann",
        language="en",
        display_name="Ann",
    )
    telegram = service.add_player_message(
        player=telegram_player,
        channel=Channel.TELEGRAM,
        text="My gems vanished\nafter the update",
        external_id="101:1",
        inbound_id="telegram:101:1",
    )
    service.add_player_message(
        player=telegram_player,
        channel=Channel.TELEGRAM,
        text="Hello?",
        external_id="101:2",
        inbound_id="telegram:101:2",
    )
    mail, _ = service.receive_mail(
        player=Player(email="alex@example.com", display_name="Alex"),
        message_id="<first@mail.example.com>",
        text="I bought gems and got nothing",
        subject="Lost purchase",
        sender_verified=True,
    )
    clock.advance(minutes=5)
    service.take(telegram.number, actor=AGENT)
    service.add_note(mail.number, actor=AGENT, text="Checked the payment logs")
    service.reply(mail.number, actor=AGENT, text="Your gems are back")
    service.set_status(mail.number, Status.RESOLVED, actor=AGENT)
    service.set_status(api.number, Status.CLOSED, actor=AGENT)
    run_jobs(queue, scheduled=True)
    return [read_template(service.store, t.number) for t in (api, telegram, mail)]


def test_clones_are_shaped_as_the_service_writes_and_read_as_its_tickets(
    runtime: Runtime, service: TicketService, store: Store, clock: FakeClock, queue: Queue
) -> None:
    made = templates(service, clock, queue)
    assert {t.channel for t in made} == {"api", "telegram", "email"}
    counter = store.counters.find_one({"_id": NUMBER_COUNTER})
    assert counter is not None
    numbers = reserve_numbers(store, CLONES_PER_TEMPLATE * len(made))
    assert numbers.start == counter["value"] + 1

    cloner = Cloner(seed=7, agents=agent_pool(AGENT.id))
    sources: dict[int, Template] = {}
    for index, number in enumerate(numbers):
        template = made[index % len(made)]
        opened = clock.now - timedelta(days=30 + index)
        doc, entries, record = cloner.clone(template, number, opened)
        # The unique indexes (mail and platform ids, numbers) take them.
        insert(store, [doc], entries, [record] if record is not None else [])
        sources[number] = template
    counted(store)

    after = store.counters.find_one({"_id": NUMBER_COUNTER})
    assert after is not None and after["value"] == numbers[-1]
    stored_numbers = [doc["number"] for doc in store.tickets.find({}, {"number": 1})]
    assert len(stored_numbers) == len(set(stored_numbers)) == len(made) + len(numbers)
    reader = TicketService(store, clock)
    for number, template in sources.items():
        doc = store.tickets.find_one({"number": number})
        assert doc is not None
        assert set(shape(doc)) == set(shape(template.ticket)), template.channel
        assert doc["_id"] != template.ticket["_id"]
        assert doc["created_at"] < template.ticket["created_at"] - timedelta(days=29)
        shift = doc["created_at"] - template.ticket["created_at"]
        assert doc["updated_at"] == template.ticket["updated_at"] + shift
        assert doc["player_key"] != template.ticket["player_key"]

        entries = list(store.history.find({"ticket_id": doc["_id"]}).sort("seq", 1))
        assert len(entries) == len(template.entries)
        for entry, source in zip(entries, template.entries, strict=True):
            assert set(shape(entry)) == set(shape(source)), source["event"]
            assert entry["_id"] != source["_id"] and entry["number"] == number
            assert entry["at"] == source["at"] + shift
            to_entry(entry)
        assert template.player is not None
        record = store.players.find_one({"first_seen_at": template.player["first_seen_at"] + shift})
        assert record is not None and record["_id"] != template.player["_id"]
        assert set(shape(record)) == set(shape(template.player))

        ticket = reader.get(number)
        assert ticket == to_ticket({**doc, "outbox": []})
        assert ticket.channel.value == template.channel and ticket.status == template.status
        messages = reader.messages(ticket).items
        expected = [e for e in template.entries if e.get("message")]
        assert [m.seq for m in messages] == [e["seq"] for e in expected]
        assert messages[0].message is not None
        assert messages[0].message.text == ticket.opening_text
    entry_ids = [entry["_id"] for entry in store.history.find({}, {"_id": 1})]
    assert len(entry_ids) == len(set(entry_ids))
    statuses = Counter(doc["status"] for doc in store.tickets.find({}, {"status": 1}))
    assert {s.value: n for s, n in reader.count_by_status().items() if n} == statuses


def test_a_clone_keeps_its_players_ids_apart_from_the_templates(
    runtime: Runtime, service: TicketService, store: Store, clock: FakeClock, queue: Queue
) -> None:
    made = templates(service, clock, queue)
    telegram = next(t for t in made if t.channel == "telegram")
    number = reserve_numbers(store, 1)[0]
    doc, entries, _ = Cloner(seed=7, agents=agent_pool(AGENT.id)).clone(
        telegram, number, datetime(2026, 1, 5, 12, tzinfo=clock.now.tzinfo)
    )
    user = doc["player"]["telegram_user_id"]
    assert user != 101 and doc["player"]["telegram_chat_id"] == user
    assert doc["player_key"] == f"tg:{user}"
    assert doc["inbound_ids"] == [f"telegram:{user}:1", f"telegram:{user}:2"]
    said = [
        e["message"]["external_id"] for e in entries if (e["message"] or {}).get("kind") == "player"
    ]
    assert said == [f"{user}:1", f"{user}:2"]
    assert doc["assignee"] in agent_pool(AGENT.id)
    assert all(e["ticket_id"] == doc["_id"] for e in entries)
