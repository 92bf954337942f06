"""POST /mailgun/inbound: players' mail, as Mailgun's "forward" route delivers it.

Mailgun takes 200 as done and 406 as refused for good; anything else it retries for about
eight hours. So a forged, stale or replayed request is refused with 401/406 and nothing is
stored; a mail we cannot take for a lasting reason gets 406; a failure of ours (the
database away) gets 503, and the retry finds the mail again, stored once by its Message-Id.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import re
import time
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from pymongo.errors import PyMongoError
from redis import Redis
from redis.exceptions import RedisError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.email.authenticity import header_pairs, is_verified_sender
from bot.email.inbound import InboundMail, NotAMail, from_mailgun, language_of
from handlers.errors import problem
from handlers.hourly_limit import HourlyLimit
from ticketcore.clock import Clock
from ticketcore.errors import TooManyNewTickets
from ticketcore.files import FileStore
from ticketcore.models import Attachment, Player
from ticketcore.players import Directory
from ticketcore.service import TicketService

log = logging.getLogger(__name__)

MAX_AGE = 300  # seconds a signed request stays good (Mailgun's own advice: a few minutes)
MAX_REQUEST = 40 * 1024 * 1024  # Mailgun forwards messages of up to 25 MB
MAX_FIELD = 8 * 1024 * 1024  # a body-plain/body-html field
MAX_FILES = 50
TIMESTAMP = re.compile(r"[0-9]{1,12}")  # seconds since 1970, as Mailgun signs them


@dataclass(frozen=True)
class AttachmentLimits:
    per_file: int = 10 * 1024 * 1024
    per_mail: int = 25 * 1024 * 1024


class Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def expected_signature(key: str, timestamp: str, token: str) -> str:
    return hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()


def sender_key(address: str) -> str:
    """The sender as a key of the hourly count, of fixed length whatever the address."""
    return hashlib.sha256(address.encode()).hexdigest()[:32]


def size_text(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB" if size >= 1024 * 1024 else f"{size // 1024 + 1} KB"


class MailgunInbound:
    def __init__(
        self,
        service: TicketService,
        redis: Redis,
        files: FileStore,
        signing_key: str,
        *,
        own_addresses: tuple[str, ...] = (),
        limits: AttachmentLimits | None = None,
        new_tickets_per_hour: int = 5,
        clock: Clock | None = None,
    ) -> None:
        self.service = service
        self.directory = Directory(service.store)
        self.redis = redis
        self.files = files
        self.signing_key = signing_key
        self.own_addresses = tuple(a.lower() for a in own_addresses)
        self.limits = limits or AttachmentLimits()
        self.new_tickets = HourlyLimit(
            redis, "mail:opened", new_tickets_per_hour, clock or service.clock
        )

    def routes(self) -> list[Route]:
        return [Route("/mailgun/inbound", self.inbound, methods=["POST"])]

    async def inbound(self, request: Request) -> Response:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_REQUEST:
            return problem(413, f"a forwarded mail may be at most {size_text(MAX_REQUEST)}")
        try:
            async with request.form(
                max_files=MAX_FILES, max_fields=200, max_part_size=MAX_FIELD
            ) as form:
                token = self.verify(form)
                answer = await run_in_threadpool(self.take, form)
                # Seen once taken, never before: a crash in between, and Mailgun's retry
                # is taken then (the mail's Message-Id keeps it from being stored twice).
                self.remember(token)
                return answer
        except Refused as exc:
            return problem(exc.status, exc.reason)
        except (PyMongoError, RedisError, OSError) as exc:
            log.warning("inbound mail not stored, Mailgun will retry: %s", exc)
            return problem(503, "the helpdesk cannot store mail right now; retry later")
        except HTTPException as exc:  # a body the form parser refuses
            return problem(400, f"not a form Mailgun would send: {exc.detail}")

    # ------------------------------------------------------------------ checks

    def verify(self, form: FormData) -> str:
        """A genuine, fresh, first-seen request from Mailgun; returns its token."""
        fields = {name: form.get(name) for name in ("timestamp", "token", "signature")}
        if not all(isinstance(v, str) and v for v in fields.values()):
            raise Refused(401, "timestamp, token and signature are required")
        timestamp, token, signature = (str(fields[n]) for n in ("timestamp", "token", "signature"))
        expected = expected_signature(self.signing_key, timestamp, token)
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise Refused(401, "the signature does not match")
        if not TIMESTAMP.fullmatch(timestamp):
            raise Refused(406, "the timestamp is not a time in seconds")
        if abs(time.time() - int(timestamp)) > MAX_AGE:
            raise Refused(406, "the request is older than five minutes")
        if self.redis.exists(self.token_key(token)):
            raise Refused(406, "this request was delivered before (replay)")
        return token

    def token_key(self, token: str) -> str:
        return f"mailgun:token:{hashlib.sha256(token.encode()).hexdigest()}"

    def remember(self, token: str) -> None:
        """A taken request's token, refused as a replay while its signature is fresh."""
        with contextlib.suppress(RedisError):  # the mail is stored; a replay stores nothing
            self.redis.set(self.token_key(token), "1", ex=2 * MAX_AGE)

    # ------------------------------------------------------------------ taking the mail

    def take(self, form: FormData) -> Response:
        fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
        try:
            mail = from_mailgun(fields)
        except NotAMail as exc:
            raise Refused(406, str(exc)) from None
        except RecursionError:  # the standard address parser recurses on nested groups
            raise Refused(406, "an address in the mail is nested too deeply to read") from None
        machine = mail.machine_sent(self.own_addresses)
        if machine is not None:
            log.info("mail %s not taken: sent by a machine (%s)", mail.message_id, machine)
            return JSONResponse({"ignored": machine})
        verified = self.is_verified(form, mail)
        attachments, notes = self.keep_attachments(form)
        text = "\n\n".join(part for part in (mail.text, *notes) if part)
        try:
            ticket, new = self.service.receive_mail(
                player=self.player(mail, text, verified=verified),
                message_id=mail.message_id,
                sender_verified=verified,
                text=text,
                subject=mail.subject or None,
                html=mail.html,
                attachments=attachments,
                thread_ids=mail.thread_ids,
                subject_number=mail.subject_number,
                may_open=lambda: self.new_tickets.allows(sender_key(mail.sender)),
                original=mail.original,
            )
        except TooManyNewTickets:
            # 200, so that Mailgun does not bring the same flood back for eight hours.
            log.warning("mail %s not taken: its sender opened too many tickets", mail.message_id)
            return JSONResponse({"ignored": "too many new tickets from this sender"})
        except ValidationError as exc:
            reason = exc.errors()[0]["msg"]
            raise Refused(406, f"the mail cannot become a ticket: {reason}") from None
        log.info(
            "mail %s %s ticket #%s",
            mail.message_id,
            "added to" if new else "was already on",
            ticket.number,
        )
        return JSONResponse({"ticket": ticket.number, "duplicate": not new})

    def is_verified(self, form: FormData, mail: InboundMail) -> bool:
        """Mailgun's verdicts, posted both as fields and in `message-headers`, vouch for
        the From address (see bot.email.authenticity)."""
        fields = [(k.lower(), v) for k, v in form.multi_items() if isinstance(v, str)]
        headers = [*fields, *header_pairs(str(form.get("message-headers") or ""))]
        envelope = str(form.get("sender") or "")
        return is_verified_sender(mail.sender, envelope, headers)

    def player(self, mail: InboundMail, text: str, *, verified: bool) -> Player:
        """The sender as a player; the game's player id too, when the directory knows this
        address from another channel and the sender is verified: an unverified From may
        be anyone's."""
        known: dict[str, Any] = (self.directory.by_email(mail.sender) if verified else None) or {}
        return Player(
            email=mail.sender,
            player_id=known.get("player_id"),
            display_name=(mail.sender_name or "")[:200] or None,
            language=known.get("language") or language_of(f"{mail.subject} {text}"),
        )

    def keep_attachments(self, form: FormData) -> tuple[list[Attachment], list[str]]:
        """Files within the limits are kept; each one over them is named in the text, so
        nobody thinks the player sent nothing."""
        kept: list[Attachment] = []
        notes: list[str] = []
        total = 0
        for _, part in form.multi_items():
            if not isinstance(part, UploadFile):
                continue
            name = (part.filename or "attachment")[:255]
            content_type = (part.content_type or "application/octet-stream")[:255]
            size = part.size or 0
            limit = min(self.limits.per_file, self.limits.per_mail - total)
            if size > limit:
                notes.append(
                    f"[attachment {name} ({size_text(size)}) was over the "
                    f"{size_text(self.limits.per_file)} limit and was not kept]"
                )
                kept.append(Attachment(name=name, content_type=content_type, size=size))
                continue
            part.file.seek(0)
            data = part.file.read()
            total += len(data)
            kind = "photo" if content_type.startswith("image/") else "document"
            kept.append(
                Attachment(
                    name=name,
                    content_type=content_type,
                    size=len(data),
                    ref=self.files.put(data),
                    kind=kind,
                )
            )
        return kept, notes
