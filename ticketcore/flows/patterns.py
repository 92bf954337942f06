"""Regular expressions of the flows file, run by RE2 so that any text is matched in linear time.

A flows-file regex is written in Python's syntax and read with Python's meaning of `\\w`,
`\\d` and `\\s` (Unicode, so Cyrillic words are words). RE2 cannot backtrack, so a pattern
that needs to (backreferences, lookahead, lookbehind) is refused when the file loads, as is
`\\b`/`\\B`, which RE2 knows only for ASCII words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import re2

_WORD = r"\p{L}\p{N}_"
_SPACE = r"\s\v\x{1c}-\x{1f}\x{85}\p{Z}"  # what str.isspace() calls a space
# Python escapes with their Unicode meaning, outside and inside a character class.
_OUTSIDE = {
    "w": f"[{_WORD}]",
    "W": f"[^{_WORD}]",
    "d": r"\p{Nd}",
    "D": r"\P{Nd}",
    "s": f"[{_SPACE}]",
    "S": f"[^{_SPACE}]",
    "Z": r"\z",
}
_INSIDE = {"w": _WORD, "d": r"\p{Nd}", "D": r"\P{Nd}", "s": _SPACE, "b": r"\x08"}
_REFUSED_OUTSIDE = {
    "b": "\\b (a word boundary) is not supported: write (?:^|\\W) before a word and (?:\\W|$) "
    "after it",
    "B": "\\B is not supported",
}
_REFUSED_INSIDE = {
    "W": "\\W inside [...] is not supported: write [^...] with the letters it should not match",
    "S": "\\S inside [...] is not supported: write [^...] with what it should not match",
}
_OPTIONS = re2.Options()
_OPTIONS.log_errors = False


class PatternError(ValueError):
    """A flows-file regex that is not valid, or that RE2 cannot run."""


@dataclass(frozen=True)
class LinearPattern:
    """A compiled flows-file regex; `pattern` is the text the file gave."""

    pattern: str
    compiled: Any = field(compare=False, repr=False)

    def occurs_in(self, text: str) -> bool:
        """Whether the pattern matches anywhere in `text`, in time linear in its length."""
        return self.compiled.search(text) is not None


def linear_pattern(pattern: str) -> LinearPattern:
    """The pattern compiled by RE2; raises PatternError saying what is wrong with it."""
    try:
        re.compile(pattern)  # Python's messages and positions for plain syntax errors
    except re.error as exc:
        raise PatternError(f"bad regular expression: {exc.msg} at position {exc.pos}") from None
    try:
        compiled = re2.compile(to_re2(pattern), _OPTIONS)
    except re2.error as exc:
        reason = exc.args[0].decode() if isinstance(exc.args[0], bytes) else str(exc.args[0])
        raise PatternError(
            f"regular expression cannot run in linear time ({reason}); "
            "backreferences, lookahead and lookbehind are not supported"
        ) from None
    return LinearPattern(pattern, compiled)


def to_re2(pattern: str) -> str:
    """The pattern in RE2's syntax, with Python's Unicode meaning of its escapes."""
    out: list[str] = []
    i, class_start = 0, -1  # where the open character class began, -1 outside one
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            out.append(_escape(pattern[i + 1], inside=class_start >= 0, position=i))
            i += 2
            continue
        if class_start < 0 and char == "[":
            class_start = i
            # A "]" right after "[" or "[^" is a literal, not the end of the class.
            if pattern.startswith("^]", i + 1) or pattern.startswith("]", i + 1):
                skip = 2 if pattern[i + 1] == "^" else 1
                out.append(pattern[i : i + 1 + skip])
                i += 1 + skip
                continue
        elif class_start >= 0 and char == "]":
            class_start = -1
        out.append(char)
        i += 1
    return "".join(out)


def _escape(letter: str, *, inside: bool, position: int) -> str:
    refused = (_REFUSED_INSIDE if inside else _REFUSED_OUTSIDE).get(letter)
    if refused:
        raise PatternError(f"{refused} (position {position})")
    table = _INSIDE if inside else _OUTSIDE
    return table.get(letter, "\\" + letter)
