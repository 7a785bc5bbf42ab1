"""Fault injection on the tiny pipeline: the student's vLLM engine actor and then the learner's Ray Train worker are
SIGKILLed in the middle of an iteration. The run finishes, or fails naming the cause and finishes with `--resume`;
either way every problem of the iteration has exactly `sampling.n` samples, none lost and none duplicated.
(A driver killed mid-iteration is tests/integration/test_pipeline.py; a teacher endpoint that fails for a while is
tests/unit/test_teacher_http.py.)"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import pytest

from orca_ray.schemas import Problem, Verdict, read_rows

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "jobs" / "configs" / "tiny.yaml"
RUN_ID = "faults"


def _processes() -> list[tuple[int, int, str]]:
    listing = subprocess.run(["ps", "-ewwo", "pid,ppid,args"], capture_output=True, text=True).stdout
    rows = []
    for line in listing.splitlines()[1:]:
        pid, ppid, args = line.split(None, 2) if len(line.split(None, 2)) == 3 else (*line.split(None, 1), "")
        rows.append((int(pid), int(ppid), args))
    return rows


def _worker_pids(ray_tmp: str, name: str) -> list[int]:
    """Ray workers named `name` whose raylet belongs to this test's Ray (found by its temp dir), so that the
    session Ray of the other integration tests is never touched."""
    processes = _processes()
    raylets = {pid for pid, _, args in processes if "raylet" in args.split()[0] and ray_tmp in args}
    return [pid for pid, ppid, args in processes if ppid in raylets and args.startswith(f"ray::{name}")]


def _pipeline(out: Path, *extra: str) -> list[str]:
    return [
        sys.executable, str(REPO / "jobs" / "pipeline.py"), "--config", str(TINY), "--run-id", RUN_ID,
        "--set", f"output_dir={out}", "--set", "sampling.batch_size=2", "--set", "training.checkpoint_every_steps=1",
        # Straight to the iteration under test: no SFT stage, and one evaluation at the end instead of three.
        "--set", "training.sft.enabled=false", "--set", "eval.after_every_stage=false",
        *extra,
    ]  # fmt: skip


def test_killed_engine_and_learner_worker_lose_and_duplicate_nothing(tmp_path, kill_ray_under, wait_for):
    ray_tmp = tempfile.mkdtemp(prefix="orf-", dir="/tmp")  # short: Ray's socket paths have a length limit
    env = dict(os.environ, RAY_TMPDIR=ray_tmp)
    env.pop("RAY_ADDRESS", None)  # the driver starts its own local Ray
    root = tmp_path / RUN_ID
    log_path = tmp_path / "driver.log"
    verdicts_dir = root / "iter-1" / "verdicts"
    killed = []
    try:
        with log_path.open("w") as log:
            driver = subprocess.Popen(_pipeline(tmp_path), env=env, stdout=log, stderr=subprocess.STDOUT)
            # 1. The student's engine, while iteration 1 is sampling (its first shard written, others in flight).
            wait_for(lambda: any(verdicts_dir.glob("*.parquet")), driver, 600, "iteration 1 wrote a shard")
            engines = _worker_pids(ray_tmp, "AsyncGenerationEngine")
            assert engines, "no engine actor process found"
            os.kill(engines[0], signal.SIGKILL)
            killed.append(("engine", engines[0]))
            # 2. The learner's Ray Train worker, once it runs.
            worker = wait_for(lambda: _worker_pids(ray_tmp, "RayTrainWorker"), driver, 600, "a learner worker ran")
            os.kill(worker[0], signal.SIGKILL)
            killed.append(("learner", worker[0]))
            first_rc = driver.wait(timeout=900)
        first_log = log_path.read_text(errors="replace")
        resumed_rc = None
        if first_rc != 0:
            # It failed: the cause must be in the log, and --resume must finish the run.
            assert "RayTrainWorker" in first_log or "died" in first_log.lower(), first_log[-4000:]
            resumed = subprocess.run(
                _pipeline(tmp_path, "--resume"), env=env, capture_output=True, text=True, timeout=900
            )
            resumed_rc = resumed.returncode
            assert resumed_rc == 0, resumed.stdout[-2000:] + resumed.stderr[-4000:]
    finally:
        kill_ray_under(ray_tmp)
        shutil.rmtree(ray_tmp, ignore_errors=True)

    assert [what for what, _ in killed] == ["engine", "learner"]
    train = read_rows(root / "problems" / "train.parquet", Problem)
    verdicts = read_rows(verdicts_dir, Verdict)
    per_problem = Counter(v.problem_id for v in verdicts)
    assert set(per_problem) == {p.id for p in train} and set(per_problem.values()) == {2}
    assert len({(v.problem_id, v.sample_index) for v in verdicts}) == len(verdicts)
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["stages"]["iter-1"]["status"] == "done" and (root / "report.json").is_file()
    print(f"first run exit {first_rc}, resumed exit {resumed_rc}")
