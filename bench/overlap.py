"""Overlap: the wall time of one streaming practice iteration (sampler -> judge -> learner overlap) divided by
that of the same iteration with a barrier between the stages, each run in its own process with the sampler
engine pinned to one core and the learner to another, so that what is measured is the overlap itself.

    .venv/bin/python bench/overlap.py                              # SmolLM2, 32 problems x 4 samples
    .venv/bin/python bench/overlap.py --model tiny-llama --problems 32 --max-tokens 64   # quick

The last line is `ratio=<stream seconds / barrier seconds>` (below 1: streaming saves time).
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


def run_iteration(mode: str, args, out: Path) -> float:
    """Seconds of the iteration step of a one-iteration run in `mode` (from its manifest)."""
    overrides = [
        f"loop.mode={mode}",
        "loop.iterations=1",
        "training.sft.enabled=false",
        "eval.sets=[]",
        f"student.model={args.model}",
        f"data.train.0.n={args.problems}",
        f"sampling.max_tokens={args.max_tokens}",
        f"sampling.batch_size={args.shard_size}",
        f"training.preference.max_steps={args.steps}",
        "resources.dashboard=false",
        "resources.sampler.cpu_affinity=[0]",
        "resources.trainer.cpu_affinity=[1]",
    ]
    cmd = [
        sys.executable,
        str(REPO / "jobs" / "pipeline.py"),
        "--config",
        str(REPO / "jobs/configs/demo.yaml"),
        "--run-id",
        f"overlap-{mode}",
        "--set",
        f"output_dir={out}",
    ]
    for item in overrides:
        cmd += ["--set", item]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, HF_HUB_OFFLINE="1"))
    if proc.returncode != 0:
        sys.exit(f"{mode} run failed:\n{proc.stderr[-4000:]}")
    manifest = json.loads((out / f"overlap-{mode}" / "manifest.json").read_text())
    return manifest["stages"]["iter-1"]["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--problems", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--shard-size", type=int, default=4, help="problems per shard (the streaming unit)")
    parser.add_argument("--steps", type=int, default=16, help="learner optimizer steps (same in both modes)")
    args = parser.parse_args()
    if (os.cpu_count() or 1) < 2:
        sys.exit("needs at least 2 cores: the sampler and the learner are pinned to different ones")
    seconds = {}
    with tempfile.TemporaryDirectory(prefix="overlap-") as tmp:
        for mode in ("barrier", "stream"):
            seconds[mode] = run_iteration(mode, args, Path(tmp))
            print(f"{mode:8s}: iteration {seconds[mode]:.1f} s")
    print(f"model={args.model} problems={args.problems} max_tokens={args.max_tokens} steps={args.steps}")
    print(f"ratio={seconds['stream'] / seconds['barrier']:.3f}")


if __name__ == "__main__":
    main()
