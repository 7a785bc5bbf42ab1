"""Experiment tracking: the `tracking` section becomes TRL's report_to and the environment transformers' callbacks
read, and the driver's per-stage metrics land in TensorBoard event files and an MLflow file store, read back here
with each library's own reader."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from orca_ray.config import load_config
from orca_ray.distributed import tracking
from orca_ray.distributed.telemetry import MetricsLogger
from orca_ray.errors import ConfigError


def _config(tmp_path: Path, *overrides: str):
    return load_config(None, [f"output_dir={tmp_path}", *overrides])


def test_tensorboard_is_on_by_default_and_writes_under_each_training_stage(tmp_path):
    config = _config(tmp_path)
    assert config.tracking.tensorboard and not config.tracking.mlflow and not config.tracking.wandb
    learner = tracking.learner_tracking(config, tmp_path / "run-1" / "iter-2" / "train")
    assert learner["report_to"] == ["tensorboard"] and learner["run_name"] == "run-1/iter-2"
    assert learner["env"] == {"TENSORBOARD_LOGGING_DIR": str(tmp_path / "run-1" / "iter-2" / "train" / "tensorboard")}
    off = tracking.learner_tracking(_config(tmp_path, "tracking.tensorboard=false"), tmp_path / "run-1" / "sft")
    assert tracking.trainer_tracking_args(off) == {"report_to": "none"}


def test_mlflow_goes_to_a_local_file_store_unless_a_uri_is_given(tmp_path, monkeypatch):
    learner = tracking.learner_tracking(_config(tmp_path, "tracking.mlflow=true"), tmp_path / "run-1" / "sft")
    assert learner["report_to"] == ["tensorboard", "mlflow"]
    env = learner["env"]
    assert env["MLFLOW_TRACKING_URI"] == (tmp_path / "mlruns").as_uri() and env["MLFLOW_ALLOW_FILE_STORE"] == "true"
    assert env["MLFLOW_EXPERIMENT_NAME"] == "orca-ray"
    assert json.loads(env["MLFLOW_TAGS"]) == {"orca_ray.run_id": "run-1", "orca_ray.stage": "sft"}
    server = _config(tmp_path, "tracking.mlflow=true", "tracking.mlflow_tracking_uri=http://mlflow:5000")
    assert "MLFLOW_ALLOW_FILE_STORE" not in tracking.learner_tracking(server, tmp_path / "x")["env"]
    # In the worker: the environment is set before the trainer (and its callbacks) is built.
    for key in env:
        monkeypatch.delenv(key, raising=False)
    args = tracking.trainer_tracking_args(learner)
    assert args == {"report_to": ["tensorboard", "mlflow"], "run_name": "run-1/sft"}
    assert os.environ["MLFLOW_TRACKING_URI"] == env["MLFLOW_TRACKING_URI"]


def test_wandb_is_offline_by_default_and_missing_packages_fail_at_once(tmp_path, monkeypatch):
    config = _config(tmp_path, "tracking.wandb=true", "tracking.tensorboard=false")
    monkeypatch.setattr(tracking, "_installed", lambda module: True)
    env = tracking.learner_tracking(config, tmp_path / "r" / "sft")["env"]
    assert env["WANDB_MODE"] == "offline" and env["WANDB_RUN_GROUP"] == "r" and env["WANDB_PROJECT"] == "orca-ray"
    monkeypatch.setattr(tracking, "_installed", lambda module: module != "wandb")
    with pytest.raises(ConfigError, match="pip install wandb"):
        tracking.check_tracking(config.tracking)


def _driver_run(tmp_path: Path, *overrides: str) -> Path:
    """What the driver of a base -> SFT -> iteration run reports, through a MetricsLogger with the trackers."""
    config = _config(tmp_path, *overrides)
    root = tmp_path / "run-1"
    logger = MetricsLogger(root, "run-1", export_to_ray=False)
    driver = tracking.DriverTracking(config, root, "run-1")
    logger.sinks.append(driver)
    for index, accuracy in enumerate((0.1, 0.25, 0.3)):
        logger.log({"eval/accuracy": accuracy}, step=index, label="heldout")
    logger.log({"learner/train_loss": 0.9, "loop/policy_version": 1}, step=1, label="sft")
    logger.log({"judge/correct": 6, "judge/pass_rate": 0.375, "sampler/rows_per_s": 2.5}, step=2, label="iter-1")
    driver.close()
    return root


def test_driver_metrics_reach_tensorboard_event_files(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    root = _driver_run(tmp_path)
    events = EventAccumulator(str(root / "tensorboard"))
    events.Reload()
    scalars = events.Tags()["scalars"]
    assert {"eval/accuracy/heldout", "learner/train_loss", "judge/pass_rate", "sampler/rows_per_s"} <= set(scalars)
    accuracy = [(e.step, round(e.value, 4)) for e in events.Scalars("eval/accuracy/heldout")]
    assert accuracy == [(0, 0.1), (1, 0.25), (2, 0.3)]
    assert [(e.step, e.value) for e in events.Scalars("judge/correct")] == [(2, 6.0)]


def test_driver_metrics_reach_an_mlflow_file_store(tmp_path, monkeypatch):
    import mlflow

    root = _driver_run(tmp_path, "tracking.mlflow=true")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # what a reader of the file store needs, as orca-ray sets
    client = mlflow.MlflowClient(tracking_uri=(tmp_path / "mlruns").as_uri())
    (run,) = client.search_runs([client.get_experiment_by_name("orca-ray").experiment_id])
    assert run.info.run_name == "run-1" and run.info.status == "FINISHED"
    assert run.data.tags["orca_ray.run_id"] == "run-1"
    history = client.get_metric_history(run.info.run_id, "eval/accuracy/heldout")
    assert sorted((m.step, m.value) for m in history) == [(0, 0.1), (1, 0.25), (2, 0.3)]
    assert run.data.metrics["learner/train_loss"] == 0.9 and run.data.metrics["judge/pass_rate"] == 0.375
    assert (root / "tensorboard").is_dir()  # both at once


def test_a_tracker_that_fails_does_not_stop_the_run(tmp_path, caplog):
    class Down:
        def log(self, values, step, label):
            raise ConnectionError("tracking server unreachable")

    logger = MetricsLogger(tmp_path, "r", export_to_ray=False)
    logger.sinks.append(Down())
    record = logger.log({"eval/accuracy": 0.5}, label="heldout")
    assert record["eval/accuracy"] == 0.5 and "tracking server unreachable" in caplog.text
