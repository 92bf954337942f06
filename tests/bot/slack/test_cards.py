"""Cards, thread messages and views: valid Block Kit, inert player text, safe cuts."""

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.slack import cards, views
from bot.slack.account import account_blocks
from bot.slack.cards import CardStyle, thread_message, ticket_card
from bot.slack.text import cut_escaped, escape
from tests.conftest import PLAYER
from ticketcore.lifecycle import Status
from ticketcore.macros import Macro
from ticketcore.models import (
    Actor,
    ActorKind,
    Channel,
    HistoryEntry,
    Message,
    MessageKind,
    Player,
    Ticket,
)

OUR_DATES = re.compile(r"<!date\^\d+\^\{date_short_pretty\} \{time\}\|[0-9: -]+ UTC>")
NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
HOSTILE = (
    "<!channel> <!here> <!everyone> <@U0BOSS> <#C0GENERAL> <!subteam^S0ALL>"
    " <http://evil.test|bank> & *bold* `code`"
)


def ticket(**fields: object) -> Ticket:
    base = dict(
        id="6b0000000000000000000001",
        number=1234,
        subject="Lost gems",
        channel=Channel.TELEGRAM,
        player=PLAYER,
        status=Status.NEW,
        created_at=NOW - timedelta(hours=3),
        updated_at=NOW,
        tags=("refund",),
    )
    return Ticket.model_validate(base | fields)


def valid(blocks: list[Block]) -> list[dict]:
    """Serialise with slack-sdk's validators, then parse back and validate again."""
    dicts = [b.to_dict() for b in blocks]
    for parsed in Block.parse_all(dicts):
        parsed.validate_json()
    assert len(dicts) <= 50
    return dicts


def all_text(dicts: list[dict]) -> str:
    return json.dumps(dicts, ensure_ascii=False)


def mrkdwn_texts(value: object) -> list[str]:
    """Every mrkdwn string in a payload: the only place Slack looks for mentions."""
    found: list[str] = []
    if isinstance(value, dict):
        if value.get("type") == "mrkdwn":
            found.append(value["text"])
        for item in value.values():
            found += mrkdwn_texts(item)
    elif isinstance(value, list):
        for item in value:
            found += mrkdwn_texts(item)
    return found


def test_an_open_card_shows_the_ticket_and_every_control() -> None:
    dicts = valid(ticket_card(ticket(assignee="U0ANN"), first_message="My gems vanished", now=NOW))
    assert dicts[0] == {
        "type": "header",
        "block_id": "card.title",
        "text": {"type": "plain_text", "text": "#1234 · Lost gems", "emoji": False},
    }
    fields = [f["text"] for f in dicts[1]["fields"]]
    assert fields[0].endswith(" new")
    assert "*Assignee*\n<@U0ANN>" in fields
    # Opened three hours before NOW, shown in each reader's time zone: true however late
    # someone looks, so the card need not be redrawn as time passes.
    opened = int((NOW - timedelta(hours=3)).timestamp())
    assert (
        f"*Opened*\n<!date^{opened}^{{date_short_pretty}} {{time}}|2026-11-02 09:00 UTC>" in fields
    )
    assert "*Tags*\n`refund`" in fields
    assert dicts[2]["text"] == {"type": "plain_text", "text": "My gems vanished", "emoji": False}
    actions = dicts[-1]["elements"]
    assert [e["text"]["text"] for e in actions if e["type"] == "button"] == [
        "Take",
        "Reply",
        "Note",
        "Resolve",
        "Escalate",
        "Player",
    ]
    status_select, priority_select = (e for e in actions if e["type"] == "static_select")
    assert [o["value"] for o in status_select["options"]] == [f"1234:{s.value}" for s in Status]
    assert status_select["initial_option"]["value"] == "1234:new"
    assert priority_select["initial_option"]["value"] == "1234:normal"


def test_player_id_links_to_the_admin_tool_when_configured() -> None:
    style = CardStyle(admin_url="https://admin.game.test/players/{player_id}")
    player = Player(player_id="a b&<c>")
    dicts = valid(ticket_card(ticket(player=player), first_message="x", now=NOW, style=style))
    player_field = next(f["text"] for f in dicts[1]["fields"] if f["text"].startswith("*Player*"))
    assert (
        player_field
        == "*Player*\n<https://admin.game.test/players/a%20b%26%3Cc%3E|a b&amp;&lt;c&gt;>"
    )


@pytest.mark.parametrize("status", [Status.RESOLVED, Status.CLOSED])
def test_resolved_and_closed_cards_collapse_to_one_line(status: Status) -> None:
    dicts = valid(ticket_card(ticket(status=status, resolved_at=NOW), first_message="x", now=NOW))
    assert len(dicts) == 1
    assert dicts[0]["type"] == "section"
    assert f"*#1234* · Lost gems — {status}" in dicts[0]["text"]["text"]


def test_hostile_player_text_cannot_ping_or_link() -> None:
    hostile_player = Player(player_id=HOSTILE, display_name=HOSTILE, language="en")
    card = ticket(subject=HOSTILE[:200], player=hostile_player)
    dicts = valid(ticket_card(card, first_message=HOSTILE, now=NOW))
    entry = HistoryEntry(
        id="e1",
        ticket_id=card.id,
        number=card.number,
        seq=2,
        event="message.received",
        actor=Actor(kind=ActorKind.PLAYER, id="id:x", name=HOSTILE, via="telegram"),
        at=NOW,
        message=Message(kind=MessageKind.PLAYER, channel=Channel.TELEGRAM, text=HOSTILE),
    )
    fallback, thread_blocks = thread_message(entry)
    payload = dicts + valid(thread_blocks)
    for text in [*mrkdwn_texts(payload), fallback, cards.card_text(card)]:
        text = OUR_DATES.sub("", text)  # the date formatting we add ourselves
        assert "<!" not in text and "<@U0BOSS" not in text and "<http://evil" not in text
        assert "<#C0GENERAL" not in text
    assert "&lt;!channel&gt;" in all_text(payload)
    player_field = next(t for t in mrkdwn_texts(dicts) if t.startswith("*Player*"))
    assert "*bold*" not in player_field and "`code`" not in player_field
    # Where player text is shown as plain text, Slack parses nothing in it at all.
    assert dicts[2]["text"]["type"] == "plain_text"


def test_a_5000_character_message_is_cut_on_the_card_and_whole_in_the_thread() -> None:
    text = "é" * 2000 + "<" * 1000 + "x" * 2000
    dicts = valid(ticket_card(ticket(), first_message=text, now=NOW))
    shown = dicts[2]["text"]["text"]
    assert len(shown) == 3000 and shown.endswith("…")
    assert dicts[3]["block_id"] == "card.cut"
    assert "2,001 more characters" in dicts[3]["elements"][0]["text"]
    entry = HistoryEntry(
        id="e1",
        ticket_id="t",
        number=1,
        seq=1,
        event="ticket.created",
        actor=Actor(kind=ActorKind.PLAYER, id="id:p", via="telegram"),
        at=NOW,
        message=Message(kind=MessageKind.PLAYER, channel=Channel.TELEGRAM, text=text),
    )
    _, blocks = thread_message(entry)
    sections = [b["text"]["text"] for b in valid(blocks) if b["type"] == "section"]
    assert "".join(sections) == text


def test_cutting_escaped_text_never_splits_an_entity() -> None:
    text = "<" * 5000
    for limit in range(10, 40):
        cut_text, dropped = cut_escaped(text, limit)
        assert len(cut_text) <= limit
        assert cut_text.removesuffix("…").replace("&lt;", "") == ""
        assert dropped == 5000 - cut_text.count("&lt;")
    assert escape("a&b<c>") == "a&amp;b&lt;c&gt;"


def test_notes_say_they_are_internal() -> None:
    entry = HistoryEntry(
        id="e1",
        ticket_id="t",
        number=1,
        seq=3,
        event="note.added",
        actor=Actor(kind=ActorKind.AGENT, id="U0ANN", name="ann", via="slack"),
        at=NOW,
        message=Message(kind=MessageKind.NOTE, channel=Channel.SLACK, text="tester account"),
    )
    _, blocks = thread_message(entry)
    heading = valid(blocks)[0]["elements"][0]["text"]
    assert "*Note* · <@U0ANN>" in heading
    assert "internal, the player does not see this" in heading


def test_reply_modal_offers_macros_and_the_statuses_to_leave() -> None:
    macro = Macro(
        name="refund", title="Refund received", text={"en": "We got it", "ru": "Получили"}
    )
    view = views.reply_modal(
        ticket(), last_player_text=HOSTILE, macros=[macro], prefill="We got it", revision=2
    )
    payload = view.to_dict()
    View(**payload).validate_json()
    blocks = payload["blocks"]
    text_input = next(b for b in blocks if b.get("block_id") == "reply.text.2")
    assert text_input["element"]["initial_value"] == "We got it"
    status = next(b for b in blocks if b.get("block_id") == "status")
    assert [o["value"] for o in status["element"]["options"]] == ["answered", "waiting", "resolved"]
    assert status["element"]["initial_option"]["value"] == "answered"
    assert json.loads(payload["private_metadata"]) == {"number": 1234, "revision": 2}
    assert all("<!" not in t for t in mrkdwn_texts(payload))


def test_home_tab_lists_my_tickets_and_the_shift_toggle() -> None:
    mine = [
        (ticket(number=n, priority=p), f"C0T:{n}.000100") for n, p in ((5, "urgent"), (9, "normal"))
    ]
    view = views.home_view(
        user_id="U0ANN", mine=mine, counts={Status.NEW: 3}, on_shift=False, now=NOW
    )
    payload = view.to_dict()
    View(**payload).validate_json()
    texts = all_text(payload["blocks"])
    assert "Go on shift" in texts
    assert "*#5*" in texts and "*#9*" in texts
    assert "https://slack.com/archives/C0T/p5000100" in texts


def test_the_card_shows_what_is_left_of_the_sla() -> None:
    from ticketcore import sla

    config = sla.SlaConfig.model_validate(
        {
            "policies": [
                {"name": "p", "first_response": "30m", "resolution": "4h", "business_hours": False}
            ]
        }
    )
    opened = NOW - timedelta(minutes=40)
    state = sla.start(config, priority="normal", queue=None, now=opened)
    assert state is not None
    late = ticket(sla=state.model_dump(mode="python"))
    text = cards.sla_text(late, NOW)
    first_due = int((opened + timedelta(minutes=30)).timestamp())
    resolution_due = int((opened + timedelta(hours=4)).timestamp())
    assert text == (
        f"SLA: :fire: first response overdue since <!date^{first_due}^{{date_short_pretty}}"
        " {time}|2026-11-02 11:50 UTC> · :stopwatch: resolution due "
        f"<!date^{resolution_due}^{{date_short_pretty}} {{time}}|2026-11-02 15:20 UTC>"
    )
    blocks = ticket_card(late, first_message="x", now=NOW)
    assert any(b.block_id == "card.sla" for b in blocks)


def test_the_account_lines_escape_what_the_game_says() -> None:
    ok = {
        "status": "ok",
        "player_id": "p-1",
        "fields": [["Level", "54"], ["Nick <!here>", "*boss* <@U1>"], ["Empty", ""]],
    }
    [section] = [b.to_dict() for b in account_blocks(ok)]
    texts = [f["text"] for f in section["fields"]]
    assert texts == ["*Level*\n54", "*Nick &lt;!here&gt;*\nboss &lt;@U1&gt;", "*Empty*\n—"]
    unknown = account_blocks({"status": "unknown_player", "player_id": "<!channel>"})
    assert "no player &lt;!channel&gt;" in str(unknown[0].to_dict())
    down = account_blocks({"status": "unavailable", "player_id": "p", "reason": "timeout"})
    assert "Account unavailable (timeout)" in str(down[0].to_dict())
    assert account_blocks(None) == []
    many = {"status": "ok", "player_id": "p", "fields": [[f"k{i}", "v"] for i in range(14)]}
    assert len(account_blocks(many)[0].to_dict()["fields"]) == 10  # Slack's limit
