"""Data readers: every kind of source, and the rule that every row read is either kept or quarantined with its
reason (or stops the read with file, line and reason)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from orca_ray.config import DataSource
from orca_ray.core import problems as problems_module
from orca_ray.data.readers import ReadResult, gsm8k_answer_and_solution, read_problems, write_problems_jsonl
from orca_ray.data.rows import BadRow
from orca_ray.errors import DataError
from orca_ray.schemas import Problem

DATA = Path(__file__).resolve().parents[1] / "data"
CSV_COLUMNS = {"id": "qid", "question": "problem", "answer": "final", "solution": "worked"}


def _quarantined(result: ReadResult) -> list[dict]:
    if result.quarantine_path is None:
        return []
    return [json.loads(line) for line in result.quarantine_path.read_text().splitlines()]


def _assert_counts_add_up(result: ReadResult) -> None:
    assert result.read == result.kept + result.quarantined
    assert result.kept == len(result.problems)
    assert len(_quarantined(result)) == result.quarantined


# ---------------------------------------------------------------- gsm8k


def test_gsm8k_rows_and_quarantine(tmp_path):
    result = read_problems(DataSource(kind="gsm8k", path=str(DATA / "gsm8k_mini.jsonl")), quarantine_dir=tmp_path)
    _assert_counts_add_up(result)
    assert (result.read, result.kept, result.quarantined) == (9, 3, 6)
    assert [p.id for p in result.problems] == ["gsm8k_mini-1", "gsm8k_mini-2", "gsm8k_mini-4"]
    assert [p.answer for p in result.problems] == ["54", "1200", "-7"]
    first = result.problems[0]
    assert first.solution.endswith("\nThe answer is 54.")
    assert "<<" not in first.solution and "####" not in first.solution
    assert first.source == "gsm8k:gsm8k_mini.jsonl"
    reasons = {q["line"]: q["reason"] for q in _quarantined(result)}
    assert reasons == {
        5: "no '#### <number>' line in 'answer'",
        6: "'question' is empty",
        7: "'#### four' is not a number",
        8: reasons[8],
        9: "a JSON list, not an object",
        10: "'question' is a int, not text",
    }
    assert reasons[8].startswith("invalid JSON")
    bad = _quarantined(result)[0]
    assert bad["file"].endswith("gsm8k_mini.jsonl") and '"How many legs' in bad["raw"]
    assert result.quarantine_path == tmp_path / "gsm8k_mini.quarantine.jsonl"
    assert "quarantined 6" in result.summary() and str(result.quarantine_path) in result.summary()


def test_on_bad_row_error_names_file_line_and_reason(tmp_path):
    source = DataSource(kind="gsm8k", path=str(DATA / "gsm8k_mini.jsonl"))
    with pytest.raises(DataError, match=r"gsm8k_mini\.jsonl:5: no '#### <number>' line"):
        read_problems(source, on_bad_row="error", quarantine_dir=tmp_path)
    assert not list(tmp_path.iterdir())  # nothing quarantined in error mode


def test_gsm8k_solution_rewrite():
    answer, solution = gsm8k_answer_and_solution("It has 2+3 = <<2+3=5>>5 hens.\n#### 5")
    assert (answer, solution) == ("5", "It has 2+3 = 5 hens.\nThe answer is 5.")
    assert gsm8k_answer_and_solution("#### 3.50") == ("3.5", "The answer is 3.5.")


def test_limit_counts_rows_read(tmp_path):
    source = DataSource(kind="gsm8k", path=str(DATA / "gsm8k_mini.jsonl"), limit=2)
    result = read_problems(source, quarantine_dir=tmp_path)
    assert (result.read, result.kept, result.quarantined) == (2, 2, 0)
    assert result.quarantine_path is None and not list(tmp_path.iterdir())


def test_paths_expand_variables_and_directories_use_the_split(tmp_path, monkeypatch):
    monkeypatch.setenv("ORCA_RAY_SHARED", str(DATA))
    source = DataSource(kind="orca-math", path="${ORCA_RAY_SHARED}/orca_math_mini.jsonl")
    assert read_problems(source, quarantine_dir=tmp_path).read == 4
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "test.jsonl").write_text('{"question": "q?", "answer": "#### 3"}\n')
    (tmp_path / "data" / "train.jsonl").write_text('{"question": "q?", "answer": "#### 4"}\n' * 2)
    split = read_problems(DataSource(kind="gsm8k", path=str(tmp_path / "data"), split="test"), quarantine_dir=tmp_path)
    assert [p.answer for p in split.problems] == ["3"]
    both = read_problems(DataSource(kind="gsm8k", path=str(tmp_path / "data")), quarantine_dir=tmp_path)
    assert [p.id for p in both.problems] == ["test-1", "train-1", "train-2"]
    monkeypatch.delenv("ORCA_RAY_SHARED")
    with pytest.raises(DataError, match="ORCA_RAY_SHARED is not set"):
        read_problems(source, quarantine_dir=tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        read_problems(DataSource(kind="jsonl", path=str(tmp_path / "nope.jsonl")), quarantine_dir=tmp_path)
    with pytest.raises(DataError, match="no file for split 'dev'"):
        read_problems(DataSource(kind="gsm8k", path=str(tmp_path / "data"), split="dev"), quarantine_dir=tmp_path)


def test_gsm8k_two_different_answer_lines_are_a_bad_row():
    with pytest.raises(BadRow, match="two '####' lines with different answers: 5 and 7"):
        gsm8k_answer_and_solution("2 + 3 = 5\n#### 5\nOr rather 7.\n#### 7")
    # the same number twice, or a markdown header, is no conflict
    assert gsm8k_answer_and_solution("2 + 3 = 5\n#### 5\n#### 5") == ("5", "2 + 3 = 5\nThe answer is 5.")
    assert gsm8k_answer_and_solution("#### Step 1\n2 + 3 = 5\n#### 5")[0] == "5"


@pytest.mark.parametrize(
    ("tail", "answer"), [("2.5e3", "2500"), ("1.2E-2", "0.012"), ("3 \u00d7 10^2", "300"), ("12\u202f000", "12000")]
)
def test_gsm8k_scientific_and_unicode_answers_are_read_exactly(tail, answer):
    assert gsm8k_answer_and_solution(f"We compute it.\n#### {tail}")[0] == answer


def test_gsm8k_numbers_the_rules_refuse_are_a_bad_row():
    with pytest.raises(BadRow, match=r"'#### 1e400' is not a number .*10\^±50"):
        gsm8k_answer_and_solution("#### 1e400")


# ---------------------------------------------------------------- orca-math


def test_orca_math_extracts_the_final_number(tmp_path):
    result = read_problems(
        DataSource(kind="orca-math", path=str(DATA / "orca_math_mini.jsonl")), quarantine_dir=tmp_path
    )
    _assert_counts_add_up(result)
    assert [p.answer for p in result.problems] == ["9", "48", "1.5"]
    assert result.problems[0].solution.endswith("so he has 6 + 3 = 9 apples.\nThe answer is 9.")
    assert result.problems[1].solution.count("The answer is 48.") == 1  # already in the format: not appended again
    assert [(q["line"], q["reason"]) for q in _quarantined(result)] == [(3, "no final number found in 'answer'")]


def test_orca_math_first_answer_and_bad_rows(tmp_path):
    rows = [
        {"question": "q1?", "answer": "2 + 3 = 5. The answer is 5.\nAnother problem: 7 pens. The answer is 7."},
        {"question": "q2?", "answer": "It is 2.5e3 meters. The answer is 2.5e3."},
        {"question": "q3?", "answer": "The answer is 1e400."},
        {"question": "q4?", "answer": "The answer is twelve."},
    ]
    path = tmp_path / "orca.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = read_problems(DataSource(kind="orca-math", path=str(path)), quarantine_dir=tmp_path)
    _assert_counts_add_up(result)
    assert [(p.id, p.answer) for p in result.problems] == [("orca-2", "2500"), ("orca-4", "12")]
    reasons = {q["line"]: q["reason"] for q in _quarantined(result)}
    assert reasons[1] == "'answer' gives two different final answers: 5 and 7"
    assert reasons[3].startswith("no final number found in 'answer' (") and "10^±50" in reasons[3]


# ---------------------------------------------------------------- generic kinds


def test_csv_with_a_column_mapping(tmp_path):
    source = DataSource(kind="csv", path=str(DATA / "generic.csv"), columns=CSV_COLUMNS)
    result = read_problems(source, quarantine_dir=tmp_path)
    _assert_counts_add_up(result)
    assert [(p.id, p.answer, p.solution) for p in result.problems] == [
        ("a1", "2", "3 - 1 = 2. The answer is 2."),
        ("a2", "12.5", None),
        ("a3", "12", "3 * 4 = 12"),
        ("a6", "7", None),
    ]
    assert result.problems[3].question == "A question\nspanning two lines?"
    reasons = [(q["line"], q["reason"]) for q in _quarantined(result)]
    assert reasons == [
        (5, "duplicate id 'a1' (first at generic.csv:2)"),
        (6, "5 fields where the header has 4"),
        (7, "'final' holds no number: 'many'"),
    ]


def test_a_mapped_column_missing_from_the_file_is_a_bad_row(tmp_path):
    source = DataSource(kind="csv", path=str(DATA / "generic.csv"), columns={"question": "problem", "answer": "x"})
    with pytest.raises(DataError, match=r"generic\.csv:2: missing 'x'"):
        read_problems(source, on_bad_row="error", quarantine_dir=tmp_path)


def test_jsonl_round_trip_through_write_problems_jsonl(tmp_path):
    problems = [
        Problem("s-1", "Tom has 3 pens and buys 2. How many?", "5", "3 + 2 = 5\nThe answer is 5.", "shopping", 1),
        Problem("s-2", "Half of 3?", "1.5", None, None, None),
    ]
    path = write_problems_jsonl(tmp_path / "out" / "problems.jsonl", problems)
    result = read_problems(DataSource(kind="jsonl", path=str(path)), quarantine_dir=tmp_path)
    assert [(p.id, p.question, p.answer, p.solution, p.family, p.steps) for p in result.problems] == [
        (p.id, p.question, p.answer, p.solution, p.family, p.steps) for p in problems
    ]


def test_jsonl_without_ids_or_answers(tmp_path):
    path = tmp_path / "seeds.jsonl"
    path.write_text('{"question": "Make a problem about trains."}\n{"question": "x", "answer": ""}\n')
    result = read_problems(DataSource(kind="jsonl", path=str(path)), quarantine_dir=tmp_path)
    assert [(p.id, p.answer) for p in result.problems] == [("seeds-1", None), ("seeds-2", None)]


def test_parquet_source_with_types_checked(tmp_path):
    table = pa.table(
        {
            "id": [1, 2, 3, 4],
            "q": ["What is 2+3?", None, "What is 7*6?", "What is 1/2 of 5?"],
            "a": ["5", "1", "forty-two", "2.5"],
        }
    )
    pq.write_table(table, tmp_path / "set.parquet")
    source = DataSource(kind="parquet", path=str(tmp_path / "set.parquet"), columns={"question": "q", "answer": "a"})
    result = read_problems(source, quarantine_dir=tmp_path)
    _assert_counts_add_up(result)
    assert [(p.id, p.answer) for p in result.problems] == [("1", "5"), ("4", "2.5")]
    assert [(q["line"], q["reason"]) for q in _quarantined(result)] == [
        (2, "'q' is null"),
        (3, "'a' holds no number: 'forty-two'"),
    ]


def test_non_utf8_line_is_quarantined(tmp_path):
    path = tmp_path / "bytes.jsonl"
    path.write_bytes(b'{"question": "ok?", "answer": "1"}\n{"question": "\xff\xfe"}\n')
    result = read_problems(DataSource(kind="jsonl", path=str(path)), quarantine_dir=tmp_path)
    assert (result.kept, result.quarantined) == (1, 1)
    assert _quarantined(result)[0]["reason"].startswith("not UTF-8")


def test_unknown_on_bad_row_policy_is_refused(tmp_path):
    with pytest.raises(ValueError, match="on_bad_row"):
        read_problems(DataSource(kind="jsonl", path=str(DATA / "orca_math_mini.jsonl")), on_bad_row="skip")


# ---------------------------------------------------------------- hub and symbolic


def test_hub_offline_fails_at_once(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(DataError, match=r"hub 'openai/gsm8k': offline \(HF_HUB_OFFLINE is set\)"):
        read_problems(DataSource(kind="hub", path="openai/gsm8k", split="test"))
    assert time.perf_counter() - start < 1.0


def test_symbolic_delegates_to_the_generator():
    source = DataSource(kind="symbolic", n=12, seed=3, min_steps=2, max_steps=3)
    result = read_problems(source)
    expected = problems_module.generate_problems(n=12, seed=3, families=None, min_steps=2, max_steps=3)
    assert result.problems == expected
    assert (result.read, result.kept, result.quarantined, result.quarantine_path) == (12, 12, 0, None)


def test_hub_rows_go_through_the_gsm8k_rules(monkeypatch, tmp_path):
    """Our side of the hub path, with a stand-in for `datasets` (this machine has no route to the hub, so the real
    download is unverified here): the config name, the split, and the same row rules as a local GSM8K file."""
    import sys
    import types

    calls = []

    def load_dataset(path, name=None, split=None):
        calls.append((path, name, split))
        return [{"question": "What is 2 + 3?", "answer": "2+3 = <<2+3=5>>5\n#### 5"}, {"question": "q", "answer": "7"}]

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    monkeypatch.setattr("orca_ray.data.readers._hub_offline", lambda: None)
    result = read_problems(DataSource(kind="hub", path="openai/gsm8k", split="test"), quarantine_dir=tmp_path)
    assert calls == [("openai/gsm8k", "main", "test")]
    assert (result.read, result.kept, result.quarantined) == (2, 1, 1)
    assert (result.problems[0].answer, result.problems[0].solution) == ("5", "2+3 = 5\nThe answer is 5.")
    assert _quarantined(result)[0]["reason"] == "no '#### <number>' line in 'answer'"


@pytest.mark.parametrize(
    ("answer", "kept"),
    [
        ("1e400", None),  # was kept as 1
        ("2.5e3", "2500"),
        ("1e+60", None),
        (2.5e-07, "0.00000025"),  # a JSON float written in exponent form by Python's repr
        (1e20, "100000000000000000000"),
        ("#### 5\n#### 7", None),
        ("twelve", None),  # a bare word is not read; 'The answer is twelve.' is
        ("The answer is twelve.", "12"),
    ],
)
def test_generic_answers_are_read_exactly_or_quarantined(tmp_path, answer, kept):
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"id": "p1", "question": "How many?", "answer": answer}) + "\n")
    result = read_problems(DataSource(kind="jsonl", path=str(path)), quarantine_dir=tmp_path)
    _assert_counts_add_up(result)
    if kept is None:
        assert result.kept == 0 and "'answer'" in _quarantined(result)[0]["reason"]
    else:
        assert [p.answer for p in result.problems] == [kept]


def test_quarantine_reasons_say_why_a_number_is_not_read(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("id,question,answer\np1,How many?,1e400\np2,How many?,12 or 13\n")
    result = read_problems(DataSource(kind="csv", path=str(path)), quarantine_dir=tmp_path)
    reasons = [q["reason"] for q in _quarantined(result)]
    assert "10^±50" in reasons[0] and "not one number" in reasons[1]
