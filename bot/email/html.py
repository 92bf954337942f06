"""The HTML of a player's mail: read as plain text without the quoted history, or kept as
HTML cut down to an allow-list."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import nh3

# Dropped with everything inside them: never text a person wrote.
DROPPED = frozenset({"script", "style", "head", "title", "template"})
PARAGRAPH = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "hr"})
LISTS = frozenset({"ul", "ol"})
LINE = frozenset(
    {"div", "li", "table", "tr", "thead", "tbody", "tfoot", "caption", "dl", "dt", "dd"}
    | {"section", "article", "header", "footer", "main", "address", "center", "figure"}
)
CELL = frozenset({"td", "th"})
# Quotes and lists show at most this many levels: each line repeats its markers, so deeper
# nesting would grow the text with the square of its depth.
MAX_SHOWN_DEPTH = 8

Attributes = dict[str, str]


def is_quote(tag: str, attrs: Attributes) -> bool:
    """The element in which a mail client put the message being answered."""
    classes = attrs.get("class", "").split()
    return (
        (tag in {"div", "blockquote"} and "gmail_quote" in classes)  # Gmail
        or (tag == "blockquote" and attrs.get("type", "").lower() == "cite")  # Apple, Thunderbird
        or (tag == "div" and "moz-cite-prefix" in classes)  # Thunderbird's "On … wrote:"
        or (tag == "div" and "yahoo_quoted" in classes)  # Yahoo
    )


def is_history_start(tag: str, attrs: Attributes) -> bool:
    """Outlook marks only where the history starts; everything after it is history."""
    return tag == "div" and attrs.get("id") in {"divRplyFwdMsg", "appendonsend"}


class _TextWriter(HTMLParser):
    """Collects the text of a document, with line breaks where blocks begin and end."""

    def __init__(self, *, drop_quotes: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.drop_quotes = drop_quotes
        self.parts: list[str] = []
        self.newlines = 0  # newlines at the end of the output so far
        self.space = False  # whitespace seen since the last word, not yet written
        self.skipping: str | None = None  # the tag whose content is being dropped
        self.skip_depth = 0
        self.finished = False  # past the start of Outlook's history
        self.quote_depth = 0
        self.pre_depth = 0
        self.lists: list[int | None] = []  # per open list: the next number, None if bulleted
        self.links: list[tuple[str, int]] = []  # per open link: href, index into parts
        self.marker: str | None = None  # a list item's "- ", written with its first text

    # Output

    def write(self, text: str) -> None:
        if not text:
            return
        if self.quote_depth and self.at_line_start():
            self.parts.append("> " * min(self.quote_depth, MAX_SHOWN_DEPTH))
        if self.marker is not None:
            self.parts.append(self.marker)
            self.marker = None
        self.parts.append(text)
        stripped = text.rstrip("\n")
        self.newlines = len(text) - len(stripped) if stripped else self.newlines + len(text)

    def at_line_start(self) -> bool:
        return not self.parts or self.newlines > 0

    def after_space(self) -> bool:
        """At a line's start or after a space, where another space would be one too many."""
        return not self.parts or self.parts[-1][-1:] in {" ", "\n"}

    def block(self, newlines: int) -> None:
        """End the current line, leaving `newlines` line breaks (2: a blank line)."""
        if not newlines or self.marker is not None:  # <li><p>: the text goes beside the marker
            return
        self.space = False
        if self.parts and self.newlines < newlines:
            self.parts.append("\n" * (newlines - self.newlines))
            self.newlines = newlines

    def line_break(self) -> None:
        self.space = False
        if self.marker is not None:
            return
        self.parts.append("\n")
        self.newlines += 1

    def words(self, data: str) -> None:
        words = data.split()
        if not words:
            self.space = self.space or bool(data)
            return
        if (self.space or data[0].isspace()) and not self.after_space():
            self.parts.append(" ")
        self.write(" ".join(words))
        self.space = data[-1].isspace()

    # Parser events

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.finished:
            return
        if self.skipping is not None:
            if self.skipping == "head" and tag == "body":  # a <head> nobody closed
                self.skipping = None
            else:
                self.skip_depth += tag == self.skipping
                return
        values = {name: value or "" for name, value in attrs}
        if self.drop_quotes and is_history_start(tag, values):
            self.finished = True
        elif tag in DROPPED or (self.drop_quotes and is_quote(tag, values)):
            self.skipping, self.skip_depth = tag, 1
        else:
            self.enter(tag, values)

    def handle_endtag(self, tag: str) -> None:
        if self.finished:
            return
        if self.skipping is not None:
            if tag == self.skipping:
                self.skip_depth -= 1
                if self.skip_depth == 0:
                    self.skipping = None
            return
        self.leave(tag)

    def handle_data(self, data: str) -> None:
        if self.finished or self.skipping is not None:
            return
        if self.pre_depth:
            self.write(data)
        else:
            self.words(data)

    def enter(self, tag: str, attrs: Attributes) -> None:
        if tag == "br":
            self.line_break()
        elif tag in CELL:
            self.space = True
        else:
            self.block(self.breaks(tag))
        if tag == "blockquote":
            self.quote_depth += 1
        elif tag == "pre":
            self.pre_depth += 1
        elif tag in LISTS:
            self.lists.append(1 if tag == "ol" else None)
        elif tag == "li":
            self.list_item()
        elif tag == "a":
            if self.links:  # a link inside a link ends the outer one, as in browsers
                self.link_end(*self.links.pop())
            self.links.append((attrs.get("href", "").strip(), len(self.parts)))

    def leave(self, tag: str) -> None:
        if tag == "blockquote":
            self.quote_depth = max(0, self.quote_depth - 1)
        elif tag == "pre":
            self.pre_depth = max(0, self.pre_depth - 1)
        elif tag in LISTS and self.lists:
            self.lists.pop()
        elif tag == "a" and self.links:
            self.link_end(*self.links.pop())
        if tag in CELL:
            self.space = True
        else:
            self.block(self.breaks(tag))

    def breaks(self, tag: str) -> int:
        """Line breaks around `tag`: a blank line around paragraphs and outer lists."""
        if tag in LISTS:
            return 1 if self.lists else 2
        return 2 if tag in PARAGRAPH else 1 if tag in LINE else 0

    def list_item(self) -> None:
        number = self.lists[-1] if self.lists else None
        marker = "-" if number is None else f"{number}."
        if number is not None:
            self.lists[-1] = number + 1
        indent = min(len(self.lists) - 1, MAX_SHOWN_DEPTH)
        self.marker = "  " * max(0, indent) + marker + " "
        self.space = False

    def link_end(self, href: str, start: int) -> None:
        text = "".join(self.parts[start:]).strip()
        if (
            text
            and href
            and not href.startswith(("#", "javascript:"))
            and not same_address(text, href)
        ):
            self.parts.append(f" ({href})")
            self.newlines = 0


def same_address(text: str, href: str) -> bool:
    """Whether a link's text only repeats its target, as in <a href="https://x.io/">x.io</a>."""

    def bare(url: str) -> str:
        return re.sub(r"^(https?://|mailto:)(www\.)?", "", url.strip().lower()).rstrip("/")

    return bare(text) == bare(href)


# A "<" that does not open a complete tag (a name, then no "<" before the ">"). The scan
# from each "<" stops at the next one, so the whole text is read once.
_STRAY_LT = re.compile(r"<(?![a-zA-Z/!?][^<>]*>)")


def well_formed(html: str) -> str:
    """The HTML without comments and with every "<" that opens no complete tag escaped:
    Python's parser rescans the rest of the text from each unfinished tag or comment,
    quadratic on a run of them."""
    return _STRAY_LT.sub("&lt;", without_comments(html))


def without_comments(html: str) -> str:
    """The HTML without its comments; an unclosed one runs to the end, as in browsers."""
    kept, at = [], 0
    while (start := html.find("<!--", at)) >= 0:
        kept.append(html[at:start])
        end = html.find("-->", start + 4)
        at = len(html) if end < 0 else end + 3
    kept.append(html[at:])
    return "".join(kept)


def html_to_text(html: str, *, drop_quotes: bool = True) -> str:
    """The readable text of an HTML mail; without the quoted history unless told to keep it."""
    writer = _TextWriter(drop_quotes=drop_quotes)
    writer.feed(well_formed(html))
    writer.close()
    lines = "".join(writer.parts).replace("\xa0", " ").split("\n")
    text = "\n".join(line.rstrip() for line in lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


SAFE_TAGS = frozenset(
    {"p", "br", "div", "span", "b", "strong", "i", "em", "u", "ul", "ol", "li", "blockquote"}
    | {"a", "img", "table", "tr", "td", "th", "thead", "tbody"}
)
# "*" is given empty on purpose: left out, nh3 would keep title and lang on every tag.
SAFE_ATTRIBUTES: dict[str, set[str]] = {"*": set(), "a": {"href"}, "img": {"src", "alt"}}
LINK_SCHEMES = ("http:", "https:", "mailto:")
IMAGE_SCHEMES = ("cid:", "https:")  # inline attachments, or images over TLS only


def _allowed_url(tag: str, attribute: str, value: str) -> str | None:
    """nh3's scheme list is one for all attributes; links and images need different ones."""
    schemes = {("a", "href"): LINK_SCHEMES, ("img", "src"): IMAGE_SCHEMES}.get((tag, attribute))
    if schemes is None or value.strip().lower().startswith(schemes):
        return value
    return None


def sanitize_html(html: str) -> str:
    """A player's HTML cut down to basic formatting, links and images; nothing that runs."""
    return nh3.clean(
        html,
        tags=set(SAFE_TAGS),
        clean_content_tags={"script", "style", "title", "head", "template"},
        attributes={tag: set(names) for tag, names in SAFE_ATTRIBUTES.items()},
        attribute_filter=_allowed_url,
        url_schemes={"http", "https", "mailto", "cid"},
        url_relative="deny",
        link_rel="noopener noreferrer nofollow",
    )
