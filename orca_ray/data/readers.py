"""Problems from the configured data sources (GSM8K, Orca-Math 200K, generic JSONL/Parquet/CSV, the hub, the
symbolic teacher). Every row read is kept or quarantined with its reason, and the counts are logged.

Required fields per kind (anything else is a bad row: quarantined, or a DataError naming file, line and reason):

- gsm8k: question, and answer with a '#### <number>' line. answer = that number; solution = the answer text with
  its `<<...>>` calculator annotations removed and the '####' line replaced by "The answer is N.".
- orca-math: question, and answer (a free-text solution) from which a final number can be extracted. answer = that
  number; solution = the text, with "The answer is N." appended unless it already ends so (one format to learn).
- jsonl, parquet, csv: question; optional id, answer, solution, family, steps (through `columns`). An answer that
  is present must be a number or hold one; a column named in `columns` must be present in every row.

Text fields must be strings (an id or answer may also be an integer or a decimal); a question is at most
MAX_QUESTION_CHARS long; ids are unique within a read
(a repeat is a bad row). Without an id column the id is `<file stem>-<line>`. Blank JSONL lines are not rows.
`limit` counts rows read, good or bad.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orca_ray.config import DataSource
from orca_ray.core.answers import normalize_number, read_final_answer
from orca_ray.core.prompts import final_answer_line
from orca_ray.data.rows import BadRow, Quarantine, RawRow, iter_csv, iter_jsonl, iter_parquet
from orca_ray.errors import DataError, OrcaRayError
from orca_ray.schemas import Problem

log = logging.getLogger(__name__)

OUR_COLUMNS = ("id", "question", "answer", "solution")
# A grade-school problem is a few hundred characters; a question this long is a broken row (a whole file pasted
# into one cell), and would only fail later as a prompt longer than the engine's context.
MAX_QUESTION_CHARS = 20_000
_CALCULATOR_ANNOTATION_RE = re.compile(r"<<[^<>\n]*>>")
_GSM8K_LINE_RE = re.compile(r"####([^\n]*)")
_FILE_KINDS = {"gsm8k": "*.jsonl", "orca-math": "*.jsonl", "jsonl": "*.jsonl", "parquet": "*.parquet", "csv": "*.csv"}


@dataclass
class ReadResult:
    problems: list[Problem]
    read: int
    kept: int
    quarantined: int
    quarantine_path: Path | None
    source: str = ""

    def summary(self) -> str:
        text = f"{self.source}: read {self.read}, kept {self.kept}, quarantined {self.quarantined}"
        return text + (f" (reasons in {self.quarantine_path})" if self.quarantined else "")


# ---------------------------------------------------------------- paths


def resolve_path(path: str) -> Path:
    """A config path with '${ORCA_RAY_SHARED}' (or any variable) and '~' expanded; an unset variable is an error."""
    expanded = os.path.expanduser(os.path.expandvars(path))
    if unset := re.findall(r"\$\{?(\w+)\}?", expanded):
        raise DataError(f"data path '{path}': environment variable {', '.join(unset)} is not set")
    return Path(expanded)


def _source_files(source: DataSource) -> list[Path]:
    path = resolve_path(source.path or "")
    if path.is_file():
        return [path]
    if path.is_dir():
        if source.split:
            split_file = path / f"{source.split}{_FILE_KINDS[source.kind][1:]}"
            if not split_file.is_file():
                raise DataError(f"data source {source.kind}: no file for split '{source.split}' ({split_file})")
            return [split_file]
        files = sorted(path.glob(_FILE_KINDS[source.kind]))
        if not files:
            raise DataError(f"data source {source.kind}: no {_FILE_KINDS[source.kind]} files in {path}")
        return files
    raise DataError(f"data source {source.kind}: {path} does not exist")


def _default_quarantine_dir() -> Path:
    home = os.environ.get("ORCA_RAY_HOME", str(Path.home() / ".cache" / "orca-ray"))
    return Path(home).expanduser() / "quarantine"


# ---------------------------------------------------------------- fields


def _text(
    record: dict[str, Any], column: str, *, required: bool, must_exist: bool = False, numeric_ok: bool = False
) -> str | None:
    """A text field: `required` ones must be non-empty; `must_exist` ones (named in `columns`) must be present."""
    if column not in record:
        if required or must_exist:
            raise BadRow(f"missing '{column}'")
        return None
    value = record[column]
    if value is None:
        if required:
            raise BadRow(f"'{column}' is null")
        return None
    if numeric_ok and isinstance(value, int | float) and not isinstance(value, bool):
        if value != value or value in (float("inf"), float("-inf")):
            raise BadRow(f"'{column}' is not a finite number")
        value = str(value)
    if not isinstance(value, str):
        raise BadRow(f"'{column}' is a {type(value).__name__}, not text")
    if required and not value.strip():
        raise BadRow(f"'{column}' is empty")
    return value if value.strip() else None


def gsm8k_answer_and_solution(answer_text: str) -> tuple[str, str]:
    """The '####' number of a GSM8K answer, and the answer rewritten as our solution (no `<<...>>` annotations,
    ending with the final-answer line). Two '####' lines with different numbers, or a '####' number the rules do
    not read exactly ('#### 1e400'), make a bad row.

    >>> gsm8k_answer_and_solution("48/2 = <<48/2=24>>24 clips.\\n#### 1,200")
    ('1200', '48/2 = 24 clips.\\nThe answer is 1200.')
    """
    body, marker, tail = answer_text.rpartition("####")
    if not marker:
        raise BadRow("no '#### <number>' line in 'answer'")
    number = normalize_number(tail.strip())
    if number is None:
        refusal = read_final_answer(tail.strip()).refusal
        raise BadRow(f"'#### {tail.strip()[:40]}' is not a number" + (f" ({refusal})" if refusal else ""))
    for earlier in _GSM8K_LINE_RE.findall(body):
        if normalize_number(earlier.strip()) not in (None, number):
            raise BadRow(f"two '####' lines with different answers: {earlier.strip()[:40]} and {number}")
    body = _GSM8K_LINE_RE.sub(lambda m: "" if normalize_number(m.group(1).strip()) == number else m.group(0), body)
    body = _CALCULATOR_ANNOTATION_RE.sub("", body).rstrip()
    return number, (f"{body}\n" if body else "") + final_answer_line(number)


def _single_final_answer(text: str, no_number: str, column: str) -> str:
    """The one final answer of a reference text; a bad row when there is none, it is not read exactly ('1e400'),
    or two final-answer lines disagree."""
    found = read_final_answer(text)
    if found.answer is None:
        raise BadRow(no_number + (f" ({found.refusal})" if found.refusal else ""))
    if found.later is not None:
        raise BadRow(f"'{column}' gives two different final answers: {found.answer} and {found.later}")
    return found.answer


def _question(record: dict[str, Any], columns: dict[str, str]) -> str:
    question = _text(record, columns.get("question", "question"), required=True)
    if len(question) > MAX_QUESTION_CHARS:
        raise BadRow(f"'question' is {len(question):,} characters long (at most {MAX_QUESTION_CHARS:,})")
    return question


def _gsm8k_fields(record: dict[str, Any], columns: dict[str, str]) -> dict[str, Any]:
    question = _question(record, columns)
    answer, solution = gsm8k_answer_and_solution(_text(record, columns.get("answer", "answer"), required=True))
    return {"question": question, "answer": answer, "solution": solution}


def _orca_math_fields(record: dict[str, Any], columns: dict[str, str]) -> dict[str, Any]:
    question = _question(record, columns)
    solution = _text(record, columns.get("answer", "answer"), required=True).rstrip()
    answer = _single_final_answer(solution, "no final number found in 'answer'", "answer")
    line = final_answer_line(answer)
    solution = solution if solution.endswith(line) else f"{solution}\n{line}"
    return {"question": question, "answer": answer, "solution": solution}


def _generic_fields(record: dict[str, Any], columns: dict[str, str]) -> dict[str, Any]:
    question = _question(record, columns)
    answer_column = columns.get("answer", "answer")
    raw_answer = _text(record, answer_column, required=False, must_exist="answer" in columns, numeric_ok=True)
    answer = None
    if raw_answer is not None:
        no_number = f"'{answer_column}' holds no number: {raw_answer[:60]!r}"
        answer = normalize_number(raw_answer) or _single_final_answer(raw_answer, no_number, answer_column)
    fields = {
        "question": question,
        "answer": answer,
        "solution": _text(
            record, columns.get("solution", "solution"), required=False, must_exist="solution" in columns
        ),
    }
    if (family := record.get("family")) is not None:
        if not isinstance(family, str):
            raise BadRow(f"'family' is a {type(family).__name__}, not text")
        fields["family"] = family
    if (steps := record.get("steps")) is not None:
        if not isinstance(steps, int) or isinstance(steps, bool):
            raise BadRow(f"'steps' is a {type(steps).__name__}, not an integer")
        fields["steps"] = steps
    return fields


_FIELDS: dict[str, Callable[[dict[str, Any], dict[str, str]], dict[str, Any]]] = {
    "gsm8k": _gsm8k_fields,
    "orca-math": _orca_math_fields,
    "jsonl": _generic_fields,
    "parquet": _generic_fields,
    "csv": _generic_fields,
}


# ---------------------------------------------------------------- reading


def _raw_rows(kind: str, file: Path) -> Iterator[RawRow]:
    if kind == "parquet":
        return iter_parquet(file)
    if kind == "csv":
        return iter_csv(file)
    return iter_jsonl(file)


def _convert_rows(
    rows: Iterator[RawRow], kind: str, source: DataSource, quarantine: Quarantine, seen: dict[str, str], budget: int
) -> tuple[list[Problem], int]:
    """The problems of one file's rows (at most `budget` rows read), and how many rows were read."""
    columns = dict(source.columns)
    to_fields = _FIELDS["gsm8k" if kind == "hub-gsm8k" else "jsonl" if kind == "hub" else kind]
    problems, read = [], 0
    for row in rows:
        if read >= budget:
            break
        read += 1
        try:
            if row.record is None:
                raise BadRow(row.error or "unreadable row")
            fields = to_fields(row.record, columns)
            id_value = _text(row.record, columns.get("id", "id"), required="id" in columns, numeric_ok=True)
            problem_id = id_value.strip() if id_value else f"{row.file.stem}-{row.line}"
            if problem_id in seen:
                raise BadRow(f"duplicate id '{problem_id}' (first at {seen[problem_id]})")
        except BadRow as bad:
            quarantine.reject(row.file, row.line, str(bad), row.raw)
            continue
        seen[problem_id] = f"{row.file.name}:{row.line}"
        problems.append(Problem(id=problem_id, source=f"{source.kind}:{row.file.name}", **fields))
    return problems, read


def _read_symbolic(source: DataSource) -> ReadResult:
    from orca_ray.core.problems import generate_problems  # the symbolic teacher; imported only when used

    try:
        problems = generate_problems(
            n=source.n, seed=source.seed, families=source.families,
            min_steps=source.min_steps, max_steps=source.max_steps, max_number=source.max_number,
            step_weights=source.step_weights,
        )  # fmt: skip
    except OrcaRayError:
        raise
    except ValueError as err:
        raise DataError(f"data source symbolic (seed {source.seed}): {err}") from err
    return ReadResult(problems, len(problems), len(problems), 0, None, f"symbolic(n={source.n}, seed={source.seed})")


def _hub_offline() -> str | None:
    for variable in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        if os.environ.get(variable, "").strip().lower() in ("1", "true", "yes", "on"):
            return f"{variable} is set"
    try:
        socket.create_connection(("huggingface.co", 443), timeout=3).close()
    except OSError as err:
        return f"huggingface.co cannot be reached ({err})"
    return None


def _hub_rows(source: DataSource) -> Iterator[RawRow]:
    """Rows of a hub dataset. UNVERIFIED here: this machine has no route to the hub, so only the offline branch
    is tested."""
    import datasets  # only for hub sources: heavy, and not needed offline

    name = "main" if source.path and source.path.endswith("gsm8k") else None  # openai/gsm8k needs its config name
    dataset = datasets.load_dataset(source.path, name, split=source.split or "train")
    origin = Path(f"{source.path}:{source.split or 'train'}")
    for number, record in enumerate(dataset, start=1):
        yield RawRow(origin, number, json.dumps(record, ensure_ascii=False, default=str), dict(record))


def read_problems(
    source: DataSource, *, on_bad_row: str = "quarantine", quarantine_dir: Path | None = None
) -> ReadResult:
    """The problems of one data source, with read/kept/quarantined counts that always add up.

    >>> from orca_ray.config import DataSource
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "t.jsonl").write_text('{"question": "1+1?", "answer": 2}\\n{}\\n')
    >>> r = read_problems(DataSource(kind="jsonl", path=str(d / "t.jsonl")), quarantine_dir=d)
    >>> (r.read, r.kept, r.quarantined, r.problems[0].id, r.problems[0].answer)
    (2, 1, 1, 't-1', '2')
    """
    if source.kind == "symbolic":
        result = _read_symbolic(source)
        log.info(result.summary())
        return result
    if source.kind == "hub":
        if reason := _hub_offline():
            raise DataError(
                f"data source hub '{source.path}': offline ({reason}). Use a local copy instead, e.g. "
                "kind: gsm8k with path: ${ORCA_RAY_SHARED}/data/gsm8k/train.jsonl"
            )
        files_and_rows = [(Path(source.path or "hub"), _hub_rows(source))]
        kind = "hub-gsm8k" if (source.path or "").endswith("gsm8k") and not source.columns else "hub"
    else:
        files_and_rows = [(f, _raw_rows(source.kind, f)) for f in _source_files(source)]
        kind = source.kind
    budget = source.limit if source.limit is not None else float("inf")
    problems: list[Problem] = []
    read = 0
    seen: dict[str, str] = {}
    # One quarantine file per source, named after the file (or directory); each line names its own file.
    stem = Path(source.path or "hub").stem.replace("/", "_") or "source"
    with Quarantine(on_bad_row, quarantine_dir or _default_quarantine_dir(), stem) as quarantine:
        for _file, rows in files_and_rows:
            kept, n = _convert_rows(rows, kind, source, quarantine, seen, budget - read)
            problems += kept
            read += n
    quarantined = quarantine.count
    quarantine_path = quarantine.path if quarantined else None
    result = ReadResult(problems, read, len(problems), quarantined, quarantine_path, f"{source.kind}:{source.path}")
    assert result.read == result.kept + result.quarantined, result.summary()
    (log.warning if quarantined else log.info)(result.summary())
    return result


def write_problems_jsonl(path: str | Path, problems: list[Problem]) -> Path:
    """Problems as JSONL, one object a line with every Problem field, written atomically ('-' is not a path)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        for problem in problems:
            handle.write(json.dumps(dataclasses.asdict(problem), ensure_ascii=False) + "\n")
    tmp.replace(path)
    return path
