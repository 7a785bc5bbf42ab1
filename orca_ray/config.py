"""The typed run config: one YAML file describes a whole run, from a laptop CPU to a GPU cluster.

Defaults live here, next to each field's help text. A YAML file overlays them, and `--set a.b=c`
overrides come last. Every section is frozen after load; an unknown key, a wrong type or a missing
value fails with the file, the key path and what was expected.

    >>> cfg = load_config(None, ["sampling.n=2"])
    >>> cfg.sampling.n
    2
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from orca_ray.errors import ConfigError


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


def absolute_path(path: str | None) -> str | None:
    """A local path made absolute against the working directory it was given in, once, at load: Ray's workers
    run elsewhere (Ray Train's in a directory of its own), so a relative path would name another place there.
    URIs (s3://, gs://, ...) are left as they are."""
    if not path or "://" in path:
        return path
    return os.path.abspath(os.path.expanduser(path))


# ---------------------------------------------------------------- models


class StudentConfig(Section):
    model: str = Field(
        "smollm2-135m-instruct",
        description="Student model: 'smollm2-135m-instruct' (embedded), 'tiny-llama' (tests), a local directory "
        "or a Hugging Face hub id.",
    )
    adapter: str | None = Field(None, description="A LoRA adapter directory to start from (optional).")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto",
        description="Inference dtype for vLLM; 'auto' lets vLLM choose (bf16 on GPU and on CPUs with native bf16), "
        "except on a CPU without native bf16 (no AVX512-BF16, AMX or Arm BF16), where it means float32.",
    )
    max_model_len: int = Field(1024, gt=0, description="Context length given to vLLM (prompt + completion).")
    gpu_memory_utilization: float = Field(
        0.3,
        gt=0,
        le=1,
        description="Share of accelerator memory vLLM may take. On CPU it is a share of host RAM: keep it low.",
    )
    max_lora_rank: int = Field(64, gt=0, description="Largest LoRA rank the samplers accept.")
    enforce_eager: bool = Field(
        False,
        description="Skip vLLM's torch.compile warm-up (vLLM's own enforce_eager). For short runs: on 2 CPU cores "
        "the compile of a model without LoRA (full fine-tuning) costs about 12 s at every engine start.",
    )
    trust_remote_code: bool = Field(False, description="Run model code from the hub. Off unless you trust it.")
    system_prompt: str | None = Field(
        None, description="A system message for the student's chat template (None: the template's default)."
    )

    @field_validator("adapter")
    @classmethod
    def _absolute_adapter(cls, path: str | None) -> str | None:
        return absolute_path(path)


class TeacherConfig(Section):
    backend: Literal["symbolic", "vllm", "openai"] = Field(
        "symbolic",
        description="'symbolic': the built-in exact teacher (offline); 'vllm': a model served by vLLM engines in the "
        "cluster; 'openai': an OpenAI-compatible HTTP endpoint.",
    )
    model: str | None = Field(
        None, description="vllm: name or path of the teacher model; openai: the served model name."
    )
    base_url: str | None = Field(None, description="openai: the endpoint, e.g. http://host:8000/v1.")
    api_key_env: str = Field(
        "OPENAI_API_KEY", description="openai: the environment variable holding the key (never the key itself)."
    )
    timeout_s: float = Field(60.0, gt=0, description="openai: seconds before one request is abandoned.")
    max_retries: int = Field(3, ge=0, description="openai: retries with exponential backoff on transient errors.")
    max_concurrency: int = Field(8, gt=0, description="openai: requests in flight at once.")
    temperature: float = Field(0.0, ge=0, description="Teacher sampling temperature (solutions and judging).")
    max_tokens: int = Field(1024, gt=0, description="Longest teacher reply, in tokens.")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field("auto", description="vllm: engine dtype.")
    max_model_len: int = Field(4096, gt=0, description="vllm: context length.")
    gpu_memory_utilization: float | None = Field(
        None,
        gt=0,
        le=1,
        description="vllm: share of accelerator memory the teacher's engine takes. None: 0.9 on GPU "
        "(resources.teacher.gpus_per_actor > 0) and 0.15 on CPU, where it is a share of host RAM that must fit beside "
        "the student's engine (student.gpu_memory_utilization, 0.3).",
    )
    enforce_eager: bool = Field(False, description="vllm: skip vLLM's torch.compile warm-up (see student).")
    trust_remote_code: bool = Field(False, description="vllm: run model code from the hub.")

    @model_validator(mode="after")
    def _backend_needs(self) -> TeacherConfig:
        if self.backend in ("vllm", "openai") and not self.model:
            raise ValueError(f"teacher.model is required when teacher.backend is '{self.backend}'")
        if self.backend == "openai" and not self.base_url:
            raise ValueError("teacher.base_url is required when teacher.backend is 'openai'")
        return self


# ---------------------------------------------------------------- data


class DataSource(Section):
    kind: Literal["symbolic", "gsm8k", "orca-math", "jsonl", "parquet", "csv", "hub"] = Field(
        ..., description="Where problems come from."
    )
    path: str | None = Field(
        None,
        description="File or directory (gsm8k, orca-math, jsonl, parquet, csv); a hub id for 'hub'. "
        "'${ORCA_RAY_SHARED}' and '~' are expanded.",
    )
    split: str | None = Field(None, description="hub: the split to read (e.g. 'test').")
    columns: dict[str, str] = Field(
        default_factory=dict,
        description="Column mapping {our_name: their_name}; ours are id, question, answer, solution.",
    )
    limit: int | None = Field(None, gt=0, description="Read at most this many rows.")
    n: int = Field(100, gt=0, description="symbolic: number of problems to generate.")
    seed: int = Field(0, description="symbolic: generator seed (held-out sets use another seed).")
    families: list[str] | None = Field(None, description="symbolic: families to draw from (None: all).")
    min_steps: int = Field(1, ge=1, le=6, description="symbolic: fewest reasoning steps.")
    max_steps: int = Field(6, ge=1, le=6, description="symbolic: most reasoning steps.")
    max_number: int | None = Field(
        None,
        ge=10,
        description="symbolic: keep only problems whose question and solution write no number above this (None: "
        "any). Small numbers make the arithmetic, not the reasoning, easier: a 135M student's errors are mostly "
        "arithmetic slips.",
    )
    step_weights: list[int] | None = Field(
        None,
        description="symbolic: relative weights (whole numbers) of the step counts min_steps..max_steps, one each "
        "(None: uniform); e.g. [1, 2] with steps 1 to 2 makes two thirds of the problems 2-step (mean 1.67).",
    )

    @model_validator(mode="after")
    def _path_when_needed(self) -> DataSource:
        if self.kind not in ("symbolic",) and not self.path:
            raise ValueError(f"data source of kind '{self.kind}' needs a path")
        if self.min_steps > self.max_steps:
            raise ValueError("min_steps must not exceed max_steps")
        if self.step_weights is not None and len(self.step_weights) != self.max_steps - self.min_steps + 1:
            raise ValueError(
                f"step_weights needs {self.max_steps - self.min_steps + 1} weights (steps {self.min_steps} to "
                f"{self.max_steps}), got {len(self.step_weights)}"
            )
        return self


class DataConfig(Section):
    train: list[DataSource] = Field(
        default_factory=lambda: [DataSource(kind="symbolic", n=200, seed=1)],
        description="Problem sources for training (concatenated).",
    )
    eval: dict[str, DataSource] = Field(
        default_factory=lambda: {"heldout": DataSource(kind="symbolic", n=150, seed=10_001)},
        description="Named evaluation sets, evaluated after every stage.",
    )
    on_bad_row: Literal["error", "quarantine"] = Field(
        "quarantine",
        description="A malformed row: stop with an error naming file and line, or set it aside in a quarantine file.",
    )
    decontaminate: bool = Field(True, description="Remove training problems that overlap the evaluation sets.")
    decontamination_ngram: int = Field(8, gt=0, description="n-gram length (words) for decontamination.")
    decontamination_threshold: float = Field(
        0.5, gt=0, le=1, description="Share of a problem's n-grams found in an evaluation set that removes it."
    )


class SynthesisConfig(Section):
    enabled: bool = Field(False, description="Expand the training problems with the AutoGen agent flows first.")
    seeds: int | None = Field(None, gt=0, description="Use at most this many seed problems (None: all).")
    agent_seeds: int | None = Field(
        None,
        ge=0,
        description="Run the AutoGen agents (Ask Me Anything, Suggester-Editor) on the first N seeds only (None: all); "
        "the symbolic transform (symbolic_harder_rounds) still runs on every seed. An LLM conversation costs seconds "
        "on a laptop CPU, the exact transform microseconds.",
    )
    ask_me_anything_per_seed: int = Field(3, ge=0, description="New problems Ask Me Anything writes from each seed.")
    suggester_editor_rounds: int = Field(2, ge=0, description="Rounds of Suggester -> Editor per seed.")
    answers_per_problem: int = Field(
        3, gt=0, description="Teacher solutions per new problem; a problem is kept when they agree."
    )
    max_solution_chars: int = Field(1800, gt=0, description="Drop problems whose solution is longer (Orca-Math).")
    near_duplicate_threshold: float = Field(
        0.9, gt=0, le=1, description="Jaccard similarity of word shingles above which a problem is a duplicate."
    )
    max_concurrent_conversations: int = Field(4, gt=0, description="Agent conversations in flight at once.")
    shard_size: int = Field(16, gt=0, description="Seeds per output shard (the unit of resume).")
    agreement: Literal["majority", "all"] = Field(
        "majority",
        description="Self-consistency: a strict majority of the answers_per_problem solutions must agree, or all.",
    )
    agent_temperature: float = Field(0.7, ge=0, description="Sampling temperature of the agents' turns.")
    agent_max_tokens: int = Field(512, gt=0, description="Longest agent turn, in tokens.")
    answer_temperature: float = Field(
        0.7, gt=0, description="Temperature of the teacher's solutions (above 0, so that they can disagree)."
    )
    symbolic_harder_rounds: int = Field(
        1,
        ge=0,
        description="Seeds from the symbolic generator also get its exact 'make it harder' transform, applied this "
        "many times: a problem with a known answer that the symbolic teacher verifies (0: off).",
    )


# ---------------------------------------------------------------- practice


class SamplingConfig(Section):
    n: int = Field(4, gt=0, description="Student attempts per problem (Orca-Math: 4).")
    temperature: float = Field(0.7, ge=0, description="Sampling temperature (Orca-Math: 0.7).")
    top_p: float = Field(0.95, gt=0, le=1, description="Nucleus sampling (Orca-Math: 0.95).")
    max_tokens: int = Field(512, gt=0, description="Longest student answer, in tokens.")
    batch_size: int = Field(16, gt=0, description="Problems per batch sent to a sampler engine.")
    seed: int = Field(0, description="Sampling seed.")


class JudgeConfig(Section):
    llm_tier: bool = Field(
        True, description="Ask the teacher LLM about answers the rules cannot decide (LLM teachers only)."
    )
    audit_share: float = Field(
        0.0, ge=0, le=1, description="Share of rule-decided rows also sent to the LLM tier, to audit the rules."
    )
    use_math_verify: bool = Field(True, description="Use math-verify for symbolic and LaTeX equivalence.")
    max_response_chars: int = Field(
        20_000, gt=0, description="Responses are clipped to this many characters before parsing."
    )
    batch_size: int = Field(64, gt=0, description="Rows per judge batch.")


# ---------------------------------------------------------------- training


class LoraConfig(Section):
    r: int = Field(16, gt=0, description="LoRA rank.")
    alpha: int = Field(32, gt=0, description="LoRA alpha.")
    dropout: float = Field(0.0, ge=0, lt=1, description="LoRA dropout.")
    target_modules: list[str] | Literal["all-linear"] = Field(
        "all-linear", description="Modules that get adapters ('all-linear' or a list of names)."
    )


class SFTStageConfig(Section):
    enabled: bool = Field(True, description="Run SFT on the teacher's solutions before practice.")
    learning_rate: float = Field(3e-4, gt=0, description="Peak learning rate.")
    epochs: float = Field(1.0, gt=0, description="Passes over the SFT data.")
    batch_size: int = Field(8, gt=0, description="Per-worker batch size.")
    grad_accum: int = Field(1, gt=0, description="Gradient accumulation steps.")
    max_length: int = Field(384, gt=0, description="Longest tokenized example (prompt + solution).")
    warmup_ratio: float = Field(0.05, ge=0, lt=1, description="Share of steps for learning-rate warm-up.")
    max_steps: int | None = Field(None, gt=0, description="Stop after this many optimizer steps (None: epochs).")
    max_problems: int | None = Field(
        None,
        gt=0,
        description="Demonstrate on the first N training problems only (None: all); the iterations then practise "
        "on the rest, so each round's feedback is on problems the student has not seen solved. Ignored when "
        "training.sft.enabled is false: nothing is set aside for a stage that does not run.",
    )


class PreferenceStageConfig(Section):
    method: Literal["kto", "dpo"] = Field("kto", description="Preference optimization method.")
    learning_rate: float = Field(5e-5, gt=0, description="Peak learning rate.")
    beta: float = Field(0.1, gt=0, description="KTO/DPO beta (strength of the tie to the reference).")
    epochs: float = Field(1.0, gt=0, description="Passes over one iteration's preference data.")
    batch_size: int = Field(8, gt=0, description="Per-worker batch size.")
    grad_accum: int = Field(1, gt=0, description="Gradient accumulation steps.")
    max_length: int = Field(512, gt=0, description="Longest tokenized example (prompt + completion).")
    warmup_ratio: float = Field(0.05, ge=0, lt=1, description="Share of steps for learning-rate warm-up.")
    max_steps: int | None = Field(None, gt=0, description="Stop after this many optimizer steps (None: epochs).")
    rpo_alpha: float | None = Field(
        None, ge=0, description="DPO: weight of the NLL term of iterative RPO (None: plain DPO)."
    )
    max_pairs_per_problem: int = Field(4, gt=0, description="DPO: cap on chosen x rejected pairs per problem.")
    borrow_negatives: bool = Field(
        False, description="Where every attempt is right, borrow a wrong attempt from another problem."
    )
    desirable_weight: float = Field(1.0, gt=0, description="KTO: weight of positive examples.")
    undesirable_weight: float = Field(1.0, gt=0, description="KTO: weight of negative examples.")
    unanswered_as_negative: bool = Field(
        True,
        description="Attempts cut at sampling.max_tokens with no answer at all (undecidable to the judge) become "
        "negatives: they teach the student to finish within its budget.",
    )
    include_teacher_positive: bool = Field(
        True,
        description="Count the teacher's solution as a positive even where an attempt is right (where every "
        "attempt is wrong it is always the only positive).",
    )


class TrainingConfig(Section):
    finetune: Literal["lora", "full"] = Field("lora", description="Train a LoRA adapter or all weights.")
    lora: LoraConfig = Field(default_factory=LoraConfig, description="LoRA settings.")
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto",
        description="'auto': bf16 on GPU and on CPUs with native bf16 (AVX512-BF16, AMX, Arm BF16), else fp32. LoRA "
        "trains a bf16 base with fp32 adapters; full fine-tuning keeps fp32 weights under bf16 autocast.",
    )
    strategy: Literal["ddp", "fsdp"] = Field("ddp", description="Data parallel strategy with several workers.")
    gradient_checkpointing: bool = Field(False, description="Trade compute for memory (GPU, large models).")
    checkpoint_every_steps: int = Field(
        0, ge=0, description="Save a resumable checkpoint every N optimizer steps (0: at the end only)."
    )
    seed: int = Field(0, description="Training seed.")
    lr_scheduler: Literal["cosine", "linear", "constant", "constant_with_warmup"] = Field(
        "cosine", description="Learning-rate schedule after warm-up."
    )
    logging_steps: int = Field(1, gt=0, description="Log loss, rewards, step time and tokens/s every N steps.")
    keep_checkpoints: int = Field(
        2, gt=0, description="Resumable checkpoints Ray Train keeps in <out>/ray-train (the newest ones)."
    )
    sft: SFTStageConfig = Field(default_factory=SFTStageConfig, description="The SFT stage.")
    preference: PreferenceStageConfig = Field(
        default_factory=PreferenceStageConfig, description="The preference stage of each iteration."
    )


class LoopConfig(Section):
    iterations: int = Field(2, ge=0, description="Rounds of practice and feedback after SFT.")
    mode: Literal["barrier", "stream", "async"] = Field(
        "stream",
        description="'barrier': each stage finishes before the next; 'stream': sampler -> judge -> learner overlap "
        "within an iteration; 'async': the learner publishes adapters while samplers run.",
    )
    problems_per_iteration: int | None = Field(
        None,
        gt=0,
        description="Practice on this many training problems per iteration, a different slice each time "
        "(None: all of them every iteration).",
    )
    publish_every_steps: int = Field(4, gt=0, description="async: publish a new adapter every K optimizer steps.")
    max_staleness: int = Field(
        1, ge=0, description="async: samples written by a policy older than this many versions are discarded."
    )


class EvalConfig(Section):
    sets: list[str] | None = Field(None, description="Names from data.eval to evaluate (None: all).")
    max_tokens: int = Field(256, gt=0, description="Longest answer at evaluation (greedy).")
    limit: int | None = Field(None, gt=0, description="Evaluate at most this many problems per set.")
    after_every_stage: bool = Field(True, description="Evaluate base, SFT and every iteration.")


# ---------------------------------------------------------------- resources


class EngineResources(Section):
    actors: int = Field(1, gt=0, description="Engine actors (data parallel replicas).")
    gpus_per_actor: float = Field(0, ge=0, description="GPUs each actor holds (= tensor_parallel_size on GPU).")
    cpus_per_actor: float = Field(0.5, gt=0, description="Logical CPUs each actor holds.")
    tensor_parallel_size: int = Field(1, gt=0, description="GPUs one engine spans (tensor parallel).")
    shards_in_flight: int = Field(
        4,
        gt=0,
        description="Shards sent to each engine at once: its batch holds up to shards_in_flight x "
        "sampling.batch_size problems x sampling.n samples, and a finished shard's place is refilled while the "
        "others generate (vLLM makes more tokens per second with more sequences per step, on CPU as on GPU).",
    )
    cpu_affinity: list[int] | None = Field(
        None, description="CPU engines: pin the engine to these cores (benchmarks; None: let the OS schedule)."
    )
    reserved_cpus: int | None = Field(
        None,
        ge=0,
        description="CPU engines: cores vLLM keeps off the model for its scheduler (VLLM_CPU_NUM_OF_RESERVED_CPU). "
        "None: 0 on machines of at most 4 cores (a LoRA adapter runs 1.65x faster on both cores of 2), else "
        "vLLM's default of 1. A reserved core also takes Ray's own processes off the model's cores.",
    )
    node_resource: str | None = Field(
        None,
        description="A custom resource (e.g. sampler_node, teacher_node) the nodes meant for these engines carry: "
        "they are placed only there (each asks for a sliver of it, so a node declaring 1 holds any number). "
        "None: any node. The cluster files (cluster/) give their worker groups the same names.",
    )


class TrainerResources(Section):
    workers: int = Field(1, gt=0, description="Ray Train workers (data parallel).")
    gpus_per_worker: float = Field(0, ge=0, description="GPUs per training worker.")
    cpus_per_worker: float = Field(0.5, gt=0, description="Logical CPUs per training worker.")
    cpu_affinity: list[int] | None = Field(
        None, description="CPU training: pin the workers to these cores (benchmarks; None: let the OS schedule)."
    )
    node_resource: str | None = Field(
        None,
        description="A custom resource (e.g. learner_node) the nodes meant for the training workers carry: they "
        "are placed only there (each asks for a sliver of it). None: any node. Those nodes write checkpoints and "
        "adapters under output_dir, so they must see it (shared storage).",
    )


class ResourcesConfig(Section):
    num_cpus: int | None = Field(
        None,
        gt=0,
        description="Logical CPUs of a local Ray (no RAY_ADDRESS). None: max(8, 4 x cores), because fractional "
        "stages must share a small machine. Ignored when attaching to a cluster.",
    )
    dashboard: bool = Field(True, description="Start the Ray dashboard (local Ray only; bound to 127.0.0.1).")
    sampler: EngineResources = Field(default_factory=EngineResources, description="Student sampler engines.")
    teacher: EngineResources = Field(default_factory=EngineResources, description="Teacher engines (vllm backend).")
    judge_cpus: float = Field(0.25, gt=0, description="Logical CPUs per rule-judge task.")
    judge_node_resource: str | None = Field(
        None,
        description="A custom resource (e.g. head_node) of the nodes that run a round's Ray Data tasks: the judge, "
        "and the sampler's and teacher's tasks that forward shards to the engines. They write the round's files, "
        "so such a node must see output_dir. None: any node.",
    )
    adapter_transport: Literal["auto", "shared_path", "object_store"] = Field(
        "auto",
        description="How a trained LoRA adapter reaches the sampler engines: shared_path (they load it from "
        "output_dir, which every sampler node must see: NFS, EFS, a ReadWriteMany volume), object_store (its files "
        "travel through Ray's object store and are written once into each sampler node's adapter_cache_dir), or "
        "auto (shared_path when every sampler engine sees a marker file written in output_dir at start, else "
        "object_store). Cloud URIs (s3://, gs://) are copied by each engine either way.",
    )
    adapter_cache_dir: str | None = Field(
        None,
        description="object_store transport: the node-local directory adapters are written into on a sampler's "
        "node. None: $ORCA_RAY_HOME/adapters (~/.cache/orca-ray/adapters) on that node.",
    )
    trainer: TrainerResources = Field(default_factory=TrainerResources, description="The Ray Train learner.")
    torch_threads: int | None = Field(
        1,
        gt=0,
        description="torch threads in each actor and worker (Ray does not enforce fractional CPUs); at most the "
        "number of cores in a stage's cpu_affinity, where one is set.",
    )


# ---------------------------------------------------------------- tracking


class TrackingConfig(Section):
    tensorboard: bool = Field(
        True,
        description="TensorBoard event files: the learner's per-step logs (TRL's report_to) under each training "
        "stage's directory (sft/tensorboard, iter-k/train/tensorboard) and the driver's per-stage metrics under "
        "<run>/tensorboard; `tensorboard --logdir runs/<run-id>` shows them all.",
    )
    mlflow: bool = Field(
        False,
        description="MLflow: one run for the driver's per-stage metrics (named <run-id>) and one per training stage "
        "(<run-id>/<stage>: TRL's report_to), all tagged orca_ray.run_id.",
    )
    mlflow_tracking_uri: str | None = Field(
        None,
        description="MLflow tracking URI (a server, databricks, ...). None: a local file store at "
        "<output_dir>/mlruns (`mlflow ui --backend-store-uri runs/mlruns`).",
    )
    mlflow_experiment: str = Field("orca-ray", description="MLflow experiment of the runs.")
    wandb: bool = Field(
        False, description="Weights & Biases (pip install wandb): runs grouped by the run id, as for MLflow."
    )
    wandb_project: str = Field("orca-ray", description="W&B project.")
    wandb_offline: bool = Field(
        True,
        description="W&B offline mode: runs are written under the run directory (wandb/ folders) and uploaded later "
        "with `wandb sync`; "
        "False logs online (needs WANDB_API_KEY).",
    )


# ---------------------------------------------------------------- the run


class RunConfig(Section):
    name: str = Field("orca-ray", description="Run name; the run id is <name>-<timestamp> unless run_id is set.")
    run_id: str | None = Field(None, description="Fixed run id (resume uses it).")
    output_dir: str = Field(
        "runs", description="Runs are written under <output_dir>/<run_id>/ (a relative path is made absolute at load)."
    )
    seed: int = Field(0, description="Global seed.")
    student: StudentConfig = Field(default_factory=StudentConfig, description="The model being taught.")
    teacher: TeacherConfig = Field(default_factory=TeacherConfig, description="Who writes and judges solutions.")
    data: DataConfig = Field(default_factory=DataConfig, description="Problem sources.")
    synthesis: SynthesisConfig = Field(default_factory=SynthesisConfig, description="Agent-Instruct expansion.")
    sampling: SamplingConfig = Field(default_factory=SamplingConfig, description="Student practice.")
    judge: JudgeConfig = Field(default_factory=JudgeConfig, description="Grading student attempts.")
    training: TrainingConfig = Field(default_factory=TrainingConfig, description="SFT and preference learning.")
    loop: LoopConfig = Field(default_factory=LoopConfig, description="Iterations of practice and feedback.")
    eval: EvalConfig = Field(default_factory=EvalConfig, description="Evaluation.")
    resources: ResourcesConfig = Field(default_factory=ResourcesConfig, description="Scheduling.")
    tracking: TrackingConfig = Field(
        default_factory=TrackingConfig, description="Experiment tracking: TensorBoard, MLflow, W&B."
    )

    @field_validator("output_dir")
    @classmethod
    def _absolute_output_dir(cls, path: str) -> str:
        return absolute_path(path)

    @model_validator(mode="after")
    def _adapters_fit_the_samplers(self) -> RunConfig:
        # Checked here, not when vLLM refuses the first trained adapter after SFT has run.
        if self.training.finetune == "lora" and self.training.lora.r > self.student.max_lora_rank:
            raise ValueError(
                f"training.lora.r ({self.training.lora.r}) is larger than student.max_lora_rank "
                f"({self.student.max_lora_rank}): the samplers could not load the trained adapter"
            )
        return self


# ---------------------------------------------------------------- loading


def _parse_override(item: str) -> tuple[list[str], Any]:
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {item!r}: expected key.path=value")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as err:
        raise ConfigError(f"--set {item!r}: the value is not valid YAML ({err})") from err
    return key.strip().split("."), value


def _apply_override(tree: dict, defaults: dict, path: list[str], value: Any, item: str) -> None:
    """Set one `key.path=value`; a section the YAML left out starts as a copy of its defaults."""
    node: Any = tree
    default: Any = defaults
    for depth, part in enumerate(path[:-1]):
        if isinstance(node, list):
            index = _list_index(node, part, path[: depth + 1], item)
            node = node[index]
            default = None
        else:
            default = default.get(part) if isinstance(default, dict) else None
            if node.get(part) is None:
                node[part] = copy.deepcopy(default) if isinstance(default, dict | list) else {}
            node = node[part]
        if not isinstance(node, dict | list):
            raise ConfigError(f"--set {item!r}: '{'.'.join(path[: depth + 1])}' is not a section")
    last = path[-1]
    if isinstance(node, list):
        node[_list_index(node, last, path, item)] = value
    else:
        node[last] = value


def _list_index(node: list, part: str, path: list[str], item: str) -> int:
    if not part.isdigit() or int(part) >= len(node):
        raise ConfigError(f"--set {item!r}: '{'.'.join(path)}' needs an index below {len(node)}")
    return int(part)


def _format_errors(err: ValidationError, source: str) -> str:
    lines = [f"{source}: invalid run config"]
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(top level)"
        if e["type"] == "extra_forbidden":
            lines.append(f"  {loc}: unknown key")
        elif e["type"] == "missing":
            lines.append(f"  {loc}: missing value (required)")
        else:
            got = e.get("input")
            shown = "" if isinstance(got, dict) else f" (got {got!r})"
            lines.append(f"  {loc}: {e['msg']}{shown}")
    return "\n".join(lines)


def load_config(path: str | Path | None, overrides: list[str] | tuple[str, ...] = ()) -> RunConfig:
    """Load a run config: defaults, then the YAML file (if any), then `key.path=value` overrides."""
    source = str(path) if path else "<defaults>"
    tree: dict = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"{p}: config file not found")
        try:
            loaded = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"{p}: not valid YAML: {err}") from err
        if not isinstance(loaded, dict):
            raise ConfigError(f"{p}: the top level must be a mapping of sections, got {type(loaded).__name__}")
        tree = loaded
    if overrides:
        defaults = RunConfig().model_dump(mode="python")
        for item in overrides:
            keys, value = _parse_override(item)
            _apply_override(tree, defaults, keys, value, item)
        source += " with --set " + " ".join(overrides)
    try:
        return RunConfig.model_validate(tree)
    except ValidationError as err:
        raise ConfigError(_format_errors(err, source)) from None


def dump_config(config: RunConfig) -> str:
    """The resolved config as YAML (what `orca-ray config show` prints and runs record)."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)


def describe_fields(model: type[BaseModel] = RunConfig, prefix: str = "") -> list[tuple[str, str, str]]:
    """(key path, default, help) for every field: the README's config reference is built from this."""
    rows = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            rows.append((key, "", field.description or ""))
            rows.extend(describe_fields(annotation, key + "."))
        else:
            default = field.get_default(call_default_factory=True)
            if isinstance(default, BaseModel):
                default = default.model_dump(mode="json")
            elif isinstance(default, list | dict):
                default = _jsonable(default)
            rows.append((key, repr(default) if default is not None else "None", field.description or ""))
    return rows


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_defaults=True)
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value
