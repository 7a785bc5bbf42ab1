"""Sampler overhead: tokens/s of the Ray Data sampler stage over tokens/s of a bare `vllm.LLM.chat` on the same
prompts and sampling parameters, measured in the same run (each in its own process, engines already started),
for each setting of `resources.sampler.reserved_cpus` asked for (on CPU: the cores vLLM keeps off the model).

    .venv/bin/python bench/sampling.py                       # SmolLM2, 64 problems x 4 samples, 128 tokens
    .venv/bin/python bench/sampling.py --reserved-cpus 0 1   # also with one core kept off the model
    .venv/bin/python bench/sampling.py --model tiny-llama --problems 16 --max-tokens 32   # a quick check

Both first run the same workload on other problems, untimed (`--no-warmup` skips it): a fresh engine's first rounds
run slower. Bare vLLM then runs twice on its engine (every request at once, and in chunks as large as the stage
keeps in flight) and the faster counts. Prints a line per setting with both figures and their ratio; the last line is
`ratio=<best Ray Data tokens/s over best bare tokens/s>`, each at its own best setting, as a user would run each.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time


def _problems(n: int, seed: int = 2024):
    from orca_ray.core.problems import generate_problems

    return generate_problems(n, seed=seed, max_steps=3)


# Warm-up problems come from another seed, so that vLLM's prefix cache gives the timed prompts no head start.
WARMUP_SEED = 4096


def _config(args):
    from orca_ray.config import load_config

    return load_config(
        None,
        [
            f"student.model={args.model}",
            "student.max_model_len=1024",
            "resources.dashboard=false",
            f"sampling.n={args.n}",
            "sampling.temperature=0.7",
            "sampling.top_p=0.95",
            f"sampling.max_tokens={args.max_tokens}",
            f"sampling.batch_size={args.shard_size}",
            f"resources.sampler.reserved_cpus={args.reserved_cpus[0]}",
        ],
    )


def run_bare(args) -> dict:
    """Bare vLLM two ways, on one engine: every request at once, and in consecutive chunks as many as the Ray Data
    stage keeps in flight (vLLM's CPU backend was measured slower with all 256 requests in one batch than with 128:
    78 against 188 tok/s). The faster of the two is the baseline."""
    from orca_ray.core.prompts import student_messages
    from orca_ray.distributed.engine import GenerationEngine, _sampling_params
    from orca_ray.distributed.resources import forwarding_stage_options, student_engine_spec
    from orca_ray.distributed.rounds import sampling_params
    from orca_ray.models import prepare_model

    config = _config(args)
    engine = GenerationEngine(student_engine_spec(config, str(prepare_model(args.model))))
    conversations = [student_messages(p.question) for p in _problems(args.problems)]
    params = _sampling_params(sampling_params(config))
    # The sampler stage's workers per engine, each holding one shard.
    in_flight = forwarding_stage_options(config.resources, engines=1)["compute"].max_size * args.shard_size

    def timed_chat(batch: list, size: int) -> dict:
        started = time.perf_counter()
        outputs = []
        for i in range(0, len(batch), size):
            outputs += engine.llm.chat(batch[i : i + size], params, use_tqdm=False)
        seconds = time.perf_counter() - started
        tokens = sum(len(o.token_ids) for r in outputs for o in r.outputs)
        return {"tokens": tokens, "seconds": seconds, "samples": sum(len(r.outputs) for r in outputs)}

    variants = {}
    if args.warmup:
        warmup = [student_messages(p.question) for p in _problems(args.problems, WARMUP_SEED)]
        variants["warm-up, untimed in the ratio"] = timed_chat(warmup, in_flight)
    for label, size in ((f"chunks of {in_flight} problems", in_flight), ("all at once", len(conversations))):
        variants[label] = timed_chat(conversations, size)
    return {"variants": variants}


def run_ray(args) -> dict:
    from orca_ray.distributed.rounds import open_session, sample_and_judge, sampling_params
    from orca_ray.models import prepare_model

    config = _config(args)
    problems = _problems(args.problems)
    variants = {}
    with open_session(config, str(prepare_model(args.model))) as session:
        rounds = [("warm-up, untimed in the ratio", _problems(args.problems, WARMUP_SEED))] if args.warmup else []
        for label, round_problems in [*rounds, ("one round", problems)]:
            started = time.perf_counter()
            verdicts = sample_and_judge(session, round_problems, None, sampling_params(config))
            seconds = time.perf_counter() - started
            tokens = sum(v.num_tokens for v in verdicts)
            variants[label] = {"tokens": tokens, "seconds": seconds, "samples": len(verdicts)}
    return {"variants": variants}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--problems", type=int, default=64)
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--shard-size", type=int, default=16, help="problems per shard in the Ray Data stage")
    parser.add_argument(
        "--reserved-cpus",
        type=int,
        nargs="+",
        default=[0],
        help="settings of resources.sampler.reserved_cpus to measure, e.g. 0 1 (CPU: 0 = every core for the model, "
        "what the pipeline uses on machines of at most 4 cores)",
    )
    parser.add_argument(
        "--warmup",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="first run the same workload on other problems, untimed, in both modes (a fresh engine's first rounds "
        "were measured slower here: 107 tok/s against 150 later in the same session)",
    )
    parser.add_argument("--only", choices=["bare", "ray"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.only:
        result = run_bare(args) if args.only == "bare" else run_ray(args)
        print("RESULT " + json.dumps(result), flush=True)
        return
    speed: dict[tuple[str, int], float] = {}
    for reserved in args.reserved_cpus:
        for mode in ("bare", "ray"):
            cmd = [sys.executable, __file__, "--only", mode, *_passed_on(args), "--reserved-cpus", str(reserved)]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
            if proc.returncode != 0 or not lines:
                sys.exit(f"{mode} run (reserved_cpus={reserved}) failed:\n{proc.stderr[-3000:]}")
            result = json.loads(lines[-1][len("RESULT ") :])
            for label, r in result["variants"].items():
                tok_s = r["tokens"] / r["seconds"]
                if not label.startswith("warm-up"):
                    speed[mode, reserved] = max(speed.get((mode, reserved), 0.0), tok_s)
                print(
                    f"reserved_cpus={reserved} {mode:4s} ({label}): {r['samples']} samples, {r['tokens']} tokens "
                    f"in {r['seconds']:.1f} s = {tok_s:.1f} tok/s",
                    flush=True,
                )
        print(f"reserved_cpus={reserved} ratio={speed['ray', reserved] / speed['bare', reserved]:.3f}", flush=True)
    best = {mode: max((v, k[1]) for k, v in speed.items() if k[0] == mode) for mode in ("bare", "ray")}
    print(f"model={args.model} problems={args.problems} n={args.n} max_tokens={args.max_tokens}")
    print(f"best bare: {best['bare'][0]:.1f} tok/s (reserved_cpus={best['bare'][1]}); "
          f"best Ray Data: {best['ray'][0]:.1f} tok/s (reserved_cpus={best['ray'][1]})")  # fmt: skip
    print(f"ratio={best['ray'][0] / best['bare'][0]:.3f}")


def _passed_on(args) -> list[str]:
    return [
        f"--model={args.model}",
        f"--problems={args.problems}",
        f"--n={args.n}",
        f"--max-tokens={args.max_tokens}",
        f"--shard-size={args.shard_size}",
        "--warmup" if args.warmup else "--no-warmup",
    ]


if __name__ == "__main__":
    main()
