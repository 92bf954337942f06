"""The reply part of a plain-text mail, without the quoted history and the signature.

The reading of GitHub's email reply parser (as the email-reply-parser package ports it):
the text is read bottom up in fragments of like lines (quoted, header, other); fragments
below the last header, quoted ones and a trailing signature are hidden. The package runs a
regex across the whole text that backtracks without bound on a run of "On " words and
hides fragments in quadratic time; this reading does the same in linear time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# A quote header wrapped over lines ("On Mon, 1 Jan,\nAnn <ann@example.com> wrote:") is
# joined into one line when it is at most this long; real ones are far shorter.
MAX_QUOTE_HEADER = 500
_QUOTE_HEADER_START = re.compile(r"On\s")
_HEADER = re.compile(r"\*?(From|Sent|To|Subject):\*? .")
_SIGNATURE = re.compile(r"--|__|-\w|Sent from my \w")
_BEFORE_RULE = re.compile(r"([^\n])(?=\n ?[_-]{7})")


@dataclass
class _Fragment:
    quoted: bool
    headers: bool
    lines: list[str] = field(default_factory=list)  # bottom up while read
    signature: bool = False
    hidden: bool = False
    content: str = ""


def reply_of(text: str) -> str:
    """The visible, unquoted fragments of `text`, top down, joined by newlines."""
    text = _joined_quote_header(text.replace("\r\n", "\n"))
    # Outlook puts the reply right above its rule line; a break lets the rule start a fragment.
    text = _BEFORE_RULE.sub("\\1\n", text)
    reader = _Reader()
    for line in reversed(text.split("\n")):
        reader.scan(line)
    reader.finish_fragment()
    shown = [
        f.content
        for index, f in enumerate(reader.fragments)
        if not (f.hidden or f.quoted or index < reader.hidden_below)
    ]
    return "\n".join(reversed(shown))


def _joined_quote_header(text: str) -> str:
    """The text with its last quote header ("On ... wrote:") on one line."""
    end = text.rfind("wrote:")
    if end < 0:
        return text
    window = max(0, end - MAX_QUOTE_HEADER)
    starts = [m.start() for m in _QUOTE_HEADER_START.finditer(text, window, end - 1)]
    if not starts:
        return text
    start = starts[-1]
    end = text.index("wrote:", start + 4) + len("wrote:")
    return text[:start] + text[start:end].replace("\n", "") + text[end:]


def _is_quote_header(line: str) -> bool:
    return len(line) >= len("Onwrote:") and line.startswith("On") and line.endswith("wrote:")


class _Reader:
    def __init__(self) -> None:
        self.fragments: list[_Fragment] = []  # bottom up
        self.fragment: _Fragment | None = None
        self.found_visible = False
        self.hidden_below = 0  # fragments before this index lie under a header: hidden

    def scan(self, line: str) -> None:
        is_quote_header = _is_quote_header(line)
        is_quoted = line.startswith(">")
        is_header = is_quote_header or _HEADER.match(line) is not None
        is_blank = not line.strip()
        fragment = self.fragment
        if fragment and is_blank and _SIGNATURE.match(fragment.lines[-1].strip()):
            fragment.signature = True
            self.finish_fragment()
            fragment = None
        if fragment and (
            (fragment.headers == is_header and fragment.quoted == is_quoted)
            or (fragment.quoted and (is_quote_header or is_blank))
        ):
            fragment.lines.append(line)
        else:
            self.finish_fragment()
            self.fragment = _Fragment(is_quoted, is_header, [line])

    def finish_fragment(self) -> None:
        fragment = self.fragment
        if fragment is None:
            return
        fragment.content = "\n".join(reversed(fragment.lines)).strip()
        if fragment.headers:
            self.found_visible = False
            self.hidden_below = len(self.fragments)
        if not self.found_visible:
            if fragment.quoted or fragment.headers or fragment.signature or not fragment.content:
                fragment.hidden = True
            else:
                self.found_visible = True
        self.fragments.append(fragment)
        self.fragment = None
