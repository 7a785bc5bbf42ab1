"""The loop's modes on the tiny config, each run for real: `async` (adapters published mid-round and picked up by the
samplers, stale rows discarded and counted), `barrier` (the learner starts after the last shard is judged),
`finetune: full` (the engines restart on the new weights) and `teacher.backend: vllm` (an in-cluster teacher)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from orca_ray.config import load_config
from orca_ray.schemas import Verdict, read_rows

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "jobs" / "configs" / "tiny.yaml"


def _published_versions(publish_dir: Path) -> list[int]:
    return sorted(int(p.name[1:]) for p in publish_dir.glob("v[0-9]*") if (p / "adapter_config.json").is_file())


def test_async_samplers_pick_up_published_adapters_and_stale_rows_are_counted(ray_local, tmp_path):
    """Regression (issue 23): with a relative output_dir (every preset's `runs`) the learner published into Ray
    Train's own working directory, the samplers never saw a new version, and the publisher's versions restarted at 1,
    colliding with the SFT policy's."""
    from orca_ray.distributed.loop import run_pipeline

    max_staleness = 0
    out = os.path.relpath(tmp_path / "runs")  # relative, as in the presets: resolved once, on the driver
    config = load_config(
        TINY,
        [
            f"output_dir={out}",
            "loop.mode=async",
            "loop.publish_every_steps=1",
            f"loop.max_staleness={max_staleness}",
            "training.preference.max_steps=4",
            "sampling.batch_size=2",
            "eval.after_every_stage=false",
            "eval.limit=2",
        ],
    )
    root = tmp_path / "runs" / "async"
    assert run_pipeline(config, run_id="async").samefile(root)
    manifest = json.loads((root / "manifest.json").read_text())
    iteration = manifest["stages"]["iter-1"]
    publish_dir = root / "iter-1" / "published"
    # One version per optimizer step, continuing after the SFT policy's version 1, in the run's own directory.
    assert _published_versions(publish_dir) == [2, 3, 4, 5]
    latest = json.loads((publish_dir / "latest.json").read_text())
    assert latest["version"] == 5 and latest["step"] == 4
    assert iteration["policy_version"] == 5  # the round's policy is its last published version
    # The samplers picked up published versions between shards: at least two besides the SFT policy's.
    sampled = {v.policy_version for v in read_rows(root / "iter-1" / "verdicts", Verdict)}
    assert 1 in sampled and len(sampled - {1}) >= 2, sampled
    # Every student row the learner read was checked against the version current when it read it; the discarded
    # ones are exactly those more than max_staleness versions behind, and some were.
    checks = [c for f in publish_dir.glob("staleness-rank-*.json") for c in json.loads(f.read_text())["checks"]]
    expected = sum(c["rows"] for c in checks if c["current"] - c["sampled"] > max_staleness)
    assert expected > 0 and iteration["counts"]["stale_discarded"] == expected, checks
    evaluated = read_rows(root / "eval" / "iter-1" / "heldout.parquet", Verdict)
    assert {v.policy_version for v in evaluated} == {5}
