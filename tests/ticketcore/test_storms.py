# ruff: noqa: RUF001 - Russian tickets are Cyrillic on purpose
"""Fingerprints of ticket text: one problem in other words scores high, another problem low."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from tests.storm_corpus import storm_corpus
from ticketcore.storms import (
    NUM_BANDS,
    NUM_VALUES,
    agreements_needed,
    bands,
    compact_similarity,
    fingerprint,
    normalise,
    similarity,
)

ROOT = Path(__file__).resolve().parents[2]
LOGIN_503 = "Can't log in after the update, error 503"


def sim(a: str, b: str) -> float:
    return similarity(fingerprint(a), fingerprint(b))


@pytest.mark.parametrize(
    "other",
    [
        "cannot login since the latest update, getting error 503",
        "Stuck on the loading screen after the update, error 503",
        "cant lgoin aftr updte errro 503",
        "не могу зайти после обновления, ошибка 503",
    ],
)
def test_the_same_problem_in_other_words_scores_high(other: str) -> None:
    assert sim(LOGIN_503, other) >= 0.4


@pytest.mark.parametrize(
    "other",
    [
        "I paid for gems but never received them",
        "I didn't get my daily login reward",
        "purchase fails with error code 1207",
        "how do I update my email address",
        "the game crashes every time I enter the arena",
    ],
)
def test_another_problem_scores_low_even_with_a_shared_word(other: str) -> None:
    assert sim(LOGIN_503, other) < 0.2


def test_russian_inflections_meet() -> None:
    assert len(set(normalise("аккаунт аккаунта аккаунту аккаунтом аккаунте"))) == 1
    assert len(set(normalise("обновление обновления обновлений обновлением"))) == 1
    assert (
        sim(
            "не могу зайти в аккаунт после обновления",
            "не получается войти в аккаунт после обновлений",
        )
        >= 0.6
    )


def test_english_inflections_and_typos_meet() -> None:
    assert set(normalise("logged logging login log in loggin lgoin")) == {"login"}
    assert set(normalise("update updated updating updte")) == {"update"}
    assert normalise("stars") != normalise("start"), "one wrong letter is not forgiven"


def test_numbers_collapse_but_error_codes_stay() -> None:
    assert normalise("error 503") == ["error", "503"]
    assert set(normalise("код ошибки 1207")) == set(normalise("error code 1207"))
    assert set(normalise("error code 1207")) == {"error", "code", "1207"}
    assert normalise("login 503") == ["login", "503"], "an HTTP failure is a code on its own"
    assert normalise("my id is 48213377, I paid 4.99") == ["#", "pay", "#", "#"]
    # Ids and prices do not make two tickets alike.
    assert sim("my id is 48213377, my sword vanished", "id 48213377: refund my gems") < 0.1
    assert sim("error 503", "error 1207") < 0.5


def test_languages_meet_only_through_the_shared_table() -> None:
    assert sim("не могу зайти, ошибка 503", "can't log in, error 503") == 1.0
    # Words outside the table have no bridge: one problem in two languages may be two groups.
    assert sim("пропал звук в игре", "there is no sound in the game") == 0.0


def test_a_text_with_nothing_to_go_by_is_like_nothing() -> None:
    empty = fingerprint("Hi!!! Please help, thanks :)")
    assert empty.size == 0
    assert similarity(empty, empty) == 0.0
    assert bands(empty) == []


def test_the_signature_is_the_same_in_another_process() -> None:
    text = "Не могу зайти после обновления, error 503 — stuck on loading"
    script = (
        "import json, sys; from ticketcore.storms import fingerprint, bands; "
        "fp = fingerprint(sys.argv[1]); print(json.dumps([list(fp.values), bands(fp)]))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}  # str hashes differ from this process
    done = subprocess.run(
        [sys.executable, "-c", script, text],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    values, their_bands = json.loads(done.stdout)
    fp = fingerprint(text)
    assert tuple(values) == fp.values
    assert their_bands == bands(fp)
    assert len(fp.values) == NUM_VALUES and len(their_bands) == NUM_BANDS


def test_the_compact_form_estimates_the_same_similarity() -> None:
    pairs = [(LOGIN_503, "Stuck on the loading screen after the update, error 503")]
    pairs += [(LOGIN_503, "I didn't get my daily login reward"), (LOGIN_503, LOGIN_503)]
    for a, b in pairs:
        fa, fb = fingerprint(a), fingerprint(b)
        assert len(fa.compact()) == NUM_VALUES
        assert abs(compact_similarity(fa.compact(), fb.compact()) - similarity(fa, fb)) < 0.05


@pytest.mark.parametrize("threshold", [0.2, 0.34, 0.5])
def test_agreements_needed_is_where_the_estimate_reaches_the_threshold(threshold: float) -> None:
    needed = agreements_needed(threshold)

    def estimate(agreeing: int) -> float:
        return compact_similarity(
            bytes(NUM_VALUES), bytes(agreeing) + b"\1" * (NUM_VALUES - agreeing)
        )

    assert estimate(needed) >= threshold > estimate(needed - 1)


def test_lsh_bands_find_similar_tickets_without_comparing_everything() -> None:
    corpus = storm_corpus(n_storm=200, n_other=100, seed=3)
    fps = [fingerprint(t.text) for t in corpus]
    buckets: defaultdict[str, set[int]] = defaultdict(set)
    for i, fp in enumerate(fps):
        for key in bands(fp):
            buckets[key].add(i)
    compared = found = missed = 0
    for i, fp in enumerate(fps):
        candidates = set().union(*(buckets[key] for key in bands(fp))) - {i}
        compared += len(candidates)
        for j, other in enumerate(fps):
            if j != i and similarity(fp, other) >= 0.4:
                found += j in candidates
                missed += j not in candidates
    assert compared < 0.5 * len(fps) ** 2, "candidates are a fraction of all pairs"
    assert missed <= 0.01 * found


def test_the_corpus_is_seeded_and_varied() -> None:
    corpus = storm_corpus(n_storm=500, n_other=100, seed=1)
    assert corpus == storm_corpus(n_storm=500, n_other=100, seed=1)
    assert corpus != storm_corpus(n_storm=500, n_other=100, seed=2)
    storm = [t for t in corpus if t.is_storm]
    assert len(storm) == 500 and len(corpus) == 600
    languages = Counter(t.language for t in storm)
    assert 0.2 < languages["ru"] / len(storm) < 0.4
    lengths = [len(t.text.split()) for t in storm]
    assert min(lengths) <= 3 and max(lengths) >= 40
    assert len({t.text for t in storm}) > 300, "varied wording, with a few short repeats"
    others = [t.text.lower() for t in corpus if not t.is_storm]
    assert any("login" in text or "update" in text for text in others)
