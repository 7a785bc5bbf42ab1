"""The mechanics a learning run relies on (issue 21): round k practises with round k-1's policy on problems SFT
never demonstrated, and its preference rows say so. No accuracy is asserted: that is bench/learning.py's job."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orca_ray.config import load_config
from orca_ray.schemas import KTOExample, Problem, SFTExample, Verdict, read_rows

pytestmark = pytest.mark.slow
TINY = Path(__file__).resolve().parents[2] / "jobs" / "configs" / "tiny.yaml"


def test_each_round_practises_unseen_problems_with_the_previous_policy(ray_local, tmp_path):
    from orca_ray.distributed.loop import run_pipeline

    overrides = [
        f"output_dir={tmp_path}",
        "loop.iterations=2",
        "training.sft.max_problems=8",
        "loop.problems_per_iteration=4",
        "training.preference.desirable_weight=1.5",
        "eval.after_every_stage=false",
    ]
    root = run_pipeline(load_config(TINY, overrides), run_id="lineage")
    stages = json.loads((root / "manifest.json").read_text())["stages"]
    demonstrated = {e.problem_id for e in read_rows(root / "sft" / "data.parquet", SFTExample)}
    train = read_rows(root / "problems" / "train.parquet", Problem)
    assert demonstrated == {p.id for p in train[:8]}
    previous = stages["sft"]["policy"]
    for k in (1, 2):
        verdicts = read_rows(root / f"iter-{k}" / "verdicts", Verdict)
        assert {(v.policy_version, v.adapter) for v in verdicts} == {(k, previous)}
        practised = {v.problem_id for v in verdicts}
        assert practised == {p.id for p in train[8 + 4 * (k - 1) : 8 + 4 * k]} and not practised & demonstrated
        rows = read_rows(root / f"iter-{k}" / "preferences", KTOExample)
        assert {r.policy_version for r in rows if r.origin == "student"} <= {k}
        previous = stages[f"iter-{k}"]["policy"]
        assert previous.endswith(f"iter-{k}/train/adapter")
