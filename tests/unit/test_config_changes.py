"""Resume with a changed config (issue 22): which keys each step depends on, and what Run.open does with a
change: stop naming the keys and both values, re-run from the first affected step with --rerun-changed, or go on
when only steps not yet run are shaped by it; the record says which config each step ran under."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orca_ray.config import RunConfig, load_config
from orca_ray.core import config_changes
from orca_ray.core.config_changes import Change, depends_on, flatten, step_changes
from orca_ray.distributed.loop import Run
from orca_ray.errors import ConfigError

TINY = Path(__file__).resolve().parents[2] / "jobs" / "configs" / "tiny.yaml"
STEPS = ["problems", "eval:base", "sft", "eval:sft", "iter-1", "eval:iter-1"]

# ---------------------------------------------------------------- the pure rule


@pytest.mark.parametrize(
    ("step", "key", "depends"),
    [
        ("iter-1", "training.preference.method", True),
        ("iter-2", "sampling.n", True),
        ("iter-1", "loop.mode", True),
        ("iter-1", "loop.iterations", False),  # extending a run
        ("iter-1", "training.sft.learning_rate", False),  # reaches an iteration only through SFT's adapter
        ("iter-1", "training.sft.max_problems", True),  # which problems are practised
        ("iter-1", "training.sft.enabled", True),  # without SFT no problems are set aside for it
        ("iter-1", "resources.trainer.workers", True),  # the global batch
        ("iter-1", "resources.sampler.actors", False),
        ("iter-1", "training.logging_steps", False),
        ("sft", "training.preference.method", False),
        ("sft", "training.sft.learning_rate", True),
        ("sft", "training.lora.r", True),
        ("sft", "student.model", True),
        ("sft", "student.gpu_memory_utilization", False),
        ("sft", "sampling.n", False),
        ("sft", "synthesis.enabled", True),
        ("problems", "data.train.0.n", True),
        ("problems", "data.eval.heldout.seed", True),
        ("problems", "training.sft.max_steps", False),
        ("eval:sft", "eval.max_tokens", True),
        ("eval:sft", "eval.after_every_stage", False),
        ("eval:base", "judge.use_math_verify", True),
        ("eval:base", "sampling.temperature", False),  # evaluation is greedy
        ("synthesis", "synthesis.answers_per_problem", True),
        ("synthesis", "synthesis.max_concurrent_conversations", False),
        ("synthesis", "teacher.timeout_s", False),
        ("synthesis", "teacher.model", True),
        ("iter-1", "tracking.mlflow", False),
        ("iter-1", "output_dir", False),
    ],
)
def test_which_keys_each_step_depends_on(step, key, depends):
    assert depends_on(step, key) is depends


def test_every_config_section_is_declared():
    """A new top-level section must be placed: something a step depends on, or something that shapes none."""
    used = {prefix.split(".")[0] for prefixes, _ in config_changes.DEPENDENCIES.values() for prefix in prefixes}
    assert set(RunConfig.model_fields) <= used | set(config_changes.SHAPES_NO_STEP)


def test_unknown_steps_are_refused():
    with pytest.raises(ValueError, match="unknown step 'distill'"):
        depends_on("distill", "sampling.n")


def test_flatten_names_keys_as_set_does():
    tree = load_config(TINY).model_dump(mode="json")
    flat = flatten(tree)
    assert flat["data.train.0.n"] == 16 and flat["training.preference.method"] == "kto"
    assert flat["training.lora.target_modules"] == "all-linear"


def test_the_issue_resume_names_the_keys_steps_and_values():
    old = load_config(TINY, ["training.preference.method=dpo"]).model_dump(mode="json")
    new = load_config(TINY, ["training.preference.method=kto", "sampling.n=3"]).model_dump(mode="json")
    changes = step_changes([(s, old) for s in STEPS], new)
    assert changes == [
        Change("iter-1", "sampling.n", 2, 3),
        Change("iter-1", "training.preference.method", "dpo", "kto"),
    ]
    assert config_changes.describe(changes) == (
        "  sampling.n: 2 (recorded) -> 3 (now), used by iter-1\n"
        "  training.preference.method: 'dpo' (recorded) -> 'kto' (now), used by iter-1"
    )


def test_extending_a_run_changes_no_finished_step():
    old = load_config(TINY).model_dump(mode="json")
    new = load_config(TINY, ["loop.iterations=3", "resources.dashboard=true"]).model_dump(mode="json")
    recorded = [(s, old) for s in STEPS]
    assert step_changes(recorded, new) == []
    assert config_changes.free_changes(recorded, new) == {
        "loop.iterations": (1, 3),
        "resources.dashboard": (False, True),
    }


def test_a_source_added_to_a_list_is_a_change():
    old = load_config(TINY).model_dump(mode="json")
    new = load_config(TINY, ["data.train=[{kind: symbolic, n: 16, seed: 1}, {kind: symbolic, n: 4, seed: 2}]"])
    keys = {c.key for c in step_changes([("problems", old)], new.model_dump(mode="json"))}
    assert {"data.train.0.max_steps", "data.train.1.kind", "data.train.1.n"} <= keys


# ---------------------------------------------------------------- Run.open on a run directory (no Ray)


def _config(tmp_path: Path, *overrides: str) -> RunConfig:
    return load_config(TINY, [f"output_dir={tmp_path}", *overrides])


def _run_steps(run: Run, steps: list[str]) -> None:
    for name in steps:
        run.step(name, lambda name=name: {"made": name})
        out = run.root / ("eval/" + name.removeprefix("eval:") if name.startswith("eval:") else name)
        out.mkdir(parents=True, exist_ok=True)
        (out / "rows.txt").write_text(name)


def _manifest(root: Path) -> dict:
    return json.loads((root / "manifest.json").read_text())


def test_a_changed_key_a_finished_step_used_stops_the_resume_and_rewrites_nothing(tmp_path):
    run = Run.open(_config(tmp_path, "training.preference.method=dpo"), "probe", resume=False)
    _run_steps(run, STEPS)
    recorded = (run.root / "config.yaml").read_bytes()
    manifest = (run.root / "manifest.json").read_bytes()
    with pytest.raises(ConfigError) as err:
        Run.open(_config(tmp_path, "training.preference.method=kto", "sampling.n=3"), "probe", resume=True)
    message = str(err.value)
    assert "training.preference.method: 'dpo' (recorded) -> 'kto' (now), used by iter-1" in message
    assert "sampling.n: 2 (recorded) -> 3 (now), used by iter-1" in message
    assert "--rerun-changed to run again from step iter-1 (iter-1, eval:iter-1)" in message
    assert (run.root / "config.yaml").read_bytes() == recorded  # nothing rewritten
    assert (run.root / "manifest.json").read_bytes() == manifest


def test_rerun_changed_runs_again_from_the_first_affected_step(tmp_path):
    run = Run.open(_config(tmp_path, "training.preference.method=dpo"), "probe", resume=False)
    _run_steps(run, STEPS)
    first_id = run.config_id
    again = Run.open(_config(tmp_path, "training.preference.method=kto"), "probe", resume=True, rerun_changed=True)
    assert again.config_id != first_id
    assert again.manifest.recorded() == ["problems", "eval:base", "sft", "eval:sft"]
    assert not (again.root / "iter-1").exists() and not (again.root / "eval" / "iter-1").exists()
    (aside,) = (again.root / "superseded").iterdir()
    assert (aside / "iter-1" / "rows.txt").read_text() == "iter-1"
    assert (aside / "eval-iter-1" / "rows.txt").read_text() == "eval:iter-1"
    _run_steps(again, ["iter-1", "eval:iter-1"])
    stages = _manifest(again.root)["stages"]
    assert {s: stages[s]["config"] for s in STEPS} == {
        "problems": first_id, "eval:base": first_id, "sft": first_id, "eval:sft": first_id,
        "iter-1": again.config_id, "eval:iter-1": again.config_id,
    }  # fmt: skip
    assert "method: kto" in (again.root / "configs" / f"{again.config_id}.yaml").read_text()
    assert "method: dpo" in (again.root / "configs" / f"{first_id}.yaml").read_text()
    # and the next resume compares each step with the config it ran under: nothing changed
    Run.open(_config(tmp_path, "training.preference.method=kto"), "probe", resume=True)


def test_extending_a_run_keeps_the_record_of_each_steps_config(tmp_path, caplog):
    run = Run.open(_config(tmp_path), "probe", resume=False)
    _run_steps(run, STEPS)
    with caplog.at_level("INFO"):
        more = Run.open(_config(tmp_path, "loop.iterations=2"), "probe", resume=True)
    assert "loop.iterations changed from 1 to 2; no step run so far depends on it" in caplog.text
    assert more.manifest.is_done("iter-1")  # reused
    _run_steps(more, ["iter-2", "eval:iter-2"])
    stages = _manifest(more.root)["stages"]
    assert stages["iter-1"]["config"] == run.config_id and stages["iter-2"]["config"] == more.config_id
    assert "iterations: 2" in (more.root / "config.yaml").read_text()  # the latest
    assert sorted(p.stem for p in (more.root / "configs").iterdir()) == sorted({run.config_id, more.config_id})


def test_an_interrupted_step_counts_as_run(tmp_path):
    run = Run.open(_config(tmp_path), "probe", resume=False)
    _run_steps(run, STEPS[:4])
    run.manifest.mark_started("iter-1", config=run.config_id)  # the driver died in the middle of iteration 1
    with pytest.raises(ConfigError, match=r"sampling.n: 2 \(recorded\) -> 4 \(now\), used by iter-1"):
        Run.open(_config(tmp_path, "sampling.n=4"), "probe", resume=True)


def test_a_run_recorded_before_configs_were_kept_is_compared_with_its_config_yaml(tmp_path):
    run = Run.open(_config(tmp_path), "probe", resume=False)
    _run_steps(run, STEPS)
    manifest = _manifest(run.root)
    for entry in manifest["stages"].values():
        del entry["config"]
    (run.root / "manifest.json").write_text(json.dumps(manifest))
    for kept in (run.root / "configs").iterdir():
        kept.unlink()
    with pytest.raises(ConfigError, match="training.preference.method"):
        Run.open(_config(tmp_path, "training.preference.method=dpo"), "probe", resume=True)
    more = Run.open(_config(tmp_path, "loop.iterations=2"), "probe", resume=True)
    stages = _manifest(more.root)["stages"]
    assert {stages[s]["config"] for s in STEPS} == {run.config_id}  # the legacy steps now name their config
    with pytest.raises(ConfigError, match="training.preference.method"):
        Run.open(_config(tmp_path, "loop.iterations=2", "training.preference.method=dpo"), "probe", resume=True)


def test_rerun_changed_needs_resume(tmp_path):
    with pytest.raises(ConfigError, match="--rerun-changed only applies with --resume"):
        Run.open(_config(tmp_path), "probe", resume=False, rerun_changed=True)
