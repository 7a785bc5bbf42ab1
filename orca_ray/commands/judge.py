"""`orca-ray judge IN.jsonl --out OUT.jsonl`: the rule tier over a file of (question, reference, response) lines.

Each output line keeps the input's fields and adds verdict, predicted, expected and judge_reason; the counts go to
stderr. A malformed line stops the run (`--on-bad-row error`, the default) or goes to
`<output dir>/<input stem>.quarantine.jsonl`.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm

from orca_ray.core.judge import judge_response
from orca_ray.data.rows import BadRow, Quarantine, iter_jsonl
from orca_ray.errors import DataError
from orca_ray.schemas import VERDICTS


def _field(record: dict[str, Any], name: str, numeric_ok: bool = False) -> str:
    if name not in record or record[name] is None:
        raise BadRow(f"missing '{name}'")
    value = record[name]
    if numeric_ok and isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise BadRow(f"'{name}' is a {type(value).__name__}, not text")
    return value


def judge_lines(in_path: Path, out: TextIO, quarantine: Quarantine, use_math_verify: bool) -> Counter:
    """Judge every line of `in_path` into `out`; the counts by verdict, plus 'read' and 'judged'."""
    counts: Counter = Counter({"read": 0, "judged": 0, **{v: 0 for v in VERDICTS}})
    for row in tqdm(iter_jsonl(in_path), desc="judge", unit="row", disable=None, file=sys.stderr):
        counts["read"] += 1
        try:
            if row.record is None:
                raise BadRow(row.error or "unreadable line")
            question = _field(row.record, "question")
            reference = _field(row.record, "reference", numeric_ok=True)
            response = _field(row.record, "response")
        except BadRow as bad:
            quarantine.reject(in_path, row.line, str(bad), row.raw)
            continue
        judgement = judge_response(response, reference, question, use_math_verify=use_math_verify)
        output = {
            **row.record,
            "verdict": judgement.verdict,
            "predicted": judgement.predicted,
            "expected": judgement.expected,
            "judge_reason": judgement.reason,
        }
        out.write(json.dumps(output, ensure_ascii=False) + "\n")
        counts["judged"] += 1
        counts[judgement.verdict] += 1
    return counts


def main(args) -> int:
    in_path = Path(args.input).expanduser()
    if not in_path.is_file():
        raise DataError(f"judge input {in_path} does not exist")
    to_stdout = args.out == "-"
    out_path = None if to_stdout else Path(args.out).expanduser()
    quarantine_dir = Path.cwd() if out_path is None else out_path.parent
    with Quarantine(args.on_bad_row, quarantine_dir, in_path.stem) as quarantine:
        if out_path is None:
            counts = judge_lines(in_path, sys.stdout, quarantine, not args.no_math_verify)
        else:
            out_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = out_path.with_name(f".{out_path.name}.tmp")  # a failed run leaves no half-written output
            try:
                with tmp.open("w", encoding="utf-8") as out:
                    counts = judge_lines(in_path, out, quarantine, not args.no_math_verify)
                tmp.replace(out_path)
            finally:
                tmp.unlink(missing_ok=True)
    counts["quarantined"] = quarantine.count
    names = ("read", "judged", *VERDICTS, "quarantined")
    print(", ".join(f"{name} {counts[name]}" for name in names), file=sys.stderr)
    if quarantine.count:
        print(f"quarantined lines and their reasons: {quarantine.path}", file=sys.stderr)
    return 0
