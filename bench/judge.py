"""Rule-tier judge speed: verdicts per CPU-second of one process (one core), on GSM8K-style responses, and, side by
side on the same rows, a judge made of math-verify alone (parse the whole response and the reference, verify).

    .venv/bin/python bench/judge.py                  # GSM8K train+test from $ORCA_RAY_SHARED/data/gsm8k (or ../shared)
    .venv/bin/python bench/judge.py --rows 2000      # fewer rows

Each row is judged twice: against its own reference solution rewritten as a student would write it (ending "The
answer is N.") and against its neighbour's (mostly incorrect). Without GSM8K, templated responses are used.
CPU time (time.process_time) is measured, so other load on a shared machine costs little; best of --repeats.
The last line is `verdicts_per_second_per_core=<x>`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import time
from pathlib import Path

from orca_ray.core.judge import judge_response
from orca_ray.schemas import CORRECT, INCORRECT, UNDECIDABLE

REPO = Path(__file__).resolve().parents[1]


def _gsm8k_pairs(limit: int) -> list[tuple[str, str, str]] | None:
    shared = Path(os.environ.get("ORCA_RAY_SHARED", REPO.parent / "shared")) / "data" / "gsm8k"
    if not (shared / "train.jsonl").is_file():
        return None
    rows = []
    for split in ("train", "test"):
        rows += [json.loads(line) for line in (shared / f"{split}.jsonl").open() if line.strip()]
    rows = rows[: limit // 2]

    def as_student(answer: str) -> str:
        body, _, number = answer.rpartition("####")
        return re.sub(r"<<[^<>]*>>", "", body) + f"The answer is {number.strip()}."

    pairs = []
    for i, row in enumerate(rows):
        reference = row["answer"].rpartition("####")[2].strip()
        for other in (row, rows[(i + 1) % len(rows)]):
            pairs.append((as_student(other["answer"]), reference, row["question"]))
    return pairs


def _templated_pairs(limit: int) -> list[tuple[str, str, str]]:
    rng = random.Random(0)
    pairs = []
    for _ in range(limit):
        a, b = rng.randint(2, 500), rng.randint(2, 500)
        answer = a + b if rng.random() < 0.5 else a + b + 1
        response = f"Tom has {a} pens and buys {b} more.\n{a} + {b} = {answer}\nThe answer is {answer}."
        pairs.append((response, str(a + b), "How many pens does Tom have?"))
    return pairs


def _rules_rate(pairs, use_math_verify: bool, repeats: int) -> tuple[float, list[str]]:
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        verdicts = [judge_response(r, ref, q, use_math_verify=use_math_verify).verdict for r, ref, q in pairs]
        best = min(best, time.process_time() - start)
    return len(pairs) / best, verdicts


def _math_verify_only(pairs, repeats: int) -> tuple[float, list[str]]:
    from math_verify import parse, verify

    def judge(response: str, reference: str) -> str:
        gold, pred = parse(reference, parsing_timeout=None), parse(response, parsing_timeout=None)
        if not gold or not pred:
            return UNDECIDABLE
        return CORRECT if verify(gold, pred, timeout_seconds=None) else INCORRECT

    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        verdicts = [judge(r, ref) for r, ref, _q in pairs]
        best = min(best, time.process_time() - start)
    return len(pairs) / best, verdicts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=17_584, help="verdicts per pass (GSM8K train+test x 2)")
    parser.add_argument("--math-verify-rows", type=int, default=2_000, help="rows for the math-verify-only judge")
    parser.add_argument("--repeats", type=int, default=3, help="passes; the fastest counts")
    args = parser.parse_args()

    pairs = _gsm8k_pairs(args.rows)
    corpus = "gsm8k" if pairs else "templated"
    pairs = pairs or _templated_pairs(args.rows)
    judge_response(*pairs[0])  # warm-up: regex compilation
    rules, verdicts = _rules_rate(pairs, use_math_verify=False, repeats=args.repeats)
    with_mv, _ = _rules_rate(pairs, use_math_verify=True, repeats=args.repeats)
    subset = pairs[: args.math_verify_rows]
    _math_verify_only(subset[:5], repeats=1)  # warm-up: sympy import
    mv_only, mv_verdicts = _math_verify_only(subset, repeats=args.repeats)
    agreement = sum(a == b for a, b in zip(verdicts, mv_verdicts, strict=False)) / len(subset)

    print(
        f"corpus={corpus} rows={len(pairs)} verdicts: "
        + ", ".join(f"{v}={verdicts.count(v)}" for v in sorted(set(verdicts)))
    )
    print(f"rules_with_math_verify_enabled_verdicts_per_second_per_core={with_mv:.0f}")
    print(f"ratio_math_verify_enabled_over_rules_only={with_mv / rules:.2f}")
    print(f"math_verify_only_verdicts_per_second_per_core={mv_only:.0f} (on {len(subset)} rows)")
    print(f"ratio_rules_over_math_verify_only={rules / mv_only:.1f}")
    print(f"math_verify_only_agreement_with_rules={agreement:.4f}")
    print(f"verdicts_per_second_per_core={rules:.0f}")


if __name__ == "__main__":
    main()
