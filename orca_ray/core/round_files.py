"""A practice round's files and its resume protocol: what marks a shard done, and how a resumed round finds the
shards it must not sample again. The judge stage writes through `write_shard`; the round, the async pacing and
the report read through the other functions, so that the order below is decided here only.

    iter-k/preferences/shard-00003.parquet   the shard's training rows (KTO examples or DPO pairs)
    iter-k/counts/shard-00003.json           its counts: verdicts, positives, rows built, tokens, seconds
    iter-k/verdicts/shard-00003.parquet      its judged samples, written last: the shard's completion marker

Each file is written whole or not at all (write_rows and _write_json replace a temporary file), and the verdicts
come last, so a shard whose verdict file exists has its preferences and counts too; a shard killed before that is
sampled again from scratch, never half-counted.

>>> import tempfile
>>> out = Path(tempfile.mkdtemp())
>>> done_shards(out, 3)
set()
>>> write_shard(out, 1, [], Verdict, {"examples": 0}, [])
>>> done_shards(out, 3), shard_counts(out, 1), total_counts(out)
({1}, {'examples': 0}, {'examples': 0})
"""

from __future__ import annotations

import json
from pathlib import Path

from orca_ray.core.practice import shard_name
from orca_ray.core.preferences import add_counts
from orca_ray.schemas import Verdict, write_rows

VERDICTS, PREFERENCES, COUNTS = "verdicts", "preferences", "counts"


def verdicts_file(out: Path, shard: int) -> Path:
    return Path(out) / VERDICTS / f"{shard_name(shard)}.parquet"


def preferences_file(out: Path, shard: int) -> Path:
    return Path(out) / PREFERENCES / f"{shard_name(shard)}.parquet"


def counts_file(out: Path, shard: int) -> Path:
    return Path(out) / COUNTS / f"{shard_name(shard)}.json"


def write_verdicts(out: Path, shard: int, verdicts: list) -> None:
    """A shard of an evaluation or a sampling run: its verdicts only."""
    write_rows(verdicts_file(out, shard), verdicts, Verdict)


def write_shard(out: Path, shard: int, rows: list, row_type: type, counts: dict, verdicts: list) -> None:
    """A practice shard's files, the completion marker (its verdicts) last."""
    write_rows(preferences_file(out, shard), rows, row_type)
    _write_json(counts_file(out, shard), counts)
    write_verdicts(out, shard, verdicts)


def done_shards(out: Path, n_shards: int) -> set[int]:
    """The shards of a round of `n_shards` that are finished: on resume they are read back, not sampled again."""
    return {i for i in range(n_shards) if verdicts_file(out, i).is_file()}


def preference_files(out: Path, shards: set[int]) -> list[Path]:
    """The preference files of the given finished shards, in shard order."""
    return [preferences_file(out, i) for i in sorted(shards)]


def shard_counts(out: Path, shard: int) -> dict | None:
    """A finished shard's counts, or None while it is not judged yet."""
    try:
        return json.loads(counts_file(out, shard).read_text())
    except (OSError, ValueError):
        return None


def total_counts(out: Path) -> dict[str, int]:
    """The counts of every judged shard of the round, summed."""
    directory = Path(out) / COUNTS
    total: dict[str, int] = {}
    for file in sorted(directory.glob("*.json")) if directory.is_dir() else []:
        total = add_counts(total, json.loads(file.read_text()))
    return total


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(path)
