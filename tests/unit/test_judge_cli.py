"""`orca-ray judge`: output lines keep their input and add the verdict; counts on stderr; malformed lines stop the
run with file and line, or are quarantined and counted."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from orca_ray import cli

LINES = [
    {
        "question": "Tom has 3 pens and buys 2. How many?",
        "reference": "3 + 2 = 5\n#### 5",
        "response": "The answer is 5.",
    },
    {"question": "Half of 3?", "reference": 1.5, "response": "It is 1 1/2.", "id": "keep-me"},
    {"question": "What is 9 - 4?", "reference": "5", "response": "The answer is 6."},
    {"question": "Square root of 4?", "reference": "2", "response": "\\boxed{\\sqrt{4}}"},
    {"question": "What is 2 + 2?", "reference": "4", "response": "I do not know."},
]


def _write(path, lines: list) -> None:
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))


def _read(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_judge_writes_verdicts_and_counts(tmp_path, capsys):
    _write(tmp_path / "in.jsonl", LINES)
    assert cli.main(["judge", str(tmp_path / "in.jsonl"), "--out", str(tmp_path / "out" / "verdicts.jsonl")]) == 0
    out = _read(tmp_path / "out" / "verdicts.jsonl")
    assert [(o["verdict"], o["predicted"], o["expected"]) for o in out] == [
        ("correct", "5", "5"),
        ("correct", "1.5", "1.5"),
        ("incorrect", "6", "5"),
        ("correct", "\\sqrt{4}", "2"),
        ("undecidable", None, "4"),
    ]
    for given, written in zip(LINES, out, strict=True):
        assert {k: written[k] for k in given} == given  # the input's fields are kept, extra ones included
    err = capsys.readouterr().err
    assert "read 5, judged 5, correct 3, incorrect 1, undecidable 1, quarantined 0" in err


def test_no_math_verify_leaves_symbolic_answers_undecided(tmp_path, capsys):
    _write(tmp_path / "in.jsonl", LINES[3:4])
    assert cli.main(["judge", str(tmp_path / "in.jsonl"), "--out", "-", "--no-math-verify"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["verdict"] == "undecidable"
    assert "undecidable 1" in captured.err


BAD = [
    LINES[0],
    "{not json",
    {"question": "q", "response": "The answer is 1."},
    {"question": "q", "reference": "1", "response": ["The answer is 1."]},
    LINES[2],
]


def test_malformed_lines_stop_the_run_by_default(tmp_path, capsys):
    _write(tmp_path / "in.jsonl", BAD)
    assert cli.main(["judge", str(tmp_path / "in.jsonl"), "--out", str(tmp_path / "out.jsonl")]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'in.jsonl'}:2: invalid JSON" in err and "Traceback" not in err
    assert not (tmp_path / "out.jsonl").exists() and not list(tmp_path.glob(".*.tmp"))


def test_malformed_lines_can_be_quarantined(tmp_path, capsys):
    _write(tmp_path / "in.jsonl", BAD)
    out_path = tmp_path / "out.jsonl"
    assert cli.main(["judge", str(tmp_path / "in.jsonl"), "--out", str(out_path), "--on-bad-row", "quarantine"]) == 0
    assert [o["verdict"] for o in _read(out_path)] == ["correct", "incorrect"]
    quarantined = _read(tmp_path / "in.quarantine.jsonl")
    assert [(q["line"], q["reason"].split(" (")[0]) for q in quarantined] == [
        (2, "invalid JSON"),
        (3, "missing 'reference'"),
        (4, "'response' is a list, not text"),
    ]
    assert quarantined[0]["raw"] == "{not json"
    err = capsys.readouterr().err
    assert "read 5, judged 2, correct 1, incorrect 1, undecidable 0, quarantined 3" in err


def test_missing_input_is_a_clear_error(tmp_path, capsys):
    assert cli.main(["judge", str(tmp_path / "nope.jsonl"), "--out", "-"]) == 2
    assert "nope.jsonl does not exist" in capsys.readouterr().err


@pytest.mark.parametrize("flag", [[], ["--no-math-verify"]])
def test_the_installed_command_runs(tmp_path, flag):
    _write(tmp_path / "in.jsonl", LINES[:3])
    result = subprocess.run(
        [sys.executable, "-m", "orca_ray.cli", "judge", str(tmp_path / "in.jsonl"), "--out", "-", *flag],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["verdict"] for line in result.stdout.splitlines()] == ["correct", "correct", "incorrect"]
    assert "read 3, judged 3, correct 2, incorrect 1" in result.stderr
