"""`orca-ray problems generate|families`: the JSONL it writes, the counts it prints, and its errors."""

from __future__ import annotations

import json
import subprocess
import sys

from orca_ray.cli import main
from orca_ray.core.problems import FAMILIES, FAMILY_INFO, generate_problems
from orca_ray.core.prompts import final_answer_line


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_generate_writes_one_problem_per_line_and_prints_counts(tmp_path, capsys):
    out = tmp_path / "sub" / "problems.jsonl"
    assert main(["problems", "generate", "--n", "60", "--seed", "3", "--out", str(out)]) == 0
    rows = _lines(out)
    assert len(rows) == 60
    expected = generate_problems(60, seed=3)
    for row, problem in zip(rows, expected, strict=True):
        assert {"id", "question", "answer", "solution", "family", "steps"} <= set(row)
        assert (row["id"], row["question"], row["answer"], row["solution"]) == (
            problem.id,
            problem.question,
            problem.answer,
            problem.solution,
        )
        assert row["solution"].endswith(final_answer_line(row["answer"]))
    err = capsys.readouterr().err
    assert "60 problems" in err and "per family:" in err and "per step count:" in err
    for family in {row["family"] for row in rows}:
        count = sum(row["family"] == family for row in rows)
        assert f"{family:<12} {count:>6}" in err


def test_generate_is_byte_for_byte_deterministic(tmp_path):
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    for path in (first, second):
        main(["problems", "generate", "--n", "40", "--seed", "9", "--out", str(path)])
    assert first.read_bytes() == second.read_bytes()


def test_generate_to_stdout_with_families_steps_and_harder(capsys):
    argv = ["problems", "generate", "--n", "20", "--seed", "1", "--families", "ages", "travel"]
    argv += ["--min-steps", "2", "--max-steps", "3", "--harder", "2", "--out", "-"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    rows = [json.loads(line) for line in captured.out.splitlines()]
    assert len(rows) == 20
    assert {row["family"] for row in rows} == {"ages", "travel"}
    assert {row["steps"] for row in rows} <= {4, 5} and all(row["id"].endswith("-h1-h2") for row in rows)
    assert "20 problems" in captured.err and "per step count:" in captured.err


def test_unknown_family_exits_2_naming_it():
    result = subprocess.run(
        [sys.executable, "-m", "orca_ray.cli", "problems", "generate", "--n", "3", "--families", "astrology"]
        + ["--out", "-"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "unknown problem family 'astrology'" in result.stderr and "shopping" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_negative_harder_is_refused(tmp_path, capsys):
    assert main(["problems", "generate", "--n", "3", "--harder", "-1", "--out", str(tmp_path / "x.jsonl")]) == 2
    assert "--harder" in capsys.readouterr().err


def test_families_lists_each_with_its_step_range(capsys):
    assert main(["problems", "families"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == len(FAMILIES)
    for line, name in zip(out, FAMILIES, strict=True):
        info = FAMILY_INFO[name]
        assert line.split()[0] == name
        assert f"{info.min_steps}-{info.max_steps} steps" in line and info.description in line
