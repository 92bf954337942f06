"""Which effects a change owes: by event, and for channel-bound kinds by the channel."""

from __future__ import annotations

from ticketcore.effects import EVERY_EVENT, Subscriptions


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
