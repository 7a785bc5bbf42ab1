"""Shared test set-up: offline hub, the gpu marker, and paths to the optional ../shared data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# No test may reach the Hugging Face hub: a run that needs it must fail with a clear message, not hang.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ORCA_RAY_SHARED", REPO.parent / "shared"))
GSM8K_DIR = SHARED / "data" / "gsm8k"


def _has_cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:  # noqa: BLE001
        return False


def pytest_collection_modifyitems(config, items):
    if _has_cuda():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def gsm8k_dir() -> Path:
    if not (GSM8K_DIR / "train.jsonl").is_file():
        pytest.skip(f"GSM8K files not found under {GSM8K_DIR} (../shared is only on the project's own machines)")
    return GSM8K_DIR
