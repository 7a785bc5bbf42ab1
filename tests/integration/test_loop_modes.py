"""The loop's modes on the tiny config, each run for real: `async` (adapters published mid-round and picked up by the
samplers, stale rows discarded and counted), `finetune: full` in `barrier` mode (the learner starts after the last
shard is judged; the engines restart on the new weights) and `teacher.backend: vllm` (an in-cluster teacher)."""

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


def _small(tmp_path: Path, *overrides: str):
    """The tiny config at its smallest: one iteration, evaluated once on two problems."""
    return load_config(TINY, [f"output_dir={tmp_path}", "eval.after_every_stage=false", "eval.limit=2", *overrides])


def _engine_starts_and_round(driver_log: str, model_dirs: list[Path]) -> list[str]:
    """The story's order of student engine starts (named by their model directory) and the end of iteration 1."""
    order = []
    for line in driver_log.splitlines():
        if "student engine ready" in line:
            order.append(next(str(d) for d in model_dirs if f"({d})" in line))
        elif ": iter-1 done in" in line:  # not eval:iter-1
            order.append("iter-1")
    return order


def _check_barrier(root: Path) -> None:
    """The learner of iteration 1 started after its last shard was judged, by the run's spans and by the learner's
    own clock (its first logged step comes after the last verdict)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from orca_ray.distributed.telemetry import read_metrics

    records = read_metrics(root)
    step = next(r for r in records if r.get("span") == "step" and r.get("label") == "iter-1")
    learner = next(r for r in records if r.get("span") == "learner" and r.get("label") == "iter-1")
    in_round = [
        r for r in records if r.get("span") in ("sampler", "judge") and step["start"] <= r["start"] <= step["end"]
    ]
    judged = [r for r in in_round if r["span"] == "judge"]
    assert sorted(r["label"] for r in judged) == [f"shard-0000{i}" for i in range(4)]  # 16 problems, 4 a shard
    assert max(r["end"] for r in in_round) <= learner["start"]
    events = EventAccumulator(str(root / "iter-1" / "train" / "tensorboard"))
    events.Reload()
    assert min(e.wall_time for e in events.Scalars("train/loss")) > max(r["end"] for r in judged)


def test_full_finetuning_in_barrier_mode_restarts_the_engines_on_the_new_weights(ray_local, tmp_path):
    """Full fine-tuning publishes no adapter mid-round, so barrier (train after the last verdict) is its natural
    mode: both are checked on one run."""
    from orca_ray.distributed.loop import run_pipeline
    from orca_ray.models import TINY_MODEL, prepare_model

    config = _small(tmp_path, "training.finetune=full", "loop.mode=barrier", "sampling.batch_size=4")
    root = run_pipeline(config, run_id="full")
    manifest = json.loads((root / "manifest.json").read_text())["stages"]
    assert manifest["sft"]["full"] and manifest["iter-1"]["full"]
    sft_model, iter_model = root / "sft" / "model", root / "iter-1" / "train" / "model"
    assert Path(manifest["sft"]["policy"]) == sft_model and Path(manifest["iter-1"]["policy"]) == iter_model
    # The engines started on the base, restarted on SFT's weights before the round (which samples between its start
    # and its end), and on the round's weights before its evaluation; no adapter was ever loaded.
    base = prepare_model(TINY_MODEL)
    log = (root / "logs" / "driver.log").read_text()
    order = _engine_starts_and_round(log, [iter_model, sft_model, base])
    assert order == [str(base), str(sft_model), "iter-1", str(iter_model)], order
    sampled = read_rows(root / "iter-1" / "verdicts", Verdict)
    evaluated = read_rows(root / "eval" / "iter-1" / "heldout.parquet", Verdict)
    assert {(v.adapter, v.policy_version) for v in sampled} == {(None, 1)}
    assert {(v.adapter, v.policy_version) for v in evaluated} == {(None, 2)}
    _check_barrier(root)


def test_vllm_teacher_judges_undecidable_rows_and_audits_a_share(ray_local, tmp_path):
    from orca_ray.core.judge import TIER_LLM, TIER_RULE, audit_fraction, was_audited
    from orca_ray.distributed.loop import run_pipeline

    share = 0.5
    config = _small(
        tmp_path,
        "teacher.backend=vllm",
        "teacher.model=tiny-llama",
        "teacher.max_tokens=16",
        "teacher.max_model_len=2048",  # the tiny model's context
        f"judge.audit_share={share}",
        "training.sft.enabled=false",
    )
    root = run_pipeline(config, run_id="teacher")
    assert "teacher engine ready" in (root / "logs" / "driver.log").read_text()
    counts = json.loads((root / "manifest.json").read_text())["stages"]["iter-1"]["counts"]
    verdicts = read_rows(root / "iter-1" / "verdicts", Verdict)
    # Every row the rules could not decide went to the teacher's engine; of the decided ones, exactly the audit
    # share's (a stable hash of the row) was audited.
    by_rules = [v for v in verdicts if v.judge_tier == TIER_RULE]
    to_audit = [v for v in by_rules if audit_fraction(f"{v.problem_id}:{v.sample_index}") < share]
    assert counts["judge_tier_llm"] == sum(v.judge_tier == TIER_LLM for v in verdicts) > 0
    assert counts["judge_tier_llm"] + len(by_rules) == counts["judge_samples"] == len(verdicts)
    assert counts.get("judge_audited", 0) == len(to_audit) == sum(map(was_audited, verdicts))
    assert all(v.judge_reason.startswith("rules:") for v in verdicts if v.judge_tier == TIER_LLM)
