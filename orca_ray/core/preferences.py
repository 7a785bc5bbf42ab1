"""From judged student attempts to training rows, following Orca-Math: KTO examples, DPO pairs and SFT demonstrations,
with a count of every case; and the same rows in TRL's conversational format.

The teacher's reference solution counts as a positive; where every attempt at a problem is wrong it is the only one.
Where every attempt is right, a wrong attempt at another problem may be borrowed as the negative (off by default: it
teaches little). `undecidable` verdicts never become training signal. Choices are deterministic given `seed`.

    >>> from orca_ray.schemas import Problem, Verdict
    >>> p = Problem(id="p1", question="2+3?", answer="5", solution="2+3=5.\\nThe answer is 5.")
    >>> v = [Verdict("p1", 0, "2+3?", "The answer is 6.", "incorrect"), Verdict("p1", 1, "2+3?", "5", "undecidable")]
    >>> rows, counts = build_kto_examples([p], v)
    >>> [(r.label, r.origin) for r in rows], counts["teacher_fallbacks"], counts["undecidable"]
    ([(True, 'teacher'), (False, 'student')], 1, 1)
"""

from __future__ import annotations

import logging
import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from functools import partial

from orca_ray.core.prompts import student_prompt
from orca_ray.errors import DataError
from orca_ray.schemas import (
    CORRECT,
    INCORRECT,
    ORIGIN_BORROWED,
    ORIGIN_STUDENT,
    ORIGIN_TEACHER,
    UNDECIDABLE,
    DPOPair,
    KTOExample,
    Problem,
    SFTExample,
    Verdict,
)

log = logging.getLogger(__name__)

# Every count dict has exactly these keys, so per-shard counts add up and reports never miss a column.
COUNT_KEYS = (
    "problems",  # problems seen
    "samples",  # verdict rows seen
    "undecidable",  # verdicts the judge could not decide
    "unanswered",  # undecidable attempts cut at the token limit with no answer, used as negatives (when enabled)
    "positives",  # positive completions kept (student and teacher)
    "negatives",  # negative completions kept (student and borrowed)
    "teacher_positives",  # teacher solutions used as a positive
    "teacher_fallbacks",  # problems where every decided attempt was wrong: the teacher is the only positive
    "all_correct",  # problems where every decided attempt was right
    "borrowed",  # negatives borrowed from another problem's wrong attempts
    "no_decided",  # problems with no correct or incorrect verdict (skipped)
    "no_positive",  # problems with wrong attempts only and no teacher solution (skipped)
    "no_negative",  # problems with positives only and nothing to borrow (no DPO pair; KTO keeps the positives)
    "duplicates",  # identical completions of one problem merged
    "examples",  # KTO rows written
    "pairs",  # DPO rows written
)


def empty_counts() -> dict[str, int]:
    return dict.fromkeys(COUNT_KEYS, 0)


def add_counts(total: dict[str, int], more: dict[str, int]) -> dict[str, int]:
    """Sum of two count dicts (keys of either)."""
    return {k: total.get(k, 0) + more.get(k, 0) for k in dict.fromkeys([*total, *more])}


def _rng(seed: int, problem_id: str) -> random.Random:
    # A str seed is hashed with SHA-512 by random.Random: stable across processes, unlike hash().
    return random.Random(f"{seed}:{problem_id}")


def _lineage(problem: Problem, verdicts: Sequence[Verdict]) -> dict:
    """Rows built from an iteration's verdicts carry that iteration's lineage (the first verdict's)."""
    first = verdicts[0] if verdicts else problem
    return {
        "run_id": first.run_id,
        "iteration": first.iteration,
        "policy_version": first.policy_version,
        "source": problem.source,
        "seed": problem.seed,
    }


def _unique(items: Iterable[tuple[str, str]], counts: dict[str, int], seen: set[str]) -> list[tuple[str, str]]:
    """(text, origin) items whose text is not in `seen` (updated), first occurrence kept."""
    out = []
    for text, origin in items:
        if text in seen:
            counts["duplicates"] += 1
            continue
        seen.add(text)
        out.append((text, origin))
    return out


def is_unanswered(verdict: Verdict) -> bool:
    """An attempt that stopped at the token limit without stating any answer. The judge rightly calls it
    undecidable (it does not guess what the answer would have been), but as a completion it is certainly not a
    solution: used as a negative, it teaches the student to finish within its budget.

    >>> is_unanswered(Verdict("p", 0, "q", "Let me think about", "undecidable", finish_reason="length"))
    True
    """
    return verdict.verdict == UNDECIDABLE and verdict.predicted is None and verdict.finish_reason == "length"


def _split(
    problem: Problem,
    verdicts: Sequence[Verdict],
    *,
    include_teacher_positive: bool,
    borrow_from: Sequence[Verdict],
    seed: int,
    counts: dict[str, int],
    unanswered_as_negative: bool = False,
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The positive and negative (completion, origin) lists of one problem, updating `counts`."""
    counts["problems"] += 1
    counts["samples"] += len(verdicts)
    ordered = sorted(verdicts, key=lambda v: v.sample_index)
    counts["undecidable"] += sum(v.verdict == UNDECIDABLE for v in ordered)
    unknown = [v.verdict for v in ordered if v.verdict not in (CORRECT, INCORRECT, UNDECIDABLE)]
    if unknown:
        raise DataError(f"problem {problem.id}: unknown verdict value {unknown[0]!r} (expected one of the VERDICTS)")
    right = [v.response for v in ordered if v.verdict == CORRECT]
    wrong = [v.response for v in ordered if v.verdict == INCORRECT]
    if unanswered_as_negative:
        unanswered = [v.response for v in ordered if is_unanswered(v)]
        counts["unanswered"] += len(unanswered)
        wrong += unanswered
    if not right and not wrong:
        counts["no_decided"] += 1
        return [], []
    teacher = problem.solution.strip() if problem.solution and problem.solution.strip() else None
    positives = [(text, ORIGIN_STUDENT) for text in right]
    if teacher and (include_teacher_positive or not right):
        positives.insert(0, (teacher, ORIGIN_TEACHER))
    if not right:
        if not teacher:
            counts["no_positive"] += 1
            return [], []
        counts["teacher_fallbacks"] += 1
    negatives = [(text, ORIGIN_STUDENT) for text in wrong]
    if not wrong:
        counts["all_correct"] += 1
        pool = [v for v in borrow_from if v.problem_id != problem.id and v.verdict == INCORRECT]
        if pool:
            pool.sort(key=lambda v: (v.problem_id, v.sample_index))
            negatives = [(_rng(seed, problem.id).choice(pool).response, ORIGIN_BORROWED)]
            counts["borrowed"] += 1
    seen: set[str] = set()
    positives = _unique(positives, counts, seen)
    negatives = _unique(negatives, counts, seen)
    counts["teacher_positives"] += sum(origin == ORIGIN_TEACHER for _, origin in positives)
    counts["positives"] += len(positives)
    counts["negatives"] += len(negatives)
    if not negatives:
        counts["no_negative"] += 1
    return positives, negatives


def kto_examples_for_problem(
    problem: Problem,
    verdicts_of_problem: Sequence[Verdict],
    *,
    include_teacher_positive: bool = True,
    borrow_from: Sequence[Verdict] = (),
    seed: int = 0,
    unanswered_as_negative: bool = False,
) -> tuple[list[KTOExample], dict[str, int]]:
    """KTO rows of one problem (for streaming, as its verdicts arrive); `borrow_from` holds other problems' verdicts,
    from which a wrong attempt is borrowed when every attempt here is right (pass none to borrow nothing).

    >>> p = Problem(id="p1", question="2+3?", solution="The answer is 5.")
    >>> rows, counts = kto_examples_for_problem(p, [Verdict("p1", 0, "2+3?", "5!", "correct")])
    >>> [(r.completion, r.label) for r in rows], counts["all_correct"]
    ([('The answer is 5.', True), ('5!', True)], 1)
    """
    counts = empty_counts()
    positives, negatives = _split(
        problem,
        verdicts_of_problem,
        include_teacher_positive=include_teacher_positive,
        borrow_from=borrow_from,
        seed=seed,
        counts=counts,
        unanswered_as_negative=unanswered_as_negative,
    )
    prompt = student_prompt(problem.question)
    lineage = _lineage(problem, verdicts_of_problem)
    rows = [
        KTOExample(problem.id, prompt, text, label, origin=origin, **lineage)
        for label, group in ((True, positives), (False, negatives))
        for text, origin in group
    ]
    counts["examples"] = len(rows)
    return rows, counts


def _by_problem(problems: Sequence[Problem], verdicts: Iterable[Verdict]) -> dict[str, list[Verdict]]:
    known = {p.id for p in problems}
    grouped: dict[str, list[Verdict]] = defaultdict(list)
    orphans = set()
    for v in verdicts:
        if v.problem_id in known:
            grouped[v.problem_id].append(v)
        else:
            orphans.add(v.problem_id)
    if orphans:
        raise DataError(f"verdicts for unknown problems: {sorted(orphans)[:5]} (pass their Problem rows too)")
    return grouped


def _rows_of_every_problem(problems, verdicts, borrow_negatives: bool, rows_of_problem) -> tuple[list, dict[str, int]]:
    """`rows_of_problem(problem, its verdicts, borrow_from=...)` over every problem, in problem order, counts summed:
    the one loop of both KTO and DPO, so their grouping and borrowing cannot differ."""
    grouped = _by_problem(problems, verdicts)
    pool = [v for vs in grouped.values() for v in vs] if borrow_negatives else []
    rows: list = []
    counts = empty_counts()
    for problem in problems:
        more, c = rows_of_problem(problem, grouped.get(problem.id, []), borrow_from=pool)
        rows += more
        counts = add_counts(counts, c)
    return rows, counts


def build_kto_examples(
    problems: Sequence[Problem],
    verdicts: Iterable[Verdict],
    *,
    include_teacher_positive: bool = True,
    borrow_negatives: bool = False,
    seed: int = 0,
    unanswered_as_negative: bool = False,
) -> tuple[list[KTOExample], dict[str, int]]:
    """KTO rows (prompt, completion, label) of every problem, in problem order, and the counts of each case."""
    rows_of_problem = partial(
        kto_examples_for_problem,
        include_teacher_positive=include_teacher_positive,
        seed=seed,
        unanswered_as_negative=unanswered_as_negative,
    )
    return _rows_of_every_problem(problems, verdicts, borrow_negatives, rows_of_problem)


def _capped_pairs(n_pos: int, n_neg: int, cap: int, rng: random.Random) -> list[tuple[int, int]]:
    """At most `cap` (positive, negative) index pairs, spreading use evenly over both sides, in a seeded order."""
    candidates = [(i, j) for i in range(n_pos) for j in range(n_neg)]
    rng.shuffle(candidates)
    if len(candidates) <= cap:
        return sorted(candidates)
    uses_pos, uses_neg = [0] * n_pos, [0] * n_neg
    chosen = []
    for _ in range(cap):
        best = min(candidates, key=lambda ij: uses_pos[ij[0]] + uses_neg[ij[1]])  # first minimum: seeded tie-break
        candidates.remove(best)
        uses_pos[best[0]] += 1
        uses_neg[best[1]] += 1
        chosen.append(best)
    return sorted(chosen)


def dpo_pairs_for_problem(
    problem: Problem,
    verdicts_of_problem: Sequence[Verdict],
    *,
    max_pairs_per_problem: int,
    borrow_from: Sequence[Verdict] = (),
    seed: int = 0,
    unanswered_as_negative: bool = False,
) -> tuple[list[DPOPair], dict[str, int]]:
    """DPO rows of one problem: positives x negatives, capped with an even, seeded selection."""
    if max_pairs_per_problem <= 0:
        raise ValueError("max_pairs_per_problem must be positive")
    counts = empty_counts()
    positives, negatives = _split(
        problem,
        verdicts_of_problem,
        include_teacher_positive=True,
        borrow_from=borrow_from,
        seed=seed,
        counts=counts,
        unanswered_as_negative=unanswered_as_negative,
    )
    prompt = student_prompt(problem.question)
    lineage = _lineage(problem, verdicts_of_problem)
    pairs = [
        DPOPair(
            problem.id,
            prompt,
            positives[i][0],
            negatives[j][0],
            chosen_origin=positives[i][1],
            rejected_origin=negatives[j][1],
            **lineage,
        )
        for i, j in _capped_pairs(len(positives), len(negatives), max_pairs_per_problem, _rng(seed, problem.id))
    ]
    counts["pairs"] = len(pairs)
    return pairs, counts


def build_dpo_pairs(
    problems: Sequence[Problem],
    verdicts: Iterable[Verdict],
    *,
    max_pairs_per_problem: int,
    borrow_negatives: bool = False,
    seed: int = 0,
    unanswered_as_negative: bool = False,
) -> tuple[list[DPOPair], dict[str, int]]:
    """DPO rows (prompt, chosen, rejected) of every problem, at most `max_pairs_per_problem` each, and the counts.

    >>> p = Problem(id="p1", question="2+3?", solution="The answer is 5.")
    >>> v = [Verdict("p1", i, "2+3?", text, "incorrect") for i, text in enumerate(["6", "7", "8"])]
    >>> pairs, counts = build_dpo_pairs([p], v, max_pairs_per_problem=2)
    >>> len(pairs), counts["pairs"], {x.chosen for x in pairs}
    (2, 2, {'The answer is 5.'})
    """
    rows_of_problem = partial(
        dpo_pairs_for_problem,
        max_pairs_per_problem=max_pairs_per_problem,
        seed=seed,
        unanswered_as_negative=unanswered_as_negative,
    )
    return _rows_of_every_problem(problems, verdicts, borrow_negatives, rows_of_problem)


def build_sft_examples(problems: Iterable[Problem], counts: dict[str, int] | None = None) -> list[SFTExample]:
    """Demonstrations (the student prompt, the teacher's solution); problems without a solution are skipped and
    counted in `counts['sft_skipped']` when a dict is given.

    >>> rows = build_sft_examples([Problem(id="a", question="1+1?", solution="The answer is 2."), Problem("b", "?")])
    >>> [(r.problem_id, r.completion) for r in rows]
    [('a', 'The answer is 2.')]
    """
    rows, skipped = [], 0
    for p in problems:
        if not p.solution or not p.solution.strip():
            skipped += 1
            continue
        rows.append(
            SFTExample(
                p.id,
                student_prompt(p.question),
                p.solution.strip(),
                run_id=p.run_id,
                iteration=p.iteration,
                policy_version=p.policy_version,
                source=p.source,
                seed=p.seed,
            )
        )
    if skipped:
        log.info("SFT: %d of %d problems have no solution and were skipped", skipped, skipped + len(rows))
    if counts is not None:
        counts["sft_examples"] = counts.get("sft_examples", 0) + len(rows)
        counts["sft_skipped"] = counts.get("sft_skipped", 0) + skipped
    return rows


# ---------------------------------------------------------------- TRL's conversational format

# The columns each method reads from a row (a dataclass row or a Ray Data / Parquet record).
METHOD_COLUMNS = {
    "sft": ("prompt", "completion"),
    "kto": ("prompt", "completion", "label"),
    "dpo": ("prompt", "chosen", "rejected"),
}


def prompt_messages(prompt: str, system_prompt: str | None = None) -> list[dict]:
    """The chat the student sees for a user message: the same messages `student_messages` gives the samplers, so
    training and sampling render the same tokens."""
    messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
    return messages + [{"role": "user", "content": prompt}]


def _assistant(text: str) -> list[dict]:
    return [{"role": "assistant", "content": text}]


def trl_record(method: str, row: dict, system_prompt: str | None = None) -> dict:
    """One training row in TRL's conversational prompt-completion (SFT, KTO) or preference (DPO) format.

    >>> trl_record("kto", {"prompt": "2+3?", "completion": "5", "label": True})["completion"]
    [{'role': 'assistant', 'content': '5'}]
    """
    if method not in METHOD_COLUMNS:
        raise ValueError(f"unknown training method {method!r} (expected one of {sorted(METHOD_COLUMNS)})")
    missing = [c for c in METHOD_COLUMNS[method] if row.get(c) is None]
    if missing:
        raise DataError(f"{method} row of problem {row.get('problem_id', '?')!r} lacks column(s) {missing}")
    record = {"prompt": prompt_messages(row["prompt"], system_prompt)}
    if method == "dpo":
        record.update(chosen=_assistant(row["chosen"]), rejected=_assistant(row["rejected"]))
    else:
        record["completion"] = _assistant(row["completion"])
    if method == "kto":
        record["label"] = bool(row["label"])
    return record
