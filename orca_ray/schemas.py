"""The rows that flow between stages, as Python dataclasses with matching pyarrow schemas, and their column names.

Every row carries lineage (run id, iteration, policy version, source, seed), so any sample, verdict or preference
in a run directory can be traced to the problem, the policy and the stage that wrote it.

    >>> p = Problem(id="p1", question="1+1?", answer="2")
    >>> table = rows_to_table([p])
    >>> table_to_rows(table, Problem)[0] == p
    True
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.parquet as pq

# Verdict values: never a guess. `undecidable` goes to the LLM tier or is left out of training.
CORRECT = "correct"
INCORRECT = "incorrect"
UNDECIDABLE = "undecidable"
VERDICTS = (CORRECT, INCORRECT, UNDECIDABLE)

# Where a preference example's completion came from.
ORIGIN_STUDENT = "student"
ORIGIN_TEACHER = "teacher"
ORIGIN_BORROWED = "borrowed"


@dataclass(frozen=True)
class Lineage:
    """Who wrote a row, and when in the run."""

    run_id: str = ""
    iteration: int = 0  # 0: before any practice (data, SFT); k: the k-th practice iteration
    policy_version: int = 0  # the student adapter version that wrote a sample (0: the base or SFT model)
    source: str = ""  # data source or stage, e.g. 'symbolic', 'gsm8k:train.jsonl', 'synthesis:ask_me_anything'
    seed: int = 0


@dataclass(frozen=True)
class Problem:
    id: str
    question: str
    answer: str | None = None  # the final number as text, e.g. '12', '2.5', '3/4'; None when unknown
    solution: str | None = None  # a step-by-step reference solution ending with the final-answer line
    family: str | None = None  # symbolic family or synthesis agent
    steps: int | None = None  # reasoning steps, when known
    run_id: str = ""
    iteration: int = 0
    policy_version: int = 0
    source: str = ""
    seed: int = 0


@dataclass(frozen=True)
class Sample:
    """One student attempt at a problem."""

    problem_id: str
    sample_index: int
    question: str
    response: str
    num_tokens: int = 0
    finish_reason: str | None = None
    adapter: str | None = None  # the adapter directory that wrote it (None: the base weights)
    run_id: str = ""
    iteration: int = 0
    policy_version: int = 0
    source: str = ""
    seed: int = 0


@dataclass(frozen=True)
class Verdict:
    """A judged sample: the sample's fields plus the judge's decision."""

    problem_id: str
    sample_index: int
    question: str
    response: str
    verdict: str  # one of VERDICTS
    predicted: str | None = None  # the answer found in the response, normalized
    expected: str | None = None  # the reference answer, normalized
    judge_tier: str = "rule"  # 'rule', 'llm' or 'none'
    judge_reason: str = ""
    reference_solution: str | None = None
    num_tokens: int = 0
    finish_reason: str | None = None
    adapter: str | None = None
    run_id: str = ""
    iteration: int = 0
    policy_version: int = 0
    source: str = ""
    seed: int = 0


@dataclass(frozen=True)
class KTOExample:
    """A KTO row: one completion labelled desirable or not (TRL's unpaired preference format)."""

    problem_id: str
    prompt: str  # the user message (the question as the student sees it)
    completion: str
    label: bool
    origin: str = ORIGIN_STUDENT
    run_id: str = ""
    iteration: int = 0
    policy_version: int = 0
    source: str = ""
    seed: int = 0


@dataclass(frozen=True)
class DPOPair:
    """A DPO row: a chosen and a rejected completion for the same prompt."""

    problem_id: str
    prompt: str
    chosen: str
    rejected: str
    chosen_origin: str = ORIGIN_STUDENT
    rejected_origin: str = ORIGIN_STUDENT
    run_id: str = ""
    iteration: int = 0
    policy_version: int = 0
    source: str = ""
    seed: int = 0


@dataclass(frozen=True)
class SFTExample:
    """A demonstration: the prompt and the teacher's solution (loss on the solution tokens only)."""

    problem_id: str
    prompt: str
    completion: str
    run_id: str = ""
    iteration: int = 0
    policy_version: int = 0
    source: str = ""
    seed: int = 0


_ARROW_TYPES = {str: pa.string(), int: pa.int64(), bool: pa.bool_(), float: pa.float64()}
_PY_TYPES = {"str": str, "int": int, "bool": bool, "float": float}

Row = TypeVar("Row")


def _arrow_type(annotation: str) -> tuple[pa.DataType, bool]:
    nullable = "None" in annotation
    base = annotation.replace("| None", "").replace("None |", "").strip()
    return _ARROW_TYPES[_PY_TYPES[base]], nullable


def arrow_schema(row_type: type) -> pa.Schema:
    """The pyarrow schema of a row dataclass (optional fields are nullable, the rest are not)."""
    return pa.schema(
        [pa.field(f.name, *_arrow_type(str(f.type))) for f in fields(row_type)],
        metadata={"orca_ray.row_type": row_type.__name__},
    )


PROBLEM_SCHEMA = arrow_schema(Problem)
SAMPLE_SCHEMA = arrow_schema(Sample)
VERDICT_SCHEMA = arrow_schema(Verdict)
KTO_SCHEMA = arrow_schema(KTOExample)
DPO_SCHEMA = arrow_schema(DPOPair)
SFT_SCHEMA = arrow_schema(SFTExample)

ROW_TYPES: dict[str, type] = {t.__name__: t for t in (Problem, Sample, Verdict, KTOExample, DPOPair, SFTExample)}


def column_names(row_type: type) -> list[str]:
    return [f.name for f in fields(row_type)]


def required_columns(row_type: type) -> list[str]:
    """Columns without a default: a stage that consumes `row_type` cannot run without them."""
    return [f.name for f in fields(row_type) if f.default is dataclasses.MISSING]


def missing_columns(columns: list[str] | set[str], row_type: type) -> list[str]:
    """The required columns of `row_type` absent from `columns` (what a stage names in its error)."""
    present = set(columns)
    return [c for c in required_columns(row_type) if c not in present]


def row_from_dict(data: dict[str, Any], row_type: type[Row]) -> Row:
    """Build a row from a mapping (a Ray Data row, a Parquet record), ignoring extra keys."""
    names = {f.name for f in fields(row_type)}
    return row_type(**{k: v for k, v in data.items() if k in names})


def rows_to_table(rows: list, row_type: type | None = None) -> pa.Table:
    """A pyarrow table of dataclass rows with the row type's schema (also for an empty list)."""
    if row_type is None:
        if not rows:
            raise ValueError("rows_to_table needs row_type for an empty list")
        row_type = type(rows[0])
    schema = arrow_schema(row_type)
    columns = {name: [getattr(r, name) for r in rows] for name in schema.names}
    table = pa.table(columns, schema=schema)
    # pyarrow builds a table with nulls in a non-nullable column and fails only when it is written: fail here.
    for field in schema:
        if not field.nullable and (nulls := table.column(field.name).null_count):
            raise ValueError(f"{row_type.__name__}.{field.name} is None in {nulls} row(s); it is required")
    return table


def table_to_rows(table: pa.Table, row_type: type[Row]) -> list[Row]:
    return [row_from_dict(record, row_type) for record in table.to_pylist()]


def write_rows(path: str | Path, rows: list, row_type: type) -> Path:
    """Write rows to one Parquet file atomically (a killed writer never leaves a half shard)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(rows_to_table(rows, row_type), tmp)
    tmp.replace(path)
    return path


def read_rows(path: str | Path, row_type: type[Row]) -> list[Row]:
    """Read rows from a Parquet file or a directory of Parquet shards (sorted by name)."""
    path = Path(path)
    files = sorted(path.glob("*.parquet")) if path.is_dir() else [path]
    rows: list[Row] = []
    for file in files:
        rows.extend(table_to_rows(pq.read_table(file), row_type))
    return rows
