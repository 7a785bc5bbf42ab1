"""Scale curve: wall time and peak memory of the tiny pipeline (every stage, one iteration) at 100, 1,000 and 10,000
training problems, each run in its own process with its own local Ray, measured side by side in one invocation.

    .venv/bin/python bench/scale.py                         # 100, 1000, 10000 problems
    .venv/bin/python bench/scale.py --sizes 100 1000        # quicker

Peak memory is the largest sum of resident memory over the driver and every process of its Ray (engines, Ray Data
and Ray Train workers), sampled every 0.5 s. Training is capped by the tiny preset (`max_steps: 2`), so the curve
shows how reading, sampling, judging, preference building and their bookkeeping grow with the work. The round runs
in `barrier` mode: in `stream` mode a learner that reaches its step cap ends the round, and the shards it did not
need are never sampled (at 1,000 and 10,000 problems alike only 512 were), which would hide the growth. Each run
must have sampled `sampling.n` answers for every problem, or the benchmark stops. The last
line is `ratio=<seconds per problem at the largest size / at the smallest>` (below 1: fixed costs amortize; near 1:
linear; above 1: worse than linear).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _tree_rss_bytes(root_pid: int, marker: str) -> int:
    """Resident bytes of the driver and of every process whose command line names this run's Ray temp dir (Ray's
    own daemons and workers), which also holds their children (vLLM's engine core, started by an engine actor)."""
    pids = {root_pid}
    parents: dict[int, int] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        parents[int(proc.name)] = ppid
        if marker.encode() in cmdline:
            pids.add(int(proc.name))
    grew = True
    while grew:  # add descendants of what is already counted
        before = len(pids)
        pids |= {pid for pid, ppid in parents.items() if ppid in pids}
        grew = len(pids) > before
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


def run_size(n: int, out: Path, max_tokens: int) -> dict:
    ray_tmp = tempfile.mkdtemp(prefix="ors-", dir="/tmp")  # short: Ray's socket paths have a length limit
    env = dict(os.environ, RAY_TMPDIR=ray_tmp, HF_HUB_OFFLINE="1")
    env.pop("RAY_ADDRESS", None)
    cmd = [
        sys.executable, str(REPO / "jobs" / "pipeline.py"), "--config", str(REPO / "jobs/configs/tiny.yaml"),
        "--run-id", f"scale-{n}", "--set", f"output_dir={out}", "--set", f"data.train.0.n={n}",
        "--set", f"sampling.max_tokens={max_tokens}", "--set", "sampling.batch_size=256", "--set", "loop.mode=barrier",
    ]  # fmt: skip
    peak = 0
    start = time.perf_counter()
    log = (out / f"scale-{n}.log").open("w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, _tree_rss_bytes(proc.pid, ray_tmp))
            stop.wait(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    rc = proc.wait()
    wall = time.perf_counter() - start
    stop.set()
    sampler.join()
    log.close()
    shutil.rmtree(ray_tmp, ignore_errors=True)
    if rc != 0:
        sys.exit(f"the run with {n} problems failed ({rc}); see {out}/scale-{n}.log")
    manifest = json.loads((out / f"scale-{n}" / "manifest.json").read_text())
    stages = {name: round(stage.get("seconds", 0.0), 1) for name, stage in manifest["stages"].items()}
    counts = manifest["stages"]["iter-1"].get("counts", {})
    expected = n * _tiny_samples_per_problem()
    if counts.get("samples") != expected:
        sys.exit(f"the run with {n} problems sampled {counts.get('samples')} answers, not {expected}")
    return {"problems": n, "wall_s": round(wall, 1), "peak_rss_gib": round(peak / 2**30, 2), "stages": stages,
            "samples": counts.get("samples")}  # fmt: skip


def _tiny_samples_per_problem() -> int:
    from orca_ray.config import load_config

    return load_config(REPO / "jobs/configs/tiny.yaml").sampling.n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--max-tokens", type=int, default=16, help="sampling.max_tokens (the tiny preset's 16)")
    parser.add_argument("--out", default=None, help="where the runs go (default: a temporary directory)")
    args = parser.parse_args()
    out = Path(args.out or tempfile.mkdtemp(prefix="orca-scale-"))
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for n in args.sizes:
        row = run_size(n, out, args.max_tokens)
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(f"\n{'problems':>9} {'wall s':>8} {'s/problem':>10} {'peak RSS GiB':>13}  slowest stages")
    for row in rows:
        slowest = sorted(row["stages"].items(), key=lambda kv: -kv[1])[:3]
        print(
            f"{row['problems']:>9} {row['wall_s']:>8} {row['wall_s'] / row['problems']:>10.4f} "
            f"{row['peak_rss_gib']:>13}  " + ", ".join(f"{k} {v}s" for k, v in slowest)
        )
    first, last = rows[0], rows[-1]
    ratio = (last["wall_s"] / last["problems"]) / (first["wall_s"] / first["problems"])
    print(f"ratio={ratio:.3f}")


if __name__ == "__main__":
    main()
