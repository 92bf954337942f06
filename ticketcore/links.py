"""Signed, expiring player references: how the game tells the support bot who a player is.

A token fits Telegram's deep-link parameter (at most 64 characters of [A-Za-z0-9_-]):
base64url of one version byte, the expiry as 5 bytes of Unix seconds, 12 bytes of
HMAC-SHA256 and the player id itself. The game backend makes tokens with the shared
secret, offline; the bot checks them without a lookup, and records each one it accepts
(see ticketcore.link_uses), so a token binds once.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from datetime import datetime, timedelta

VERSION = 1
MAC_BYTES = 12
EXPIRY_BYTES = 5
MAX_TOKEN = 64
MAX_PLAYER_ID_BYTES = MAX_TOKEN * 3 // 4 - 1 - EXPIRY_BYTES - MAC_BYTES  # 30
DEFAULT_TTL = timedelta(days=7)
# A link is a bearer credential until it is used or expires: its life is kept short.
MAX_TTL = timedelta(days=30)


class InvalidLink(ValueError):
    """A token that is malformed, tampered with, or expired; the reason says which."""


def _mac(secret: str, body: bytes) -> bytes:
    return hmac.new(secret.encode(), body, hashlib.sha256).digest()[:MAC_BYTES]


def make_token(player_id: str, *, secret: str, now: datetime, ttl: timedelta = DEFAULT_TTL) -> str:
    """A token naming `player_id` until `now + ttl`; ValueError past MAX_TTL."""
    if not timedelta(0) < ttl <= MAX_TTL:
        raise ValueError(f"a player link must live more than 0 and at most {MAX_TTL.days} days")
    raw_id = player_id.encode()
    if not raw_id or len(raw_id) > MAX_PLAYER_ID_BYTES:
        raise ValueError(f"a linked player id must be 1 to {MAX_PLAYER_ID_BYTES} bytes")
    expires = int((now + ttl).timestamp()).to_bytes(EXPIRY_BYTES, "big")
    body = bytes([VERSION]) + expires + raw_id
    token = base64.urlsafe_b64encode(body[: 1 + EXPIRY_BYTES] + _mac(secret, body) + raw_id)
    return token.decode().rstrip("=")


def _decoded(token: str) -> bytes:
    if not 0 < len(token) <= MAX_TOKEN:
        raise InvalidLink("the link is malformed")
    try:
        return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise InvalidLink("the link is malformed") from None


def player_from_token(token: str, *, secret: str, now: datetime) -> str:
    """The player id a valid token names; InvalidLink otherwise."""
    raw = _decoded(token)
    head = 1 + EXPIRY_BYTES
    if len(raw) <= head + MAC_BYTES or raw[0] != VERSION:
        raise InvalidLink("the link is malformed")
    expires, mac, raw_id = raw[1:head], raw[head : head + MAC_BYTES], raw[head + MAC_BYTES :]
    if not hmac.compare_digest(mac, _mac(secret, raw[:head] + raw_id)):
        raise InvalidLink("the link was altered")
    if int.from_bytes(expires, "big") < now.timestamp():
        raise InvalidLink("the link has expired")
    try:
        return raw_id.decode()
    except UnicodeDecodeError:
        raise InvalidLink("the link is malformed") from None


def token_id(token: str) -> str:
    """Names a token by what it decodes to: spellings that decode alike are one token."""
    return hashlib.sha256(_decoded(token)).hexdigest()


def deep_link(bot_username: str, token: str) -> str:
    return f"https://t.me/{bot_username}?start={token}"


# Rating links in CSAT mails: base64url of the ticket number (4 bytes), the resolution it
# asks about (5 bytes of Unix seconds) and 12 bytes of HMAC. The link is good while the
# ticket is resolved that same time; a reopened and re-resolved ticket asks anew.
RATING_PURPOSE = b"rating:"


def rating_token(number: int, resolution: int, *, secret: str) -> str:
    body = number.to_bytes(4, "big") + resolution.to_bytes(EXPIRY_BYTES, "big")
    mac = _mac(secret, RATING_PURPOSE + body)
    return base64.urlsafe_b64encode(body + mac).decode().rstrip("=")


def rating_from_token(token: str, *, secret: str) -> tuple[int, int]:
    """The ticket number and resolution a rating link names; InvalidLink otherwise."""
    raw = _decoded(token)
    body, mac = raw[: 4 + EXPIRY_BYTES], raw[4 + EXPIRY_BYTES :]
    if len(body) != 4 + EXPIRY_BYTES or len(mac) != MAC_BYTES:
        raise InvalidLink("the link is malformed")
    if not hmac.compare_digest(mac, _mac(secret, RATING_PURPOSE + body)):
        raise InvalidLink("the link was altered")
    return int.from_bytes(body[:4], "big"), int.from_bytes(body[4:], "big")
