"""Word n-gram overlap between texts: decontamination against evaluation sets, and near-duplicate removal.

Texts are compared after normalization (lowercase, punctuation to spaces, so 'Tom's $5.' and 'toms 5' agree).

    >>> near_duplicates(["Tom has 5 red apples.", "tom has 5 red apples", "Ann has 3 pears."], threshold=0.8)
    [1]
"""

from __future__ import annotations

import logging
import math
import re
import unicodedata
from collections import Counter, defaultdict

from orca_ray.schemas import Problem

log = logging.getLogger(__name__)

_NON_WORD_RE = re.compile(r"[^\w]+")


def normalize_words(text: str) -> list[str]:
    """Lowercase words without punctuation (apostrophes dropped, so "Tom's" is 'toms').

    >>> normalize_words("Tom's book costs $12.50, right?")
    ['toms', 'book', 'costs', '12', '50', 'right']
    """
    text = unicodedata.normalize("NFKC", text).lower().replace("'", "").replace("\u2019", "")
    return _NON_WORD_RE.sub(" ", text).replace("_", " ").split()


def word_ngrams(words: list[str], n: int) -> set[str]:
    """The set of n-word windows; a text shorter than n words is one window of all its words."""
    if len(words) < n:
        return {" ".join(words)} if words else set()
    return {" ".join(words[i : i + n]) for i in range(len(words) - n + 1)}


def overlap_share(text: str, reference_ngrams: set[str], n: int) -> float:
    """The share of `text`'s n-grams found in `reference_ngrams` (0 for an empty text)."""
    grams = word_ngrams(normalize_words(text), n)
    return sum(g in reference_ngrams for g in grams) / len(grams) if grams else 0.0


def decontaminate(
    problems: list[Problem], eval_questions: list[str], ngram: int, threshold: float
) -> tuple[list[Problem], list[Problem]]:
    """(kept, removed): a problem is removed when at least `threshold` of its word n-grams occur in the evaluation
    questions. A problem shorter than `ngram` words counts as one n-gram of all its words, so it is removed only
    when it equals a short evaluation question.

    >>> p = [Problem("a", "Tom has 5 apples and eats 2. How many are left?"), Problem("b", "What is 7 times 8?")]
    >>> kept, removed = decontaminate(p, ["tom has 5 apples, and eats 2! how many are left"], ngram=4, threshold=0.5)
    >>> [x.id for x in kept], [x.id for x in removed]
    (['b'], ['a'])
    """
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    eval_ngrams: set[str] = set()
    for question in eval_questions:
        eval_ngrams |= word_ngrams(normalize_words(question), ngram)
    kept, removed = [], []
    for problem in problems:
        share = overlap_share(problem.question, eval_ngrams, ngram)
        (removed if share >= threshold else kept).append(problem)
    log.info(
        "decontamination (%d-grams, threshold %.2f, %d evaluation questions): kept %d, removed %d of %d",
        ngram, threshold, len(eval_questions), len(kept), len(removed), len(problems),
    )  # fmt: skip
    return kept, removed


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter) if (a or b) else 1.0


def near_duplicates(texts: list[str], threshold: float, shingle: int = 3) -> list[int]:
    """Indices of texts to drop: those whose word-shingle Jaccard similarity with an earlier kept text is at least
    `threshold` (the first of each group is kept). Exact, not sampled: prefix filtering proposes candidates (two
    sets with Jaccard >= t share one of their rarest |s| - ceil(t |s|) + 1 shingles) and each candidate is checked.

    >>> near_duplicates(["a b c d", "x y z w", "A b c d!"], threshold=0.9)
    [2]
    """
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    sets = [frozenset(word_ngrams(normalize_words(t), shingle)) for t in texts]
    frequency = Counter(s for shingles in sets for s in shingles)
    index: dict[str, list[int]] = defaultdict(list)  # shingle -> kept texts with it in their prefix
    drop = []
    for i, shingles in enumerate(sets):
        ordered = sorted(shingles, key=lambda s: (frequency[s], s))  # rarest first: short candidate lists
        prefix = ordered[: len(ordered) - math.ceil(threshold * len(ordered)) + 1] if ordered else [""]
        candidates = {j for s in prefix for j in index.get(s, ())}
        if any(_jaccard(shingles, sets[j]) >= threshold for j in sorted(candidates)):
            drop.append(i)
            continue
        for s in prefix:
            index[s].append(i)
    return drop
