"""Notification texts of flows: Jinja templates over the facts, every printed value escaped."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from jinja2 import ChainableUndefined, Template, TemplateSyntaxError, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_TEXT = 3_000
ELLIPSIS = "…"

Escape = Callable[[str], str]


class TextError(ValueError):
    """A template that does not compile, or fails while rendering."""


def identity(text: str) -> str:
    return text


def check_template(template: str) -> None:
    """Raise TextError unless the template compiles."""
    _compiled(template, identity)


def render_text(template: str, facts: Mapping[str, Any], *, escape: Escape = identity) -> str:
    """The template rendered over the facts: each value through `escape`, at most MAX_TEXT long.

    A name the facts lack renders as nothing; anything else that fails raises TextError.
    """
    try:
        text = _compiled(template, escape).render(facts)
    except Exception as exc:  # the template is data: whatever it does wrong is its error
        raise TextError(f"template failed: {type(exc).__name__}: {exc}") from exc
    return capped(text)


def capped(text: str, limit: int = MAX_TEXT) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - len(ELLIPSIS)] + ELLIPSIS


@lru_cache(maxsize=16)
def _environment(escape: Escape) -> ImmutableSandboxedEnvironment:
    """One sandbox per escaper (`finalize` sees each value on its way out); facts stay unchanged."""

    def finalize(value: Any) -> str:
        if value is None or isinstance(value, Undefined):
            return ""
        return escape(str(value))

    return ImmutableSandboxedEnvironment(
        finalize=finalize,
        # Our own `escape` does the escaping; Jinja's HTML autoescape would double it.
        autoescape=False,
        undefined=ChainableUndefined,
        keep_trailing_newline=True,
    )


@lru_cache(maxsize=1024)
def _compiled(template: str, escape: Escape) -> Template:
    try:
        return _environment(escape).from_string(template)
    except TemplateSyntaxError as exc:
        raise TextError(f"bad template: {exc.message} (template line {exc.lineno})") from exc
