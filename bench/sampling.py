"""Sampler overhead: tokens/s of the Ray Data sampler stage over tokens/s of a bare `vllm.LLM.chat` on the same
prompts and sampling parameters, measured in the same run (each in its own process, engines already started).

    .venv/bin/python bench/sampling.py                       # SmolLM2, 64 problems x 4 samples, 128 tokens
    .venv/bin/python bench/sampling.py --model tiny-llama --problems 16 --max-tokens 32   # a quick check

The last line is `ratio=<ray tokens/s / bare tokens/s>`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time


def _problems(n: int):
    from orca_ray.core.problems import generate_problems

    return generate_problems(n, seed=2024, max_steps=3)


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
        ],
    )


def run_bare(args) -> dict:
    from orca_ray.core.prompts import student_messages
    from orca_ray.distributed.engine import GenerationEngine, _sampling_params
    from orca_ray.distributed.resources import student_engine_spec
    from orca_ray.distributed.rounds import sampling_params
    from orca_ray.models import prepare_model

    config = _config(args)
    engine = GenerationEngine(student_engine_spec(config, str(prepare_model(args.model))))
    conversations = [student_messages(p.question) for p in _problems(args.problems)]
    started = time.perf_counter()
    outputs = engine.llm.chat(conversations, _sampling_params(sampling_params(config)), use_tqdm=False)
    seconds = time.perf_counter() - started
    tokens = sum(len(o.token_ids) for r in outputs for o in r.outputs)
    return {"tokens": tokens, "seconds": seconds, "samples": sum(len(r.outputs) for r in outputs)}


def run_ray(args) -> dict:
    from orca_ray.distributed.rounds import open_session, sample_and_judge, sampling_params
    from orca_ray.models import prepare_model

    config = _config(args)
    problems = _problems(args.problems)
    with open_session(config, str(prepare_model(args.model))) as session:
        started = time.perf_counter()
        verdicts = sample_and_judge(session, problems, None, sampling_params(config))
        seconds = time.perf_counter() - started
    return {"tokens": sum(v.num_tokens for v in verdicts), "seconds": seconds, "samples": len(verdicts)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--problems", type=int, default=64)
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--shard-size", type=int, default=16, help="problems per shard in the Ray Data stage")
    parser.add_argument("--only", choices=["bare", "ray"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.only:
        result = run_bare(args) if args.only == "bare" else run_ray(args)
        print("RESULT " + json.dumps(result), flush=True)
        return
    results = {}
    for mode in ("bare", "ray"):
        cmd = [sys.executable, __file__, "--only", mode] + sys.argv[1:]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
        if proc.returncode != 0 or not lines:
            sys.exit(f"{mode} run failed:\n{proc.stderr[-3000:]}")
        results[mode] = json.loads(lines[-1][len("RESULT ") :])
        r = results[mode]
        print(
            f"{mode:5s}: {r['samples']} samples, {r['tokens']} tokens in {r['seconds']:.1f} s = "
            f"{r['tokens'] / r['seconds']:.1f} tok/s"
        )
    ratio = (results["ray"]["tokens"] / results["ray"]["seconds"]) / (
        results["bare"]["tokens"] / results["bare"]["seconds"]
    )
    print(f"model={args.model} problems={args.problems} n={args.n} max_tokens={args.max_tokens}")
    print(f"ratio={ratio:.3f}")


if __name__ == "__main__":
    main()
