"""Email addresses from outside: exactly one addr-spec, as the standard library parses it."""

from __future__ import annotations

from email.errors import HeaderParseError
from email.headerregistry import Address

MAX_ADDRESS = 254  # RFC 5321's limit on a path


def to_address(text: str) -> str:
    """The one address `text` is, lower-cased; ValueError with the reason otherwise.

    A list (`a@x.com,b@y.com`), a display name, a comment or an IP literal is refused:
    what a player or a mail gives us decides whose tickets they see."""
    value = text.strip()
    if len(value) > MAX_ADDRESS:
        raise ValueError(f"is longer than {MAX_ADDRESS} characters")
    try:
        parsed = Address(addr_spec=value)
    except IndexError:  # the parser runs off the end of "", "a@" and the like
        raise ValueError("is not an email address (it is cut short)") from None
    except (ValueError, HeaderParseError) as exc:
        raise ValueError(f"is not one email address ({first_line(exc)})") from None
    if parsed.addr_spec != value:  # what the parser dropped (a comment, spaces) was not ours
        raise ValueError("is not one email address (it has more than the address)")
    if not parsed.username or "." not in parsed.domain or parsed.domain.startswith("["):
        raise ValueError("is not an email address with a domain name")
    return value.lower()


def first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
