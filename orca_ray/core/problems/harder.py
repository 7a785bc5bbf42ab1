"""'Make it harder': one more reasoning step on a generated problem (a tax after the total, a share among friends,
a second purchase, a conversion), as Orca-Math's Suggester proposes and its Editor writes, here exact.

The transform is a pure function of the problem and a seed. It rebuilds the problem from its id
(`sym-<seed>-<index>`, then `-h<k>` for each earlier transform), checks that the rebuild matches the row, and
applies one follow-up move. The new id appends `-h<seed>`.

    >>> from orca_ray.core.problems.generator import generate_problems
    >>> p = generate_problems(1, seed=3)[0]
    >>> h = make_harder(p, seed=1)
    >>> h.id == p.id + "-h1", h.steps == p.steps + 1, h == make_harder(p, seed=1)
    (True, True, True)
"""

from __future__ import annotations

import dataclasses
import re
from random import Random

from orca_ray.core.problems.draft import Draft, NoBuild
from orca_ray.core.problems.generator import FAMILY_INFO, MAX_ATTEMPTS, build_draft
from orca_ray.core.problems.moves import apply_move
from orca_ray.schemas import Problem

# the generator's id, possibly prefixed (e.g. by a loader that made ids unique) and followed by earlier transforms
_ID_RE = re.compile(r"(?:^|-)sym-(-?\d+)-(\d+)((?:-h-?\d+)*)$")


def harden_draft(draft: Draft, problem_id: str, seed: int) -> Draft:
    """The draft with one more step; ValueError when no follow-up fits its final quantity."""
    rng = Random(f"{problem_id}:harder:{seed}")
    names = list(draft.target.moves)
    rng.shuffle(names)
    for name in names:
        harder = apply_move(draft, name, rng)
        if harder is not None:
            return harder
    raise ValueError(f"problem {problem_id}: no harder step fits its final quantity ({draft.target.phrase})")


def rebuild_draft(problem: Problem) -> Draft:
    """The draft a generated problem came from, with every earlier transform applied; ValueError when the row was
    not written by generate_problems / make_harder, or was edited since."""
    match = _ID_RE.search(problem.id)
    if match is None or problem.family not in FAMILY_INFO or problem.steps is None:
        raise ValueError(
            f"problem {problem.id!r} is not a symbolic problem (expected an id 'sym-<seed>-<index>' from "
            f"generate_problems and a known family, got family={problem.family!r}); only those can be "
            f"made harder"
        )
    seed, index = int(match.group(1)), int(match.group(2))
    transforms = [int(h) for h in re.findall(r"-h(-?\d+)", match.group(3))]
    base_steps = problem.steps - len(transforms)
    base_id = f"sym-{seed}-{index}"
    for attempt in range(MAX_ATTEMPTS):
        try:
            draft = build_draft(seed, index, problem.family, base_steps, attempt)
        except (NoBuild, AssertionError, KeyError):
            continue
        current_id = base_id
        for harder_seed in transforms:
            draft = harden_draft(draft, current_id, harder_seed)
            current_id = f"{current_id}-h{harder_seed}"
        if draft.question == problem.question and draft.solution == problem.solution:
            return draft
    raise ValueError(
        f"problem {problem.id!r} does not match what the generator builds for that id (edited, or "
        f"written by another version): it cannot be made harder"
    )


def make_harder(problem: Problem, seed: int) -> Problem:
    """A new problem with one more reasoning step and its exact answer and solution; deterministic in (problem, seed).

    Lineage fields (run id, iteration, source, seed) are kept; the id gains `-h<seed>`.
    """
    draft = rebuild_draft(problem)
    match = _ID_RE.search(problem.id)
    assert match is not None  # rebuild_draft checked it
    harder = harden_draft(draft, problem.id[match.start() :].lstrip("-"), seed)
    return dataclasses.replace(
        problem,
        id=f"{problem.id}-h{seed}",
        question=harder.question,
        answer=harder.answer,
        solution=harder.solution,
        steps=harder.steps,
    )
