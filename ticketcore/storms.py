# ruff: noqa: RUF001 - Russian words are Cyrillic on purpose
"""Text fingerprints for spotting a storm: many players reporting one problem in many words.

Text becomes a list of normalised tokens (lower case, stop words dropped, numbers other
than error codes collapsed, a light stemmer for English and Russian, a small bilingual table
that maps the commonest support words of both languages to one token), then a set of
features (tokens, token pairs, and character 3/4-grams of each token, which survive most
typos), then a MinHash signature whose share of equal values estimates the Jaccard
similarity of two feature sets. LSH band keys let a caller find candidates by equal keys
instead of comparing a ticket with every other one. Everything is deterministic and the
same in every process, so signatures can be stored and compared by any worker.

Only words the table knows cross the language line: "не могу зайти, ошибка 503" and
"can't log in, error 503" meet, but a Russian and an English report sharing none of those
words score low, and may form two groups for one problem.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
import struct
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

NUM_VALUES = 128
BAND_ROWS = 2
# The first 64 values make the bands: 32 is enough to meet a similar ticket in a crowd, and
# each band is a Redis key per ticket.
NUM_BANDS = 32
# A prefix for every hashed feature: changing the scheme changes every signature, so a
# rolled-out new version never mistakes old signatures for comparable ones.
_SCHEME = b"storm1\x00"
_VALUES = struct.Struct(f"<{NUM_VALUES}I")
# One byte of each value is kept for storage; two unrelated values agree by chance 1 in 256.
_CHANCE = 1 / 256
NUMBER = "#"

_WORD = re.compile(r"[^\W_]+")
_LONG_DIGITS = re.compile(r"\d{5,}")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_EN_STOP = _words(
    """a about above after again all also am an and any anyone anything are as asap at be
    because been before being but by can cannot cant could couldnt dear did didnt do
    does doesnt doing dont each even ever every for from game games get gets getting got
    guys had has have having he hello help her here hey hi him his how i id if im in
    into is isnt it its ive just keep keeps know let me more my myself no not now of off
    ok on once only or other our out over please pls plz really same say says should
    show shows since so some someone something still such support team than thank thanks that
    the their them then there these they this those through thx to today too tried try
    trying up urgent us very want was wasnt we were what when where which while who why
    will with wont would yes yesterday yet you your"""
)
_RU_STOP = _words(
    """а алло без более бы был была были было быть в вам вас ведь весь во вообще вот все всего
    всем всех всё вчера вы выдает выдаёт где да даже день для до добрый его ее ей если
    есть еще ещё её же за здесь здравствуйте и игра играю игре игру игры из или им их к
    как какой когда кто ли либо меня мне мной могу может можно мои мой моя мы на над
    надо не него нее нет неё ни ничего но ну о об он она они оно опять от очень пишет
    пишут по под поддержка пожалуйста показывает помоги помогите после потом почему при
    привет про просто ребята с сам свой сегодня сейчас снова со спасибо срочно так также
    там те тем то тоже только тот тут у уважаемая уже хоть чем что чтобы эта эти это
    этот я"""
)
STOP_WORDS = _EN_STOP | _RU_STOP

# Words near which a number is an error code worth keeping ("error 503", "код 1207").
_ERROR_WORDS = frozenset({"error", "errors", "err", "code", "http", "status"})
_ERROR_STEMS = ("ошибк", "код")
_CODE_DISTANCE = 2
_MAX_CODE_DIGITS = 6
_HTTP_FAILURE = re.compile(r"[45]\d\d")

# The commonest support words of both languages, each group mapped to one token, so that
# inflections, synonyms and the other language land on the same feature. A word listed
# here also matches through its stem and, when long enough, with one typo.
_CONCEPTS: dict[str, str] = {
    "login": """login log logon signin sign войти зайти захожу заходит зашел зайду
        вход входа входе входит логин залогиниться залогинится авторизация авторизоваться
        авторизации пускает""",
    "update": """update updated updating patch patched upgrade обновление
        обновления обновлении обновил обновилась обновился обновить апдейт апдейта
        патч патча""",
    "load": """load loading loaded loader загрузка загрузки загрузке загружается
        грузится грузит прогрузка""",
    "error": "error err ошибка ошибки ошибку ошибкой",
    "code": "code код кода коде кодом",
    "crash": "crash crashed crashing вылет вылетает вылетела вылетел краш крашится",
    "pay": """pay paid payment purchase purchased bought buy оплата оплатил
        оплаты платеж платёж покупка покупку купил""",
    "refund": "refund возврат вернуть верните",
    "money": "money деньги денег рубли",
    "account": "account acc аккаунт аккаунта акк учетка",
    "password": "password пароль пароля",
    "server": "server сервер сервера серверы",
    "stuck": """stuck freeze frozen hang hanging зависает завис висит
        застрял застряло зависла""",
    "screen": "screen экран экране",
    "connect": """connect connection connecting подключение подключиться соединение
        соединения коннект""",
    "work": "work working работает работают",
    "endless": "endless infinite forever бесконечная бесконечно бесконечной вечная",
    "start": "start launch open запуск запускается открывается",
    "ban": "ban banned бан забанили заблокировали блокировка",
    "reward": "reward награда награды награду бонус bonus",
    "gems": "gems gem crystals кристаллы кристаллов гемы гемов",
    "item": "item предмет предметы вещи",
}


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold().replace("ё", "е").replace("'", "")


def _is_cyrillic(word: str) -> bool:
    return "а" <= word[0] <= "я"


_EN_SUFFIXES = ("ingly", "edly", "ings", "ing", "ies", "ed", "es", "ly", "s")
# Longest first, so "-ения" goes before "-я".
_RU_SUFFIXES = tuple(
    sorted(
        _words(
            """ившись ывшись ейшая ейшие ейший ениями ениях ениям ением ений ении ение ения
            иями ости ость ами ями ого его ому ему ыми ими ешь ете ишь ите ать ять ить еть
            уть ться ется ются ится ятся тся ила ыла ена ило ыло ено ует уют ая яя ую юю ой
            ей ые ие ый ий ом ем их ых ов ев ам ям ах ях ою ею ет ит ут ют ат ят ла ло ли ть
            ти ся сь л а я о е ы и у ю ь й"""
        ),
        key=lambda suffix: (-len(suffix), suffix),
    )
)
_MIN_STEM = 3


def stem(word: str) -> str:
    """Strip one inflectional ending, keeping at least three letters: a light stemmer."""
    if len(word) <= _MIN_STEM or not word.isalpha():
        return word
    suffixes = _RU_SUFFIXES if _is_cyrillic(word) else _EN_SUFFIXES
    for suffix in suffixes:
        if suffix == "s" and word.endswith(("ss", "us", "is")):
            break  # "access", "status", "this": no plural to strip
        if word.endswith(suffix) and len(word) - len(suffix) >= _MIN_STEM:
            word = word[: -len(suffix)]
            break
    if _is_cyrillic(word):
        return word
    if len(word) > _MIN_STEM and word[-1] == word[-2] and word[-1] not in "aeiou":
        word = word[:-1]  # "logg(ed)" -> "log", "stopp(ed)" -> "stop"
    if len(word) > _MIN_STEM and word.endswith("e"):
        word = word[:-1]  # "update", "updat(ed)" and "updat(ing)" meet
    return word


_FUZZY_MIN = 5


def _deletions(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def _concept_index() -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    exact: dict[str, str] = {}
    dropped: dict[str, str | None] = {}
    for concept, words in _CONCEPTS.items():
        for word in words.split():
            for form in {word, stem(word)}:
                exact[form] = concept
                if len(form) >= _FUZZY_MIN:
                    for key in _deletions(form):
                        # A key two concepts share is ambiguous: it matches neither.
                        dropped[key] = concept if dropped.get(key, concept) == concept else None
    long = {form: concept for form, concept in exact.items() if len(form) >= _FUZZY_MIN}
    return exact, long, {k: v for k, v in dropped.items() if v is not None}


_EXACT, _LONG, _DROPPED = _concept_index()
# One typo adds at most a letter: a longer word is no table word, and trying its deletions
# and swaps would cost time quadratic in its length.
_FUZZY_MAX = max(map(len, _LONG)) + 1


def _concept(word: str, stemmed: str) -> str:
    """The word's concept if the table knows it, allowing in a long word one letter dropped,
    doubled or swapped with the next ("updte", "loggin", "lgoin"); else its stem. A wrong
    letter is not forgiven: that would make "stars" a "start"."""
    for form in (word, stemmed):
        if found := _EXACT.get(form):
            return found
    for form in (word, stemmed):
        if not _FUZZY_MIN <= len(form) <= _FUZZY_MAX:
            continue
        if found := _DROPPED.get(form):
            return found
        swapped = (form[:i] + form[i + 1] + form[i] + form[i + 2 :] for i in range(len(form) - 1))
        extra = _deletions(form) if len(form) > _FUZZY_MIN else set()
        for key in (*swapped, *extra):
            if found := _LONG.get(key):
                return found
    return stemmed


def _is_error_word(word: str) -> bool:
    return word in _ERROR_WORDS or word.startswith(_ERROR_STEMS)


def _number(words: Sequence[str], i: int) -> str:
    """An error code stays itself ("error 503" differs from "error 1207"), as does a number
    shaped like an HTTP failure, the code players quote most ("login 503"); any other number
    (ids, prices, levels, dates) is noise between reports and becomes one placeholder."""
    number = words[i]
    if _HTTP_FAILURE.fullmatch(number):
        return number
    if len(number) <= _MAX_CODE_DIGITS:
        near = words[max(0, i - _CODE_DISTANCE) : i + _CODE_DISTANCE + 1]
        if any(_is_error_word(w) for w in near):
            return number.lstrip("0") or "0"
    return NUMBER


def normalise(text: str) -> list[str]:
    """The words of `text` that tell one problem from another, in a form shared by their
    inflections, common typos and (for the commonest words) both languages."""
    words = _WORD.findall(_fold(text))
    tokens: list[str] = []
    for i, word in enumerate(words):
        if word.isdigit():
            tokens.append(_number(words, i))
        elif any(c.isdigit() for c in word):
            tokens.append(_LONG_DIGITS.sub(NUMBER, word))  # codes and models: "e1207", "s22"
        elif len(word) > 1 and word not in STOP_WORDS:
            tokens.append(_concept(word, stem(word)))
    return tokens


# A word from the table names the problem ("login", "update", "error") where the rest is as
# often a detail (a device, a nickname): it weighs as much as this many features. Being
# already spelled one way, it has no character n-grams, which would only add weight.
CONCEPT_WEIGHT = 12


def features(tokens: Sequence[str]) -> set[str]:
    """Tokens, adjacent pairs (word order) and each token's character 3- and 4-grams (which
    a typo leaves mostly intact); a table word instead counts CONCEPT_WEIGHT times. Numbers
    other than error codes do not count: ids and prices say nothing about the problem."""
    tokens = [t for t in tokens if t != NUMBER]
    found = {f"w {t}" for t in tokens}
    found.update(f"p {a} {b}" for a, b in itertools.pairwise(tokens))
    for token in set(tokens):
        if token in _CONCEPTS:
            found.update(f"w {token} {copy}" for copy in range(1, CONCEPT_WEIGHT))
            continue
        padded = f"^{token}$"
        for n in (3, 4):
            found.update(f"c {padded[i : i + n]}" for i in range(len(padded) - n + 1))
    return found


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """A MinHash signature: for each of NUM_VALUES hash functions, the least hash of any
    feature; `size` is the number of features (0 for text with nothing to go by)."""

    values: tuple[int, ...]
    size: int

    def compact(self) -> bytes:
        """One byte per value (b-bit MinHash), for storage: 128 bytes a ticket."""
        return bytes(v & 0xFF for v in self.values)


_EMPTY = Fingerprint((0xFFFFFFFF,) * NUM_VALUES, 0)


def fingerprint_of(found: Iterable[str]) -> Fingerprint:
    """The MinHash signature of a set of features."""
    # One SHAKE-128 stream per feature yields all its hash values at once: independent,
    # deterministic and the same in every process (unlike the salted built-in hash()).
    rows = [
        _VALUES.unpack(hashlib.shake_128(_SCHEME + f.encode()).digest(_VALUES.size)) for f in found
    ]
    if not rows:
        return _EMPTY
    return Fingerprint(tuple(min(column) for column in zip(*rows, strict=True)), len(rows))


def fingerprint(text: str) -> Fingerprint:
    return fingerprint_of(features(normalise(text)))


def similarity(a: Fingerprint, b: Fingerprint) -> float:
    """Estimated Jaccard similarity of the two texts' feature sets (0 for an empty text)."""
    if not a.size or not b.size:
        return 0.0
    return sum(x == y for x, y in zip(a.values, b.values, strict=True)) / NUM_VALUES


def compact_similarity(a: bytes, b: bytes) -> float:
    """Estimated Jaccard similarity from two `Fingerprint.compact()` forms."""
    agree = sum(x == y for x, y in zip(a, b, strict=True)) / len(a)
    return max(0.0, (agree - _CHANCE) / (1 - _CHANCE))


def agreements_needed(threshold: float) -> int:
    """How many of the compact form's bytes must agree for `compact_similarity` to reach
    `threshold`, so a store can compare bytes without the arithmetic."""
    return math.ceil(NUM_VALUES * (threshold * (1 - _CHANCE) + _CHANCE) - 1e-9)


def bands(fp: Fingerprint) -> list[str]:
    """LSH band keys: two texts of similarity s share at least one with probability
    1 - (1 - s**BAND_ROWS) ** NUM_BANDS (0.95 at s = 0.3, 0.996 at s = 0.4)."""
    if not fp.size:
        return []
    keys = []
    for band in range(NUM_BANDS):
        rows = fp.values[band * BAND_ROWS : (band + 1) * BAND_ROWS]
        keys.append(f"{band:02x}" + "".join(f"{v:08x}" for v in rows))
    return keys
