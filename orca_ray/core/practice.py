"""The pure steps of one practice round: split problems into shards (the unit of streaming and of resume), turn
engine completions into Sample rows, and summarize verdicts (staleness: distributed.policy_versions).

    >>> plan_shards(["a", "b", "c"], shard_size=2)
    [['a', 'b'], ['c']]
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from orca_ray.schemas import CORRECT, INCORRECT, UNDECIDABLE, Problem, Sample, Verdict


def plan_shards(problem_ids: Sequence[str], shard_size: int) -> list[list[str]]:
    """Consecutive groups of `shard_size` problem ids; the same input always gives the same shards."""
    if shard_size <= 0:
        raise ValueError("shard_size must be positive")
    return [list(problem_ids[i : i + shard_size]) for i in range(0, len(problem_ids), shard_size)]


def split_for_practice(items: Sequence, demonstrations: int | None, sft_enabled: bool = True) -> tuple[list, list]:
    """(what SFT teaches by demonstration, what the iterations practise on): the first `demonstrations` items and
    the rest, so that practice meets problems the student has not seen solved; None: every item for both. Without
    an SFT stage nothing is demonstrated, so nothing is set aside for it (training.sft.max_problems is moot).

    >>> split_for_practice("abcde", 3), split_for_practice("abc", None), split_for_practice("abc", 2, False)
    ((['a', 'b', 'c'], ['d', 'e']), (['a', 'b', 'c'], ['a', 'b', 'c']), (['a', 'b', 'c'], ['a', 'b', 'c']))
    """
    if demonstrations is None or not sft_enabled:
        return list(items), list(items)
    if demonstrations >= len(items):
        raise ValueError(
            f"training.sft.max_problems ({demonstrations}) leaves none of the {len(items)} training problems for "
            f"practice: lower it, or generate more problems"
        )
    return list(items[:demonstrations]), list(items[demonstrations:])


def iteration_slice(items: Sequence, iteration: int, size: int | None) -> list:
    """The items practised in `iteration` (1-based): consecutive slices of `size`, wrapping around.

    >>> iteration_slice("abcde", 1, 2), iteration_slice("abcde", 3, 2), iteration_slice("abc", 2, None)
    (['a', 'b'], ['e', 'a'], ['a', 'b', 'c'])
    """
    if size is None or size >= len(items):
        return list(items)
    start = (iteration - 1) * size
    return [items[(start + i) % len(items)] for i in range(size)]


def shard_name(index: int) -> str:
    return f"shard-{index:05d}"


def sample_rows(
    problems: Sequence[Problem],
    completions: Sequence[Sequence[tuple[str, int, str | None]]],
    *,
    run_id: str,
    iteration: int,
    policy_version: int,
    adapter: str | None,
    seed: int = 0,
) -> list[Sample]:
    """One Sample per completion, in problem order; `completions[i]` holds (text, num_tokens, finish_reason)."""
    if len(problems) != len(completions):
        raise ValueError(f"{len(problems)} problems but {len(completions)} completion lists")
    rows = []
    for problem, attempts in zip(problems, completions, strict=True):
        for index, (text, num_tokens, finish_reason) in enumerate(attempts):
            rows.append(
                Sample(
                    problem_id=problem.id,
                    sample_index=index,
                    question=problem.question,
                    response=text,
                    num_tokens=num_tokens,
                    finish_reason=finish_reason,
                    adapter=adapter,
                    run_id=run_id,
                    iteration=iteration,
                    policy_version=policy_version,
                    source=problem.source,
                    seed=seed,
                )
            )
    return rows


def verdict_counts(verdicts: Iterable[Verdict]) -> dict[str, int]:
    """Flat counts of a batch of verdicts: samples, correct, incorrect, undecidable, by tier, and the rule-decided
    rows the LLM tier audited (`audited`, when there are any)."""
    from orca_ray.core.judge import was_audited

    counts: Counter[str] = Counter()
    for v in verdicts:
        counts["samples"] += 1
        counts[v.verdict] += 1
        counts[f"tier_{v.judge_tier}"] += 1
        counts["audited"] += was_audited(v)
    return {key: counts.get(key, 0) for key in ("samples", CORRECT, INCORRECT, UNDECIDABLE)} | {
        k: v for k, v in counts.items() if k.startswith("tier_") or (k == "audited" and v)
    }


def pass_at_1(verdicts: Sequence[Verdict]) -> dict[str, float]:
    """Greedy pass@1 over one verdict per problem: accuracy, counts and the undecidable share.

    >>> pass_at_1([])["accuracy"]
    0.0
    """
    counts = verdict_counts(verdicts)
    total = counts["samples"]
    return {
        "problems": total,
        "correct": counts[CORRECT],
        "incorrect": counts[INCORRECT],
        "undecidable": counts[UNDECIDABLE],
        "accuracy": counts[CORRECT] / total if total else 0.0,
        "undecidable_share": counts[UNDECIDABLE] / total if total else 0.0,
    }
