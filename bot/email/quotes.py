# ruff: noqa: RUF001 - Russian client phrases are Cyrillic on purpose
"""The player's own words in a plain-text mail: quoted history, signatures and mobile
footers of the common English and Russian mail clients taken away, nothing else.

Rules work line by line; a line longer than MAX_RULE_LINE is never a rule line, which keeps
every match bounded. When stripping would leave almost nothing of what the player's client
did not mark as a quote, the whole mail is kept instead (`Visible.kept_whole`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Attribution, header and footer lines are short; a longer line is never one of them.
MAX_RULE_LINE = 1_000
# If what is kept is less than this share of the unquoted text (the kept text plus the
# signature and footers cut from it), a rule has likely eaten the player's words.
MIN_KEPT_SHARE = 0.05
KEPT_WHOLE_NOTE = "[quoted history could not be separated; the whole mail is shown]"

# The line a client writes above the message being answered, per client family. Each must
# also hold a digit (a date or time), so that a sentence ending in "wrote:" is not one.
ATTRIBUTIONS: tuple[tuple[str, re.Pattern[str]], ...] = (
    # Gmail (web, Android), Apple Mail and iOS, Thunderbird, Outlook mobile, in English.
    ("english", re.compile(r"On\s.{1,400}\swrote\s?:", re.IGNORECASE)),
    # Gmail in Russian, Yandex, Mail.ru: a date, then the name and address, then a colon.
    ("address", re.compile(r".{1,400}<[^<>\s@]{1,200}@[^<>\s]{1,200}>\s?:", re.IGNORECASE)),
    # Thunderbird and Apple Mail in Russian, and other clients' own words.
    (
        "verb",
        re.compile(
            r".{1,400}\s(пишет|написал|написала|написал\(а\)|schrieb|a écrit|escribió)\s?:",
            re.IGNORECASE,
        ),
    ),
)
_ANY_ATTRIBUTION = re.compile(
    "|".join(f"(?:{pattern.pattern})" for _, pattern in ATTRIBUTIONS), re.IGNORECASE
)
_DIGIT = re.compile(r"\d")
# Outlook (desktop and web, English and Russian) quotes under a header block; a "From:"
# line starts one only when a header line follows it at once.
_HEADER_FROM = re.compile(r"\*?(From|От):\*?[ \t].{1,900}", re.IGNORECASE)
_HEADER_NEXT = re.compile(
    r"\*?(Sent|To|Subject|Date|Отправлено|Кому|Тема|Дата):\*?[ \t].{0,900}", re.IGNORECASE
)
_RULE = re.compile(
    r"_{10,}|-{3,}[ \t]?(Original Message|Исходное сообщение)[ \t]?-{3,}", re.IGNORECASE
)
# A player who forwards a mail to support means its content: it is kept from here on.
_FORWARD = re.compile(
    r"(?m)^[ \t]*(-{2,20}[ \t]?(Forwarded message|Forwarded Message|Пересылаемое сообщение"
    r"|Перенаправленное сообщение)[ \t]?-{2,20}"
    r"|Begin forwarded message:|Начало переадресованного сообщения:)[ \t]*$",
    re.IGNORECASE,
)
# Outlook forwards under the same header block it quotes under; only the subject tells.
_FORWARD_SUBJECT = re.compile(r"[ \t]*(Fwd?|Пересл|Переслано)[ \t]?:", re.IGNORECASE)
_SIGNATURE_DELIMITER = re.compile(r"(?m)^--[ \t]?$")
# The one-line footers that mobile clients add under the player's words.
FOOTERS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        r"Sent from my [\w .,'-]{1,60}",
        r"Sent from (Mail|Outlook|Yahoo Mail|Gmail|Yandex|Mail\.ru)[\w .,'-]{0,60}",
        r"Get Outlook for (iOS|Android)",
        r"Отправлено с (iPhone|iPad|моего [\w .-]{1,60})",
        r"Отправлено из (мобильной )?(Почты Mail\.ru|Mail\.ru)[\w .-]{0,60}",
        r"Отправлено из (мобильной )?Яндекс[ .]?Почты[\w .-]{0,60}",
        r"Отправлено из приложения [\w .-]{1,60}",
    )
)


@dataclass(frozen=True)
class Visible:
    """What an agent should read of a mail body, and whether stripping was given up."""

    text: str
    kept_whole: bool = False


def _matches(pattern: re.Pattern[str], line: str) -> bool:
    return len(line) <= MAX_RULE_LINE and pattern.fullmatch(line.strip()) is not None


def is_quoted(line: str) -> bool:
    return line.lstrip(" ").startswith(">")


def is_attribution(line: str) -> bool:
    """Whether a line is a client's "On <date>, <name> wrote:" in one of its known shapes."""
    if len(line) > MAX_RULE_LINE or not line.rstrip().endswith(":") or not _DIGIT.search(line):
        return False
    return _matches(_ANY_ATTRIBUTION, line)


def is_footer(line: str) -> bool:
    return any(_matches(pattern, line) for pattern in FOOTERS)


def is_header_block(lines: list[str], index: int) -> bool:
    """Whether `lines[index]` starts an Outlook header block: From:/От: and, on the very
    next line, Sent:/To:/Subject:/Date: or their Russian names."""
    return (
        index + 1 < len(lines)
        and _matches(_HEADER_FROM, lines[index])
        and _matches(_HEADER_NEXT, lines[index + 1])
    )


def attribution_length(lines: list[str], index: int) -> int:
    """How many lines the attribution at `index` spans (clients wrap long ones), or 0."""
    line = lines[index]
    if line.rstrip().endswith(":"):
        return 1 if is_attribution(line) else 0
    following = lines[index + 1] if index + 1 < len(lines) else ""
    if line.strip() and following.rstrip().endswith(":") and not is_attribution(following):
        # Gmail breaks a long one after the "<" of the address, other clients at a space.
        gap = "" if line.rstrip().endswith("<") else " "
        return 2 if is_attribution(f"{line.rstrip()}{gap}{following.strip()}") else 0
    return 0


def _next_filled(lines: list[str], index: int) -> int:
    while index < len(lines) and not lines[index].strip():
        index += 1
    return index


def _turning_points(lines: list[str]) -> list[int]:
    """The lines where a rule may apply: quoted ones, those ending in ":" or above one (an
    attribution), those starting like "From:" (a header block). Finding them first, with
    no call per line, keeps a long mail fast."""
    colon = [line.rstrip().endswith(":") for line in lines] + [False]
    return [
        index
        for index, line in enumerate(lines)
        if colon[index]
        or colon[index + 1]
        or line.lstrip(" ").startswith(">")
        or line[:6].lstrip("*").lower().startswith(("from:", "от:"))
    ]


def reply_lines(lines: list[str]) -> list[str]:
    """The lines above the history: quoted lines dropped, an attribution over a quoted
    block dropped (the player's words may follow it), an unquoted history cut off."""
    kept: list[str] = []
    index = 0
    for point in _turning_points(lines):
        if point < index:
            continue
        kept.extend(lines[index:point])
        index = point
        if is_quoted(lines[point]):
            index = point + 1
            if not kept or not kept[-1].strip():  # one blank line, not two, where it stood
                index = _next_filled(lines, index)
            continue
        span = attribution_length(lines, point)
        if span:
            after = _next_filled(lines, point + span)
            if after < len(lines) and is_quoted(lines[after]):
                index = after
                continue
            return kept  # the history under it is not marked: everything below is history
        if is_header_block(lines, point):
            while kept and (not kept[-1].strip() or _matches(_RULE, kept[-1])):
                kept.pop()
            return kept
    kept.extend(lines[index:])
    return kept


def _line_of(text: str, pattern: re.Pattern[str]) -> int | None:
    """The index of the first line of `text` that `pattern` (multi-line, anchored) finds."""
    match = pattern.search(text)
    return None if match is None else text.count("\n", 0, match.start())


def without_signature(lines: list[str]) -> list[str]:
    """The lines above a "-- " delimiter, without trailing footers and blank lines."""
    delimiter = _line_of("\n".join(lines), _SIGNATURE_DELIMITER)
    lines = lines[:delimiter] if delimiter is not None else list(lines)
    while lines and (not lines[-1].strip() or is_footer(lines[-1]) or _matches(_RULE, lines[-1])):
        lines.pop()
    return lines


def _filled_chars(lines: list[str]) -> int:
    return sum(len(line.strip()) for line in lines)


def is_forward_subject(subject: str) -> bool:
    return len(subject) <= MAX_RULE_LINE and _FORWARD_SUBJECT.match(subject) is not None


def forward_start(lines: list[str], *, forwarded: bool) -> int:
    """Where forwarded content starts: a client's forward marker, or in a mail whose
    subject says it is forwarded, the first header block (with its rule line)."""
    marker = _line_of("\n".join(lines), _FORWARD)
    if marker is not None or not forwarded:
        return len(lines) if marker is None else marker
    block = next((i for i in _turning_points(lines) if is_header_block(lines, i)), len(lines))
    above = block - 1
    while above >= 0 and not lines[above].strip():
        above -= 1
    return above if above >= 0 and _matches(_RULE, lines[above]) else block


def visible_text(body: str, *, forwarded: bool = False) -> Visible:
    """The player's words in `body`, or the whole body (trimmed) when they cannot be told
    apart from the history with confidence. A forwarded mail's content is kept."""
    if not body.strip():
        return Visible("")
    lines = body.replace("\r\n", "\n").strip("\n").split("\n")
    forward = forward_start(lines, forwarded=forwarded)
    above = reply_lines(lines[:forward])
    kept = without_signature(above)
    parts = ("\n".join(kept).strip(), "\n".join(lines[forward:]).strip())
    text = "\n\n".join(part for part in parts if part)
    unquoted = _filled_chars(above) + _filled_chars(lines[forward:])
    shown = _filled_chars(kept) + _filled_chars(lines[forward:])
    if not shown or shown < MIN_KEPT_SHARE * unquoted:
        return Visible("\n".join(lines).strip(), kept_whole=True)
    return Visible(text)
