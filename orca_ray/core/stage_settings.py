"""What the sampler, judge and preference stages run with, built from the run config here and nowhere else:
frozen, typed, and small enough to travel into every Ray task. The defaults are config.py's; nothing here
repeats one.

    >>> from orca_ray.config import RunConfig
    >>> config = RunConfig()
    >>> judging(config).grading == teacher_sampling(config)
    True
    >>> greedy(8).fields()
    {'max_tokens': 8, 'temperature': 0.0, 'n': 1}
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from orca_ray.config import RunConfig
from orca_ray.core.preferences import build_dpo_pairs, build_kto_examples
from orca_ray.schemas import DPOPair, KTOExample, Problem, Verdict


@dataclass(frozen=True)
class Sampling:
    """One request's generation settings, as vLLM's SamplingParams and OpenAI-compatible endpoints name them; a
    field left None is not sent (the engine's own default applies)."""

    max_tokens: int
    temperature: float
    n: int = 1
    top_p: float | None = None
    seed: int | None = None

    def fields(self) -> dict:
        """The settings an engine or endpoint takes (`engine.chat`, `TeacherClient.chat`)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


def student_sampling(config: RunConfig) -> Sampling:
    """The student's practice attempts (config `sampling`)."""
    s = config.sampling
    return Sampling(max_tokens=s.max_tokens, temperature=s.temperature, n=s.n, top_p=s.top_p, seed=s.seed)


def greedy(max_tokens: int) -> Sampling:
    """One deterministic attempt: evaluation."""
    return Sampling(max_tokens=max_tokens, temperature=0.0)


def teacher_sampling(config: RunConfig) -> Sampling:
    """The teacher's replies, solving and grading alike (config `teacher`)."""
    return Sampling(max_tokens=config.teacher.max_tokens, temperature=config.teacher.temperature)


@dataclass(frozen=True)
class Judging:
    """The judge stage: the rule tier's settings, and whether and how the teacher grades (config `judge`)."""

    use_math_verify: bool
    max_response_chars: int
    llm_tier: bool
    audit_share: float
    grading: Sampling  # the teacher's sampling when it grades


def judging(config: RunConfig) -> Judging:
    j = config.judge
    return Judging(
        use_math_verify=j.use_math_verify,
        max_response_chars=j.max_response_chars,
        llm_tier=j.llm_tier,
        audit_share=j.audit_share,
        grading=teacher_sampling(config),
    )


@dataclass(frozen=True)
class Preferences:
    """How a shard's verdicts become training rows (config `training.preference`, and the run's seed)."""

    method: Literal["kto", "dpo"]
    include_teacher_positive: bool  # kto
    max_pairs_per_problem: int  # dpo
    borrow_negatives: bool
    unanswered_as_negative: bool
    seed: int

    @property
    def row_type(self) -> type:
        return KTOExample if self.method == "kto" else DPOPair

    @property
    def rows_key(self) -> str:
        """The key of core.preferences' counts that counts the rows written."""
        return "examples" if self.method == "kto" else "pairs"

    def build(self, problems: Sequence[Problem], verdicts: Iterable[Verdict]) -> tuple[list, dict[str, int]]:
        """The rows (KTO examples or DPO pairs) of these problems' verdicts, and the counts of every case."""
        shared = {
            "borrow_negatives": self.borrow_negatives,
            "seed": self.seed,
            "unanswered_as_negative": self.unanswered_as_negative,
        }
        if self.method == "kto":
            return build_kto_examples(
                problems, verdicts, include_teacher_positive=self.include_teacher_positive, **shared
            )
        return build_dpo_pairs(problems, verdicts, max_pairs_per_problem=self.max_pairs_per_problem, **shared)


def preferences(config: RunConfig) -> Preferences:
    pref = config.training.preference
    return Preferences(
        method=pref.method,
        include_teacher_positive=pref.include_teacher_positive,
        max_pairs_per_problem=pref.max_pairs_per_problem,
        borrow_negatives=pref.borrow_negatives,
        unanswered_as_negative=pref.unanswered_as_negative,
        seed=config.seed,
    )
