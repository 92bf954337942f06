"""Which effects a change owes: by event, and for channel-bound kinds by the channel; and
the table the declarations of the kinds add up to."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ticketcore.effects import (
    EVERY_EVENT,
    Change,
    EffectTable,
    Lane,
    Subscriptions,
    effect_kind,
)
from ticketcore.lifecycle import Status
from ticketcore.models import Channel, Player, Ticket


def test_channel_bound_kinds_are_owed_only_by_their_channel() -> None:
    subscriptions = Subscriptions(
        {"card": {EVERY_EVENT}, "mail.opened": {"ticket.created"}, "tg.opened": {"ticket.created"}},
        {"mail.opened": {"email"}, "tg.opened": {"telegram"}},
    )
    assert subscriptions.kinds_for("ticket.created", "email") == ["card", "mail.opened"]
    assert subscriptions.kinds_for("ticket.created", "telegram") == ["card", "tg.opened"]
    assert subscriptions.kinds_for("ticket.created", "api") == ["card"]
    assert subscriptions.kinds_for("reply.sent", "email") == ["card"]
    # Without a channel (tools that only ask what an event owes): every kind of the event.
    assert subscriptions.kinds_for("ticket.created") == ["card", "mail.opened", "tg.opened"]


def test_a_kind_runs_after_the_kinds_it_names_in_its_job_whatever_order_they_are_listed_in() -> (
    None
):
    card = effect_kind("card", {EVERY_EVENT}, lane=Lane.URGENT, delay=1.0, after=("flows", "storm"))
    thread = effect_kind(
        "thread", {"message.received"}, lane=Lane.URGENT, delay=1.0, after=("card",)
    )
    flows = effect_kind("flows", {"ticket.created"})
    storm = effect_kind("storm", {"ticket.created"}, after=("flows",))
    index = effect_kind("index", {EVERY_EVENT}, lane=Lane.SINGLE, delay=1.0, drained=True)

    table = EffectTable.of([thread, card, index, storm, flows])

    assert table.names == ("flows", "storm", "card", "thread", "index")
    assert table.subscriptions().kinds_for("ticket.created") == ["flows", "storm", "card", "index"]
    # flows and storm declared no lane or delay: they take the card's, so they share its job
    assert table.delays == {"flows": 1.0, "storm": 1.0, "card": 1.0, "thread": 1.0, "index": 1.0}
    assert table.lane(Lane.URGENT) == {"flows", "storm", "card", "thread"}
    assert table.lane(Lane.SINGLE) == table.drained == {"index"}


def test_a_kind_named_in_after_but_not_enabled_is_passed_over() -> None:
    card = effect_kind("card", {EVERY_EVENT}, lane=Lane.URGENT, delay=1.0, after=("flows",))
    flows = effect_kind("flows", {"ticket.created"})

    assert EffectTable.of([card]).names == ("card",)
    alone = EffectTable.of([flows, effect_kind("mail", {"ticket.created"})])
    assert alone.delays == {}  # nothing names flows: it keeps what it declared
    assert alone.lane(Lane.NORMAL) == {"flows", "mail"}


def test_kinds_that_would_put_one_kind_in_two_jobs_or_in_a_circle_are_refused() -> None:
    flows = effect_kind("flows", {"ticket.created"})
    card = effect_kind("card", {EVERY_EVENT}, lane=Lane.URGENT, delay=1.0, after=("flows",))
    digest = effect_kind("digest", {EVERY_EVENT}, delay=60.0, after=("flows",))
    with pytest.raises(ValueError, match="flows runs before both"):
        EffectTable.of([flows, card, digest])

    a = effect_kind("a", {EVERY_EVENT}, after=("b",))
    b = effect_kind("b", {EVERY_EVENT}, after=("a",))
    with pytest.raises(ValueError, match="circle"):
        EffectTable.of([a, b])


def test_the_table_carries_each_declarations_channels_needless_test_and_coalescing() -> None:
    opened = effect_kind("mail.opened", {"ticket.created"}, channels={"email"})
    thread = effect_kind("thread", {"note.added"}, needless=lambda change: change.message is None)
    lookup = effect_kind("lookup", {"ticket.created"}, coalesced=True)
    stored = effect_kind("history", (), drained=True)  # owed by the core, not subscribed

    subscriptions = EffectTable.of([opened, thread, lookup, stored]).subscriptions()

    assert subscriptions.kinds_for("ticket.created", "telegram") == ["lookup"]
    assert subscriptions.kinds_for("ticket.created", "email") == ["mail.opened", "lookup"]
    assert subscriptions.coalesced == {"lookup"}
    at = datetime(2026, 12, 6, tzinfo=UTC)
    ticket = Ticket(
        id="t1",
        number=1,
        subject="Lost gems",
        channel=Channel.EMAIL,
        player=Player(email="p@example.com"),
        status=Status.NEW,
        created_at=at,
        updated_at=at,
    )
    bare = Change("note.added", ticket, at)  # a note without a message: a routing rule's
    assert subscriptions.kinds_for("note.added", "email", change=bare) == []
    assert subscriptions.kinds_for("note.added", "email") == ["thread"]
