"""Raw rows from JSONL, CSV and Parquet files with their line numbers, and the quarantine for malformed ones.

A bad row either stops the read with a DataError naming file, line and reason, or goes to
`<quarantine_dir>/<stem>.quarantine.jsonl` (one JSON object a line: file, line, reason, raw) and is counted.
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from orca_ray.errors import DataError

log = logging.getLogger(__name__)

ON_BAD_ROW = ("error", "quarantine")


@dataclass(frozen=True)
class RawRow:
    file: Path
    line: int  # 1-based line (JSONL, CSV: the line where the record starts) or row number (Parquet)
    raw: str  # the text as read, for the quarantine file
    record: dict[str, Any] | None  # None when the row could not be parsed
    error: str | None = None  # why it could not be parsed


class BadRow(ValueError):
    """A row that cannot become a problem; the message is the reason written to the quarantine file."""


class Quarantine:
    """Where the malformed rows of one file go, or the error they raise (`on_bad_row='error'`)."""

    def __init__(self, on_bad_row: str, quarantine_dir: Path | None, stem: str) -> None:
        if on_bad_row not in ON_BAD_ROW:
            raise ValueError(f"on_bad_row must be one of {ON_BAD_ROW}, got {on_bad_row!r}")
        self.on_bad_row = on_bad_row
        self.path = None if quarantine_dir is None else Path(quarantine_dir) / f"{stem}.quarantine.jsonl"
        self.count = 0
        self._handle: TextIO | None = None

    def reject(self, file: Path | str, line: int, reason: str, raw: str) -> None:
        if self.on_bad_row == "error":
            raise DataError(f"{file}:{line}: {reason}")
        if self.path is None:
            raise ValueError("quarantine needs a quarantine_dir")
        if self._handle is None:  # the file exists only when something was set aside; each read starts it afresh
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = self.path.open("w", encoding="utf-8")
        record = {"file": str(file), "line": line, "reason": reason, "raw": raw}
        self._handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.count += 1

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __enter__(self) -> Quarantine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def iter_jsonl(path: Path) -> Iterator[RawRow]:
    """Each non-blank line of a JSONL file, parsed (blank lines are not rows and are skipped)."""
    with path.open("rb") as handle:
        for number, data in enumerate(handle, start=1):
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as err:
                yield RawRow(path, number, data.decode("utf-8", "replace").rstrip("\n"), None, f"not UTF-8 ({err})")
                continue
            if number == 1:
                text = text.removeprefix("\ufeff")  # a byte-order mark, as some Windows editors write
            if not text.strip():
                continue
            text = text.rstrip("\r\n")
            try:
                record = json.loads(text)
            except json.JSONDecodeError as err:
                yield RawRow(path, number, text, None, f"invalid JSON ({err.msg} at column {err.colno})")
                continue
            if not isinstance(record, dict):
                yield RawRow(path, number, text, None, f"a JSON {type(record).__name__}, not an object")
                continue
            yield RawRow(path, number, text, record)


def iter_csv(path: Path) -> Iterator[RawRow]:
    """Each record of a CSV file with a header line; a record with the wrong number of fields is a bad row."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:  # '-sig': a spreadsheet's byte-order mark
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                return
            start = reader.line_num + 1
            for values in reader:
                raw = json.dumps(values, ensure_ascii=False)
                if not any(v.strip() for v in values):
                    start = reader.line_num + 1
                    continue
                if len(values) != len(header):
                    reason = f"{len(values)} fields where the header has {len(header)}"
                    yield RawRow(path, start, raw, None, reason)
                else:
                    yield RawRow(path, start, raw, dict(zip(header, values, strict=True)))
                start = reader.line_num + 1
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 ({err})") from err
    except csv.Error as err:
        raise DataError(f"{path}: malformed CSV ({err})") from err


def iter_parquet(path: Path) -> Iterator[RawRow]:
    """Each row of a Parquet file, numbered from 1."""
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as err:  # noqa: BLE001 - pyarrow raises several types for a damaged file
        raise DataError(f"{path}: not a readable Parquet file ({err})") from err
    for number, record in enumerate(table.to_pylist(), start=1):
        yield RawRow(path, number, json.dumps(record, ensure_ascii=False, default=str), record)
