"""Players' side: Telegram updates become tickets and messages. The webhook answers 200
only once the player's message is stored; a repeated update_id is processed once."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

from pydantic import ValidationError
from pymongo.errors import PyMongoError
from redis import Redis
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from telegram import Message as TelegramMessage
from telegram import Update, User
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.telegram.texts import Texts, language_keyboard
from handlers.hourly_limit import HourlyLimit
from ticketcore.clock import Clock
from ticketcore.link_uses import LinkUses
from ticketcore.links import InvalidLink, player_from_token, token_id
from ticketcore.models import Actor, ActorKind, Attachment, Channel, Player, resolution_of
from ticketcore.outbox import backoff
from ticketcore.players import Directory, EmailCheck
from ticketcore.service import TicketService

log = logging.getLogger(__name__)

Context = ContextTypes.DEFAULT_TYPE
T = TypeVar("T")
MAX_UPDATE_BYTES = 1_000_000
UPDATE_SEEN_SECONDS = 7 * 24 * 3600
PRIVATE = filters.ChatType.PRIVATE
MEDIA = filters.PHOTO | filters.Document.ALL | filters.VIDEO | filters.VOICE | filters.VIDEO_NOTE
OPEN = ("new", "inprogress", "waiting", "pending", "answered")
# Failures of ours, which a retry of the same update may get past.
TRANSIENT = (PyMongoError, RedisError, OSError)
LARGEST = 2**63 - 1  # the store keeps 64-bit integers
EMAIL_CODE = re.compile(r"[0-9]{6}")
EMAIL_CHECK_TEXTS = {
    EmailCheck.CONFIRMED: "email_confirmed",
    EmailCheck.WRONG: "email_code_wrong",
    EmailCheck.EXPIRED: "email_code_expired",
    EmailCheck.NOTHING_PENDING: "email_nothing_pending",
}


def has_huge_number(data: Any) -> bool:
    """Whether any number in a JSON value is too large for the store to keep."""
    pending = [data]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, int) and not -LARGEST - 1 <= value <= LARGEST:
            return True
    return False


def attachments_of(message: TelegramMessage) -> tuple[list[Attachment], str]:
    """Telegram's file references kept on the message, and a subject for media alone."""
    if message.photo:
        photo = message.photo[-1]  # the largest size
        item = Attachment(
            name="photo.jpg",
            content_type="image/jpeg",
            size=photo.file_size or 0,
            ref=f"telegram:{photo.file_id}:{photo.file_unique_id}",
            kind="photo",
        )
        return [item], "Photo"
    for kind, media, default_type in (
        ("document", message.document, "application/octet-stream"),
        ("video", message.video, "video/mp4"),
        ("voice", message.voice, "audio/ogg"),
        ("video_note", message.video_note, "video/mp4"),
    ):
        if media is not None:
            name = getattr(media, "file_name", None) or f"{kind}"
            mime = getattr(media, "mime_type", None) or default_type
            item = Attachment(
                name=name[:255],
                content_type=mime[:255],
                size=media.file_size or 0,
                ref=f"telegram:{media.file_id}:{media.file_unique_id}",
                kind=kind,
            )
            return [item], name[:200]
    return [], ""


@dataclass
class SupportBot:
    """The conversation with players, in their language."""

    service: TicketService
    directory: Directory
    texts: Texts
    redis: Redis
    clock: Clock
    link_secret: str | None = None
    new_tickets_per_hour: int = 5
    email_code_minutes: int = 30
    email_code_attempts: int = 5
    email_codes_per_hour: int = 3
    # Asks a worker for the notices just owed on a player record; without it the sweeper
    # hands them over after its grace period.
    notices_owed: Callable[[], None] = lambda: None
    # Long polling: Telegram counts a fetched update as delivered, so a store that fails
    # for a passing reason (the database restarting) is tried again here, after these
    # delays (the last repeats), until it is stored. Empty with a webhook: its failure is
    # kept in `failures`, the webhook answers 503, and Telegram sends the update again.
    store_retries: Sequence[timedelta] = ()
    failures: dict[int, BaseException] = field(default_factory=dict)

    def register(self, application: Application[Any, Any, Any, Any, Any, Any]) -> None:
        application.add_handler(CommandHandler("start", self.start, filters=PRIVATE))
        application.add_handler(CommandHandler("new", self.new, filters=PRIVATE))
        application.add_handler(CommandHandler("status", self.status, filters=PRIVATE))
        application.add_handler(CommandHandler("help", self.help, filters=PRIVATE))
        application.add_handler(CommandHandler("language", self.language, filters=PRIVATE))
        application.add_handler(CommandHandler("email", self.email, filters=PRIVATE))
        application.add_handler(CallbackQueryHandler(self.language_chosen, pattern=r"^lang:"))
        application.add_handler(CallbackQueryHandler(self.rated, pattern=r"^csat:"))
        application.add_handler(
            MessageHandler(PRIVATE & filters.UpdateType.EDITED_MESSAGE, self.edited)
        )
        application.add_handler(
            MessageHandler(
                PRIVATE & filters.UpdateType.MESSAGE & ((filters.TEXT & ~filters.COMMAND) | MEDIA),
                self.message,
            )
        )
        application.add_handler(
            MessageHandler(
                PRIVATE & filters.UpdateType.MESSAGE & ~filters.COMMAND, self.unsupported
            )
        )

    # ------------------------------------------------------------------ plumbing

    async def store(self, update: Update, work: Callable[[], T]) -> T | None:
        """Run a storing call off the event loop. A failure is retried here when polling
        (see `store_retries`), else remembered so the webhook answers 503 and Telegram
        sends the update again."""
        attempts = 0
        while True:
            try:
                return await asyncio.to_thread(work)
            except TRANSIENT as exc:
                if not self.store_retries:
                    self.failed(update, exc)
                    return None
                attempts += 1
                wait = backoff(attempts, self.store_retries)
                log.warning(
                    "could not store Telegram update %s (%s); trying again in %s",
                    update.update_id,
                    exc,
                    wait,
                )
                await asyncio.sleep(wait.total_seconds())
            except Exception as exc:  # the update itself: a retry would fail the same way
                self.failed(update, exc)
                return None

    def failed(self, update: Update, exc: Exception) -> None:
        log.error("could not store Telegram update %s", update.update_id, exc_info=exc)
        if not self.store_retries:  # polling has no one to answer
            self.failures[update.update_id] = exc

    def player_of(self, user: User, chat_id: int) -> Player:
        known = self.directory.by_telegram(user.id) or {}
        name = " ".join(p for p in (user.first_name, user.last_name) if p) or user.username
        return Player(
            player_id=known.get("player_id"),
            telegram_user_id=user.id,
            telegram_chat_id=chat_id,
            telegram_username=(user.username or "").lower()[:64] or None,
            language=known.get("language") or self.texts.language_for(user.language_code),
            display_name=(name or None) and name[:200],
        )

    def language_of(self, user: User) -> str:
        known = self.directory.by_telegram(user.id) or {}
        return known.get("language") or self.texts.language_for(user.language_code)

    def may_open_ticket(self, user_id: int) -> bool:
        limit = HourlyLimit(self.redis, "tg:opened", self.new_tickets_per_hour, self.clock)
        return limit.allows(str(user_id))

    async def say(self, update: Update, key: str, **values: object) -> None:
        user = update.effective_user
        assert user is not None and update.effective_chat is not None
        language = await asyncio.to_thread(self.language_of, user)
        await update.effective_chat.send_message(self.texts.get(language, key, **values))

    # ------------------------------------------------------------------ commands

    async def start(self, update: Update, context: Context) -> None:
        user = update.effective_user
        assert user is not None
        token = context.args[0] if context.args else None
        if token is None:
            await self.say(
                update, "greeting", name=f", {user.first_name}" if user.first_name else ""
            )
            return
        try:
            if not self.link_secret:
                raise InvalidLink("player links are not configured")
            player_id = player_from_token(token, secret=self.link_secret, now=self.clock())
        except InvalidLink as exc:
            log.info("refused a player link from Telegram user %s: %s", user.id, exc)
            await self.say(update, "link_invalid")
            return
        used = token_id(token)
        said = await self.store(update, lambda: self.bind_by_link(user.id, player_id, used))
        if said is not None:
            await self.say(update, said)

    def bind_by_link(self, user_id: int, player_id: str, used: str) -> str:
        """Bind the user to the player the link names, if the link was never used; what
        to tell the user."""
        uses = LinkUses(self.service.store)
        if not uses.claim(used, player_id, user_id, self.clock()):
            log.info("refused a used player link from Telegram user %s", user_id)
            return "link_used"
        actor = Actor(kind=ActorKind.PLAYER, id=f"tg:{user_id}", via="telegram")
        self.service.bind_player_id(user_id, player_id, actor=actor)
        uses.bound(used, self.clock())
        self.notices_owed()  # the chat the player may have been taken from
        return "link_ok"

    async def new(self, update: Update, context: Context) -> None:
        assert update.effective_user is not None
        self.redis.set(f"tg:start-new:{update.effective_user.id}", 1, ex=3600)
        await self.say(update, "new_prompt")

    async def status(self, update: Update, context: Context) -> None:
        user = update.effective_user
        assert user is not None and update.effective_chat is not None
        tickets = await asyncio.to_thread(self.service.open_for_telegram, user.id)
        language = await asyncio.to_thread(self.language_of, user)
        if not tickets:
            await update.effective_chat.send_message(self.texts.get(language, "status_none"))
            return
        lines = [self.texts.get(language, "status_header")] + [
            self.texts.get(
                language,
                "status_line",
                number=t.number,
                subject=t.subject,
                status=self.texts.get(language, f"status.{t.status}"),
            )
            for t in tickets
        ]
        await update.effective_chat.send_message("\n".join(lines)[:4096])

    async def email(self, update: Update, context: Context) -> None:
        """`/email name@example.com` mails a code to the address; `/email 123456` sends
        the code back. Only then do mail from it and tickets with it count as this player."""
        user = update.effective_user
        assert user is not None
        given = " ".join(context.args or []).strip()
        if EMAIL_CODE.fullmatch(given):
            said = await self.store(update, lambda: self.check_email_code(user.id, given))
        else:
            try:
                address = Player(email=given).email
            except ValidationError:
                await self.say(update, "email_invalid")
                return
            assert address is not None
            said = await self.store(update, lambda: self.send_email_code(user, address))
        if said is not None:
            await self.say(update, said[0], **said[1])

    def send_email_code(self, user: User, address: str) -> tuple[str, dict[str, object]]:
        codes = HourlyLimit(self.redis, "tg:email-codes", self.email_codes_per_hour, self.clock)
        if not codes.allows(str(user.id)):
            return "email_codes_limit", {}
        now = self.clock()
        minutes = self.email_code_minutes
        self.directory.ask_to_confirm_email(
            user.id,
            address,
            f"{secrets.randbelow(10**6):06d}",
            at=now,
            expires_at=now + timedelta(minutes=minutes),
            language=self.language_of(user),
        )
        self.notices_owed()
        return "email_code_sent", {"email": address, "minutes": minutes}

    def check_email_code(self, user_id: int, code: str) -> tuple[str, dict[str, object]]:
        attempts = self.email_code_attempts
        check = self.directory.confirm_email(user_id, code, self.clock(), max_attempts=attempts)
        known = self.directory.by_telegram(user_id) or {}
        return EMAIL_CHECK_TEXTS[check], {"email": known.get("email")}

    async def help(self, update: Update, context: Context) -> None:
        await self.say(update, "help")

    async def language(self, update: Update, context: Context) -> None:
        await self.say_with_keyboard(update)

    async def say_with_keyboard(self, update: Update) -> None:
        user = update.effective_user
        assert user is not None and update.effective_chat is not None
        language = await asyncio.to_thread(self.language_of, user)
        await update.effective_chat.send_message(
            self.texts.get(language, "choose_language"), reply_markup=language_keyboard(self.texts)
        )

    async def language_chosen(self, update: Update, context: Context) -> None:
        query = update.callback_query
        assert query is not None and query.data is not None
        language = self.texts.language_for(query.data.split(":", 1)[1])
        await asyncio.to_thread(
            self.directory.set_language, query.from_user.id, language, self.clock()
        )
        await query.answer()
        await query.edit_message_text(self.texts.get(language, "language_set"))

    async def rated(self, update: Update, context: Context) -> None:
        """A CSAT answer counts only from the ticket's player, for its current resolution."""
        query = update.callback_query
        assert query is not None and query.data is not None
        language = await asyncio.to_thread(self.language_of, query.from_user)
        try:
            _, number, resolution, score = query.data.split(":")
            ticket = await asyncio.to_thread(self.service.get, int(number))
            valid = (
                ticket.player.telegram_user_id == query.from_user.id
                and ticket.status == "resolved"
                and ticket.csat is None
                and str(resolution_of(ticket)) == resolution
            )
        except (ValueError, LookupError, AssertionError):
            valid = False
        if not valid:
            await query.answer(self.texts.get(language, "csat_closed"))
            return
        actor = Actor(kind=ActorKind.PLAYER, id=f"tg:{query.from_user.id}", via="telegram")
        await self.store(update, lambda: self.service.rate(int(number), int(score), actor=actor))
        await query.answer(self.texts.get(language, "csat_thanks"))
        await query.edit_message_reply_markup(reply_markup=None)

    # ------------------------------------------------------------------ messages

    async def message(self, update: Update, context: Context) -> None:
        message, user = update.message, update.effective_user
        assert message is not None and user is not None
        attachments, media_subject = attachments_of(message)
        text = (message.text or message.caption or "")[:20_000]
        external_id = f"{message.chat_id}:{message.message_id}"
        inbound_id = f"telegram:{external_id}"

        def store() -> str | None:
            if self.service.stored_with(inbound_id) is not None:
                return None  # a resend: counts against no limit, and starts nothing new
            player = self.player_of(user, message.chat_id)
            start_new = bool(self.redis.getdel(f"tg:start-new:{user.id}"))
            opens = start_new or self.service.current_ticket(player, Channel.TELEGRAM) is None
            if opens and not self.may_open_ticket(user.id):
                return "too_many_tickets"
            self.service.add_player_message(
                player=player,
                channel=Channel.TELEGRAM,
                text=text,
                attachments=attachments,
                subject=None if text.strip() else media_subject,
                external_id=external_id,
                new=start_new,
                inbound_id=inbound_id,
            )
            return None

        refusal = await self.store(update, store)
        if refusal:
            await self.say(update, refusal)

    async def edited(self, update: Update, context: Context) -> None:
        message, user = update.edited_message, update.effective_user
        assert message is not None and user is not None
        attachments, _ = attachments_of(message)
        text = (message.text or message.caption or "")[:20_000]
        external_id = f"{message.chat_id}:{message.message_id}"
        # Each edit is an update of its own; its time tells one edit from the next.
        edited_at = int(message.edit_date.timestamp()) if message.edit_date else 0
        await self.store(
            update,
            lambda: self.service.edit_player_message(
                player=self.player_of(user, message.chat_id),
                channel=Channel.TELEGRAM,
                external_id=external_id,
                text=text,
                attachments=attachments,
                inbound_id=f"telegram:{external_id}:edit:{edited_at}",
            ),
        )

    async def unsupported(self, update: Update, context: Context) -> None:
        await self.say(update, "unsupported")


class TelegramWebhook:
    """POST /telegram/webhook, as set with setWebhook and its secret token."""

    def __init__(
        self, application: Application[Any, Any, Any, Any, Any, Any], bot: SupportBot, secret: str
    ) -> None:
        self.application = application
        self.bot = bot
        self.secret = secret

    async def handle(self, request: Request) -> Response:
        given = request.headers.get("x-telegram-bot-api-secret-token", "")
        if not hmac.compare_digest(given.encode(), self.secret.encode()):
            return JSONResponse({"error": "wrong or missing secret token"}, status_code=401)
        raw = await request.body()
        if len(raw) > MAX_UPDATE_BYTES:
            return JSONResponse({"error": "update too large"}, status_code=413)
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            return JSONResponse({"error": "body is not valid JSON"}, status_code=400)
        except RecursionError:
            return JSONResponse({"error": "body is nested too deeply"}, status_code=400)
        update_id = data.get("update_id") if isinstance(data, dict) else None
        if not isinstance(update_id, int) or isinstance(update_id, bool):
            return JSONResponse({"error": "update_id: an integer is required"}, status_code=400)
        if has_huge_number(data):  # it would fail at the store, after a ticket number is taken
            return JSONResponse({"error": "a number in the update is over 64 bits"}, 400)
        # Seen is recorded once the update is handled, never before: a crash in between
        # and Telegram's resend is handled again. A message it carried is stored once all
        # the same (Ticket.inbound_ids); this mark only spares the work of finding out.
        seen = f"tg:update:{update_id}"
        if self.bot.redis.exists(seen):
            return JSONResponse({"ok": True, "duplicate": True})
        try:
            update = Update.de_json(data, self.application.bot)
        except Exception as exc:
            return JSONResponse({"error": f"not a Telegram update: {exc}"[:200]}, status_code=400)
        await self.application.process_update(update)
        failure = self.bot.failures.pop(update_id, None)
        if isinstance(failure, TRANSIENT):
            return JSONResponse({"error": "not stored; send it again"}, status_code=503)
        self.bot.redis.set(seen, 1, ex=UPDATE_SEEN_SECONDS)
        if failure is not None:  # the update itself: a retry would fail the same way
            reason = f"{type(failure).__name__}: {str(failure).splitlines()[0]}"
            return JSONResponse({"error": f"update cannot be stored ({reason})"[:200]}, 400)
        return JSONResponse({"ok": True})


ALLOWED_UPDATES = ["message", "edited_message", "callback_query"]


@dataclass
class TelegramChannel:
    """The bot's connection: a webhook when there is a public URL, else long polling."""

    application: Application[Any, Any, Any, Any, Any, Any]
    bot: SupportBot
    webhook_url: str | None
    secret: str | None

    def routes(self) -> list[Any]:
        from starlette.routing import Route

        if self.webhook_url is None or self.secret is None:
            return []
        webhook = TelegramWebhook(self.application, self.bot, self.secret)
        return [Route("/telegram/webhook", webhook.handle, methods=["POST"])]

    async def startup(self) -> None:
        await self.application.initialize()
        await self.application.start()
        bot = self.application.bot
        if self.webhook_url and self.secret:
            await bot.set_webhook(
                self.webhook_url, secret_token=self.secret, allowed_updates=ALLOWED_UPDATES
            )
            log.info("Telegram webhook set to %s", self.webhook_url)
        else:
            await bot.delete_webhook()
            assert self.application.updater is not None
            await self.application.updater.start_polling(allowed_updates=ALLOWED_UPDATES)
            log.info("Telegram long polling started (no TELEGRAM_WEBHOOK_URL)")

    async def shutdown(self) -> None:
        if self.application.updater is not None and self.application.updater.running:
            await self.application.updater.stop()
        if self.application.running:
            await self.application.stop()
        await self.application.shutdown()
