"""Decontamination against evaluation questions and near-duplicate removal (exact against brute force, and fast)."""

from __future__ import annotations

import random
import time
from itertools import combinations

import pytest

from orca_ray.core.text_overlap import (
    _jaccard,
    decontaminate,
    near_duplicates,
    normalize_words,
    overlap_share,
    word_ngrams,
)
from orca_ray.schemas import Problem

EVAL = [
    "Lena buys 4 notebooks at $3 each and a pen for $2. How much does she spend in all?",
    "A train travels 120 miles in 3 hours. What is its average speed in miles per hour?",
    "Omar is twice as old as his sister, who is 7. How old will Omar be in 5 years?",
]


def test_normalization_ignores_case_and_punctuation():
    assert normalize_words("Lena's NOTEBOOKS, at $3!") == ["lenas", "notebooks", "at", "3"]
    assert word_ngrams(["a", "b", "c"], 2) == {"a b", "b c"}
    assert word_ngrams(["a"], 3) == {"a"}
    assert word_ngrams([], 3) == set()


def test_decontaminate_removes_near_copies_and_keeps_unrelated_problems():
    near_copies = [
        Problem("copy", EVAL[0]),
        Problem("reworded-case", EVAL[1].upper().replace("?", " ??")),
        Problem("one-word-changed", EVAL[2].replace("sister", "brother")),
        Problem("embedded", "Read this carefully. " + EVAL[0]),
    ]
    unrelated = [
        Problem("u1", "A baker makes 36 rolls and sells two thirds of them. How many rolls are left?"),
        Problem("u2", "Sam saves $5 a week for 8 weeks and spends $12. How much money does he have now?"),
        Problem("u3", "A garden is 6 meters long and 4 meters wide. What is its area?"),
        # shares a few words with EVAL[1] ("miles", "hours", "average speed") but is another problem
        Problem("u4", "A cyclist rides 45 miles on Monday and 30 on Tuesday. How far does she ride in all?"),
    ]
    kept, removed = decontaminate(near_copies + unrelated, EVAL, ngram=5, threshold=0.5)
    assert sorted(p.id for p in removed) == sorted(p.id for p in near_copies)
    assert [p.id for p in kept] == [p.id for p in unrelated]
    assert len(kept) + len(removed) == 8


def test_threshold_and_ngram_length_decide():
    half = Problem("half", EVAL[0][: len(EVAL[0]) // 2] + " Then she gives 2 of the books to a good friend of hers.")
    share = overlap_share(half.question, set().union(*(word_ngrams(normalize_words(q), 4) for q in EVAL)), 4)
    assert 0.2 < share < 0.8
    assert [p.id for p in decontaminate([half], EVAL, ngram=4, threshold=share)[1]] == ["half"]
    assert decontaminate([half], EVAL, ngram=4, threshold=min(1.0, share + 0.01))[1] == []


def test_short_problems_match_only_whole_short_questions():
    short = [Problem("a", "What is 7 times 8?"), Problem("b", "What is 7 times 9?")]
    kept, removed = decontaminate(short, ["what is 7 times 8"], ngram=8, threshold=0.5)
    assert ([p.id for p in kept], [p.id for p in removed]) == (["b"], ["a"])


def test_empty_inputs():
    assert decontaminate([], EVAL, ngram=8, threshold=0.5) == ([], [])
    assert decontaminate([Problem("a", "x y z")], [], ngram=8, threshold=0.5)[1] == []
    assert near_duplicates([], threshold=0.8) == []
    with pytest.raises(ValueError, match="threshold"):
        near_duplicates(["a"], threshold=0)


def _brute_force_duplicates(texts: list[str], threshold: float, shingle: int) -> list[int]:
    sets = [frozenset(word_ngrams(normalize_words(t), shingle)) for t in texts]
    kept: list[int] = []
    drop = []
    for i, s in enumerate(sets):
        if any(_jaccard(s, sets[j]) >= threshold for j in kept):
            drop.append(i)
        else:
            kept.append(i)
    return drop


def _templated_texts(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    names, items = ["Tom", "Ann", "Bob", "Eve", "Lia"], ["apples", "pens", "books", "cards"]
    texts = []
    for _ in range(n):
        if texts and rng.random() < 0.1:  # an exact copy, shouted
            texts.append(rng.choice(texts).upper())
            continue
        name, item = rng.choice(names), rng.choice(items)
        a, b, c = rng.randint(2, 30), rng.randint(2, 9), rng.randint(2, 9)
        template = rng.choice(
            [
                f"{name} buys {a} {item} and gives {b} to a friend. Then {name} buys {c} more. How many {item} now?",
                f"A shop sells {item} at ${b} each. {name} buys {a} of them and pays ${a * b + c}. What change?",
                f"{name} has {a} {item}. {name} loses {b} and finds {c}. How many {item} does {name} have?",
            ]
        )
        words = template.split()
        if rng.random() < 0.3:  # a near copy: one word dropped
            del words[rng.randrange(len(words))]
        texts.append(" ".join(words))
    return texts


@pytest.mark.parametrize("threshold", [0.5, 0.7, 0.9, 1.0])
def test_near_duplicates_agree_with_brute_force(threshold):
    texts = _templated_texts(400, seed=int(threshold * 10))
    dropped = near_duplicates(texts, threshold)
    assert dropped == _brute_force_duplicates(texts, threshold, 3)
    assert len(dropped) >= 20  # the case is not trivially empty


def test_near_duplicates_keep_the_first_of_each_group():
    texts = ["Tom has 5 red apples.", "Ann has 3 green pears.", "tom has 5 red apples!", "TOM HAS 5 RED APPLES"]
    assert near_duplicates(texts, threshold=0.9) == [2, 3]
    assert near_duplicates(["", "", "a b c"], threshold=0.9) == [1]
    assert all(_jaccard(frozenset(a), frozenset(b)) < 1 for a, b in combinations(["ab", "bc", "cd"], 2))


def test_ten_thousand_texts_in_a_few_seconds():
    texts = _templated_texts(10_000, seed=1)
    start = time.perf_counter()
    dropped = near_duplicates(texts, threshold=0.8)
    elapsed = time.perf_counter() - start
    assert 0 < len(dropped) < len(texts)
    assert elapsed < 5.0, f"{elapsed:.1f} s"
