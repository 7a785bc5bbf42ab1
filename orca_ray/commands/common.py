"""What several commands share: naming problem files and evaluation sets on the command line."""

from __future__ import annotations

import json
import os
from pathlib import Path

from orca_ray.config import DataSource, RunConfig
from orca_ray.errors import DataError

GSM8K_TEST = "gsm8k-test"


def gsm8k_test_source() -> DataSource:
    """GSM8K's test split: a local copy when one is known ($ORCA_RAY_GSM8K_DIR, ../shared/data/gsm8k), else the
    hub id openai/gsm8k (which fails at once, with a clear message, when offline)."""
    candidates = [
        os.environ.get("ORCA_RAY_GSM8K_DIR"),
        os.environ.get("ORCA_RAY_SHARED") and str(Path(os.environ["ORCA_RAY_SHARED"]) / "data" / "gsm8k"),
        "../shared/data/gsm8k",
    ]
    for directory in filter(None, candidates):
        test = Path(directory).expanduser() / "test.jsonl"
        if test.is_file():
            return DataSource(kind="gsm8k", path=str(test))
    return DataSource(kind="hub", path="openai/gsm8k", split="test")


def source_for_file(path: str, limit: int | None = None) -> DataSource:
    """A data source for a problems file, by its extension (JSONL in GSM8K's format is recognized)."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise DataError(f"{file}: problems file not found")
    suffix = file.suffix.lower()
    if suffix == ".parquet":
        return DataSource(kind="parquet", path=str(file), limit=limit)
    if suffix == ".csv":
        return DataSource(kind="csv", path=str(file), limit=limit)
    with file.open() as handle:
        first = handle.readline()
    try:
        answer = json.loads(first).get("answer", "")
    except (ValueError, AttributeError):
        answer = ""
    kind = "gsm8k" if isinstance(answer, str) and "####" in answer else "jsonl"
    return DataSource(kind=kind, path=str(file), limit=limit)


def resolve_data_arg(arg: str, config: RunConfig, limit: int | None = None) -> tuple[str, DataSource]:
    """(name, source) for `--data`: 'gsm8k-test', the name of one of the config's eval sets, or a file."""
    if arg == GSM8K_TEST:
        source = gsm8k_test_source()
    elif arg in config.data.eval:
        source = config.data.eval[arg]
    else:
        source = source_for_file(arg)
        arg = Path(arg).stem
    if limit is not None:
        source = source.model_copy(update={"limit": limit, "n": min(source.n, limit)})
    return arg, source
