"""Sampler overhead: tokens/s of the Ray Data sampler stage over tokens/s of a bare `vllm.LLM.chat` on the same
prompts and sampling parameters, measured in the same run, each in its own process with its engine already started.

    .venv/bin/python bench/sampling.py                       # SmolLM2, 64 problems x 4 samples, 128 tokens, 3 pairs
    .venv/bin/python bench/sampling.py --reserved-cpus 1     # with one core kept off the model (CPU)
    .venv/bin/python bench/sampling.py --model tiny-llama --problems 16 --max-tokens 32 --repeats 1   # a quick check

The two modes run alternately, `--repeats` times each (bare, Ray Data, bare, Ray Data, ...): on a small VM the same
run varies by up to 35% from one hour to the next, and a pair measured minutes apart shares the machine's state.
Each process first runs one untimed round on other problems (`--no-warmup` skips it), as many as the stage keeps in
flight: a fresh engine's first rounds run slower. Bare vLLM runs in consecutive chunks of that size, the stage's cap
on the engine's batch (`--all-at-once` also times every request in one call, and the faster counts).
`--idle-ray` adds a third run to each pair: bare vLLM while a local Ray of the pipeline's shape (its stage workers
and Ray Data's two actors started, nothing running) sits idle in another process, the share of the gap that is Ray
being on the machine at all.
Prints a line per round and per pair; the last line is `ratio=<median over the pairs of Ray Data tok/s over bare
tok/s>`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
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
            f"resources.sampler.reserved_cpus={args.reserved_cpus}",
            *([f"resources.sampler.shards_in_flight={args.shards_in_flight}"] if args.shards_in_flight else []),
        ],
    )


WARMUP_LABEL = "warm-up, untimed in the ratio"


def _in_flight(config, args) -> int:
    """Problems the sampler stage keeps in flight on one engine: its tasks per engine, one shard each."""
    from orca_ray.distributed.resources import forwarding_stage_options

    return forwarding_stage_options(config.resources, config.resources.sampler)["compute"].size * args.shard_size


def run_bare(args) -> dict:
    """Bare vLLM on one engine, in consecutive chunks as many as the Ray Data stage keeps in flight (the same cap
    on the engine's batch); with `--all-at-once` also every request in one call, and the faster of the two is the
    baseline."""
    from orca_ray.core.prompts import student_messages
    from orca_ray.core.stage_settings import student_sampling
    from orca_ray.distributed.engine import GenerationEngine, _sampling_params
    from orca_ray.distributed.resources import student_engine_spec
    from orca_ray.models import prepare_model

    config = _config(args)
    engine = GenerationEngine(student_engine_spec(config, str(prepare_model(args.model))))
    conversations = [student_messages(p.question) for p in _problems(args.problems)]
    params = _sampling_params(student_sampling(config).fields())
    in_flight = _in_flight(config, args)

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
        warmup = [student_messages(p.question) for p in _problems(in_flight, WARMUP_SEED)]
        variants[WARMUP_LABEL] = timed_chat(warmup, in_flight)
    sizes = [(f"chunks of {in_flight} problems", in_flight)]
    if args.all_at_once:
        sizes.append(("all at once", len(conversations)))
    for label, size in sizes:
        variants[label] = timed_chat(conversations, size)
    return {"variants": variants}


def run_ray(args) -> dict:
    from orca_ray.core.stage_settings import student_sampling
    from orca_ray.distributed.rounds import open_session, sample_and_judge
    from orca_ray.models import prepare_model

    config = _config(args)
    problems = _problems(args.problems)
    variants = {}
    with open_session(config, str(prepare_model(args.model))) as session:
        rounds = [(WARMUP_LABEL, _problems(_in_flight(config, args), WARMUP_SEED))] if args.warmup else []
        for label, round_problems in [*rounds, ("one round", problems)]:
            started = time.perf_counter()
            verdicts = sample_and_judge(session, round_problems, None, student_sampling(config))
            seconds = time.perf_counter() - started
            tokens = sum(v.num_tokens for v in verdicts)
            variants[label] = {"tokens": tokens, "seconds": seconds, "samples": len(verdicts)}
    return {"variants": variants}


def run_bare_beside_idle_ray(args) -> dict:
    """`run_bare` while another process holds a local Ray started the way a run starts it (`hold_idle_ray`)."""
    holder = subprocess.Popen(
        [sys.executable, __file__, "--only", "idle-ray", *_passed_on(args)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        for line in holder.stdout:
            if line.startswith("READY"):
                break
        else:
            sys.exit(f"the idle Ray did not start (exit code {holder.wait()})")
        return run_bare(args)
    finally:
        holder.stdin.close()  # the holder's signal to shut its Ray down
        try:
            holder.wait(timeout=120)
        except subprocess.TimeoutExpired:
            holder.kill()


def hold_idle_ray(args) -> None:
    """A local Ray with the stage workers and Ray Data's actors a run starts, idle until stdin closes."""
    from orca_ray.distributed.cluster import shutdown_ray
    from orca_ray.distributed.rounds import start_ray

    try:
        start_ray(_config(args))
        print("READY", flush=True)
        os.dup2(2, 1)  # nobody reads this process's stdout from now on: a full pipe would block its shutdown
        sys.stdin.read()
    finally:
        shutdown_ray()


MODES = {"bare": run_bare, "ray": run_ray, "bare-beside-ray": run_bare_beside_idle_ray}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--problems", type=int, default=64)
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--shard-size", type=int, default=16, help="problems per shard in the Ray Data stage")
    parser.add_argument(
        "--shards-in-flight",
        type=int,
        help="resources.sampler.shards_in_flight (default: the config's); bare vLLM runs in chunks of as many problems",
    )
    parser.add_argument("--repeats", type=int, default=3, help="pairs of runs (bare, then Ray Data), alternating")
    parser.add_argument(
        "--reserved-cpus",
        type=int,
        default=0,
        help="resources.sampler.reserved_cpus (CPU: the cores vLLM keeps off the model; 0, every core for the "
        "model, is what the pipeline uses on machines of at most 4 cores)",
    )
    parser.add_argument(
        "--warmup",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="first run one round on other problems, untimed, in both modes (a fresh engine's first rounds were "
        "measured slower here: 107 tok/s against 150 later in the same session)",
    )
    parser.add_argument(
        "--all-at-once",
        action="store_true",
        help="bare vLLM also with every request in one call (the same as the chunks when the stage holds every "
        "problem at once, as with the defaults)",
    )
    parser.add_argument(
        "--idle-ray",
        action="store_true",
        help="each pair also runs bare vLLM beside an idle local Ray of the pipeline's shape (not in the ratio)",
    )
    parser.add_argument("--only", choices=[*MODES, "idle-ray"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.only == "idle-ray":
        hold_idle_ray(args)
        return
    if args.only:
        print("RESULT " + json.dumps(MODES[args.only](args)), flush=True)
        return
    print(
        f"model={args.model} problems={args.problems} n={args.n} max_tokens={args.max_tokens} "
        f"shard_size={args.shard_size} shards_in_flight={args.shards_in_flight or 'config'} "
        f"reserved_cpus={args.reserved_cpus} repeats={args.repeats}",
        flush=True,
    )
    ratios, floors = [], []
    modes = ("bare", "ray", "bare-beside-ray") if args.idle_ray else ("bare", "ray")
    for pair in range(1, args.repeats + 1):
        speed = {mode: _measure(mode, pair, args) for mode in modes}
        ratios.append(speed["ray"] / speed["bare"])
        print(f"pair {pair}: Ray Data {speed['ray']:.1f} / bare {speed['bare']:.1f} tok/s = {ratios[-1]:.3f}")
        if args.idle_ray:
            floors.append(speed["bare-beside-ray"] / speed["bare"])
            print(
                f"pair {pair}: bare beside an idle Ray {speed['bare-beside-ray']:.1f} / bare {speed['bare']:.1f} tok/s "
                f"= {floors[-1]:.3f}"
            )
    if floors:
        listed = ", ".join(f"{r:.3f}" for r in floors)
        print(f"bare beside an idle Ray / bare: {listed}, median {statistics.median(floors):.3f}")
    print(f"pair ratios: {', '.join(f'{r:.3f}' for r in ratios)} (min {min(ratios):.3f}, max {max(ratios):.3f})")
    print(f"ratio={statistics.median(ratios):.3f}")


def _measure(mode: str, pair: int, args) -> float:
    """One process of `mode`: prints its rounds and returns its best timed tokens/s."""
    cmd = [sys.executable, __file__, "--only", mode, *_passed_on(args)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        sys.exit(f"{mode} run of pair {pair} failed:\n{proc.stderr[-3000:]}")
    best = 0.0
    for label, r in json.loads(lines[-1][len("RESULT ") :])["variants"].items():
        tok_s = r["tokens"] / r["seconds"]
        if label != WARMUP_LABEL:
            best = max(best, tok_s)
        print(
            f"pair {pair} {mode} ({label}): {r['samples']} samples, {r['tokens']} tokens in {r['seconds']:.1f} s "
            f"= {tok_s:.1f} tok/s",
            flush=True,
        )
    return best


def _passed_on(args) -> list[str]:
    return [
        f"--model={args.model}",
        f"--problems={args.problems}",
        f"--n={args.n}",
        f"--max-tokens={args.max_tokens}",
        f"--shard-size={args.shard_size}",
        *([f"--shards-in-flight={args.shards_in_flight}"] if args.shards_in_flight else []),
        f"--reserved-cpus={args.reserved_cpus}",
        "--warmup" if args.warmup else "--no-warmup",
        *(["--all-at-once"] if args.all_at_once else []),
    ]


if __name__ == "__main__":
    main()
