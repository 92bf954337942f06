"""Hostile inputs as hypothesis strategies: what a careless or malicious sender might post."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

MEGABYTE = 1_000_000

# Characters that break naive text handling: NUL and other controls, bidi overrides,
# lone surrogates, zero-width joiners, non-characters, astral planes.
NASTY_CHARACTERS = st.sampled_from(
    [
        *["\x00", "\x01", "\x1b", "\x7f", "\u0085", "\u2028", "\u202e", "\u200d", "\ufeff"],
        *["\ud800", "\udfff", "\uffff", "\U0001f600", "\U0010ffff", "\r", "\n", "\t", "%", "\\"],
    ]
)
# The same, without lone surrogates: what can be encoded as UTF-8 at all.
ENCODABLE = st.sampled_from(["\x00", "\x1b", "\u202e", "\ufeff", "\U0001f600", "é", "%", "&", "="])
# Characters a URL carries as they are: megabytes of them encode fast.
SAFE = st.sampled_from(["a", "1", "-", "_"])
NASTY_TEXT = st.one_of(
    st.text(max_size=40),
    st.lists(st.one_of(NASTY_CHARACTERS, st.characters()), max_size=40).map("".join),
)
NUMBERS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 2**63, -(2**63) - 1, 10**30]),
    st.floats(),
)


class Repeated(str):
    """A long string that shows itself short in a failing example's report."""

    piece: str
    size: int

    def __repr__(self) -> str:
        return f"repeated({self.piece!r}, {self.size})"


def repeated(piece: str, size: int) -> Repeated:
    text = Repeated((piece * size)[:size])
    text.piece, text.size = piece, size
    return text


class Filler(bytes):
    """Bytes of a large file, shown by their size in a failing example's report."""

    def __repr__(self) -> str:
        return f"Filler(b'x' * {len(self)})"


def giant(
    alphabet: st.SearchStrategy[str] = NASTY_CHARACTERS,
    sizes: tuple[int, ...] = (MEGABYTE - 100, MEGABYTE, MEGABYTE + 1, 2 * MEGABYTE),
) -> st.SearchStrategy[str]:
    """A string of about a megabyte (just under, at, or just over), of one repeated piece."""
    return st.builds(repeated, alphabet, st.sampled_from(sizes))


TEXTS = st.one_of(NASTY_TEXT, NASTY_TEXT, NASTY_TEXT, giant())

JSON_SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, NASTY_TEXT)
JSON_VALUES: st.SearchStrategy[Any] = st.recursive(
    JSON_SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(NASTY_TEXT, inner, max_size=4)
    ),
    max_leaves=12,
)


def encodable(text: str) -> str:
    """`text` with lone surrogates replaced: what a form field can carry as UTF-8."""
    if isinstance(text, Repeated):
        return repeated(encodable(text.piece), text.size)
    return text.encode("utf-8", "replace").decode("utf-8")


def to_json(value: Any) -> bytes:
    """JSON as a lenient sender writes it: lone surrogates escaped, NaN allowed."""
    return json.dumps(value).encode()


def nested(depth: int, opening: str, leaf: str = "1") -> bytes:
    """`depth` levels of `[` or `{"a":` around a leaf, as raw JSON text."""
    closing = "]" if opening == "[" else "}"
    return (opening * depth + leaf + closing * depth).encode()


DEEP_JSON = st.builds(
    nested,
    st.sampled_from([50, 99, 101, 1_000, 5_000, 100_000]),
    st.sampled_from(["[", '{"a":']),
)


def with_duplicate_keys(fields: dict[str, Any], repeats: dict[str, Any]) -> bytes:
    """A JSON object that names some keys twice, the second value differing in type."""
    pairs = [*fields.items(), *repeats.items()]
    return ("{" + ",".join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in pairs) + "}").encode()


INVALID_UTF8 = st.one_of(
    st.sampled_from(
        [b"\xff", b"\xfe\xff", b"\xc0\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x80", b"\xe2"]
    ),
    st.binary(min_size=1, max_size=64).filter(lambda b: not is_utf8(b)),
)


def is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def spliced(valid: bytes, junk: bytes, where: float) -> bytes:
    """`valid` with `junk` inserted at a relative position: invalid bytes inside a body."""
    at = int(len(valid) * where)
    return valid[:at] + junk + valid[at:]


CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "application/json; charset=latin-1",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
        "multipart/form-data; boundary=x",
        "multipart/form-data; boundary=",
        "text/plain",
        "text/html; charset=utf-16",
        "image/png",
        "",
        "*/*",
        "application/json\x00",
        "; ;; =",
    ]
)


def deep_value(depth: int, leaf: Any) -> Any:
    """`leaf` inside `depth` alternating objects and arrays."""
    for level in range(depth):
        leaf = {"k": leaf} if level % 2 else [leaf]
    return leaf


HOSTILE_KEYS = NASTY_TEXT | st.sampled_from(["\x00", "a\x00b", "$where", "a.b", "", "_id"])
HOSTILE_VALUES = st.one_of(
    JSON_VALUES,
    st.builds(deep_value, st.integers(min_value=1, max_value=300), JSON_SCALARS),
)
CONTEXTS = st.dictionaries(HOSTILE_KEYS, HOSTILE_VALUES, max_size=3)


@st.composite
def spoiled(draw: st.DrawFn, base: dict[str, Any]) -> dict[str, Any]:
    """`base` with one field set to a hostile value of any type."""
    name = draw(st.sampled_from(sorted(base)))
    return base | {name: draw(st.one_of(HOSTILE_VALUES, TEXTS, CONTEXTS))}


@st.composite
def mutated(
    draw: st.DrawFn, base: dict[str, Any], values: st.SearchStrategy[Any] = HOSTILE_VALUES | TEXTS
) -> dict[str, Any]:
    """`base` with fields dropped, set to values of any type, and unknown ones added."""
    body = dict(base)
    known = st.sampled_from(sorted(base))
    for name in draw(st.lists(known, max_size=3, unique=True)):
        body.pop(name, None)
    for name in draw(st.lists(known, max_size=3, unique=True)):
        body[name] = draw(values)
    body.update(draw(st.dictionaries(NASTY_TEXT, JSON_VALUES, max_size=2)))
    return body


def json_bodies(base: dict[str, Any]) -> st.SearchStrategy[bytes]:
    """Bodies for an endpoint whose valid body is `base`: broken in every way we know."""
    known = list(base)
    return st.one_of(
        mutated(base).map(to_json),
        spoiled(base).map(to_json),
        JSON_VALUES.map(to_json),
        DEEP_JSON,
        st.builds(
            with_duplicate_keys,
            st.just(base),
            st.dictionaries(st.sampled_from(known), JSON_VALUES, min_size=1),
        ),
        st.builds(spliced, st.just(to_json(base)), INVALID_UTF8, st.floats(0, 1)),
        st.builds(lambda name, text: to_json(base | {name: text}), st.sampled_from(known), giant()),
        st.sampled_from([b"", b" ", b"null", b"{", b"\x00", b'{"text": NaN}', b"[]" * 10]),
        st.binary(max_size=200),
    )
