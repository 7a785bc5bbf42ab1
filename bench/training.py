"""Seconds per optimizer step of the learner (SFT, DPO, KTO with LoRA) on this machine, through the real path:
train_policy -> Ray Train TorchTrainer -> TRL. The data are symbolic problems with their solutions (SFT) and
preference rows built from one right and one wrong attempt per problem (DPO, KTO).

    python bench/training.py                      # SmolLM2-135M, LoRA r=16 all-linear, batch 4, max_length 256, 4 steps
    python bench/training.py --steps 4 --set training.lora.r=8
    python bench/training.py --precisions fp32 bf16 --batch-size 8 --max-length 192   # bf16 against fp32

Prints one line per method (and precision) and, last, ratio=<KTO s/step over SFT s/step> (of the first precision);
with two precisions, the line before it gives each method's fp32/bf16 step-time ratio. The mean leaves out the first
step (it carries the first batch and lazy initialization); the wall time of each run (Ray Train worker start
included) is printed too.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time

from orca_ray.config import load_config
from orca_ray.core.preferences import build_dpo_pairs, build_kto_examples, build_sft_examples
from orca_ray.core.problems import generate_problems
from orca_ray.schemas import CORRECT, INCORRECT, Verdict


def attempts(problems) -> list[Verdict]:
    """One right attempt (the solution, reflowed) and one wrong one (the final answer changed) per problem."""
    verdicts = []
    for p in problems:
        lines = p.solution.splitlines()
        wrong = "\n".join(lines[:-1] + [f"The answer is {p.answer}1."])
        verdicts.append(Verdict(p.id, 0, p.question, " ".join(lines), CORRECT))
        verdicts.append(Verdict(p.id, 1, p.question, wrong, INCORRECT))
    return verdicts


def bench(method: str, rows, config, model_dir: str, out: str) -> dict:
    from orca_ray.distributed.learner import train_policy

    started = time.perf_counter()
    result = train_policy(config, method, rows, base_model_dir=model_dir, init_adapter=None, output_dir=out)
    return {
        "method": method,
        "rows": len(rows),
        "steps": result.steps,
        "s_per_step": result.metrics["train/step_seconds"],
        "tokens_per_s": result.metrics.get("train/tokens_per_second", 0.0),
        "wall_s": time.perf_counter() - started,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--methods", nargs="+", default=["sft", "dpo", "kto"])
    parser.add_argument(
        "--precisions", nargs="+", default=["auto"], choices=["auto", "fp32", "bf16"], help="training.precision"
    )
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    from orca_ray.distributed.cluster import init_ray, shutdown_ray
    from orca_ray.models import prepare_model

    stage = [f"batch_size={args.batch_size}", f"max_length={args.max_length}", f"max_steps={args.steps}"]
    overrides = [f"training.{s}.{kv}" for s in ("sft", "preference") for kv in stage]
    config = load_config(
        None, [f"student.model={args.model}", "resources.dashboard=false", *overrides, *args.overrides]
    )
    problems = generate_problems(args.batch_size * args.steps, seed=1)
    verdicts = attempts(problems)
    data = {
        "sft": build_sft_examples(problems),
        "kto": build_kto_examples(problems, verdicts, include_teacher_positive=False)[0],
        "dpo": build_dpo_pairs(problems, verdicts, max_pairs_per_problem=1)[0],
    }
    model_dir = str(prepare_model(args.model))
    print(
        f"model={args.model} lora_r={config.training.lora.r} targets={config.training.lora.target_modules} "
        f"batch={args.batch_size} max_length={args.max_length} steps={args.steps} cores={os.cpu_count()} "
        f"load_before={os.getloadavg()[0]:.1f}"
    )
    init_ray(config.resources)
    results: dict[str, dict] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for method in args.methods:  # precisions alternate within a method: drift hits both alike
                for precision in args.precisions:
                    run_config = config.model_copy(
                        update={"training": config.training.model_copy(update={"precision": precision})}
                    )
                    out = f"{tmp}/{method}-{precision}"
                    results[f"{method}/{precision}"] = r = bench(method, data[method], run_config, model_dir, out)
                    print(
                        f"{method} ({precision}): {r['s_per_step']:.2f} s/step, {r['tokens_per_s']:.0f} tokens/s, "
                        f"{r['steps']} steps over {r['rows']} rows, {r['wall_s']:.0f} s wall"
                    )
    finally:
        shutdown_ray()
    print(f"load_after={os.getloadavg()[0]:.1f}")
    if {"fp32", "bf16"} <= set(args.precisions):
        speedups = {m: results[f"{m}/fp32"]["s_per_step"] / results[f"{m}/bf16"]["s_per_step"] for m in args.methods}
        print("fp32/bf16 step time: " + " ".join(f"{m}={v:.2f}" for m, v in speedups.items()))
    first = args.precisions[0]
    if "kto" in args.methods and "sft" in args.methods:
        print(f"ratio={results[f'kto/{first}']['s_per_step'] / results[f'sft/{first}']['s_per_step']:.2f}")


if __name__ == "__main__":
    main()
