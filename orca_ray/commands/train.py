"""`orca-ray train CONFIG --method sft|dpo|kto --data PATH`: one training run on Ray Train, from files.

PATH is a directory of Parquet shards, a Parquet file or a JSONL file of SFTExample / KTOExample / DPOPair rows
(the columns of orca_ray.schemas); for SFT, a problems file with solutions (JSONL in our or GSM8K's format, Parquet,
CSV) works too.
"""

from __future__ import annotations

import json
from pathlib import Path

from orca_ray.config import RunConfig, load_config
from orca_ray.core.preferences import METHOD_COLUMNS, build_sft_examples
from orca_ray.errors import DataError


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(path.glob("*.parquet")) or sorted(path.glob("*.jsonl"))
        if not files:
            raise DataError(f"{path}: no .parquet or .jsonl files in this directory")
        return files
    if not path.is_file():
        raise DataError(f"{path}: training data not found")
    return [path]


def _records(file: Path):
    from orca_ray.data.rows import iter_jsonl, iter_parquet

    rows = iter_parquet(file) if file.suffix.lower() == ".parquet" else iter_jsonl(file)
    for row in rows:
        if row.record is None:
            raise DataError(f"{row.file}:{row.line}: {row.error}")
        yield row


def read_training_rows(path: str | Path, method: str) -> list[dict]:
    """The training rows of `method` from PATH, each checked for the method's columns (errors name file and line)."""
    path = Path(path).expanduser()
    needed = METHOD_COLUMNS[method]
    rows: list[dict] = []
    for file in _files(path):
        for row in _records(file):
            missing = [c for c in needed if row.record.get(c) is None]
            if missing and method == "sft" and not rows and "prompt" not in row.record:
                return _sft_from_problems(file)
            if missing:
                raise DataError(f"{row.file}:{row.line}: a {method} row needs column(s) {missing}")
            rows.append(row.record)
    if not rows:
        raise DataError(f"{path}: no {method} rows")
    return rows


def _sft_from_problems(file: Path) -> list[dict]:
    """SFT rows from a problems file: the student prompt and the reference solution of each problem."""
    import dataclasses

    from orca_ray.commands.common import source_for_file
    from orca_ray.data.readers import read_problems

    read = read_problems(source_for_file(str(file)), on_bad_row="error")
    counts: dict[str, int] = {}
    rows = [dataclasses.asdict(r) for r in build_sft_examples(read.problems, counts)]
    if not rows:
        raise DataError(f"{file}: none of its {len(read.problems)} problems has a solution to train SFT on")
    print(f"{file}: {counts['sft_examples']} SFT examples ({counts['sft_skipped']} problems without a solution)")
    return rows


def train_from_files(config: RunConfig, method: str, data: str, out: str | None, resume: bool):
    from orca_ray.distributed.cluster import init_ray, shutdown_ray
    from orca_ray.distributed.learner import train_policy
    from orca_ray.models import prepare_model

    rows = read_training_rows(data, method)
    out_dir = Path(out) if out else Path(config.output_dir) / f"train-{method}"
    model_dir = str(prepare_model(config.student.model))
    init_ray(config.resources)
    try:
        return train_policy(
            config,
            method,
            rows,
            base_model_dir=model_dir,
            init_adapter=config.student.adapter,
            output_dir=out_dir,
            resume=resume,
        )
    finally:
        shutdown_ray()


def main(args) -> int:
    config = load_config(args.config, args.overrides)
    result = train_from_files(config, args.method, args.data, args.out, args.resume)
    shown = {k.removeprefix("train/"): round(v, 4) for k, v in sorted(result.metrics.items())}
    print(json.dumps(shown, indent=1))
    print(f"{args.method}: {result.steps} steps -> {result.policy_dir}")
    return 0
