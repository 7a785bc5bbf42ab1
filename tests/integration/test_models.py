"""Model preparation: the embedded student and the tiny test model load in transformers (and vLLM, see
test_engine.py); a second prepare is instant; an unknown hub id fails at once when offline."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from orca_ray.errors import ModelError
from orca_ray.models import EMBEDDED_STUDENT, TINY_MODEL, prepare_model

pytestmark = pytest.mark.slow


def test_tiny_model_is_small_and_chat_ready():
    from transformers import AutoModelForCausalLM, AutoTokenizer

    directory = prepare_model(TINY_MODEL)
    info = json.loads((directory / "orca_ray_prepared.json").read_text())
    assert info["parameters"] < 5_000_000
    tokenizer = AutoTokenizer.from_pretrained(directory)
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "2+2?"}], tokenize=False, add_generation_prompt=True
    )
    assert prompt.endswith("<|im_start|>assistant\n")
    model = AutoModelForCausalLM.from_pretrained(directory)
    assert model.config.model_type == "llama"
    # Written in the dtype vLLM runs it in, so that an engine start logs no per-layer float32 -> bfloat16 warning.
    assert info["dtype"] == "bfloat16" and str(model.dtype) == "torch.bfloat16"


def test_embedded_student_prepares_once_then_returns_at_once():
    from transformers import AutoConfig

    first = prepare_model(EMBEDDED_STUDENT)
    started = time.perf_counter()
    second = subprocess.run(
        [sys.executable, "-m", "orca_ray.cli", "models", "prepare", EMBEDDED_STUDENT],
        capture_output=True,
        text=True,
        check=True,
    )
    elapsed = time.perf_counter() - started
    assert second.stdout.strip() == str(first)
    assert elapsed < 2.0, f"second prepare took {elapsed:.2f} s"
    config = AutoConfig.from_pretrained(first)
    assert (config.num_hidden_layers, config.hidden_size) == (30, 576)  # SmolLM2-135M
    assert (first / "model.safetensors").is_file()


def test_unknown_hub_model_fails_fast_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    started = time.perf_counter()
    with pytest.raises(ModelError, match="HF_HUB_OFFLINE is set"):
        prepare_model("nobody-here/no-such-model")
    assert time.perf_counter() - started < 10


def test_bad_local_paths_are_named(tmp_path):
    with pytest.raises(ModelError, match="needs a config.json"):
        prepare_model(str(tmp_path))
    with pytest.raises(ModelError, match="not a built-in name"):
        prepare_model(str(tmp_path / "missing" / "dir"))
