"""Row schemas: every row type survives a Parquet round trip, optional fields stay nullable, required ones refuse
nulls, and a stage can name the columns it is missing."""

from __future__ import annotations

import dataclasses

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from orca_ray.schemas import (
    ROW_TYPES,
    VERDICTS,
    DPOPair,
    KTOExample,
    Problem,
    Sample,
    SFTExample,
    Verdict,
    arrow_schema,
    column_names,
    missing_columns,
    read_rows,
    required_columns,
    row_from_dict,
    rows_to_table,
    table_to_rows,
    write_rows,
)

LINEAGE = {"run_id": "run-1", "iteration": 3, "policy_version": 2, "source": "gsm8k:train.jsonl", "seed": 7}

FULL_ROWS = {
    Problem: Problem("p1", "Tom has 3 apples...", "2.5", "3 - 0.5 = 2.5\nThe answer is 2.5.", "shopping", 2, **LINEAGE),
    Sample: Sample("p1", 1, "q?", "The answer is 2.", 12, "stop", "/adapters/v2", **LINEAGE),
    Verdict: Verdict(
        "p1", 1, "q?", "The answer is 2.", "correct", "2", "2", "llm", "why", "sol", 12, "length", "/a", **LINEAGE
    ),  # fmt: skip
    KTOExample: KTOExample("p1", "q?", "The answer is 2.", True, "teacher", **LINEAGE),
    DPOPair: DPOPair("p1", "q?", "good", "bad", "borrowed", "student", **LINEAGE),
    SFTExample: SFTExample("p1", "q?", "The answer is 2.", **LINEAGE),
}


def _minimal(row_type: type):
    """A row with only its required fields set (every optional field at its default)."""
    values = {"str": "x", "int": 1, "bool": False}
    kwargs = {f.name: values[str(f.type)] for f in dataclasses.fields(row_type) if f.name in required_columns(row_type)}
    return row_type(**kwargs)


def test_every_row_type_is_covered():
    assert set(FULL_ROWS) == set(ROW_TYPES.values())


@pytest.mark.parametrize("row_type", list(FULL_ROWS), ids=lambda t: t.__name__)
def test_parquet_round_trip(tmp_path, row_type):
    rows = [FULL_ROWS[row_type], _minimal(row_type)]
    path = write_rows(tmp_path / "shard.parquet", rows, row_type)
    assert read_rows(path, row_type) == rows
    table = pq.read_table(path)
    assert table.schema.equals(arrow_schema(row_type), check_metadata=False)
    assert table.schema.metadata[b"orca_ray.row_type"] == row_type.__name__.encode()
    assert not list(tmp_path.glob(".*.tmp"))  # the atomic write leaves no temporary file


@pytest.mark.parametrize("row_type", list(FULL_ROWS), ids=lambda t: t.__name__)
def test_optional_fields_are_nullable_and_required_ones_are_not(row_type):
    schema = arrow_schema(row_type)
    for field in dataclasses.fields(row_type):
        optional = "None" in str(field.type)
        assert schema.field(field.name).nullable is optional, field.name
    assert column_names(row_type) == schema.names


def test_nulls_round_trip_in_optional_columns(tmp_path):
    rows = [Problem("a", "q"), Problem("b", "q", answer="3", solution=None, family=None, steps=None)]
    write_rows(tmp_path / "p.parquet", rows, Problem)
    back = read_rows(tmp_path / "p.parquet", Problem)
    assert back == rows and back[0].answer is None and back[0].steps is None


def test_a_required_field_set_to_none_is_refused_early():
    with pytest.raises(ValueError, match=r"Problem.id is None in 1 row"):
        rows_to_table([Problem(id=None, question="q")])  # type: ignore[arg-type]


def test_a_wrongly_typed_value_is_refused():
    with pytest.raises((pa.ArrowInvalid, pa.ArrowTypeError)):
        rows_to_table([Problem("a", "q", steps="three")])  # type: ignore[arg-type]


def test_empty_shards_keep_their_schema(tmp_path):
    with pytest.raises(ValueError, match="row_type"):
        rows_to_table([])
    write_rows(tmp_path / "empty.parquet", [], Verdict)
    assert read_rows(tmp_path / "empty.parquet", Verdict) == []
    assert pq.read_schema(tmp_path / "empty.parquet").names == column_names(Verdict)


def test_a_directory_of_shards_reads_in_name_order(tmp_path):
    write_rows(tmp_path / "part-001.parquet", [Problem("b", "q")], Problem)
    write_rows(tmp_path / "part-000.parquet", [Problem("a", "q")], Problem)
    (tmp_path / "notes.txt").write_text("not a shard")
    assert [p.id for p in read_rows(tmp_path, Problem)] == ["a", "b"]


def test_rows_from_records_ignore_extra_columns_and_default_missing_optional_ones():
    record = {"id": "p", "question": "q", "ray_internal": 1}
    assert row_from_dict(record, Problem) == Problem("p", "q")
    table = pa.table({"id": ["p"], "question": ["q"], "extra": [1]})
    assert table_to_rows(table, Problem) == [Problem("p", "q")]


@pytest.mark.parametrize(
    ("columns", "row_type", "missing"),
    [
        (["id", "question"], Problem, []),
        (["id"], Problem, ["question"]),
        ({"problem_id", "question", "response"}, Sample, ["sample_index"]),
        ([], Verdict, ["problem_id", "sample_index", "question", "response", "verdict"]),
        (column_names(DPOPair), DPOPair, []),
        (["problem_id", "prompt", "completion"], KTOExample, ["label"]),
    ],
)
def test_missing_columns(columns, row_type, missing):
    assert missing_columns(columns, row_type) == missing


def test_required_columns_are_the_fields_without_defaults():
    assert required_columns(SFTExample) == ["problem_id", "prompt", "completion"]
    assert required_columns(Problem) == ["id", "question"]
    assert FULL_ROWS[Verdict].verdict in VERDICTS
