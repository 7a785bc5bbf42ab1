"""The learner's experiment tracking through TRL's own report_to: a KTO run on Ray Train with the tiny model writes
TensorBoard event files and an MLflow run (a local file store), read back with tensorboard's EventAccumulator and
MLflow's client, with the values the learner itself recorded."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from orca_ray.config import load_config
from orca_ray.core.prompts import student_prompt
from orca_ray.models import TINY_MODEL, prepare_model
from orca_ray.schemas import KTOExample

pytestmark = pytest.mark.slow

TINY = Path(__file__).resolve().parents[2] / "jobs" / "configs" / "tiny.yaml"
STEPS = 4


def test_kto_run_writes_tensorboard_events_and_an_mlflow_run(ray_local, tmp_path, monkeypatch):
    import mlflow
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from orca_ray.distributed.learner import train_policy

    config = load_config(
        TINY,
        [
            f"output_dir={tmp_path}",
            "tracking.mlflow=true",
            "training.logging_steps=1",
            f"training.preference.max_steps={STEPS}",
        ],
    )
    rows = [
        KTOExample(f"p{i}", student_prompt(f"What is {i} + 3?"), f"The answer is {i + 3}.", bool(i % 2))
        for i in range(16)
    ]
    out = tmp_path / "run-7" / "iter-1" / "train"
    result = train_policy(
        config, "kto", rows, base_model_dir=str(prepare_model(TINY_MODEL)), init_adapter=None, output_dir=out
    )
    assert result.steps == STEPS
    losses = [e["train/loss"] for e in result.history]

    events = EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"train/loss", "train/kl", "train/rewards/margins"} <= tags, tags
    logged = [e.value for e in events.Scalars("train/loss")]
    assert [e.step for e in events.Scalars("train/loss")] == list(range(1, STEPS + 1))
    assert all(math.isclose(a, b, rel_tol=1e-5) for a, b in zip(logged, losses, strict=True))

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # what a reader of the file store needs, as orca-ray sets
    client = mlflow.MlflowClient(tracking_uri=(tmp_path / "mlruns").as_uri())
    (run,) = client.search_runs([client.get_experiment_by_name("orca-ray").experiment_id])
    assert run.info.run_name == "run-7/iter-1"
    assert run.data.tags["orca_ray.run_id"] == "run-7" and run.data.tags["orca_ray.stage"] == "iter-1"
    history = sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, "loss"))
    assert [step for step, _ in history] == list(range(1, STEPS + 1))
    assert all(math.isclose(v, loss, rel_tol=1e-5) for (_, v), loss in zip(history, losses, strict=True))
