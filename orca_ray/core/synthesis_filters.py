"""Which synthesized problems are kept: self-consistency of the teacher's answers (or the symbolic teacher's exact
answer), the solution length limit, near-duplicates and evaluation overlap; and the yield summary that counts
what each agent's problems went through.

A problem passes self-consistency when its agreeing answers are a strict majority of the k solutions asked for
(`agreement="majority"`: 2 of 3) or all of them (`"all"`); a solution without a readable final answer counts as a
disagreeing one. With k = 1 every answered problem passes: the check needs k >= 2 to mean anything.

    >>> c = consensus(["2+2=4. The answer is 4.", "The answer is 4.", "The answer is 5."])
    >>> (c.answer, c.votes, c.solution_index)
    ('4', 2, 0)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from orca_ray.core.answers import answers_match, extract_final_answer, normalize_number
from orca_ray.core.prompts import FINAL_ANSWER_PREFIX, final_answer_line
from orca_ray.core.text_overlap import decontaminate, near_duplicates
from orca_ray.schemas import Problem

STAGES = ("seeds", "generated", "answered", "consistent", "within_length", "deduplicated", "kept")
STAGE_HELP = {
    "seeds": "seed problems given to the agent",
    "generated": "new problems the agent wrote (parsed from its replies)",
    "answered": "problems with at least one teacher solution ending in a readable answer",
    "consistent": "problems whose answers agree, or that the symbolic teacher verified",
    "within_length": "problems whose kept solution is at most synthesis.max_solution_chars long",
    "deduplicated": "problems not near-duplicates of a seed or of an earlier problem",
    "kept": "problems not overlapping an evaluation set (the output)",
}

Agreement = Literal["majority", "all"]


@dataclass(frozen=True)
class Consensus:
    """What the teacher's k solutions say: the agreed answer (None: no agreement) and one solution that gives it."""

    answer: str | None
    votes: int  # solutions giving the agreed (or largest-group) answer
    answered: int  # solutions with a readable final answer
    requested: int  # solutions asked for (k)
    solution_index: int | None = None  # the first solution giving `answer`
    verified: bool = False  # the answer comes from the symbolic teacher, not from agreement


def _canonical(answer: str) -> str:
    return normalize_number(answer) or answer.strip()


def consensus(
    solutions: Sequence[str],
    *,
    question: str | None = None,
    agreement: Agreement = "majority",
    use_math_verify: bool = True,
    max_chars: int = 20_000,
) -> Consensus:
    """Group the solutions' final answers by `answers_match` and decide whether they agree.

    >>> consensus(["The answer is 4.", "The answer is 5.", "no idea"]).answer is None
    True
    >>> consensus(["The answer is 1.5.", "The answer is 1 1/2."], agreement="all").answer
    '1.5'
    """
    answers = [extract_final_answer(s, max_chars=max_chars) for s in solutions]
    groups: list[list[int]] = []  # indices of solutions with the same answer; the first one represents the group
    for index, answer in enumerate(answers):
        if answer is None:
            continue
        for group in groups:
            if answers_match(answer, answers[group[0]], question, use_math_verify):
                group.append(index)
                break
        else:
            groups.append([index])
    answered = sum(a is not None for a in answers)
    if not groups:
        return Consensus(None, 0, 0, len(solutions))
    best = max(groups, key=len)  # the earliest of equally large groups
    needed = len(solutions) if agreement == "all" else len(solutions) // 2 + 1
    agreed = len(best) >= needed
    answer = _canonical(answers[best[0]]) if agreed else None
    return Consensus(answer, len(best), answered, len(solutions), best[0] if agreed else None)


def verify_with_reference(
    solutions: Sequence[str],
    reference: str,
    *,
    question: str | None = None,
    use_math_verify: bool = True,
    max_chars: int = 20_000,
) -> Consensus:
    """The symbolic teacher's check for a problem whose exact answer is known: the answer is the reference;
    `solution_index` is the first teacher solution that reaches it (None: use the symbolic solution).

    >>> verify_with_reference(["The answer is 7.", "The answer is 8."], "8").solution_index
    1
    """
    answers = [extract_final_answer(s, max_chars=max_chars) for s in solutions]
    matching = [
        i for i, a in enumerate(answers) if a is not None and answers_match(a, reference, question, use_math_verify)
    ]
    return Consensus(
        answer=_canonical(reference),
        votes=len(matching),
        answered=sum(a is not None for a in answers),
        requested=len(solutions),
        solution_index=matching[0] if matching else None,
        verified=True,
    )


def with_final_line(solution: str, answer: str) -> str:
    """The solution ending with the one final-answer line the student is trained on.

    >>> with_final_line("3 + 4 = 7", "7")
    '3 + 4 = 7\\nThe answer is 7.'
    >>> with_final_line("3 + 4 = 7\\nThe answer is 7.", "7")
    '3 + 4 = 7\\nThe answer is 7.'
    """
    text = solution.strip()
    last_line = text.splitlines()[-1] if text else ""
    if last_line.startswith(FINAL_ANSWER_PREFIX):
        return text
    return f"{text}\n{final_answer_line(answer)}" if text else final_answer_line(answer)


def within_length(solution: str, max_chars: int) -> bool:
    """Orca-Math dropped problems whose solution is longer than 1,800 characters.

    >>> within_length("x" * 1800, 1800), within_length("x" * 1801, 1800)
    (True, False)
    """
    return len(solution) <= max_chars


# ---------------------------------------------------------------- near-duplicates and evaluation overlap


@dataclass(frozen=True)
class FinalFilter:
    """Indices (into the candidates given) that survive each of the last two filters."""

    deduplicated: list[int]
    kept: list[int]


def drop_duplicates_and_overlap(
    questions: Sequence[str],
    seed_questions: Sequence[str],
    eval_questions: Sequence[str],
    *,
    near_duplicate_threshold: float,
    ngram: int,
    overlap_threshold: float,
) -> FinalFilter:
    """Drop candidates that are near-duplicates of a seed or of an earlier candidate, then those overlapping an
    evaluation set (no evaluation questions: nothing is dropped for overlap).

    >>> f = drop_duplicates_and_overlap(["Ann has 3 red cats and 2 dogs. How many pets?"] * 2,
    ...     ["Bob has 9 pens. How many pens?"], [], near_duplicate_threshold=0.9, ngram=8, overlap_threshold=0.5)
    >>> f.deduplicated, f.kept
    ([0], [0])
    """
    texts = list(seed_questions) + list(questions)
    dropped = set(near_duplicates(texts, near_duplicate_threshold))
    offset = len(seed_questions)
    deduplicated = [i for i in range(len(questions)) if i + offset not in dropped]
    if not eval_questions:
        return FinalFilter(deduplicated, list(deduplicated))
    problems = [Problem(id=str(i), question=questions[i]) for i in deduplicated]
    kept, _removed = decontaminate(problems, list(eval_questions), ngram, overlap_threshold)
    return FinalFilter(deduplicated, [int(p.id) for p in kept])


# ---------------------------------------------------------------- the yield summary


@dataclass
class YieldCounts:
    """How many problems of each agent reached each stage; shards add theirs up.

    >>> c = YieldCounts()
    >>> c.add("generated", "ask_me_anything", 3)
    >>> c.merge(YieldCounts.from_dict({"generated": {"ask_me_anything": 2}})).get("generated", "ask_me_anything")
    5
    """

    counts: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, stage: str, agent: str, n: int = 1) -> None:
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; stages are {', '.join(STAGES)}")
        per_agent = self.counts.setdefault(stage, {})
        per_agent[agent] = per_agent.get(agent, 0) + n

    def get(self, stage: str, agent: str) -> int:
        return self.counts.get(stage, {}).get(agent, 0)

    def total(self, stage: str) -> int:
        return sum(self.counts.get(stage, {}).values())

    def agents(self) -> list[str]:
        seen: list[str] = []
        for stage in STAGES:
            seen += [a for a in self.counts.get(stage, {}) if a not in seen]
        return seen

    def merge(self, other: YieldCounts) -> YieldCounts:
        merged = YieldCounts({s: dict(a) for s, a in self.counts.items()})
        for stage, per_agent in other.counts.items():
            for agent, n in per_agent.items():
                merged.add(stage, agent, n)
        return merged

    def to_dict(self) -> dict[str, dict[str, int]]:
        return {stage: dict(self.counts.get(stage, {})) for stage in STAGES}

    @classmethod
    def from_dict(cls, data: dict[str, dict[str, int]]) -> YieldCounts:
        counts = cls()
        for stage, per_agent in data.items():
            for agent, n in per_agent.items():
                counts.add(stage, agent, int(n))
        return counts


def yield_table(counts: YieldCounts, seeds_total: int | None = None) -> str:
    """The yield summary as a text table: one row per stage, one column per agent, and the total.
    The seeds row's total is the number of seeds (each seed goes to every agent), when given.

    >>> c = YieldCounts.from_dict({"seeds": {"a": 2, "b": 2}, "generated": {"a": 5, "b": 1}})
    >>> print(yield_table(c, seeds_total=2))
    stage              a      b  total
    seeds              2      2      2
    generated          5      1      6
    answered           0      0      0
    consistent         0      0      0
    within_length      0      0      0
    deduplicated       0      0      0
    kept               0      0      0
    """
    agents = counts.agents()
    width = max([len(s) for s in STAGES] + [5])
    cols = [max(6, len(a)) for a in agents]
    header = f"{'stage':<{width}}" + "".join(f" {a:>{w}}" for a, w in zip(agents, cols, strict=True)) + "  total"
    lines = [header]
    for stage in STAGES:
        total = seeds_total if stage == "seeds" and seeds_total is not None else counts.total(stage)
        cells = "".join(f" {counts.get(stage, a):>{w}}" for a, w in zip(agents, cols, strict=True))
        lines.append(f"{stage:<{width}}{cells} {total:>6}")
    return "\n".join(lines)
