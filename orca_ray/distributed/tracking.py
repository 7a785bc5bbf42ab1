"""Experiment tracking through the libraries' own integrations, from the `tracking` config section:

- the learner: TRL's `report_to` (transformers' TensorBoard, MLflow and W&B callbacks), configured by the
  environment variables those callbacks read, decided here on the driver (`learner_tracking`) and applied in the
  Ray Train worker (`trainer_tracking_args`);
- the driver: its per-stage metrics (accuracy per stage, samples/s, verdict counts, policy version, staleness) go
  from the MetricsLogger to TensorBoard's SummaryWriter, MLflow's fluent API and wandb.log (`DriverTracking`).

The x axis of the driver's series is the stage index: 0 for the base model, 1 after SFT, k+1 after iteration k.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path

from orca_ray.config import RunConfig, TrackingConfig
from orca_ray.errors import ConfigError

log = logging.getLogger(__name__)

TENSORBOARD, MLFLOW, WANDB = "tensorboard", "mlflow", "wandb"
DRIVER_TB_DIR = "tensorboard"  # under the run directory


def mlflow_uri(config: RunConfig) -> str:
    """tracking.mlflow_tracking_uri, or a local file store at <output_dir>/mlruns."""
    uri = config.tracking.mlflow_tracking_uri
    return uri or (Path(config.output_dir).expanduser().resolve() / "mlruns").as_uri()


def mlflow_env(uri: str) -> dict[str, str]:
    """Environment a client of `uri` needs: MLflow 3.18 refuses its filesystem backend (in maintenance mode, still
    working) unless MLFLOW_ALLOW_FILE_STORE is true; a local file store needs no database and no server.

    >>> mlflow_env("file:///tmp/mlruns"), mlflow_env("http://mlflow:5000")
    ({'MLFLOW_ALLOW_FILE_STORE': 'true'}, {})
    """
    return {"MLFLOW_ALLOW_FILE_STORE": "true"} if uri.startswith("file:") else {}


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def check_tracking(tracking: TrackingConfig) -> None:
    """Fail at the start of a run, not after SFT, when a tracker is asked for and its package is missing."""
    for wanted, module, package in ((tracking.mlflow, "mlflow", "mlflow-skinny"), (tracking.wandb, "wandb", "wandb")):
        if wanted and not _installed(module):
            raise ConfigError(f"tracking.{module} is on but {module} is not installed: pip install {package}")


def tensorboard_available() -> bool:
    return _installed("tensorboardX") or _installed("tensorboard")


def run_and_stage(config: RunConfig, output_dir: Path) -> tuple[str, str]:
    """(run id, stage) of a training output directory: <output_dir>/<run-id>/sft -> (run-id, 'sft'),
    <output_dir>/<run-id>/iter-2/train -> (run-id, 'iter-2'); elsewhere (`orca-ray train --out DIR`) (DIR's name,
    DIR's name)."""
    out = Path(output_dir).expanduser().resolve()
    base = Path(config.output_dir).expanduser().resolve()
    if out.is_relative_to(base) and len(out.relative_to(base).parts) >= 2:
        parts = out.relative_to(base).parts
        return parts[0], parts[1]
    return out.name, out.name


def learner_tracking(config: RunConfig, output_dir: Path) -> dict:
    """What a training run's trainer needs for tracking, decided on the driver: TRL's report_to, the run name and
    the environment variables transformers' callbacks read (TENSORBOARD_LOGGING_DIR, MLFLOW_*, WANDB_*)."""
    tracking, out = config.tracking, Path(output_dir).expanduser().resolve()
    check_tracking(tracking)
    run_id, stage = run_and_stage(config, out)
    report_to: list[str] = []
    env: dict[str, str] = {}
    if tracking.tensorboard and tensorboard_available():
        report_to.append(TENSORBOARD)
        env["TENSORBOARD_LOGGING_DIR"] = str(out / "tensorboard")
    elif tracking.tensorboard:
        log.warning("tracking.tensorboard is on but neither tensorboard nor tensorboardX is installed: no event files")
    if tracking.mlflow:
        report_to.append(MLFLOW)
        env |= mlflow_env(mlflow_uri(config)) | {
            "MLFLOW_TRACKING_URI": mlflow_uri(config),
            "MLFLOW_EXPERIMENT_NAME": tracking.mlflow_experiment,
            "MLFLOW_TAGS": json.dumps({"orca_ray.run_id": run_id, "orca_ray.stage": stage}),
        }
    if tracking.wandb:
        report_to.append(WANDB)
        env |= _wandb_env(tracking, out, run_id)
    return {"report_to": report_to, "run_name": f"{run_id}/{stage}", "env": env}


def _wandb_env(tracking: TrackingConfig, directory: Path, run_id: str) -> dict[str, str]:
    return {
        "WANDB_PROJECT": tracking.wandb_project,
        "WANDB_MODE": "offline" if tracking.wandb_offline else "online",
        "WANDB_DIR": str(directory),
        "WANDB_RUN_GROUP": run_id,
    }


def trainer_tracking_args(tracking: dict | None) -> dict:
    """TrainingArguments' report_to and run_name; sets the integrations' environment first. Runs in the Ray
    Train worker, before the trainer (and so its callbacks) is built.

    >>> trainer_tracking_args(None)
    {'report_to': 'none'}
    """
    if not tracking or not tracking.get("report_to"):
        return {"report_to": "none"}
    os.environ.update(tracking.get("env", {}))
    return {"report_to": list(tracking["report_to"]), "run_name": tracking["run_name"]}


def series_name(key: str, label: str) -> str:
    """The tracked series of a driver metric: an evaluation's accuracy is one series per evaluation set (its
    label); every other metric is one series whose points are the run's stages.

    >>> series_name("eval/accuracy", "heldout"), series_name("learner/train_loss", "iter-1")
    ('eval/accuracy/heldout', 'learner/train_loss')
    """
    return f"{key}/{label}" if key.startswith("eval/") and label else key


class DriverTracking:
    """The driver's per-stage metrics in TensorBoard (<run>/tensorboard), MLflow (a run named after the run id)
    and W&B, as each is switched on; a MetricsLogger sink (`log(values, step, label)`)."""

    def __init__(self, config: RunConfig, run_dir: Path, run_id: str):
        tracking = config.tracking
        check_tracking(tracking)
        self.run_dir, self._writer, self._mlflow, self._wandb = Path(run_dir), None, None, None
        if tracking.tensorboard and tensorboard_available():
            self._writer = _summary_writer(self.run_dir / DRIVER_TB_DIR)
        if tracking.mlflow:
            self._mlflow = _MlflowRun(mlflow_uri(config), tracking.mlflow_experiment, run_id)
        if tracking.wandb:
            import wandb

            env = _wandb_env(tracking, self.run_dir, run_id)
            self._wandb = wandb.init(
                project=env["WANDB_PROJECT"],
                group=run_id,
                name=f"{run_id}/driver",
                dir=env["WANDB_DIR"],
                mode=env["WANDB_MODE"],
                reinit="create_new",
            )

    def log(self, values: Mapping[str, float | None], step: int | None, label: str) -> None:
        metrics = {series_name(k, label): float(v) for k, v in values.items() if v is not None}
        if not metrics:
            return
        if self._writer is not None:
            for tag, value in metrics.items():
                self._writer.add_scalar(tag, value, global_step=step)
            self._writer.flush()  # a killed driver keeps what it logged
        if self._mlflow is not None:
            self._mlflow.log(metrics, step)
        if self._wandb is not None:
            self._wandb.log(metrics | ({"stage_index": step} if step is not None else {}))

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._mlflow is not None:
            self._mlflow.close()
        if self._wandb is not None:
            self._wandb.finish()
        self._writer = self._mlflow = self._wandb = None


def _summary_writer(directory: Path):
    """TensorBoard's SummaryWriter: tensorboardX's (installed with Ray, no torch import), else torch's."""
    try:
        from tensorboardX import SummaryWriter
    except ImportError:
        from torch.utils.tensorboard import SummaryWriter
    return SummaryWriter(str(directory))  # the first argument of both is the log directory


class _MlflowRun:
    """One MLflow run through MlflowClient (no fluent API: the driver holds no global active run)."""

    def __init__(self, uri: str, experiment: str, run_id: str):
        import mlflow

        for key, value in mlflow_env(uri).items():
            os.environ.setdefault(key, value)
        self.client = mlflow.MlflowClient(tracking_uri=uri)
        found = self.client.get_experiment_by_name(experiment)
        experiment_id = found.experiment_id if found else self.client.create_experiment(experiment)
        tags = {"orca_ray.run_id": run_id, "orca_ray.stage": "driver"}
        self.run_id = self.client.create_run(experiment_id, run_name=run_id, tags=tags).info.run_id

    def log(self, metrics: Mapping[str, float], step: int | None) -> None:
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(k, v, now, step or 0) for k, v in metrics.items()])

    def close(self) -> None:
        self.client.set_terminated(self.run_id)
