"""What each Ray Train worker runs: a TRL trainer (SFT, DPO or KTO) over its Ray Data shard, with LoRA through PEFT
or full fine-tuning, checkpoints reported to Ray Train, and (async mode) adapters published as it goes.

Built by `orca_ray.distributed.learner`, which decides every setting into a `LearnerSpec` on the driver; this
module only follows it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from transformers import PrinterCallback, TrainerCallback

from orca_ray.core.metrics import readable
from orca_ray.core.preferences import trl_record
from orca_ray.distributed.policy_versions import StalenessCheck, finish_publishing, publish_version
from orca_ray.distributed.resources import pin_process

log = logging.getLogger(__name__)

HF_CHECKPOINT = "checkpoint"  # the Hugging Face checkpoint inside a Ray Train checkpoint directory
FINAL = "final"  # the published model inside the last Ray Train checkpoint
SUMMARY = "orca_ray_train.json"  # steps, metrics and loss history, next to either
ADAPTER_ONLY = ["default"]  # TRL adds a frozen "ref" adapter when continuing one: never publish it


@dataclass(frozen=True)
class LearnerSpec:
    """Every decision of a training run, made on the driver from the config (see learner.learner_spec)."""

    method: str  # sft | dpo | kto
    base_model_dir: str
    init_adapter: str | None
    finetune: str  # lora | full
    lora_r: int
    lora_alpha: int
    lora_dropout: float
    lora_target_modules: str | tuple[str, ...]
    learning_rate: float
    epochs: float
    batch_size: int
    grad_accum: int
    max_length: int
    warmup_ratio: float
    max_steps: int  # -1: from epochs and the dataset length (materialized data only)
    lr_scheduler: str
    beta: float
    rpo_alpha: float | None
    desirable_weight: float
    undesirable_weight: float
    precision: str  # fp32 | bf16
    use_gpu: bool
    strategy: str  # ddp | fsdp
    gradient_checkpointing: bool
    checkpoint_every_steps: int  # 0: at the end only
    logging_steps: int
    seed: int
    torch_threads: int | None
    cpu_affinity: tuple[int, ...] | None
    system_prompt: str | None
    streaming: bool
    trust_remote_code: bool = False  # student.trust_remote_code: the same model code as the samplers run, or none
    publish_dir: str | None = None
    publish_every_steps: int = 0
    max_staleness: int | None = None  # async: student rows more versions behind the newest are discarded on read
    fail_after_step: int | None = None  # fault injection for resume tests: raise after this step's checkpoint
    tracking: dict | None = None  # TRL's report_to, run name and their environment (distributed/tracking.py)
    progress_file: str | None = None  # rank 0 rewrites it after every step: the driver's live display reads it


# ---------------------------------------------------------------- data


def _train_dataset(spec: LearnerSpec, world_size: int, staleness: StalenessCheck | None = None):
    """(dataset, empty?): the worker's rows in TRL's format, a streaming IterableDataset over the Ray Data shard, or
    (materialized data) an in-memory Dataset that the trainer shuffles, repeats for several epochs and skips into
    on resume. A stream is empty when it ends before its first row (e.g. every verdict was undecidable). With a
    `staleness` check (async), a student row too many versions behind is discarded as it is read."""
    import datasets
    import ray.train

    shard = ray.train.get_dataset_shard("train")
    rows = shard.iter_rows()
    if staleness is not None:
        rows = (row for row in rows if staleness.keep(row))
    if not spec.streaming:
        records = [trl_record(spec.method, row, spec.system_prompt) for row in rows]
        return datasets.Dataset.from_list(records), not records

    stream = OnePassStream(trl_record(spec.method, row, spec.system_prompt) for row in rows)
    # One generator shard per process: accelerate then hands process k its shard k (this worker's whole Ray Data
    # shard) instead of keeping only every k-th batch of it.
    empty = next(stream.rows(), None) is None  # waits for the first row; it is replayed to the trainer
    return datasets.IterableDataset.from_generator(stream.rows, gen_kwargs={"worker": list(range(world_size))}), empty


class OnePassStream:
    """A stream read once however often it is iterated. The trainers peek at the first rows before training, then
    iterate from the start, and loop again at the end of the data until max_steps: a second read of a Ray Data
    stream would re-run every upstream stage. So the first rows taken (up to `head_cap`) are replayed to each new
    pass, the source is never restarted, and once it is exhausted every later pass is empty (the trainer stops).

    >>> s = OnePassStream(iter(range(5)))
    >>> next(s.rows(0)), list(s.rows(0)), list(s.rows(0))
    (0, [0, 1, 2, 3, 4], [])
    """

    def __init__(self, source, head_cap: int = 1024):
        self._source = iter(source)
        self._head: list = []
        self._head_cap = head_cap
        self._exhausted = False
        self._id = uuid.uuid4().hex

    def __getstate__(self):
        # datasets fingerprints the generator function by pickling it: a stream is identified, never copied.
        return {"id": self._id}

    def rows(self, worker: int = 0):
        if self._exhausted:
            return
        yield from list(self._head)
        for row in self._source:
            if len(self._head) < self._head_cap:
                self._head.append(row)
            yield row
        self._exhausted = True
        self._head = []


# ---------------------------------------------------------------- model


def _load_model(spec: LearnerSpec):
    """(model, peft_config, ref_model) for the trainer.

    LoRA from scratch: TRL wraps the base with `peft_config`; its reference is the base with the adapter disabled.
    LoRA from an adapter: the adapter is loaded trainable and TRL keeps a frozen copy of it as the reference, so
    each iteration is tied to the policy it starts from (the previous iteration's, or SFT's), as in Orca-Math and
    iterative DPO. Full fine-tuning: the reference is a frozen copy of the starting weights."""
    import copy

    import torch
    from transformers import AutoModelForCausalLM

    lora = spec.finetune == "lora"
    dtype = torch.bfloat16 if spec.precision == "bf16" and lora else torch.float32  # full FT keeps fp32 masters
    model = AutoModelForCausalLM.from_pretrained(
        spec.base_model_dir, dtype=dtype, trust_remote_code=spec.trust_remote_code
    )
    peft_config = ref_model = None
    if spec.init_adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, spec.init_adapter, is_trainable=lora)
        if not lora:
            model = model.merge_and_unload()
    elif lora:
        from peft import LoraConfig

        targets = spec.lora_target_modules
        if targets == "all-linear":
            targets = linear_module_names(model)
        peft_config = LoraConfig(
            r=spec.lora_r,
            lora_alpha=spec.lora_alpha,
            lora_dropout=spec.lora_dropout,
            target_modules=targets if isinstance(targets, str) else list(targets),
            task_type="CAUSAL_LM",
        )
    if not lora and spec.method != "sft":
        ref_model = copy.deepcopy(model).eval().requires_grad_(False)
    return model, peft_config, ref_model


def linear_module_names(model) -> list[str]:
    """The short names of the model's linear layers but the output head: 'all-linear' spelled out, because PEFT
    writes it as full module paths, and vLLM matches LoRA targets by the short names (q_proj, ..., down_proj)."""
    import torch

    head = model.get_output_embeddings()
    names = {
        name.rsplit(".", 1)[-1] for name, m in model.named_modules() if isinstance(m, torch.nn.Linear) and m is not head
    }
    return sorted(names)


def _trainer_args(spec: LearnerSpec, output_dir: str):
    """The TRL config of the method, with every default that matters set deliberately (TRL's DPO/KTO defaults
    are bf16 and gradient checkpointing on, learning rate 1e-6)."""
    from trl import DPOConfig, KTOConfig, SFTConfig

    from orca_ray.distributed.tracking import trainer_tracking_args

    save_steps = spec.checkpoint_every_steps or (spec.max_steps if spec.max_steps > 0 else 10**9)
    common = dict(
        output_dir=output_dir,
        per_device_train_batch_size=spec.batch_size,
        gradient_accumulation_steps=spec.grad_accum,
        learning_rate=spec.learning_rate,
        num_train_epochs=spec.epochs,
        max_steps=spec.max_steps,
        lr_scheduler_type=spec.lr_scheduler,
        warmup_steps=spec.warmup_ratio,  # a float below 1 is a share of the steps
        logging_steps=spec.logging_steps,
        save_strategy="steps",  # also saves after the last step
        save_steps=save_steps,
        save_total_limit=1,  # local copies only: Ray Train keeps the reported ones
        **trainer_tracking_args(spec.tracking),  # report_to and run_name; sets the trackers' environment
        seed=spec.seed,
        data_seed=spec.seed,
        bf16=spec.precision == "bf16",
        fp16=False,
        use_cpu=not spec.use_gpu,
        gradient_checkpointing=spec.gradient_checkpointing,
        max_length=spec.max_length,
        include_num_input_tokens_seen="non_padding",
        ddp_find_unused_parameters=False,
        dataloader_num_workers=0,
        # No tqdm bar (its redraws fill learner.log; the driver shows the steps, from ProgressFile); the
        # PrinterCallback transformers adds instead is removed in train_loop_per_worker: StepMetrics logs each step.
        disable_tqdm=True,
    ) | _fsdp_args(spec)
    if spec.method == "sft":
        return SFTConfig(**common, completion_only_loss=True, packing=False)
    if spec.method == "dpo":
        # TRL 1.16 writes iterative RPO's NLL term as the 'sft' loss on the chosen completion, weighted rpo_alpha.
        losses = dict(loss_type=["sigmoid", "sft"], loss_weights=[1.0, spec.rpo_alpha]) if spec.rpo_alpha else {}
        return DPOConfig(**common, beta=spec.beta, **losses)
    if spec.method == "kto":
        return KTOConfig(
            **common,
            beta=spec.beta,
            desirable_weight=spec.desirable_weight,
            undesirable_weight=spec.undesirable_weight,
        )
    raise ValueError(f"unknown method {spec.method!r}")


def _fsdp_args(spec: LearnerSpec) -> dict:
    """With training.strategy fsdp, the arguments that replace DDP (FSDP does its own activation checkpointing)."""
    if spec.strategy != "fsdp":
        return {}
    # Unverified here (no GPUs): FSDP2 over the decoder layers, full state dicts so checkpoints load anywhere.
    return dict(
        fsdp=True,
        fsdp_config={
            "version": 2,
            "activation_checkpointing": spec.gradient_checkpointing,
            "state_dict_type": "FULL_STATE_DICT",
        },
        gradient_checkpointing=False,
    )


def _trainer_class(method: str):
    from trl import DPOTrainer, KTOTrainer, SFTTrainer

    score_labelled_positions_only()
    return {"sft": SFTTrainer, "dpo": DPOTrainer, "kto": KTOTrainer}[method]


def score_labelled_positions_only() -> bool:
    """Make TRL's fused LM head project only the positions that carry a label (the completion), on CPU as it does
    on CUDA; True when the patch is in place.

    TRL 1.16 scores every position, prompt and padding included, on devices without Triton, so that tile shapes
    stay fixed for compilers (Neuron); on CPU nothing is compiled, and the prompt is most of a short math example.
    Measured here (SmolLM2 LoRA SFT, batch 8, bf16, 12 steps): 43.5 s against 72.2 s, the same losses. TRL has no
    setting for it, so the one name that decides it in trl.trainer.utils is wrapped; the kernels keep their own.
    """
    from trl.trainer import utils as trl_utils

    decide = getattr(trl_utils, "_use_triton", None)
    if decide is None:  # TRL changed: train as TRL does (tests/unit/test_fused_lm_head.py fails to say so)
        return False
    if not getattr(decide, "orca_ray_compact", False):

        def compact(device) -> bool:
            return device.type == "cpu" or decide(device)

        compact.orca_ray_compact = True
        trl_utils._use_triton = compact
    return True


# ---------------------------------------------------------------- callbacks


def flat_metrics(logs: dict) -> dict[str, float]:
    """Trainer logs as flat `train/<name>` numbers ('rewards/margins' -> 'train/rewards_margins')."""
    out = {}
    for key, value in logs.items():
        # train_* keys are the trainer's run averages (runtime, tokens/s so far): StepMetrics measures per step
        if isinstance(value, bool) or not isinstance(value, int | float) or key.startswith(("eval_", "train_")):
            continue
        out[f"train/{key.replace('/', '_')}"] = float(value)
    return out


class ProgressFile(TrainerCallback):
    """Rank 0 rewrites `path` after every optimizer step ({step, max_steps, tokens_per_second, time}): what the
    driver's progress display shows of training (orca_ray/progress.py)."""

    def __init__(self, path: str):
        self.path = Path(path)
        self._began = (time.perf_counter(), 0)

    def on_train_begin(self, args, state, control, **kwargs):
        self._began = (time.perf_counter(), state.num_input_tokens_seen)
        self.on_step_end(args, state, control)

    def on_step_end(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        seconds = time.perf_counter() - self._began[0]
        tokens = state.num_input_tokens_seen - self._began[1]
        info = {"step": state.global_step, "max_steps": state.max_steps, "time": time.time()}
        info["tokens_per_second"] = round(tokens / seconds, 1) if seconds > 0 and tokens > 0 else None
        partial = self.path.with_name(self.path.name + ".partial")
        partial.parent.mkdir(parents=True, exist_ok=True)
        partial.write_text(json.dumps(info))
        os.replace(partial, self.path)


class StepMetrics(TrainerCallback):
    """Seconds per optimizer step and tokens per second, merged into every log line; keeps the history."""

    def __init__(self, history: list[dict] | None = None):
        self.history = list(history or [])
        self._last_time = None
        self._last_tokens = 0
        self._window: list[tuple[float, int]] = []

    def on_train_begin(self, args, state, control, **kwargs):
        self._last_time = time.perf_counter()
        self._last_tokens = state.num_input_tokens_seen

    def on_step_end(self, args, state, control, **kwargs):
        now = time.perf_counter()
        self._window.append((now - self._last_time, state.num_input_tokens_seen - self._last_tokens))
        self._last_time, self._last_tokens = now, state.num_input_tokens_seen

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or "loss" not in logs:
            return
        entry = {"step": state.global_step, **flat_metrics(logs)}
        if self._window:
            seconds = sum(s for s, _ in self._window)
            tokens = sum(t for _, t in self._window)
            entry["train/step_seconds"] = seconds / len(self._window)
            entry["train/tokens_per_second"] = tokens / seconds if seconds > 0 else 0.0
            self._window = []
        self.history.append(entry)
        if state.is_world_process_zero:
            shown = {k.removeprefix("train/"): readable(v) for k, v in entry.items() if k != "step"}
            log.info("step %d: %s", state.global_step, shown)

    def latest(self) -> dict[str, float]:
        return {k: v for k, v in self.history[-1].items() if k != "step"} if self.history else {}


def write_summary(directory: Path, steps: int, max_steps: int, history: list[dict], extra: dict | None = None) -> None:
    summary = {"steps": steps, "max_steps": max_steps, "history": history, **(extra or {})}
    (directory / SUMMARY).write_text(json.dumps(summary, indent=1))


class RayCheckpointReporter(TrainerCallback):
    """After each Hugging Face checkpoint (adapter or weights, optimizer, scheduler, RNG and trainer state), report
    it to Ray Train with the latest metrics, so a restarted run resumes exactly where it stopped."""

    def __init__(self, metrics: StepMetrics, fail_after_step: int | None = None):
        self.metrics = metrics
        self.fail_after_step = fail_after_step
        self.last_reported_step = -1

    def on_save(self, args, state, control, **kwargs):
        import ray.train

        source = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        metrics = {**self.metrics.latest(), "train/step": float(state.global_step)}
        with tempfile.TemporaryDirectory() as tmp:
            checkpoint = None
            if state.is_world_process_zero and source.is_dir():
                shutil.copytree(source, Path(tmp) / HF_CHECKPOINT)
                write_summary(Path(tmp), state.global_step, state.max_steps, self.metrics.history)
                checkpoint = ray.train.Checkpoint.from_directory(tmp)
            ray.train.report(metrics, checkpoint=checkpoint, checkpoint_dir_name=f"checkpoint-{state.global_step:06d}")
        self.last_reported_step = state.global_step
        if self.fail_after_step is not None and state.global_step >= self.fail_after_step:
            raise RuntimeError(f"fault injected after the checkpoint of step {state.global_step}")


def save_policy(model, tokenizer, directory: Path, finetune: str) -> Path:
    """The trained adapter (LoRA: adapter_config.json + safetensors, no 'ref' copy) or full model + tokenizer."""
    directory.mkdir(parents=True, exist_ok=True)
    if finetune == "lora":
        model.save_pretrained(directory, selected_adapters=ADAPTER_ONLY)
    else:
        model.save_pretrained(directory)
        tokenizer.save_pretrained(directory)
    return directory


class AdapterPublisher(TrainerCallback):
    """Async mode: every `every` optimizer steps, publish the current adapter as a new version that samplers pick
    up through `<publish_dir>/latest.json` (rank 0 writes; versions continue from what is already published)."""

    def __init__(self, publish_dir: str, every: int, tokenizer, finetune: str):
        self.publish_dir = Path(publish_dir)
        self.every = every
        self.tokenizer = tokenizer
        self.finetune = finetune
        self.published: list[tuple[int, int]] = []  # (version, step)

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if not state.is_world_process_zero or state.global_step % self.every:
            return
        self.publish(model, state.global_step)

    def publish(self, model, step: int) -> tuple[int, str]:
        version, target = publish_version(
            self.publish_dir, lambda build: save_policy(model, self.tokenizer, build, self.finetune), step
        )
        self.published.append((version, step))
        log.info("published policy version %d (step %d) to %s", version, step, target)
        return version, str(target)


# ---------------------------------------------------------------- the loop


def _restore(workdir: Path) -> tuple[str | None, list[dict], bool]:
    """(HF checkpoint to resume from, metric history so far, whether the run had already finished)."""
    import ray.train

    checkpoint = ray.train.get_checkpoint()
    if checkpoint is None:
        return None, [], False
    local = Path(checkpoint.to_directory(str(workdir / "restored")))
    summary = json.loads((local / SUMMARY).read_text()) if (local / SUMMARY).is_file() else {}
    if (local / FINAL).is_dir():
        return None, summary.get("history", []), True
    log.info("resuming from the checkpoint of step %s", summary.get("steps", "?"))
    return str(local / HF_CHECKPOINT), summary.get("history", []), False


def train_loop_per_worker(spec_fields: dict) -> None:
    """The Ray Train entry point (spec as a dict: plain data travels to workers)."""
    import ray.train
    from transformers import AutoTokenizer

    started = time.perf_counter()
    spec = LearnerSpec(**spec_fields)
    pin_process(spec.cpu_affinity, spec.torch_threads)  # benchmarks: a fixed core set, as the engines can have
    context = ray.train.get_context()
    rank, world_size = context.get_world_rank(), context.get_world_size()
    workdir = Path(tempfile.mkdtemp(prefix=f"orca-ray-learner-{rank}-"))
    staleness = None
    try:
        resume_from, history, finished = _restore(workdir)
        if finished:
            log.info("the run had already finished: nothing to train")
            return
        tokenizer = AutoTokenizer.from_pretrained(spec.base_model_dir, trust_remote_code=spec.trust_remote_code)
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        model, peft_config, ref_model = _load_model(spec)
        if spec.publish_dir and spec.max_staleness is not None:
            staleness = StalenessCheck(spec.publish_dir, spec.max_staleness, rank)
        train_dataset, empty = _train_dataset(spec, world_size, staleness)
        if empty:
            _report_untrained(spec, model, peft_config, tokenizer, workdir)
            return
        metrics = StepMetrics(history)
        reporter = RayCheckpointReporter(metrics, spec.fail_after_step)
        callbacks = [metrics, reporter] + ([ProgressFile(spec.progress_file)] if spec.progress_file else [])
        publisher = None
        if spec.publish_dir and spec.publish_every_steps:
            publisher = AdapterPublisher(spec.publish_dir, spec.publish_every_steps, tokenizer, spec.finetune)
            callbacks.append(publisher)
        kwargs = dict(peft_config=peft_config) if spec.finetune == "lora" else {}
        if ref_model is not None:
            kwargs["ref_model"] = ref_model
        trainer = _trainer_class(spec.method)(
            model=model,
            args=_trainer_args(spec, str(workdir / "hf")),
            train_dataset=train_dataset,
            processing_class=tokenizer,
            callbacks=callbacks,
            **kwargs,
        )
        trainer.remove_callback(PrinterCallback)  # it prints each step's logs as a dict: StepMetrics logs them once
        log.info(
            "rank %d: model, data and %s trainer ready in %.1f s", rank, spec.method, time.perf_counter() - started
        )
        trainer.train(resume_from_checkpoint=resume_from)
        _report_final(spec, trainer, tokenizer, metrics, publisher, workdir)
    finally:
        if staleness is not None:
            staleness.save()  # what this worker checked, also the rows it read after the last step
        shutil.rmtree(workdir, ignore_errors=True)


def _report_untrained(spec, model, peft_config, tokenizer, workdir: Path) -> None:
    """No rows at all: publish the starting policy unchanged (a new adapter is the identity) after 0 steps, so an
    iteration without training signal keeps its policy instead of failing."""
    import ray.train

    log.warning("no %s rows reached this worker: the policy is published untrained", spec.method)
    out = workdir / "final-report"
    checkpoint = None
    if ray.train.get_context().get_world_rank() == 0:
        if peft_config is not None:
            from peft import get_peft_model

            model = get_peft_model(model, peft_config)
        save_policy(model, tokenizer, out / FINAL, spec.finetune)
        write_summary(out, 0, spec.max_steps, [], {"published": [], "empty": True})
        checkpoint = ray.train.Checkpoint.from_directory(str(out))
        if spec.publish_dir:
            finish_publishing(spec.publish_dir)
    ray.train.report({"train/step": 0.0, "train/finished": 1.0}, checkpoint=checkpoint, checkpoint_dir_name="final-0")


def _report_final(spec, trainer, tokenizer, metrics, publisher, workdir: Path) -> None:
    """Report the trained policy as the run's last checkpoint (every rank reports; rank 0 attaches the files)."""
    import ray.train

    state = trainer.state
    final_metrics = {**metrics.latest(), "train/step": float(state.global_step), "train/finished": 1.0}
    if publisher is not None and state.is_world_process_zero:
        if state.global_step % publisher.every:
            publisher.publish(trainer.model, state.global_step)  # the last steps are published too
        finish_publishing(publisher.publish_dir)  # samplers waiting for their turn go on
    out = workdir / "final-report"
    checkpoint = None
    if spec.strategy == "fsdp":
        # Unverified here: the weights are sharded, so every rank joins the gather and rank 0 writes them.
        trainer.save_model(str(out / FINAL))
    elif state.is_world_process_zero:
        model = trainer.accelerator.unwrap_model(trainer.model)
        save_policy(model, tokenizer, out / FINAL, spec.finetune)
    if state.is_world_process_zero:
        extra = {"published": publisher.published if publisher else []}
        write_summary(out, state.global_step, state.max_steps, metrics.history, extra)
        checkpoint = ray.train.Checkpoint.from_directory(str(out))
    ray.train.report(final_metrics, checkpoint=checkpoint, checkpoint_dir_name=f"final-{state.global_step:06d}")


def as_fields(spec: LearnerSpec) -> dict:
    return dataclasses.asdict(spec)


def steps_for(rows: int, batch_size: int, grad_accum: int, workers: int, epochs: float = 1.0) -> int:
    """Optimizer steps for `rows` examples spread over `workers` (each step takes batch x accumulation rows per
    worker); at least one.

    >>> steps_for(100, 4, 2, 1), steps_for(100, 4, 2, 2), steps_for(3, 8, 1, 1, epochs=2)
    (13, 7, 2)
    """
    per_epoch = math.ceil(rows / (batch_size * grad_accum * workers))
    return max(1, math.ceil(per_epoch * epochs))
