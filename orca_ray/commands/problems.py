"""`orca-ray problems generate|families`: the symbolic teacher's problems as JSONL, and the list of its families.

orca-ray problems generate --n 1000 --seed 0 --out problems.jsonl
orca-ray problems generate --n 200 --seed 10001 --families ages travel --harder 1 --out - | head -1
orca-ray problems families
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import TextIO

from tqdm import tqdm

from orca_ray.core.problems import FAMILY_INFO, iter_problems, make_harder
from orca_ray.errors import ConfigError, DataError
from orca_ray.schemas import Problem

# the keys of each output line, in order
FIELDS = ("id", "question", "answer", "solution", "family", "steps", "seed", "source")


def problem_record(problem: Problem) -> dict:
    return {name: getattr(problem, name) for name in FIELDS}


def write_problems(args, out: TextIO) -> tuple[Counter, Counter]:
    """Generate (and harden) the problems of `args` into `out`; the counts per family and per step count."""
    if args.harder < 0:
        raise ConfigError(f"--harder must be >= 0, got {args.harder}")
    by_family: Counter = Counter()
    by_steps: Counter = Counter()
    problems = iter_problems(args.n, args.seed, args.families, args.min_steps, args.max_steps)
    for problem in tqdm(problems, total=args.n, desc="problems", unit="problem", disable=None, file=sys.stderr):
        for harder_seed in range(1, args.harder + 1):  # '-h1-h2...': each transform adds one step
            problem = make_harder(problem, harder_seed)
        out.write(json.dumps(problem_record(problem), ensure_ascii=False) + "\n")
        by_family[problem.family] += 1
        by_steps[problem.steps] += 1
    return by_family, by_steps


def format_counts(by_family: Counter, by_steps: Counter) -> str:
    total = sum(by_family.values())
    lines = [f"{total} problems", "per family:"]
    lines += [f"  {name:<12} {by_family[name]:>6}" for name in FAMILY_INFO if by_family[name]]
    lines.append("per step count:")
    lines += [f"  {steps:>2} steps    {by_steps[steps]:>6}" for steps in sorted(by_steps)]
    return "\n".join(lines)


def generate(args) -> int:
    if args.out == "-":
        by_family, by_steps = write_problems(args, sys.stdout)
        sys.stdout.flush()
    else:
        path = Path(args.out).expanduser()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("w", encoding="utf-8") as out:
                by_family, by_steps = write_problems(args, out)
        except OSError as err:
            raise DataError(f"{path}: cannot write the problems ({err.strerror or err})") from err
    print(format_counts(by_family, by_steps), file=sys.stderr)
    if args.out != "-":
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


def families(args) -> int:
    del args  # no options
    width = max(len(name) for name in FAMILY_INFO)
    for family in FAMILY_INFO.values():
        steps = f"{family.min_steps}-{family.max_steps} steps"
        print(f"{family.name:<{width}}  {steps:<11}  {family.description}")
    return 0
