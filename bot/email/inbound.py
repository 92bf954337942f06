"""A player's mail as Mailgun's "forward" route posts it, read into what a ticket needs.

Mailgun parses the MIME message and posts its parts as form fields; this module turns
those fields into an `InboundMail`: who wrote, the new text without the quoted history and
signature, safe HTML, the Message-Ids that thread it, and whether a machine sent it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.utils import getaddresses, parseaddr

from bot.email.html import html_to_text, sanitize_html
from bot.email.original import original_text
from bot.email.quotes import KEPT_WHOLE_NOTE, is_forward_subject, visible_text
from ticketcore.models import MAX_SUBJECT, MAX_TEXT

MAX_HTML = 4 * MAX_TEXT  # what a message keeps of the HTML; beyond it, text only
CUT_NOTE = "\n\n[… the mail was longer; the rest was cut]"
_MESSAGE_ID = re.compile(r"<[^<>\s]{1,900}>")
_TICKET_IN_SUBJECT = re.compile(r"\[#(\d{1,9})\]")
# Senders that are machines whatever their headers say.
_DAEMONS = ("mailer-daemon", "postmaster", "mail-daemon")
_BULK_PRECEDENCE = {"bulk", "junk", "list", "auto_reply"}


class NotAMail(ValueError):
    """The form lacks what every mail has (a sender address); Mailgun should not retry."""


@dataclass(frozen=True)
class InboundMail:
    sender: str  # the address, lower case
    sender_name: str | None
    recipient: str
    subject: str
    message_id: str
    text: str  # the new text: no quoted history, no signature
    html: str | None  # sanitised, or None when there is none or it is too long
    thread_ids: tuple[str, ...]  # In-Reply-To first, then References, newest first
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names
    original: str | None = None  # the mail as it arrived, when `text` shows less of it

    @property
    def subject_number(self) -> int | None:
        """The ticket a subject names, as in "Re: [#1234] Lost gems"."""
        match = _TICKET_IN_SUBJECT.search(self.subject)
        return int(match.group(1)) if match else None

    def machine_sent(self, own_addresses: tuple[str, ...] = ()) -> str | None:
        """Why this mail came from a machine (auto-reply, bounce, list, our own mail
        coming back), or None for a person. Answering a machine is how mail loops start."""
        h = self.headers
        auto = h.get("auto-submitted", "no").strip().lower()
        if auto and not auto.startswith("no"):
            return f"Auto-Submitted: {auto}"
        if h.get("x-autoreply") or h.get("x-autorespond") or h.get("x-autoresponder"):
            return "auto-reply header"
        if h.get("precedence", "").strip().lower() in _BULK_PRECEDENCE:
            return f"Precedence: {h['precedence'].strip().lower()}"
        if h.get("list-id"):
            return "mailing list"
        if "report-type=delivery-status" in h.get("content-type", "").lower().replace(" ", ""):
            return "delivery status report"
        local = self.sender.partition("@")[0]
        if not self.sender or local in _DAEMONS:
            return "mailer daemon"
        if h.get("return-path", "").strip() == "<>":
            return "empty Return-Path (a bounce)"
        if self.sender in own_addresses:
            return "our own address"
        return None


def message_ids(value: str | None) -> list[str]:
    return _MESSAGE_ID.findall(value or "")


def header_map(raw: str | None) -> dict[str, str]:
    """Mailgun's `message-headers`: a JSON list of [name, value]; the first of each wins."""
    try:
        pairs = json.loads(raw or "[]")
    except ValueError:
        return {}
    headers: dict[str, str] = {}
    if not isinstance(pairs, list):
        return headers
    for pair in pairs:
        if isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair):
            headers.setdefault(pair[0].lower(), pair[1])
    return headers


# What is read of a body: the kept text is cut to MAX_TEXT anyway, so looking further
# would only spend time on what is thrown away.
MAX_READ = 2 * MAX_TEXT
# What is read of an HTML-only mail for its text: markup takes room, but parsing costs
# per tag, and this keeps one mail's parse short.
MAX_HTML_READ = MAX_TEXT


def shown_text(body: str, *, forwarded: bool = False) -> str:
    """The player's words in `body`; when they cannot be told from the history, the whole
    body under a note that says so."""
    visible = visible_text(body[:MAX_READ], forwarded=forwarded)
    return f"{KEPT_WHOLE_NOTE}\n\n{visible.text}" if visible.kept_whole else visible.text


def new_text(fields: Mapping[str, str]) -> str:
    """The player's new words, read from the plain body (which still shows which lines the
    client quoted), else Mailgun's stripped text, else the HTML turned into text."""
    forwarded = is_forward_subject(fields.get("subject", ""))
    for name in ("body-plain", "stripped-text"):
        if fields.get(name, "").strip():
            return shown_text(fields[name], forwarded=forwarded)
    html = (fields.get("stripped-html") or fields.get("body-html") or "")[:MAX_HTML_READ]
    return shown_text(html_to_text(html), forwarded=forwarded) if html.strip() else ""


def kept_html(fields: Mapping[str, str]) -> str | None:
    html = fields.get("stripped-html") or fields.get("body-html")
    if not html or len(html) > 4 * MAX_HTML:
        return None
    clean = sanitize_html(html)
    return clean if len(clean) <= MAX_HTML else None


def fallback_message_id(fields: Mapping[str, str]) -> str:
    """A mail without a Message-Id gets one from its content, the same on every retry."""
    basis = "\0".join(
        fields.get(name, "") for name in ("sender", "recipient", "subject", "body-plain", "Date")
    )
    return f"<{hashlib.sha256(basis.encode()).hexdigest()[:40]}@inbound.helpdesk>"


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - len(CUT_NOTE)] + CUT_NOTE


# No person's address line is longer; the standard parser takes time quadratic in the
# length of some lines ("@@@…"), so a longer one is refused unread.
MAX_ADDRESS_LINE = 2_000


def address_line(value: str, what: str) -> str:
    """`value`, if it is short enough to be an address line; else NotAMail."""
    if len(value) > MAX_ADDRESS_LINE:
        raise NotAMail(
            f"the {what} is {len(value)} characters long; the limit is {MAX_ADDRESS_LINE}"
        )
    return value


def sender_of(fields: Mapping[str, str], headers: Mapping[str, str]) -> tuple[str, str | None]:
    """The address to answer and the name to greet: From (what the person sees as
    themself), else the envelope sender."""
    name, address = parseaddr(address_line(fields.get("from") or headers.get("from", ""), "From"))
    if not address:
        address = parseaddr(address_line(fields.get("sender", ""), "sender"))[1]
    address = address.strip().lower()
    try:
        Address(addr_spec=address)
    except (ValueError, IndexError):
        raise NotAMail(f"the sender is not a mail address: {address[:100]!r}") from None
    return address, (name.strip() or None)


def from_mailgun(fields: Mapping[str, str]) -> InboundMail:
    headers = header_map(fields.get("message-headers"))
    try:
        sender, name = sender_of(fields, headers)
    except NotAMail:
        if headers.get("return-path", "").strip() == "<>":  # bounces may have no From
            sender, name = "", None
        else:
            raise
    own = message_ids(headers.get("message-id"))
    in_reply_to = message_ids(headers.get("in-reply-to") or fields.get("In-Reply-To"))
    references = message_ids(headers.get("references") or fields.get("References"))
    thread = list(dict.fromkeys([*in_reply_to, *reversed(references)]))
    recipients = [
        a for _, a in getaddresses([address_line(fields.get("recipient", ""), "recipient")]) if a
    ]
    text = cut(new_text(fields), MAX_TEXT)
    return InboundMail(
        sender=sender,
        sender_name=name,
        recipient=recipients[0].lower() if recipients else "",
        subject=" ".join(fields.get("subject", "").split())[:MAX_SUBJECT],
        message_id=own[0] if own else fallback_message_id(fields),
        text=text,
        html=kept_html(fields),
        thread_ids=tuple(thread[:50]),
        headers=headers,
        original=original_text(fields, text),
    )


_CYRILLIC = re.compile("[\u0400-\u04ff]")  # the Cyrillic block
_LATIN = re.compile(r"[a-z]", re.IGNORECASE)


def language_of(text: str) -> str | None:
    """A guess good enough to pick a template: mostly Cyrillic letters read as Russian."""
    cyrillic, latin = len(_CYRILLIC.findall(text)), len(_LATIN.findall(text))
    if cyrillic + latin < 3:
        return None
    return "ru" if cyrillic > latin else "en"
