"""The bad-input corpus (tests/data/bad/) through every reader and the judge: each line becomes exactly what
tests/data/bad/expected.json says (a kept row with its answer, a verdict, or a quarantine entry with its reason),
nothing is dropped, and the counts add up. With `on_bad_row: error` the first bad line stops the read with the
file, the line and the reason."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from orca_ray import cli
from orca_ray.config import DataSource
from orca_ray.data.readers import read_problems
from orca_ray.errors import DataError

CORPUS = Path(__file__).resolve().parents[1] / "data" / "bad"
EXPECTED = json.loads((CORPUS / "expected.json").read_text())


def _quarantine_lines(path: Path | None) -> list[dict]:
    return [] if path is None else [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("name", sorted(EXPECTED["readers"]))
def test_every_line_is_kept_or_quarantined_as_expected(name, tmp_path):
    expected = EXPECTED["readers"][name]
    source = DataSource(kind=expected["kind"], path=str(CORPUS / name))
    result = read_problems(source, on_bad_row="quarantine", quarantine_dir=tmp_path)

    assert {p.id: p.answer for p in result.problems} == expected["kept"]
    rejected = _quarantine_lines(result.quarantine_path)
    assert [str(r["line"]) for r in rejected] == list(expected["quarantined"])
    for entry in rejected:
        assert expected["quarantined"][str(entry["line"])] in entry["reason"], entry["reason"]
        assert entry["file"].endswith(name) and isinstance(entry["raw"], str)
    assert result.read == result.kept + result.quarantined == len(expected["kept"]) + len(expected["quarantined"])


@pytest.mark.parametrize("name", sorted(EXPECTED["readers"]))
def test_on_bad_row_error_stops_at_the_first_bad_line(name):
    expected = EXPECTED["readers"][name]
    first_line, reason = next(iter(expected["quarantined"].items()))
    with pytest.raises(DataError) as err:
        read_problems(DataSource(kind=expected["kind"], path=str(CORPUS / name)), on_bad_row="error")
    assert f"{name}:{first_line}: " in str(err.value) and reason in str(err.value)


def test_unicode_oddities_keep_their_text(tmp_path):
    result = read_problems(DataSource(kind="jsonl", path=str(CORPUS / "problems.jsonl")), quarantine_dir=tmp_path)
    questions = {p.id: p.question for p in result.problems}
    assert questions["ok-bom"].startswith("Ann has")  # the byte-order mark is not part of the first row
    assert "🍎" in questions["emoji"] and "\x00" in questions["control-chars"]


def test_parquet_with_nulls_wrong_types_and_repeats(tmp_path):
    table = pa.table(
        {
            "id": ["p1", "p2", "p3", "p1", "p5", "p6"],
            "question": ["Valid?", None, "", "Repeat of p1?", "NaN answer?", "x" * 30_000],
            "answer": [3.0, 1.0, 1.0, 2.0, float("nan"), 1.0],
        }
    )
    path = tmp_path / "problems.parquet"
    pq.write_table(table, path)
    result = read_problems(DataSource(kind="parquet", path=str(path)), quarantine_dir=tmp_path)
    assert {p.id: p.answer for p in result.problems} == {"p1": "3"}
    reasons = {r["line"]: r["reason"] for r in _quarantine_lines(result.quarantine_path)}
    assert sorted(reasons) == [2, 3, 4, 5, 6]
    assert "null" in reasons[2] and "empty" in reasons[3] and "duplicate id 'p1'" in reasons[4]
    assert "finite" in reasons[5] and "characters long" in reasons[6]
    assert result.read == 6 == result.kept + result.quarantined


def test_a_damaged_parquet_file_names_the_file(tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1 this is not really parquet")
    with pytest.raises(DataError, match="broken.parquet: not a readable Parquet file"):
        read_problems(DataSource(kind="parquet", path=str(path)), quarantine_dir=tmp_path)


def test_the_judge_gives_every_line_a_verdict_or_a_quarantine_entry(tmp_path, capsys):
    expected = EXPECTED["judge.jsonl"]
    out = tmp_path / "verdicts.jsonl"
    assert cli.main(["judge", str(CORPUS / "judge.jsonl"), "--out", str(out), "--on-bad-row", "quarantine"]) == 0
    judged = [json.loads(line) for line in out.read_text().splitlines()]
    assert [j["verdict"] for j in judged] == list(expected["verdicts"].values())
    rejected = _quarantine_lines(tmp_path / "judge.quarantine.jsonl")
    assert {str(r["line"]): r["reason"] for r in rejected}.keys() == expected["quarantined"].keys()
    for entry in rejected:
        assert expected["quarantined"][str(entry["line"])] in entry["reason"]
    n_judged, n_rejected = len(expected["verdicts"]), len(expected["quarantined"])
    err = capsys.readouterr().err
    assert f"read {n_judged + n_rejected}, judged {n_judged}," in err and f"quarantined {n_rejected}" in err


def test_the_judge_stops_at_the_first_malformed_line_by_default(tmp_path, capsys):
    first = next(iter(EXPECTED["judge.jsonl"]["quarantined"]))
    assert cli.main(["judge", str(CORPUS / "judge.jsonl"), "--out", str(tmp_path / "v.jsonl")]) != 0
    assert f"judge.jsonl:{first}: missing 'response'" in capsys.readouterr().err
    assert not (tmp_path / "v.jsonl").exists()  # no half-written output
