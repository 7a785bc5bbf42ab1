"""Overlap: one practice iteration on the same work and cores in each loop mode, side by side: `barrier` (each
stage finishes before the next), `stream` (sampler -> judge -> learner overlap within the iteration) and `async`
(the learner also publishes adapters that the samplers pick up mid-round, stale rows discarded). Each runs in its
own process with the sampler engine pinned to one core and the learner to another, so what is measured is the
overlap itself, and each is then evaluated on the same held-out problems (greedy pass@1 with its 95% interval), so
that a faster mode that teaches less shows it.

    .venv/bin/python bench/overlap.py                              # SmolLM2, 32 problems x 4 samples, 16 steps
    .venv/bin/python bench/overlap.py --adapter runs/<id>/sft/adapter   # practise from an SFT policy
    .venv/bin/python bench/overlap.py --model tiny-llama --problems 32 --max-tokens 64 --heldout 16   # quick

The last line is `ratio=<async seconds / barrier seconds>` (0.5 is the floor when sampling and training take
equally long; below 1: the overlap saves time).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from orca_ray.core.metrics import wilson_interval  # noqa: E402

MODES = ("barrier", "stream", "async")


def run_iteration(mode: str, args, out: Path) -> dict:
    """The iteration step's seconds, counts and held-out summary of a one-iteration run in `mode`."""
    overrides = [
        f"loop.mode={mode}",
        "loop.iterations=1",
        f"loop.publish_every_steps={args.publish_every}",
        f"loop.max_staleness={args.max_staleness}",
        "loop.problems_per_iteration=null",
        "training.sft.enabled=false",
        "synthesis.enabled=false",
        "eval.sets=[heldout]",
        "eval.after_every_stage=false",  # only the practised policy is evaluated
        f"eval.limit={args.heldout}",
        f"student.model={args.model}",
        f"data.train.0.n={args.problems}",
        f"sampling.max_tokens={args.max_tokens}",
        f"sampling.batch_size={args.shard_size}",
        f"training.preference.max_steps={args.steps}",
        "resources.dashboard=false",
        "resources.sampler.cpu_affinity=[0]",
        "resources.trainer.cpu_affinity=[1]",
        *([f"student.adapter={Path(args.adapter).resolve()}"] if args.adapter else []),
    ]
    cmd = [sys.executable, str(REPO / "jobs" / "pipeline.py"), "--config", str(REPO / "jobs/configs/demo.yaml")]
    cmd += ["--run-id", f"overlap-{mode}", "--set", f"output_dir={out}"]
    for item in overrides:
        cmd += ["--set", item]
    log = out / f"overlap-{mode}.log"
    with log.open("w") as sink:
        proc = subprocess.run(cmd, stdout=sink, stderr=subprocess.STDOUT, env=dict(os.environ, HF_HUB_OFFLINE="1"))
    if proc.returncode != 0:
        sys.exit(f"{mode} run failed (rc {proc.returncode}):\n{log.read_text()[-4000:]}")
    stages = json.loads((out / f"overlap-{mode}" / "manifest.json").read_text())["stages"]
    heldout = next(s for s in stages["eval:iter-1"]["summaries"] if s["set"] == "heldout")
    return {"seconds": stages["iter-1"]["seconds"], "counts": stages["iter-1"].get("counts", {}), "heldout": heldout}


def row(mode: str, result: dict, barrier_seconds: float) -> str:
    heldout, counts = result["heldout"], result["counts"]
    low, high = wilson_interval(heldout["correct"], heldout["problems"])
    return (
        f"{mode:8s} iteration {result['seconds']:7.1f} s  ({result['seconds'] / barrier_seconds:.3f} of barrier)  "
        f"held-out {heldout['accuracy']:6.1%} [{100 * low:4.1f}, {100 * high:4.1f}] "
        f"({heldout['correct']}/{heldout['problems']})  steps {counts.get('train_steps', '?')}  "
        f"examples {counts.get('examples', '?')}  stale discarded {counts.get('stale_discarded', 0)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--adapter", default=None, help="a LoRA adapter to practise from (default: the base model)")
    parser.add_argument("--problems", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--shard-size", type=int, default=4, help="problems per shard (the streaming unit)")
    parser.add_argument("--steps", type=int, default=16, help="learner optimizer steps (the same in every mode)")
    parser.add_argument("--publish-every", type=int, default=4, help="async: publish an adapter every K steps")
    parser.add_argument("--max-staleness", type=int, default=1, help="async: versions a row may lag")
    parser.add_argument("--heldout", type=int, default=200, help="held-out problems evaluated after each mode")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--out", default=None, help="keep each mode's run (logs, manifest) here (default: a temp dir)")
    args = parser.parse_args()
    if (os.cpu_count() or 1) < 2:
        sys.exit("needs at least 2 cores: the sampler and the learner are pinned to different ones")
    if "barrier" not in args.modes:
        sys.exit("--modes needs barrier: every ratio is against it")
    results = {}
    with tempfile.TemporaryDirectory(prefix="overlap-") as tmp:
        out = Path(args.out).resolve() if args.out else Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        for mode in args.modes:
            results[mode] = run_iteration(mode, args, out)
            print(f"{mode}: iteration {results[mode]['seconds']:.1f} s", flush=True)
    print(
        f"model={args.model} adapter={args.adapter} problems={args.problems} x 4 max_tokens={args.max_tokens} "
        f"steps={args.steps} publish_every={args.publish_every} max_staleness={args.max_staleness}"
    )
    barrier = results["barrier"]["seconds"]
    for mode, result in results.items():
        print(row(mode, result, barrier))
    last = "async" if "async" in results else args.modes[-1]
    print(f"ratio={results[last]['seconds'] / barrier:.3f}")


if __name__ == "__main__":
    main()
