"""Learning: does the recipe teach? Runs a whole recipe (the demo's by default) end to end once per seed of the
training and held-out problems, each in its own process, and prints held-out pass@1 per stage with its 95% Wilson
interval, the mean over seeds, and the gains.

    .venv/bin/python bench/learning.py                                # the demo recipe, seeds 1 and 2 (~1 h on 2 cores)
    .venv/bin/python bench/learning.py --seeds 1 --set loop.iterations=1
    .venv/bin/python bench/learning.py --config jobs/configs/tiny.yaml --seeds 1 --min-heldout 1   # quick check

Seed k sets every symbolic training source's seed to k and every symbolic evaluation set's to 10000 + k, so the
held-out problems never come from the training seed (and the run decontaminates them as always). The last line is
`sft_gain=<points> iter_gain=<points>`: the mean over seeds of SFT minus base, and of the last iteration minus SFT.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from orca_ray.config import load_config  # noqa: E402
from orca_ray.core.metrics import wilson_interval  # noqa: E402

HELD_OUT_SEED_OFFSET = 10_000


def seed_overrides(config_path: str, overrides: list[str], seed: int) -> list[str]:
    """--set items that move every symbolic source to training seed `seed` and held-out seed 10000 + seed."""
    config = load_config(config_path, overrides)
    items = [f"data.train.{i}.seed={seed}" for i, s in enumerate(config.data.train) if s.kind == "symbolic"]
    items += [
        f"data.eval.{name}.seed={HELD_OUT_SEED_OFFSET + seed}"
        for name, s in config.data.eval.items()
        if s.kind == "symbolic"
    ]
    return items


def run_recipe(args, seed: int, out: Path) -> dict:
    """One end-to-end run; returns {stage: summary of the held-out set} and the wall seconds of each step."""
    run_id = f"learning-seed{seed}"
    cmd = [sys.executable, "-m", "orca_ray.cli", "run", args.config, "--run-id", run_id, "--set", f"output_dir={out}"]
    for item in [*args.overrides, *seed_overrides(args.config, args.overrides, seed)]:
        cmd += ["--set", item]
    started = time.perf_counter()
    log = out / f"{run_id}.log"
    with log.open("w") as sink:
        proc = subprocess.run(cmd, stdout=sink, stderr=subprocess.STDOUT, env=dict(os.environ, HF_HUB_OFFLINE="1"))
    if proc.returncode != 0:
        sys.exit(f"seed {seed}: the run failed (rc {proc.returncode}); its output: {log}")
    manifest = json.loads((out / run_id / "manifest.json").read_text())["stages"]
    evals = {
        name.removeprefix("eval:"): next(s for s in entry["summaries"] if s["set"] == args.set)
        for name, entry in manifest.items()
        if name.startswith("eval:")
    }
    seconds = {name: round(entry.get("seconds", 0.0)) for name, entry in manifest.items()}
    return {"evals": evals, "seconds": seconds, "wall": time.perf_counter() - started}


def cell(summary: dict) -> str:
    low, high = wilson_interval(summary["correct"], summary["problems"])
    counts = f"({summary['correct']}/{summary['problems']})"
    return f"{summary['accuracy']:6.1%} [{100 * low:4.1f}, {100 * high:4.1f}] {counts}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(REPO / "jobs" / "configs" / "demo.yaml"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--eval-set", dest="set", default="heldout", help="the evaluation set to report")
    parser.add_argument("--min-heldout", type=int, default=500, help="refuse a smaller held-out set")
    parser.add_argument("--out", default=None, help="where the runs are written (default: runs/learning-<time>)")
    args = parser.parse_args()
    out = Path(args.out or REPO / "runs" / f"learning-{time.strftime('%Y%m%d-%H%M%S')}").resolve()
    out.mkdir(parents=True, exist_ok=True)
    results = {}
    for seed in args.seeds:
        results[seed] = run_recipe(args, seed, out)
        evals = results[seed]["evals"]
        small = [s for s in evals.values() if s["problems"] < args.min_heldout]
        if small:
            sys.exit(f"held-out set of {small[0]['problems']} problems: fewer than --min-heldout {args.min_heldout}")
        print(f"seed {seed} ({results[seed]['wall']:.0f} s; steps {results[seed]['seconds']}):")
        for stage, summary in evals.items():
            print(f"  {stage:8s} {cell(summary)}")
    stages = list(next(iter(results.values()))["evals"])
    print(f"mean over seeds {args.seeds} ({args.set}):")
    means = {}
    for stage in stages:
        means[stage] = statistics.fmean(100 * r["evals"][stage]["accuracy"] for r in results.values())
        print(f"  {stage:8s} {means[stage]:5.1f}%")
    (out / "learning.json").write_text(json.dumps({"args": vars(args), "results": results}, indent=1, default=str))
    sft = means.get("sft", means[stages[0]])
    last = means[stages[-1]]
    print(f"sft_gain={sft - means[stages[0]]:.1f} iter_gain={last - sft:.1f}")


if __name__ == "__main__":
    main()
