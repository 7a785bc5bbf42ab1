"""The learner: SFT, DPO or KTO with TRL on Ray Train's TorchTrainer, fed by Ray Data, checkpointed to
`<out>/ray-train` and resumable, publishing the trained adapter (or model) to `<out>/adapter` (or `<out>/model`).

    result = train_policy(config, "kto", rows_or_ray_dataset, base_model_dir=..., init_adapter=sft_adapter,
                          output_dir="runs/x/iter-1/train")
    result.adapter_dir  # what the samplers load next

A `ray.data.Dataset` that is not materialized streams: each worker reads its shard while upstream stages still
produce, once, so the number of steps must be known upfront (`max_steps` in the config, or `expected_rows`). A list
of rows or a materialized dataset is given whole to every worker and trained for `epochs`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from orca_ray.config import RunConfig
from orca_ray.core.metrics import readable
from orca_ray.core.preferences import METHOD_COLUMNS
from orca_ray.distributed import resources
from orca_ray.distributed.learner_worker import (
    FINAL,
    SUMMARY,
    LearnerSpec,
    as_fields,
    steps_for,
    train_loop_per_worker,
)
from orca_ray.distributed.policy_versions import publish_directory, staging_dir
from orca_ray.distributed.tracking import learner_tracking
from orca_ray.errors import ConfigError, DataError
from orca_ray.progress import PROGRESS_FILE

log = logging.getLogger(__name__)

METHODS = tuple(METHOD_COLUMNS)
RESULT_FILE = "train_result.json"
RUN_NAME = "run"  # the Ray Train run inside <out>/ray-train: the same name is what restores it


@dataclass
class TrainResult:
    adapter_dir: str | None  # LoRA: the PEFT adapter vLLM samplers load
    model_dir: str | None  # full fine-tuning: the model directory
    steps: int  # optimizer steps taken in total (a resumed run counts the steps before the crash)
    metrics: dict[str, float]  # flat train/<name>
    checkpoint_dir: str | None  # the Ray Train checkpoint the policy came from
    history: list[dict] = field(default_factory=list)  # one entry per logged step
    published: list[list[int]] = field(default_factory=list)  # async mode: [version, step] of each publication

    @property
    def policy_dir(self) -> str:
        return self.adapter_dir or self.model_dir or ""


def _stage(config: RunConfig, method: str):
    if method not in METHODS:
        raise ConfigError(f"training method {method!r}: expected one of {', '.join(METHODS)}")
    return config.training.sft if method == "sft" else config.training.preference


def learner_spec(
    config: RunConfig,
    method: str,
    *,
    base_model_dir: str,
    init_adapter: str | None,
    streaming: bool,
    rows: int | None,
    publish_dir: str | None = None,
    max_staleness: int | None = None,
    fail_after_step: int | None = None,
) -> LearnerSpec:
    """Every setting of a training run, decided from the config (`rows`: the dataset size, when known)."""
    stage, training = _stage(config, method), config.training
    section = "training.sft" if method == "sft" else "training.preference"
    scaling = resources.trainer_scaling(config.resources.trainer)
    _check_supported(method, stage, section, training.strategy, publish_dir)
    max_steps = _max_steps(stage, section, streaming, rows, scaling["num_workers"])
    lora = training.lora
    targets = lora.target_modules if isinstance(lora.target_modules, str) else tuple(lora.target_modules)
    preference = training.preference
    return LearnerSpec(
        method=method,
        base_model_dir=str(base_model_dir),
        init_adapter=str(init_adapter) if init_adapter else None,
        finetune=training.finetune,
        lora_r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        lora_target_modules=targets,
        learning_rate=stage.learning_rate,
        epochs=stage.epochs,
        batch_size=stage.batch_size,
        grad_accum=stage.grad_accum,
        max_length=stage.max_length,
        warmup_ratio=stage.warmup_ratio,
        max_steps=max_steps,
        lr_scheduler=training.lr_scheduler,
        beta=preference.beta,
        rpo_alpha=preference.rpo_alpha,
        desirable_weight=preference.desirable_weight,
        undesirable_weight=preference.undesirable_weight,
        precision=resources.training_precision(config),
        use_gpu=scaling["use_gpu"],
        strategy=training.strategy,
        gradient_checkpointing=training.gradient_checkpointing,
        checkpoint_every_steps=training.checkpoint_every_steps,
        logging_steps=training.logging_steps,
        seed=training.seed,
        torch_threads=config.resources.torch_threads,
        cpu_affinity=tuple(config.resources.trainer.cpu_affinity or ()) or None,
        system_prompt=config.student.system_prompt,
        streaming=streaming,
        trust_remote_code=config.student.trust_remote_code,
        publish_dir=str(publish_dir) if publish_dir else None,
        publish_every_steps=config.loop.publish_every_steps if publish_dir else 0,
        max_staleness=max_staleness if publish_dir else None,
        fail_after_step=fail_after_step,
    )


def _check_supported(method: str, stage, section: str, strategy: str, publish_dir: str | None) -> None:
    if publish_dir and strategy == "fsdp":
        raise ConfigError("async publishing (publish_dir) needs training.strategy: ddp (FSDP shards the weights)")
    if method == "kto" and stage.batch_size < 2:
        raise ConfigError(f"{section}.batch_size must be at least 2 for KTO (its KL term pairs rows within a batch)")


def _max_steps(stage, section: str, streaming: bool, rows: int | None, workers: int) -> int:
    """The run's optimizer steps: the stage's max_steps, else what a stream of `rows` gives, else -1 (the trainer
    derives it from the data and the stage's epochs)."""
    if stage.max_steps:
        return stage.max_steps
    if streaming and rows:
        return steps_for(rows, stage.batch_size, stage.grad_accum, workers)
    if streaming:
        raise ConfigError(
            f"a streaming dataset has no known length: set {section}.max_steps or pass expected_rows to train_policy"
        )
    return -1


def _as_ray_dataset(dataset, method: str):
    """(ray dataset, streaming?, rows if known) from a ray.data.Dataset or a list of rows (dataclasses or dicts)."""
    import ray.data
    from ray.data.dataset import MaterializedDataset

    if isinstance(dataset, ray.data.Dataset):
        materialized = isinstance(dataset, MaterializedDataset)
        return dataset, not materialized, dataset.count() if materialized else None
    rows = [dataclasses.asdict(r) if dataclasses.is_dataclass(r) else dict(r) for r in dataset]
    missing = [c for c in METHOD_COLUMNS[method] if rows and c not in rows[0]]
    if missing:
        raise DataError(f"{method} rows lack column(s) {missing}; got {sorted(rows[0])}")
    return ray.data.from_items(rows).materialize(), False, len(rows)


def summarize(history: list[dict], steps: int) -> dict[str, float]:
    """Run metrics from the per-step history: the last value of each metric, the first and last loss, and the mean
    step time and throughput without the first logged step (it carries model start-up and the first batch).

    >>> h = [{"step": 1, "train/loss": 2.0, "train/step_seconds": 9.0}, {"step": 2, "train/loss": 1.0,
    ...      "train/step_seconds": 1.0}, {"step": 3, "train/loss": 0.5, "train/step_seconds": 3.0}]
    >>> m = summarize(h, 3); m["train/loss_first"], m["train/loss"], m["train/step_seconds"], m["train/steps"]
    (2.0, 0.5, 2.0, 3.0)
    """
    metrics: dict[str, float] = {}
    for entry in history:
        metrics.update({k: v for k, v in entry.items() if k != "step"})
    losses = [e["train/loss"] for e in history if "train/loss" in e]
    if losses:
        metrics["train/loss_first"] = losses[0]
    timed = history[1:] if len(history) > 1 else history
    for key in ("train/step_seconds", "train/tokens_per_second"):
        values = [e[key] for e in timed if key in e]
        if values:
            metrics[key] = statistics.fmean(values)
    metrics["train/steps"] = float(steps)
    return metrics


def _publish_final(checkpoint_dir: Path, out: Path, finetune: str) -> tuple[str | None, str | None]:
    target = out / ("adapter" if finetune == "lora" else "model")
    build = staging_dir(target)
    shutil.copytree(checkpoint_dir / FINAL, build, dirs_exist_ok=True)
    publish_directory(build, target)
    return (str(target), None) if finetune == "lora" else (None, str(target))


def _run_config(config: RunConfig, storage: Path):
    import ray.train

    return ray.train.RunConfig(
        storage_path=str(storage),
        name=RUN_NAME,
        checkpoint_config=ray.train.CheckpointConfig(num_to_keep=config.training.keep_checkpoints),
        failure_config=ray.train.FailureConfig(max_failures=0),
    )


def train_policy(
    config: RunConfig,
    method: str,
    dataset,
    *,
    base_model_dir: str,
    init_adapter: str | None,
    output_dir: str | Path,
    expected_rows: int | None = None,
    resume: bool = False,
    publish_dir: str | None = None,
    max_staleness: int | None = None,
    fail_after_step: int | None = None,
) -> TrainResult:
    """Train the student with `method` (sft, dpo, kto) on `dataset` and publish the result under `output_dir`.

    `dataset`: a ray.data.Dataset (streams unless materialized) or a list of SFTExample / KTOExample / DPOPair
    rows (or dicts with their columns). `init_adapter`: a LoRA adapter to continue (its frozen copy is the
    reference of DPO/KTO); None starts a new adapter on the base (whose adapter-disabled self is the reference).
    `resume`: continue from the last checkpoint in `<output_dir>/ray-train`; without it that directory is cleared.
    `publish_dir`: async mode, publish every `loop.publish_every_steps` steps (distributed/policy_versions.py);
    `max_staleness`: with it, student rows more versions behind the newest are discarded as read.
    `fail_after_step`: testing only, the worker raises after the checkpoint of that step (a crash to resume from).
    Ray must be initialized.
    """
    _stage(config, method)
    # Ray Train routes print() in workers to its logger, which also echoes the disassembly that datasets' hashing
    # captures from stdout; the driver's value reaches the workers.
    os.environ.setdefault("RAY_TRAIN_ENABLE_PRINT_PATCH", "0")
    out = Path(output_dir).resolve()
    finished = _prepare_output(out, resume)
    if finished is not None:
        return finished
    ray_dataset, streaming, rows = _as_ray_dataset(dataset, method)
    spec = learner_spec(
        config,
        method,
        base_model_dir=base_model_dir,
        init_adapter=init_adapter,
        streaming=streaming,
        rows=rows if rows is not None else expected_rows,
        publish_dir=publish_dir,
        max_staleness=max_staleness,
        fail_after_step=fail_after_step,
    )
    spec = dataclasses.replace(spec, tracking=learner_tracking(config, out), progress_file=str(out / PROGRESS_FILE))
    log.info(
        "training %s (%s, %s, %s) on %s data, max_steps=%s",
        method,
        spec.finetune,
        spec.precision,
        "streaming" if streaming else "materialized",
        rows if rows is not None else "unknown",
        spec.max_steps,
    )
    result = _trainer(config, spec, ray_dataset, out / "ray-train").fit()
    return _finish(result, out, spec)


def _prepare_output(out: Path, resume: bool) -> TrainResult | None:
    """The result of a finished run being resumed (nothing to train); otherwise clear what must not be resumed
    into: without `resume`, the earlier run's checkpoints and result; always, the progress file."""
    storage = out / "ray-train"
    if resume and (out / RESULT_FILE).is_file():
        log.info("%s already finished (%s): nothing to train", out, RESULT_FILE)
        return TrainResult(**json.loads((out / RESULT_FILE).read_text()))
    if not resume and (storage / RUN_NAME).exists():
        log.info("starting over: removing the checkpoints of an earlier run in %s", storage / RUN_NAME)
        shutil.rmtree(storage / RUN_NAME)
    if not resume:
        (out / RESULT_FILE).unlink(missing_ok=True)  # a crash of this run must not resume into the old result
    (out / PROGRESS_FILE).unlink(missing_ok=True)
    return None


def _trainer(config: RunConfig, spec: LearnerSpec, ray_dataset, storage: Path):
    """The Ray Train TorchTrainer of one run, its workers as resources.py decides, checkpoints under `storage`."""
    import ray.train
    from ray.train.torch import TorchTrainer

    return TorchTrainer(
        train_loop_per_worker,
        train_loop_config=as_fields(spec),
        scaling_config=ray.train.ScalingConfig(**resources.trainer_scaling(config.resources.trainer)),
        run_config=_run_config(config, storage),
        datasets={"train": ray_dataset},
        # A stream is split between the workers; materialized data goes whole to each (the trainer's sampler splits).
        # No shard locality for a stream: Ray Data's splitter would hold up to two shards per worker waiting for one
        # stored on the worker's node, so the learner would see each judged shard late (async pacing counts on it).
        dataset_config=ray.train.DataConfig(
            datasets_to_split="all" if spec.streaming else [], enable_shard_locality=False
        ),
    )


def _finish(result, out: Path, spec: LearnerSpec) -> TrainResult:
    checkpoint = result.checkpoint
    if checkpoint is None:
        raise RuntimeError(f"training in {out} ended without a checkpoint (see the worker log)")
    with checkpoint.as_directory() as local:  # a local path as is; a download from cloud storage
        checkpoint_dir = Path(local)
        if not (checkpoint_dir / FINAL).is_dir():
            raise RuntimeError(f"{checkpoint.path}: the last checkpoint holds no trained policy ({FINAL}/)")
        summary = json.loads((checkpoint_dir / SUMMARY).read_text())
        adapter_dir, model_dir = _publish_final(checkpoint_dir, out, spec.finetune)
    train_result = TrainResult(
        adapter_dir=adapter_dir,
        model_dir=model_dir,
        steps=int(summary["steps"]),
        metrics=summarize(summary["history"], int(summary["steps"])),
        checkpoint_dir=str(checkpoint.path),
        history=summary["history"],
        published=[list(p) for p in summary.get("published", [])],
    )
    (out / RESULT_FILE).write_text(json.dumps(dataclasses.asdict(train_result), indent=1))
    if train_result.steps == 0:
        log.warning("%s: no rows to train on; %s is the starting policy, unchanged", spec.method, out)
    shown = {k.removeprefix("train/"): readable(v) for k, v in train_result.metrics.items()}
    log.info("trained %s: %d steps, %s -> %s", spec.method, train_result.steps, shown, train_result.policy_dir)
    return train_result
