"""The seeded generator: which families exist, and `generate_problems`, deterministic for a seed.

Problem `i` of seed `s` is built from its own random stream, keyed by (s, i, family, steps, attempt), so it does
not depend on how many problems were asked for, and `make_harder` can rebuild it from its id alone.

    >>> problems = generate_problems(3, seed=7)
    >>> [p.id for p in problems], problems == generate_problems(3, seed=7)
    (['sym-7-0', 'sym-7-1', 'sym-7-2'], True)
    >>> problems[0].solution.splitlines()[-1] == f"The answer is {problems[0].answer}."
    True
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from random import Random

from orca_ray.core.problems import families_counting as counting
from orca_ray.core.problems import families_measure as measure
from orca_ray.core.problems import families_money as money
from orca_ray.core.problems.draft import Draft, NoBuild
from orca_ray.errors import ConfigError
from orca_ray.schemas import Problem

log = logging.getLogger(__name__)

MIN_STEPS, MAX_STEPS = 1, 6
MAX_ATTEMPTS = 64  # builds that hit an unclean number or repeat an earlier question are retried this many times
_NUMBER_RE = re.compile(r"\d+(?:\.\d+)?")


@dataclass(frozen=True)
class Family:
    name: str
    description: str
    build: Callable[[Random, int], Draft]
    min_steps: int = MIN_STEPS
    max_steps: int = MAX_STEPS


_FAMILY_LIST = (
    Family("shopping", "items bought at a price each, a coupon, and the change from a bill", money.shopping),
    Family("rates", "machines and workers at a rate, jobs done together", measure.rates),
    Family("percentages", "discounts, sales tax, and percents of a group", money.percentages),
    Family("fractions", "fractions of a collection taken in turn, fractions of a whole", counting.fractions),
    Family("ratios", "parts in a ratio from one part or from the total", counting.ratios),
    Family("schedules", "time spent on activities, free time, minutes and hours", measure.schedules),
    Family("ages", "ages from relations between people, now and in the future", counting.ages),
    Family("units", "metric and US unit conversions, portions of a quantity", measure.units),
    Family("geometry", "perimeter and area of rectangles and squares, cost of materials", measure.geometry),
    Family("averages", "means, a missing value for a target mean, combined groups", counting.averages),
    Family("transfers", "things and money passing between people", counting.transfers),
    Family("profit", "buying and selling: costs, revenue, profit and profit percent", money.profit),
    Family("wages", "hourly pay, overtime, tips and savings", money.wages),
    Family("travel", "speed, distance and time over several legs, average speed", measure.travel),
    Family("temperature", "temperatures rising and falling, below zero too", measure.temperature),
)
FAMILY_INFO: dict[str, Family] = {f.name: f for f in _FAMILY_LIST}
FAMILIES: tuple[str, ...] = tuple(FAMILY_INFO)


def check_families(families: Sequence[str] | None) -> list[str]:
    """The families asked for, validated (None: all of them); ConfigError names an unknown one and the valid ones."""
    if families is None:
        return list(FAMILIES)
    if isinstance(families, str):
        families = [families]
    unknown = [f for f in families if f not in FAMILY_INFO]
    if unknown:
        raise ConfigError(
            f"unknown problem famil{'y' if len(unknown) == 1 else 'ies'} {', '.join(map(repr, unknown))}; "
            f"valid families: {', '.join(FAMILIES)}"
        )
    if not families:
        raise ConfigError(f"no problem families given; valid families: {', '.join(FAMILIES)}")
    return list(dict.fromkeys(families))


def split_families(holdout: Sequence[str]) -> tuple[list[str], list[str]]:
    """(training families, held-out families): a held-out split by family.

    >>> train, held = split_families(["ages", "travel"])
    >>> held, "ages" in train, len(train) + len(held) == len(FAMILIES)
    (['ages', 'travel'], False, True)
    """
    held = check_families(holdout)
    return [f for f in FAMILIES if f not in held], held


def build_draft(seed: int, index: int, family: str, steps: int, attempt: int) -> Draft:
    """One attempt at problem `index` of `seed`; NoBuild when its random choices led nowhere clean."""
    draft = FAMILY_INFO[family].build(Random(f"{seed}:{index}:{family}:{steps}:{attempt}"), steps)
    if draft.steps != steps:  # a family that miscounts its own steps is a bug, not bad luck
        raise AssertionError(f"{family} built {draft.steps} steps instead of {steps}")
    return draft


def _plan(
    seed: int, index: int, families: list[str], min_steps: int, max_steps: int, step_weights: Sequence[int] | None
) -> tuple[str, int]:
    pick = Random(f"{seed}:{index}")
    family = FAMILY_INFO[pick.choice(families)]
    low, high = max(min_steps, family.min_steps), min(max_steps, family.max_steps)
    if not step_weights:
        return family.name, pick.randint(low, high)
    choices = list(range(low, high + 1))
    return family.name, pick.choices(choices, weights=[step_weights[s - min_steps] for s in choices])[0]


def _check_steps(families: list[str], min_steps: int, max_steps: int) -> list[str]:
    if not MIN_STEPS <= min_steps <= max_steps <= MAX_STEPS:
        raise ConfigError(
            f"steps must satisfy {MIN_STEPS} <= min_steps <= max_steps <= {MAX_STEPS}; "
            f"got min_steps={min_steps}, max_steps={max_steps}"
        )
    usable = [f for f in families if FAMILY_INFO[f].min_steps <= max_steps and FAMILY_INFO[f].max_steps >= min_steps]
    if not usable:
        raise ConfigError(f"no family among {', '.join(families)} has problems of {min_steps} to {max_steps} steps")
    return usable


def to_problem(draft: Draft, problem_id: str, family: str, seed: int, source: str) -> Problem:
    return Problem(
        id=problem_id,
        question=draft.question,
        answer=draft.answer,
        solution=draft.solution,
        family=family,
        steps=draft.steps,
        source=source,
        seed=seed,
    )


def iter_problems(
    n: int,
    seed: int,
    families: Sequence[str] | None = None,
    min_steps: int = MIN_STEPS,
    max_steps: int = MAX_STEPS,
    source: str = "symbolic",
    max_number: int | None = None,
    step_weights: Sequence[int] | None = None,
) -> Iterator[Problem]:
    """The problems of `generate_problems`, one at a time (for a progress bar)."""
    if n < 0:
        raise ConfigError(f"the number of problems must be >= 0, got {n}")
    if max_number is not None and max_number < 10:
        raise ConfigError(f"max_number must be at least 10, got {max_number}")
    if step_weights is not None and (
        len(step_weights) != max_steps - min_steps + 1 or min(step_weights) < 0 or not sum(step_weights) > 0
    ):
        raise ConfigError(
            f"step_weights needs one weight >= 0 for each step count from {min_steps} to {max_steps} "
            f"(not all 0), got {list(step_weights)}"
        )
    chosen = _check_steps(check_families(families), min_steps, max_steps)
    seen: set[str] = set()
    for index in range(n):
        family, steps = _plan(seed, index, chosen, min_steps, max_steps, step_weights)
        draft = first_new_draft(seed, index, family, steps, seen, max_number)
        seen.add(draft.question)
        yield to_problem(draft, f"sym-{seed}-{index}", family, seed, source)


def largest_number(draft: Draft) -> Fraction:
    """The largest number written in a draft's question or solution (0 when there is none).

    >>> from orca_ray.core.problems.draft import Target
    >>> from fractions import Fraction
    >>> target = Target(Fraction(30), "count", "pens", "the pens")
    >>> largest_number(Draft(("Sam has 12 pens.",), "How many?", ("12 x 2.5 = 30",), target))
    Fraction(30, 1)
    """
    numbers = _NUMBER_RE.findall(f"{draft.question}\n{draft.solution}")
    return max((Fraction(n) for n in numbers), default=Fraction(0))


def first_new_draft(
    seed: int, index: int, family: str, steps: int, seen: set[str], max_number: int | None = None
) -> Draft:
    """The first attempt that builds, keeps every number at most `max_number` (None: any) and asks a question not in
    `seen` (else the first that builds within the bound)."""
    fallback = None
    for attempt in range(MAX_ATTEMPTS):
        try:
            draft = build_draft(seed, index, family, steps, attempt)
        except NoBuild:
            continue
        if max_number is not None and largest_number(draft) > max_number:
            continue
        if draft.question not in seen:
            return draft
        fallback = fallback or draft
    if fallback is None and max_number is not None:
        raise ConfigError(
            f"family {family} could not build a {steps}-step problem with every number at most {max_number} in "
            f"{MAX_ATTEMPTS} attempts (problem {index} of seed {seed}): raise max_number or leave {family} out"
        )
    if fallback is None:
        raise RuntimeError(f"family {family} could not build a {steps}-step problem in {MAX_ATTEMPTS} attempts")
    log.warning("problem %s-%s repeats an earlier question after %d attempts", seed, index, MAX_ATTEMPTS)
    return fallback


def generate_problems(
    n: int,
    seed: int,
    families: Sequence[str] | None = None,
    min_steps: int = MIN_STEPS,
    max_steps: int = MAX_STEPS,
    source: str = "symbolic",
    max_number: int | None = None,
    step_weights: Sequence[int] | None = None,
) -> list[Problem]:
    """`n` word problems with exact answers and step-by-step solutions, the same for the same arguments.

    Families are drawn uniformly, then a step count in [min_steps, max_steps], uniformly or with `step_weights`
    (one per step count from min_steps). `max_number` keeps only builds whose question and solution write no number
    above it (easier arithmetic for a small student). Ids are f"sym-{seed}-{index}"; problem i does not depend on
    n. Unknown families raise ConfigError (a ValueError).
    """
    return list(iter_problems(n, seed, families, min_steps, max_steps, source, max_number, step_weights))
