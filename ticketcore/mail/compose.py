"""Turn an agent's reply into the email the player receives."""

from __future__ import annotations

from ticketcore.mail import OutgoingMail
from ticketcore.models import HistoryEntry, Ticket


def message_id(ticket: Ticket, entry_id: str, domain: str) -> str:
    """Stable per reply, so a resend is recognisable and player answers thread back."""
    return f"<ticket-{ticket.number}.{entry_id}@{domain}>"


def reply_mail(ticket: Ticket, entry: HistoryEntry, *, sender: str) -> OutgoingMail:
    if ticket.player.email is None or entry.message is None:
        raise ValueError(f"ticket #{ticket.number} has no email address to answer")
    domain = sender.rpartition("@")[2] or "localhost"
    return OutgoingMail(
        message_id=message_id(ticket, entry.id, domain),
        sender=sender,
        to=ticket.player.email,
        subject=f"Re: [#{ticket.number}] {ticket.subject}",
        text=entry.message.text,
        html=entry.message.html,
        tags=("reply",),
    )
